"""Domain adaptation, printed -> handwritten digits: the domains, BatchNorm re-estimation (AdaBN),
gradient reversal (DANN), a domain classifier that measures the gap, and pseudo-label selection.
"""

from __future__ import annotations

import copy

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from course_utils import augment as aug
from course_utils.glyphs import printed_digits
from course_utils.models import GlyphNet, device_of, seeded

SIZE = 16  # side of the images in the adaptation experiments: small enough to train from scratch live
WIDTHS = (16, 32, 64, 64)  # a small GlyphNet, trained from scratch on the source domain

# The source domain: digits printed in the fonts, with the usual light augmentation (position, size, tilt).
SOURCE = aug.AugmentConfig(
    scale=(0.5, 0.85),
    rotate_deg=10,
    shear=0.1,
    translate=1.0,
    elastic=0,
    stroke=0,
    blur=0,
    low_res=0,
    clutter=0,
    contrast=(1.0, 1.0),
)
# Domain randomization: the same renders, randomized far beyond anything realistic.
RANDOMIZED = aug.AugmentConfig(
    scale=(0.4, 0.9),
    rotate_deg=25,
    shear=0.2,
    elastic=0.08,
    stroke=1.5,
    blur=0.8,
    low_res=0.7,
    clutter=5,
    contrast=(0.5, 1.0),
)


def shrink(X: torch.Tensor, size: int = SIZE) -> torch.Tensor:
    """28x28 images down to `size` x `size` (area averaging)."""
    if X.dim() != 4:
        raise ValueError(f"Expected images shaped [N, 1, H, W]; got {list(X.shape)}.")
    return F.interpolate(X, size=(size, size), mode="area")


def source_digits(
    n: int, cfg: aug.AugmentConfig = SOURCE, seed: int = 0, size: int = SIZE
) -> tuple[torch.Tensor, torch.Tensor]:
    """`n` labelled printed digits drawn from the 21 fonts and rendered with `cfg`, at `size` x `size`."""
    base = printed_digits()
    g = torch.Generator().manual_seed(seed)
    rows = torch.randint(len(base), (n,), generator=g)
    return shrink(aug.augment(base.images[rows], cfg, g), size), base.labels[rows].clone()


def small_cnn(num_classes: int = 10, seed: int = 0) -> GlyphNet:
    """The adaptation experiments' model: a small GlyphNet with random weights."""
    return GlyphNet(num_classes, widths=WIDTHS, seed=seed)


@torch.no_grad()
def adabn(model: nn.Module, X: torch.Tensor, batch_size: int = 2048) -> nn.Module:
    """A copy of `model` whose BatchNorm statistics are re-estimated on `X` (AdaBN); no weight changes.

    The copy stays on the model's device, and the images move there batch by batch.
    """
    adapted = copy.deepcopy(model)
    norms = [m for m in adapted.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    if not norms:
        raise ValueError("This model has no BatchNorm layers, so AdaBN has nothing to re-estimate.")
    for m in norms:
        m.reset_running_stats()
        m.momentum = None  # a plain average over all the batches below
    adapted.train()
    device = device_of(adapted)
    for i in range(0, len(X), batch_size):
        adapted(X[i : i + batch_size].to(device))
    return adapted.eval()


class GradientReversal(torch.autograd.Function):
    """Identity on the way forward; multiplies the gradient by -lam on the way back."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, lam: float) -> torch.Tensor:
        ctx.lam = lam
        return x.view_as(x)

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> tuple[torch.Tensor, None]:
        return -ctx.lam * grad, None


def grad_reverse(x: torch.Tensor, lam: float = 1.0) -> torch.Tensor:
    """The gradient reversal layer of DANN (Ganin & Lempitsky, 2015)."""
    return GradientReversal.apply(x, lam)


def dann_lambda(progress: float, gamma: float = 10.0) -> float:
    """DANN's warm-up of the reversal strength: 0 at the start, near 1 by the end (progress in [0, 1])."""
    return float(2 / (1 + np.exp(-gamma * progress)) - 1)


def domain_classifier(num_features: int, width: int = 1024, seed: int = 0) -> nn.Module:
    """A wide two-layer discriminator with dropout, which outputs one logit: target (1) or source (0)."""
    with seeded(seed):  # its own initial weights, without touching the global generator
        return nn.Sequential(
            nn.Linear(num_features, width),
            nn.ReLU(),
            nn.Dropout(0.5),
            nn.Linear(width, width),
            nn.ReLU(),
            nn.Dropout(0.5),
            nn.Linear(width, 1),
        )


def domain_gap(source_features: torch.Tensor, target_features: torch.Tensor, seed: int = 0) -> float:
    """Held-out accuracy of a logistic-regression domain classifier: 0.5 means the domains look alike.

    Trained on half of each domain (equal sizes), tested on the other half.
    """
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import train_test_split
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    n = min(len(source_features), len(target_features))
    if n < 10:
        raise ValueError(f"Need at least 10 feature vectors per domain (got {n}).")
    X = torch.cat([source_features[:n].cpu(), target_features[:n].cpu()]).numpy()
    y = np.r_[np.zeros(n), np.ones(n)]
    X_fit, X_held, y_fit, y_held = train_test_split(X, y, test_size=0.5, stratify=y, random_state=seed)
    clf = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000))
    return float(clf.fit(X_fit, y_fit).score(X_held, y_held))


def select_pseudo_labels(probs: torch.Tensor, threshold: float, per_class: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Class-balanced pseudo-labels: for every class, up to `per_class` of the images predicted as that class
    with confidence >= `threshold`, most confident first. Returns (indices, labels)."""
    if probs.dim() != 2:
        raise ValueError(f"probs must be [N, classes] probabilities; got shape {list(probs.shape)}.")
    if not 0 <= threshold <= 1:
        raise ValueError(f"threshold is a probability between 0 and 1 (got {threshold}).")
    conf, label = probs.max(1)
    picks = []
    for c in range(probs.shape[1]):
        rows = torch.nonzero((label == c) & (conf >= threshold)).flatten()
        picks.append(rows[conf[rows].argsort(descending=True, stable=True)][:per_class])
    idx = torch.sort(torch.cat(picks)).values
    return idx, label[idx]
