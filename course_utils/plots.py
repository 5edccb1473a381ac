"""Plots the notebooks share: image grids and curves, in a colour-blind-safe palette."""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib.pyplot as plt
import numpy as np
import torch
from scipy import stats

# Okabe-Ito: distinguishable with every common form of colour blindness.
PALETTE = ["#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442", "#000000"]
PRETRAINED, SCRATCH = PALETTE[0], PALETTE[1]


def setup() -> None:
    """Course-wide matplotlib defaults: palette, sizes, PNG output."""
    plt.rcParams.update(
        {
            "axes.prop_cycle": plt.cycler(color=PALETTE),
            "figure.figsize": (7, 3.6),
            "figure.dpi": 90,
            "axes.grid": True,
            "grid.alpha": 0.3,
            "axes.spines.top": False,
            "axes.spines.right": False,
            "font.size": 10,
        }
    )


def show_images(
    images: torch.Tensor | np.ndarray,
    titles: Sequence[str] | None = None,
    ncols: int = 12,
    title: str | None = None,
    size: float = 0.9,
) -> plt.Figure:
    """A grid of grey images ([N, 1, H, W], [N, H, W]; ink is dark) with optional titles."""
    images = torch.as_tensor(images).float()
    images = images[:, 0] if images.dim() == 4 else images
    if images.max() > 1:
        images = images / 255
    n = len(images)
    nrows = max(1, -(-n // ncols))
    fig, axes = plt.subplots(nrows, ncols, figsize=(ncols * size, nrows * size * (1.25 if titles else 1)))
    for i, ax in enumerate(np.atleast_1d(axes).flat):
        ax.axis("off")
        if i < n:
            ax.imshow(images[i].numpy(), cmap="gray_r", vmin=0, vmax=1)
            if titles is not None:
                ax.set_title(titles[i], fontsize=8)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def plot_mean_band(ax: plt.Axes, x: Sequence[float], runs: np.ndarray, label: str, color: str | None = None) -> None:
    """Mean of several runs (rows of `runs`) as a line, with a band from the lowest to the highest run."""
    runs = np.asarray(runs, dtype=float)
    mean = runs.mean(0)
    line = ax.plot(x, mean, "o-", label=label, color=color)[0]
    ax.fill_between(x, runs.min(0), runs.max(0), color=line.get_color(), alpha=0.2)


def mean_interval(runs: Sequence[float] | np.ndarray, axis: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Mean of the runs along `axis` and the half-width of its 95% confidence interval (Student's t).

    With a single run the half-width is 0: one draw says nothing about the spread.
    """
    runs = np.asarray(runs, dtype=float)
    n = runs.shape[axis]
    mean = runs.mean(axis)
    if n < 2:
        return mean, np.zeros_like(mean)
    return mean, stats.t.ppf(0.975, n - 1) * runs.std(axis, ddof=1) / np.sqrt(n)


def plot_mean_interval(
    ax: plt.Axes, x: Sequence[float], runs: np.ndarray, label: str, color: str | None = None
) -> None:
    """Mean of several runs (rows of `runs`) as a line, with its 95% confidence interval as a band."""
    mean, half = mean_interval(runs)
    line = ax.plot(x, mean, "o-", label=label, color=color)[0]
    ax.fill_between(x, mean - half, mean + half, color=line.get_color(), alpha=0.2)


_STATE_COLORS = {"frozen": "#BBBBBB", "trains": PALETTE[0], "new": PALETTE[1], "random": "#FFFFFF"}


def draw_network(states: dict[str, str], title: str = "", ax: plt.Axes | None = None) -> plt.Axes:
    """Boxes for the blocks of a network, coloured by state: "frozen", "trains", "new" or "random".

    Example: ``draw_network({"block1": "frozen", ..., "head": "new"})``.
    """
    unknown = {s for s in states.values() if s not in _STATE_COLORS}
    if unknown:
        raise ValueError(f"Unknown state(s) {sorted(unknown)}: use {sorted(_STATE_COLORS)}.")
    if ax is None:
        _, ax = plt.subplots(figsize=(1.2 * len(states) + 1, 1.3))
    for i, (name, state) in enumerate(states.items()):
        ax.add_patch(plt.Rectangle((i * 1.3, 0), 1, 1, facecolor=_STATE_COLORS[state], edgecolor="black"))
        ink = "white" if state == "trains" else "black"
        ax.text(i * 1.3 + 0.5, 0.62, name, ha="center", va="center", fontsize=9, color=ink)
        ax.text(i * 1.3 + 0.5, 0.3, state, ha="center", va="center", fontsize=8, style="italic", color=ink)
        if i:
            ax.annotate("", xy=(i * 1.3, 0.5), xytext=(i * 1.3 - 0.3, 0.5), arrowprops={"arrowstyle": "->"})
    ax.set_xlim(-0.2, len(states) * 1.3)
    ax.set_ylim(-0.1, 1.1)
    ax.set_aspect("equal")
    ax.axis("off")
    ax.set_title(title, fontsize=10, loc="left")
    return ax


def show_episode(
    ep,
    predicted: torch.Tensor | None = None,
    title: str = "",
    max_shots: int = 5,
    max_queries: int = 4,
    scripts: list[str] | None = None,
) -> plt.Figure:
    """A few-shot episode (`course_utils.fewshot.Episode`): support images on the left, one row per class, and
    some queries of each class on the right. With `predicted`, each query is titled with its predicted class:
    green when right, red when wrong. `scripts` names the script of each of the glyph set's classes."""
    shots, queries = min(max_shots, ep.shot), min(max_queries, len(ep.query_y) // ep.way)
    width = shots + 1 + queries
    fig, axes = plt.subplots(ep.way, width, figsize=(width * 0.75, ep.way * 0.8), squeeze=False)
    for c in range(ep.way):
        for j in range(shots):
            axes[c, j].imshow(ep.support_x[c * ep.shot + j, 0], cmap="gray_r")
        for j in range(queries):
            row = c * (len(ep.query_y) // ep.way) + j
            axes[c, shots + 1 + j].imshow(ep.query_x[row, 0], cmap="gray_r")
            if predicted is not None:
                guess = int(predicted[row])
                color = PALETTE[2] if guess == c else "crimson"
                axes[c, shots + 1 + j].set_title(f"→ {guess}", fontsize=8, pad=2, color=color)
        name = f"class {c}" + (f"\n{scripts[ep.classes[c]].title()}" if scripts else "")
        axes[c, 0].set_ylabel(name, rotation=0, ha="right", va="center", fontsize=8)
    for ax in axes.flat:
        ax.set(xticks=[], yticks=[])
        ax.spines[:].set_visible(ax.has_data())
    pad = 12 if predicted is not None else 4
    axes[0, shots // 2].set_title("support (labelled)", fontsize=9, pad=pad)
    axes[0, shots + 1 + queries // 2].set_title("queries", fontsize=9, pad=pad)
    fig.suptitle(title, y=1.0)
    return fig


def plot_loss_curves(
    ax: plt.Axes,
    steps: Sequence[float],
    train_loss: Sequence[float],
    val_loss: Sequence[float],
    title: str = "",
    kept: int | None = None,
    stopped: int | None = None,
) -> plt.Axes:
    """Training and validation loss against the step, on a log scale; mark the kept checkpoint and the stop.

    `kept` is the index of the checkpoint that is kept (a dot on the validation curve), `stopped` the index where
    early stopping stops (a dashed line); the curves go on past it, to show what stopping avoided.
    """
    ax.plot(steps, train_loss, color=PALETTE[0], label="training loss")
    ax.plot(steps, val_loss, color=PALETTE[1], label="validation loss")
    if kept is not None:
        label = "lowest validation loss" if stopped is None else "the weights early stopping keeps"
        ax.scatter(steps[kept], val_loss[kept], color=PALETTE[1], s=40, zorder=3, label=label)
    if stopped is not None:
        label = f"early stopping stops (step {steps[stopped]:g})"
        ax.axvline(steps[stopped], color="black", ls="--", lw=1, label=label)
    ax.set(yscale="log", xlabel="training step", ylabel="cross-entropy (log scale)", title=title)
    ax.legend(fontsize=8)
    return ax
