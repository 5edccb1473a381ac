"""Checkers of notebook 04's exercises (domain adaptation)."""

from __future__ import annotations

from collections.abc import Callable

import torch

from course_utils.adaptation import select_pseudo_labels
from course_utils.exercises.core import (
    Verdict,
    as_indices,
    checker,
    describe_error,
    learner,
    reject,
    time_limited,
    verdict,
)


@checker("Return a tensor shaped like x: x itself on the way forward, its gradient times -lam on the way back.")
def check_gradient_reversal(reverse: Callable[[torch.Tensor, float], torch.Tensor]) -> Verdict:
    """Exercise 04.1: `reverse(x, lam)` is the identity forward and multiplies the gradient by -lam backward."""
    g = torch.Generator().manual_seed(0)
    for lam in (1.0, 0.3, 0.0):
        x = torch.randn(5, 3, generator=g, requires_grad=True)
        out = learner(reverse, x, lam)
        if not isinstance(out, torch.Tensor) or out.shape != x.shape:
            return verdict(False, f"Return a tensor shaped like x {list(x.shape)} (got {type(out).__name__}).")
        if out.dtype != x.dtype or out.device != x.device:
            return verdict(
                False,
                f"Return x unchanged: same dtype and device ({x.dtype}, {x.device}), got {out.dtype} on {out.device}.",
            )
        if not torch.allclose(out, x):
            return verdict(False, "On the way forward the layer must not change x: return x itself (x.view_as(x)).")
        if not out.requires_grad:
            return verdict(False, "No gradient flows through your layer: use a torch.autograd.Function, not .detach().")
        upstream = torch.randn(5, 3, generator=g)
        try:
            time_limited(out.backward, upstream)
        except Exception as err:
            return verdict(
                False,
                f"The backward pass failed ({describe_error(err)}). backward gets one gradient and "
                "returns one per input of forward: return -ctx.lam * grad, None.",
            )
        if x.grad is None or not torch.allclose(x.grad, -lam * upstream):
            got = "nothing" if x.grad is None else f"{(x.grad / upstream).mean().item():.2f} × the gradient"
            return verdict(
                False,
                f"With lam={lam:g} the gradient coming back should be -{lam:g} × the incoming "
                f"gradient; it was {got}. In backward, return -ctx.lam * grad (and None for lam).",
            )
    return verdict(True, "The features now climb the domain classifier's loss while the classifier descends it.")


def _selection(answer: object, num_images: int, num_classes: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The learner's (indices, labels) as long tensors; reject them if they cannot be a selection."""
    if not (isinstance(answer, tuple) and len(answer) == 2):
        reject("Return a pair (indices, labels) of tensors.")
    idx, labels = as_indices(answer[0], "indices"), as_indices(answer[1], "labels")
    if len(idx) != len(labels):
        reject("indices and labels must have the same length: one label per selected image.")
    if len(idx) and (idx.min() < 0 or idx.max() >= num_images):
        reject(
            f"indices are rows of probs: whole numbers from 0 to {num_images - 1} "
            f"(got {int(idx.min())} to {int(idx.max())})."
        )
    if len(labels) and (labels.min() < 0 or labels.max() >= num_classes):
        reject(
            f"labels are classes: whole numbers from 0 to {num_classes - 1} "
            f"(got {int(labels.min())} to {int(labels.max())})."
        )
    if len(set(idx.tolist())) != len(idx):
        reject("An image is selected twice: each index may appear once.")
    return idx, labels


@checker("Return a pair (indices, labels): two 1-D tensors of whole numbers, one label per selected image.")
def check_pseudo_label_selection(select: Callable[[torch.Tensor, float, int], tuple]) -> Verdict:
    """Exercise 04.2: `select(probs, threshold, per_class)`: class-balanced confident pseudo-labels."""
    g = torch.Generator().manual_seed(1)
    cases = [
        (torch.softmax(3 * torch.randn(200, 4, generator=g), 1), 0.8, 10),
        (torch.softmax(2 * torch.randn(300, 10, generator=g), 1), 0.5, 5),
        (torch.softmax(torch.randn(50, 3, generator=g), 1), 0.99, 20),
    ]
    for probs, threshold, per_class in cases:
        answer = learner(select, probs.clone(), threshold, per_class)
        idx, labels = _selection(answer, *probs.shape)
        want_idx, want_labels = select_pseudo_labels(probs, threshold, per_class)
        conf, pred = probs.max(1)
        if len(idx) and (conf[idx] < threshold).any():
            return verdict(False, f"Some selected images have confidence below the threshold {threshold}.")
        if len(idx) and not torch.equal(labels, pred[idx]):
            return verdict(False, "The pseudo-label of an image is the class the model predicts for it (argmax).")
        counts = torch.bincount(labels, minlength=probs.shape[1]) if len(idx) else torch.zeros(probs.shape[1])
        if (counts > per_class).any():
            return verdict(
                False,
                f"Keep at most per_class={per_class} images per class: the selection must stay "
                "balanced, or the easiest classes take over.",
            )
        if sorted(idx.tolist()) != want_idx.tolist():
            return verdict(
                False,
                f"Expected {len(want_idx)} images (threshold {threshold}, {per_class} per class), "
                f"got {len(idx)}. For each class keep its *most confident* images first.",
            )
    return verdict(True, "Confident, balanced pseudo-labels: self-training's two safety rails.")
