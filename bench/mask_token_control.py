"""Is the learned mask token what makes notebook 06's live masked-patch run work? A control, recorded.

    python bench/mask_token_control.py           # writes bench/MASK_TOKEN.md (about 3 minutes on 2 cores)
    python bench/mask_token_control.py --quick   # a smoke run: 20 steps, one seed, written nowhere

Notebook 06 pre-trains GlyphNet by masked-patch prediction for 500 steps (batches of 64, half of the 4x4 patches
hidden), with hidden pixels filled by a learned mask token (`pretext.MaskToken`), and probes the encoder on the
handwritten digits. This script runs the same pre-training twice per seed, once with the learned token and once with
the token fixed at 0 (a hidden patch then looks like empty background), and probes both, next to the random-init
floor of the same seed, with the notebook's probe (`pretext.probe_encoder`). It does so at the notebook's 500 steps
and at 100 (the live SimCLR run's step count), to separate the token's share from the budget's.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from course_utils import glyphs, models, pretext  # noqa: E402

STEPS, BATCH, RATIO = (100, 500), 64, 0.5  # 500: notebook 06's RECON_STEPS; its batch size and MASK_RATIO
SIZES = (5, 20, None)  # the probe's labelled digits per class (None: all)
SEEDS = [0, 1, 2, 3]


def probe_after(background, seed: int, steps: int, learned: bool) -> dict:
    """Pre-train with a learned token (or one fixed at 0) and probe the encoder."""
    encoder, decoder = models.GlyphNet(num_classes=1, seed=seed), pretext.Decoder(seed=seed)
    if not learned:
        decoder.token.value.data.zero_()
        decoder.token.value.requires_grad_(False)
    pretext.train_masked(encoder, decoder, background, steps, batch_size=BATCH, ratio=RATIO, seed=seed, progress=False)
    return pretext.probe_encoder(encoder, SIZES, seed=seed)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="20 steps, one seed, nothing written")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "MASK_TOKEN.md")
    args = parser.parse_args(argv)
    torch.set_num_threads(min(2, torch.get_num_threads()))
    start = time.perf_counter()
    background = glyphs.background_alphabets()
    budgets, seeds = ((20,), SEEDS[:1]) if args.quick else (STEPS, SEEDS)
    rows = []
    for seed in seeds:
        torch.manual_seed(seed)
        floor = pretext.probe_encoder(models.GlyphNet(num_classes=1, seed=seed), SIZES, seed=seed)  # once per seed
        for steps in budgets:
            learned, zero = (probe_after(background, seed, steps, flag) for flag in (True, False))
            rows.append((seed, steps, floor, learned, zero))
            print(
                f"seed {seed}, {steps} steps: "
                + "; ".join(
                    f"{k or 'all'}: floor {floor[k]:.3f}, token {learned[k]:.3f}, zero {zero[k]:.3f}" for k in SIZES
                ),
                flush=True,
            )
    if args.quick:
        return 0
    name = {5: "5/class", 20: "20/class", None: "all"}
    lines = [
        "# The learned mask token against filling hidden patches with 0 (notebook 06, section 4)",
        "",
        f"`python bench/mask_token_control.py`, {time.strftime('%Y-%m-%d')}, torch {torch.__version__}, "
        f"{(time.perf_counter() - start) / 60:.1f} min. Masked-patch pre-training as in notebook 06: 100 or 500 steps "
        f"of {BATCH} glyphs, {RATIO:.0%} of the 4x4 patches hidden; linear probe on the handwritten test digits.",
        "",
        "| seed | steps | labelled digits | random-init floor | learned token | token fixed at 0 | token minus 0 |",
        "|---|---|---|---|---|---|---|",
    ]
    for seed, steps, floor, learned, zero in rows:
        for k in SIZES:
            lines.append(
                f"| {seed} | {steps} | {name[k]} | {floor[k]:.3f} | {learned[k]:.3f} | {zero[k]:.3f} | "
                f"{learned[k] - zero[k]:+.3f} |"
            )
    lines.append("")
    for budget in budgets:
        runs = [row for row in rows if row[1] == budget]
        diffs = {k: [learned[k] - zero[k] for *_, learned, zero in runs] for k in SIZES}
        lines.append(
            f"**{budget} steps.** Learned token minus 0, mean over the seeds (smallest, largest): "
            + "; ".join(f"{name[k]} {np.mean(d):+.3f} ({min(d):+.3f}, {max(d):+.3f})" for k, d in diffs.items())
            + ". Above the floor, smallest over seeds and sizes: learned token "
            + f"{min(learned[k] - floor[k] for _, _, floor, learned, _ in runs for k in SIZES):+.3f}, "
            + f"token at 0 {min(zero[k] - floor[k] for _, _, floor, _, zero in runs for k in SIZES):+.3f}."
        )
        lines.append("")
    args.out.write_text("\n".join(lines), encoding="utf-8")
    print(f"wrote {args.out.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
