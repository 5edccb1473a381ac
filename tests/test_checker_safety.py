"""The exercise checkers never raise, never hang, and see through trivial answers.

Each bad answer below is a slip a learner can make. The checker must return a false Verdict, print exactly
one verdict line that says what to fix, and raise nothing.
"""

from __future__ import annotations

import copy
import math
import signal
import sys
import threading
import time

import nbclient
import nbformat
import numpy as np
import pytest
import torch
from torch import nn

from course_utils import exercises as ex
from course_utils import models, pretext
from course_utils.adaptation import select_pseudo_labels
from course_utils.exercises import core, time_limit
from course_utils.exercises.core import Verdict, checker, learner
from course_utils.models import GlyphNet
from tests.test_exercises_07 import kept

# --- helpers --------------------------------------------------------------------------------------


def one_failing_line(ok: Verdict, capsys) -> str:
    """The one line a rejected answer printed."""
    out = capsys.readouterr().out
    assert isinstance(ok, Verdict) and not ok, out
    lines = out.strip().splitlines()
    assert len(lines) == 1, out
    assert lines[0].startswith("❌"), out
    return lines[0]


def grey_stem_with(weight=None, bias=None):
    """A 1-channel conv built like the original, then given `weight` and `bias` made from the original's."""

    def fn(conv):
        new = nn.Conv2d(1, conv.out_channels, conv.kernel_size, conv.stride, conv.padding, bias=conv.bias is not None)
        with torch.no_grad():
            new.weight.data = weight(conv.weight) if weight else conv.weight.sum(1, keepdim=True)
            if conv.bias is not None:
                new.bias.data = bias(conv.bias) if bias else conv.bias.clone()
        return new

    return fn


def shares_the_rgb_weight(conv):
    new = nn.Conv2d(1, conv.out_channels, conv.kernel_size, conv.stride, conv.padding, bias=False)
    new.weight = conv.weight  # a Parameter: torch accepts it whatever its shape
    return new


def selection_with(change):
    return lambda probs, threshold, per_class: change(*select_pseudo_labels(probs, threshold, per_class))


def groups_with(change):
    """The right parameter groups, then `change(group, net)` applied to the first group."""

    def fn(net, head_lr, factor):
        groups = models.param_groups(net, models.discriminative_lrs(net, head_lr, factor))
        change(groups[0], net)
        return groups

    return fn


def consumed_generator(group, net):
    group["params"] = net.block1.parameters()
    list(group["params"])  # e.g. printed or counted first: now empty


def ragged(*args):
    return [[1.0, 2.0], [3.0]], [[1.0], [2.0, 3.0]]


# --- bad answers, one verdict line each -----------------------------------------------------------

BAD_ANSWERS = [
    # 08.1: the unsummed 3-channel weight in a 1-channel layer, and other shapes
    (ex.check_grey_stem, grey_stem_with(weight=lambda w: w.clone()), ["[6, 1, 5, 5]", "[6, 3, 5, 5]", "keepdim"]),
    (ex.check_grey_stem, shares_the_rgb_weight, ["[6, 1, 5, 5]", "[6, 3, 5, 5]", "sum"]),
    (ex.check_grey_stem, grey_stem_with(weight=lambda w: w.sum(1, keepdim=True)[:, :, :3, :3]), ["[6, 1, 5, 5]"]),
    (ex.check_grey_stem, grey_stem_with(weight=lambda w: w.sum(1)), ["[6, 1, 5, 5]", "sum"]),
    (ex.check_grey_stem, grey_stem_with(bias=lambda b: b[:3].clone()), ["bias", "[6]"]),
    (ex.check_grey_stem, grey_stem_with(weight=lambda w: w.sum(1, keepdim=True).double()), ["dtype"]),
    # 04.2: indices and labels that cannot be a selection
    (ex.check_pseudo_label_selection, selection_with(lambda i, y: (i + 1000, y)), ["0 to 199"]),
    (ex.check_pseudo_label_selection, selection_with(lambda i, y: (-1 - i, y)), ["0 to 199"]),
    (ex.check_pseudo_label_selection, selection_with(lambda i, y: (i.float() + 0.5, y)), ["whole numbers", "float"]),
    (ex.check_pseudo_label_selection, selection_with(lambda i, y: (i * float("nan"), y)), ["whole numbers"]),
    (ex.check_pseudo_label_selection, selection_with(lambda i, y: (i, y + 10)), ["labels are classes", "0 to 3"]),
    (ex.check_pseudo_label_selection, selection_with(lambda i, y: (i, y - 5)), ["labels are classes"]),
    (ex.check_pseudo_label_selection, selection_with(lambda i, y: (i, y.float() / 2)), ["labels", "whole numbers"]),
    (ex.check_pseudo_label_selection, ragged, ["tensor", "same length"]),
    (ex.check_pseudo_label_selection, lambda p, t, k: (p.max(1).values >= t, p.argmax(1)), ["mask", "nonzero"]),
    (ex.check_pseudo_label_selection, selection_with(lambda i, y: (i.repeat(2), y.repeat(2))), ["twice"]),
    (ex.check_pseudo_label_selection, selection_with(lambda i, y: (i, None)), ["labels", "tensor"]),
    # 06.2: a pair that is not two tensors
    (ex.check_mask_patches, lambda x, r, g, p: ("masked", "mask"), ["tensor"]),
    (ex.check_mask_patches, lambda x, r, g, p: (x, None), ["tensor"]),
    (ex.check_mask_patches, ragged, ["tensor", "same length"]),
    (ex.check_mask_patches, lambda x, r, g, p: x, ["pair"]),
    # 03.1: groups with the wrong types inside
    (ex.check_param_groups, groups_with(consumed_generator), ["generator", "list("]),
    (ex.check_param_groups, groups_with(lambda g, net: g.update(params=net.head.weight)), ["single tensor"]),
    (ex.check_param_groups, groups_with(lambda g, net: g.update(params=net.block1)), ["block itself"]),
    (ex.check_param_groups, groups_with(lambda g, net: g.update(params=["block1"])), ["tensors", "str"]),
    (ex.check_param_groups, groups_with(lambda g, net: g.update(lr="0.01")), ["'lr' must be a number", "str"]),
    (ex.check_param_groups, groups_with(lambda g, net: g.update(lr=None)), ["'lr' must be a number"]),
    # 07.2: answers that are not an index
    (ex.check_early_stopping, lambda losses, patience: float("inf"), ["int", "whole number"]),
    (ex.check_early_stopping, lambda losses, patience: float("nan"), ["int", "whole number"]),
    (ex.check_early_stopping, lambda losses, patience: 2.5, ["int", "whole number"]),
    (ex.check_early_stopping, lambda losses, patience: 2.0, ["int", "float"]),
    (ex.check_early_stopping, lambda losses, patience: True, ["int", "bool"]),
    (ex.check_early_stopping, lambda losses, patience: "2", ["int", "str"]),
    (ex.check_early_stopping, lambda losses, patience: [2], ["int", "list"]),
    # numbers that are not one number
    (ex.check_transfer_gain, lambda results, k: torch.tensor([0.35, 0.1]), ["one number"]),
    (ex.check_transfer_gain, lambda results, k: "0.35", ["one number", "str"]),
    (ex.check_transfer_gain, lambda results, k: 10**400, ["one number"]),
    (ex.check_cosine_schedule, lambda s, n, lr, w: [lr], ["one number"]),
    # other checkers, same class of slip
    (ex.check_gradient_reversal, lambda x, lam: x.double(), ["dtype"]),
    (ex.check_episode_sampler, lambda y, w, s, q, g: (torch.zeros(w * s) + 0.5, torch.zeros(w * q)), ["whole"]),
    (ex.check_episode_sampler, lambda y, w, s, q, g: ("abc", "def"), ["tensor"]),
    (ex.check_top_k, lambda logits, k: (["a"] * k, ["b"] * k), ["tensor"]),
    (ex.check_mean_pool, lambda h, m: torch.full((3, 4), float("nan")), ["unit length"]),
    (ex.check_to_model_input, lambda x: torch.full((5, 1, 28, 28), float("nan")), ["1/255"]),
    (ex.check_transfer, 3, ["Pass your function itself"]),
]


@pytest.mark.parametrize("check, answer, hints", BAD_ANSWERS)
def test_a_bad_answer_gets_one_line_with_a_hint(capsys, check, answer, hints):
    line = one_failing_line(check(answer), capsys)
    for hint in hints:
        assert hint in line, line
    assert "Traceback" not in line and "Correct" not in line


def test_numpy_arrays_are_fine_answers(capsys):
    def as_numpy(x, ratio, g, patch):
        masked, mask = pretext.mask_patches(x, ratio, g, patch)
        return masked.numpy(), mask.numpy()

    assert ex.check_mask_patches(as_numpy)
    assert ex.check_pseudo_label_selection(lambda *a: tuple(t.numpy() for t in select_pseudo_labels(*a)))
    assert ex.check_early_stopping(lambda losses, patience: np.int64(kept(losses, patience)))
    out = capsys.readouterr().out
    assert out.count("✅ Correct!") == 3, out


# --- 01.1: a fresh network is not a transferred one ------------------------------------------------


@pytest.mark.parametrize("seed", [0, 1, 123])
def test_transfer_rejects_a_fresh_glyphnet_whatever_its_seed(capsys, seed):
    line = one_failing_line(ex.check_transfer(lambda pretrained, k: GlyphNet(k, seed=seed)), capsys)
    assert "pre-trained" in line and "random" in line and "copy" in line.lower()


def test_transfer_rejects_a_fresh_backbone_with_the_pretrained_head_size(capsys):
    def fresh_like_pretrained(pretrained, k):
        return models.new_head(GlyphNet(pretrained.head.out_features, seed=1), k)

    line = one_failing_line(ex.check_transfer(fresh_like_pretrained), capsys)
    assert "random" in line


def test_transfer_accepts_the_notebook_solution(capsys):
    def transfer(pretrained, num_classes):
        net = copy.deepcopy(pretrained)
        net.head = torch.nn.Linear(net.head.in_features, num_classes)
        return net

    assert ex.check_transfer(transfer)
    out = capsys.readouterr().out
    assert out == "✅ Correct! The backbone is transferred and the head is new: ready to fine-tune.\n"


def test_transfer_reports_a_model_whose_forward_returns_no_tensor(capsys):
    class TwoOutputs(nn.Module):
        def __init__(self, net):
            super().__init__()
            self.net, self.head = net, net.head

        def forward(self, x):
            return self.net(x), "extra"

    def wrapped(pretrained, k):
        return TwoOutputs(models.new_head(copy.deepcopy(pretrained), k))

    assert "not a tensor" in one_failing_line(ex.check_transfer(wrapped), capsys)


# --- a slip the checker did not foresee ------------------------------------------------------------


def test_an_unforeseen_slip_gets_a_hint_not_a_traceback(capsys):
    to_meta = lambda x: (x[:, None].float() / 255).to("meta")  # noqa: E731 - its values cannot be read
    line = one_failing_line(ex.check_to_model_input(to_meta), capsys)
    assert "could not be checked" in line and "float32 tensor [N, 1, 28, 28]" in line


def test_the_checker_decorator_turns_any_error_into_one_line(capsys):
    @checker("Return a list of three numbers.")
    def check_third(fn):
        """Exercise: `fn()` returns three numbers."""
        return core.verdict(learner(fn)[2] == 3, "three")

    assert check_third.__doc__ == "Exercise: `fn()` returns three numbers."
    line = one_failing_line(check_third(lambda: [1]), capsys)
    assert (
        line == "❌ Not quite. Your answer could not be checked (IndexError: list index out of range). "
        "Return a list of three numbers."
    )
    line = one_failing_line(check_third(lambda: {}["key"]), capsys)
    assert line == "❌ Your function raised KeyError: 'key'"
    assert check_third(lambda: [1, 2, 3])
    assert capsys.readouterr().out == "✅ Correct! three\n"


def test_a_multi_line_error_is_reported_in_one_line(capsys):
    def crash(*args):
        raise ValueError("first line\nsecond line\nthird line")

    assert one_failing_line(ex.check_top_k(crash), capsys) == "❌ Your function raised ValueError: first line"


# --- code that never ends is stopped ---------------------------------------------------------------


def forever(*args):
    while True:
        pass


def stubborn(*args):
    """Swallows every Exception, so only something outside `Exception` can stop it."""
    while True:
        try:
            while True:
                pass  # noqa: E701 - one line: no new "line" event for a tracer to see
        except Exception:
            pass


@pytest.fixture
def short_limit(monkeypatch):
    monkeypatch.setattr(core, "TIME_LIMIT_S", 0.5)


def assert_stopped(check, fn, capsys) -> None:
    start = time.monotonic()
    line = one_failing_line(check(fn), capsys)
    assert time.monotonic() - start < 5
    assert line == "❌ Your function ran for over 0.5 s and was stopped: look for a loop that never ends."


@pytest.mark.skipif(not hasattr(signal, "setitimer"), reason="SIGALRM timers are Unix-only")
@pytest.mark.parametrize("fn", [forever, stubborn])
def test_a_timer_stops_code_that_never_ends_and_is_put_back(capsys, short_limit, fn):
    assert time_limit.alarm_available()
    handler_before = signal.getsignal(signal.SIGALRM)
    assert_stopped(ex.check_early_stopping, fn, capsys)
    assert signal.getsignal(signal.SIGALRM) is handler_before
    assert signal.getitimer(signal.ITIMER_REAL) == (0.0, 0.0)


@pytest.mark.skipif(not hasattr(signal, "setitimer"), reason="SIGALRM timers are Unix-only")
def test_an_outer_timer_and_handler_survive(capsys, short_limit):
    rang = []
    previous = signal.signal(signal.SIGALRM, lambda signum, frame: rang.append(signum))
    try:
        signal.setitimer(signal.ITIMER_REAL, 100.0)
        assert_stopped(ex.check_cosine_schedule, forever, capsys)
        left, _ = signal.getitimer(signal.ITIMER_REAL)
        assert 95 < left < 100
        assert not rang
        signal.setitimer(signal.ITIMER_REAL, 0.05)  # the restored handler is the outer one
        time.sleep(0.2)
        assert rang == [signal.SIGALRM]
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


@pytest.mark.parametrize("fn", [forever, stubborn])
def test_without_signals_a_tracer_stops_the_code_and_is_put_back(capsys, short_limit, monkeypatch, fn):
    monkeypatch.setattr(time_limit, "alarm_available", lambda: False)
    monkeypatch.setattr(signal, "setitimer", None)  # the timer is not used at all
    calls = []

    def outer_tracer(frame, event, arg):  # a debugger's, say: it must be back afterwards
        calls.append(event)

    previous = sys.gettrace()
    sys.settrace(outer_tracer)
    try:
        assert_stopped(ex.check_pseudo_label_selection, fn, capsys)
        assert sys.gettrace() is outer_tracer
    finally:
        sys.settrace(previous)
    assert calls


def test_in_another_thread_the_tracer_takes_over(capsys, short_limit):
    verdicts = []
    worker = threading.Thread(target=lambda: verdicts.append(ex.check_mean_pool(forever)))
    start = time.monotonic()
    worker.start()
    worker.join(timeout=10)
    assert not worker.is_alive()
    assert verdicts == [False] and time.monotonic() - start < 5
    assert "ran for over 0.5 s and was stopped" in capsys.readouterr().out


def test_a_returned_model_that_never_ends_is_stopped_too(capsys, short_limit):
    class Endless(nn.Module):
        def __init__(self, net):
            super().__init__()
            self.net, self.head = net, net.head

        def forward(self, x):
            forever()

    assert_stopped(
        ex.check_transfer, lambda pretrained, k: Endless(models.new_head(copy.deepcopy(pretrained), k)), capsys
    )


def test_a_fast_answer_is_not_slowed_by_the_limit(capsys):
    start = time.monotonic()
    assert ex.check_cosine_schedule(lambda step, steps, lr, warmup: _cosine(step, steps, lr, warmup))
    assert time.monotonic() - start < 2
    assert "Correct" in capsys.readouterr().out


def _cosine(step, steps, base_lr, warmup):
    if step < warmup:
        return base_lr * (step + 1) / warmup
    return base_lr * 0.5 * (1 + math.cos(math.pi * (step - warmup) / (steps - warmup)))


STOP_IN_JUPYTER = """\
from course_utils.exercises import check_early_stopping, core
core.TIME_LIMIT_S = 1


def kept_checkpoint(val_losses, patience):
    while True:
        pass


check_early_stopping(kept_checkpoint)
"""


def test_a_jupyter_kernel_stops_the_loop_and_runs_the_next_cell():
    nb = nbformat.v4.new_notebook()
    next_cell = "from course_utils.exercises import time_limit\nprint('next cell', time_limit.alarm_available())"
    nb.cells = [nbformat.v4.new_code_cell(STOP_IN_JUPYTER), nbformat.v4.new_code_cell(next_cell)]
    start = time.monotonic()
    nbclient.NotebookClient(nb, kernel_name="python3", timeout=60).execute()
    printed = ["".join(o.get("text", "") for o in cell.outputs) for cell in nb.cells]
    assert printed == [
        "❌ Your function ran for over 1 s and was stopped: look for a loop that never ends.\n",
        f"next cell {hasattr(signal, 'setitimer')}\n",
    ]  # the kernel runs cells where a timer works
    assert time.monotonic() - start < 20


# --- every checker, the same guarantees ------------------------------------------------------------

FUNCTION_CHECKERS = [
    getattr(ex, name)
    for name in ex.__all__
    if name.startswith("check_") and name not in ("check_transfer_types", "check_strategy_choices")
]


def one_line(ok: Verdict, capsys) -> str:
    out = capsys.readouterr().out
    assert not ok and out.count("\n") == 1, out
    return out.strip()


def test_every_checker_is_wrapped_by_the_checker_decorator():
    checks = [getattr(ex, name) for name in ex.__all__ if name.startswith("check_")]
    assert len(checks) == len(FUNCTION_CHECKERS) + 2 == 19
    unwrapped = [c.__name__ for c in checks if getattr(c, "__wrapped__", None) is None]
    assert not unwrapped


@pytest.mark.parametrize("check", FUNCTION_CHECKERS, ids=lambda c: c.__name__)
def test_every_checker_says_not_done_and_reports_a_crash_in_one_line(capsys, check):
    assert one_line(check(None), capsys) == core.NOT_DONE

    def crashes(*args):
        raise IndexError("index 7 is out of bounds")

    assert one_failing_line(check(crashes), capsys) == "❌ Your function raised IndexError: index 7 is out of bounds"


def test_every_checker_stops_code_that_never_ends(capsys, monkeypatch):
    monkeypatch.setattr(core, "TIME_LIMIT_S", 0.2)
    start = time.monotonic()
    for check in FUNCTION_CHECKERS:
        line = one_failing_line(check(forever), capsys)
        assert line.startswith("❌ Your function ran for over 0.2 s and was stopped"), check.__name__
    assert time.monotonic() - start < 3 * 0.2 * len(FUNCTION_CHECKERS)


@pytest.mark.skipif(not hasattr(signal, "setitimer"), reason="SIGALRM timers are Unix-only")
def test_an_outer_timer_due_first_is_left_alone_and_the_tracer_stops_the_code(capsys, short_limit):
    rang = []

    def outer_handler(signum, frame):
        rang.append(signum)

    previous = signal.signal(signal.SIGALRM, outer_handler)
    try:
        signal.setitimer(signal.ITIMER_REAL, 0.3)  # due before the 0.5 s limit
        assert_stopped(ex.check_top_k, forever, capsys)
        assert rang == [signal.SIGALRM]  # the outer timer rang on time, to its own handler
        assert signal.getsignal(signal.SIGALRM) is outer_handler
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


@pytest.mark.parametrize("check", [ex.check_transfer_types, ex.check_strategy_choices], ids=lambda c: c.__name__)
def test_an_unanswered_choice_exercise_asks_for_the_answers_not_for_code(capsys, check):
    assert one_line(check(None), capsys) == core.NOT_ANSWERED
