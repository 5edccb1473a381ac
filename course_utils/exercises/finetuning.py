"""Checkers of notebook 03's exercises (fine-tuning techniques)."""

from __future__ import annotations

import math
from collections.abc import Callable

import torch

from course_utils.exercises.core import Verdict, call_learner, learner_number, verdict
from course_utils.learning_rates import schedule_factor
from course_utils.models import BLOCKS, GlyphNet, freeze_up_to


def _groups_problem(groups: object, net: GlyphNet, head_lr: float, factor: float) -> str | None:
    """What is wrong with `groups` as differential-LR parameter groups for `net`, or None."""
    if not isinstance(groups, list) or not all(isinstance(g, dict) for g in groups):
        return f"Return a list of dicts like [{{'params': [...], 'lr': 0.001}}, ...] (got {type(groups).__name__})."
    if any("params" not in g or "lr" not in g for g in groups):
        return "Every group needs two keys: 'params' (a list of parameters) and 'lr' (a number)."
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
                return (f"With head_lr={head_lr:g} and factor={factor:g}, {name} should get {expected:.3g} "
                        f"(got {float(lr_of[id(p)]):.3g}). Divide by `factor` once per block below the head.")
    try:
        torch.optim.AdamW(groups)
    except (TypeError, ValueError) as err:
        return f"torch.optim.AdamW does not accept these groups: {err}"
    return None


def check_param_groups(make_groups: Callable[[GlyphNet, float, float], list[dict]]) -> Verdict:
    """Exercise 03.1: `make_groups(net, head_lr, factor)`: one group per block, lr shrinking by `factor` per block."""
    for head_lr, factor, frozen in ((1e-2, 3.0, None), (3e-3, 10.0, None), (1e-3, 2.0, "block2")):
        net = freeze_up_to(GlyphNet(num_classes=10, seed=0), frozen)
        groups, problem = call_learner(make_groups, net, head_lr, factor)
        if problem:
            print(problem)
            return Verdict(False)
        problem = _groups_problem(groups, net, head_lr, factor)
        if problem:
            frozen_note = f", blocks frozen up to {frozen}" if frozen else ""
            return verdict(False, f"{problem} (case head_lr={head_lr:g}, factor={factor:g}{frozen_note})")
    return verdict(True, "The head learns fastest and block1 barely moves: that is a differential learning rate.")


def check_cosine_schedule(cosine_lr: Callable[[int, int, float, int], float]) -> Verdict:
    """Exercise 03.2: `cosine_lr(step, steps, base_lr, warmup)`, linear warm-up then cosine annealing to 0."""
    for steps, base_lr, warmup in ((100, 1e-3, 0), (50, 0.1, 10), (7, 2.0, 1)):
        for step in range(steps):
            expected = base_lr * schedule_factor("cosine", step, steps, warmup)
            value, failed = learner_number(cosine_lr, step, steps, base_lr, warmup)
            if failed is not None:
                return failed
            if not math.isclose(value, expected, rel_tol=1e-6, abs_tol=1e-12):
                if step < warmup:
                    hint = "During warm-up the rate climbs linearly: base_lr * (step + 1) / warmup."
                elif step == warmup:
                    hint = "Right after warm-up (or at step 0 without warm-up) the rate is base_lr itself."
                else:
                    hint = ("After warm-up, t = (step - warmup) / (steps - warmup) goes from 0 towards 1 and "
                            "the rate is base_lr * 0.5 * (1 + cos(pi * t)).")
                return verdict(False, f"steps={steps}, warmup={warmup}, base_lr={base_lr:g}: at step {step} expected "
                                      f"{expected:.4g}, got {value:.4g}. {hint}")
    return verdict(True, "Warm-up protects the pre-trained weights from the first noisy steps; the cosine "
                         "lets the last steps settle.")
