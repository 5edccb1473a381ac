"""The course's benchmark: every notebook's time and peak memory, then the speed ratios, checked against targets.

    python bench/report.py                               # print the tables and the summary
    python bench/report.py --results bench/RESULTS.md    # ... and record them, with the machine's description

Runs `run_notebooks.py` (each notebook once, in a fresh kernel, peak RSS of the kernel and its children) and
`ratios.py` (medians, two sides of a ratio timed alternately), then prints one summary table against the course's
targets. A missed target is flagged, never fatal: a shared machine's timings are noisy.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import sys
from pathlib import Path

import psutil
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
import ratios  # noqa: E402  (the sibling scripts)
import run_notebooks  # noqa: E402

TARGETS = {  # name: (target, unit, lower is better)
    "notebook time": (120.0, "s", True),
    "notebook peak RSS": (2.5, "GB", True),
    "whole course": (10.0, "min", True),
    "fit / minimal loop": (1.10, "x", True),
    "data generation / training step": (0.20, "x", True),
}


def machine() -> str:
    """One line describing the machine: CPU model, cores, memory, OS, Python, torch and its threads."""
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    memory = psutil.virtual_memory().total / 2**30
    return (
        f"{cpu}, {os.cpu_count()} cores, {memory:.0f} GB RAM, {platform.system()} {platform.release()}, "
        f"Python {platform.python_version()}, torch {torch.__version__} ({torch.get_num_threads()} threads)"
    )


def summary(runs: list[run_notebooks.Run]) -> list[tuple[str, str, str, str]]:
    """(measure, value, target, verdict) rows."""
    rows = []

    def add(measure: str, key: str, value: float, fmt: str) -> None:
        target, unit, lower = TARGETS[key]
        ok = value <= target if lower else value >= target
        suffix = "×" if unit == "x" else f" {unit}"
        rows.append((measure, f"{value:{fmt}}{suffix}", f"≤ {target:g}{suffix}", "ok" if ok else "MISSED"))

    for run in runs:
        name = run_notebooks._name(run.notebook)
        add(f"{name}: time", "notebook time", run.seconds, ".0f")
        add(f"{name}: peak RSS", "notebook peak RSS", run.peak_bytes / 2**30, ".2f")
    add("whole course, one after the other", "whole course", sum(r.seconds for r in runs) / 60, ".1f")
    add("training.fit / minimal hand-written loop", "fit / minimal loop", ratios.FIGURES["fit / plain"], ".2f")
    add(
        "augmented glyph batch / training step", "data generation / training step", ratios.FIGURES["data / step"], ".2f"
    )
    rows.append(
        (
            "frozen backbone re-run every epoch / cached features",
            f"{ratios.FIGURES['frozen / cached']:.1f}×",
            "(speed-up)",
            "",
        )
    )
    rows.append(
        (
            "wild digit presentation / training step, per image",
            f"{ratios.FIGURES['wild presentation / step, per image']:.2f}×",
            "(once per data set)",
            "",
        )
    )
    rows.append(
        (
            "GlyphNet step, contiguous / channels-last weights",
            f"{ratios.FIGURES['contiguous / channels-last']:.2f}×",
            "(speed-up)",
            "",
        )
    )
    return rows


def table(rows: list[tuple[str, ...]], header: tuple[str, ...]) -> str:
    widths = [max(len(r[i]) for r in (header, *rows)) for i in range(len(header))]
    lines = [
        "  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths, strict=True)))
        for r in (header, *rows)
    ]
    return "\n".join([lines[0], "-" * len(lines[0]), *lines[1:]])


def markdown(rows: list[tuple[str, ...]], header: tuple[str, ...], runs: list[run_notebooks.Run]) -> str:
    body = "\n".join("| " + " | ".join(r) + " |" for r in rows)
    failed = [run_notebooks._name(r.notebook) for r in runs if not r.ok]
    return f"""# Benchmark results

Recorded by `make bench` (`python bench/report.py --results bench/RESULTS.md`) on {dt.date.today().isoformat()}.

**Machine**: {machine()}.

Each notebook ran top to bottom in a fresh kernel (Restart & Run All), one after the other; peak RSS is the kernel's
process tree. Ratios are medians of repeats, the two sides timed alternately (`bench/ratios.py`). Shared machines are
noisy: rerun before reading much into a few percent.
{"" if not failed else chr(10) + "**Notebooks that failed in this run**: " + ", ".join(failed) + chr(10)}
| {" | ".join(header)} |
|{"|".join("---" for _ in header)}|
{body}
"""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--results", type=Path, help="also write the summary as Markdown to this file")
    args = parser.parse_args(argv)
    os.environ["HF_HUB_OFFLINE"] = "1"
    print(f"Machine: {machine()}\n")
    paths = sorted(run_notebooks.NOTEBOOK_DIR.glob("*.ipynb"))
    runs = run_notebooks.run_all(paths, [None], write=False, whole_course=True)
    print()
    ratios.main([])
    header = ("measure", "value", "target", "")
    rows = summary(runs)
    print("\nSummary against the course's targets\n")
    print(table(rows, header))
    if args.results:
        args.results.write_text(markdown(rows, header, runs), encoding="utf-8")
        print(f"\nWrote {args.results}.")
    return 0 if all(r.ok for r in runs) else 1


if __name__ == "__main__":
    sys.exit(main())
