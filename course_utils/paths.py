"""Where the course keeps its files: one place for every path."""

from __future__ import annotations

import os
from pathlib import Path

REPO_DIR = Path(__file__).resolve().parent.parent
DATA_DIR = REPO_DIR / "data"


def cache_dir() -> Path:
    """Directory for files the course can rebuild (rendered glyphs, cached features).

    Set ``COURSE_CACHE_DIR`` to move it, e.g. on a read-only classroom install.
    """
    path = Path(os.environ.get("COURSE_CACHE_DIR", DATA_DIR / "cache"))
    path.mkdir(parents=True, exist_ok=True)
    return path
