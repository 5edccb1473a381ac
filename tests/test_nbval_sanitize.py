"""The nbval sanitizers hide only what truly varies between runs (timings, speed ratios, progress bars)."""

from __future__ import annotations

import configparser
import re
from pathlib import Path

import pytest

CONFIG = Path(__file__).with_name("nbval_sanitize.cfg")


def sanitize(text: str) -> str:
    parser = configparser.ConfigParser()
    parser.read(CONFIG, encoding="utf-8")
    for section in parser.sections():
        text = re.sub(parser[section]["regex"], parser[section]["replace"], text)
    return text


@pytest.mark.parametrize(
    ("raw", "shown"),
    [
        ("time: 1.85 s vs 0.06 s, cached is 30.8× faster", "time: <time> vs <time>, cached is <ratio>× faster"),
        ("at <0x7f3a2b1c4d50>", "at <<address>>"),
        ("training:  40%|████      | 32/80 [00:01<00:02, 20.1it/s]", "<progress bar>"),
        (
            "the cache took 8 s once, about 20 such steps; the runs above: 268 steps",
            "the cache took <time> once, about <n> such steps; the runs above: 268 steps",
        ),
    ],
)
def test_what_varies_is_hidden(raw, shown):
    assert sanitize(raw) == shown


@pytest.mark.parametrize(
    "kept",
    ["Sorting 28×28 grey scans", "Clean, centred 8×8 handwritten digits", "about **100×** higher", "3 × 10⁻³"],
)
def test_sizes_and_factors_that_are_part_of_the_lesson_are_compared(kept):
    assert sanitize(kept) == kept
