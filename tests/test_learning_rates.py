"""Schedules and the learning-rate range test (`course_utils.learning_rates`)."""

from __future__ import annotations

import math

import pytest
import torch

from course_utils import training
from course_utils.learning_rates import SCHEDULES, lr_find, schedule_factor, steepest_descent
from course_utils.models import GlyphNet


def factors(schedule: str, steps: int = 100, warmup: int = 0) -> list[float]:
    return [schedule_factor(schedule, s, steps, warmup) for s in range(steps)]


def test_schedules_start_at_one_and_have_their_shape():
    assert factors("constant") == [1.0] * 100
    step = factors("step")
    assert step[:50] == [1.0] * 50
    assert step[50:75] == pytest.approx([0.1] * 25) and step[75:] == pytest.approx([0.01] * 25)
    cosine = factors("cosine")
    assert cosine[0] == 1.0 and cosine[50] == pytest.approx(0.5) and 0 < cosine[-1] < 0.001
    assert all(a > b for a, b in zip(cosine[:-1], cosine[1:], strict=True))


def test_warmup_ramps_linearly_then_runs_the_schedule_over_the_rest():
    f = factors("cosine", steps=60, warmup=10)
    assert f[:10] == pytest.approx([(s + 1) / 10 for s in range(10)])
    assert f[10:] == pytest.approx(factors("cosine", steps=50))


@pytest.mark.parametrize("bad", [dict(schedule="linear"), dict(warmup=100), dict(warmup=-1)])
def test_bad_schedule_arguments_say_what_to_do(bad):
    args = dict(schedule="cosine", step=0, steps=100, warmup=0) | bad
    with pytest.raises(ValueError, match="choose one of|warmup must be"):
        schedule_factor(**args)
    with pytest.raises(ValueError):
        training.fit(
            GlyphNet(2, widths=(4, 4, 4, 4)),
            (torch.zeros(4, 1, 28, 28), torch.zeros(4, dtype=torch.long)),
            steps=100,
            lr=1e-3,
            progress=False,
            **{k: v for k, v in bad.items()},
        )


def test_fit_follows_the_schedule_for_every_group(two_blobs):
    net = GlyphNet(2, widths=(4, 8, 8, 8))
    groups = [{"params": net.head.parameters(), "lr": 1e-2}, {"params": net.block1.parameters(), "lr": 1e-3}]
    history = training.fit(net, two_blobs, steps=20, lr=groups, schedule="step", warmup=4, progress=False)
    assert history.lr == pytest.approx([1e-3 * schedule_factor("step", s, 20, 4) for s in range(20)])
    assert SCHEDULES == ("constant", "step", "cosine")


def test_steepest_descent_finds_the_fastest_fall_before_the_minimum():
    lrs = [10 ** (-6 + i / 10) for i in range(61)]
    losses = [2.0 - 1.5 / (1 + math.exp(-(math.log10(lr) + 3) * 3)) for lr in lrs]  # falls fastest at 1e-3
    losses[-10:] = [losses[-11] + i for i in range(1, 11)]  # then blows up
    assert steepest_descent(lrs, losses) == pytest.approx(1e-3, rel=0.3)


def test_lr_find_leaves_the_model_alone_and_stops_on_divergence():
    g = torch.Generator().manual_seed(0)
    noise = torch.rand(64, 1, 28, 28, generator=g), torch.randint(0, 2, (64,), generator=g)  # memorised, then blows up
    net = GlyphNet(2, widths=(4, 8, 8, 8))
    before = {k: v.clone() for k, v in net.state_dict().items()}
    result = lr_find(net, noise, start_lr=1e-5, end_lr=1e3, steps=60, batch_size=16, progress=False)
    assert all(torch.equal(v, before[k]) for k, v in net.state_dict().items())
    assert len(result.lrs) == len(result.losses) < 60  # stopped before the end: 1e3 diverges
    assert result.lrs == sorted(result.lrs) and result.lrs[0] == pytest.approx(1e-5)
    assert result.lrs[0] < result.suggestion < result.lrs[-1]
    assert min(result.losses) < result.losses[0]


def test_lr_find_rejects_bad_input(two_blobs):
    X, y = two_blobs
    net = GlyphNet(2, widths=(4, 8, 8, 8))
    with pytest.raises(ValueError, match="matching"):
        lr_find(net, (X, y[:3]), progress=False)
    with pytest.raises(ValueError, match="start_lr < end_lr"):
        lr_find(net, (X, y), start_lr=1.0, end_lr=1e-3, progress=False)
