"""Finishing touches for 3D scenes: open the view on the subject, and buttons that show one method at a time.

In a capture room the cameras stand metres away from a person about 1.7 m tall; a scene framed to hold every
camera shows the person as a speck. :func:`focus_on` keeps every trace (zoom out with the mouse wheel to see the
cameras) but opens the view close to the subject. Plotly places a scene's data in a box whose sides are the
``aspectratio`` and whose centre is the middle of the axis ranges; :func:`focus_on` fixes both (ranges from the
data, ``aspectmode="manual"``), so a world point ``p`` sits at ``(p - mid) / max_span`` in the camera's
coordinates, where ``eye`` and ``center`` are given.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import plotly.graph_objects as go

__all__ = ["scene_bounds", "focus_on", "pose_toggles"]


def _trace_points(trace: go.Scatter3d) -> np.ndarray:
    cols = []
    for axis in "xyz":
        values = getattr(trace, axis, None)
        if values is None:
            return np.zeros((0, 3))
        cols.append(np.array([np.nan if v is None else float(v) for v in values], dtype=float))
    pts = np.stack(cols, 1)
    return pts[np.isfinite(pts).all(1)]


def scene_bounds(fig: go.Figure) -> np.ndarray:
    """(3, 2) world ranges (mm) of every 3D trace of a figure (``[[xmin, xmax], [ymin, ymax], [zmin, zmax]]``)."""
    pts = [_trace_points(t) for t in fig.data if isinstance(t, go.Scatter3d)]
    allp = np.concatenate([p for p in pts if len(p)] or [np.zeros((1, 3))])
    return np.stack([allp.min(0), allp.max(0)], 1)


def focus_on(
    fig: go.Figure,
    points: np.ndarray,
    margin: float = 300.0,
    direction: Sequence[float] = (1.0, -1.0, 0.55),
    framing: float = 1.3,
) -> go.Figure:
    """Open a 3D scene's view on ``points`` (the subject) while keeping every trace within the axis ranges.

    Args:
        fig: a figure built by :func:`~lt_core.viz.scene_figure` (or any figure with one 3D scene).
        points: (N, 3) world mm of the subject (NaN rows ignored), e.g. the joints of the poses shown.
        margin: space kept around the subject, mm.
        direction: from the subject toward the viewer (world axes; z up).
        framing: distance of the eye in units of the subject's size (smaller: closer).

    Returns:
        The figure (changed in place): axis ranges fixed to the data with 5% padding, ``aspectmode="manual"``,
        and the scene camera's ``center`` on the subject and ``eye`` ``framing`` subject sizes away.
    """
    P = np.asarray(points, dtype=float).reshape(-1, 3)
    P = P[np.isfinite(P).all(1)]
    if not len(P):
        raise ValueError("focus_on needs at least one finite point")
    bounds = scene_bounds(fig)
    bounds[:, 0] = np.minimum(bounds[:, 0], P.min(0) - margin)
    bounds[:, 1] = np.maximum(bounds[:, 1], P.max(0) + margin)
    pad = 0.05 * (bounds[:, 1] - bounds[:, 0]).max()
    bounds = bounds + np.array([-pad, pad])
    span = bounds[:, 1] - bounds[:, 0]
    mid = bounds.mean(1)
    big = span.max()
    centre = ((P.min(0) + P.max(0)) / 2 - mid) / big
    size = (P.max(0) - P.min(0)).max() + 2 * margin
    d = np.asarray(direction, dtype=float)
    eye = centre + d / np.linalg.norm(d) * framing * size / big
    scene = {f"{a}axis": dict(range=[float(bounds[k, 0]), float(bounds[k, 1])]) for k, a in enumerate("xyz")}
    fig.update_layout(
        scene=dict(
            **scene,
            aspectmode="manual",
            aspectratio=dict(x=span[0] / big, y=span[1] / big, z=span[2] / big),
            camera=dict(
                up=dict(x=0, y=0, z=1),
                center=dict(x=centre[0], y=centre[1], z=centre[2]),
                eye=dict(x=eye[0], y=eye[1], z=eye[2]),
            ),
        )
    )
    return fig


def pose_toggles(fig: go.Figure, names: Sequence[str], always: Sequence[str] = ()) -> go.Figure:
    """Buttons under a scene: "all", then one per pose (method) showing that pose alone.

    Traces are matched to a pose by their legend group (:func:`~lt_core.viz.skeleton_traces` puts a pose's four
    traces in the group named after it); traces of no pose (floor, cameras, markers) stay visible, as do the poses
    in ``always`` (e.g. the ground truth). Clicking a legend entry still hides or shows one pose.

    Args:
        fig: the scene.
        names: pose names (legend groups) that get a button.
        always: pose names shown by every button.

    Returns:
        The figure (changed in place).
    """
    groups = [getattr(t, "legendgroup", None) for t in fig.data]
    posed = set(names) | set(always)

    def mask(show: set[str]) -> list[bool]:
        return [g not in posed or g in show or g in always for g in groups]

    buttons = [dict(label="all", method="restyle", args=[{"visible": mask(posed)}])]
    buttons += [dict(label=n, method="restyle", args=[{"visible": mask({n})}]) for n in names]
    fig.update_layout(
        updatemenus=[
            dict(
                type="buttons",
                direction="right",
                buttons=buttons,
                x=0.0,
                y=0.0,
                xanchor="left",
                yanchor="bottom",
                pad=dict(l=4, b=4),
                showactive=True,
            )
        ],
        legend=dict(title=dict(text="click to hide / show")),
    )
    return fig
