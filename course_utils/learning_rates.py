"""Learning rates for fine-tuning: schedules (constant, step, cosine, warm-up) and the LR range test."""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn
from tqdm.auto import tqdm

from course_utils.models import device_of

SCHEDULES = ("constant", "step", "cosine")


def schedule_factor(schedule: str, step: int, steps: int, warmup: int = 0) -> float:
    """The multiplier of the base learning rate at `step` (0-based) of `steps`.

    With `warmup`, the first `warmup` steps ramp linearly up to 1 and the schedule runs over the
    steps that remain. "constant" keeps 1; "step" divides by 10 half-way and again at three
    quarters; "cosine" anneals from 1 to 0 along half a cosine.
    """
    if schedule not in SCHEDULES:
        raise ValueError(f"Unknown schedule {schedule!r}: choose one of {SCHEDULES}.")
    if not 0 <= warmup < steps:
        raise ValueError(f"warmup must be between 0 and steps - 1 = {steps - 1} (got {warmup}).")
    if step < warmup:
        return (step + 1) / warmup
    t = (step - warmup) / (steps - warmup)  # progress through the schedule, from 0 towards 1
    if schedule == "constant":
        return 1.0
    if schedule == "step":
        return 0.1 ** ((t >= 0.5) + (t >= 0.75))
    return 0.5 * (1 + math.cos(math.pi * t))


@dataclass
class LRFinderResult:
    """What the range test saw: the learning rates tried, the smoothed loss at each, and the suggestion."""

    lrs: list[float]
    losses: list[float]
    suggestion: float

    def plot(self, ax=None):
        """Smoothed loss against learning rate (log scale), with the suggestion marked."""
        import matplotlib.pyplot as plt

        ax = ax or plt.gca()
        ax.plot(self.lrs, self.losses)
        ax.axvline(self.suggestion, color="black", ls="--", lw=1, label=f"suggestion {self.suggestion:.1e}")
        ax.set(
            xscale="log",
            xlabel="learning rate (log scale)",
            ylabel="smoothed training loss",
            title="Learning-rate range test",
        )
        ax.legend()
        return ax


def lr_find(
    model: nn.Module,
    data: tuple[torch.Tensor, torch.Tensor],
    *,
    start_lr: float = 1e-6,
    end_lr: float = 1.0,
    steps: int = 100,
    batch_size: int = 64,
    beta: float = 0.9,
    diverge: float = 4.0,
    seed: int = 0,
    progress: bool = True,
) -> LRFinderResult:
    """The learning-rate range test (Smith, 2017) on a copy of `model`; the model itself is unchanged.

    The learning rate grows exponentially from `start_lr` to `end_lr`, one mini-batch per step. The
    loss is smoothed with an exponential moving average and the test stops once it exceeds `diverge`
    times its minimum. The suggestion is where the smoothed loss falls fastest (steepest slope
    against log learning rate) before its minimum: large enough to learn quickly, well below the
    rates where training blows up. The copy computes on the model's device; the batches are drawn on the CPU.
    """
    from course_utils.training import make_optimizer  # here: `training` imports this module

    X, y = data
    if len(X) != len(y) or len(X) == 0:
        raise ValueError(f"lr_find needs matching, non-empty X and y (got {len(X)} images and {len(y)} labels).")
    if not 0 < start_lr < end_lr:
        raise ValueError(f"Need 0 < start_lr < end_lr (got {start_lr} and {end_lr}).")
    net, device = copy.deepcopy(model).train(), device_of(model)
    opt = make_optimizer(net, start_lr)
    g = torch.Generator().manual_seed(seed)
    gamma = (end_lr / start_lr) ** (1 / max(steps - 1, 1))
    lrs, losses, avg, best = [], [], 0.0, math.inf
    for step in tqdm(range(steps), desc="LR range test", disable=not progress, leave=False):
        lr = start_lr * gamma**step
        for group in opt.param_groups:
            group["lr"] = lr
        rows = torch.randint(len(X), (min(batch_size, len(X)),), generator=g)
        loss = F.cross_entropy(net(X[rows].to(device)), y[rows].to(device))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        avg = beta * avg + (1 - beta) * loss.item()
        smoothed = avg / (1 - beta ** (step + 1))  # bias-corrected moving average
        if not math.isfinite(smoothed) or smoothed > diverge * best:
            break
        best = min(best, smoothed)
        lrs.append(lr)
        losses.append(smoothed)
    if len(lrs) < 2:
        raise RuntimeError("The loss diverged at once: lower start_lr and run lr_find again.")
    return LRFinderResult(lrs, losses, steepest_descent(lrs, losses))


def steepest_descent(lrs: list[float], losses: list[float], skip: float = 0.1) -> float:
    """The learning rate where the loss falls fastest per decade, before the minimum.

    The first `skip` fraction of the points is ignored: the moving average is still settling there.
    """
    lowest = losses.index(min(losses))
    start = min(int(skip * len(lrs)), max(lowest - 1, 0))
    slopes = [(losses[i + 1] - losses[i]) / math.log(lrs[i + 1] / lrs[i]) for i in range(start, max(lowest, start + 1))]
    return lrs[start + slopes.index(min(slopes))]
