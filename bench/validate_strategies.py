"""Choose each transfer strategy's learning rate on validation folds, per labels-per-class size; record the choice.

    python bench/validate_strategies.py            # writes data/validated/strategies.json (about 10 minutes)
    python bench/validate_strategies.py --quick    # a smoke run: one size, one draw, written nowhere

The task is the course's: wild handwritten digits, GlyphNet pre-trained on printed letters, 80 steps of batch 64
with a cosine schedule for every arm (`course_utils.strategies`). For every arm and size, three labelled subsets
are drawn (seeds far from the notebooks' own draws), each is split into stratified folds carved from its labelled
rows (`course_utils.validation`), and every rate of the arm's grid is trained on the other folds and scored on the
held-out one. The rate with the best mean validation accuracy is recorded. The test set is never read.
With 1 label per class no fold can hold a class out, so the rate chosen at 2 labels per class (whose folds
train on exactly 1 image per class) is recorded for it.
Notebooks 01, 02 and 03 load the result with ``validation.recorded("strategies")``.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from course_utils import checkpoints, digits, strategies, training, validation  # noqa: E402

SIZES = [2, 5, 10, 20, None]  # labels per class; 1 takes the choice made at 2
GRID = {
    "feature extraction": [1e-3, 3e-3, 1e-2, 3e-2, 1e-1],
    "fine-tuning": [3e-4, 1e-3, 3e-3, 1e-2, 3e-2],
    "progressive unfreezing": [3e-4, 1e-3, 3e-3, 1e-2, 3e-2],
    "scratch": [1e-3, 3e-3, 1e-2, 3e-2, 1e-1],
}
STEPS = 80
DRAWS = 3  # labelled subsets per size (each split into up to MAX_FOLDS folds); a rate's score is their mean
MAX_FOLDS = 3
SEED_BASE = 500_000  # the notebooks draw their subsets with seeds 1000 * SEED + draw


def key(per_class: int | None) -> str:
    return "all" if per_class is None else str(per_class)


def draw_score(arm: str, lr: float, pretrained, data, per_class: int | None, draw: int) -> float:
    """Validation accuracy of `arm` at rate `lr` on labelled subset `draw`, averaged over its folds."""
    seed = SEED_BASE + 1000 * (per_class or 0) + draw
    idx = digits.labelled_subset(data.y_train, per_class, seed=seed)

    def fold_score(train_rows, val_rows):
        net = strategies.train_arm(
            arm, pretrained, data.X_train[train_rows], data.y_train[train_rows], lr=lr, steps=STEPS, seed=seed
        )
        return training.evaluate(net, data.X_train[val_rows], data.y_train[val_rows])

    folds = validation.validation_folds(idx, data.y_train, max_folds=MAX_FOLDS, seed=seed)
    return validation.cross_validate(fold_score, folds)


def merged_scores(paths: list[Path], recorded: Path) -> dict:
    """Per-draw validation scores kept by the recorded file and by earlier (or parallel) runs.

    {arm: {size: {rate: [score of draw 0, draw 1, ...]}}}: a grid that grows (a new rate, another draw) then costs
    only the new runs.
    """
    merged: dict = {}
    if recorded.exists():
        merged = json.loads(recorded.read_text()).get("validation_accuracy_per_draw", {})
    for path in paths:
        for arm, by_size in json.loads(path.read_text()).items():
            for size, by_rate in by_size.items():
                merged.setdefault(arm, {}).setdefault(size, {}).update(by_rate)
    return merged


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="one size, one draw, nothing written")
    parser.add_argument("--out", type=Path, default=validation.RECORDED_DIR / "strategies.json")
    parser.add_argument(
        "--arms",
        nargs="+",
        choices=list(GRID),
        default=list(GRID),
        help="search these arms only and keep their scores for a later run (several processes)",
    )
    args = parser.parse_args(argv)
    torch.set_num_threads(min(2, torch.get_num_threads()))
    pretrained = checkpoints.load_glyphnet()
    data = digits.handwritten_digits("wild")
    sizes, draws = ([5], 1) if args.quick else (SIZES, DRAWS)
    chosen, scores = {}, {}
    jobs = [(arm, k) for arm in args.arms for k in sizes]
    partials = sorted(args.out.parent.glob(args.out.stem + ".partial*.json"))  # an interrupted run resumes
    done = {} if args.quick else merged_scores(partials, args.out)
    partial = args.out.with_suffix(
        ".partial.json"
        if args.arms == list(GRID)
        else ".partial-" + "-".join(a.split()[0] for a in args.arms) + ".json"
    )
    for arm, k in tqdm(jobs, desc="arm x size"):
        cached = done.get(arm, {}).get(key(k), {})

        def score(lr: float, arm: str = arm, k: int | None = k, cached: dict = cached) -> float:
            per_draw = cached.setdefault(f"{lr:g}", [])
            while len(per_draw) < draws:
                per_draw.append(round(draw_score(arm, lr, pretrained, data, k, len(per_draw)), 4))
                done.setdefault(arm, {})[key(k)] = cached
                if not args.quick:
                    partial.write_text(json.dumps(done, indent=1))
            return float(np.mean(per_draw[:draws]))

        best, grid_scores = validation.choose_setting(GRID[arm], score)
        chosen.setdefault(arm, {})[key(k)] = best
        scores.setdefault(arm, {})[key(k)] = {f"{lr:g}": round(s, 4) for lr, s in grid_scores.items()}
        edge = " (at the edge of the grid)" if best in (GRID[arm][0], GRID[arm][-1]) else ""
        print(
            f"{arm:>22} {key(k):>4}/class: lr {best:g}{edge}  "
            + "  ".join(f"{lr:g}: {s:.3f}" for lr, s in grid_scores.items())
        )
    for arm in chosen:
        if "2" in chosen[arm]:
            chosen[arm] = {"1": chosen[arm]["2"], **chosen[arm]}
    record = {
        "what": "learning rate per arm and labels-per-class size, chosen on validation folds of the labelled rows",
        "script": "bench/validate_strategies.py",
        "protocol": {
            "task": "wild handwritten digits",
            "steps": STEPS,
            "batch_size": 64,
            "schedule": "cosine",
            "optimizer": "AdamW",
            "draws": DRAWS,
            "max_folds": MAX_FOLDS,
            "one_label_per_class": "uses the rate chosen at 2 labels per class",
        },
        "grid": {arm: list(g) for arm, g in GRID.items()},
        "chosen": chosen,
        "validation_accuracy": scores,
        "validation_accuracy_per_draw": {arm: {k: done[arm][k] for k in by_size} for arm, by_size in scores.items()},
    }
    if args.quick or args.arms != list(GRID):
        print(json.dumps(chosen, indent=1))
        return 0
    validation.write_record(args.out, record)
    for path in {*partials, partial}:
        path.unlink(missing_ok=True)
    print(f"wrote {args.out.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
