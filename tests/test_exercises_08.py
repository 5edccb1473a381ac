"""Checkers of notebook 08's exercises."""

from __future__ import annotations

import torch
from torch import nn

from course_utils import exercises as ex
from course_utils.exercises.core import NOT_DONE


def grey(conv: nn.Conv2d, reduce=lambda w: w.sum(1, keepdim=True), copy_bias: bool = True) -> nn.Conv2d:
    new = nn.Conv2d(1, conv.out_channels, conv.kernel_size, conv.stride, conv.padding, bias=conv.bias is not None)
    with torch.no_grad():
        new.weight.copy_(reduce(conv.weight))
        if conv.bias is not None and copy_bias:
            new.bias.copy_(conv.bias)
    return new


def test_grey_stem(capsys):
    assert ex.check_grey_stem(grey)
    assert "Correct" in capsys.readouterr().out
    slips = {
        (lambda c: grey(c, lambda w: w.mean(1, keepdim=True))): "third",
        (lambda c: grey(c, lambda w: w[:, :1])): "one colour channel",
        (lambda c: grey(c, copy_bias=False)): "bias",
        (lambda c: nn.Conv2d(1, c.out_channels, c.kernel_size, 1, c.padding)): "stride",
        (lambda c: nn.Conv2d(3, c.out_channels, c.kernel_size, c.stride, c.padding)): "in_channels",
        (lambda c: "a layer"): "nn.Conv2d",
    }
    for fn, hint in slips.items():
        assert not ex.check_grey_stem(fn)
        assert hint in capsys.readouterr().out

    def edits_in_place(conv):
        with torch.no_grad():
            conv.weight.mul_(2)
        return grey(conv)

    assert not ex.check_grey_stem(edits_in_place)
    assert "Leave the pre-trained layer" in capsys.readouterr().out


def top_k(logits, k):
    best = torch.softmax(logits, 0).topk(k)
    return best.indices, best.values


def test_top_k(capsys):
    assert ex.check_top_k(top_k)
    assert "Correct" in capsys.readouterr().out
    slips = {
        (lambda lg, k: (lg.topk(k).indices, lg.topk(k).values)): "logits, not probabilities",
        (lambda lg, k: (lg.topk(k).indices, torch.softmax(lg.topk(k).values, 0))): "over all classes",
        (lambda lg, k: tuple(t.flip(0) for t in top_k(lg, k))): "wrong order",
        (lambda lg, k: top_k(lg, min(k + 1, len(lg)))): "exactly",
        (lambda lg, k: (torch.arange(k), torch.ones(k))): "the classes are",
        (lambda lg, k: top_k(lg, k)[0]): "pair",
    }
    for fn, hint in slips.items():
        assert not ex.check_top_k(fn)
        assert hint in capsys.readouterr().out


def test_unfinished_exercises_are_not_done(capsys):
    def todo(*_args):
        raise NotImplementedError

    for check in (ex.check_grey_stem, ex.check_top_k):
        assert not check(todo)
        assert NOT_DONE in capsys.readouterr().out


def mean_pool(hidden, mask):
    m = mask.unsqueeze(-1).float()
    return torch.nn.functional.normalize((hidden * m).sum(1) / m.sum(1), dim=1)


def test_mean_pool(capsys):
    assert ex.check_mean_pool(mean_pool)
    assert "Correct" in capsys.readouterr().out
    slips = {
        (lambda h, m: torch.nn.functional.normalize(h.mean(1), dim=1)): "Padding tokens are averaged in",
        (lambda h, m: (h * m.unsqueeze(-1)).sum(1) / m.sum(1, keepdim=True)): "unit length",
        (lambda h, m: torch.nn.functional.normalize(h[:, 0], dim=1)): "[CLS]",
        (lambda h, m: mean_pool(h, m)[:2]): "shape",
        (lambda h, m: mean_pool(h, m).tolist()): "tensor",
        (lambda h, m: mean_pool(h, m) * 2): "Average the token vectors",
    }
    for fn, hint in slips.items():
        assert not ex.check_mean_pool(fn)
        assert hint in capsys.readouterr().out
    assert not ex.check_mean_pool(None)
    assert NOT_DONE in capsys.readouterr().out
