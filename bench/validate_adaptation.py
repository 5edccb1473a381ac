"""Choose notebook 04's adaptation settings without a single handwritten label; record the choice.

    python bench/validate_adaptation.py            # writes data/validated/adaptation.json (about 10 minutes)
    python bench/validate_adaptation.py --quick    # a smoke run: tiny budgets, written nowhere

In unsupervised domain adaptation the target has no labels, so no target label may choose a setting either.
The settings are chosen on a stand-in pair that has labels on both sides: the printed digits of notebook 04
(source) and printed digits put through the handwritten digits' pipeline, an 8x8 scan placed on the wild canvas
(`adaptation.scanned_digits`), as the target. Its unlabelled images play the target's part in training, and a
held-out labelled set of them scores each setting:

- DANN with domain-specific BatchNorm: the adversary's weight and the training budget (steps), which every network
  trained from scratch in the notebook then shares;
- self-training: the pseudo-label confidence threshold, started from the weight-0 control trained with that budget
  and deployed with the target's statistics (AdaBN), as in the notebook.

Notebook 04 loads the result with ``validation.recorded("adaptation")``.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch
from tqdm.auto import tqdm

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from course_utils import adaptation, training, validation  # noqa: E402

WEIGHTS = [0.1, 0.3, 1.0]  # the adversary's weight
STEPS = [400, 800]  # training budget, batch 64 per domain
THRESHOLDS = [0.7, 0.8, 0.9, 0.95]  # pseudo-label confidence
SOURCE_IMAGES = 6000  # as in the notebook
TARGET_IMAGES, TEST_IMAGES = 1078, 719  # the sizes of the handwritten training and test sets
LR, DISC_WIDTH, ROUNDS, PER_ROUND, ROUND_STEPS = 1e-3, 512, 3, 30, 150  # the notebook's recipe
SEED = 0
DATA_SEED = 50_000  # the stand-in images are drawn with seeds far from the notebook's own


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="tiny budgets, nothing written")
    parser.add_argument("--out", type=Path, default=validation.RECORDED_DIR / "adaptation.json")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)  # small networks: a second thread barely helps, and a busy machine thrashes
    steps_grid, round_steps, n_source = ([20, 40], 10, 600) if args.quick else (STEPS, ROUND_STEPS, SOURCE_IMAGES)
    source = adaptation.source_digits(n_source, seed=SEED)
    X_stand_in, y_stand_in = adaptation.scanned_digits(TARGET_IMAGES + TEST_IMAGES, seed=DATA_SEED)
    X_target, held_out = X_stand_in[:TARGET_IMAGES], (X_stand_in[TARGET_IMAGES:], y_stand_in[TARGET_IMAGES:])
    start = time.perf_counter()

    def trained(weight: float, steps: int):
        net = adaptation.small_cnn(seed=SEED)
        adaptation.train_dann(
            net, source, X_target, steps=steps, weight=weight, lr=LR, seed=SEED, disc_width=DISC_WIDTH, progress=False
        )
        return adaptation.adabn(net, X_target)  # deployed with the target's statistics

    grid = [(w, s) for s in steps_grid for w in WEIGHTS]
    bar = tqdm(total=len(grid) + 1 + len(THRESHOLDS), desc="settings")

    def dann_score(setting: tuple[float, int]) -> float:
        bar.update()
        return training.evaluate(trained(*setting), *held_out)

    (weight, steps), dann_scores = validation.choose_setting(grid, dann_score)
    control = trained(0.0, steps)  # the weight-0 control: per-domain BatchNorm, adversary weight 0, then AdaBN
    bar.update()
    control_score = training.evaluate(control, *held_out)

    def self_training_score(threshold: float) -> float:
        bar.update()
        rounds = adaptation.self_train(
            control,
            source,
            X_target,
            threshold=threshold,
            rounds=ROUNDS,
            per_round=PER_ROUND,
            steps=round_steps,
            lr=LR,
            seed=SEED,
            progress=False,
        )
        return training.evaluate(rounds[-1]["model"], *held_out)

    threshold, threshold_scores = validation.choose_setting(THRESHOLDS, self_training_score)
    bar.close()
    for (w, s), score in dann_scores.items():
        print(f"DANN weight {w:g}, {s} steps: {score:.3f}")
    print(f"weight-0 control + AdaBN ({steps} steps): {control_score:.3f}")
    for t, score in threshold_scores.items():
        print(f"self-training, threshold {t:g}: {score:.3f}")
    print(f"chosen: DANN weight {weight:g}, {steps} steps, pseudo-label threshold {threshold:g}")
    record = {
        "what": "notebook 04's settings, chosen on a stand-in pair with labels, never on handwritten labels",
        "script": "bench/validate_adaptation.py",
        "stand_in_pair": "printed digits -> printed digits scanned at 8x8 and placed on the wild canvas",
        "protocol": {
            "seed": SEED,
            "source_images": n_source,
            "target_images": TARGET_IMAGES,
            "held_out_images": TEST_IMAGES,
            "lr": LR,
            "disc_width": DISC_WIDTH,
            "rounds": ROUNDS,
            "per_round": PER_ROUND,
            "round_steps": round_steps,
        },
        "DANN_WEIGHT": weight,
        "STEPS": steps,
        "THRESHOLD": threshold,
        "stand_in_accuracy": {
            "DANN": {f"weight {w:g}, {s} steps": round(a, 4) for (w, s), a in dann_scores.items()},
            "weight-0 control + AdaBN": round(control_score, 4),
            "self-training": {f"threshold {t:g}": round(a, 4) for t, a in threshold_scores.items()},
        },
    }
    if args.quick:
        return 0
    validation.write_record(args.out, record, (time.perf_counter() - start) / 60)
    print(f"wrote {args.out.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
