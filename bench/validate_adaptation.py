"""Choose notebook 04's settings on validation, never on the handwritten test set; record the choice.

    python bench/validate_adaptation.py            # writes data/validated/adaptation.json (about 9 minutes)
    python bench/validate_adaptation.py --quick    # a smoke run: tiny budgets, written nowhere

In unsupervised domain adaptation the target has no labels, so no target label may choose a setting either.
Every label-free setting is chosen on a stand-in pair that has labels on both sides: the printed digits of
notebook 04 (source) and printed digits put through the handwritten digits' pipeline, an 8x8 scan placed on the
wild canvas (`adaptation.scanned_digits`), as the target. Its unlabelled images play the target's part in
training, and a held-out labelled set of them scores each setting:

- DANN with domain-specific BatchNorm: the adversary's weight and the training budget (steps), then, at those,
  the discriminator's width;
- source-only and domain randomization: each its own training budget;
- self-training, started from the weight-0 control deployed with the target's statistics (AdaBN), as in the
  notebook: the confidence threshold and the number of rounds, then, at that threshold, the per-class cap
  growth and the steps per round (with the number of rounds again). The score after each round of one run is
  the score of a run with that many rounds, so rounds cost nothing extra.

The one method that uses target labels, fine-tuning on a few labelled handwritten training images (the
notebook's reference), gets its rate and budget the way it may: by cross-validation on those labelled images
alone (3 folds of each of the notebook's 3 draws for seed 0, the scores averaged over the draws).

Notebook 04 loads the result with ``validation.recorded("adaptation")``.
"""

from __future__ import annotations

import argparse
import copy
import sys
import time
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from course_utils import adaptation, digits, training, validation  # noqa: E402

WEIGHTS = [0.1, 0.3, 1.0]  # the adversary's weight
STEPS = [400, 800]  # DANN's training budget, batch 64 per domain
DISC_WIDTHS = [128, 512, 1024]  # hidden units per layer of the domain classifier
GRID_WIDTH = 512  # the width the weight x steps grid runs with
PLAIN_STEPS = [400, 800, 1600, 3200]  # source-only's and domain randomization's budgets, batch 64
THRESHOLDS = [0.7, 0.8, 0.9, 0.95]  # pseudo-label confidence
MAX_ROUNDS = 6  # self-training rounds, each one scored
PER_ROUND = [15, 30, 60]  # the per-class cap grows by this much each round
ROUND_STEPS = [75, 150, 300]  # steps per self-training round
FINE_TUNE_STEPS = [50, 100, 200]  # the labelled reference's budget, batch 32
FINE_TUNE_LR = [1e-4, 3e-4, 1e-3, 3e-3, 1e-2]  # the labelled reference's rates
LABELS_PER_CLASS, DRAWS = (5, 20), 3  # as in the notebook
SOURCE_IMAGES = 6000  # as in the notebook
TARGET_IMAGES, TEST_IMAGES = 1078, 719  # the sizes of the handwritten training and test sets
LR, START = 1e-3, (30, 150)  # the notebook's rate; the self-training recipe the thresholds are compared with
SEED = 0
DATA_SEED = 50_000  # the stand-in images are drawn with seeds far from the notebook's own


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="tiny budgets, nothing written")
    parser.add_argument("--out", type=Path, default=validation.RECORDED_DIR / "adaptation.json")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)  # small networks: a second thread barely helps, and a busy machine thrashes
    scale = 20 if args.quick else 1  # --quick divides every budget by 20
    n_source = SOURCE_IMAGES // (10 if args.quick else 1)
    source = adaptation.source_digits(n_source, seed=SEED)
    X_stand_in, y_stand_in = adaptation.scanned_digits(TARGET_IMAGES + TEST_IMAGES, seed=DATA_SEED)
    X_target, held_out = X_stand_in[:TARGET_IMAGES], (X_stand_in[TARGET_IMAGES:], y_stand_in[TARGET_IMAGES:])
    start = time.perf_counter()
    bar = tqdm(desc="runs")

    def scored(net) -> float:
        bar.update()
        return training.evaluate(net, *held_out)

    def dann(weight: float, steps: int, width: int = GRID_WIDTH):
        net = adaptation.small_cnn(seed=SEED)
        adaptation.train_dann(
            net,
            source,
            X_target,
            steps=steps // scale,
            weight=weight,
            lr=LR,
            seed=SEED,
            disc_width=width,
            progress=False,
        )
        return adaptation.adabn(net, X_target)  # deployed with the target's statistics

    grid = [(w, s) for s in STEPS for w in WEIGHTS]
    (weight, steps), dann_scores = validation.choose_setting(grid, lambda ws: scored(dann(*ws)))
    width, width_scores = validation.choose_setting(
        DISC_WIDTHS, lambda w: dann_scores[weight, steps] if w == GRID_WIDTH else scored(dann(weight, steps, w))
    )
    control = dann(0.0, steps)  # the weight-0 control: per-domain BatchNorm, adversary weight 0, then AdaBN
    control_score = scored(control)

    def plain(data, n_steps: int):
        net = adaptation.small_cnn(seed=SEED)
        training.fit(net, data, steps=n_steps // scale, lr=LR, schedule="cosine", seed=SEED, progress=False)
        return net

    randomized = adaptation.source_digits(n_source, adaptation.RANDOMIZED, seed=20_000 + SEED)
    plain_steps, plain_scores, plain_nets = {}, {}, {}  # the nets are kept: fine-tuning starts from source-only's
    for name, data in [("source-only", source), ("domain randomization", randomized)]:
        for n_steps in PLAIN_STEPS:
            plain_nets[name, n_steps] = plain(data, n_steps)
        plain_steps[name], plain_scores[name] = validation.choose_setting(
            PLAIN_STEPS, lambda s, name=name: scored(plain_nets[name, s])
        )

    def self_training(threshold: float, per_round: int, round_steps: int) -> dict[int, float]:
        history = adaptation.self_train(
            control,
            source,
            X_target,
            threshold=threshold,
            rounds=MAX_ROUNDS,
            per_round=per_round,
            steps=round_steps // scale,
            lr=LR,
            seed=SEED,
            progress=False,
        )
        return {r["round"]: scored(r["model"]) for r in history}

    runs = {(t, *START): self_training(t, *START) for t in THRESHOLDS}
    (threshold, _, _, _), _ = validation.choose_setting(
        [(*key, r) for key, by_round in runs.items() for r in by_round], lambda k: runs[k[:3]][k[3]]
    )
    for cap in PER_ROUND:
        for n in ROUND_STEPS:
            if (threshold, cap, n) not in runs:
                runs[threshold, cap, n] = self_training(threshold, cap, n)
    recipe = [(cap, n, r) for cap in PER_ROUND for n in ROUND_STEPS for r in range(1, MAX_ROUNDS + 1)]
    (per_round, round_steps, rounds), _ = validation.choose_setting(recipe, lambda k: runs[(threshold, *k[:2])][k[2]])

    hand = digits.handwritten_digits("wild")
    X_hand, y_hand = adaptation.shrink(hand.X_train), hand.y_train  # training images only; never the test set
    source_only = plain_nets["source-only", plain_steps["source-only"]]

    def fine_tune_cv(rows, lr: float, n_steps: int) -> float:
        def score(train, val):
            net = copy.deepcopy(source_only)
            training.fit(
                net,
                (X_hand[train], y_hand[train]),
                steps=n_steps // scale,
                lr=lr,
                batch_size=32,
                schedule="cosine",
                seed=SEED,
                progress=False,
            )
            return training.evaluate(net, X_hand[val], y_hand[val])

        bar.update()
        return validation.cross_validate(score, validation.validation_folds(rows, y_hand, max_folds=3, seed=SEED))

    fine_tune, fine_tune_scores = {}, {}
    for k in LABELS_PER_CLASS:
        draws = [digits.labelled_subset(y_hand, k, seed=1000 * SEED + d) for d in range(DRAWS)]
        cv = {  # every rate and budget, scored by the mean over the draws
            (lr, n): float(np.mean([fine_tune_cv(rows, lr, n) for rows in draws]))
            for n in FINE_TUNE_STEPS
            for lr in FINE_TUNE_LR
        }
        fine_tune[k], fine_tune_scores[k] = validation.choose_setting(list(cv), cv.get)
    bar.close()

    for (w, s), score in dann_scores.items():
        print(f"DANN weight {w:g}, {s} steps: {score:.3f}")
    for w, score in width_scores.items():
        print(f"DANN weight {weight:g}, {steps} steps, discriminator width {w}: {score:.3f}")
    print(f"weight-0 control + AdaBN ({steps} steps): {control_score:.3f}")
    for name, scores in plain_scores.items():
        print(f"{name}: " + ", ".join(f"{s} steps {a:.3f}" for s, a in scores.items()))
    for (t, cap, n), by_round in runs.items():
        print(
            f"self-training, threshold {t:g}, cap +{cap}/round, {n} steps/round: "
            + ", ".join(f"{a:.3f}" for a in by_round.values())
        )
    for k, scores in fine_tune_scores.items():
        for n in FINE_TUNE_STEPS:
            rates = ", ".join(f"lr {lr:g} {scores[lr, n]:.3f}" for lr in FINE_TUNE_LR)
            print(f"fine-tune, {k} labels/class, {n} steps, 3-fold CV: {rates}")
    print(
        f"chosen: DANN weight {weight:g}, {steps} steps, width {width}; source-only {plain_steps['source-only']} "
        f"steps, randomization {plain_steps['domain randomization']}; self-training threshold {threshold:g}, "
        f"{rounds} rounds, cap +{per_round}, {round_steps} steps/round; fine-tuning (lr, steps) {fine_tune}"
    )
    record = {
        "what": "notebook 04's settings: the label-free ones chosen on a stand-in pair with labels, never on "
        "handwritten labels; the labelled reference's rate and budget by cross-validation on its labelled"
        " training images",
        "script": "bench/validate_adaptation.py",
        "stand_in_pair": "printed digits -> printed digits scanned at 8x8 and placed on the wild canvas",
        "protocol": {
            "seed": SEED,
            "source_images": n_source,
            "target_images": TARGET_IMAGES,
            "held_out_images": TEST_IMAGES,
            "lr": LR,
            "search": "DANN: weight x steps, then width at "
            "those; self-training: threshold x rounds at cap +30, 150 steps/round, then cap x steps/round "
            "x rounds at that threshold",
        },
        "DANN_WEIGHT": weight,
        "STEPS": steps,
        "DISC_WIDTH": width,
        "SOURCE_ONLY_STEPS": plain_steps["source-only"],
        "RANDOMIZATION_STEPS": plain_steps["domain randomization"],
        "THRESHOLD": threshold,
        "ROUNDS": rounds,
        "PER_ROUND": per_round,
        "ROUND_STEPS": round_steps,
        "FINE_TUNE": {str(k): {"lr": lr, "steps": n} for k, (lr, n) in fine_tune.items()},
        "stand_in_accuracy": {
            "DANN": {f"weight {w:g}, {s} steps": round(a, 4) for (w, s), a in dann_scores.items()},
            "DANN width": {str(w): round(a, 4) for w, a in width_scores.items()},
            "weight-0 control + AdaBN": round(control_score, 4),
            **{name: {str(s): round(a, 4) for s, a in scores.items()} for name, scores in plain_scores.items()},
            "self-training": {
                f"threshold {t:g}, cap +{cap}, {n} steps": [round(a, 4) for a in by_round.values()]
                for (t, cap, n), by_round in runs.items()
            },
        },
        "fine_tune_cv_accuracy": {  # labels per class -> steps -> rate -> mean accuracy
            str(k): {str(n): {f"{lr:g}": round(scores[lr, n], 4) for lr in FINE_TUNE_LR} for n in FINE_TUNE_STEPS}
            for k, scores in fine_tune_scores.items()
        },
    }
    if args.quick:
        return 0
    validation.write_record(args.out, record, (time.perf_counter() - start) / 60)
    print(f"wrote {args.out.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
