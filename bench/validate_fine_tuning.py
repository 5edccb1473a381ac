"""Choose notebook 03's settings on validation rows carved from the labelled training rows; record the choice.

    python bench/validate_fine_tuning.py             # writes data/validated/fine_tuning.json (30 min on 2 cores)
    python bench/validate_fine_tuning.py --quick     # a smoke run: one draw, two sizes, written nowhere
    python bench/validate_fine_tuning.py --jobs 4    # worker processes (one thread each; default 2)

Notebook 03 (fine-tuning techniques) asks *how deep* to fine-tune and *which learning rates* to use, on the course's
task: wild handwritten digits, GlyphNet pre-trained on printed letters, 80 steps of batch 64 (AdamW). Each arm
runs at its own setting, chosen here on validation; the test set is never read:

- **freeze depth**: for every labels-per-class size of `SIZES`, every depth (0: full fine-tuning ... 4: only the
  head trains) with every rate of `LR_GRID`, cosine schedule. The depth with the best validation accuracy (at its
  own best rate) is the chosen depth; the rate is recorded per size and depth. The notebook sweeps 2, 20 and every
  label; 5 is recorded too, for a learner who changes its `LABELS_PER_CLASS`.
- **single rate vs differential rates**, with every label: the single rates are depth 0 of the sweep above;
  differential rates give the head `head_lr` and divide it by `factor` per block going down (`DIFF_GRID`).
- **schedules**, with every label: a constant rate, each rate of `LR_GRID` (the cosine arm is depth 0 above).

Validation rows: with 2-20 labels per class, stratified folds over the labelled rows (at most 3,
`validation.validation_folds`); with every label, the first of 5 stratified folds (a fifth of the training images)
is held out, and the runs train on the other four fifths, as the notebook's do. Scores are averaged over `DRAWS`
labelled draws whose seeds are far from the notebook's own (which are ``1000 * SEED + draw``).
The run mirrors notebook 03's `fine_tune`: a fresh head drawn with the run's seed, the first `depth` blocks frozen
(in eval mode, their outputs computed once), `training.fit` on the rest. Notebook 03 loads the result with
``validation.recorded("fine_tuning")``.
"""

from __future__ import annotations

import argparse
import copy
import json
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from course_utils import checkpoints, digits, models, training, validation  # noqa: E402

SIZES = [2, 5, 20, None]  # labels per class; None: every training image
DEPTHS = range(len(models.BLOCKS) + 1)  # blocks frozen from the input: 0 full fine-tuning ... 4 head only
LR_GRID = [3e-4, 1e-3, 3e-3, 1e-2, 3e-2, 1e-1]
DIFF_GRID = [(head_lr, factor) for head_lr in (1e-2, 3e-2, 1e-1) for factor in (2, 3, 10)]
STEPS = 80
DRAWS = 3
MAX_FOLDS = 3
HOLDOUT_FOLDS = 5  # with every label, one fold of five (a fifth of the images) is the validation split
SEED_BASE = 700_000

_state: dict = {}


def key(per_class: int | None) -> str:
    return "all" if per_class is None else str(per_class)


def split_at(net: models.GlyphNet, depth: int) -> tuple[nn.Module, nn.Module]:
    """The first `depth` blocks (frozen, eval mode) and the rest of the network, blocks and head (trains)."""
    frozen = nn.Sequential(*[getattr(net, b) for b in models.BLOCKS[:depth]]).eval()
    return frozen, nn.Sequential(*[getattr(net, b) for b in models.BLOCKS[depth:]], net.head)


def _setup() -> None:
    """Each worker: one thread, the pre-trained network, the digits, and every depth's frozen outputs."""
    torch.set_num_threads(1)
    pretrained = checkpoints.load_glyphnet()
    data = digits.handwritten_digits("wild")
    with torch.no_grad():
        cut = {depth: split_at(pretrained, depth)[0](data.X_train) for depth in DEPTHS}
    _state.update(pretrained=pretrained, y=data.y_train, cut=cut)


def draw_folds(per_class: int | None, draw: int) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """(training rows, validation rows) of one labelled draw: folds, or a held-out fifth with every label."""
    seed = SEED_BASE + 1000 * (per_class or 0) + draw
    idx = digits.labelled_subset(_state["y"], per_class, seed=seed)
    if per_class is None:
        return validation.validation_folds(idx, _state["y"], max_folds=HOLDOUT_FOLDS, seed=seed)[:1]
    return validation.validation_folds(idx, _state["y"], max_folds=MAX_FOLDS, seed=seed)


def score(job: tuple) -> tuple[tuple, float]:
    """Validation accuracy of one setting on one draw (mean over its folds)."""
    kind, per_class, depth, lr, factor, draw = job
    seed = SEED_BASE + 1000 * (per_class or 0) + draw
    y, cut = _state["y"], _state["cut"][depth]

    def fold_score(train_rows: torch.Tensor, val_rows: torch.Tensor) -> float:
        net = models.new_head(copy.deepcopy(_state["pretrained"]), 10, seed=seed)
        _, rest = split_at(net, depth)
        rates = models.param_groups(net, models.discriminative_lrs(net, lr, factor)) if factor else lr
        schedule = "constant" if kind == "constant" else "cosine"
        training.fit(
            rest, (cut[train_rows], y[train_rows]), steps=STEPS, lr=rates, schedule=schedule, seed=seed, progress=False
        )
        return training.evaluate(rest, cut[val_rows], y[val_rows])

    return job, validation.cross_validate(fold_score, draw_folds(per_class, draw))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="one draw, two sizes, nothing written")
    parser.add_argument("--jobs", type=int, default=2, help="worker processes, one thread each")
    parser.add_argument("--out", type=Path, default=validation.RECORDED_DIR / "fine_tuning.json")
    args = parser.parse_args(argv)
    sizes, draws = ([5, None], 1) if args.quick else (SIZES, DRAWS)
    jobs = [("depth", k, d, lr, None, i) for k in sizes for d in DEPTHS for lr in LR_GRID for i in range(draws)]
    jobs += [("differential", None, 0, lr, f, i) for lr, f in DIFF_GRID for i in range(draws)]
    jobs += [("constant", None, 0, lr, None, i) for lr in LR_GRID for i in range(draws)]
    start, results = time.perf_counter(), {}
    with ProcessPoolExecutor(args.jobs, initializer=_setup) as pool:
        for job, value in tqdm(pool.map(score, jobs), total=len(jobs), desc="settings x draws"):
            results.setdefault(job[:5], []).append(value)
    mean = {setting: float(np.mean(values)) for setting, values in results.items()}
    record = summarise(mean, sizes)
    print(json.dumps(record["chosen"], indent=1))
    if args.quick:
        return 0
    validation.write_record(args.out, record, minutes=(time.perf_counter() - start) / 60)  # stamped: date, torch
    print(f"wrote {args.out.relative_to(ROOT)}")
    return 0


def summarise(mean: dict[tuple, float], sizes: list[int | None]) -> dict:
    """The chosen settings and every validation score, in the layout notebook 03 reads."""
    chosen: dict = {"lr": {}, "depth": {}}
    scores: dict = {"depth": {}}
    for k in sizes:
        best_lr, best_score = {}, {}
        for d in DEPTHS:
            best_lr[d], grid = validation.choose_setting(LR_GRID, lambda lr, k=k, d=d: mean["depth", k, d, lr, None])
            best_score[d] = grid[best_lr[d]]
            scores["depth"].setdefault(key(k), {})[str(d)] = {f"{lr:g}": round(s, 4) for lr, s in grid.items()}
        chosen["lr"][key(k)] = {str(d): best_lr[d] for d in DEPTHS}
        chosen["depth"][key(k)] = validation.choose_setting(list(DEPTHS), best_score.__getitem__)[0]
    chosen["single"] = chosen["lr"]["all"]["0"]
    (head_lr, factor), diff = validation.choose_setting(DIFF_GRID, lambda s: mean["differential", None, 0, *s])
    chosen["differential"] = {"head_lr": head_lr, "factor": factor}
    chosen["constant"], const = validation.choose_setting(LR_GRID, lambda lr: mean["constant", None, 0, lr, None])
    scores["differential"] = {f"{lr:g} /{f:g}": round(s, 4) for (lr, f), s in diff.items()}
    scores["constant"] = {f"{lr:g}": round(s, 4) for lr, s in const.items()}
    return {
        "what": "notebook 03's settings (freeze depth, learning rates), chosen on validation rows of the training set",
        "script": "bench/validate_fine_tuning.py",
        "protocol": {
            "task": "wild handwritten digits",
            "steps": STEPS,
            "batch_size": 64,
            "optimizer": "AdamW",
            "schedule": "cosine, except the constant arm",
            "draws": DRAWS,
            "max_folds": MAX_FOLDS,
            "every_label": f"1 of {HOLDOUT_FOLDS} stratified folds held out; the runs train on the rest",
        },
        "grid": {"lr": LR_GRID, "differential": [list(s) for s in DIFF_GRID], "depth": list(DEPTHS)},
        "chosen": chosen,
        "validation_accuracy": scores,
    }


if __name__ == "__main__":
    raise SystemExit(main())
