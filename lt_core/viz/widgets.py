"""Sliders in a live notebook, static pictures everywhere else.

A notebook cell calls :func:`slider_or_grid` with a drawing function and the values to explore. With a live Jupyter
front-end it shows an ``ipywidgets`` slider that redraws the figure; when the notebook runs headless (papermill,
nbval, ``lt-reproduce``, CI) it draws the same function once per value as small multiples, so the executed notebook
and its HTML export still show every setting.

Headless is decided by :func:`widgets_enabled`: an explicit ``interactive`` argument wins; otherwise widgets are used
only inside a Jupyter kernel with ``ipywidgets`` installed and without ``LT_HEADLESS=1`` in the environment (the
test suite and :mod:`lt_core.reproduce` set it).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from typing import Any

from matplotlib.axes import Axes
from matplotlib.figure import Figure

from lt_core.viz.mpl import small_multiples

__all__ = ["HEADLESS_ENV", "widgets_enabled", "slider_or_grid"]

HEADLESS_ENV = "LT_HEADLESS"
"""Environment variable that forces static pictures when set to ``1``/``true``."""


def widgets_enabled(interactive: bool | None = None) -> bool:
    """Whether to show ``ipywidgets`` sliders.

    Args:
        interactive: ``True``/``False`` to force; ``None`` to detect (a Jupyter kernel, ``ipywidgets`` importable,
            and the environment variable ``LT_HEADLESS`` not set to ``1``/``true``).
    """
    if interactive is not None:
        return bool(interactive)
    if os.environ.get(HEADLESS_ENV, "").strip().lower() in ("1", "true", "yes"):
        return False
    try:
        import ipywidgets  # noqa: F401
        from IPython import get_ipython
    except ImportError:
        return False
    shell = get_ipython()
    return shell is not None and shell.__class__.__name__ == "ZMQInteractiveShell"


def slider_or_grid(
    draw: Callable[[Axes, Any], None],
    values: Sequence[Any],
    name: str = "value",
    interactive: bool | None = None,
    ncols: int = 4,
    panel: tuple[float, float] = (3.2, 3.0),
    fmt: str = "{name} = {value}",
    suptitle: str | None = None,
    start: Any | None = None,
) -> Figure | Any:
    """Explore ``draw(ax, value)`` over ``values``: a slider when live, small multiples when headless.

    Args:
        draw: draws one setting into the given axes.
        values: the settings (numbers or labels), in slider order.
        name: the parameter's name (slider label, panel titles).
        interactive: force widgets on/off (see :func:`widgets_enabled`).
        ncols: panels per row of the static grid.
        panel: panel size (inches) of the static grid and of the live figure.
        fmt: panel title format with ``{name}`` and ``{value}``.
        suptitle: title over the static grid (and the live figure).
        start: the slider's initial value (default: the middle one).

    Returns:
        The ``ipywidgets`` interactive object when live, else the matplotlib figure of the grid.
    """
    values = list(values)
    if not values:
        raise ValueError("slider_or_grid needs at least one value")
    if not widgets_enabled(interactive):
        return small_multiples(draw, values, name, ncols, panel, fmt, suptitle)

    import ipywidgets as widgets
    import matplotlib.pyplot as plt

    slider = widgets.SelectionSlider(
        options=[(str(v), v) for v in values],
        description=name,
        value=start if start is not None else values[len(values) // 2],
        continuous_update=False,
        layout=widgets.Layout(width="60%"),
    )

    def update(value: Any) -> None:
        fig, ax = plt.subplots(figsize=(panel[0] * 1.6, panel[1] * 1.6))
        draw(ax, value)
        ax.set_title(fmt.format(name=name, value=value))
        if suptitle:
            fig.suptitle(suptitle)
        plt.show()

    return widgets.interact(update, value=slider)
