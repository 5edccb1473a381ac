"""Checkers of notebook 01's exercises (what transfer learning is)."""

from __future__ import annotations

import copy
from collections.abc import Callable

import torch

from course_utils.exercises.core import Verdict, call_learner, check_choices, expect_number, verdict
from course_utils.models import GlyphNet


def check_transfer(transfer: Callable[[GlyphNet, int], GlyphNet]) -> Verdict:
    """Exercise 01.1: `transfer(pretrained, num_classes)` returns a copy with a fresh head."""
    pretrained = GlyphNet(num_classes=7, seed=1)
    before = copy.deepcopy(pretrained.state_dict())
    model, problem = call_learner(transfer, pretrained, 3)
    if problem:
        print(problem)
        return Verdict(False)
    if not isinstance(model, torch.nn.Module) or not hasattr(model, "head"):
        return verdict(False, f"Return a GlyphNet (got {type(model).__name__}).")
    after = pretrained.state_dict()
    changed = after.keys() != before.keys() or any(not torch.equal(v, after[k]) for k, v in before.items())
    if model is pretrained or changed:
        return verdict(False, "The pre-trained model was changed. Work on a copy: `copy.deepcopy(pretrained)`.")
    try:
        out = model.eval()(torch.zeros(2, 1, 28, 28))
    except Exception as err:
        return verdict(False, f"The new model fails on a batch of images ({type(err).__name__}: {err}). "
                               f"Its head must take {pretrained.feature_dim} features.")
    if out.shape != (2, 3):
        shape = tuple(out.shape[1:])
        return verdict(False, f"The new model outputs {shape} scores per image; the task has 3 classes.")
    new_state = model.state_dict()
    kept = all(
        k in new_state and torch.equal(v, new_state[k]) for k, v in before.items() if not k.startswith("head")
    )
    if not kept:
        return verdict(False, "The backbone weights differ from the pre-trained ones: keep them, new head only.")
    return verdict(True, "The backbone is transferred and the head is new: ready to fine-tune.")


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
    return check_choices(answers, _TRANSFER_TYPES, _TYPE_HINTS, "type", "All four types named.")


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
        failed = expect_number(transfer_gain, (results, k), expected, f"For labels_per_class={k}", hint)
        if failed is not None:
            return failed
    return verdict(True, "You can now read a learning-curve table like a researcher.")
