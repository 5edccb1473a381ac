"""Checkers of notebook 07's exercises (best practices and pitfalls)."""

from __future__ import annotations

import math
import operator
from collections.abc import Callable, Sequence

import torch
from torch import nn

from course_utils.exercises.core import Verdict, checker, learner, reject, verdict

_BATCHNORMS = (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d)


def _practice_model() -> nn.Module:
    """BatchNorm at two depths and of two kinds, beside modules that must keep training (Dropout)."""
    return nn.Sequential(
        nn.Sequential(nn.Conv2d(1, 4, 3), nn.BatchNorm2d(4), nn.ReLU(), nn.Dropout(0.2)),
        nn.Flatten(),
        nn.Sequential(nn.Linear(4 * 26 * 26, 8), nn.BatchNorm1d(8), nn.Dropout(0.5)),
        nn.Linear(8, 3),
    )


@checker("Return the model you were given, with its BatchNorm layers (only those) in eval mode.")
def check_bn_eval(fn: Callable[[nn.Module], nn.Module]) -> Verdict:
    """Exercise 07.1: `fn(model)` puts every BatchNorm layer of a model that is training into eval mode, leaves
    every other module training, changes no weight's `requires_grad`, and returns the model."""
    model = _practice_model().train()
    grads = [p.requires_grad for p in model.parameters()]
    answer = learner(fn, model)
    if answer is not model:
        return verdict(False, "Return the model you were given (change it in place, then `return model`).")
    bns = [m for m in model.modules() if isinstance(m, _BATCHNORMS)]
    others = [m for m in model.modules() if not isinstance(m, _BATCHNORMS) and not list(m.children())]
    if any(m.training for m in bns):
        kinds = sorted({type(m).__name__ for m in bns if m.training})
        return verdict(
            False,
            f"Some BatchNorm layers still train ({', '.join(kinds)}). Walk `model.modules()`: it "
            "reaches nested layers too; test `isinstance(m, nn.modules.batchnorm._BatchNorm)` "
            "to catch every kind.",
        )
    if not all(m.training for m in others):
        return verdict(
            False,
            "Only the BatchNorm layers go to eval mode: `model.eval()` also switches Dropout off. "
            "Call `.eval()` on each BatchNorm module instead.",
        )
    if [p.requires_grad for p in model.parameters()] != grads:
        return verdict(
            False,
            "Leave `requires_grad` alone: eval mode is about the running statistics, "
            "freezing weights is a separate switch.",
        )
    return verdict(
        True,
        "BatchNorm now normalises with its pre-trained statistics and stops updating them, "
        "while the rest of the network trains.",
    )


_STOPPING_CASES = (  # (validation losses, patience)
    ([1.0, 0.8, 0.7, 0.75, 0.72, 0.71, 0.5], 3),
    ([1.0, 0.8, 0.7, 0.75, 0.72, 0.71, 0.5], 4),
    ([1.0, 0.9, 0.9, 0.9, 0.9, 0.1], 2),
    ([0.5, 0.6, 0.7, 0.8], 1),
    ([3.0, 2.0, 1.0], 2),
)


def _kept_checkpoint(losses: Sequence[float], patience: int, strict: bool = True) -> int:
    best, waited = 0, 0
    for i in range(1, len(losses)):
        if losses[i] < losses[best] or (not strict and losses[i] <= losses[best]):
            best, waited = i, 0
        else:
            waited += 1
            if waited == patience:
                break
    return best


def _as_index(answer: object) -> int:
    """The learner's answer as a list index; reject anything that is not a whole number."""
    if isinstance(answer, (bool, str, bytes)):
        reject(f"Return one index, an int such as 3 (got the {type(answer).__name__} {answer!r:.20}).")
    if isinstance(answer, float):
        if not math.isfinite(answer) or answer != int(answer):
            reject(f"Return one index, an int such as 3 (got {answer}): a checkpoint's index is a whole number.")
        reject(
            f"Return one index as an int, not the float {answer}: val_losses[{answer}] would fail. "
            "Use int(...) or keep the index of the loop."
        )
    try:
        return operator.index(answer)
    except TypeError:
        reject(f"Return one index, an int (got {type(answer).__name__}).")


@checker("Return one index, an int: the position in val_losses of the checkpoint that is kept.")
def check_early_stopping(fn: Callable[[Sequence[float], int], int]) -> Verdict:
    """Exercise 07.2: `fn(val_losses, patience)` is the index of the checkpoint early stopping keeps."""
    for losses, patience in _STOPPING_CASES:
        want = _kept_checkpoint(losses, patience)
        got = _as_index(learner(fn, list(losses), patience))
        if got == want:
            continue
        case = f"With losses {losses} and patience {patience}"
        if got == _kept_checkpoint(losses, patience, strict=False):
            return verdict(
                False,
                f"{case}, a loss equal to the best is not an improvement: count it towards the "
                f"patience (keep index {want}, not {got}).",
            )
        if got == min(range(len(losses)), key=losses.__getitem__):
            return verdict(
                False,
                f"{case} training stops before the lowest loss: you returned the overall minimum "
                f"(index {got}), but early stopping never sees the losses after it stopped. "
                f"Keep {want}.",
            )
        return verdict(
            False,
            f"{case} the kept checkpoint is index {want}, not {got}. Track the best loss and its "
            "index, count evaluations without a strictly lower loss, and stop when the count "
            "reaches `patience`.",
        )
    return verdict(True, "Stop after `patience` evaluations without improvement, and keep the best checkpoint seen.")


@checker("Return a float32 tensor [N, 1, 28, 28] with values from 0 to 1.")
def check_to_model_input(fn: Callable[[torch.Tensor], torch.Tensor]) -> Verdict:
    """Exercise 07.3: `fn(images)` turns 8-bit greyscale images [N, 28, 28] (0..255, uint8) into what GlyphNet
    was trained on: float32 [N, 1, 28, 28] in 0..1."""
    images = torch.randint(0, 256, (5, 28, 28), dtype=torch.uint8, generator=torch.Generator().manual_seed(7))
    images[0, 0, 0], images[0, 0, 1] = 0, 255
    answer = learner(fn, images.clone())
    if not isinstance(answer, torch.Tensor):
        return verdict(False, f"Return a torch.Tensor (got {type(answer).__name__}).")
    if answer.shape != (5, 1, 28, 28):
        return verdict(
            False,
            f"Shape {list(answer.shape)}: GlyphNet wants [N, 1, 28, 28]. Add the channel axis "
            "with `x[:, None]` or `x.unsqueeze(1)`.",
        )
    if answer.dtype != torch.float32:
        return verdict(False, f"dtype {answer.dtype}: convert to float32 (`.float()`) before scaling.")
    want = images[:, None].float() / 255
    if float(answer.max()) > 1.5:
        return verdict(
            False, f"Values go up to {float(answer.max()):.0f}: GlyphNet was pre-trained on 0..1, so divide by 255."
        )
    if torch.allclose(answer, 1 - want, atol=1e-6):
        return verdict(
            False,
            "The images come out inverted: GlyphNet saw bright strokes on a dark background, "
            "like these. Do not flip them.",
        )
    if not torch.allclose(answer, want, atol=1e-6):
        return verdict(False, "Scale each pixel by 1/255, nothing else: 0 stays 0 and 255 becomes 1.")
    return verdict(True, "Same scale, same layout as in pre-training: the features see what they were trained on.")
