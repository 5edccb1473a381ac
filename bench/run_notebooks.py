"""Run the course notebooks top to bottom, each in a fresh kernel, and report time, peak memory and claims.

    python bench/run_notebooks.py                     # every notebook once: time, memory, pass/fail, claims
    python bench/run_notebooks.py --seeds 0 1 2 3     # every notebook's claims and their margins, once per seed
    python bench/run_notebooks.py --seeds 0 1 2 3 --claims-md bench/CLAIMS.md   # ... recorded (make check-seeds)
    python bench/run_notebooks.py --write             # re-execute in place, save the outputs and the platform
    python bench/run_notebooks.py notebooks/03_*.ipynb --seeds 1 2

A notebook reads its seed from the environment variable COURSE_SEED in its `parameters` cell, so
`--seeds` needs no notebook rewriting.

A lesson's claims are its `claim(statement, value, bound)` calls (`course_utils.claims`): each one holds by a
margin, and the course wants at least 0.02 (2 points of accuracy) on seeds 0-3. Its checks are the remaining
`assert` statements, which cannot fail unless the code is wrong (two implementations agree, a frozen tensor did
not move). The `claims` and `checks` columns count the calls in the code cells: how many held, of how many the
notebook makes (a run stops at its first failing one); a failing one is reported with its cell, error name and
message. Each run points COURSE_CLAIMS_LOG at a fresh file, reads back every claim the kernel recorded, and
prints each claim's margin per seed ("!" marks one under 0.02; a claim made in a loop counts by its smallest
margin). If COURSE_CLAIMS_LOG is set here, the recorded rows are appended to it too, with the notebook and seed.
`--claims-md PATH` writes those margins as a Markdown table, one row per claim (bench/CLAIMS.md); rows of
notebooks this run did not execute are kept from the file when its seeds are the same.

The exit status is non-zero only when a notebook fails; running over the time budget or a thin margin is
flagged, never fatal, because timings are noisy and margins are for a person to judge.

`--write` also records, in each saved notebook's metadata, the platform that produced its outputs
(`course_utils.platform_stamp`): `make test` compares the printed outputs strictly on that platform only.
With COURSE_SEED unset a notebook runs with seed 0, so `--write` margins count as seed 0.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import re
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import nbformat
import psutil
from ipykernel.kernelspec import RESOURCES, get_kernel_dict
from jupyter_client import AsyncKernelManager
from jupyter_client.kernelspec import KernelSpec
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

from course_utils import platform_stamp
from course_utils.claims import CLAIMS_LOG, read_log

REPO_DIR = Path(__file__).resolve().parent.parent
NOTEBOOK_DIR = REPO_DIR / "notebooks"
CELL_TIMEOUT_S = 900
BUDGET_NOTEBOOK_S = 120  # the course's budget for one notebook, Restart & Run All on a laptop CPU
BUDGET_COURSE_S = 600  # ... and for the whole course
SAMPLE_EVERY_S = 0.2  # how often the kernel's memory is sampled
SEED_VARIABLE = "COURSE_SEED"
MARGIN_WANTED = 0.02  # the course's smallest acceptable margin for a claim (2 points of accuracy) on seeds 0-3


class CurrentPythonKernelManager(AsyncKernelManager):
    """The python3 kernel, run by this very interpreter (the course's venv), whatever kernelspecs exist."""

    @property
    def kernel_spec(self) -> KernelSpec:
        return KernelSpec(resource_dir=RESOURCES, **get_kernel_dict())


def _high_water_mark(pid: int) -> int:
    """Peak resident memory of one process in bytes, as the Linux kernel counts it (0 elsewhere)."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return 0


class PeakMemory:
    """Peak resident memory of a kernel and its child processes (e.g. data-loader workers).

    A background thread sums the RSS of the process tree every `SAMPLE_EVERY_S` seconds. On Linux
    the kernel's own high-water mark (VmHWM) is read too, so a spike between two samples is not missed.
    """

    def __init__(self, pid: int) -> None:
        self.root = psutil.Process(pid)
        self.peak = 0
        self._lock = threading.Lock()
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def sample(self) -> None:
        total = 0
        try:
            procs = [self.root, *self.root.children(recursive=True)]
        except psutil.Error:  # the kernel has exited
            return
        for proc in procs:
            with contextlib.suppress(psutil.Error):  # a child may exit while we look
                total += proc.memory_info().rss
        hwm = _high_water_mark(self.root.pid)
        with self._lock:
            self.peak = max(self.peak, total, hwm)

    def _run(self) -> None:
        while not self._stopped.wait(SAMPLE_EVERY_S):
            self.sample()

    def stop(self) -> int:
        """Stop sampling; the peak in bytes."""
        self._stopped.set()
        self._thread.join()
        return self.peak


@dataclass
class Run:
    """One execution of one notebook."""

    notebook: Path
    seed: int | None
    seconds: float = 0.0
    peak_bytes: int = 0
    error: str | None = None  # "ErrorName: message", None if every cell ran
    cell: int | None = None  # 1-based position of the failing cell in the notebook
    line: str = ""  # the failing line, when the traceback shows it
    claims: dict[int, int] | None = None  # `claim(` calls per code cell (1-based position): the lesson's claims
    checks: dict[int, int] | None = None  # `assert` statements per code cell: checks that cannot fail
    logged: list[dict] = field(default_factory=list)  # the claims the kernel recorded, in order (with margins)

    def _held(self, counts: dict[int, int] | None) -> int:
        """Calls in the cells that ran to the end: all of them when the run passed."""
        counts = counts or {}
        return sum(n for cell, n in counts.items() if self.ok or self.cell is None or cell < self.cell)

    @property
    def claims_total(self) -> int:
        return sum((self.claims or {}).values())

    @property
    def claims_held(self) -> int:
        return self._held(self.claims)

    @property
    def checks_total(self) -> int:
        return sum((self.checks or {}).values())

    @property
    def checks_held(self) -> int:
        return self._held(self.checks)

    @property
    def ok(self) -> bool:
        return self.error is None


_ANSI = re.compile(r"\x1b\[[0-9;]*m")


def _failing_line(traceback: list[str]) -> str:
    """The source line IPython marked with an arrow in the innermost frame of the notebook's code."""
    lines = [line for frame in traceback for line in _ANSI.sub("", frame).splitlines()]
    arrows = [re.sub(r"^\s*-+>\s*\d*\s*", "", line).strip() for line in lines if re.match(r"^\s*-+>", line)]
    return arrows[-1] if arrows else ""


_ASSERT = re.compile(r"^\s*assert\b", re.MULTILINE)
_CLAIM = re.compile(r"\bclaim\(")


def _per_cell(nb: nbformat.NotebookNode, pattern: re.Pattern) -> dict[int, int]:
    """How often `pattern` occurs in each code cell that has it, by 1-based cell position."""
    counts = {i: len(pattern.findall(c.source)) for i, c in enumerate(nb.cells, 1) if c.cell_type == "code"}
    return {i: n for i, n in counts.items() if n}


def claim_cells(nb: nbformat.NotebookNode) -> dict[int, int]:
    """How many `claim(...)` calls (the lesson's claims) each code cell holds, by 1-based cell position."""
    return _per_cell(nb, _CLAIM)


def check_cells(nb: nbformat.NotebookNode) -> dict[int, int]:
    """How many `assert` statements (checks that cannot fail) each code cell holds, by 1-based cell position."""
    return _per_cell(nb, _ASSERT)


def kernel_env(seed: int | None, claims_log: Path | None = None) -> dict[str, str]:
    """The kernel's environment: ours, offline, on the CPU (the recorded outputs are CPU results, unless COURSE_DEVICE
    is set for a `--seeds` run), with COURSE_SEED set only when asked for, and COURSE_CLAIMS_LOG only to `claims_log`.
    """
    env = dict(os.environ)
    env["HF_HUB_OFFLINE"] = "1"
    env.pop(SEED_VARIABLE, None)
    env.pop(CLAIMS_LOG, None)
    if claims_log is not None:
        env[CLAIMS_LOG] = str(claims_log)
    if seed is None:
        env.pop("COURSE_DEVICE", None)
    if seed is not None:
        env[SEED_VARIABLE] = str(seed)
    return env


def run_notebook(path: Path, seed: int | None, write: bool, recorded_on: dict | None = None) -> Run:
    """Execute every cell of `path` in a fresh kernel started in the notebook's folder.

    With `write`, a notebook whose cells all ran is saved in place, stamped with the platform `recorded_on`.
    """
    run = Run(path, seed)
    nb = nbformat.read(path, as_version=4)
    run.claims, run.checks = claim_cells(nb), check_cells(nb)
    memory: list[PeakMemory] = []
    current: dict = {"cell": None, "error": (None, "", "")}

    def on_cell_start(cell_index: int, **_: object) -> None:
        current["cell"] = cell_index + 1

    def on_start(**_: object) -> None:
        pid = client.km.provisioner.process.pid
        memory.append(PeakMemory(pid))

    def after_cell(**_: object) -> None:  # exact peak of the kernel process after each cell
        if memory:
            memory[0].sample()

    def on_error(cell_index: int, execute_reply: dict, **_: object) -> None:
        # Also called for errors a cell is allowed to raise (tag "raises-exception"): only noted here.
        content = execute_reply["content"]
        error = f"{content.get('ename', 'Error')}: {content.get('evalue', '')}".rstrip(": ")
        current["error"] = (cell_index + 1, error, _failing_line(content.get("traceback", [])))

    client = NotebookClient(
        nb,
        timeout=CELL_TIMEOUT_S,
        kernel_name="python3",
        kernel_manager_class=CurrentPythonKernelManager,
        extra_arguments=["--IPKernelApp.log_level=ERROR"],  # quiet the kernel's start-up notices
        record_timing=False,  # no timestamps in the saved cells' metadata
        resources={"metadata": {"path": str(path.parent)}},
        on_notebook_start=on_start,
        on_cell_start=on_cell_start,
        on_cell_executed=after_cell,
        on_cell_error=on_error,
    )
    with tempfile.TemporaryDirectory(prefix="course-claims-") as folder:
        log = Path(folder) / "claims.jsonl"
        start = time.perf_counter()
        try:
            client.execute(env=kernel_env(seed, claims_log=log))
        except CellExecutionError:  # an error the cell was not allowed to raise
            run.cell, run.error, run.line = current["error"]
        except Exception as err:  # a timeout, a dead kernel, a kernel that never started
            run.cell = current["cell"]
            message = str(err).strip().splitlines()
            run.error = f"{type(err).__name__}: {message[0] if message else ''}".rstrip(": ")
        run.seconds = time.perf_counter() - start
        run.logged = read_log(log)
    _forward(run)
    if memory:
        run.peak_bytes = memory[0].stop()
    if write and run.ok:
        platform_stamp.stamp_notebook(nb, recorded_on or platform_stamp.kernel_platform(kernel_env(None)))
        nbformat.write(nb, path)
    return run


def _forward(run: Run) -> None:
    """Append the run's claims, with its notebook and seed, to the COURSE_CLAIMS_LOG set here, if any."""
    target = os.environ.get(CLAIMS_LOG)
    if not target or not run.logged:
        return
    extra = {"notebook": _name(run.notebook), "seed": run.seed}
    with contextlib.suppress(OSError), Path(target).open("a", encoding="utf-8") as f:
        f.writelines(json.dumps({**row, **extra}) + "\n" for row in run.logged)


def _name(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(NOTEBOOK_DIR))
    except ValueError:
        return str(path)


def _row(cells: list[str], widths: list[int]) -> str:
    """Name left-aligned, figures right-aligned, the status last and unpadded."""
    *first, status = cells
    padded = [c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(first, widths, strict=True))]
    return "  ".join([*padded, status])


def run_all(paths: list[Path], seeds: list[int | None], write: bool, whole_course: bool) -> list[Run]:
    """Run every notebook once per seed, printing one row per run and the totals; the runs."""
    recorded_on = None
    if write:  # what produced the outputs, in each notebook's metadata: `make test` compares them strictly there only
        recorded_on = platform_stamp.kernel_platform(kernel_env(None))
        print(f"Recorded on: {platform_stamp.describe(recorded_on)}")
    names = [_name(p) for p in paths]
    widths = [max(8, *map(len, names)), 4, 8, 9, 6, 6]  # the status column is not padded
    header = _row(["notebook", "seed", "time (s)", "peak (MB)", "claims", "checks", "status"], widths)
    print(header)
    print("-" * len(header))

    runs: list[Run] = []
    for seed in seeds:
        for path, name in zip(paths, names, strict=True):
            run = run_notebook(path, seed, write, recorded_on)
            runs.append(run)
            if run.ok:
                status = "ok, written" if write else "ok"
            else:
                status = f"FAIL in cell {run.cell or '?'}" + (", not written" if write else "")
            if run.seconds > BUDGET_NOTEBOOK_S:
                status += f"  over budget ({BUDGET_NOTEBOOK_S} s)"
            seed_text = "-" if seed is None else str(seed)
            claims = f"{run.claims_held}/{run.claims_total}"
            checks = f"{run.checks_held}/{run.checks_total}"
            cells = [name, seed_text, f"{run.seconds:.1f}", f"{run.peak_bytes / 2**20:.0f}", claims, checks, status]
            print(_row(cells, widths), flush=True)

    print("-" * len(header))
    for seed in seeds:
        total = sum(r.seconds for r in runs if r.seed == seed)
        label = "whole course" if whole_course else f"{len(paths)} notebook{'s' * (len(paths) != 1)}"
        label += "" if seed is None else f", seed {seed}"
        note = f"  over budget ({BUDGET_COURSE_S} s)" if total > BUDGET_COURSE_S else ""
        print(f"{label}: {total:.1f} s (course budget {BUDGET_COURSE_S} s){note}")
    if len(seeds) > 1:
        print(f"all runs: {sum(r.seconds for r in runs):.1f} s")
    peak = max(r.peak_bytes for r in runs)
    print(f"highest peak memory: {peak / 2**20:.0f} MB")
    margins = claim_margins(runs)
    if margins:
        print("\n" + margins_report(margins, seeds))

    return runs


Margins = dict[str, dict[str, dict[int | None, dict]]]  # notebook -> statement -> seed -> the claim's logged row


def claim_margins(runs: list[Run]) -> Margins:
    """Each notebook's claims in the order its runs made them, with each seed's logged row.

    A statement made several times in one run (a claim in a loop) keeps its smallest margin: it holds by no more.
    """
    margins: Margins = {}
    for run in runs:
        for row in run.logged:
            seeds = margins.setdefault(_name(run.notebook), {}).setdefault(row["statement"], {})
            kept = seeds.get(run.seed)
            if kept is None or _worse(row["margin"], kept["margin"]):
                seeds[run.seed] = row
    return margins


def _worse(margin: float, than: float) -> bool:
    """Whether `margin` is the weaker of the two (NaN, a claim that cannot hold, is the weakest)."""
    return math.isnan(margin) or (not math.isnan(than) and margin < than)


def thin(margin: float | None) -> bool:
    """Whether a claim holds by less than the course wants (or failed, or measured NaN); None: it did not run."""
    return margin is not None and (math.isnan(margin) or margin < MARGIN_WANTED)


def margin_text(margin: float | None) -> str:
    """'+0.051'; a thin margin gets ' !'; '-' for a claim that did not run with that seed."""
    if margin is None:
        return "-"
    return ("nan" if math.isnan(margin) else f"{margin:+.3f}") + (" !" if thin(margin) else "")


def _smallest(rows: dict[int | None, dict]) -> float:
    margins = [row["margin"] for row in rows.values()]
    return next((m for m in margins if math.isnan(m)), min(margins))


def margins_report(margins: Margins, seeds: list[int | None]) -> str:
    """Every claim, notebook by notebook, with its margin per seed (and its value and bound when one seed ran)."""
    lines = [f"Claims and their margins (value - bound, in the claim's units; ! marks one under {MARGIN_WANTED}):"]
    one = len(seeds) == 1
    heads = ["margin", "value vs bound"] if one else [*(f"seed {s}" for s in seeds), "min"]
    widths = [max(9, len(h)) for h in heads]
    thin_claims = 0
    for notebook, claims in margins.items():
        lines += ["", notebook, "  ".join(h.rjust(w) for h, w in zip(heads, widths, strict=True)) + "  claim"]
        for statement, rows in claims.items():
            if one:
                row = rows.get(seeds[0])
                vs = "" if row is None else f"{row['value']:.3f} {'>' if row['above'] else '<'} {row['bound']:.3f}"
                cells = [margin_text(row and row["margin"]), vs]
            else:
                cells = [*(margin_text(rows[s]["margin"] if s in rows else None) for s in seeds)]
                cells.append(margin_text(_smallest(rows)))
            thin_claims += thin(_smallest(rows))
            lines.append("  ".join(c.rjust(w) for c, w in zip(cells, widths, strict=True)) + "  " + statement)
    total = sum(map(len, margins.values()))
    if thin_claims:
        where = "" if one else " on some seed"
        lines += [
            "",
            f"{thin_claims} of {total} claims hold by less than {MARGIN_WANTED}{where}.",
        ]
    else:
        where = "" if one else " on every seed"
        lines += ["", f"All {total} claims hold by at least {MARGIN_WANTED}{where}."]
    return "\n".join(lines)


CLAIMS_MD_INTRO = """# The lessons' claims and their margins

Written by `{command}` on {platform}.

Each row is one `claim(statement, value, bound)` a notebook makes (`course_utils.claims`). Its margin is value - bound
(bound - value for a claim that a value stays below its bound), in the claim's own units: for accuracies, 0.020 is
2 points. `!` marks a margin under {wanted}, the least the course wants on seeds 0-3, and a failed claim (a
negative margin). A statement made several times
in one run (a claim in a loop) counts by its smallest margin; `-`: the claim did not run with that seed (a claim
before it failed). Rows of notebooks the latest run did not execute are kept from the run before. Checks that
cannot fail (plain `assert`s: two implementations agree, a frozen tensor did not move) are not listed.
"""


def _md_header(seeds: list[int | None]) -> str:
    labels = [f"seed {0 if s is None else s}" for s in seeds]  # COURSE_SEED unset: the notebooks use seed 0
    return "| " + " | ".join(["notebook", "claim", *labels, "min"]) + " |"


def claims_markdown(
    margins: Margins, seeds: list[int | None], platform: str, previous: str | None = None, command: str = ""
) -> str:
    """bench/CLAIMS.md: one row per claim, its margin per seed and the smallest; `previous` rows of other notebooks
    are kept when that table has the same seeds."""
    header = _md_header(seeds)
    rows: list[tuple[str, str]] = []
    lines = (previous or "").splitlines()
    if header in lines:
        for line in lines[lines.index(header) + 2 :]:
            if not line.startswith("|"):
                break
            notebook = line.split("|")[1].strip()
            if notebook not in margins:
                rows.append((notebook, line))
    for notebook, claims in margins.items():
        for statement, by_seed in claims.items():
            cells = [margin_text(by_seed[s]["margin"] if s in by_seed else None) for s in seeds]
            cells = [notebook, statement.replace("|", "\\|"), *cells, margin_text(_smallest(by_seed))]
            rows.append((notebook, "| " + " | ".join(cells) + " |"))
    rows.sort(key=lambda r: r[0])  # stable: each notebook's claims stay in the order it makes them
    if not command:
        command = "python bench/run_notebooks.py --seeds " + " ".join(str(s) for s in seeds) + " --claims-md PATH"
    intro = CLAIMS_MD_INTRO.format(command=command, platform=platform, wanted=MARGIN_WANTED)
    rule = "|" + "|".join("---" for _ in header.strip("|").split("|")) + "|"
    return "\n".join([intro, header, rule, *(line for _, line in rows)]) + "\n"


def write_claims_md(path: Path, runs: list[Run], seeds: list[int | None], argv: list[str]) -> None:
    """Write the runs' claim margins to `path`, keeping the rows of other notebooks already there."""
    platform = platform_stamp.describe(platform_stamp.kernel_platform(kernel_env(seeds[0])))
    previous = path.read_text(encoding="utf-8") if path.is_file() else None
    command = " ".join(["python bench/run_notebooks.py", *argv])
    path.write_text(claims_markdown(claim_margins(runs), seeds, platform, previous, command), encoding="utf-8")
    print(f"Claim margins written to {path}.")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("notebooks", nargs="*", type=Path, help="notebooks to run (default: notebooks/*.ipynb)")
    parser.add_argument("--seeds", nargs="+", type=int, metavar="SEED", help="run each notebook once per COURSE_SEED")
    parser.add_argument("--write", action="store_true", help="re-execute in place, save outputs (COURSE_SEED unset)")
    parser.add_argument(
        "--claims-md",
        type=Path,
        metavar="PATH",
        help="write each claim's margin per seed as Markdown (bench/CLAIMS.md)",
    )
    args = parser.parse_args(argv)
    if args.write and args.seeds:
        parser.error("--write saves the notebooks as the course ships them, with COURSE_SEED unset: drop --seeds.")
    paths = args.notebooks or sorted(NOTEBOOK_DIR.glob("*.ipynb"))
    missing = [str(p) for p in paths if not p.is_file()]
    if missing:
        parser.error(f"no such notebook: {', '.join(missing)}")
    if not paths:
        print(f"No notebooks in {NOTEBOOK_DIR}: nothing to run.")
        return 0
    seeds: list[int | None] = list(args.seeds) if args.seeds else [None]

    os.environ["HF_HUB_OFFLINE"] = "1"
    print(f"Kernel: python3 on {sys.executable}; one fresh kernel per run; cell timeout {CELL_TIMEOUT_S} s.")
    if args.write:
        print("Writing each notebook that runs cleanly back in place, with its outputs.")
    runs = run_all(paths, seeds, args.write, whole_course=not args.notebooks)
    over = "" if len(seeds) == 1 else f" over {len(seeds)} seeds"
    held, total = sum(r.claims_held for r in runs), sum(r.claims_total for r in runs)
    checks_held, checks = sum(r.checks_held for r in runs), sum(r.checks_total for r in runs)
    print(f"claims held: {held} of {total}; checks held: {checks_held} of {checks}{over}")
    if args.claims_md:
        write_claims_md(args.claims_md, runs, seeds, argv if argv is not None else sys.argv[1:])

    failed = [r for r in runs if not r.ok]
    if failed:
        print(f"\n{len(failed)} of {len(runs)} run(s) failed:")
        for r in failed:
            where = _name(r.notebook) + ("" if r.seed is None else f" [COURSE_SEED={r.seed}]")
            print(f"  {where}, cell {r.cell or '?'}: {r.error}")
            if r.line and r.line not in (r.error or ""):
                print(f"      {r.line}")
        return 1
    print(f"\nAll {len(runs)} run(s) passed.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
