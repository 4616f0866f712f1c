"""Stored video frames drawn in the calibration's pixel coordinates (see :mod:`lt_core.data.frames`).

A frame stored at ``scale`` (a ``w x h`` image of a ``w / scale x h / scale`` video) is shown with the extent of the
video, so detections, reprojections and epipolar curves are drawn in video pixels without any conversion: stored
pixel ``i`` covers video pixels ``[i / scale - 0.5, (i + 1) / scale - 0.5]``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from matplotlib.axes import Axes

__all__ = ["show_frame", "zoom_to_points"]


def show_frame(ax: Axes, image: np.ndarray, scale: float = 1.0, ticks: bool = False, **kwargs: Any) -> None:
    """Show an (h, w, 3) uint8 stored frame over video pixels ``[-0.5, w / scale - 0.5] x [-0.5, h / scale - 0.5]``.

    Args:
        ax: target axes (v points down afterwards).
        image: the stored frame.
        scale: stored pixels per video pixel.
        ticks: keep the axis ticks (video pixels).
        **kwargs: passed to :meth:`matplotlib.axes.Axes.imshow`.
    """
    h, w = image.shape[:2]
    W, H = w / scale, h / scale
    ax.imshow(image, extent=(-0.5, W - 0.5, H - 0.5, -0.5), interpolation="bilinear", **kwargs)
    ax.set_xlim(-0.5, W - 0.5)
    ax.set_ylim(H - 0.5, -0.5)
    ax.set_aspect("equal")
    if not ticks:
        ax.set_xticks([])
        ax.set_yticks([])


def zoom_to_points(ax: Axes, points: np.ndarray, margin: float = 0.25, aspect: float | None = None) -> None:
    """Zoom the axes onto (N, 2) pixels (NaN ignored), with a relative margin, keeping v down.

    Args:
        ax: axes showing an image.
        points: pixels to keep in view.
        margin: extra space on each side, as a fraction of the points' extent.
        aspect: width / height of the view (default: the points' own, widened by the margin).
    """
    p = np.asarray(points, dtype=float).reshape(-1, 2)
    p = p[np.isfinite(p).all(1)]
    if not len(p):
        return
    lo, hi = p.min(0), p.max(0)
    centre, half = (lo + hi) / 2, (hi - lo) / 2 * (1 + 2 * margin) + 20
    if aspect is not None:
        half = np.array([max(half[0], half[1] * aspect), max(half[1], half[0] / aspect)])
    ax.set_xlim(centre[0] - half[0], centre[0] + half[0])
    ax.set_ylim(centre[1] + half[1], centre[1] - half[1])
