"""Where the course keeps its files: one place for every path.

The course runs from its folder: the clone (or unpacked copy) that holds ``data/`` and ``notebooks/``.
The package finds that folder, first match wins:

1. ``COURSE_DIR``, when it is set;
2. the folder the package sits in (a clone, installed with ``pip install -e .`` or not installed at all);
3. the current folder or one of its parents (after ``pip install .``: JupyterLab started inside the course
   folder runs each notebook from ``notebooks/``).

Otherwise importing the course stops (SystemExit) with one line that says what to do.
"""

from __future__ import annotations

import errno
import os
import tempfile
from pathlib import Path

from course_utils.settings import SettingError

PACKAGE_DIR = Path(__file__).resolve().parent
MARKER = Path("data") / "quizzes"  # shipped with the course: tells its data/ from any other project's


class CourseFolderError(SettingError):
    """The course folder (the one holding data/ and notebooks/) cannot be found, or COURSE_DIR is not it."""


def is_course_dir(folder: Path) -> bool:
    """Whether `folder` is the course folder: it holds data/quizzes/ and notebooks/."""
    return (folder / MARKER).is_dir() and (folder / "notebooks").is_dir()


def _here_and_above() -> list[Path]:
    """The current folder and its parents, nearest first (none if the current folder was deleted)."""
    try:
        here = Path.cwd().resolve()
    except OSError:
        return []
    return [here, *here.parents]


def find_course_dir() -> Path:
    """The course folder: ``COURSE_DIR``, else the clone around the package, else the current folder or a parent."""
    raw = os.environ.get("COURSE_DIR")
    if raw is not None:
        if not raw.strip():
            raise CourseFolderError(
                "COURSE_DIR is set but empty. Set it to the course folder (the one holding data/ and notebooks/), "
                "or unset it to find the course from the current folder."
            )
        folder = Path(raw.strip()).expanduser().resolve()
        if not is_course_dir(folder):
            raise CourseFolderError(
                f"COURSE_DIR is {raw!r}, which is not the course folder: it needs {MARKER.as_posix()} and notebooks/. "
                "Set COURSE_DIR to the folder you cloned the course into, or unset it."
            )
        return folder
    above = _here_and_above()
    for folder in [PACKAGE_DIR.parent, *above]:
        if is_course_dir(folder):
            return folder
    where = f"{above[0]} or above it" if above else "the current folder (it was deleted)"
    raise CourseFolderError(
        f"The course folder (the one holding {MARKER.as_posix()} and notebooks/) is not {where}. "
        "Start Python or JupyterLab from inside the course folder, or set COURSE_DIR to it."
    )


try:
    REPO_DIR = find_course_dir()  # the course folder
except CourseFolderError as err:  # one line for the learner, not a traceback through every module that imports this
    raise SystemExit(f"course_utils: {err}") from None
DATA_DIR = REPO_DIR / "data"

_WARNED: set[Path] = set()  # cache folders already reported as unusable


def cache_dir() -> Path | None:
    """Directory for files the course can rebuild (rendered glyphs), or None when it cannot be written.

    Set ``COURSE_CACHE_DIR`` to move it, e.g. on a read-only classroom install. When the folder cannot be
    created or written, a message says so once and the course keeps what it builds in memory instead.
    """
    raw = os.environ.get("COURSE_CACHE_DIR")
    if raw is not None and not raw.strip():
        raise SettingError(
            "COURSE_CACHE_DIR is set but empty. Unset it to cache in data/cache/, or set it to a folder you can "
            "write to (e.g. COURSE_CACHE_DIR=~/.cache/transfer-course)."
        )
    path = DATA_DIR / "cache" if raw is None else Path(raw.strip()).expanduser()
    try:
        path.mkdir(parents=True, exist_ok=True)
        if os.name == "posix" and not path.stat().st_mode & 0o222:  # read-only by its permissions: root could
            # still write there, but shouldn't. (Windows' read-only attribute does not protect a folder: skip it.)
            raise PermissionError(errno.EACCES, "the folder is read-only")
        with tempfile.TemporaryFile(dir=path):  # a read-only file system, a full disk, ...
            pass
    except OSError as err:
        if path not in _WARNED:
            _WARNED.add(path)
            why = "it is a file, not a folder" if path.is_file() else (err.strerror or str(err))
            print(
                f"The cache folder {path} cannot be used ({why}). The course carries on and keeps what it "
                "builds in memory; set COURSE_CACHE_DIR to a folder you can write to, to build it only once."
            )
        return None
    return path
