"""Checkers of notebook 03's exercises (fine-tuning techniques)."""

from __future__ import annotations

import math
from collections.abc import Callable

import torch

from course_utils.exercises.core import Verdict, checker, is_number, learner, learner_number, verdict
from course_utils.learning_rates import schedule_factor
from course_utils.models import BLOCKS, GlyphNet, freeze_up_to


def _group_types_problem(params: object, lr: object) -> str | None:
    """What is wrong with the types of one group's 'params' and 'lr', or None."""
    if isinstance(params, torch.nn.Module):
        return "'params' holds the block itself: give its parameters, list(net.block1.parameters())."
    if isinstance(params, torch.Tensor):
        return "'params' is a single tensor: give the list of the block's parameters, list(net.block1.parameters())."
    if not isinstance(params, (list, tuple)):
        return (
            f"'params' must be a list of parameters (got {type(params).__name__}). A generator such as "
            "net.block1.parameters() is used up after one pass: wrap it in list(...)."
        )
    odd = next((p for p in params if not isinstance(p, torch.Tensor)), None)
    if odd is not None:
        return f"'params' must hold the parameters themselves (tensors), not a {type(odd).__name__}."
    if not (is_number(lr) or (isinstance(lr, torch.Tensor) and lr.numel() == 1 and lr.is_floating_point())):
        return f"'lr' must be a number such as 0.001 (got {lr!r:.30}, a {type(lr).__name__})."
    return None


def _groups_problem(groups: object, net: GlyphNet, head_lr: float, factor: float) -> str | None:
    """What is wrong with `groups` as differential-LR parameter groups for `net`, or None."""
    if not isinstance(groups, list) or not all(isinstance(g, dict) for g in groups):
        return f"Return a list of dicts like [{{'params': [...], 'lr': 0.001}}, ...] (got {type(groups).__name__})."
    if any("params" not in g or "lr" not in g for g in groups):
        return "Every group needs two keys: 'params' (a list of parameters) and 'lr' (a number)."
    for g in groups:
        problem = _group_types_problem(g["params"], g["lr"])
        if problem:
            return problem
    lr_of = {}
    for g in groups:
        for p in g["params"]:
            if id(p) in lr_of:
                return "A parameter appears in two groups; the optimizer refuses that. Give each block its own group."
            lr_of[id(p)] = g["lr"]
    names = [*BLOCKS, "head"]
    for depth, name in enumerate(names):
        expected = head_lr / factor ** (len(names) - 1 - depth)
        for p in getattr(net, name).parameters():
            if not p.requires_grad:
                continue
            if id(p) not in lr_of:
                return f"The trainable parameters of {name} are in no group: they would never train."
            if not math.isclose(float(lr_of[id(p)]), expected, rel_tol=1e-6):
                return (
                    f"With head_lr={head_lr:g} and factor={factor:g}, {name} should get {expected:.3g} "
                    f"(got {float(lr_of[id(p)]):.3g}). Divide by `factor` once per block below the head."
                )
    try:
        torch.optim.AdamW(groups)
    except (TypeError, ValueError) as err:
        return f"torch.optim.AdamW does not accept these groups: {err}"
    return None


@checker("Return a list of dicts like [{'params': [...], 'lr': 0.001}, ...], one per block.")
def check_param_groups(make_groups: Callable[[GlyphNet, float, float], list[dict]]) -> Verdict:
    """Exercise 03.1: `make_groups(net, head_lr, factor)`: one group per block, lr shrinking by `factor` per block."""
    for head_lr, factor, frozen in ((1e-2, 3.0, None), (3e-3, 10.0, None), (1e-3, 2.0, "block2")):
        net = freeze_up_to(GlyphNet(num_classes=10, seed=0), frozen)
        groups = learner(make_groups, net, head_lr, factor)
        problem = _groups_problem(groups, net, head_lr, factor)
        if problem:
            frozen_note = f", blocks frozen up to {frozen}" if frozen else ""
            return verdict(False, f"{problem} (case head_lr={head_lr:g}, factor={factor:g}{frozen_note})")
    return verdict(
        True, "The head gets the largest rate and each block below a smaller one: differential learning rates."
    )


@checker("Return one number: the learning rate at `step`.")
def check_cosine_schedule(cosine_lr: Callable[[int, int, float, int], float]) -> Verdict:
    """Exercise 03.2: `cosine_lr(step, steps, base_lr, warmup)`, linear warm-up then cosine annealing to 0."""
    for steps, base_lr, warmup in ((100, 1e-3, 0), (50, 0.1, 10), (7, 2.0, 1)):
        for step in range(steps):
            expected = base_lr * schedule_factor("cosine", step, steps, warmup)
            value = learner_number(cosine_lr, step, steps, base_lr, warmup)
            if not math.isclose(value, expected, rel_tol=1e-6, abs_tol=1e-12):
                if step < warmup:
                    hint = "During warm-up the rate climbs linearly: base_lr * (step + 1) / warmup."
                elif step == warmup:
                    hint = "Right after warm-up (or at step 0 without warm-up) the rate is base_lr itself."
                else:
                    hint = (
                        "After warm-up, t = (step - warmup) / (steps - warmup) goes from 0 towards 1 and "
                        "the rate is base_lr * 0.5 * (1 + cos(pi * t))."
                    )
                return verdict(
                    False,
                    f"steps={steps}, warmup={warmup}, base_lr={base_lr:g}: at step {step} expected "
                    f"{expected:.4g}, got {value:.4g}. {hint}",
                )
    return verdict(
        True,
        "Warm-up keeps the first steps small while the head is still random; the cosine lets the last steps settle.",
    )
