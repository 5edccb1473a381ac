"""Pre-train GlyphNet on the background alphabets and ship it: ``python -m course_utils.pretrain``.

Writes ``data/glyphnet.pt`` (weights + metadata), ``data/glyphnet.json`` (its SHA-256 and the
metadata) and the model card ``data/glyphnet.md``. Same seed, same machine type: same weights.
"""

from __future__ import annotations

import argparse
import platform
import time
from pathlib import Path

import torch

from course_utils import augment as aug
from course_utils import glyphs
from course_utils.checkpoints import GLYPHNET_PATH, REBUILD_GLYPHNET, save_checkpoint
from course_utils.models import WIDTHS, GlyphNet
from course_utils.training import evaluate, fit

STEPS = 4000
BATCH_SIZE = 64
LR = 2e-3
VAL_SIZE = 2000


def pretrain(steps: int = STEPS, seed: int = 0, progress: bool = True) -> tuple[GlyphNet, dict]:
    """Train GlyphNet to recognise the background letters under heavy augmentation."""
    if steps < 1:
        raise ValueError(f"Pre-training needs at least 1 step (got {steps}).")
    corpus = glyphs.background_alphabets()
    net = GlyphNet(corpus.num_classes, widths=WIDTHS, seed=seed)
    val = glyphs.sample_batch(corpus, VAL_SIZE, aug.GLYPHS, torch.Generator().manual_seed(10_000 + seed))
    start = time.perf_counter()
    history = fit(
        net,
        lambda g: glyphs.sample_batch(corpus, BATCH_SIZE, aug.GLYPHS, g),
        steps=steps,
        lr=LR,
        schedule="cosine",
        seed=seed,
        progress=progress,
        desc="pre-training GlyphNet",
    )
    seconds = time.perf_counter() - start
    meta = {
        "classes": corpus.chars,
        "scripts": sorted(set(corpus.scripts)),
        "widths": list(WIDTHS),
        "steps": steps,
        "batch_size": BATCH_SIZE,
        "lr": LR,
        "seed": seed,
        "num_renders": len(corpus),
        "num_params": sum(p.numel() for p in net.parameters()),
        "val_accuracy": round(evaluate(net, *val), 4),
        "final_train_loss": round(sum(history.loss[-100:]) / len(history.loss[-100:]), 4),
        "train_seconds": round(seconds),
        "torch": str(torch.__version__),
        "machine": f"{platform.machine()}, {torch.get_num_threads()} threads",
    }
    return net, meta


def model_card(meta: dict, digest: str) -> str:
    """The Markdown model card for a pre-trained GlyphNet."""
    return f"""# Model card: GlyphNet (pre-trained)

A small CNN ({sum(meta["widths"])} channels in four blocks, {meta["num_params"]:,} parameters) trained to
recognise printed letters. It is the course's pre-trained model, in the role ImageNet models play in practice.

| | |
|---|---|
| Architecture | `course_utils.models.GlyphNet`, widths {tuple(meta["widths"])}, 28x28 grey input |
| Training data | {len(meta["classes"])} letters of the background alphabets ({", ".join(meta["scripts"])}), \
{meta["num_renders"]:,} (letter, font) renders from matplotlib's bundled fonts, augmented on the fly \
(`course_utils.augment.GLYPHS`: affine, elastic, stroke width, blur, 8x8 resolution, stray strokes) |
| Held out | digits (the course's target task) and the evaluation alphabets (kept for few-shot learning) |
| Training | {meta["steps"]:,} steps of batch {meta["batch_size"]}, AdamW, lr {meta["lr"]} with cosine annealing, \
seed {meta["seed"]} |
| Accuracy | {meta["val_accuracy"]:.3f} on {VAL_SIZE:,} freshly augmented glyphs of the same letters \
(chance: {1 / len(meta["classes"]):.4f}) |
| Time | {meta["train_seconds"]} s on {meta["machine"]} (torch {meta["torch"]}) |
| File | `data/glyphnet.pt`, SHA-256 `{digest}` |

Rebuild (a few minutes on 2 CPU cores): `{REBUILD_GLYPHNET} --seed {meta["seed"]}`. The result depends on
the seed and, in the last digits, on the CPU; the checksum in `data/glyphnet.json` is updated with it.

Intended use: teaching transfer learning (fine-tuning to the handwritten digits, feature extraction,
few-shot learning on unseen scripts). Not a production OCR model.
"""


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=STEPS)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=GLYPHNET_PATH)
    args = parser.parse_args(argv)
    net, meta = pretrain(args.steps, args.seed)
    digest = save_checkpoint(args.out, net.state_dict(), meta)
    args.out.with_suffix(".md").write_text(model_card(meta, digest))
    print(
        f"Saved {args.out} (sha256 {digest[:12]}...): accuracy {meta['val_accuracy']:.3f} "
        f"after {meta['steps']} steps in {meta['train_seconds']} s."
    )


if __name__ == "__main__":
    main()
