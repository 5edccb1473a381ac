"""The transfer strategies of notebook 02 as one verb each, so every notebook and `bench/` script trains them alike.

- **feature extraction**: the backbone is frozen; a linear head trains on its features, computed once and cached.
- **fine-tuning**: a new head, and every layer trains.
- **progressive unfreezing**: a new head trains first, then one more block unfreezes per stage, under one cosine
  schedule (`train_progressive`).
- **scratch**: the same architecture from random weights, for comparison.

Every arm runs `steps` mini-batch steps of AdamW with a cosine schedule; `train_arm` returns a whole network that
classifies images, whichever way it was trained.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from course_utils import models, training

STRATEGIES = ("feature extraction", "fine-tuning", "progressive unfreezing")
ARMS = (*STRATEGIES, "scratch")
PROGRESSIVE = ("block4", "block3", "block2", None)  # stage s freezes the blocks up to PROGRESSIVE[s]


def train_progressive(
    net: models.GlyphNet,
    X: torch.Tensor,
    y: torch.Tensor,
    *,
    steps: int,
    lr: float,
    seed: int,
    stages: Sequence[str | None] = PROGRESSIVE,
    backbone_scale: float = 1.0,
) -> list[float]:
    """Train with one cosine schedule; stage s freezes the blocks up to ``stages[s]`` (None: nothing). The losses.

    ``stages=(None,)`` never freezes anything, which is plain fine-tuning with the same batches and schedule.
    ``backbone_scale`` multiplies the blocks' rate (the head keeps ``lr``): a lower rate for the pre-trained layers.
    """
    if not backbone_scale > 0:
        raise ValueError(f"train_progressive: backbone_scale must be positive, not {backbone_scale!r}")
    device = models.device_of(net)
    blocks = [p for name, p in net.named_parameters() if name.split(".")[0] in models.BLOCKS]
    rest = [p for name, p in net.named_parameters() if name.split(".")[0] not in models.BLOCKS]
    groups = [{"params": blocks, "scale": backbone_scale}, {"params": rest, "scale": 1.0}]
    opt = torch.optim.AdamW(groups, lr=lr, weight_decay=0.0)  # as training.fit: no weight decay
    g = torch.Generator().manual_seed(seed)
    batch, order, losses = min(64, len(X)), torch.empty(0, dtype=torch.long), []
    for step in range(steps):
        models.freeze_up_to(net, stages[step * len(stages) // steps]).train()  # one more block per stage
        for group in opt.param_groups:
            group["lr"] = group["scale"] * lr * 0.5 * (1 + math.cos(math.pi * step / steps))
        if len(order) < batch:  # a new epoch: reshuffle
            order = torch.randperm(len(X), generator=g)
        rows, order = order[:batch], order[batch:]
        loss = F.cross_entropy(net(X[rows].to(device)), y[rows].to(device))
        opt.zero_grad(set_to_none=True)
        loss.backward()  # frozen parameters get no gradient, and AdamW skips them
        opt.step()
        losses.append(loss.item())
    models.freeze_up_to(net, None)
    net.eval()
    return losses


def train_arm(
    arm: str,
    pretrained: models.GlyphNet,
    X: torch.Tensor,
    y: torch.Tensor,
    *,
    lr: float,
    steps: int,
    seed: int,
    num_classes: int = 10,
    cache: bool = True,
) -> models.GlyphNet:
    """A classifier of images trained by `arm` (one of `ARMS`) on (X, y); `pretrained` is copied, never changed.

    Feature extraction trains the head on features computed once, then puts it on a copy of the frozen backbone;
    ``cache=False`` computes them afresh even when the same images were seen before (to time a whole run).
    """
    if arm not in ARMS:
        raise ValueError(f"Unknown arm {arm!r}: choose one of {', '.join(ARMS)}.")
    if arm == "scratch":
        widths = tuple(pretrained.meta["widths"]) if hasattr(pretrained, "meta") else None
        kwargs = {"widths": widths} if widths else {}
        net = models.GlyphNet(num_classes=num_classes, seed=seed, **kwargs).to(models.device_of(pretrained))
        training.fit(net, (X, y), steps=steps, lr=lr, schedule="cosine", seed=seed, progress=False)
        return net
    net = models.new_head(copy.deepcopy(pretrained), num_classes, seed=seed)
    if arm == "feature extraction":
        features = training.extract_features(pretrained, X, cache=cache)
        head: nn.Linear = net.head
        training.fit(head, (features, y), steps=steps, lr=lr, schedule="cosine", seed=seed, progress=False)
        return models.freeze_up_to(net, "block4").eval()
    stages = (None,) if arm == "fine-tuning" else PROGRESSIVE
    train_progressive(net, X, y, steps=steps, lr=lr, seed=seed, stages=stages)
    return net
