"""Choose notebook 08's fine-tuning settings for MiniLM on validation, per variant and labelled size; record them.

    python bench/validate_text.py            # writes data/validated/text.json (about 15 minutes on 2 cores)
    python bench/validate_text.py --quick    # a smoke run: one variant, one setting, written nowhere

The task is notebook 08's: the sentiment of film-review sentences, MiniLM's lower 4 layers cached, the top 2
fine-tuned with a head started from the frozen probe (LP-FT), AdamW with warm-up and cosine decay, batches of 32,
the head's rate 1e-3. Three variants: every weight of the top two layers, BitFit (their biases only) and LoRA
(rank 8 on the attention queries and values). The test sentences (`fixed_split`, 1,000) are never read.

- **small** (32 labelled sentences per class): two labelled draws, with seeds far from the notebook's, each
  split into 4 stratified folds (`course_utils.validation`); every (rate, epochs) of the grid is trained on
  three folds and scored on the fourth. The best mean validation accuracy wins.
- **all** (the 3,000 training sentences): a fixed stratified validation split of 500 of them; each rate is trained
  on the other 2,500 for 2 epochs, the count `bench/nlp_finetune.py` chose for the top two layers (the same
  budget for every variant), and scored on the 500.

Notebook 08 loads the result with ``validation.recorded("text")``.

    python bench/validate_text.py --report   # adds the test report below to data/validated/text.json (6 minutes)

`--report` chooses nothing: with the recorded settings it trains each variant on all 3,000 training sentences
with training seeds 0-3 and scores each on the 1,000 test sentences, once. Notebook 08 runs every variant live
with 32 sentences per class, and with all labels runs the top two layers live but shows BitFit's and LoRA's
recorded runs (mean and 95% interval over the four seeds) instead of spending 30 more seconds of its budget on
them; it compares them with the top two layers' recorded runs, so that recorded runs meet recorded runs. Its
`TEXT_LIVE_PEFT_ALL = True` reruns them live.
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV, train_test_split
from tqdm.auto import tqdm

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from course_utils import reviews, validation  # noqa: E402
from course_utils import text_finetune as tft  # noqa: E402

TEST, SMALL, FROZEN, BATCH, HEAD_LR = 1000, 32, 4, 32, 1e-3  # notebook 08's parameters cell
PROBE_C = [0.1, 1, 10, 100]
VARIANTS = ("top 2 layers", "BitFit", "LoRA")
LR_GRID = {"top 2 layers": [2e-4, 8e-4, 3.2e-3], "BitFit": [1e-3, 4e-3, 1.6e-2], "LoRA": [1e-3, 4e-3, 1.6e-2]}
SMALL_EPOCHS = [5, 10, 20]  # 2 batches per epoch on 3 folds of 64 sentences: 10, 20 and 40 steps
ALL_EPOCHS = 2
DRAWS, FOLDS, VAL_ALL = 2, 4, 500
SEED_BASE = 500_000  # the notebook draws its 32 per class with its own seed (0-3 when checked)


def probe(features: np.ndarray, labels: np.ndarray) -> LogisticRegression:
    """The notebook's linear probe: C by 4-fold cross-validation on the labelled rows, then refitted."""
    grid = GridSearchCV(LogisticRegression(max_iter=2000), {"C": PROBE_C}, cv=4)
    return grid.fit(features, labels).best_estimator_


def make_model(variant: str, lin: LogisticRegression, seed: int) -> tft.TopLayersClassifier:
    model = tft.TopLayersClassifier(6 - FROZEN, 2, seed=seed).init_head_from_probe(lin)
    if variant == "BitFit":
        tft.bitfit(model)
    elif variant == "LoRA":
        tft.add_lora(model, rank=8, seed=seed)
    return model


def score(variant, lr, epochs, cache, emb, labels, train, val, seed) -> float:
    """Validation accuracy of `variant` trained on `train` rows at (`lr`, `epochs`), LP-FT from the probe."""
    model = make_model(variant, probe(emb[train], labels[train].numpy()), seed)
    tft.fine_tune(
        model, cache, train, labels, epochs=epochs, batch_size=BATCH, lr=lr, head_lr=HEAD_LR, seed=seed, progress=False
    )
    return float((tft.predict(model, cache, val).argmax(1) == labels[val]).float().mean())


def report(out: Path, seeds: list[int]) -> None:
    """Test accuracy of every variant with all labels at its recorded settings, per training seed: a report."""
    start = time.perf_counter()
    record = json.loads(out.read_text(encoding="utf-8"))
    record.pop("recorded", None)
    corpus = reviews.load_corpus()
    labels = corpus.labels
    train_rows, test_rows = tft.fixed_split(labels, test_size=TEST)
    cache = tft.cache_lower_layers(corpus.texts, FROZEN, max_length=64, progress=False)
    emb = tft.embed(tft.TopLayersClassifier(6 - FROZEN, 2), cache, torch.arange(len(corpus.texts))).numpy()
    lin = probe(emb[train_rows], labels[train_rows].numpy())
    rows = {}
    for variant in VARIANTS:
        setting = record["chosen"][variant]["all"]
        for seed in seeds:
            model = make_model(variant, lin, seed)
            run = tft.fine_tune(
                model,
                cache,
                train_rows,
                labels,
                epochs=setting["epochs"],
                batch_size=BATCH,
                lr=setting["lr"],
                head_lr=HEAD_LR,
                seed=seed,
                progress=False,
            )
            acc = float((tft.predict(model, cache, test_rows).argmax(1) == labels[test_rows]).float().mean())
            entry = rows.setdefault(variant, {"seeds": seeds, "test_accuracy": [], "seconds_per_step": []})
            entry["test_accuracy"].append(round(acc, 4))
            entry["seconds_per_step"].append(round(run.seconds / len(run.loss), 3))
            print(f"{variant:>7} seed {seed}: test accuracy {acc:.3f}", flush=True)
    record["all_labels_test_report"] = {
        "what": "a report, not a choice: test accuracy with all 3,000 training sentences at the chosen settings",
        **rows,
    }
    validation.write_record(out, record, (time.perf_counter() - start) / 60)
    print(f"wrote the report into {out.relative_to(ROOT)}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="one variant, one setting, nothing written")
    parser.add_argument("--report", action="store_true", help="add the all-labels test report to the record")
    parser.add_argument("--out", type=Path, default=validation.RECORDED_DIR / "text.json")
    args = parser.parse_args(argv)
    torch.set_num_threads(min(2, torch.get_num_threads()))
    if args.report:
        report(args.out, [0, 1, 2, 3])
        return 0
    start = time.perf_counter()
    corpus = reviews.load_corpus()
    labels = corpus.labels
    train_rows, _ = tft.fixed_split(labels, test_size=TEST)  # the test rows are never used below
    cache = tft.cache_lower_layers(corpus.texts, FROZEN, max_length=64, progress=False)
    emb = tft.embed(tft.TopLayersClassifier(6 - FROZEN, 2), cache, torch.arange(len(corpus.texts))).numpy()
    variants = VARIANTS[1:2] if args.quick else VARIANTS
    chosen, scores = {}, {}

    # small: folds of the 64 labelled sentences of each draw
    folds = []
    for draw in range(DRAWS):
        rows = tft.labelled_subset(labels, train_rows, SMALL, SEED_BASE + draw)
        folds += [(draw, f) for f in validation.validation_folds(rows, labels, FOLDS, seed=SEED_BASE + draw)]
    for variant in variants:
        grid = list(itertools.product(LR_GRID[variant], SMALL_EPOCHS))[: 1 if args.quick else None]

        def small_score(setting, variant=variant):
            lr, epochs = setting
            return np.mean([score(variant, lr, epochs, cache, emb, labels, t, v, SEED_BASE + d) for d, (t, v) in folds])

        best, by_setting = validation.choose_setting(grid, small_score)
        chosen.setdefault(variant, {})["small"] = {"lr": best[0], "epochs": best[1]}
        scores.setdefault(variant, {})["small"] = {
            f"lr {lr:g}, {ep} epochs": round(s, 4) for (lr, ep), s in by_setting.items()
        }
        print(
            f"{variant:>12} small: lr {best[0]:g}, {best[1]} epochs; "
            + "  ".join(f"{lr:g}/{ep}: {s:.3f}" for (lr, ep), s in by_setting.items()),
            flush=True,
        )

    # all: a fixed validation split of the training sentences
    fit, val = train_test_split(
        train_rows.numpy(), test_size=VAL_ALL, stratify=labels[train_rows].numpy(), random_state=0
    )
    fit, val = torch.tensor(sorted(fit)), torch.tensor(sorted(val))
    for variant in tqdm(variants, desc="all labels"):
        grid = LR_GRID[variant][: 1 if args.quick else None]
        best, by_lr = validation.choose_setting(
            grid, lambda lr, variant=variant: score(variant, lr, ALL_EPOCHS, cache, emb, labels, fit, val, SEED_BASE)
        )
        chosen[variant]["all"] = {"lr": best, "epochs": ALL_EPOCHS}
        scores[variant]["all"] = {f"lr {lr:g}": round(s, 4) for lr, s in by_lr.items()}
        print(
            f"{variant:>12}   all: lr {best:g}; " + "  ".join(f"{lr:g}: {s:.3f}" for lr, s in by_lr.items()), flush=True
        )

    record = {
        "what": "learning rate (and, with 32 per class, epochs) per fine-tuning variant and size, chosen on validation",
        "script": "bench/validate_text.py",
        "protocol": {
            "task": "sentence polarity, MiniLM layers 1-4 cached, top 2 trained, LP-FT",
            "batch_size": BATCH,
            "head_lr": HEAD_LR,
            "small": f"{SMALL} per class, {DRAWS} draws x {FOLDS} folds of the labelled sentences",
            "all": f"{len(fit)} training sentences, {VAL_ALL} held out for validation, {ALL_EPOCHS} epochs",
        },
        "grid": {v: {"lr": LR_GRID[v], "small_epochs": SMALL_EPOCHS} for v in VARIANTS},
        "chosen": chosen,
        "validation_accuracy": scores,
    }
    minutes = (time.perf_counter() - start) / 60
    print(f"{minutes:.1f} minutes")
    if args.quick:
        return 0
    validation.write_record(args.out, record, minutes)
    print(f"wrote {args.out.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
