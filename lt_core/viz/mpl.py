"""Matplotlib helpers: images in the pixel-centre convention, 2D skeletons, per-view grids, small multiples.

Images are drawn with ``extent = (-0.5, W - 0.5, H - 0.5, -0.5)`` so that a point at pixel coordinates ``(u, v)``
(integer = pixel centre, docs/CONVENTIONS.md) is plotted exactly on the pixel that shows it.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from lt_core.skeleton import H36M17, Skeleton
from lt_core.viz.colors import SIDE_COLORS

__all__ = [
    "axes_grid",
    "show_image",
    "draw_skeleton_2d",
    "set_image_axes",
    "small_multiples",
    "draw_views",
    "plain_log_axis",
    "volume_slice",
]

ArrayLike = np.ndarray | torch.Tensor


def _np(x: ArrayLike) -> np.ndarray:
    if isinstance(x, torch.Tensor):
        x = x.detach().cpu().float().numpy()
    return np.asarray(x)


def axes_grid(
    n: int, ncols: int = 4, panel: tuple[float, float] = (3.2, 3.2), **kwargs: Any
) -> tuple[Figure, list[Axes]]:
    """A figure with ``n`` panels in rows of ``ncols``; unused panels are hidden.

    Args:
        n: number of panels.
        ncols: panels per row (fewer when ``n`` is smaller).
        panel: (width, height) of one panel in inches.
        **kwargs: passed to :func:`matplotlib.pyplot.subplots`.

    Returns:
        ``(figure, axes)`` with ``axes`` a flat list of ``n`` axes.
    """
    ncols = max(1, min(ncols, n))
    nrows = math.ceil(n / ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(panel[0] * ncols, panel[1] * nrows), squeeze=False, **kwargs)
    flat = list(axes.ravel())
    for ax in flat[n:]:
        ax.set_visible(False)
    return fig, flat[:n]


def show_image(ax: Axes, image: ArrayLike, **kwargs: Any) -> None:
    """Show an image with integer coordinates at pixel centres.

    Args:
        ax: target axes.
        image: (3, H, W) or (H, W, 3) RGB in [0, 1], or (H, W) grey/scalar map.
        **kwargs: passed to :meth:`matplotlib.axes.Axes.imshow` (e.g. ``cmap``).
    """
    im = _np(image)
    if im.ndim == 3 and im.shape[0] in (1, 3) and im.shape[-1] not in (1, 3):
        im = np.moveaxis(im, 0, -1)
    if im.ndim == 3 and im.shape[-1] == 1:
        im = im[..., 0]
    h, w = im.shape[:2]
    ax.imshow(
        np.clip(im, 0, 1) if im.ndim == 3 else im,
        extent=(-0.5, w - 0.5, h - 0.5, -0.5),
        interpolation="nearest",
        **kwargs,
    )


def set_image_axes(ax: Axes, size: Sequence[float], ticks: bool = False) -> None:
    """Limit axes to an image of ``size = (W, H)`` pixels, v pointing down, equal aspect."""
    w, h = float(size[0]), float(size[1])
    ax.set_xlim(-0.5, w - 0.5)
    ax.set_ylim(h - 0.5, -0.5)
    ax.set_aspect("equal")
    if not ticks:
        ax.set_xticks([])
        ax.set_yticks([])


def draw_skeleton_2d(
    ax: Axes,
    points: ArrayLike,
    skeleton: Skeleton = H36M17,
    color: str | None = None,
    visible: ArrayLike | None = None,
    linewidth: float = 2.0,
    markersize: float = 3.0,
    linestyle: str = "-",
    label: str | None = None,
    alpha: float = 1.0,
) -> None:
    """Draw one 2D skeleton.

    Args:
        ax: target axes (image coordinates, v down).
        points: (J, 2) pixels ``(u, v)``.
        skeleton: joint set.
        color: one colour, or ``None`` to colour bones by side (left blue, right red).
        visible: optional (J,) bools; bones touching a hidden joint are drawn thin and dotted.
        linewidth: bone line width.
        markersize: joint marker size (0 hides the joints).
        linestyle: line style of visible bones.
        label: legend label (attached to one bone).
        alpha: opacity.
    """
    P = _np(points).astype(float)
    vis = np.ones(len(P), bool) if visible is None else _np(visible).astype(bool)
    sides = skeleton.bone_sides()
    labelled = False
    for (a, b), side in zip(skeleton.bones, sides):
        if not (np.isfinite(P[a]).all() and np.isfinite(P[b]).all()):
            continue
        c = color or SIDE_COLORS[side]
        shown = bool(vis[a] and vis[b])
        ax.plot(
            [P[a, 0], P[b, 0]],
            [P[a, 1], P[b, 1]],
            color=c,
            alpha=alpha,
            linewidth=linewidth if shown else linewidth * 0.5,
            linestyle=linestyle if shown else ":",
            label=label if (label and not labelled) else None,
        )
        labelled = True
    if markersize > 0:
        ok = np.isfinite(P).all(1)
        ax.plot(P[ok, 0], P[ok, 1], "o", color=color or "#222222", markersize=markersize, alpha=alpha)


def small_multiples(
    draw: Callable[[Axes, Any], None],
    values: Sequence[Any],
    name: str = "value",
    ncols: int = 4,
    panel: tuple[float, float] = (3.2, 3.0),
    fmt: str = "{name} = {value}",
    suptitle: str | None = None,
) -> Figure:
    """One panel per value: ``draw(ax, value)`` for every value, titled ``fmt``.

    This is the static counterpart of a slider (see :func:`lt_core.viz.widgets.slider_or_grid`).

    Returns:
        The figure.
    """
    fig, axes = axes_grid(len(values), ncols, panel)
    for ax, v in zip(axes, values):
        draw(ax, v)
        ax.set_title(fmt.format(name=name, value=v), fontsize=10)
    if suptitle:
        fig.suptitle(suptitle)
    fig.tight_layout()
    return fig


def draw_views(
    points: ArrayLike,
    image_sizes: ArrayLike,
    names: Sequence[str] | None = None,
    images: ArrayLike | None = None,
    skeleton: Skeleton = H36M17,
    visible: ArrayLike | None = None,
    overlays: dict[str, ArrayLike] | None = None,
    ncols: int = 4,
    panel: tuple[float, float] = (3.2, 3.2),
    title: str | None = None,
) -> Figure:
    """Per-view drawings of 2D skeletons (optionally over images).

    Args:
        points: (C, J, 2) pixels per view.
        image_sizes: (C, 2) or (2,) image sizes (W, H).
        names: C view titles.
        images: optional (C, 3, H, W) images.
        skeleton: joint set.
        visible: optional (C, J) visibility (hidden joints drawn dotted).
        overlays: ``{label: (C, J, 2)}`` further skeletons drawn in one colour each, dashed.
        ncols: panels per row.
        panel: panel size in inches.
        title: figure title.

    Returns:
        The figure.
    """
    pts = _np(points)
    C = pts.shape[0]
    sizes = _np(image_sizes).reshape(-1, 2)
    sizes = np.repeat(sizes, C, 0) if len(sizes) == 1 else sizes
    fig, axes = axes_grid(C, ncols, panel)
    colors = ["#2ca02c", "#ff7f0e", "#9467bd", "#111111"]
    for c, ax in enumerate(axes):
        if images is not None:
            show_image(ax, _np(images)[c])
        else:
            ax.set_facecolor("#f4f4f4")
        draw_skeleton_2d(ax, pts[c], skeleton, visible=None if visible is None else _np(visible)[c])
        for k, (label, other) in enumerate((overlays or {}).items()):
            draw_skeleton_2d(
                ax,
                _np(other)[c],
                skeleton,
                color=colors[k % len(colors)],
                linestyle="--",
                linewidth=1.2,
                markersize=2.0,
                label=label,
            )
        set_image_axes(ax, sizes[c])
        if names is not None:
            ax.set_title(names[c], fontsize=10)
    if overlays:
        axes[0].legend(loc="lower left", fontsize=8)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def plain_log_axis(ax: Axes, axis: str = "y", ticks: Sequence[float] | None = None) -> None:
    """Label a logarithmic axis with plain numbers (``20, 50, 100, 200``) instead of ``2x10^1`` ...

    Args:
        ax: axes whose ``axis`` (``"x"`` or ``"y"``) is (or becomes) logarithmic.
        axis: which axis.
        ticks: tick values; default the 1-2-5 sequence within the axis' current limits.
    """
    from matplotlib.ticker import FixedLocator, FuncFormatter, NullFormatter, NullLocator

    target = ax.yaxis if axis == "y" else ax.xaxis
    (ax.set_yscale if axis == "y" else ax.set_xscale)("log")
    lo, hi = ax.get_ylim() if axis == "y" else ax.get_xlim()
    if ticks is None:
        decades = range(math.floor(math.log10(max(lo, 1e-12))), math.ceil(math.log10(max(hi, 1e-12))) + 1)
        for mantissas in ((1, 2, 5), (1, 1.5, 2, 3, 5, 7), (1, 1.2, 1.5, 2, 2.5, 3, 4, 5, 6, 7, 8, 9)):
            ticks = [m * 10.0**e for e in decades for m in mantissas if lo <= m * 10.0**e <= hi]
            if len(ticks) >= 4:
                break
    target.set_major_locator(FixedLocator(list(ticks)))
    target.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    target.set_minor_locator(NullLocator())
    target.set_minor_formatter(NullFormatter())


def volume_slice(
    ax: Axes,
    plane: ArrayLike,
    half_width: float,
    label: str = "",
    vmin: float | None = None,
    vmax: float | None = None,
    cmap: str = "magma",
    colorbar: bool = True,
    fontsize: int = 8,
) -> Any:
    """A horizontal slice of a cuboid volume with millimetre axes (offsets from its centre) and a colour bar.

    Args:
        ax: target axes.
        plane: (D, D) values indexed ``[i, j]`` = (x, y) voxel (as the volumes of ``lt_core.ops.unprojection``).
        half_width: half the cube's side to the outer voxel edges, mm (``s (D - 1) / 2 + s / 2``).
        label: colour bar label (e.g. ``"probability"``).
        vmin, vmax: colour range.
        cmap: colour map.
        colorbar: draw the colour bar.
        fontsize: tick and label size.

    Returns:
        The image artist.
    """
    im = ax.imshow(
        _np(plane).T,
        origin="lower",
        extent=(-half_width, half_width, -half_width, half_width),
        cmap=cmap,
        vmin=vmin,
        vmax=vmax,
    )
    ax.set_xlabel("x - centre (mm)", fontsize=fontsize)
    ax.set_ylabel("y - centre (mm)", fontsize=fontsize)
    ax.tick_params(labelsize=fontsize - 1)
    if colorbar:
        cb = ax.figure.colorbar(im, ax=ax, fraction=0.046, pad=0.04)
        cb.ax.tick_params(labelsize=fontsize - 1)
        if label:
            cb.set_label(label, fontsize=fontsize)
    return im
