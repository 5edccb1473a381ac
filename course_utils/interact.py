"""Interactive explorers: a few controls and a figure that redraws when they move.

The first figure is put into the view directly (no printing while the cell runs), so a notebook
shows the same cell output with or without a widget front end, and nbval can compare it.
"""

from __future__ import annotations

import io
from collections.abc import Callable

import ipywidgets as widgets
import matplotlib.pyplot as plt
import numpy as np
from IPython.display import Image, clear_output, display


class Explorer(widgets.VBox):
    """Controls above a view. Where widgets cannot be shown, its text says how to use it."""

    def __init__(self, controls: list[widgets.ValueWidget], view: widgets.Output):
        super().__init__([widgets.HBox(controls), view])
        self.controls = controls
        self.view = view

    def __repr__(self) -> str:
        names = ", ".join(c.description or type(c).__name__ for c in self.controls)
        return f"Interactive explorer ({names}): open the notebook in JupyterLab and run it to use the controls."


def explorer(render: Callable[..., plt.Figure], **controls: widgets.ValueWidget) -> Explorer:
    """Show `render(**values)` (a matplotlib Figure) and redraw it whenever one of `controls` changes.

    Example: ``explorer(show_run, k=widgets.IntSlider(...), draw=widgets.IntSlider(...))``.
    """
    if not controls:
        raise ValueError("Give at least one control, e.g. k=widgets.IntSlider(min=1, max=20).")
    view = widgets.Output()

    def figure() -> Image:
        return _as_image(render(**{name: c.value for name, c in controls.items()}))

    def redraw(_change: dict) -> None:
        with view:
            clear_output(wait=True)
            display(figure())

    view.append_display_data(figure())
    for c in controls.values():
        c.observe(redraw, names="value")
    return Explorer(list(controls.values()), view)


def _as_image(fig: plt.Figure) -> Image:
    """A rendered PNG of `fig`, which is then closed (shown by a view only, not again at the end of the cell)."""
    if not isinstance(fig, plt.Figure):
        raise TypeError(f"The render function must return a matplotlib Figure, got {type(fig).__name__}.")
    png = io.BytesIO()
    fig.savefig(png, format="png", bbox_inches="tight")
    plt.close(fig)
    return Image(data=png.getvalue(), format="png")


class DrawingPad(widgets.HBox):
    """A square grid of toggle buttons to draw on, beside a view of `render(pixels)` that follows every click.

    `pixels` is a float array [size, size] with 1 where a button is pressed. ``pad.draw(array)`` sets the whole
    grid at once (values above 0.5 count as ink), e.g. to start from an example.
    """

    def __init__(self, render: Callable[[np.ndarray], plt.Figure], size: int = 8, cell_px: int = 26):
        if size < 2:
            raise ValueError(f"A drawing pad needs at least 2 x 2 cells (got size={size}).")
        self.size, self._render, self._quiet = size, render, False
        cell = widgets.Layout(width=f"{cell_px}px", height=f"{cell_px}px", padding="0", margin="0")
        self.buttons = [
            widgets.ToggleButton(value=False, layout=cell, tooltip="click to draw or erase") for _ in range(size * size)
        ]
        grid = widgets.GridBox(
            self.buttons, layout=widgets.Layout(grid_template_columns=f"repeat({size}, {cell_px}px)", grid_gap="1px")
        )
        clear = widgets.Button(description="Clear", icon="eraser", layout=widgets.Layout(width=f"{size * 27}px"))
        clear.on_click(lambda _button: self.draw(np.zeros((size, size))))
        self.view = widgets.Output()
        super().__init__([widgets.VBox([grid, clear]), self.view])
        for button in self.buttons:
            button.observe(self._redraw, names="value")
        self.view.append_display_data(_as_image(render(self.pixels)))

    @property
    def pixels(self) -> np.ndarray:
        return np.array([b.value for b in self.buttons], dtype=np.float32).reshape(self.size, self.size)

    def draw(self, pixels: np.ndarray) -> None:
        """Set every cell from an array [size, size]; the view is redrawn once."""
        pixels = np.asarray(pixels, dtype=float)
        if pixels.shape != (self.size, self.size):
            raise ValueError(f"Give a {self.size} x {self.size} array of pixels (got shape {list(pixels.shape)}).")
        self._quiet = True
        try:
            for button, value in zip(self.buttons, pixels.flat, strict=True):
                button.value = bool(value > 0.5)
        finally:
            self._quiet = False
        self._redraw(None)

    def _redraw(self, _change: dict | None) -> None:
        if self._quiet:
            return
        image = _as_image(self._render(self.pixels))
        self.view.outputs = ()  # set the view's content directly: the same with or without a front end
        self.view.append_display_data(image)

    def __repr__(self) -> str:
        return (
            f"Drawing pad ({self.size} x {self.size} cells): open the notebook in JupyterLab and run it to draw "
            "and see the predictions."
        )
