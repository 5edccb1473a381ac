"""Checkers of notebook 08's exercises (applications)."""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from course_utils.exercises.core import Verdict, checker, describe_error, learner, time_limited, to_tensor, verdict


def _rgb_conv(bias: bool) -> nn.Conv2d:
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(8)
        return nn.Conv2d(3, 6, kernel_size=5, stride=2, padding=2, bias=bias)


def _layer_problem(answer: nn.Conv2d, rgb: nn.Conv2d) -> str | None:
    """What stops the learner's layer from running on a grey batch (its weight's and bias's shapes), or None."""
    want = (rgb.out_channels, 1, *rgb.kernel_size)
    weight = getattr(answer, "weight", None)
    if not isinstance(weight, torch.Tensor):
        return f"The new layer has no weight tensor (its weight is a {type(weight).__name__})."
    if tuple(weight.shape) != want:
        return (
            f"The new layer's weight must be [out_channels, 1, k, k] = {list(want)} (got {list(weight.shape)}): "
            "sum the pre-trained filters over their input channels, conv.weight.sum(dim=1, keepdim=True)."
        )
    if weight.dtype != rgb.weight.dtype or weight.device != rgb.weight.device:
        return (
            f"Keep the weight's dtype and device ({rgb.weight.dtype} on {rgb.weight.device}); got {weight.dtype} "
            f"on {weight.device}."
        )
    bias = answer.bias
    if bias is not None and (not isinstance(bias, torch.Tensor) or tuple(bias.shape) != (rgb.out_channels,)):
        got = list(bias.shape) if isinstance(bias, torch.Tensor) else type(bias).__name__
        return f"The bias must hold one number per filter, [{rgb.out_channels}] (got {got}): copy conv.bias."
    return None


@checker("Return an nn.Conv2d with in_channels=1, the original layer's filters summed over dim 1.")
def check_grey_stem(fn: Callable[[nn.Conv2d], nn.Conv2d]) -> Verdict:
    """Exercise 08.1: `fn(conv)` is a 1-channel convolution that computes on a grey image exactly what the 3-channel
    `conv` computes on that image copied into R, G and B (same filters otherwise: stride, padding, bias)."""
    for bias in (False, True):
        rgb = _rgb_conv(bias)
        original = [t.detach().clone() for t in rgb.parameters()]
        answer = learner(fn, rgb)
        if not isinstance(answer, nn.Conv2d):
            return verdict(False, f"Return an nn.Conv2d (got {type(answer).__name__}).")
        now = list(rgb.parameters())
        if len(now) != len(original) or any(not torch.equal(a, b) for a, b in zip(original, now, strict=True)):
            return verdict(False, "Leave the pre-trained layer as it was: build a new Conv2d and copy into it.")
        if answer.in_channels != 1:
            return verdict(False, f"The new layer takes 1 channel (it has in_channels={answer.in_channels}).")
        if (answer.stride, answer.padding, answer.kernel_size) != (rgb.stride, rgb.padding, rgb.kernel_size):
            return verdict(
                False,
                "Keep the kernel size, stride and padding of the original layer: the later layers "
                "expect its output size.",
            )
        problem = _layer_problem(answer, rgb)
        if problem:
            return verdict(False, problem)
        grey = torch.rand(4, 1, 16, 16, generator=torch.Generator().manual_seed(9))
        with torch.no_grad():
            want = rgb(grey.expand(-1, 3, -1, -1))
            try:
                got = time_limited(answer, grey)
            except Exception as err:
                return verdict(
                    False,
                    f"The new layer fails on a grey batch [4, 1, 16, 16] ({describe_error(err)}). "
                    "Build it like the original: nn.Conv2d(1, out_channels, kernel_size, stride, "
                    "padding).",
                )
        if not isinstance(got, torch.Tensor):
            return verdict(False, f"The new layer returns a {type(got).__name__}: return a plain nn.Conv2d.")
        if got.shape != want.shape:
            return verdict(False, f"Output shape {list(got.shape)}, expected {list(want.shape)}: keep 6 filters.")
        if torch.allclose(got, want, atol=1e-5):
            continue
        weight = answer.weight.detach()
        if torch.allclose(weight, rgb.weight.detach().mean(1, keepdim=True), atol=1e-6):
            return verdict(
                False,
                "Averaging the three channels scales every response by a third. A grey image copied "
                "into R, G and B meets all three weights: sum them.",
            )
        if torch.allclose(weight, rgb.weight.detach()[:, :1], atol=1e-6):
            return verdict(False, "Keeping one colour channel drops the other two contributions: sum over channels.")
        if bias and (answer.bias is None or not torch.allclose(answer.bias, rgb.bias)):
            return verdict(False, "The weights look right; copy the bias too (the original layer has one).")
        return verdict(
            False,
            "On a grey image the new layer should give exactly the original layer's output on the "
            "image copied three times. Sum the filters over the input channels (dim=1, keepdim).",
        )
    return verdict(True, "Summed filters: the pre-trained first layer, exactly, for one-channel input (un-normalised).")


@checker("Return a pair (classes, probabilities): k class indices and their softmax probabilities.")
def check_top_k(fn: Callable[[torch.Tensor, int], tuple[torch.Tensor, torch.Tensor]]) -> Verdict:
    """Exercise 08.2: `fn(logits, k)` for one image's logits [C] gives (classes, probabilities) of the k most likely
    classes, most likely first; probabilities from the softmax over all classes."""
    logits = torch.tensor([0.5, 3.0, -1.0, 2.0, 0.0, 2.5])
    for k in (3, 1, 6):
        answer = learner(fn, logits.clone(), k)
        if not (isinstance(answer, tuple) and len(answer) == 2):
            return verdict(False, "Return a pair (classes, probabilities).")
        classes = to_tensor(answer[0], "the classes").flatten()
        probs = to_tensor(answer[1], "the probabilities").flatten()
        if classes.is_complex() or probs.is_complex():
            return verdict(False, "Return the classes and the probabilities as real numbers.")
        classes, probs = classes.detach().cpu(), probs.detach().cpu()
        want = torch.softmax(logits, 0).topk(k)
        if len(classes) != k or len(probs) != k:
            return verdict(False, f"With k={k}, return exactly {k} classes and {k} probabilities.")
        if classes.tolist() != want.indices.tolist():
            if sorted(classes.tolist()) == sorted(want.indices.tolist()):
                return verdict(False, "The right classes, in the wrong order: most likely first.")
            return verdict(
                False,
                f"With k={k} the classes are {want.indices.tolist()}, not {classes.tolist()}: "
                "the largest logits, largest first.",
            )
        probs = probs.float()
        if torch.allclose(probs, logits[want.indices], atol=1e-5):
            return verdict(False, "Those are logits, not probabilities: apply a softmax over all classes first.")
        if torch.allclose(probs, torch.softmax(logits[want.indices], 0), atol=1e-5) and k < len(logits):
            return verdict(
                False,
                "Take the softmax over all classes, then pick the top k; a softmax over the top k "
                "alone makes them sum to 1 and overstates the model's confidence.",
            )
        if not torch.allclose(probs, want.values, atol=1e-5):
            return verdict(False, f"The probabilities should be {[round(v, 3) for v in want.values.tolist()]}.")
    return verdict(True, "Softmax over every class, then the k largest, most likely first.")


@checker("Return a tensor [B, D]: the mean over each sentence's real tokens, scaled to unit length.")
def check_mean_pool(fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]) -> Verdict:
    """Exercise 08.3: `fn(hidden, mask)` turns token vectors [B, L, D] and an attention mask [B, L] (1 on real
    tokens, 0 on padding) into sentence embeddings [B, D]: the mean over the real tokens, scaled to unit length."""
    g = torch.Generator().manual_seed(83)
    hidden = torch.randn(3, 5, 4, generator=g) + 1.0
    mask = torch.tensor([[1, 1, 1, 1, 1], [1, 1, 1, 0, 0], [1, 0, 0, 0, 0]])
    answer = learner(fn, hidden.clone(), mask.clone())
    if not isinstance(answer, torch.Tensor):
        return verdict(False, f"Return a tensor (got {type(answer).__name__}).")
    if answer.shape != (3, 4):
        return verdict(False, f"Return one vector per sentence, shape [B, D] = [3, 4] (got {list(answer.shape)}).")
    if answer.is_complex():
        return verdict(False, f"Return real numbers (got {answer.dtype}).")
    answer = answer.detach().float().cpu()
    m = mask.unsqueeze(-1).float()
    mean = (hidden * m).sum(1) / m.sum(1)
    want = torch.nn.functional.normalize(mean, dim=1)
    if torch.allclose(answer, want, atol=1e-5):
        return verdict(True, "The mean over real tokens only, at unit length: MiniLM's sentence embedding.")
    if torch.allclose(answer, torch.nn.functional.normalize(hidden.mean(1), dim=1), atol=1e-5):
        return verdict(
            False,
            "Padding tokens are averaged in: a short sentence's embedding then depends on how long "
            "the longest sentence in its batch was. Multiply by the mask and divide by its sum.",
        )
    if torch.allclose(answer, mean, atol=1e-5):
        return verdict(
            False,
            "The mean is right; scale each row to unit length (F.normalize(..., dim=1)), so that "
            "dot products are cosine similarities.",
        )
    if torch.allclose(answer, torch.nn.functional.normalize(hidden[:, 0], dim=1), atol=1e-5):
        return verdict(False, "That is the first token (BERT's [CLS]); MiniLM was trained with mean pooling.")
    return verdict(
        False,
        "Average the token vectors over the real tokens (where mask is 1), then normalise each row to unit length.",
    )
