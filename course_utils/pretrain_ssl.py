"""Pre-train notebook 06's self-supervised encoders and ship them:

    python -m course_utils.pretrain_ssl simclr --seed 0     # contrastive (SimCLR), data/simclr.pt
    python -m course_utils.pretrain_ssl masked --seed 0     # masked-patch reconstruction, data/masked.pt

No label is used: only the background alphabets' images. Each run also measures the notebook's claim (the
encoder's linear probe on the handwritten digits beats a random-init encoder's by at least 5 points) for three
seeds, training a fresh encoder per seed, and writes the figures into the model card, so a lucky checkpoint
cannot carry the claim. Writes the checkpoint, its checksum file (.json) and its model card (.md).
"""

from __future__ import annotations

import argparse
import platform
import time
from pathlib import Path

import torch

from course_utils import glyphs, pretext
from course_utils.checkpoints import CheckpointError, load_checkpoint, save_checkpoint
from course_utils.models import WIDTHS, GlyphNet
from course_utils.paths import DATA_DIR

METHODS = ("simclr", "masked")
STEPS = {"simclr": 1200, "masked": 1200}
BATCH_SIZE = 128
CLAIM_MARGIN = 0.05  # each self-supervised encoder beats random init by this much on the linear probe
CHECK_SEEDS = (0, 1, 2)


def checkpoint_path(method: str) -> Path:
    return DATA_DIR / f"{method}.pt"


def rebuild_command(method: str) -> str:
    return f"python -m course_utils.pretrain_ssl {method}"


def _check_method(method: str) -> None:
    if method not in METHODS:
        raise ValueError(f"Unknown pre-training method {method!r}: choose one of {', '.join(METHODS)}.")


def pretrain(
    method: str, steps: int | None = None, seed: int = 0, progress: bool = True
) -> tuple[GlyphNet, pretext.Decoder | None, dict]:
    """Train one encoder (and, for `masked`, its decoder) on the unlabelled background glyphs."""
    _check_method(method)
    steps = STEPS[method] if steps is None else steps
    if steps < 1:
        raise ValueError(f"Pre-training needs at least 1 step (got {steps}).")
    corpus = glyphs.background_alphabets()
    encoder, decoder = GlyphNet(num_classes=1, widths=WIDTHS, seed=seed), None  # the head is never trained
    start = time.perf_counter()
    if method == "simclr":
        losses = pretext.train_simclr(encoder, corpus, steps, batch_size=BATCH_SIZE, seed=seed, progress=progress)
    else:
        decoder = pretext.Decoder(encoder.feature_dim, seed=seed)
        losses = pretext.train_masked(
            encoder, decoder, corpus, steps, batch_size=BATCH_SIZE, seed=seed, progress=progress
        )
    meta = {
        "method": method,
        "widths": list(WIDTHS),
        "steps": steps,
        "batch_size": BATCH_SIZE,
        "seed": seed,
        "scripts": sorted(set(corpus.scripts)),
        "num_renders": len(corpus),
        "final_loss": round(sum(losses[-50:]) / len(losses[-50:]), 4),
        "train_seconds": round(time.perf_counter() - start),
        "torch": str(torch.__version__),
        "machine": f"{platform.machine()}, {torch.get_num_threads()} threads",
    }
    return encoder, decoder, meta


def measure_claim(
    method: str,
    seeds: tuple[int, ...] = CHECK_SEEDS,
    steps: int | None = None,
    trained: dict[int, tuple[GlyphNet, dict]] | None = None,
) -> list[dict]:
    """For each seed: an encoder pre-trained with that seed (from `trained` when given, else trained now) and a
    random-init encoder of the same seed, both probed on the handwritten digits (`pretext.probe_encoder`). The
    notebook's claim: at least `CLAIM_MARGIN` better at every labelled size."""
    rows, trained = [], trained or {}
    for seed in seeds:
        if seed in trained:
            encoder, meta = trained[seed]
        else:
            encoder, _, meta = pretrain(method, steps, seed, progress=False)
        ours = pretext.probe_encoder(encoder, seed=seed)
        random = pretext.probe_encoder(GlyphNet(num_classes=1, widths=WIDTHS, seed=seed), seed=seed)
        rows.append(
            {
                "seed": seed,
                "trained": ours,
                "random": random,
                "seconds": meta["train_seconds"],
                "holds": all(ours[k] >= random[k] + CLAIM_MARGIN for k in ours),
            }
        )
        print(
            f"  seed {seed}: "
            + ", ".join(f"{_size(k)} {ours[k]:.3f} vs {random[k]:.3f}" for k in ours)
            + f" -> {'holds' if rows[-1]['holds'] else 'FAILS'}",
            flush=True,
        )
    return rows


def _size(k: int | None) -> str:
    return "all" if k is None else f"{k}/class"


def model_card(meta: dict, digest: str, claims: list[dict]) -> str:
    method = meta["method"]
    what = {
        "simclr": "contrastive learning (SimCLR): two augmented views of each glyph, a projection head and the "
        "NT-Xent loss (`course_utils.pretext.train_simclr`)",
        "masked": "masked-patch prediction: the encoder sees a distorted view with half of its 4x4 patches hidden "
        "(filled with a learned mask token, as in BERT and SimMIM), and a small decoder must draw the clean, "
        "centred glyph from the encoder's 128 features "
        "(`course_utils.pretext.train_masked`)",
    }[method]
    sizes = list(claims[0]["trained"])
    head = "| seed | " + " | ".join(f"{_size(k)}: {method} / random" for k in sizes) + " | claim |"
    rule = "|---|" + "---|" * len(sizes) + "---|"
    body = "\n".join(
        f"| {c['seed']} | "
        + " | ".join(f"{c['trained'][k]:.3f} / {c['random'][k]:.3f}" for k in sizes)
        + f" | {'holds' if c['holds'] else 'fails'} |"
        for c in claims
    )
    path = checkpoint_path(method).relative_to(DATA_DIR.parent)
    return f"""# Model card: GlyphNet encoder pre-trained by {method} (self-supervised)

GlyphNet's four convolutional blocks ({meta["widths"]} channels), pre-trained **without labels** by {what}.
It is one of the encoders that notebook 06 compares with a linear probe.

| | |
|---|---|
| Training data | {meta["num_renders"]:,} (letter, font) renders of the background alphabets \
({", ".join(meta["scripts"])}), augmented on the fly (`course_utils.augment.GLYPHS`); their labels are never read |
| Held out | digits (the probe's task) and the evaluation alphabets |
| Training | {meta["steps"]:,} steps of batch {meta["batch_size"]}, AdamW, lr 2e-3, warm-up then cosine, \
seed {meta["seed"]} |
| Final loss | {meta["final_loss"]} |
| Time | {meta["train_seconds"]} s on {meta["machine"]} (torch {meta["torch"]}) |
| File | `{path}`, SHA-256 `{digest}` |

## What this card certifies, measured for {len(claims)} seeds

Linear probe (standardised features, logistic regression) on the wild handwritten test digits, with 5, 20 or all
labelled training digits per class (mean of 3 labelled draws), for an encoder pre-trained with each seed and for a
random-init encoder of the same seed. Certified: the shipped encoder's pre-training beats random init by at
least {CLAIM_MARGIN * 100:.0f} points at every size. Notebook 06 asserts the same direction on
shorter runs it performs itself; this card is the reference for what the longer run buys.

{head}
{rule}
{body}

Rebuild (a few minutes on 2 CPU cores, plus the seeds' checks): `{rebuild_command(method)} --seed {meta["seed"]}`.
The result depends on the seed and, in the last digits, on the CPU; the checksum file is updated with it.
"""


def load_pretrained(method: str, path: Path | None = None) -> tuple[GlyphNet, pretext.Decoder | None, dict]:
    """A shipped self-supervised encoder in eval mode (and, for `masked`, its decoder), with its metadata."""
    _check_method(method)
    path = checkpoint_path(method) if path is None else Path(path)
    saved = load_checkpoint(path, rebuild_command(method))
    meta = saved["meta"]
    try:
        encoder = GlyphNet(num_classes=1, widths=tuple(meta["widths"]))
        encoder.load_state_dict(saved["state_dict"]["encoder"])
        decoder = None
        if method == "masked":
            decoder = pretext.Decoder(encoder.feature_dim)
            decoder.load_state_dict(saved["state_dict"]["decoder"])
            decoder.eval()
    except Exception as err:  # a whole file, but of another model
        reason = str(err).splitlines()[0] if str(err) else type(err).__name__
        raise CheckpointError(
            f"The checkpoint {path} is not a {method} encoder ({reason}). Rebuild it with `{rebuild_command(method)}`."
        ) from None
    encoder.meta = meta
    return encoder.eval(), decoder, meta


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("method", choices=METHODS)
    parser.add_argument("--seed", type=int, default=0, help="seed of the shipped checkpoint")
    parser.add_argument("--steps", type=int, default=None, help="training steps (default: the course's)")
    parser.add_argument(
        "--check-seeds",
        type=int,
        nargs="+",
        default=list(CHECK_SEEDS),
        help="seeds for which the claim is measured and written in the model card (at least one)",
    )
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args(argv)
    out = checkpoint_path(args.method) if args.out is None else args.out
    encoder, decoder, meta = pretrain(args.method, args.steps, args.seed)
    state = {"encoder": encoder.state_dict()} | ({"decoder": decoder.state_dict()} if decoder is not None else {})
    print(f"Trained in {meta['train_seconds']} s; measuring the claim for seeds {args.check_seeds}:")
    claims = measure_claim(args.method, tuple(args.check_seeds), args.steps, trained={args.seed: (encoder, meta)})
    meta["claims"] = [{"seed": c["seed"], "holds": c["holds"]} for c in claims]
    digest = save_checkpoint(out, state, meta)
    out.with_suffix(".md").write_text(model_card(meta, digest, claims))
    print(f"Saved {out} (sha256 {digest[:12]}...).")


if __name__ == "__main__":
    main()
