"""Choose notebook 07's regularization settings on validation images of its own; record the choice.

    python bench/validate_practices.py           # writes data/validated/practices.json (about 2 minutes on 2 cores)
    python bench/validate_practices.py --quick   # a smoke run: one draw, written nowhere

Notebook 07 (best practices) overfits a tiny labelled set on purpose and then adds the outline's fixes one at a
time: weight decay, augmentation, early stopping. Their two settings are chosen here, never on the notebook's
validation split or on the test set:

- **weight decay** (AdamW's decoupled `weight_decay`), from `WEIGHT_DECAYS`: the plain run plus weight decay, scored
  by the validation accuracy at the end of the run;
- **patience** of early stopping, counted in evaluations (one every `EVERY` steps), from `PATIENCES`: on the run
  with the chosen weight decay and augmentation, early stopping watches the validation loss of one half of the
  validation images and keeps its best checkpoint; that checkpoint is scored on the other half, so the images
  that chose the checkpoint do not also grade it. Recorded beside it, the control: no early stopping (the weights
  at the end of the run), scored on the same half.

The protocol mirrors notebook 07's `train_with_curves`: GlyphNet pre-trained on printed letters with a new head,
`PER_CLASS` wild handwritten digits per class, AdamW at one constant rate, batches of `BATCH` drawn with
replacement, random affine augmentation (rotation, shift, zoom) drawn for a whole batch at once. Each draw sets
aside its own validation images (20 per class) and draws its labelled images from the rest, with seeds far from
the notebook's.
"""

from __future__ import annotations

import argparse
import copy
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from course_utils import checkpoints, digits, models, training, validation  # noqa: E402

PER_CLASS = 5
STEPS = 250
LR = 3e-3
BATCH = 32
EVERY = 10
WEIGHT_DECAYS = [0.01, 0.1, 1.0]
PATIENCES = [2, 5, 10, 20]
DRAWS = 3
SEED_BASE = 900_000  # the notebook draws with seeds 1000 * SEED + draw and 10_000 + SEED


def augment_batch(x: torch.Tensor, g: torch.Generator) -> torch.Tensor:
    """A fresh random variation of every image, all at once (as notebook 07's): rotation up to 25°, shift up to
    15%, zoom up to 25%."""
    n = len(x)
    angle = (torch.rand(n, generator=g) * 2 - 1) * torch.pi * 25 / 180
    zoom = 0.75 + 0.5 * torch.rand(n, generator=g)
    shift = (torch.rand(n, 2, generator=g) * 2 - 1) * 0.3  # 15% of the image, which spans 2 in grid units
    cos, sin = angle.cos() / zoom, angle.sin() / zoom
    theta = torch.stack([torch.stack([cos, -sin, shift[:, 0]], 1), torch.stack([sin, cos, shift[:, 1]], 1)], 1)
    return F.grid_sample(x, F.affine_grid(theta, list(x.shape), align_corners=False), align_corners=False)


def draw_rows(y: torch.Tensor, draw: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(labelled rows, validation rows that watch, validation rows that score) of one draw."""
    seed = SEED_BASE + draw
    val = digits.labelled_subset(y, 20, seed=seed)
    rest = torch.ones(len(y), dtype=torch.bool)
    rest[val] = False
    pool = torch.nonzero(rest).flatten()
    labelled = pool[digits.labelled_subset(y[pool], PER_CLASS, seed=seed + 1)]
    watch = val[digits.labelled_subset(y[val], 10, seed=seed + 2)]
    return labelled, watch, val[~torch.isin(val, watch)]


def curve(pretrained, data, rows, seed: int, weight_decay: float, transform=None) -> list[tuple[float, float, float]]:
    """Train one run; every EVERY steps: (watched validation loss, watched accuracy, scoring accuracy)."""
    labelled, watch, score = rows
    X, y = data.X_train[labelled], data.y_train[labelled]
    net = models.new_head(copy.deepcopy(pretrained), 10, seed=seed)
    opt = torch.optim.AdamW(net.parameters(), lr=LR, weight_decay=weight_decay)
    g, points = torch.Generator().manual_seed(seed), []
    for step in range(1, STEPS + 1):
        net.train()
        batch = torch.randint(len(X), (BATCH,), generator=g)
        x = X[batch] if transform is None else transform(X[batch], g)
        loss = F.cross_entropy(net(x), y[batch])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if step % EVERY == 0:
            logits = training.predict(net, data.X_train[watch])
            points.append(
                (
                    F.cross_entropy(logits, data.y_train[watch]).item(),
                    (logits.argmax(1) == data.y_train[watch]).float().mean().item(),
                    training.evaluate(net, data.X_train[score], data.y_train[score]),
                )
            )
    return points


def early_stop(val_losses: list[float], patience: int) -> int:
    """The index of the checkpoint early stopping keeps: stop after `patience` evaluations without a lower loss."""
    best = 0
    for i in range(1, len(val_losses)):
        if val_losses[i] < val_losses[best]:
            best = i
        elif i - best == patience:
            break
    return best


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="one draw, nothing written")
    parser.add_argument("--out", type=Path, default=validation.RECORDED_DIR / "practices.json")
    args = parser.parse_args(argv)
    torch.set_num_threads(min(2, torch.get_num_threads()))
    start = time.perf_counter()
    pretrained, data = checkpoints.load_glyphnet(), digits.handwritten_digits("wild")
    draws = 1 if args.quick else DRAWS
    rows = [draw_rows(data.y_train, d) for d in range(draws)]
    decay_scores = {}
    for wd in tqdm(WEIGHT_DECAYS, desc="weight decay"):
        runs = [curve(pretrained, data, rows[d], SEED_BASE + d, wd) for d in range(draws)]
        decay_scores[wd] = float(np.mean([(run[-1][1] + run[-1][2]) / 2 for run in runs]))  # every validation image
    weight_decay, _ = validation.choose_setting(WEIGHT_DECAYS, decay_scores.__getitem__)
    runs = [curve(pretrained, data, rows[d], SEED_BASE + d, weight_decay, augment_batch) for d in tqdm(range(draws))]
    patience_scores = {
        p: float(np.mean([run[early_stop([point[0] for point in run], p)][2] for run in runs])) for p in PATIENCES
    }
    patience, _ = validation.choose_setting(PATIENCES, patience_scores.__getitem__)
    no_stopping = float(np.mean([run[-1][2] for run in runs]))  # the control: keep the final weights
    print(f"weight decay {weight_decay:g}: " + ", ".join(f"{wd:g}: {s:.3f}" for wd, s in decay_scores.items()))
    print(f"patience {patience}: " + ", ".join(f"{p}: {s:.3f}" for p, s in patience_scores.items()))
    print(f"no early stopping (the final weights): {no_stopping:.3f}")
    record = {
        "what": "notebook 07's weight decay and early-stopping patience, chosen on validation images of their own",
        "script": "bench/validate_practices.py",
        "protocol": {
            "task": "wild handwritten digits, GlyphNet pre-trained on printed letters, a new head",
            "labels_per_class": PER_CLASS,
            "steps": STEPS,
            "lr": LR,
            "batch_size": BATCH,
            "optimizer": "AdamW, constant rate",
            "evaluate_every": EVERY,
            "draws": draws,
            "validation": "20 images per class per draw; patience: 10 per class watch, the other 10 score",
        },
        "grid": {"weight_decay": WEIGHT_DECAYS, "patience": PATIENCES},
        "chosen": {"weight_decay": weight_decay, "patience": patience},
        "validation_accuracy": {
            "weight_decay": {f"{wd:g}": round(s, 4) for wd, s in decay_scores.items()},
            "patience": {str(p): round(s, 4) for p, s in patience_scores.items()},
            "no_early_stopping": round(no_stopping, 4),
        },
    }
    if args.quick:
        return 0
    validation.write_record(args.out, record, minutes=(time.perf_counter() - start) / 60)
    print(f"wrote {args.out.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
