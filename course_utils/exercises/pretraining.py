"""Checkers of notebook 06's exercises (pre-training methods)."""

from __future__ import annotations

import math
from collections.abc import Callable

import torch

from course_utils.exercises.core import Verdict, checker, learner, to_tensor, verdict
from course_utils.pretext import nt_xent


@checker("Return the loss as one number (a 0-d tensor): the mean over the 2N rows.")
def check_nt_xent(loss_fn: Callable[[torch.Tensor, torch.Tensor, float], torch.Tensor]) -> Verdict:
    """Exercise 06.1: `loss_fn(z1, z2, temperature)` is SimCLR's NT-Xent, compared with a reference on given
    tensors; common slips (no normalisation, no temperature, oneself left among the candidates, the wrong
    partner) get their own hint."""
    g = torch.Generator().manual_seed(6)
    cases = [
        (torch.randn(4, 3, generator=g), torch.randn(4, 3, generator=g), 0.5),
        (torch.randn(8, 16, generator=g) * 5, torch.randn(8, 16, generator=g), 0.1),
        (torch.randn(3, 2, generator=g), torch.randn(3, 2, generator=g), 1.0),
    ]
    for z1, z2, t in cases:
        value = learner(loss_fn, z1.clone(), z2.clone(), t)
        try:
            got = float(torch.as_tensor(value).detach().reshape(()))
        except (TypeError, ValueError, RuntimeError):
            return verdict(
                False,
                f"Return the loss as one number (a 0-d tensor); got {type(value).__name__} "
                f"of shape {list(getattr(value, 'shape', []))}. Average over the 2N rows.",
            )
        want = nt_xent(z1, z2, t).item()
        if math.isfinite(got) and abs(got - want) <= 1e-4 * max(1.0, abs(want)):
            continue
        n = len(z1)
        z = torch.nn.functional.normalize(torch.cat([z1, z2]), dim=1)
        raw = torch.cat([z1, z2])
        partner = torch.cat([torch.arange(n, 2 * n), torch.arange(n)])
        eye = torch.eye(2 * n, dtype=torch.bool)
        ce = torch.nn.functional.cross_entropy
        slips = {
            "Normalise the embeddings first (F.normalize(z, dim=1)): NT-Xent compares cosine similarities.": (
                ce((raw @ raw.T / t).masked_fill(eye, -math.inf), partner)
            ),
            "Divide the similarities by the temperature before the softmax.": (
                ce((z @ z.T).masked_fill(eye, -math.inf), partner)
            ),
            "Leave each embedding out of its own candidates: set the diagonal of the similarity matrix to -inf.": (
                ce(z @ z.T / t, partner)
            ),
            "Use only z1 against z2 and z2 against z1? NT-Xent's candidates are all the other 2N - 1 embeddings.": (
                ce(z[:n] @ z[n:].T / t, torch.arange(n))
            ),
        }
        for hint, wrong in slips.items():
            if math.isfinite(got) and abs(got - wrong.item()) <= 1e-4 * max(1.0, abs(wrong.item())):
                return verdict(False, hint)
        return verdict(
            False,
            f"With N={n} pairs and temperature {t} the loss should be {want:.4f}, not {got:.4f}. "
            "Row i's positive is row i + N (and row i + N's is row i).",
        )
    return verdict(True, "Pull each pair together, push the other 2N - 2 embeddings away: that is NT-Xent.")


def _pair_of_tensors(answer: object) -> tuple[torch.Tensor, torch.Tensor] | None:
    """The learner's (masked images, mask) as float tensors, or None if they are not two numeric tensors."""
    if not (isinstance(answer, tuple) and len(answer) == 2):
        return None
    masked, mask = to_tensor(answer[0], "the masked images"), to_tensor(answer[1], "the mask")
    if masked.is_complex() or mask.is_complex():
        return None
    return masked.detach().float().cpu(), mask.detach().float().cpu()


@checker("Return a pair (masked images, mask), both tensors shaped like x, the mask 1 on hidden pixels.")
def check_mask_patches(mask_fn: Callable[[torch.Tensor, float, torch.Generator, int], tuple]) -> Verdict:
    """Exercise 06.2: `mask_fn(x, ratio, generator, patch)` hides whole `patch` x `patch` squares, about `ratio`
    of them, at random (drawn from `generator`), and returns (masked images, mask of hidden pixels)."""
    for ratio, patch in ((0.5, 4), (0.25, 7), (0.75, 2)):
        x = torch.rand(64, 1, 28, 28, generator=torch.Generator().manual_seed(1)) + 0.1  # no pixel is 0
        pair = _pair_of_tensors(learner(mask_fn, x.clone(), ratio, torch.Generator().manual_seed(2), patch))
        if pair is None:
            return verdict(False, "Return a pair (masked images, mask).")
        masked, mask = pair
        if masked.shape != x.shape or mask.shape != x.shape:
            return verdict(
                False,
                f"Both results must be shaped like x {list(x.shape)} (got {list(masked.shape)} "
                f"and {list(mask.shape)}); repeat each patch's draw over its pixels.",
            )
        if not torch.all((mask == 0) | (mask == 1)):
            return verdict(False, "The mask must be 0 (visible) or 1 (hidden) at every pixel.")
        if not torch.allclose(masked, x * (1 - mask)):
            return verdict(
                False, "The masked image keeps x where the mask is 0 and is 0 where it is 1: x * (1 - mask)."
            )
        squares = mask.unfold(2, patch, patch).unfold(3, patch, patch)
        if not torch.equal(squares.amin((-1, -2)), squares.amax((-1, -2))):
            return verdict(
                False,
                f"Hide whole {patch}x{patch} patches, not single pixels: draw one number per patch "
                "and repeat it over the patch (repeat_interleave).",
            )
        share = mask.mean().item()
        if abs(share - ratio) > 0.06:
            return verdict(False, f"About {ratio:.0%} of the patches should be hidden; yours hide {share:.0%}.")
        if torch.equal(mask[0], mask[1]):
            return verdict(False, "Every image needs its own random patches; yours are the same for all images.")
        again = _pair_of_tensors(learner(mask_fn, x.clone(), ratio, torch.Generator().manual_seed(2), patch))
        if again is None or again[1].shape != mask.shape or not torch.equal(again[1], mask):
            return verdict(False, "The same generator seed must hide the same patches: draw from `generator`.")
    return verdict(True, "Half the letter hidden, whole patches at a time: now the encoder has to infer the rest.")
