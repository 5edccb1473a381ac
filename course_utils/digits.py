"""Real handwritten digits (the course's target data) and printed digits (a labelled source domain).

The handwritten digits are the UCI optical-recognition digits that scikit-learn ships: 1,797 real
8x8 images with 17 grey levels. The course uses one fixed train/test split and two presentations:

- *clean*: upsampled and centred on the 28x28 canvas, like MNIST;
- *wild*: scattered on the canvas with random scale, rotation, position and stray strokes. The
  placements are fixed by a seed, so every learner sees the same test set.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import torch
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

from course_utils import augment as aug
from course_utils.glyphs import printed_digits

TEST_FRACTION = 0.4
SPLIT_SEED = 0  # the course's one train/test split
PLACEMENT_SEEDS = {"train": 1, "test": 2}  # wild placements, fixed for everyone
PRESENTATIONS = ("clean", "wild")


@dataclass(frozen=True)
class DigitSplit:
    """Images [N, 1, 28, 28] in 0..1 and labels [N] for the course's train and test sets."""

    X_train: torch.Tensor
    y_train: torch.Tensor
    X_test: torch.Tensor
    y_test: torch.Tensor


@lru_cache(maxsize=1)
def _raw_split() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    digits = load_digits()
    X = torch.tensor(digits.images, dtype=torch.float32) / 16  # 8x8, 17 grey levels
    y = torch.tensor(digits.target)
    idx_train, idx_test = train_test_split(
        torch.arange(len(y)).numpy(), test_size=TEST_FRACTION, stratify=y.numpy(), random_state=SPLIT_SEED
    )
    return X[idx_train], y[idx_train], X[idx_test], y[idx_test]


def present(images8: torch.Tensor, presentation: str, seed: int) -> torch.Tensor:
    """Put 8x8 digits on the 28x28 canvas, clean (centred) or wild (scattered, seeded)."""
    if presentation not in PRESENTATIONS:
        raise ValueError(f"Unknown presentation {presentation!r}: choose one of {PRESENTATIONS}.")
    cfg = aug.NONE if presentation == "clean" else aug.WILD
    return aug.augment(images8, cfg, torch.Generator().manual_seed(seed))


@lru_cache(maxsize=2)
def _presented(presentation: str) -> DigitSplit:
    X_train, y_train, X_test, y_test = _raw_split()
    return DigitSplit(
        X_train=present(X_train, presentation, PLACEMENT_SEEDS["train"]),
        y_train=y_train,
        X_test=present(X_test, presentation, PLACEMENT_SEEDS["test"]),
        y_test=y_test,
    )


def handwritten_digits(presentation: str = "wild") -> DigitSplit:
    """The course's fixed split of the real handwritten digits (1,078 train, 719 test).

    Each call returns fresh copies, so editing them in place never changes anyone else's test set.
    """
    split = _presented(presentation)
    return DigitSplit(*(t.clone() for t in (split.X_train, split.y_train, split.X_test, split.y_test)))


def original_scans() -> DigitSplit:
    """The same fixed split at the scans' own resolution: images [N, 1, 8, 8] in 0..1 (fresh copies)."""
    X_train, y_train, X_test, y_test = _raw_split()
    return DigitSplit(X_train[:, None].clone(), y_train.clone(), X_test[:, None].clone(), y_test.clone())


def labelled_subset(y: torch.Tensor, per_class: int | None, seed: int) -> torch.Tensor:
    """Indices of `per_class` examples of every class (all of them if None), drawn by `seed`."""
    if per_class is not None and per_class < 1:
        raise ValueError(f"Ask for at least 1 example per class (got {per_class}), or None for all of them.")
    g = torch.Generator().manual_seed(seed)
    picks = []
    for c in torch.unique(y):
        rows = torch.nonzero(y == c).flatten()
        if per_class is not None and per_class > len(rows):
            raise ValueError(f"Class {int(c)} has only {len(rows)} examples; asked for {per_class} per class.")
        rows = rows[torch.randperm(len(rows), generator=g)]
        picks.append(rows if per_class is None else rows[:per_class])
    return torch.sort(torch.cat(picks)).values


def printed_digit_images(n: int, presentation: str, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """`n` printed digits in the fonts, augmented like the handwritten ones (wild or clean)."""
    glyphs = printed_digits()
    g = torch.Generator().manual_seed(seed)
    rows = torch.randint(len(glyphs), (n,), generator=g)
    cfg = aug.GLYPHS if presentation == "wild" else aug.NONE
    return aug.augment(glyphs.images[rows], cfg, g), glyphs.labels[rows]
