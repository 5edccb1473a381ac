"""The course's speed ratios, each a median over repeats. Prints figures; asserts nothing.

    python bench/ratios.py               # torch's default threads (1 thread if the machine is already busy)
    python bench/ratios.py --threads 2

(a) data generation vs training step: an augmented glyph batch of 64 against one GlyphNet step on it,
    and the cost per image of placing the handwritten digits on their wild canvas;
(b) the course's training loop (`training.fit`) vs a minimal hand-written loop, same steps and batch size;
(c) feature extraction with cached features (extract once, train a linear head for E epochs) vs a
    frozen backbone forwarded every epoch, with both test accuracies on the wild handwritten digits;
(d) a GlyphNet training step with its convolution weights in the default (contiguous) layout vs the
    channels-last layout GlyphNet stores them in.

The two sides of each ratio are timed alternately, so a neighbour's load slows both alike.
"""

from __future__ import annotations

import argparse
import copy
import os
import statistics
import time
from collections.abc import Callable

import torch
import torch.nn.functional as F
from sklearn.datasets import load_digits

from course_utils import augment, checkpoints, digits, glyphs, models, training

BATCH_SIZE = 64
FIGURES: dict[str, float] = {}  # the last measured ratios, by name, for bench/report.py


HEAD_LR = 1e-2  # learning rate of the linear head in (c), the same on both sides


def median(times: list[float]) -> float:
    """Median of wall times, in seconds."""
    return statistics.median(times)


def median_ms(times: list[float]) -> float:
    """Median of wall times, in milliseconds."""
    return 1000 * statistics.median(times)


def timed(fn: Callable[[], object], repeats: int) -> list[float]:
    """Wall times of `repeats` calls of `fn`, after one untimed warm-up call."""
    fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return times


def alternate(
    first: Callable[[], object], second: Callable[[], object], repeats: int, warm_up: bool = True
) -> tuple[list[float], list[float]]:
    """Time `first` and `second` alternately, `repeats` times each, after one untimed call of each."""
    if warm_up:
        first(), second()
    a, b = [], []
    for _ in range(repeats):
        for fn, times in ((first, a), (second, b)):
            start = time.perf_counter()
            fn()
            times.append(time.perf_counter() - start)
    return a, b


def train_step(model: torch.nn.Module, opt: torch.optim.Optimizer, X: torch.Tensor, y: torch.Tensor) -> None:
    """One plain AdamW step with cross-entropy."""
    loss = F.cross_entropy(model(X), y)
    opt.zero_grad(set_to_none=True)
    loss.backward()
    opt.step()


def data_vs_step(repeats: int) -> list[tuple[str, str, str, str]]:
    """(a) Generating an augmented batch vs one training step on it; wild digit presentation per image."""
    background = glyphs.background_alphabets()
    g = torch.Generator().manual_seed(0)
    net = models.GlyphNet(num_classes=background.num_classes, widths=models.WIDTHS).train()
    opt = torch.optim.AdamW(net.parameters(), lr=1e-3)
    batch = {}

    def generate() -> None:
        batch["X"], batch["y"] = glyphs.sample_batch(background, BATCH_SIZE, augment.GLYPHS, g)

    gen, step = alternate(generate, lambda: train_step(net, opt, batch["X"], batch["y"]), repeats)

    images8 = torch.tensor(load_digits().images, dtype=torch.float32) / 16  # all 1,797 UCI digits, 8x8
    wild = timed(lambda: digits.present(images8, "wild", seed=0), repeats=3)
    wild_us = 1e6 * median(wild) / len(images8)
    step_us = 1000 * median_ms(step) / BATCH_SIZE
    FIGURES["data / step"] = median(gen) / median(step)
    FIGURES["wild presentation / step, per image"] = wild_us / step_us
    return [
        (
            "(a)",
            f"augmented glyph batch of {BATCH_SIZE} ({background.num_classes} classes)",
            f"{median_ms(gen):.1f} ms",
            "",
        ),
        ("", f"GlyphNet training step on it, AdamW {models.WIDTHS}", f"{median_ms(step):.1f} ms", ""),
        ("", "data generation / training step", "", f"{median(gen) / median(step):.2f}"),
        ("", f"wild digit presentation, per image ({len(images8)} at once)", f"{wild_us:.1f} µs", ""),
        ("", "wild presentation / training step, per image", "", f"{wild_us / step_us:.3f}"),
    ]


def fit_vs_plain(steps: int, repeats: int) -> list[tuple[str, str, str, str]]:
    """(b) `training.fit` vs the shortest loop that does the same AdamW steps."""
    data = digits.handwritten_digits("wild")
    X, y = data.X_train, data.y_train

    def course_loop() -> None:
        net = models.GlyphNet(num_classes=10, widths=models.WIDTHS)
        training.fit(net, (X, y), steps=steps, batch_size=BATCH_SIZE, progress=False)

    def plain_loop() -> None:
        net = models.GlyphNet(num_classes=10, widths=models.WIDTHS).train()
        opt = torch.optim.AdamW(net.parameters(), lr=1e-3, weight_decay=0.0)  # fit's defaults: the same arithmetic
        g = torch.Generator().manual_seed(0)
        for _ in range(steps):
            rows = torch.randint(len(X), (BATCH_SIZE,), generator=g)
            train_step(net, opt, X[rows], y[rows])

    course, plain = alternate(course_loop, plain_loop, repeats, warm_up=False)  # (a) warmed up torch
    FIGURES["fit / plain"] = median(course) / median(plain)
    return [
        ("(b)", f"training.fit, {steps} steps of {BATCH_SIZE} (progress=False)", f"{median(course):.2f} s", ""),
        ("", f"hand-written AdamW loop, {steps} steps of {BATCH_SIZE}", f"{median(plain):.2f} s", ""),
        ("", "overhead: fit / hand-written", "", f"{median(course) / median(plain):.3f}"),
    ]


def layout(repeats: int) -> list[tuple[str, str, str, str]]:
    """(d) One GlyphNet step with contiguous convolution weights vs channels-last ones (GlyphNet's own)."""
    g = torch.Generator().manual_seed(0)
    X, y = torch.rand(BATCH_SIZE, 1, 28, 28, generator=g), torch.randint(10, (BATCH_SIZE,), generator=g)
    last = models.GlyphNet(num_classes=10).train()
    contiguous = copy.deepcopy(last).to(memory_format=torch.contiguous_format)
    opts = [torch.optim.AdamW(net.parameters(), lr=1e-3) for net in (contiguous, last)]
    plain, chosen = alternate(
        lambda: train_step(contiguous, opts[0], X, y), lambda: train_step(last, opts[1], X, y), repeats
    )
    FIGURES["contiguous / channels-last"] = median(plain) / median(chosen)
    return [
        ("(d)", f"GlyphNet step on {BATCH_SIZE} images, contiguous weights", f"{median_ms(plain):.1f} ms", ""),
        ("", f"GlyphNet step on {BATCH_SIZE} images, channels-last weights", f"{median_ms(chosen):.1f} ms", ""),
        ("", "contiguous / channels-last", "", f"{median(plain) / median(chosen):.2f}"),
    ]


def cached_vs_frozen(epochs: int, repeats: int, lr: float) -> list[tuple[str, str, str, str]]:
    """(c) Train a linear head on cached features vs through a frozen backbone, same batches and init."""
    data = digits.handwritten_digits("wild")
    steps = epochs * (len(data.y_train) // BATCH_SIZE)
    pretrained = models.freeze_up_to(models.new_head(checkpoints.load_glyphnet(), num_classes=10), "block4")
    trained = {}

    def cached() -> None:
        head = copy.deepcopy(pretrained.head)  # the very same initial head as the frozen model's
        features = training.extract_features(pretrained, data.X_train, cache=False)  # once, not per epoch
        training.fit(head, (features, data.y_train), steps=steps, lr=lr, progress=False)
        trained["cached"] = head

    def frozen() -> None:
        net = copy.deepcopy(pretrained)
        training.fit(net, (data.X_train, data.y_train), steps=steps, lr=lr, progress=False)
        trained["frozen"] = net

    t_cached, t_frozen = alternate(cached, frozen, repeats, warm_up=False)
    test_features = training.extract_features(pretrained, data.X_test, cache=False)
    acc_cached = training.evaluate(trained["cached"], test_features, data.y_test)
    acc_frozen = training.evaluate(trained["frozen"], data.X_test, data.y_test)
    FIGURES["frozen / cached"] = median(t_frozen) / median(t_cached)
    return [
        (
            "(c)",
            f"cached features + linear head, {epochs} epochs ({steps} steps, lr {lr:g})",
            f"{median(t_cached):.2f} s",
            f"acc {acc_cached:.3f}",
        ),
        (
            "",
            f"frozen backbone forwarded every epoch, {epochs} epochs",
            f"{median(t_frozen):.2f} s",
            f"acc {acc_frozen:.3f}",
        ),
        ("", "speed-up: frozen / cached", "", f"{median(t_frozen) / median(t_cached):.1f}x"),
    ]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--threads",
        type=int,
        default=None,
        help="torch threads (default: torch's choice, or 1 when the machine is already busy)",
    )
    parser.add_argument("--repeats", type=int, default=15, help="repeats of the per-batch timings in (a)")
    parser.add_argument("--steps", type=int, default=40, help="training steps per loop in (b)")
    parser.add_argument("--epochs", type=int, default=10, help="epochs of head training in (c)")
    args = parser.parse_args(argv)
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else 0.0
    busy = load >= (os.cpu_count() or 1)
    if args.threads or busy:
        # Several threads on cores that other processes already use wait on each other: 5-10x slower.
        torch.set_num_threads(args.threads or 1)
    print(
        f"torch {torch.__version__}, {torch.get_num_threads()} thread(s), {os.cpu_count()} CPU core(s), "
        f"load average {load:.1f}; medians of repeated runs, the two sides of a ratio timed alternately"
    )
    if busy:
        print(
            "The machine is busy (load at or above its core count): absolute times are inflated, ratios hold "
            "better." + ("" if args.threads else " Using 1 thread; choose with --threads.")
        )
    start = time.perf_counter()
    rows = [
        *data_vs_step(args.repeats),
        *fit_vs_plain(args.steps, repeats=9),
        *cached_vs_frozen(args.epochs, repeats=3, lr=HEAD_LR),
        *layout(3 * args.repeats),
    ]
    header = ("", "measure", "median", "ratio / accuracy")
    widths = [max(len(r[i]) for r in (header, *rows)) for i in range(len(header))]

    def line(cells: tuple[str, ...]) -> str:  # text left-aligned, figures right-aligned
        padded = [c.ljust(w) if i < 2 else c.rjust(w) for i, (c, w) in enumerate(zip(cells, widths, strict=True))]
        return "  ".join(padded)

    print(line(header))
    print("-" * len(line(header)))
    for i, r in enumerate(rows):
        if r[0] and i > 0:  # a blank line before each of (b), (c) and (d)
            print()
        print(line(r).rstrip())
    print(f"\n({time.perf_counter() - start:.0f} s in all)")


if __name__ == "__main__":
    main()
