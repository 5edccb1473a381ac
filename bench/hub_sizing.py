"""How many learners fit on a classroom hub: memory per learner, and notebook 01 with 1, 2 and 3 learners at once.

    python bench/hub_sizing.py                        # every notebook's peak, then 1-3 learners on notebook 01
    python bench/hub_sizing.py --results bench/HUB.md # ... and record the figures, the sizing and the machine
    python bench/hub_sizing.py --notebooks 01 08      # only some notebooks' peaks (01 is always run for the timing)
    python bench/hub_sizing.py --recorded bench/HUB.json --results bench/HUB.md   # the sizing again, no measuring

A learner on the hub (`make hub`) is a JupyterLab server plus a kernel. Measured here, on this machine, with the
environment the hub gives every learner (COURSE_HUB_THREADS, default 1 torch thread):

- **server**: the resident memory of a JupyterLab server once it has served the JupyterLab page (the learner's
  `jupyterhub-singleuser` is this server with the hub's sign-in added);
- **kernel peak**: each notebook run top to bottom in a fresh kernel (`run_notebooks.py`: the kernel's and its
  children's peak RSS, the Linux high-water mark included);
- **concurrency**: notebook 01 run by 1, 2 and 3 learners at the same moment, each in its own kernel; the wall
  time of each.

From them: the memory guarantee per learner is the highest server + kernel peak plus a 25% margin (a notebook's peak
varies a little with the seed and the library versions); the CPU guarantee is the share of a core each of three
learners had on this machine's cores, with the slowdown it cost them. Run it on an idle machine: timings on busy cores
mean little.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import math
import os
import secrets
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent))
import report  # noqa: E402  (the sibling scripts)
import run_notebooks  # noqa: E402

NOTEBOOK_DIR = run_notebooks.NOTEBOOK_DIR
MARGIN = 0.25  # on top of the highest measured peak
RESERVED_GB = 1.0  # the operating system, the hub and its proxy, per machine
MACHINES_GB = (8, 24, 64)
LEARNERS = (1, 2, 3)
GB = 2**30


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def server_rss() -> int:
    """Resident memory (bytes) of a JupyterLab server that has served the JupyterLab page and its settings."""
    port, token = _free_port(), secrets.token_hex(16)
    with tempfile.TemporaryDirectory(prefix="course-hub-bench-") as tmp:
        env = {**os.environ, "JUPYTER_CONFIG_DIR": f"{tmp}/config", "JUPYTER_DATA_DIR": f"{tmp}/data"}
        env |= {"JUPYTER_RUNTIME_DIR": f"{tmp}/rt", "JUPYTER_PLATFORM_DIRS": "1"}
        cmd = [sys.executable, "-m", "jupyterlab", "--no-browser", "--ip=127.0.0.1", f"--port={port}"]
        cmd += [f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={tmp}", "--LabApp.news_url="]
        cmd += ["--allow-root"] if os.geteuid() == 0 else []
        server = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            base = f"http://127.0.0.1:{port}"
            deadline = time.monotonic() + 120
            while True:
                try:
                    urllib.request.urlopen(f"{base}/api/status?token={token}", timeout=2).close()
                    break
                except OSError:
                    if time.monotonic() > deadline or server.poll() is not None:
                        raise RuntimeError("the JupyterLab server did not start") from None
                    time.sleep(0.5)
            for path in ("lab", "api/kernelspecs", "lab/api/settings", "api/contents"):
                urllib.request.urlopen(f"{base}/{path}?token={token}", timeout=30).read()
            time.sleep(2)
            return max(psutil.Process(server.pid).memory_info().rss, run_notebooks._high_water_mark(server.pid))
        finally:
            server.terminate()
            server.wait(timeout=30)


def run_one(path: Path) -> run_notebooks.Run:
    """One notebook in a fresh kernel (in a worker process, so that several run at once)."""
    return run_notebooks.run_notebook(path, None, write=False)


def concurrent(path: Path, learners: int) -> list[run_notebooks.Run]:
    """`learners` kernels running `path` at the same moment."""
    with ProcessPoolExecutor(max_workers=learners) as pool:
        return list(pool.map(run_one, [path] * learners))


def notebook(number: str) -> Path:
    found = sorted(NOTEBOOK_DIR.glob(f"{number}_*.ipynb"))
    if not found:
        raise SystemExit(f"hub_sizing: no notebook {number} in {NOTEBOOK_DIR}; give numbers like 01 08.")
    return found[0]


def sizing(server: int, peaks: dict[str, int], times: dict[int, list[float]]) -> dict[str, float]:
    """The per-learner guarantees and how many learners fit, from the measured figures."""
    memory_gb = math.ceil((server + max(peaks.values())) * (1 + MARGIN) / GB * 10) / 10
    cores, most = os.cpu_count() or 1, max(times)
    return {
        "memory_gb": memory_gb,
        "cpu": round(min(1.0, cores / most), 2),  # the share of a core each had when `most` ran on `cores`
        "slowdown": round(max(times[most]) / max(times[1]), 2),  # ... and what it cost them
    }


def markdown(machine: str, server: int, peaks: dict[str, int], times: dict[int, list[float]], size: dict) -> str:
    """bench/HUB.md: the measured figures, the sizing drawn from them, and how they were made."""
    lines = [
        "# How many learners fit on a classroom hub",
        "",
        f"Measured by `python bench/hub_sizing.py --results bench/HUB.md` on {machine}. Every kernel had the hub's "
        "learner environment (its torch threads: OMP_NUM_THREADS above).",
        "",
        "## Memory per learner",
        "",
        f"A learner's JupyterLab server: **{server / GB:.2f} GB** resident once it has served the JupyterLab page.",
        "",
        "| notebook | kernel peak (GB) | server + kernel (GB) |",
        "|---|---|---|",
    ]
    lines += [f"| {nb} | {p / GB:.2f} | {(server + p) / GB:.2f} |" for nb, p in sorted(peaks.items())]
    lines += [
        "",
        "## Notebook 01 with several learners at once",
        "",
        f"| learners at once | wall time of each (s) | slowest vs one learner alone ({os.cpu_count()} cores) |",
        "|---|---|---|",
    ]
    alone = max(times[1])
    for n, ts in sorted(times.items()):
        lines.append(f"| {n} | {', '.join(f'{t:.0f}' for t in ts)} | {max(ts) / alone:.2f}× |")
    fits = {gb: int((gb - RESERVED_GB) // size["memory_gb"]) for gb in MACHINES_GB}
    most = max(times)
    lines += [
        "",
        "## Sizing",
        "",
        f"- Memory per learner: the highest server + kernel peak plus {MARGIN:.0%}: **{size['memory_gb']} GB** "
        "(Zero to JupyterHub's `singleuser.memory.guarantee` and `limit`).",
        f"- CPU per learner: a learner's kernel computes on one core (one torch thread). With {most} learners on "
        f"{os.cpu_count()} cores, **{size['cpu']} of a core** each, notebook 01 took {size['slowdown']}× as long as "
        f"alone: that is `singleuser.cpu.guarantee` (`limit` 1). A guarantee of 1 core keeps every learner at full "
        "speed even when all run a notebook at once.",
        "",
        f"| machine | learners (memory, {size['memory_gb']} GB each, {RESERVED_GB:.0f} GB kept for the system and "
        "the hub) |",
        "|---|---|",
    ]
    lines += [f"| {gb} GB | {fits[gb]} |" for gb in MACHINES_GB]
    lines += [
        f"| per core | 1 at full speed; {1 / size['cpu']:.1f} with notebook 01 {size['slowdown']}× as long when all "
        "run it at once |",
        "",
        "A class rarely runs the same cell at the same moment: more learners per core only make a notebook take "
        "longer for those running at that moment (the table above shows by how much); memory cannot be shared that "
        "way, so it sets the limit.",
        "",
    ]
    return "\n".join(lines)


def _threads() -> str:
    return f"OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', 'unset')}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--notebooks", nargs="+", default=[f"{i:02d}" for i in range(1, 9)], metavar="NN")
    parser.add_argument("--results", type=Path, help="write the figures and the sizing to this Markdown file")
    parser.add_argument("--recorded", type=Path, help="no measuring: the sizing from figures saved by --results")
    args = parser.parse_args(argv)
    if args.recorded:
        figures = json.loads(args.recorded.read_text(encoding="utf-8"))
        times = {int(n): ts for n, ts in figures["times"].items()}
        return report_figures(figures["machine"], figures["server"], figures["peaks"], times, args.results)
    threads = os.environ.get("COURSE_HUB_THREADS", "1")
    if threads != "0":  # the hub's setting for every learner (hub/jupyterhub_config.py)
        os.environ["OMP_NUM_THREADS"] = os.environ["MKL_NUM_THREADS"] = threads
    os.environ["HF_HUB_OFFLINE"] = "1"
    machine = f"{dt.date.today().isoformat()}: {report.machine()}, {_threads()}"
    print(f"Machine: {machine}", flush=True)

    server = server_rss()
    print(f"JupyterLab server: {server / GB:.2f} GB", flush=True)
    peaks = {}
    for number in sorted(set(args.notebooks)):
        run = run_one(notebook(number))
        if not run.ok:
            raise SystemExit(f"hub_sizing: notebook {number} failed ({run.error}); fix it before measuring.")
        peaks[number] = run.peak_bytes
        print(f"notebook {number}: {run.seconds:.0f} s, kernel peak {run.peak_bytes / GB:.2f} GB", flush=True)
    times = {}
    for n in LEARNERS:
        runs = concurrent(notebook("01"), n)
        if failed := [r for r in runs if not r.ok]:
            raise SystemExit(f"hub_sizing: notebook 01 failed with {n} learners ({failed[0].error}).")
        times[n] = [r.seconds for r in runs]
        print(f"notebook 01, {n} learner(s) at once: {', '.join(f'{t:.0f} s' for t in times[n])}", flush=True)
    return report_figures(machine, server, peaks, times, args.results)


def report_figures(machine: str, server: int, peaks: dict, times: dict[int, list[float]], results: Path | None) -> int:
    """Print the sizing; with `results`, write it there and the raw figures beside it (``.json``)."""
    text = markdown(machine, server, peaks, times, sizing(server, peaks, times))
    print(text)
    if results:
        results.write_text(text, encoding="utf-8")
        figures = {"machine": machine, "server": server, "peaks": peaks, "times": times}
        results.with_suffix(".json").write_text(json.dumps(figures, indent=1) + "\n", encoding="utf-8")
        print(f"Wrote {results} and {results.with_suffix('.json')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
