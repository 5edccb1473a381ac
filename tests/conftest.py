"""Shared fixtures: the glyph corpus and the digits are loaded once per test session.

The corpus comes from the default cache (``data/cache``), which is rebuilt automatically if missing.
Tests must not modify what these fixtures return.

The tests use one CPU thread: their tensors are tiny, and on a busy 2-core machine two threads spend
most of their time waiting for each other (a 10x slowdown). Speed checks are ratios, so they hold either way.
"""

from __future__ import annotations

import pytest
import torch

from course_utils import digits, glyphs

torch.set_num_threads(1)


@pytest.fixture(scope="session")
def corpus() -> glyphs.GlyphSet:
    return glyphs.load_corpus()


@pytest.fixture(scope="session")
def background() -> glyphs.GlyphSet:
    return glyphs.background_alphabets()


@pytest.fixture(scope="session")
def wild() -> digits.DigitSplit:
    return digits.handwritten_digits("wild")


@pytest.fixture(scope="session")
def clean() -> digits.DigitSplit:
    return digits.handwritten_digits("clean")


@pytest.fixture
def two_blobs() -> tuple[torch.Tensor, torch.Tensor]:
    """A tiny separable problem: class 0 has ink in the left half, class 1 in the right half."""
    g = torch.Generator().manual_seed(0)
    y = torch.arange(64) % 2
    X = 0.1 * torch.rand(64, 1, 28, 28, generator=g)
    X[y == 0, :, :, :14] += 0.8
    X[y == 1, :, :, 14:] += 0.8
    return X, y
