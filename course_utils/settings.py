"""The course's settings, read from environment variables and checked with a message that names the variable.

``COURSE_SEED`` is the notebooks' seed (``course_seed``); ``COURSE_CACHE_DIR`` moves the cache
(``paths.cache_dir``). A malformed value stops the notebook at its parameters cell with a `SettingError`
that says what to write instead, rather than failing halfway through a lesson.
"""

from __future__ import annotations

import os

SEED_MAX = 2**32 - 1  # NumPy's and scikit-learn's seeds must fit in 32 bits


class SettingError(ValueError):
    """An environment variable of the course holds a value the course cannot use."""


def course_seed(default: int = 0) -> int:
    """``COURSE_SEED`` as an integer in 0..2**32-1 (`default` when unset): every notebook's ``SEED``."""
    raw = os.environ.get("COURSE_SEED")
    if raw is None:
        return default
    try:
        seed = int(raw.strip())
    except ValueError:
        seed = None
    if seed is None or not 0 <= seed <= SEED_MAX:
        raise SettingError(
            f"COURSE_SEED must be a whole number from 0 to {SEED_MAX} (it is {raw!r}). "
            f"Set it to e.g. 1 (`COURSE_SEED=1 jupyter lab`), or unset it for the course's seed {default}."
        )
    return seed
