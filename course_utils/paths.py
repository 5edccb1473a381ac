"""Where the course keeps its files: one place for every path."""

from __future__ import annotations

import errno
import os
import tempfile
from pathlib import Path

from course_utils.settings import SettingError

REPO_DIR = Path(__file__).resolve().parent.parent
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
        if not path.stat().st_mode & 0o222:  # read-only by its permissions (root could still write: don't)
            raise PermissionError(errno.EACCES, "the folder is read-only")
        with tempfile.TemporaryFile(dir=path):  # a read-only file system, a full disk, ...
            pass
    except OSError as err:
        if path not in _WARNED:
            _WARNED.add(path)
            why = "it is a file, not a folder" if path.is_file() else (err.strerror or str(err))
            print(f"The cache folder {path} cannot be used ({why}). The course carries on and keeps what it "
                  "builds in memory; set COURSE_CACHE_DIR to a folder you can write to, to build it only once.")
        return None
    return path
