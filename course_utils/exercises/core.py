"""What every exercise checker shares: the verdict, safe calls into the learner's code, common checks.

Each ``check_*`` takes the learner's answer, prints one clear verdict with a hint, and returns True
or False. A checker never raises: an unfinished exercise (``raise NotImplementedError``, ``None``)
is reported as "not done yet", and a crash inside the learner's code is reported, not re-raised.
"""

from __future__ import annotations

import math
from collections.abc import Callable

NOT_DONE = "⏳ Not done yet: replace `raise NotImplementedError` with your code, run the cell again."


class Verdict:
    """A checker's result: true when the answer is right. Shows nothing in a notebook (the checker printed)."""

    def __init__(self, ok: bool):
        self.ok = bool(ok)

    def __bool__(self) -> bool:
        return self.ok

    def __eq__(self, other: object) -> bool:
        return self.ok == bool(other) if isinstance(other, (bool, Verdict)) else NotImplemented

    def __hash__(self) -> int:
        return hash(self.ok)

    def __repr__(self) -> str:
        return f"Verdict({self.ok})"

    def _ipython_display_(self) -> None:
        pass


def verdict(ok: bool, message: str) -> Verdict:
    print(("✅ Correct! " if ok else "❌ Not quite. ") + message)
    return Verdict(ok)


def call_learner(fn: Callable, *args):
    """Run the learner's function; return (result, problem message or None)."""
    if fn is None:
        return None, NOT_DONE
    try:
        result = fn(*args)
    except NotImplementedError:
        return None, NOT_DONE
    except Exception as err:  # the learner's code crashed: say so, in one line
        return None, f"❌ Your function raised {type(err).__name__}: {err}"
    if result is None:
        return None, NOT_DONE + " (Your function returned None: did you forget `return`?)"
    return result, None



def learner_number(fn: Callable, *args) -> tuple[float | None, Verdict | None]:
    """Call the learner's `fn(*args)` for one number: (the number, None), or (None, a failing Verdict, printed)."""
    value, problem = call_learner(fn, *args)
    if problem:
        print(problem)
        return None, Verdict(False)
    try:
        return float(value), None
    except (TypeError, ValueError):
        return None, verdict(False, f"Return one number (got {type(value).__name__}).")


def expect_number(fn: Callable, args: tuple, expected: float, case: str, hint: str) -> Verdict | None:
    """Call the learner's `fn(*args)`: a failing Verdict (already printed) unless it returns `expected`, else None."""
    value, failed = learner_number(fn, *args)
    if failed is not None:
        return failed
    if not math.isfinite(value) or abs(value - expected) > 1e-6:
        return verdict(False, f"{case}: expected {expected:.3f}, got {value:.3f}. {hint}")
    return None


def check_choices(answers: object, expected: dict[str, str], fits: dict[str, str], kind: str, success: str) -> Verdict:
    """Shared by the "name the right category for each scenario" exercises.

    `expected` maps scenario keys to categories; `fits` says, per category, when it is the right one.
    """
    if answers is None:
        print(NOT_DONE)
        return Verdict(False)
    example = next(iter(fits))
    if not isinstance(answers, dict):
        return verdict(False, f"Answer with a dict like {{'a': '{example}', ...}} (got {type(answers).__name__}).")
    if set(answers) != set(expected):
        return verdict(False, f"Answer every scenario exactly once: keys {sorted(expected)}.")
    given = {k: str(v).strip().lower() for k, v in answers.items()}
    unknown = sorted({v for v in given.values() if v not in fits})
    if unknown:
        return verdict(False, f"Unknown {kind}(s) {unknown}: use {sorted(fits)}.")
    wrong = sorted(k for k in expected if given[k] != expected[k])
    if wrong:
        k = wrong[0]
        return verdict(False, f"{len(wrong)} of {len(expected)} wrong. Look again at ({k}): {given[k]} fits when "
                               f"{fits[given[k]]}. Does that match the scenario?")
    return verdict(True, success)
