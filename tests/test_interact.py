"""The explorer widget and the plot helpers."""

from __future__ import annotations

import ipywidgets as widgets
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

from course_utils import interact, plots  # noqa: E402


def _render(k: int) -> plt.Figure:
    fig, ax = plt.subplots()
    ax.set_title(f"k={k}")
    return fig


def test_explorer_shows_the_first_view_without_printing(capsys):
    box = interact.explorer(_render, k=widgets.IntSlider(value=3, min=1, max=5, description="k"))
    assert len(box.view.outputs) == 1 and "image/png" in box.view.outputs[0]["data"]
    assert capsys.readouterr().out == ""  # nothing leaks into the cell's own output


def test_explorer_text_says_how_to_use_it():
    box = interact.explorer(_render, k=widgets.IntSlider(value=3, description="labels"))
    assert "labels" in repr(box) and "JupyterLab" in repr(box)


def test_explorer_redraws_when_a_control_moves():
    calls = []

    def render(k: int) -> plt.Figure:
        calls.append(k)
        return _render(k)

    slider = widgets.IntSlider(value=1, min=1, max=5)
    interact.explorer(render, k=slider)
    slider.value = 4
    assert calls == [1, 4]


def test_explorer_needs_controls_and_a_figure():
    with pytest.raises(ValueError, match="at least one control"):
        interact.explorer(_render)
    with pytest.raises(TypeError, match="must return a matplotlib Figure"):
        interact.explorer(lambda k: "not a figure", k=widgets.IntSlider())


def test_show_images_makes_one_axis_per_image_with_titles():
    fig = plots.show_images(torch.rand(5, 1, 28, 28), titles=list("abcde"), ncols=3)
    shown = [ax for ax in fig.axes if ax.images]
    assert len(shown) == 5 and [ax.get_title() for ax in shown] == list("abcde")
    plt.close(fig)


def test_draw_network_rejects_unknown_states():
    with pytest.raises(ValueError, match="Unknown state"):
        plots.draw_network({"block1": "melted"})
    ax = plots.draw_network({"block1": "frozen", "head": "new"})
    assert len(ax.patches) == 2
    plt.close(ax.figure)


def test_drawing_pad_follows_the_drawing():
    import numpy as np

    seen = []

    def render(pixels):
        seen.append(pixels.copy())
        fig, ax = plt.subplots()
        ax.imshow(pixels)
        return fig

    pad = interact.DrawingPad(render, size=4)
    assert seen[-1].shape == (4, 4) and seen[-1].sum() == 0
    pad.buttons[5].value = True  # a click
    assert seen[-1][1, 1] == 1 and seen[-1].sum() == 1
    count = len(seen)
    pad.draw(np.eye(4))
    assert len(seen) == count + 1, "drawing a whole picture redraws once"
    assert np.array_equal(pad.pixels, np.eye(4))
    assert "Drawing pad" in repr(pad)
    with pytest.raises(ValueError, match="4 x 4"):
        pad.draw(np.zeros((8, 8)))
    with pytest.raises(TypeError, match="Figure"):
        interact.DrawingPad(lambda pixels: "not a figure", size=4)
