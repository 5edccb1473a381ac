"""Few-shot learning: each meta-learner's learning rate chosen on validation episodes, and its accuracy
against training budget; record both.

    python bench/validate_few_shot.py            # writes data/validated/few_shot.json (about 9 minutes on 2 cores)
    python bench/validate_few_shot.py --quick    # a smoke run: tiny budgets, written nowhere

Validation episodes come from two background alphabets held out of meta-training
(`fewshot.VALIDATION_SCRIPTS`); the meta-learners train on the other six. The arms are notebook 05's:
the prototypical and the matching network from random weights, first-order ANIL from random weights, and the
prototypical network started from pre-trained GlyphNet (episodic fine-tuning, as in Meta-Baseline, Chen et al.
2021). Step 1: each arm's learning rate, from a grid of four (five for the matching network), at the notebook's
budget (`LIVE_IMAGES`), scored by 5-way 1- and 5-shot accuracy on the validation episodes. Step 2: with that
rate, one run per arm and budget (cosine schedule over the budget) up to GlyphNet's own pre-training budget in
images (4,000 steps of batch 64), each scored on the validation episodes and, as a report only, on notebook 05's
seed-0 test episodes.
GlyphNet saw the validation alphabets in pre-training: its arm's validation scores are optimistic, so they choose
its rate but are not compared with the others. Notebook 05 loads the result with ``validation.recorded``.

    python bench/validate_few_shot.py --train-seeds 1 2    # adds training seeds to the record (about 10 minutes)

Step 3 (``--train-seeds``): how much the budget curve moves between training runs. Each arm is trained again at
its recorded rate, with other training seeds (other initial weights and other training episodes), at the
notebook's budget and at GlyphNet's, and scored on the same validation and test episodes; the record keeps every
seed (seed 0 is step 2's run) under ``seeds``.
"""

from __future__ import annotations

import argparse
import copy
import sys
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from course_utils import checkpoints, fewshot, glyphs, meta_learning, models, validation  # noqa: E402

LIVE_IMAGES = 200 * 200  # notebook 05's budget for every arm: 200 episodes of 20-way 5-shot 5-query
PRETRAIN_IMAGES = 4000 * 64  # GlyphNet's pre-training: 4,000 steps of batch 64
GRID = {  # each arm's best lies inside its grid (the matching network's reaches higher: it prefers larger rates)
    "prototypical network": [3e-4, 1e-3, 3e-3, 1e-2],
    "matching network": [1e-3, 3e-3, 1e-2, 3e-2, 1e-1],
    "first-order ANIL": [3e-4, 1e-3, 3e-3, 1e-2],
    "prototypical network from GlyphNet": [3e-5, 1e-4, 3e-4, 1e-3],
}
IMAGES_PER_EPISODE = {"first-order ANIL": 5 * (5 + 10)}  # 5-way 5-shot, 10 queries; the others 20-way 5 + 5
BUDGETS = [LIVE_IMAGES, 120_000, PRETRAIN_IMAGES]  # images seen; the first is the learning-rate search's own run
VAL_EPISODES, POOL, SEED = 200, 30, 0


def images_per_episode(arm: str) -> int:
    return IMAGES_PER_EPISODE.get(arm, 20 * (5 + 5))


def train(arm: str, lr: float, episodes: int, meta_train: glyphs.GlyphSet, seed: int = SEED):
    """One arm trained for `episodes` episodes at rate `lr`: (embedding network, classifier)."""
    if arm == "first-order ANIL":
        body, head = models.GlyphNet(num_classes=10, seed=seed), meta_learning.zero_head(128, 5)
        meta_learning.train_anil(body, head, meta_train, episodes, lr=lr, head_lr=10 * lr, seed=seed, progress=False)
        return body, meta_learning.anil_classifier(head)
    if arm.endswith("from GlyphNet"):
        net = copy.deepcopy(checkpoints.load_glyphnet())
    else:
        net = models.GlyphNet(num_classes=10, seed=seed)
    method = "matching" if arm.startswith("matching") else "prototypical"
    meta_learning.train_episodic(net, meta_train, episodes, method, lr=lr, seed=seed, progress=False)
    return net, meta_learning.matching_classify if method == "matching" else fewshot.nearest_prototype


def scorer(source: tuple, seed: int, count: int):
    """Mean 5-way accuracy at 1 and 5 shots on fixed episodes from a font-tagged pool."""
    five = fewshot.sample_episodes(source, 5, 5, count, queries=10, seed=seed)

    def score(net, classify) -> dict[str, float]:
        out = {}
        for shot in (1, 5):
            eps = [ep.with_shots(shot) for ep in five]
            out[str(shot)] = round(
                fewshot.score(eps, fewshot.embed_pool(net.features, eps, source[0]), classify).mean, 4
            )
        return out

    return score


RECORD = ROOT / "data" / "validated" / "few_shot.json"
SEED_BUDGETS = [LIVE_IMAGES, PRETRAIN_IMAGES]  # step 3's budgets: the notebook's and GlyphNet's


def add_train_seeds(seeds: list[int], meta_train, val_score, test_score, start: float) -> None:
    """Step 3: every arm again at its recorded rate with each training seed in `seeds`; written after each run."""
    record = validation.recorded("few_shot")
    record.setdefault("steps_1_2_recorded", record["recorded"])  # the stamp below is step 3's
    runs = record.setdefault("seeds", {})
    for arm, curve in record["curves"].items():
        per_seed = runs.setdefault(arm, {"0": [p for p in curve if p["images"] in SEED_BUDGETS]})
        for seed in seeds:
            points = []
            for images in SEED_BUDGETS:
                net, classify = train(arm, record["lr"][arm], images // images_per_episode(arm), meta_train, seed)
                points.append(
                    {"images": images, "validation": val_score(net, classify), "test": test_score(net, classify)}
                )
                print(f"{arm}, training seed {seed}: {points[-1]}  ({time.time() - start:.0f} s)", flush=True)
            per_seed[str(seed)] = points
            record["seeds_protocol"] = "each arm at its recorded rate; seed 0 is step 2's run; same scoring episodes"
            kept = {k: v for k, v in record.items() if k != "recorded"}
            validation.write_record(RECORD, kept, (time.time() - start) / 60)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="tiny budgets, one rate per arm; write nothing")
    parser.add_argument("--train-seeds", type=int, nargs="+", help="step 3 only: add these training seeds")
    args = parser.parse_args()
    torch.set_num_threads(2)
    start = time.time()
    meta_train, val_letters = fewshot.meta_split(glyphs.background_alphabets())
    novel = glyphs.evaluation_alphabets()
    val_pool = (*fewshot.glyph_pool(val_letters, POOL, seed=SEED + 1), fewshot.pool_fonts(val_letters, POOL, SEED + 1))
    test_pool = (*fewshot.glyph_pool(novel, POOL, seed=SEED), fewshot.pool_fonts(novel, POOL, seed=SEED))
    val_score = scorer(val_pool, SEED + 1, 20 if args.quick else VAL_EPISODES)
    test_score = scorer(test_pool, SEED, 20 if args.quick else 300)
    if args.train_seeds:
        add_train_seeds(args.train_seeds, meta_train, val_score, test_score, start)
        print(f"done in {(time.time() - start) / 60:.1f} min")
        return
    live, budgets = (1000, [1000, 2000]) if args.quick else (LIVE_IMAGES, BUDGETS)
    grid = {arm: rates[1:2] if args.quick else rates for arm, rates in GRID.items()}
    record = {
        "what": "learning rate per meta-learner, chosen on validation episodes; accuracy against budget",
        "script": "bench/validate_few_shot.py",
        "protocol": {
            "validation_scripts": list(fewshot.VALIDATION_SCRIPTS),
            "validation_episodes": VAL_EPISODES,
            "live_images": LIVE_IMAGES,
            "pretrain_images": PRETRAIN_IMAGES,
            "pool": POOL,
            "score": "mean 5-way accuracy at 1 and 5 shots",
            "seed": SEED,
        },
        "grid": grid,
        "lr": {},
        "validation_by_lr": {},
        "curves": {},
    }
    glyphnet = checkpoints.load_glyphnet().eval()
    record["glyphnet_test"] = test_score(glyphnet, fewshot.nearest_prototype)
    for arm, rates in grid.items():
        scores, nets = {}, {}
        for lr in rates:
            nets[lr] = train(arm, lr, live // images_per_episode(arm), meta_train)
            scores[lr] = val_score(*nets[lr])
            print(f"{arm}, lr {lr:g}: validation {scores[lr]}  ({time.time() - start:.0f} s)", flush=True)
        best = max(rates, key=lambda lr: np.mean(list(scores[lr].values())))
        record["lr"][arm], record["validation_by_lr"][arm] = best, {str(k): v for k, v in scores.items()}
        curve = [{"images": live, "validation": scores[best], "test": test_score(*nets[best])}]
        for images in budgets[1:]:
            net, classify = train(arm, best, images // images_per_episode(arm), meta_train)
            curve.append({"images": images, "validation": val_score(net, classify), "test": test_score(net, classify)})
            print(f"{arm}: {curve[-1]}  ({time.time() - start:.0f} s)", flush=True)
        record["curves"][arm] = curve
        if not args.quick:  # written after every arm, so that an interrupted run keeps what it measured
            validation.write_record(RECORD, record, (time.time() - start) / 60)
    print(f"done in {(time.time() - start) / 60:.1f} min")


if __name__ == "__main__":
    main()
