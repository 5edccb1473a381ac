"""Checkers of notebook 07's exercises."""

from __future__ import annotations

import torch
from torch import nn

from course_utils import exercises as ex
from course_utils.exercises.core import NOT_DONE


def bn_eval(model):
    for m in model.modules():
        if isinstance(m, nn.modules.batchnorm._BatchNorm):
            m.eval()
    return model


def test_bn_eval_accepts_the_right_answer(capsys):
    assert ex.check_bn_eval(bn_eval)
    assert "Correct" in capsys.readouterr().out


def test_bn_eval_rejects_the_usual_slips(capsys):
    assert not ex.check_bn_eval(lambda m: m.eval())
    assert "Dropout" in capsys.readouterr().out

    def only_2d(model):
        for m in model.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.eval()
        return model

    assert not ex.check_bn_eval(only_2d)
    assert "BatchNorm1d" in capsys.readouterr().out

    def top_level_only(model):
        for m in model.children():
            if isinstance(m, nn.BatchNorm2d):
                m.eval()
        return model

    assert not ex.check_bn_eval(top_level_only)
    assert "still train" in capsys.readouterr().out

    def also_freezes(model):
        bn_eval(model).requires_grad_(False)
        return model

    assert not ex.check_bn_eval(also_freezes)
    assert "requires_grad" in capsys.readouterr().out

    def forgets_return(model):
        bn_eval(model)

    assert not ex.check_bn_eval(forgets_return)
    assert "return" in capsys.readouterr().out


def kept(losses, patience, improves=lambda new, best: new < best):
    best, waited = 0, 0
    for i, loss in enumerate(losses[1:], start=1):
        if improves(loss, losses[best]):
            best, waited = i, 0
        else:
            waited += 1
            if waited == patience:
                break
    return best


def test_early_stopping(capsys):
    assert ex.check_early_stopping(kept)
    assert "Correct" in capsys.readouterr().out
    assert not ex.check_early_stopping(lambda losses, patience: min(range(len(losses)), key=losses.__getitem__))
    assert "overall minimum" in capsys.readouterr().out
    assert not ex.check_early_stopping(lambda losses, patience: kept(losses, patience, lambda new, best: new <= best))
    assert "equal to the best" in capsys.readouterr().out
    assert not ex.check_early_stopping(lambda losses, patience: kept(losses, max(patience - 1, 1)))
    assert "kept checkpoint" in capsys.readouterr().out
    assert not ex.check_early_stopping(lambda losses, patience: "two")
    assert "int" in capsys.readouterr().out


def test_to_model_input(capsys):
    assert ex.check_to_model_input(lambda x: x[:, None].float() / 255)
    assert "Correct" in capsys.readouterr().out
    slips = {
        (lambda x: x.float() / 255): "channel axis",
        (lambda x: x[:, None] / 255.0): "Correct",  # true division of uint8 gives float32: right too
        (lambda x: x[:, None].double() / 255): "float32",
        (lambda x: x[:, None].float()): "divide by 255",
        (lambda x: 1 - x[:, None].float() / 255): "inverted",
        (lambda x: (x[:, None].float() / 255 - 0.5) / 0.5): "Scale each pixel",
        (lambda x: x.tolist()): "torch.Tensor",
    }
    for fn, hint in slips.items():
        assert bool(ex.check_to_model_input(fn)) == (hint == "Correct")
        assert hint in capsys.readouterr().out


def test_unfinished_exercises_are_not_done(capsys):
    def todo(*_args):
        raise NotImplementedError

    for check in (ex.check_bn_eval, ex.check_early_stopping, ex.check_to_model_input):
        assert not check(todo)
        assert NOT_DONE in capsys.readouterr().out
    assert not ex.check_to_model_input(lambda x: torch.zeros(1) / 0 + x.sum())  # a wrong shape is a message too
