"""A lesson's asserted claims, each with the margin it holds by.

A notebook states a claim as ``claim("fine-tuning beats feature extraction with all labels", ft, fe)``: it holds
when the first number is above the second (``above=False``: below it). The margin (how far past the bound the
measurement landed) is what says whether the claim is solid: ``bench/run_notebooks.py --seeds`` collects every
claim's margin per seed into ``bench/CLAIMS.md``, and the course keeps at least 2 points (0.02) of margin on
seeds 0-3. A check that cannot fail (two implementations agree) stays a plain ``assert``; it is not a claim.

When the environment variable ``COURSE_CLAIMS_LOG`` names a file, each claim appends one JSON line to it.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

CLAIMS_LOG = "COURSE_CLAIMS_LOG"


class ClaimFailed(AssertionError):
    """A lesson's claim did not hold for this run."""


class Margin(float):
    """A claim's margin: a plain number that a notebook cell does not echo.

    A claim is usually a cell's last line; its margin shows where the lesson prints it
    (``print(f"{lead:+.2f}")``), not as an unrounded number under the cell.
    """

    def _ipython_display_(self) -> None:
        """Show nothing when a cell ends with a claim."""


def claim(statement: str, value: float, bound: float, *, above: bool = True) -> Margin:
    """Assert that `value` is above `bound` (below it with ``above=False``); return the margin.

    The margin is ``value - bound`` (``bound - value`` with ``above=False``), in the claim's own units: for
    accuracies, 0.02 is 2 points. A failed claim raises `ClaimFailed` with the statement and both numbers.
    """
    if not isinstance(statement, str) or not statement.strip():
        raise TypeError("claim(statement, value, bound): the statement is the sentence the numbers must support")
    try:
        value, bound = float(value), float(bound)
    except (TypeError, ValueError) as error:
        raise TypeError(f"claim({statement!r}, ...): value and bound must be numbers ({error})") from None
    margin = value - bound if above else bound - value
    _record(statement, value, bound, above, margin)
    if not margin > 0 or math.isnan(margin):
        side = "above" if above else "below"
        raise ClaimFailed(f"{statement}: {value:.4g} should be {side} {bound:.4g}, and is not")
    return Margin(margin)


def _record(statement: str, value: float, bound: float, above: bool, margin: float) -> None:
    """Append the claim to COURSE_CLAIMS_LOG when it is set (never fails the lesson over a log file)."""
    target = os.environ.get(CLAIMS_LOG)
    if not target:
        return
    row = {"statement": statement, "value": value, "bound": bound, "above": above, "margin": margin}
    try:
        with Path(target).open("a", encoding="utf-8") as log:
            log.write(json.dumps(row) + "\n")
    except OSError:
        pass


def read_log(path: Path | str) -> list[dict]:
    """The claims a run recorded, in order (empty when the file is missing)."""
    path = Path(path)
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
