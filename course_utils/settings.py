"""The course's settings, read from environment variables and checked with a message that names the variable.

``COURSE_SEED`` is the notebooks' seed (``course_seed``); ``COURSE_DEVICE`` opts in to a GPU or Apple's MPS
(``course_device``; the course runs on the CPU otherwise); ``COURSE_CACHE_DIR`` moves the cache
(``paths.cache_dir``). A malformed value stops the notebook at its parameters cell with a `SettingError`
that says what to write instead, rather than failing halfway through a lesson.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # torch is imported only when the device is asked for: `paths` and `quiz` stay light
    import torch

SEED_MAX = 2**32 - 1  # NumPy's and scikit-learn's seeds must fit in 32 bits
DEVICES = ("cpu", "cuda", "mps")


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


def course_device() -> torch.device:
    """``COURSE_DEVICE`` as a torch device: the CPU when unset, whatever the machine has (every notebook's ``DEVICE``).

    The recorded outputs and asserted claims were measured on the CPU; ``cuda`` or ``mps`` is the learner's choice.
    On CUDA, cuDNN is made deterministic, so that a seed gives one result there too (two runs of an experiment,
    such as notebook 03's two learning-rate range tests, must agree).
    """
    import torch

    raw = os.environ.get("COURSE_DEVICE")
    if raw is None:
        return torch.device("cpu")
    name = raw.strip().lower()
    if name not in DEVICES:
        raise SettingError(
            f"COURSE_DEVICE must be one of {', '.join(DEVICES)} (it is {raw!r}). "
            "Set it to e.g. cuda (`COURSE_DEVICE=cuda jupyter lab`), or unset it to run on the CPU."
        )
    available = {"cpu": True, "cuda": torch.cuda.is_available(), "mps": torch.backends.mps.is_available()}
    if not available[name]:
        gpu = "no CUDA GPU" if name == "cuda" else "no Apple GPU (MPS)"
        raise SettingError(
            f"COURSE_DEVICE is {raw!r} but {gpu} is visible to PyTorch on this machine. "
            "Unset COURSE_DEVICE to run on the CPU, the course's default."
        )
    if name == "cuda":
        torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark = True, False
    return torch.device(name)
