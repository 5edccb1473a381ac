"""Checkers of notebook 01's exercises (what transfer learning is)."""

from __future__ import annotations

import copy
from collections.abc import Callable

import torch

from course_utils.checkpoints import CheckpointError, load_glyphnet
from course_utils.exercises.core import (
    Rejected,
    Verdict,
    check_choices,
    checker,
    describe_error,
    expect_number,
    learner,
    time_limited,
    verdict,
)
from course_utils.models import GlyphNet


def _same(a: torch.Tensor, b: torch.Tensor) -> bool:
    return a.shape == b.shape and a.dtype == b.dtype and a.device == b.device and torch.equal(a, b)


@checker("Return a GlyphNet: a copy of `pretrained` whose head has `num_classes` outputs.")
def check_transfer(transfer: Callable[[GlyphNet, int], GlyphNet]) -> Verdict:
    """Exercise 01.1: `transfer(pretrained, num_classes)` returns a copy of the pre-trained GlyphNet with a fresh
    head; its backbone keeps the pre-trained weights."""
    try:
        pretrained = load_glyphnet()
    except CheckpointError as err:
        raise Rejected(f"❌ This check needs the pre-trained GlyphNet, which did not load. {err}") from None
    before = copy.deepcopy(pretrained.state_dict())
    learned = {name for name, _ in pretrained.named_parameters() if not name.startswith("head")}
    model = learner(transfer, pretrained, 3)
    if not isinstance(model, torch.nn.Module) or not hasattr(model, "head"):
        return verdict(False, f"Return a GlyphNet (got {type(model).__name__}).")
    after = pretrained.state_dict()
    changed = after.keys() != before.keys() or any(not _same(v, after[k]) for k, v in before.items())
    if model is pretrained or changed:
        return verdict(False, "The pre-trained model was changed. Work on a copy: `copy.deepcopy(pretrained)`.")
    try:
        out = time_limited(model.eval(), torch.zeros(2, 1, 28, 28))
    except Exception as err:
        return verdict(
            False,
            f"The new model fails on a batch of images ({describe_error(err)}). "
            f"Its head must take {pretrained.feature_dim} features.",
        )
    if not isinstance(out, torch.Tensor):
        return verdict(
            False, f"The new model returns a {type(out).__name__}, not a tensor of scores: return a GlyphNet."
        )
    if out.shape != (2, 3):
        shape = tuple(out.shape[1:])
        return verdict(False, f"The new model outputs {shape} scores per image; the task has 3 classes.")
    new_state = model.state_dict()
    kept = {k for k, v in before.items() if not k.startswith("head") and k in new_state and _same(v, new_state[k])}
    if not kept & learned:
        return verdict(
            False,
            "This backbone has random weights, not the pre-trained ones: a new GlyphNet has "
            "learned nothing yet. Copy `pretrained` (copy.deepcopy) and replace only its head.",
        )
    if len(kept) < sum(not k.startswith("head") for k in before):
        return verdict(False, "The backbone weights differ from the pre-trained ones: keep them, new head only.")
    return verdict(True, "The backbone is transferred and the head is new: ready to fine-tune.")


TRANSFER_TYPE_SCENARIOS = {
    "a": "A letter classifier is fine-tuned on 5 labelled handwritten digits per class.",
    "b": "A classifier of labelled printed digits is adapted to handwritten digits, which have no labels.",
    "c": "An encoder pre-trained to predict how unlabelled letters were rotated is fine-tuned on 5 labelled "
    "handwritten digits per class.",
    "d": "The same rotation encoder is used to group unlabelled handwritten digits into 10 clusters.",
}
# The settings of Pan & Yang (2010), named by where the labels are. Self-supervised learning is a way to pre-train,
# not a setting: (c) and (d) share one self-supervised encoder and differ in the target's labels.
_TRANSFER_TYPES = {"a": "inductive", "b": "transductive", "c": "inductive", "d": "unsupervised"}
_TYPE_HINTS = {
    "inductive": "the target task differs from the source task and the target has some labels "
    "(whether or not the source had any)",
    "transductive": "the task stays the same, only the domain changes, and labels exist on the source side only",
    "unsupervised": "no labels exist on either side and the target task itself is unsupervised, such as clustering",
    "self-supervised": "naming how an encoder was pre-trained (a pretext task makes labels from the data); "
    "that is not one of the three settings, which ask where the labels are: look at the target side",
}


@checker("Answer with a dict like {'a': 'inductive', ...}, one type per scenario.")
def check_transfer_types(answers: dict[str, str]) -> Verdict:
    """Exercise 01.2: name the transfer setting (Pan & Yang 2010) of each scenario in TRANSFER_TYPE_SCENARIOS."""
    return check_choices(
        answers,
        _TRANSFER_TYPES,
        _TYPE_HINTS,
        "type",
        "All four named. (c) is self-taught learning, the inductive case whose source has no labels.",
    )


@checker("Return one number: the mean pre-trained accuracy minus the mean scratch accuracy.")
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
        expect_number(transfer_gain, (results, k), expected, f"For labels_per_class={k}", hint)
    return verdict(True, "You can now read a learning-curve table like a researcher.")
