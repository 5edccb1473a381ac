"""Run the course notebooks top to bottom, each in a fresh kernel, and report time and peak memory.

    python bench/run_notebooks.py                     # every notebook once: time, memory, pass/fail
    python bench/run_notebooks.py --seeds 1 2 3       # every notebook's asserted claims, once per seed
    python bench/run_notebooks.py --write             # re-execute in place, save the outputs and the platform
    python bench/run_notebooks.py notebooks/03_*.ipynb --seeds 1 2

A notebook reads its seed from the environment variable COURSE_SEED in its `parameters` cell, so
`--seeds` needs no notebook rewriting. The asserts in a notebook are the lesson's claims (the `claims`
column: how many held, of how many the notebook makes; a run stops at its first failing one): a failing
one is reported with its cell, error name and message. The exit status is non-zero only when a
notebook fails; running over the time budget is flagged, never fatal, because timings are noisy.

`--write` also records, in each saved notebook's metadata, the platform that produced its outputs
(`course_utils.platform_stamp`): `make test` compares the printed outputs strictly on that platform only.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import nbformat
import psutil
from ipykernel.kernelspec import RESOURCES, get_kernel_dict
from jupyter_client import AsyncKernelManager
from jupyter_client.kernelspec import KernelSpec
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

from course_utils import platform_stamp

REPO_DIR = Path(__file__).resolve().parent.parent
NOTEBOOK_DIR = REPO_DIR / "notebooks"
CELL_TIMEOUT_S = 900
BUDGET_NOTEBOOK_S = 120  # the course's budget for one notebook, Restart & Run All on a laptop CPU
BUDGET_COURSE_S = 600  # ... and for the whole course
SAMPLE_EVERY_S = 0.2  # how often the kernel's memory is sampled
SEED_VARIABLE = "COURSE_SEED"


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
    claims: dict[int, int] | None = None  # `assert` statements per code cell (1-based position): the claims

    @property
    def claims_total(self) -> int:
        return sum((self.claims or {}).values())

    @property
    def claims_held(self) -> int:
        """Claims in the cells that ran to the end: all of them when the run passed."""
        if self.ok:
            return self.claims_total
        return sum(n for cell, n in (self.claims or {}).items() if self.cell is None or cell < self.cell)

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


def claim_cells(nb: nbformat.NotebookNode) -> dict[int, int]:
    """How many `assert` statements (the lesson's claims) each code cell holds, by 1-based cell position."""
    counts = {i: len(_ASSERT.findall(c.source)) for i, c in enumerate(nb.cells, 1) if c.cell_type == "code"}
    return {i: n for i, n in counts.items() if n}


def kernel_env(seed: int | None) -> dict[str, str]:
    """The kernel's environment: ours, offline, on the CPU (the recorded outputs are CPU results, unless COURSE_DEVICE
    is set for a `--seeds` run), and with COURSE_SEED set only when asked for."""
    env = dict(os.environ)
    env["HF_HUB_OFFLINE"] = "1"
    env.pop(SEED_VARIABLE, None)
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
    run.claims = claim_cells(nb)
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
    start = time.perf_counter()
    try:
        client.execute(env=kernel_env(seed))
    except CellExecutionError:  # an error the cell was not allowed to raise
        run.cell, run.error, run.line = current["error"]
    except Exception as err:  # a timeout, a dead kernel, a kernel that never started
        run.cell = current["cell"]
        message = str(err).strip().splitlines()
        run.error = f"{type(err).__name__}: {message[0] if message else ''}".rstrip(": ")
    run.seconds = time.perf_counter() - start
    if memory:
        run.peak_bytes = memory[0].stop()
    if write and run.ok:
        platform_stamp.stamp_notebook(nb, recorded_on or platform_stamp.kernel_platform(kernel_env(None)))
        nbformat.write(nb, path)
    return run


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
    widths = [max(8, *map(len, names)), 4, 8, 9, 6]  # the status column is not padded
    header = _row(["notebook", "seed", "time (s)", "peak (MB)", "claims", "status"], widths)
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
            cells = [name, seed_text, f"{run.seconds:.1f}", f"{run.peak_bytes / 2**20:.0f}", claims, status]
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

    return runs


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("notebooks", nargs="*", type=Path, help="notebooks to run (default: notebooks/*.ipynb)")
    parser.add_argument("--seeds", nargs="+", type=int, metavar="SEED", help="run each notebook once per COURSE_SEED")
    parser.add_argument("--write", action="store_true", help="re-execute in place, save outputs (COURSE_SEED unset)")
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
    held, total = sum(r.claims_held for r in runs), sum(r.claims_total for r in runs)
    print(f"asserted claims held: {held} of {total}" + ("" if len(seeds) == 1 else f" over {len(seeds)} seeds"))

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
