"""Checkers of notebook 02's exercises (transfer strategies)."""

from __future__ import annotations

from collections.abc import Callable

import torch

from course_utils.exercises.core import Verdict, check_choices, checker, expect_number, verdict
from course_utils.models import GlyphNet, count_parameters, freeze_up_to


@checker("Return one number between 0 and 1: trainable parameters / all parameters.")
def check_trainable_fraction(trainable_fraction: Callable[[torch.nn.Module], float]) -> Verdict:
    """Exercise 02.1: `trainable_fraction(net)` = trainable parameters / all parameters."""
    hint = "Count p.numel() for the parameters with p.requires_grad, and divide by the count of all of them."
    for frozen in ("block4", "block2", None):
        net = freeze_up_to(GlyphNet(num_classes=10, seed=0), frozen)
        expected = sum(p.numel() for p in net.parameters() if p.requires_grad) / count_parameters(net, False)
        expect_number(trainable_fraction, (net,), expected, f"With blocks frozen up to {frozen}", hint)
    return verdict(True, "Feature extraction trains a few percent of the network; fine-tuning trains all of it.")


STRATEGY_SCENARIOS = {
    "a": "3 labelled images per class, a target close to the source, and a laptop.",
    "b": "500 labelled images per class, a target close to the source, and time to train.",
    "c": (
        "100 labelled images per class; fine-tuning at a high learning rate ended below feature extraction, its"
        " backbone far from the pre-trained weights."
    ),
}
# (c) has two expert answers: fine-tuning again at a lower learning rate, or progressive unfreezing
_STRATEGIES = {"a": "feature extraction", "b": "fine-tuning", "c": ("fine-tuning", "progressive unfreezing")}
_STRATEGY_HINTS = {
    "feature extraction": "labels are very few: it trains only the head",
    "fine-tuning": "there are enough labels for every layer to adapt, at a learning rate chosen on validation",
    "progressive unfreezing": (
        "the rate is too high for the pre-trained layers: it trains the head first and unfreezes blocks one by one"
    ),
}


@checker("Answer with a dict like {'a': 'fine-tuning', ...}, one strategy per scenario.")
def check_strategy_choices(answers: dict[str, str]) -> Verdict:
    """Exercise 02.2: pick a strategy for each scenario in STRATEGY_SCENARIOS."""
    return check_choices(
        answers,
        _STRATEGIES,
        _STRATEGY_HINTS,
        "strategy",
        "Match the strategy to the amount of data. For (c), fine-tune again at a lower rate chosen on validation (in"
        " notebook 02 that ended highest); progressive unfreezing also protects the backbone from a rate too high.",
    )
