"""Checkers for the notebooks' exercises.

Each ``check_*`` takes the learner's answer, prints one clear verdict with a hint, and returns True
or False. A checker never raises: an unfinished exercise (``raise NotImplementedError``, ``None``)
is reported as "not done yet", and a crash inside the learner's code is reported, not re-raised.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable

import torch

from course_utils.models import GlyphNet, count_parameters, freeze_up_to

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


def _verdict(ok: bool, message: str) -> Verdict:
    print(("✅ Correct! " if ok else "❌ Not quite. ") + message)
    return Verdict(ok)


def _call(fn: Callable, *args):
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



def _expect_number(fn: Callable, args: tuple, expected: float, case: str, hint: str) -> Verdict | None:
    """Call the learner's `fn(*args)`: a failing Verdict (already printed) unless it returns `expected`, else None."""
    value, problem = _call(fn, *args)
    if problem:
        print(problem)
        return Verdict(False)
    try:
        value = float(value)
    except (TypeError, ValueError):
        return _verdict(False, f"Return one number (got {type(value).__name__}).")
    if not math.isfinite(value) or abs(value - expected) > 1e-6:
        return _verdict(False, f"{case}: expected {expected:.3f}, got {value:.3f}. {hint}")
    return None


def _check_choices(answers: object, expected: dict[str, str], fits: dict[str, str], kind: str, success: str) -> Verdict:
    """Shared by the "name the right category for each scenario" exercises.

    `expected` maps scenario keys to categories; `fits` says, per category, when it is the right one.
    """
    if answers is None:
        print(NOT_DONE)
        return Verdict(False)
    example = next(iter(fits))
    if not isinstance(answers, dict):
        return _verdict(False, f"Answer with a dict like {{'a': '{example}', ...}} (got {type(answers).__name__}).")
    if set(answers) != set(expected):
        return _verdict(False, f"Answer every scenario exactly once: keys {sorted(expected)}.")
    given = {k: str(v).strip().lower() for k, v in answers.items()}
    unknown = sorted({v for v in given.values() if v not in fits})
    if unknown:
        return _verdict(False, f"Unknown {kind}(s) {unknown}: use {sorted(fits)}.")
    wrong = sorted(k for k in expected if given[k] != expected[k])
    if wrong:
        k = wrong[0]
        return _verdict(False, f"{len(wrong)} of {len(expected)} wrong. Look again at ({k}): {given[k]} fits when "
                               f"{fits[given[k]]}. Does that match the scenario?")
    return _verdict(True, success)


# --- Notebook 01 -------------------------------------------------------------------------------

def check_transfer(transfer: Callable[[GlyphNet, int], GlyphNet]) -> Verdict:
    """Exercise 01.1: `transfer(pretrained, num_classes)` returns a copy with a fresh head."""
    pretrained = GlyphNet(num_classes=7, seed=1)
    before = copy.deepcopy(pretrained.state_dict())
    model, problem = _call(transfer, pretrained, 3)
    if problem:
        print(problem)
        return Verdict(False)
    if not isinstance(model, torch.nn.Module) or not hasattr(model, "head"):
        return _verdict(False, f"Return a GlyphNet (got {type(model).__name__}).")
    after = pretrained.state_dict()
    changed = after.keys() != before.keys() or any(not torch.equal(v, after[k]) for k, v in before.items())
    if model is pretrained or changed:
        return _verdict(False, "The pre-trained model was changed. Work on a copy: `copy.deepcopy(pretrained)`.")
    try:
        out = model.eval()(torch.zeros(2, 1, 28, 28))
    except Exception as err:
        return _verdict(False, f"The new model fails on a batch of images ({type(err).__name__}: {err}). "
                               f"Its head must take {pretrained.feature_dim} features.")
    if out.shape != (2, 3):
        shape = tuple(out.shape[1:])
        return _verdict(False, f"The new model outputs {shape} scores per image; the task has 3 classes.")
    new_state = model.state_dict()
    kept = all(
        k in new_state and torch.equal(v, new_state[k]) for k, v in before.items() if not k.startswith("head")
    )
    if not kept:
        return _verdict(False, "The backbone weights differ from the pre-trained ones: keep them, new head only.")
    return _verdict(True, "The backbone is transferred and the head is new: ready to fine-tune.")


TRANSFER_TYPE_SCENARIOS = {
    "a": "A model pre-trained to recognise letters is fine-tuned to recognise digits.",
    "b": "A digit classifier trained on printed digits is adapted to handwritten digits, which have no labels.",
    "c": "An encoder learns by predicting how each unlabelled image was rotated; its features are then reused.",
    "d": "Features learned from unlabelled letters are used to group unlabelled handwritten digits into clusters.",
}
_TRANSFER_TYPES = {"a": "inductive", "b": "transductive", "c": "self-supervised", "d": "unsupervised"}
_TYPE_HINTS = {
    "inductive": "the source and target *tasks* differ (and the target has labels)",
    "transductive": "the task is the same, only the domain (the data distribution) changes",
    "self-supervised": "the labels are made from the data itself by a pretext task",
    "unsupervised": "no labels are used on either side: the target task itself is unsupervised",
}


def check_transfer_types(answers: dict[str, str]) -> Verdict:
    """Exercise 01.2: name the type of transfer of each scenario in TRANSFER_TYPE_SCENARIOS."""
    return _check_choices(answers, _TRANSFER_TYPES, _TYPE_HINTS, "type", "All four types named.")


def check_transfer_gain(transfer_gain: Callable[[list[dict], int], float]) -> Verdict:
    """Exercise 01.3: `transfer_gain(results, labels_per_class)` = mean(pre-trained) - mean(scratch)."""
    results = [
        {"labels_per_class": 5, "draw": 0, "model": "pre-trained", "accuracy": 0.70},
        {"labels_per_class": 5, "draw": 1, "model": "pre-trained", "accuracy": 0.80},
        {"labels_per_class": 5, "draw": 0, "model": "scratch", "accuracy": 0.30},
        {"labels_per_class": 5, "draw": 1, "model": "scratch", "accuracy": 0.50},
        {"labels_per_class": 20, "draw": 0, "model": "pre-trained", "accuracy": 0.90},
        {"labels_per_class": 20, "draw": 0, "model": "scratch", "accuracy": 0.80},
    ]
    hint = "Average over draws first, then subtract; keep only the rows with this labels_per_class."
    for k, expected in ((5, 0.35), (20, 0.10)):
        failed = _expect_number(transfer_gain, (results, k), expected, f"For labels_per_class={k}", hint)
        if failed is not None:
            return failed
    return _verdict(True, "You can now read a learning-curve table like a researcher.")


# --- Notebook 02 -------------------------------------------------------------------------------

def check_trainable_fraction(trainable_fraction: Callable[[torch.nn.Module], float]) -> Verdict:
    """Exercise 02.1: `trainable_fraction(net)` = trainable parameters / all parameters."""
    hint = "Count p.numel() for the parameters with p.requires_grad, and divide by the count of all of them."
    for frozen in ("block4", "block2", None):
        net = freeze_up_to(GlyphNet(num_classes=10, seed=0), frozen)
        expected = sum(p.numel() for p in net.parameters() if p.requires_grad) / count_parameters(net, False)
        failed = _expect_number(trainable_fraction, (net,), expected, f"With blocks frozen up to {frozen}", hint)
        if failed is not None:
            return failed
    return _verdict(True, "Feature extraction trains a few percent of the network; fine-tuning trains all of it.")


STRATEGY_SCENARIOS = {
    "a": "3 labelled images per class, a target close to the source, and a laptop.",
    "b": "500 labelled images per class, a target close to the source, and time to train.",
    "c": "100 labelled images per class, and earlier attempts at fine-tuning with a high learning rate were unstable.",
}
_STRATEGIES = {"a": "feature extraction", "b": "fine-tuning", "c": "progressive unfreezing"}
_STRATEGY_HINTS = {
    "feature extraction": "labels are very few: it trains only the head",
    "fine-tuning": "there are enough labels for every layer to adapt safely",
    "progressive unfreezing": "fine-tuning is unstable: it trains the head first and unfreezes blocks one by one",
}


def check_strategy_choices(answers: dict[str, str]) -> Verdict:
    """Exercise 02.2: pick a strategy for each scenario in STRATEGY_SCENARIOS."""
    return _check_choices(
        answers, _STRATEGIES, _STRATEGY_HINTS, "strategy",
        "Match the strategy to the amount of data, and reach for progressive unfreezing when fine-tuning is unstable.",
    )
