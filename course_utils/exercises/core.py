"""What every exercise checker shares: the verdict, safe calls into the learner's code, common checks.

Each ``check_*`` takes the learner's answer, prints one clear verdict with a hint, and returns a `Verdict`.
A checker never raises and never hangs: it is wrapped in `checker`, and calls the learner's code through
`learner`, which reports an unfinished exercise (``raise NotImplementedError``, ``None``) as "not done yet",
a crash in one line, and stops code that runs longer than `TIME_LIMIT_S`.
"""

from __future__ import annotations

import functools
import math
import numbers
from collections.abc import Callable
from typing import Any, NoReturn

import torch

from course_utils.exercises.time_limit import TimeLimitExceeded, call_with_time_limit

NOT_DONE = "⏳ Not done yet: replace `raise NotImplementedError` with your code, run the cell again."
NOT_ANSWERED = "⏳ Not done yet: replace `None` with your answers, run the cell again."
TIME_LIMIT_S = 30  # seconds the learner's code may run in one call before it is stopped


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


class Rejected(Exception):
    """Ends a checker with a failing verdict; `checker` prints `line`, the one line the learner reads."""

    def __init__(self, line: str):
        super().__init__(line)
        self.line = line


def _verdict_line(ok: bool, message: str) -> str:
    return ("✅ Correct! " if ok else "❌ Not quite. ") + message


def verdict(ok: bool, message: str) -> Verdict:
    """Print the verdict line and return it as a `Verdict`."""
    print(_verdict_line(ok, message))
    return Verdict(ok)


def reject(message: str) -> NoReturn:
    """End the running checker with "❌ Not quite. `message`"."""
    raise Rejected(_verdict_line(False, message))


def describe_error(err: BaseException) -> str:
    """An exception in one short line: its type and the first line of its message."""
    lines = [line.strip() for line in str(err).splitlines() if line.strip()]
    text = lines[0] if lines else ""
    text = text if len(text) <= 200 else text[:197] + "..."
    return f"{type(err).__name__}: {text}" if text else type(err).__name__


def time_limit_message() -> str:
    """What the learner reads when their code was stopped after TIME_LIMIT_S."""
    return f"❌ Your function ran for over {TIME_LIMIT_S:g} s and was stopped: look for a loop that never ends."


def time_limited(fn: Callable, *args: Any) -> Any:
    """`fn(*args)` for code the learner wrote indirectly (a returned model's forward), stopped after TIME_LIMIT_S."""
    return call_with_time_limit(fn, args, TIME_LIMIT_S)


def learner(fn: Callable | None, *args: Any) -> Any:
    """What the learner's `fn(*args)` returns. If it is unfinished, crashes, runs too long or returns None,
    raise `Rejected` with the line to show instead (`checker` prints it)."""
    if fn is None:
        raise Rejected(NOT_DONE)
    if not callable(fn):
        reject(f"Pass your function itself, like `check(my_function)` (got {type(fn).__name__}).")
    try:
        result = time_limited(fn, *args)
    except NotImplementedError:
        raise Rejected(NOT_DONE) from None
    except TimeLimitExceeded:
        raise Rejected(time_limit_message()) from None
    except Exception as err:  # the learner's code crashed: say so, in one line
        raise Rejected(f"❌ Your function raised {describe_error(err)}") from None
    if result is None:
        raise Rejected(NOT_DONE + " (Your function returned None: did you forget `return`?)")
    return result


def checker(returns: str) -> Callable[[Callable[..., Verdict]], Callable[..., Verdict]]:
    """Make a `check_*` function safe: whatever happens, it prints one verdict line and returns a `Verdict`.

    `returns` says what a right answer looks like; it ends the hint when the answer breaks the checker's own
    comparison in a way the checker did not foresee.
    """

    def wrap(check: Callable[..., Verdict]) -> Callable[..., Verdict]:
        @functools.wraps(check)
        def safe_check(*args: Any, **kwargs: Any) -> Verdict:
            try:
                return check(*args, **kwargs)
            except Rejected as rejected:
                print(rejected.line)
            except TimeLimitExceeded:
                print(time_limit_message())
            except Exception as err:  # a slip the checker did not foresee: a hint, never a traceback
                reason = describe_error(err).rstrip(".")
                print(_verdict_line(False, f"Your answer could not be checked ({reason}). {returns}"))
            return Verdict(False)

        return safe_check

    return wrap


def learner_number(fn: Callable, *args: Any) -> float:
    """The one number the learner's `fn(*args)` returns (a Python number or a one-element tensor)."""
    value = learner(fn, *args)
    shape = getattr(value, "shape", None)
    got = type(value).__name__ + (f" of shape {list(shape)}" if shape is not None else "")
    if isinstance(value, (str, bytes, bool)):
        reject(f"Return one number (got {got}).")
    try:
        return float(value)
    except OverflowError:
        reject("Return one number: yours is too large to compare.")
    except (TypeError, ValueError, RuntimeError):
        reject(f"Return one number (got {got}).")


def expect_number(fn: Callable, args: tuple, expected: float, case: str, hint: str) -> None:
    """Reject unless the learner's `fn(*args)` returns `expected`."""
    value = learner_number(fn, *args)
    if not math.isfinite(value) or abs(value - expected) > 1e-6:
        reject(f"{case}: expected {expected:.3f}, got {value:.3f}. {hint}")


def is_number(value: object) -> bool:
    """A real number such as 3 or 0.01, not a bool."""
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def to_tensor(value: object, what: str) -> torch.Tensor:
    """`value` (a tensor, a NumPy array, a list of numbers) as a tensor; reject anything else."""
    try:
        return torch.as_tensor(value)
    except (TypeError, ValueError, RuntimeError):
        reject(
            f"Return {what} as a tensor (or a list of numbers, all rows of the same length); "
            f"got {type(value).__name__}."
        )


def as_indices(value: object, what: str) -> torch.Tensor:
    """`value` as a flat tensor of integer positions (torch.long); reject masks, floats and non-numbers."""
    t = to_tensor(value, what)
    if t.dtype == torch.bool:
        reject(f"{what} is a True/False mask: return the positions instead, e.g. torch.nonzero(mask).flatten().")
    if t.is_floating_point() or t.is_complex():
        reject(f"{what} must be whole numbers (torch.long), not {t.dtype}: a float cannot index a tensor.")
    return t.long().flatten()


def check_choices(
    answers: object, expected: dict[str, str | tuple[str, ...]], fits: dict[str, str], kind: str, success: str
) -> Verdict:
    """Shared by the "name the right category for each scenario" exercises.

    `expected` maps scenario keys to a category, or to a tuple of categories an expert would all accept;
    `fits` says, per category, when it is the right one.
    """
    if answers is None:
        raise Rejected(NOT_ANSWERED)
    example = next(iter(fits))
    if not isinstance(answers, dict):
        reject(f"Answer with a dict like {{'a': '{example}', ...}} (got {type(answers).__name__}).")
    if set(answers) != set(expected):
        reject(f"Answer every scenario exactly once: keys {sorted(expected)}.")
    given = {k: str(v).strip().lower() for k, v in answers.items()}
    unknown = sorted({v for v in given.values() if v not in fits})
    if unknown:
        reject(f"Unknown {kind}(s) {unknown}: use {sorted(fits)}.")
    accepted = {k: (v,) if isinstance(v, str) else tuple(v) for k, v in expected.items()}
    wrong = sorted(k for k in expected if given[k] not in accepted[k])
    if wrong:
        k = wrong[0]
        reject(
            f"{len(wrong)} of {len(expected)} wrong. Look again at ({k}): {given[k]} fits when "
            f"{fits[given[k]]}. Does that match the scenario?"
        )
    return verdict(True, success)
