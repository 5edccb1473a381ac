"""Domain adaptation, printed -> handwritten digits: the domains (and a labelled stand-in target for choosing
settings), BatchNorm re-estimation (AdaBN), gradient reversal and DANN with domain-specific BatchNorm, a domain
classifier that measures the gap, and self-training on class-balanced pseudo-labels.
"""

from __future__ import annotations

import copy
import warnings

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from tqdm.auto import tqdm

from course_utils import augment as aug
from course_utils import training
from course_utils.glyphs import printed_digits
from course_utils.learning_rates import schedule_factor
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


def _scan_8x8(images: torch.Tensor) -> torch.Tensor:
    """Base renders [N, H, W] cropped to the glyph's square bounding box and averaged down to 8x8 with 17 grey
    levels, darkest stroke at 1: how the handwritten digits were scanned."""
    scans = []
    for image in images.float() / 255:
        rows, cols = torch.nonzero(image > 0.1, as_tuple=True)
        side = int(max(rows.max() - rows.min(), cols.max() - cols.min())) + 1
        top, left = int(rows.min() + rows.max() + 1 - side) // 2, int(cols.min() + cols.max() + 1 - side) // 2
        padded = F.pad(image, (side, side, side, side))[top + side : top + 2 * side, left + side : left + 2 * side]
        scans.append(F.interpolate(padded[None, None], size=(8, 8), mode="area")[0, 0])
    X = torch.stack(scans)
    return torch.round(16 * X / X.amax((1, 2), keepdim=True)) / 16


def scanned_digits(n: int, seed: int = 0, size: int = SIZE) -> tuple[torch.Tensor, torch.Tensor]:
    """`n` labelled printed digits put through the handwritten digits' pipeline (an 8x8 scan, then the wild canvas).

    A stand-in target domain *with* labels: settings are chosen on the pair printed -> scanned printed digits,
    so that no handwritten label is used for any choice.
    """
    base = printed_digits()
    g = torch.Generator().manual_seed(seed)
    rows = torch.randint(len(base), (n,), generator=g)
    return shrink(aug.augment(_scan_8x8(base.images)[rows], aug.WILD, g), size), base.labels[rows].clone()


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


def train_dann(
    net: GlyphNet,
    source: tuple[torch.Tensor, torch.Tensor],
    X_target: torch.Tensor,
    *,
    steps: int,
    weight: float,
    lr: float = 1e-3,
    seed: int = 0,
    batch_size: int = 64,
    disc_width: int = 512,
    progress: bool = True,
    desc: str = "DANN",
) -> dict[str, list[float]]:
    """Train `net` in place with DANN and domain-specific BatchNorm (Ganin & Lempitsky 2015; Chang et al. 2019).

    Each step: one labelled source batch and one unlabelled target batch, each through its own forward pass (so
    BatchNorm normalises each domain with its own batch statistics), the digit loss on the source, plus `weight`
    times the loss of a domain classifier that sits behind a gradient reversal layer (strength warmed up by
    `dann_lambda`). With `weight=0` the target batch changes nothing but the running statistics: the control.
    Returns a log per step: digit loss, domain-classifier accuracy and lambda. Deploy with `adabn` on the target.
    """
    X_source, y_source = source
    device = device_of(net)
    disc = domain_classifier(net.feature_dim, disc_width, seed=seed).to(device)
    opt = torch.optim.AdamW([*net.parameters(), *disc.parameters()], lr=lr, weight_decay=0.0)
    g, log = torch.Generator().manual_seed(seed), {"task_loss": [], "domain_acc": [], "lambda": []}
    is_target = torch.cat([torch.zeros(batch_size), torch.ones(batch_size)]).to(device)
    net.train()
    with seeded(seed):  # the dropout of the domain classifier draws from the global generator
        for step in tqdm(range(steps), desc=desc, disable=not progress, leave=False):
            lam = dann_lambda(step / steps)
            opt.param_groups[0]["lr"] = lr * schedule_factor("cosine", step, steps)
            i = torch.randint(len(X_source), (batch_size,), generator=g)
            j = torch.randint(len(X_target), (batch_size,), generator=g)
            f_source, f_target = net.features(X_source[i].to(device)), net.features(X_target[j].to(device))
            task_loss = F.cross_entropy(net.head(f_source), y_source[i].to(device))
            logits = disc(grad_reverse(torch.cat([f_source, f_target]), lam)).squeeze(1)
            domain_loss = F.binary_cross_entropy_with_logits(logits, is_target)
            opt.zero_grad(set_to_none=True)
            (task_loss + weight * domain_loss).backward()
            opt.step()
            log["task_loss"].append(task_loss.item())
            log["domain_acc"].append(((logits > 0).float() == is_target).float().mean().item())
            log["lambda"].append(lam)
    net.eval()
    return log


def per_domain_features(net: nn.Module, X_source: torch.Tensor, X_target: torch.Tensor) -> tuple[torch.Tensor, ...]:
    """Features of each domain computed with that domain's own BatchNorm statistics (`adabn` on each)."""
    return (
        training.extract_features(adabn(net, X_source), X_source, cache=False),
        training.extract_features(adabn(net, X_target), X_target, cache=False),
    )


def domain_gap(
    source_features: torch.Tensor, target_features: torch.Tensor, seed: int = 0, hidden_units: int = 64
) -> float:
    """Held-out accuracy of a domain classifier on the features: 0.5 means the domains look alike, 1.0 apart.

    A small neural network (one hidden layer of `hidden_units`; 0 for a logistic regression), trained on half of
    each domain (equal sizes) and tested on the other half. A non-linear classifier also sees differences that
    survive when each domain is normalised with its own statistics, which a linear one can miss.
    """
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import train_test_split
    from sklearn.neural_network import MLPClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    n = min(len(source_features), len(target_features))
    if n < 10:
        raise ValueError(f"Need at least 10 feature vectors per domain (got {n}).")
    X = torch.cat([source_features[:n].cpu(), target_features[:n].cpu()]).numpy()
    y = np.r_[np.zeros(n), np.ones(n)]
    X_fit, X_held, y_fit, y_held = train_test_split(X, y, test_size=0.5, stratify=y, random_state=seed)
    mlp = MLPClassifier((hidden_units or 1,), max_iter=300, random_state=seed)
    clf = make_pipeline(StandardScaler(), mlp if hidden_units else LogisticRegression(max_iter=2000))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)  # a classifier that keeps improving is fine here
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


def joint_train(
    net: GlyphNet,
    source: tuple[torch.Tensor, torch.Tensor],
    target: tuple[torch.Tensor, torch.Tensor],
    *,
    steps: int,
    lr: float = 1e-3,
    seed: int = 0,
    batch_size: int = 64,
    target_weight: float = 1.0,
) -> GlyphNet:
    """Train `net` in place on labelled source images and (pseudo-)labelled target images, one batch of each per
    step, each through its own forward pass (domain-specific BatchNorm, as in `train_dann`). The loss is the
    source loss plus `target_weight` times the target loss: with `target_weight=0` the target batch changes no
    weight, only the running statistics (the control with the pseudo-label loss removed). Returns `net`."""
    (X_source, y_source), (X_target, y_target) = source, target
    if len(X_target) == 0 or len(X_target) != len(y_target):
        raise ValueError(f"Need labelled target images, one label each (got {len(X_target)} and {len(y_target)}).")
    device = device_of(net)
    opt = torch.optim.AdamW(net.parameters(), lr=lr, weight_decay=0.0)
    g = torch.Generator().manual_seed(seed)
    net.train()
    for step in range(steps):
        opt.param_groups[0]["lr"] = lr * schedule_factor("cosine", step, steps)
        i = torch.randint(len(X_source), (batch_size,), generator=g)
        j = torch.randint(len(X_target), (batch_size,), generator=g)
        loss = F.cross_entropy(net(X_source[i].to(device)), y_source[i].to(device))
        loss = loss + target_weight * F.cross_entropy(net(X_target[j].to(device)), y_target[j].to(device))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    return net.eval()


def self_train(
    start: nn.Module,
    source: tuple[torch.Tensor, torch.Tensor],
    X_target: torch.Tensor,
    *,
    threshold: float,
    rounds: int = 3,
    per_round: int = 30,
    steps: int = 150,
    lr: float = 1e-3,
    seed: int = 0,
    progress: bool = True,
    pseudo_label_weight: float = 1.0,
) -> list[dict]:
    """Self-training from `start`: each round pseudo-labels the target images (`select_pseudo_labels`, at most
    `per_round` x round number per class), trains on them with the source (`joint_train`) and re-estimates the
    target statistics (`adabn`); a round that selects nothing keeps the model. Returns one dict per round:
    "indices", "labels" and the deployed "model", which later rounds leave untouched: round r's model is what a
    run of r rounds returns last.

    `pseudo_label_weight=0` is the control: the same rounds, steps, batches and per-domain BatchNorm, with the
    pseudo-label loss removed (source loss only), so that it measures what the extra training alone does."""
    net, history = copy.deepcopy(start), []
    for r in tqdm(range(rounds), desc="self-training", disable=not progress, leave=False):
        probs = training.predict(net, X_target).softmax(1)
        idx, labels = select_pseudo_labels(probs, threshold, per_class=per_round * (r + 1))
        if len(idx):  # no image above the threshold: the round keeps the model as it is
            net = joint_train(
                copy.deepcopy(net),  # a copy: the model recorded for the previous round stays as it was
                source,
                (X_target[idx], labels),
                steps=steps,
                lr=lr,
                seed=1000 * seed + r,
                target_weight=pseudo_label_weight,
            )
            net = adabn(net, X_target)
        history.append({"round": r + 1, "indices": idx, "labels": labels, "model": net})
    return history
