"""The exercise checkers (`course_utils.exercises`).

Every checker must accept a right answer, reject wrong ones with a message, say "Not done yet" for an
unfinished exercise, and never raise, whatever the learner's code does. Verdicts are read with capsys.
"""

from __future__ import annotations

import copy
import statistics

import pytest
import torch
from torch import nn

from course_utils import exercises as ex
from course_utils import models
from course_utils.models import GlyphNet

# --- helpers --------------------------------------------------------------------------------------


def not_implemented(*args):
    raise NotImplementedError


def returns_none(*args):
    return None


def crashes(*args):
    return {}["missing"]  # KeyError inside the learner's code


def verdict(capsys) -> str:
    return capsys.readouterr().out


def assert_correct(ok: bool, out: str) -> None:
    assert ok, out
    assert "Correct" in out and "Not quite" not in out


def assert_rejected(ok: bool, out: str) -> None:
    assert not ok, out
    assert "Correct" not in out
    assert len(out.strip()) > 20  # a message, not silence


# --- 01.1 transfer --------------------------------------------------------------------------------


def right_transfer(pretrained: GlyphNet, num_classes: int) -> GlyphNet:
    return models.new_head(copy.deepcopy(pretrained), num_classes)


def test_transfer_accepts_a_right_answer(capsys):
    assert_correct(ex.check_transfer(right_transfer), verdict(capsys))


def same_model(pretrained, num_classes):
    return pretrained


def in_place_new_head(pretrained, num_classes):
    return models.new_head(pretrained, num_classes)


def copy_without_new_head(pretrained, num_classes):
    return copy.deepcopy(pretrained)


def from_scratch(pretrained, num_classes):
    return GlyphNet(num_classes, seed=123)


def backbone_reinitialised(pretrained, num_classes):
    model = models.new_head(copy.deepcopy(pretrained), num_classes)
    with torch.no_grad():
        model.block2[0].weight.zero_()
    return model


def not_a_model(pretrained, num_classes):
    return "GlyphNet"


def a_module_without_head(pretrained, num_classes):
    return nn.Linear(3, 3)


@pytest.mark.parametrize(
    "wrong, hint",
    [
        (same_model, "copy"),
        (in_place_new_head, "copy"),
        (copy_without_new_head, "3 classes"),
        (from_scratch, "backbone"),
        (backbone_reinitialised, "backbone"),
        (not_a_model, "Return a GlyphNet"),
        (a_module_without_head, "Return a GlyphNet"),
    ],
)
def test_transfer_rejects_wrong_answers(capsys, wrong, hint):
    ok = ex.check_transfer(wrong)
    out = verdict(capsys)
    assert_rejected(ok, out)
    assert hint in out


@pytest.mark.parametrize("unfinished", [not_implemented, returns_none, None])
def test_transfer_not_done_yet(capsys, unfinished):
    ok = ex.check_transfer(unfinished)
    out = verdict(capsys)
    assert not ok and "Not done yet" in out


def test_transfer_survives_a_crashing_function(capsys):
    ok = ex.check_transfer(crashes)
    out = verdict(capsys)
    assert not ok and "KeyError" in out and "Not done yet" not in out


def wrong_head_width(pretrained, num_classes):
    model = copy.deepcopy(pretrained)
    model.head = nn.Linear(64, num_classes)  # a plausible slip: the wrong number of input features
    return model


def head_removed_from_pretrained(pretrained, num_classes):
    pretrained.head = nn.Identity()  # "cut off the head" on the original, by mistake
    model = copy.deepcopy(pretrained)
    model.head = nn.Linear(128, num_classes)
    return model


@pytest.mark.parametrize("wrong", [wrong_head_width, head_removed_from_pretrained])
def test_transfer_never_raises_when_the_returned_model_is_broken(capsys, wrong):
    ok = ex.check_transfer(wrong)
    assert_rejected(ok, verdict(capsys))


# --- 01.2 transfer types --------------------------------------------------------------------------

RIGHT_TYPES = {"a": "inductive", "b": "transductive", "c": "inductive", "d": "unsupervised"}  # Pan & Yang (2010)


def test_transfer_types_accepts_right_answers(capsys):
    assert_correct(ex.check_transfer_types(RIGHT_TYPES), verdict(capsys))
    shouty = {k: f"  {v.upper()} " for k, v in RIGHT_TYPES.items()}
    assert_correct(ex.check_transfer_types(shouty), verdict(capsys))


def test_scenarios_are_the_ones_checked():
    assert set(ex.TRANSFER_TYPE_SCENARIOS) == set(RIGHT_TYPES)


@pytest.mark.parametrize(
    "answers, hint",
    [
        ({**RIGHT_TYPES, "b": "inductive"}, "1 of 4 wrong. Look again at (b)"),
        ({**RIGHT_TYPES, "a": "transductive", "b": "inductive"}, "2 of 4 wrong"),
        ({"a": "unsupervised", "b": "self-supervised", "c": "transductive", "d": "inductive"}, "4 of 4 wrong"),
        ({**RIGHT_TYPES, "c": "self-supervised"}, "not one of the three settings"),
        ({**RIGHT_TYPES, "d": "inductive"}, "the target has some labels"),
        ({k: v for k, v in RIGHT_TYPES.items() if k != "d"}, "Answer every scenario"),
        ({**RIGHT_TYPES, "e": "inductive"}, "Answer every scenario"),
        ({**RIGHT_TYPES, "c": "self supervised"}, "Unknown type"),
        ({**RIGHT_TYPES, "c": "supervised"}, "Unknown type"),
        ({**RIGHT_TYPES, "c": None}, "Unknown type"),
        ({**RIGHT_TYPES, "c": 3}, "Unknown type"),
        (["inductive", "transductive", "self-supervised", "unsupervised"], "Answer with a dict"),
        ("inductive", "Answer with a dict"),
    ],
)
def test_transfer_types_rejects_wrong_answers(capsys, answers, hint):
    ok = ex.check_transfer_types(answers)
    out = verdict(capsys)
    assert_rejected(ok, out)
    assert hint in out


def test_transfer_types_not_done_yet(capsys):
    assert not ex.check_transfer_types(None)
    assert "Not done yet" in verdict(capsys)


# --- 01.3 transfer gain ---------------------------------------------------------------------------


def right_gain(results, labels_per_class):
    def mean_of(model):
        return statistics.mean(
            r["accuracy"] for r in results if r["model"] == model and r["labels_per_class"] == labels_per_class
        )

    return mean_of("pre-trained") - mean_of("scratch")


def test_transfer_gain_accepts_right_answers(capsys):
    assert_correct(ex.check_transfer_gain(right_gain), verdict(capsys))
    as_tensor = lambda results, k: torch.tensor(right_gain(results, k))  # noqa: E731
    assert_correct(ex.check_transfer_gain(as_tensor), verdict(capsys))


def gain_reversed(results, k):
    return -right_gain(results, k)


def gain_ignores_labels_per_class(results, k):
    pre = [r["accuracy"] for r in results if r["model"] == "pre-trained"]
    scratch = [r["accuracy"] for r in results if r["model"] == "scratch"]
    return statistics.mean(pre) - statistics.mean(scratch)


def gain_first_draw_only(results, k):
    pick = {r["model"]: r["accuracy"] for r in results if r["labels_per_class"] == k and r["draw"] == 0}
    return pick["pre-trained"] - pick["scratch"]


def gain_as_percent(results, k):
    return 100 * right_gain(results, k)


def gain_as_list(results, k):
    return [right_gain(results, k)]


def gain_as_text(results, k):
    return "about a third"


@pytest.mark.parametrize(
    "wrong, hint",
    [
        (gain_reversed, "expected 0.35"),
        (gain_ignores_labels_per_class, "keep only the rows"),
        (gain_first_draw_only, "Average over draws"),
        (gain_as_percent, "expected 0.35"),
        (gain_as_list, "Return one number"),
        (gain_as_text, "Return one number"),
    ],
)
def test_transfer_gain_rejects_wrong_answers(capsys, wrong, hint):
    ok = ex.check_transfer_gain(wrong)
    out = verdict(capsys)
    assert_rejected(ok, out)
    assert hint in out


@pytest.mark.parametrize("unfinished", [not_implemented, returns_none, None])
def test_transfer_gain_not_done_yet(capsys, unfinished):
    assert not ex.check_transfer_gain(unfinished)
    assert "Not done yet" in verdict(capsys)


def test_transfer_gain_survives_a_crashing_function(capsys):
    assert not ex.check_transfer_gain(lambda results, k: 1 / 0)
    out = verdict(capsys)
    assert "ZeroDivisionError" in out and "Not done yet" not in out


def gain_from_empty_selection(results, k):
    """A typo ("pretrained") selects no rows; torch's mean of nothing is NaN."""
    pre = torch.tensor([r["accuracy"] for r in results if r["model"] == "pretrained"])
    return (pre.mean() - 0.5).item()


def test_transfer_gain_rejects_nan(capsys):
    ok = ex.check_transfer_gain(gain_from_empty_selection)
    assert_rejected(ok, verdict(capsys))


# --- all checkers ---------------------------------------------------------------------------------


@pytest.mark.parametrize("checker", [ex.check_transfer, ex.check_transfer_gain])
@pytest.mark.parametrize("error", [ValueError("bad"), RuntimeError("boom"), TypeError("t"), AssertionError()])
def test_checkers_never_raise_on_crashing_learner_code(capsys, checker, error):
    def learner(*args):
        raise error

    assert not checker(learner)
    out = verdict(capsys)
    assert type(error).__name__ in out
