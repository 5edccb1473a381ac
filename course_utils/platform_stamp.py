"""Which platform recorded the notebooks' outputs, and how nbval checks them on this one.

A printed figure depends on more than the code: the torch and NumPy versions, the CPU architecture, the
instruction set torch dispatches to (AVX2, AVX-512, ...), the number of threads a reduction is split into, the
BLAS library and the device (``COURSE_DEVICE``) can all change its last digits. So each notebook carries, in its
metadata (``metadata["course"]["recorded_on"]``), the platform that produced its outputs:

    python -m course_utils.platform_stamp stamp notebooks/*.ipynb   # record this platform (cells untouched)
    python -m course_utils.platform_stamp show                      # this platform, as it is recorded

``bench/run_notebooks.py --write`` (``make execute``) stamps every notebook it saves.

Loaded as a pytest plugin (``-p course_utils.platform_stamp`` in pyproject.toml), this module turns ``--nbval``
into ``--nbval-lax`` when the notebooks were recorded on another platform: every cell still runs and every
``assert`` (a lesson's claim) must hold, but printed outputs are not compared. ``COURSE_NBVAL`` overrides the
choice: ``strict`` always compares (CI), ``lax`` never does, ``auto`` (the default) compares on the recording
platform only. pytest's header says which mode ran and why.
"""

from __future__ import annotations

import fnmatch
import functools
import json
import os
import platform
import re
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import nbformat

from course_utils.safe_files import write_atomic

if TYPE_CHECKING:  # pytest is a tool of the tests (requirements-dev.txt), imported only when it loads this plugin
    import pytest

SETTING = "COURSE_NBVAL"
MODES = ("auto", "strict", "lax")
STAMP_COMMAND = "python -m course_utils.platform_stamp stamp FILES"

Platform = dict[str, object]


def this_platform() -> Platform:
    """What decides the notebooks' printed figures here: versions, CPU, instruction set, threads, BLAS, device."""
    import numpy
    import torch

    torch_blas = re.search(r"BLAS_INFO=(\w+)", torch.__config__.show())
    try:
        numpy_blas = numpy.show_config(mode="dicts")["Build Dependencies"]["blas"]["name"]
    except (KeyError, TypeError, ValueError):
        numpy_blas = "unknown"
    return {
        "torch": torch.__version__,
        "numpy": numpy.__version__,
        "system": platform.system(),
        "machine": platform.machine(),
        "cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "threads": torch.get_num_threads(),
        "blas": f"torch {torch_blas.group(1) if torch_blas else 'unknown'}, numpy {numpy_blas}",
        "device": _device(),
    }


def _device() -> str:
    """Where the notebooks compute: ``COURSE_DEVICE`` (the CPU when unset), with the GPU's name for CUDA."""
    import torch

    name = os.environ.get("COURSE_DEVICE", "").strip().lower() or "cpu"
    if name == "cuda" and torch.cuda.is_available():
        return f"cuda {torch.cuda.get_device_name()}"
    return name


def kernel_platform(env: dict[str, str] | None = None) -> Platform:
    """The platform as a fresh Python sees it (what a notebook's kernel gets), whatever this process changed.

    A test session, for one, sets torch to one thread; a kernel started from it gets the machine's default.
    """
    done = subprocess.run([sys.executable, "-m", __name__, "show"], capture_output=True, text=True, env=env)
    if done.returncode != 0:
        raise RuntimeError(f"Could not describe this platform (torch or NumPy failed to import):\n{done.stderr}")
    return json.loads(done.stdout)


def describe(recorded: Platform) -> str:
    """One line: 'torch 2.14.1, numpy 2.4.6, Linux x86_64, AVX2, 4 threads, BLAS torch mkl, numpy openblas, cpu'."""
    known = {"torch", "numpy", "system", "machine", "cpu_capability", "threads", "blas", "device"}
    r = {key: recorded.get(key, "?") for key in known}
    parts = [
        f"torch {r['torch']}",
        f"numpy {r['numpy']}",
        f"{r['system']} {r['machine']}",
        str(r["cpu_capability"]),
        f"{r['threads']} threads",
        f"BLAS {r['blas']}",
        f"on {r['device']}",
    ]
    return ", ".join(parts + [f"{key} {value}" for key, value in recorded.items() if key not in known])


def differences(recorded: Platform, current: Platform) -> str:
    """The fields that differ, e.g. 'threads: 2 recorded, 4 here'."""
    keys = [key for key in {**recorded, **current} if recorded.get(key) != current.get(key)]
    return "; ".join(f"{key}: {recorded.get(key, 'none')} recorded, {current.get(key, 'none')} here" for key in keys)


def recorded_platform(path: Path) -> Platform | None:
    """The platform stamped in a notebook's metadata, or None if it has none (or cannot be read)."""
    try:
        with open(path, encoding="utf-8") as f:
            recorded = json.load(f)["metadata"]["course"]["recorded_on"]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return recorded if isinstance(recorded, dict) else None


def stamp_notebook(nb: nbformat.NotebookNode, recorded: Platform) -> bool:
    """Record `recorded` in the notebook's top-level metadata (cells untouched); False if it was already there."""
    course = nb.metadata.setdefault("course", {})
    if course.get("recorded_on") == recorded:
        return False
    course["recorded_on"] = dict(recorded)
    return True


def stamp_files(paths: list[Path], recorded: Platform) -> list[str]:
    """Stamp each notebook file in place (replaced atomically, only when it changes); one line per file."""
    lines = []
    for path in paths:
        nb = nbformat.read(path, as_version=4)
        if stamp_notebook(nb, recorded):
            write_atomic(path, (nbformat.writes(nb) + "\n").encode("utf-8"), mode=path.stat().st_mode & 0o777)
            lines.append(f"{path}: stamped")
        else:
            lines.append(f"{path}: already stamped with this platform")
    return lines


def nbval_setting() -> str:
    """``COURSE_NBVAL``: 'auto' (the default), 'strict' or 'lax'; ValueError with what to write otherwise."""
    raw = os.environ.get(SETTING, "auto")
    value = raw.strip().lower() or "auto"
    if value not in MODES:
        raise ValueError(
            f"{SETTING} must be strict (compare every printed output), lax (run every cell, check the asserts, "
            f"compare no output) or auto (strict only on the platform that recorded the outputs); it is {raw!r}."
        )
    return value


def _names(paths: list[Path], total: int) -> str:
    if len(paths) == total > 1:
        return f"all {total} notebooks"
    shown = ", ".join(p.name for p in paths[:3])
    return shown + (f" and {len(paths) - 3} more" if len(paths) > 3 else "")


def choose_mode(setting: str, recorded: dict[Path, Platform | None], current: Platform) -> tuple[str, list[str]]:
    """'strict' or 'lax' for nbval, and the lines that say why (pytest's header)."""
    foreign: dict[str, list[Path]] = {}
    for path, stamp in recorded.items():
        if stamp is not None and stamp != current:
            foreign.setdefault(json.dumps(stamp, sort_keys=True), []).append(path)
    unknown = [path for path, stamp in recorded.items() if stamp is None]
    if setting in ("strict", "lax"):
        mode, why = setting, f"{SETTING}={setting}"
    elif foreign:
        mode, why = "lax", "the outputs were recorded on another platform"
    else:
        mode, why = "strict", "no notebook was recorded on another platform" if unknown else "recorded on this platform"
    if mode == "strict":
        head = "notebooks: strict (--nbval), every printed output is compared with the stored one"
    else:
        head = "notebooks: lax (--nbval-lax), every cell must run and every assert hold; outputs are not compared"
    lines = [f"{head}: {why}."]
    for key, paths in foreign.items():
        stamp = json.loads(key)
        lines.append(f"  recorded on:  {describe(stamp)} ({_names(paths, len(recorded))})")
        lines.append(f"    differs in: {differences(stamp, current)}")
    if foreign:
        lines.append(f"  this machine: {describe(current)}")
        if mode == "lax" and setting == "auto":
            lines.append(f"  {SETTING}=strict compares every output anyway.")
        elif mode == "strict":
            lines.append(
                "  Outputs recorded elsewhere may differ in their last digits: "
                f"{SETTING}=auto would check only the asserts."
            )
    if unknown:
        lines.append(f"  no recorded platform in {_names(unknown, len(recorded))} (`{STAMP_COMMAND}` records it).")
    return mode, lines


def _notebooks_named(args: list[str], start: Path, skip: list[str]) -> list[Path]:
    """The notebooks pytest will collect from its arguments: files, and folders walked as pytest walks them."""
    found: list[Path] = []
    for arg in args:
        path = start / arg.split("::")[0]
        if path.is_file() and path.suffix == ".ipynb":
            found.append(path)
        elif path.is_dir():
            for folder, dirs, files in os.walk(path):
                dirs[:] = sorted(d for d in dirs if not any(fnmatch.fnmatch(d, pattern) for pattern in skip))
                found += [Path(folder, name) for name in sorted(files) if name.endswith(".ipynb")]
    return found


@functools.cache
def _header_key() -> pytest.StashKey[list[str]]:
    """Where pytest's config keeps the header lines."""
    import pytest

    return pytest.StashKey[list[str]]()


def pytest_configure(config: pytest.Config) -> None:
    """Choose nbval's mode (see the module's docstring) before the notebooks are collected."""
    import pytest

    option = config.option
    if not (getattr(option, "nbval", False) or getattr(option, "nbval_lax", False)):
        return
    sanitizer = getattr(option, "nbval_sanitize_with", None)  # pyproject.toml names it from the repository's root
    if sanitizer and not Path(sanitizer).exists() and config.inipath is not None:
        option.nbval_sanitize_with = str(config.inipath.parent / sanitizer)
    try:
        setting = nbval_setting()
    except ValueError as err:
        raise pytest.UsageError(str(err)) from None
    if option.nbval_lax:
        config.stash[_header_key()] = ["notebooks: lax (--nbval-lax, as asked), printed outputs are not compared."]
        return
    notebooks = _notebooks_named(config.args, config.invocation_params.dir, config.getini("norecursedirs"))
    if not notebooks:
        return
    current = kernel_platform()
    mode, lines = choose_mode(setting, {path: recorded_platform(path) for path in notebooks}, current)
    option.nbval_lax = mode == "lax"
    config.stash[_header_key()] = lines


def pytest_report_header(config: pytest.Config) -> list[str]:
    """The lines `pytest_configure` wrote: which mode runs the notebooks, and why."""
    return config.stash.get(_header_key(), [])


def main(argv: list[str] | None = None) -> int:
    import argparse

    parser = argparse.ArgumentParser(prog="python -m course_utils.platform_stamp", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("show", help="print this platform as the notebooks record it (JSON)")
    stamp = commands.add_parser("stamp", help="record this platform in each notebook's metadata (cells untouched)")
    stamp.add_argument("notebooks", nargs="+", type=Path)
    args = parser.parse_args(argv)
    current = this_platform()
    if args.command == "show":
        print(json.dumps(current, indent=1))
        return 0
    wrong = [str(p) for p in args.notebooks if not p.is_file() or p.suffix != ".ipynb"]
    if wrong:
        parser.error(f"not a notebook file: {', '.join(wrong)}; nothing was stamped.")
    print(f"This platform: {describe(current)}")
    try:
        for line in stamp_files(args.notebooks, current):
            print(line)
    except (OSError, ValueError) as err:
        print(f"Stopped: {err}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
