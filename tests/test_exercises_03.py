"""Checkers of notebook 03's exercises."""

from __future__ import annotations

import math

from course_utils import exercises as ex
from course_utils import models


def right_groups(net, head_lr, factor):
    return models.param_groups(net, models.discriminative_lrs(net, head_lr, factor))


def test_param_groups_accepts_the_package_answer_and_a_hand_written_one(capsys):
    assert ex.check_param_groups(right_groups)

    def by_hand(net, head_lr, factor):
        names = ["block1", "block2", "block3", "block4", "head"]
        return [
            {"params": list(getattr(net, n).parameters()), "lr": head_lr / factor ** (4 - i)}
            for i, n in enumerate(names)
        ]  # frozen parameters included: harmless

    assert ex.check_param_groups(by_hand)
    assert "Correct" in capsys.readouterr().out


def test_param_groups_rejects_wrong_answers(capsys):
    assert not ex.check_param_groups(lambda net, lr, f: [{"params": list(net.parameters()), "lr": lr}])
    assert "should get" in capsys.readouterr().out  # one LR for everything
    assert not ex.check_param_groups(lambda net, lr, f: right_groups(net, lr, 1 / f))  # reversed
    assert not ex.check_param_groups(lambda net, lr, f: right_groups(net, lr, f)[1:])  # a block left out
    assert "in no group" in capsys.readouterr().out
    assert not ex.check_param_groups(lambda net, lr, f: [*right_groups(net, lr, f), right_groups(net, lr, f)[-1]])
    assert "two groups" in capsys.readouterr().out
    assert not ex.check_param_groups(lambda net, lr, f: {"head": lr})
    assert "list of dicts" in capsys.readouterr().out
    assert not ex.check_param_groups(lambda net, lr, f: [{"lr": lr}])
    assert "'params'" in capsys.readouterr().out


def test_param_groups_not_done(capsys):
    def unfinished(net, head_lr, factor):
        raise NotImplementedError

    assert not ex.check_param_groups(unfinished)
    assert "Not done yet" in capsys.readouterr().out


def cosine(step, steps, base_lr, warmup=0):
    if step < warmup:
        return base_lr * (step + 1) / warmup
    t = (step - warmup) / (steps - warmup)
    return base_lr * 0.5 * (1 + math.cos(math.pi * t))


def test_cosine_schedule_accepts_the_right_function(capsys):
    assert ex.check_cosine_schedule(cosine)
    assert "Correct" in capsys.readouterr().out


def test_cosine_schedule_rejects_wrong_ones_with_a_pointed_hint(capsys):
    assert not ex.check_cosine_schedule(lambda s, n, lr, w: cosine(s, n, lr, 0))  # no warm-up
    assert "warm-up the rate climbs" in capsys.readouterr().out
    assert not ex.check_cosine_schedule(
        lambda s, n, lr, w: lr * 0.5 * (1 + math.cos(math.pi * s / n)) if s >= w else cosine(s, n, lr, w)
    )  # cosine not restarted after warm-up
    assert "base_lr itself" in capsys.readouterr().out
    assert not ex.check_cosine_schedule(
        lambda s, n, lr, w: lr * math.cos(math.pi * s / n) if s >= w else cosine(s, n, lr, w)
    )  # a full cosine period, not half
    assert "t = (step - warmup)" in capsys.readouterr().out
    assert not ex.check_cosine_schedule(lambda s, n, lr, w: "fast")
    assert "one number" in capsys.readouterr().out
    assert not ex.check_cosine_schedule(lambda s, n, lr, w: 1 / 0)
    assert "ZeroDivisionError" in capsys.readouterr().out
