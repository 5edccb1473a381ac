"""Quiz progress as one CSV for a teacher: learners' progress files merged, none of them ever overwritten.

``python -m course_utils.progress export OUT.csv [PROGRESS.json ...] [--force]`` reads each progress file (your
own when none is given) and writes OUT atomically. OUT must end in ``.csv``, must not be one of the files read or
your own progress file, and an existing OUT is replaced only with ``--force``: in ``export *.json`` the output was
forgotten, and the first learner's file would otherwise be overwritten. The command exits with 0 when every file
was exported, 1 when some file was skipped (and said so), 2 when nothing was written (the line on stderr says why).

A spreadsheet runs a cell that starts with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return as a formula, and
every cell comes from a learner's file, so such a cell gets a leading ``'`` (OWASP's rule against CSV injection):
strip it before reading a negative number back.

``python -m course_utils.progress collect HOMES OUT_DIR [--force]`` gathers the progress files of a class served by
the course's JupyterHub (``make hub``): each learner's ``HOMES/<name>/.course/progress.json`` becomes
``OUT_DIR/<name>.json``, ready for ``export``. A file is collected only if it is valid and every attempt in it is its
own learner's; a collected copy is replaced only by a file that still holds every attempt it held (with ``--force``
in any case). Exit status as for ``export``.
"""

from __future__ import annotations

import csv
import io
import json
import sys
from pathlib import Path

from course_utils.progress import (
    USAGE,
    VERSION,
    ProgressFileError,
    progress_path,
    read_attempts,
    shown,
    unsaved_attempts,
)
from course_utils.safe_files import write_atomic, write_json

CSV_COLUMNS = ("learner", "notebook", "question_id", "correct", "response", "timestamp")
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
HOME_PROGRESS = Path(".course") / "progress.json"  # a learner's progress file in their home on the course's hub


class ExportError(ValueError):
    """An export was refused, or its input could not be read; nothing was written. The message says what to do."""


def _file_key(path: Path) -> object:
    """What identifies a file: device and inode if it exists (this sees through symlinks and hard links)."""
    try:
        st = path.stat()
        return st.st_dev, st.st_ino
    except OSError:
        pass
    try:
        return path.resolve()
    except (OSError, RuntimeError):  # a symlink loop
        return path.absolute()


def check_output(path: Path | str, sources: list[Path], force: bool = False) -> Path:
    """`path` as the CSV to write, or ExportError if writing it could destroy something or would fail."""
    out = Path(path)
    refused = f"Refusing to export to {shown(out)}:"
    if out.suffix.lower() != ".csv":
        raise ExportError(
            f"{refused} the file to write must end in .csv and come first, as in "
            "`export results.csv FILES...`; nothing was written."
        )
    if out.is_dir():
        raise ExportError(f"{refused} it is a folder; give a file name such as {shown(out / 'results.csv')}.")
    if not out.parent.is_dir():
        raise ExportError(
            f"{refused} the folder {shown(out.parent.absolute())} does not exist; create it first "
            "or choose another place."
        )
    key = _file_key(out)
    for source in sources:
        if _file_key(source) == key:
            raise ExportError(
                f"{refused} it is the progress file {shown(source)} that is being read; choose a new "
                "name such as results.csv."
            )
    if _file_key(progress_path()) == key:
        raise ExportError(
            f"{refused} it is your own quiz progress file (COURSE_PROGRESS_FILE); choose a new name "
            "such as results.csv."
        )
    if (out.exists() or out.is_symlink()) and not force:
        raise ExportError(f"{refused} the file already exists; add --force to replace it, or choose a new name.")
    return out


def _cell(text: str) -> str:
    """A CSV cell a spreadsheet shows as text: a leading ' if it would start a formula."""
    return "'" + text if text.startswith(FORMULA_START) else text


def write_csv(path: Path, attempts: list[dict]) -> int:
    """Write `attempts` as CSV to `path` atomically (whole or not at all); return the number of rows."""
    buffer = io.StringIO(newline="")
    writer = csv.writer(buffer)
    writer.writerow(CSV_COLUMNS)
    for a in attempts:
        response = "" if a.get("response") is None else json.dumps(a["response"], ensure_ascii=False)
        row = [a["learner"], a["notebook"], a["question_id"], str(a["correct"]).lower(), response, a["timestamp"]]
        writer.writerow([_cell(value) for value in row])
    write_atomic(path, buffer.getvalue().encode("utf-8", "backslashreplace"))
    return len(attempts)


def export_csv(path: Path | str, progress_file: Path | str | None = None, force: bool = False) -> int:
    """Write every attempt in `progress_file` (yours by default) as CSV; return the number of rows.

    Raises ExportError, writing nothing, if `path` is refused (see `check_output`) or the file cannot be read.
    The progress file itself is never modified, not even when it is corrupt.
    """
    source = Path(progress_file).expanduser().absolute() if progress_file else progress_path()
    out = check_output(path, [source], force)
    if not source.is_file() and not unsaved_attempts(source):
        raise ExportError(
            f"There is no progress file at {shown(source)}, so there is nothing to export; nothing was written. "
            "Check COURSE_PROGRESS_FILE, or name the learners' files after the CSV."
        )
    try:
        attempts = read_attempts(source) + unsaved_attempts(source)
    except (OSError, ProgressFileError) as err:
        reason = err.strerror if isinstance(err, OSError) and err.strerror else err
        raise ExportError(
            f"Could not read the progress file {shown(source)} ({shown(reason)}); nothing was written. "
            "Fix or replace that file, then export again."
        ) from None
    return write_csv(out, attempts)


def _read_all(files: list[Path]) -> tuple[list[dict], int, int]:
    """Attempts of every readable file, each file read once: (attempts, files read, distinct files)."""
    attempts: list[dict] = []
    seen: dict[object, Path] = {}
    n_read = 0
    for path in files:
        key = _file_key(path)
        if key in seen:
            same = "was given twice" if path == seen[key] else f"is the same file as {shown(seen[key])}"
            print(f"{shown(path)} {same}: it was read once.", file=sys.stderr)
            continue
        seen[key] = path
        try:
            if not path.is_file():
                raise OSError(0, "not a file" if path.exists() else "no such file")
            attempts += read_attempts(path)
            n_read += 1
        except (OSError, ProgressFileError) as err:
            reason = err.strerror if isinstance(err, OSError) and err.strerror else err
            print(
                f"Skipped {shown(path)}: {shown(reason)}. Fix or replace that file and export again, or leave it out.",
                file=sys.stderr,
            )
    return attempts, n_read, len(seen)


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" + ("" if n == 1 else "s")


def main(args: list[str]) -> int:
    """The ``export`` command (`args` after the word export): 0 all exported, 1 a file skipped, 2 nothing written."""
    force = "--force" in args
    names = [a for a in args if a != "--force"]
    if not names or any(a.startswith("--") for a in names):
        print(USAGE, file=sys.stderr)
        return 2
    out, sources = Path(names[0]), [Path(n) for n in names[1:]]
    try:
        if not sources:
            n = export_csv(out, force=force)
            print(f"Wrote {_count(n, 'attempt')} from {shown(progress_path())} to {shown(out)}.")
            return 0
        check_output(out, sources, force)
        attempts, n_read, n_files = _read_all(sources)
        if n_read == 0:  # a mistyped pattern, say: keep last week's CSV rather than replace it with an empty one
            print(f"None of the {_count(n_files, 'file')} could be read: nothing was written.", file=sys.stderr)
            return 2
        n = write_csv(out, attempts)
    except ExportError as err:
        print(err, file=sys.stderr)
        return 2
    except OSError as err:
        print(
            f"Could not write {shown(out)} ({shown(err.strerror or err)}); nothing was written. "
            "Choose another place or make it writable.",
            file=sys.stderr,
        )
        return 2
    print(f"Wrote {_count(n, 'attempt')} from {n_read} of {_count(n_files, 'file')} to {shown(out)}.")
    return 0 if n_read == n_files else 1


# --- Collecting a hub's progress files --------------------------------------------------------------------


def _collect_one(home: Path, out_dir: Path, force: bool) -> str:
    """Collect one learner's progress file; return what happened, in one line. Raise ExportError if refused."""
    name, source = home.name, home / HOME_PROGRESS
    if not source.exists() and not source.is_symlink():
        return f"{shown(name)}: no answers yet"
    try:
        attempts = read_attempts(source)
    except (OSError, ProgressFileError) as err:
        reason = err.strerror if isinstance(err, OSError) and err.strerror else err
        raise ExportError(
            f"{shown(source)} cannot be read ({shown(reason)}); fix or remove it, then collect again."
        ) from None
    if others := sorted({a["learner"] for a in attempts} - {name}):
        raise ExportError(
            f"{shown(source)} holds attempts recorded for '{shown(others[0])}', not '{shown(name)}': a progress file "
            "is collected only from its own learner's home. Check it with the learner."
        )
    target = out_dir / f"{name}.json"
    before: list[dict] = []
    if target.exists() or target.is_symlink():
        try:
            before = read_attempts(target)
        except (OSError, ProgressFileError) as err:
            if not force:
                raise ExportError(
                    f"the collected copy {shown(target)} cannot be read ({shown(err)}); move it away, or add --force "
                    "to replace it."
                ) from None
        if before == attempts:
            return f"{shown(name)}: {_count(len(attempts), 'attempt')}, unchanged"
        if attempts[: len(before)] != before and not force:
            raise ExportError(
                f"{shown(source)} no longer holds every attempt of the copy collected before ({len(before)} there, "
                f"{len(attempts)} now), so {shown(target)} was kept. Move that copy away, or add --force to replace it."
            )
    write_json(target, {"version": VERSION, "attempts": attempts})
    earlier = f" ({len(before)} before)" if before else ""
    return f"{shown(name)}: {_count(len(attempts), 'attempt')} collected{earlier}"


def collect(homes: Path | str, out_dir: Path | str, force: bool = False) -> tuple[list[str], list[str]]:
    """Copy each learner's progress file from `homes` (one folder per learner) into `out_dir` as ``<name>.json``.

    Returns (one line per learner collected or without answers, one line per learner refused). Raises ExportError,
    collecting nothing, if `homes` is not a folder or `out_dir` is inside it (where learners could change it).
    """
    homes, out_dir = Path(homes), Path(out_dir)
    if not homes.is_dir():
        raise ExportError(f"{shown(homes)} is not a folder of learners' homes; give the hub's homes folder.")
    if out_dir.absolute().resolve().is_relative_to(homes.resolve()):
        raise ExportError(
            f"{shown(out_dir)} is inside the learners' homes, where they could change the collected files; "
            "choose a folder outside it."
        )
    out_dir.mkdir(parents=True, exist_ok=True)
    done, refused = [], []
    for home in sorted(homes.iterdir()):
        if home.is_symlink() or not home.is_dir():
            continue  # a learner's home is a folder; anything else was not made by the hub
        try:
            done.append(_collect_one(home, out_dir, force))
        except ExportError as err:
            refused.append(f"{shown(home.name)}: not collected: {err}")
    return done, refused


def collect_main(args: list[str]) -> int:
    """The ``collect`` command (`args` after the word collect): 0 all collected, 1 some refused, 2 nothing done."""
    force = "--force" in args
    names = [a for a in args if a != "--force"]
    if len(names) != 2 or any(a.startswith("--") for a in names):
        print(USAGE, file=sys.stderr)
        return 2
    try:
        done, refused = collect(Path(names[0]), Path(names[1]), force)
    except (ExportError, OSError) as err:
        print(err.strerror if isinstance(err, OSError) and err.strerror else err, file=sys.stderr)
        return 2
    for line in done:
        print(line)
    for line in refused:
        print(line, file=sys.stderr)
    print(f"Collected {_count(len(done), 'learner')} into {shown(names[1])}; {len(refused)} refused.")
    return 1 if refused else 0
