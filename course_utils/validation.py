"""Choosing settings on validation: folds carved from the labelled training rows, never from the test set.

With 1-5 labels per class there is no room for a separate validation set, so the labelled rows are split into
stratified folds (at most `max_folds`, and never more than the labels of the rarest class: with 2 labels per
class, 2 folds of 1 per class; with 5 and ``max_folds=3``, 3 folds). Each candidate setting is trained on the
other folds and scored on the held-out one, and the setting with the best mean score wins. The test set then
reports the chosen setting's number once.
With 1 label per class no fold can hold a class out and still train on it: a lesson uses the setting chosen
at 2 labels per class there (whose folds train on exactly 1 image per class), and says so.
"""

from __future__ import annotations

import json
import platform
from collections.abc import Callable, Hashable, Iterable, Sequence
from datetime import date
from pathlib import Path
from typing import TypeVar

import numpy as np
import torch
from sklearn.model_selection import StratifiedKFold

from course_utils.paths import DATA_DIR

RECORDED_DIR = DATA_DIR / "validated"  # settings chosen on validation by the scripts bench/validate_*.py

Setting = TypeVar("Setting", bound=Hashable)


def validation_folds(
    idx: torch.Tensor, y: torch.Tensor, max_folds: int = 5, seed: int = 0
) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """Stratified folds over the labelled rows `idx` of a data set whose labels are `y`.

    Returns (training rows, validation rows) pairs, both as indices into the full data set. The number of folds
    is the smallest class count among the labelled rows, at most `max_folds`; at least 2 labels per class are
    needed.
    """
    idx = torch.as_tensor(idx).flatten()
    labels = y[idx].cpu().numpy()
    if len(idx) == 0:
        raise ValueError("validation_folds: no labelled rows given")
    counts = np.unique(labels, return_counts=True)[1]
    folds = min(int(counts.min()), max_folds)
    if folds < 2:
        raise ValueError(
            "validation_folds: every class needs at least 2 labelled rows to hold one out "
            f"(the smallest class has {int(counts.min())}); with 1 label per class, use the setting chosen at 2."
        )
    splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed % 2**32)
    return [
        (idx[torch.as_tensor(train)], idx[torch.as_tensor(val)])
        for train, val in splitter.split(np.zeros(len(labels)), labels)
    ]


def cross_validate(
    score: Callable[[torch.Tensor, torch.Tensor], float], folds: Iterable[tuple[torch.Tensor, torch.Tensor]]
) -> float:
    """Mean of `score(training rows, validation rows)` over the folds."""
    return float(np.mean([score(train, val) for train, val in folds]))


def choose_setting(grid: Sequence[Setting], score: Callable[[Setting], float]) -> tuple[Setting, dict[Setting, float]]:
    """The setting of `grid` with the highest validation score (the first one on a tie), and every score."""
    if not grid:
        raise ValueError("choose_setting: the grid of settings is empty")
    scores = {setting: float(score(setting)) for setting in grid}
    return max(grid, key=lambda s: scores[s]), scores


def recorded(name: str) -> dict:
    """The settings `bench/validate_<name>.py` chose on validation and recorded in data/validated/<name>.json."""
    path = RECORDED_DIR / f"{name}.json"
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise FileNotFoundError(
            f"{path} is missing: the course ships it; restore it with git, or run python bench/validate_{name}.py"
        ) from None
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise ValueError(f"{path} is not valid JSON ({error}): restore it with git, or re-run the script") from None


def write_record(path: Path, record: dict, minutes: float | None = None) -> None:
    """Write a `bench/validate_*.py` script's choices to `path`, stamped with the date, torch and the machine."""
    record = {
        **record,
        "recorded": {
            "date": date.today().isoformat(),
            "torch": torch.__version__,
            "machine": platform.machine(),
            **({} if minutes is None else {"minutes": round(minutes, 1)}),
        },
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(record, indent=1) + "\n", encoding="utf-8")
