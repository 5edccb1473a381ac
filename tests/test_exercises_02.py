"""Checkers of notebook 02's exercises."""

from __future__ import annotations

from course_utils import exercises as ex
from course_utils.models import GlyphNet


def _fraction(net):
    return sum(p.numel() for p in net.parameters() if p.requires_grad) / sum(p.numel() for p in net.parameters())


def test_trainable_fraction_accepts_the_right_function(capsys):
    assert ex.check_trainable_fraction(_fraction)
    assert "Correct" in capsys.readouterr().out


def test_trainable_fraction_rejects_wrong_answers(capsys):
    assert not ex.check_trainable_fraction(lambda net: 1.0)  # ignores freezing
    assert "block4" in capsys.readouterr().out
    assert not ex.check_trainable_fraction(lambda net: sum(p.requires_grad for p in net.parameters()) / 10)
    assert not ex.check_trainable_fraction(lambda net: "half")
    assert "one number" in capsys.readouterr().out


def test_trainable_fraction_not_done_and_crash(capsys):
    def unfinished(net):
        raise NotImplementedError

    assert not ex.check_trainable_fraction(unfinished)
    assert "Not done yet" in capsys.readouterr().out
    assert not ex.check_trainable_fraction(lambda net: net.missing_attribute)
    assert "AttributeError" in capsys.readouterr().out


def test_strategy_choices(capsys):
    right = {"a": "feature extraction", "b": "fine-tuning", "c": "progressive unfreezing"}
    assert ex.check_strategy_choices(right)
    assert ex.check_strategy_choices({k: v.upper() for k, v in right.items()})  # case does not matter
    assert not ex.check_strategy_choices({**right, "a": "fine-tuning"})
    assert "Look again at (a)" in capsys.readouterr().out.splitlines()[-1]
    assert ex.check_strategy_choices({**right, "c": "fine-tuning"})  # at a lower rate: an expert answer too
    assert not ex.check_strategy_choices({**right, "c": "feature extraction"})
    assert not ex.check_strategy_choices({**right, "c": "magic"})
    assert "Unknown strategy" in capsys.readouterr().out
    assert not ex.check_strategy_choices({"a": "fine-tuning"})
    assert not ex.check_strategy_choices(None)
    assert "Not done yet" in capsys.readouterr().out
    assert not ex.check_strategy_choices(["feature extraction"])


def test_checker_network_matches_glyphnet_default():
    assert _fraction(GlyphNet(num_classes=10)) == 1.0
