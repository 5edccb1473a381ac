"""Interactive explorers: a few controls and a figure that redraws when they move.

The first figure is put into the view directly (no printing while the cell runs), so a notebook
shows the same cell output with or without a widget front end, and nbval can compare it.
"""

from __future__ import annotations

import io
from collections.abc import Callable

import ipywidgets as widgets
import matplotlib.pyplot as plt
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
        fig = render(**{name: c.value for name, c in controls.items()})
        if not isinstance(fig, plt.Figure):
            raise TypeError(f"The render function must return a matplotlib Figure, got {type(fig).__name__}.")
        png = io.BytesIO()
        fig.savefig(png, format="png", bbox_inches="tight")
        plt.close(fig)  # shown by the view only, not again at the end of the cell
        return Image(data=png.getvalue(), format="png")

    def redraw(_change: dict) -> None:
        with view:
            clear_output(wait=True)
            display(figure())

    view.append_display_data(figure())
    for c in controls.values():
        c.observe(redraw, names="value")
    return Explorer(list(controls.values()), view)
