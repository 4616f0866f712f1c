"""Plotly 3D trace builders: camera frusta and axes, skeletons, point clouds and the floor grid.

Each function turns cameras or points in world millimetres (Z-up, docs/CONVENTIONS.md) into a few
``plotly.graph_objects.Scatter3d`` traces; coordinates are rounded to :data:`DECIMALS` (0.1 mm) to keep figures
small. Line segments of one kind are drawn by one trace, separated by ``None``. Assembling traces into a figure (layout,
scenes, animations) is :mod:`lt_core.viz.scene`'s job.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import plotly.graph_objects as go
import torch

from lt_core.camera import Camera
from lt_core.skeleton import H36M17, Skeleton
from lt_core.viz.colors import SIDE_COLORS, camera_color

__all__ = [
    "DECIMALS",
    "frustum_lines",
    "camera_traces",
    "axes_traces",
    "skeleton_traces",
    "points_trace",
    "floor_trace",
]

ArrayLike = np.ndarray | torch.Tensor


def _np(x: ArrayLike) -> np.ndarray:
    if isinstance(x, torch.Tensor):
        x = x.detach().cpu().double().numpy()
    return np.asarray(x, dtype=float)


DECIMALS = 1
"""Coordinates are rounded to 0.1 mm in figures: smaller files, no visible difference."""


def _segments(starts: np.ndarray, ends: np.ndarray) -> tuple[list, list, list]:
    """Line segments (N, 3) -> x, y, z lists separated by ``None`` (one trace draws them all), rounded to 0.1 mm."""
    starts = np.round(starts, DECIMALS)
    ends = np.round(ends, DECIMALS)
    xs: list = []
    ys: list = []
    zs: list = []
    for a, b in zip(starts, ends):
        if not (np.isfinite(a).all() and np.isfinite(b).all()):
            continue
        xs += [float(a[0]), float(b[0]), None]
        ys += [float(a[1]), float(b[1]), None]
        zs += [float(a[2]), float(b[2]), None]
    return xs, ys, zs


def _image_size(camera: Camera) -> np.ndarray:
    """(N, 2) image sizes; from the principal point when the camera does not record one."""
    K = _np(camera.K).reshape(-1, 3, 3)
    if camera.image_size is not None:
        return _np(camera.image_size).reshape(-1, 2)
    return np.stack([2 * K[:, 0, 2] + 1, 2 * K[:, 1, 2] + 1], -1)


def frustum_lines(camera: Camera, depth: float = 500.0) -> tuple[np.ndarray, np.ndarray]:
    """Segments of the viewing pyramids of cameras, cut at ``depth`` mm in front of each camera.

    The image corners ``(-0.5, -0.5)`` ... ``(W - 0.5, H - 0.5)`` (outer pixel edges, pixel-centre convention) are
    back-projected through ``K^-1`` to depth ``depth`` and moved to the world with ``R^T (X_cam - t)``. A small
    triangle above the top edge marks the image's "up" (``-v``) direction.

    Args:
        camera: cameras with any batch shape (flattened); distortion is ignored.
        depth: distance of the far rectangle along the optical axis, mm.

    Returns:
        ``(starts, ends)`` each (N, S, 3) world mm for N cameras and S = 11 segments.
    """
    K = _np(camera.K).reshape(-1, 3, 3)
    R = _np(camera.R).reshape(-1, 3, 3)
    t = _np(camera.t).reshape(-1, 3)
    size = _image_size(camera)
    starts, ends = [], []
    for k in range(K.shape[0]):
        w, h = size[k]
        uv = np.array(
            [
                [-0.5, -0.5],
                [w - 0.5, -0.5],
                [w - 0.5, h - 0.5],
                [-0.5, h - 0.5],
                [0.3 * w, -0.5],
                [0.7 * w, -0.5],
                [0.5 * w, -0.5 - 0.15 * h],
            ]
        )
        rays = np.linalg.solve(K[k], np.concatenate([uv, np.ones((len(uv), 1))], 1).T).T  # z = 1
        pts_cam = rays * depth
        pts = (pts_cam - t[k]) @ R[k]  # R^T (X - t) for row vectors
        centre = -R[k].T @ t[k]
        c0, c1, c2, c3, a, b, tip = pts
        s = [centre, centre, centre, centre, c0, c1, c2, c3, a, b, tip]
        e = [c0, c1, c2, c3, c1, c2, c3, c0, tip, tip, a]
        starts.append(np.stack(s))
        ends.append(np.stack(e))
    return np.stack(starts), np.stack(ends)


def camera_traces(
    camera: Camera,
    depth: float = 500.0,
    names: Sequence[str] | None = None,
    colors: Sequence[str] | None = None,
    show_names: bool = True,
) -> list[go.Scatter3d]:
    """One line trace (frustum) and one marker trace (centre, with its name) per camera.

    Args:
        camera: cameras with any batch shape (flattened in row-major order).
        depth: frustum depth in mm (see :func:`frustum_lines`).
        names: camera names (default: ``camera.names`` or ``cam 0``, ``cam 1``, ...).
        colors: one colour per camera (default: :func:`~lt_core.viz.colors.camera_color`).
        show_names: write each name next to its camera centre.

    Returns:
        ``2 N`` traces named ``"<name>"`` (frustum) and ``"<name> centre"``, grouped per camera in the legend.
    """
    starts, ends = frustum_lines(camera, depth)
    n = starts.shape[0]
    names = list(names) if names is not None else list(camera.names or [f"cam {i}" for i in range(n)])
    if len(names) != n:
        raise ValueError(f"{len(names)} names for {n} cameras")
    centres = _np(camera.center).reshape(-1, 3)
    traces: list[go.Scatter3d] = []
    for i in range(n):
        color = colors[i] if colors is not None else camera_color(i)
        x, y, z = _segments(starts[i], ends[i])
        traces.append(
            go.Scatter3d(
                x=x,
                y=y,
                z=z,
                mode="lines",
                line=dict(color=color, width=3),
                name=names[i],
                legendgroup=names[i],
                hoverinfo="skip",
            )
        )
        c = np.round(centres[i], DECIMALS)
        traces.append(
            go.Scatter3d(
                x=[c[0]],
                y=[c[1]],
                z=[c[2]],
                mode="markers+text" if show_names else "markers",
                marker=dict(size=3, color=color),
                text=[names[i]] if show_names else None,
                textposition="top center",
                name=f"{names[i]} centre",
                legendgroup=names[i],
                showlegend=False,
                hovertemplate=f"{names[i]}<br>x=%{{x:.0f}} mm<br>y=%{{y:.0f}} mm<br>z=%{{z:.0f}} mm<extra></extra>",
            )
        )
    return traces


def axes_traces(
    origin: ArrayLike,
    axes: ArrayLike,
    length: float = 500.0,
    labels: Sequence[str] = ("x", "y", "z"),
    name: str = "frame",
    colors: Sequence[str] = ("#e41a1c", "#4daf4a", "#377eb8"),
) -> list[go.Scatter3d]:
    """Three arrows (lines with a labelled tip) showing a coordinate frame.

    Args:
        origin: (3,) origin of the frame in world mm.
        axes: (3, 3) unit axis directions in world coordinates, one per row. For a camera these are the rows of
            ``R`` (``x_cam``, ``y_cam``, ``z_cam`` expressed in the world); for the world frame the identity.
        length: arrow length in mm.
        labels: axis labels written at the tips.
        name: legend group of the three traces.
        colors: colours of the x, y, z arrows (red, green, blue).

    Returns:
        Three traces named ``"<name> <label>"``.
    """
    o = _np(origin).reshape(3)
    A = _np(axes).reshape(3, 3)
    traces = []
    for k in range(3):
        tip = o + length * A[k] / max(np.linalg.norm(A[k]), 1e-12)
        traces.append(
            go.Scatter3d(
                x=[o[0], tip[0]],
                y=[o[1], tip[1]],
                z=[o[2], tip[2]],
                mode="lines+text",
                text=["", labels[k]],
                textposition="top center",
                line=dict(color=colors[k], width=5),
                name=f"{name} {labels[k]}",
                legendgroup=name,
                showlegend=False,
                hoverinfo="skip",
                textfont=dict(color=colors[k]),
            )
        )
    return traces


def skeleton_traces(
    joints: ArrayLike,
    skeleton: Skeleton = H36M17,
    name: str = "pose",
    color: str | None = None,
    width: float = 6.0,
    dash: str | None = None,
    marker_size: float = 3.0,
    showlegend: bool = True,
) -> list[go.Scatter3d]:
    """Bones of one pose as three line traces (left, right, centre) plus one marker trace of the joints.

    Args:
        joints: (J, 3) world mm; joints with NaN coordinates are skipped.
        skeleton: joint set giving bones and sides.
        name: legend name of the pose (all four traces share one legend group).
        color: one colour for the whole pose; ``None`` colours bones by side (left blue, right red).
        width: line width in pixels.
        dash: plotly dash style (``"dash"``, ``"dot"``, ...) or ``None`` for solid lines.
        marker_size: joint marker size (0 hides the joints).
        showlegend: show the pose in the legend.

    Returns:
        Four traces: the bones of the left, right and centre sides (named ``name``, with ``meta`` set to the side;
        only the first appears in the legend) and the joints (``"<name> joints"``). Always four, so animation
        frames can update them by index.
    """
    X = _np(joints)
    if X.shape != (skeleton.num_joints, 3):
        raise ValueError(f"joints must have shape ({skeleton.num_joints}, 3) for {skeleton.name}, got {X.shape}")
    sides = skeleton.bone_sides()
    traces: list[go.Scatter3d] = []
    for k, side in enumerate(("left", "right", "center")):
        bones = [b for b, s in zip(skeleton.bones, sides) if s == side]
        a = np.array([X[p] for p, _ in bones]).reshape(-1, 3)
        b = np.array([X[c] for _, c in bones]).reshape(-1, 3)
        x, y, z = _segments(a, b)
        line = dict(color=color or SIDE_COLORS[side], width=width)
        if dash:
            line["dash"] = dash
        traces.append(
            go.Scatter3d(
                x=x,
                y=y,
                z=z,
                mode="lines",
                line=line,
                name=name,
                meta=side,
                legendgroup=name,
                showlegend=showlegend and k == 0,
                hoverinfo="skip",
            )
        )
    Xr = np.round(X, DECIMALS)
    traces.append(
        go.Scatter3d(
            x=Xr[:, 0],
            y=Xr[:, 1],
            z=Xr[:, 2],
            mode="markers",
            name=f"{name} joints",
            legendgroup=name,
            showlegend=False,
            marker=dict(size=marker_size, color=color or "#222222"),
            text=list(skeleton.joints),
            hovertemplate="%{text}<br>x=%{x:.0f} mm<br>y=%{y:.0f} mm<br>z=%{z:.0f} mm<extra>" + name + "</extra>",
        )
    )
    return traces


def points_trace(
    points: ArrayLike,
    name: str = "points",
    color: str = "#222222",
    size: float = 3.0,
    labels: Sequence[str] | None = None,
) -> go.Scatter3d:
    """Markers at (N, 3) world points (mm)."""
    X = np.round(_np(points).reshape(-1, 3), DECIMALS)
    return go.Scatter3d(
        x=X[:, 0],
        y=X[:, 1],
        z=X[:, 2],
        mode="markers",
        name=name,
        marker=dict(size=size, color=color),
        text=list(labels) if labels is not None else None,
    )


def floor_trace(
    extent: float = 3000.0,
    step: float = 500.0,
    z: float = 0.0,
    center: Sequence[float] = (0.0, 0.0),
    color: str = "#c8c8c8",
) -> go.Scatter3d:
    """A square grid of lines on the floor plane ``z`` (mm), ``2 * extent`` wide, centred at ``center``."""
    cx, cy = float(center[0]), float(center[1])
    ticks = np.arange(-extent, extent + 1e-6, step)
    starts, ends = [], []
    for s in ticks:
        starts += [(cx + s, cy - extent, z), (cx - extent, cy + s, z)]
        ends += [(cx + s, cy + extent, z), (cx + extent, cy + s, z)]
    x, y, zz = _segments(np.array(starts), np.array(ends))
    return go.Scatter3d(
        x=x, y=y, z=zz, mode="lines", line=dict(color=color, width=1), name="floor", hoverinfo="skip", showlegend=False
    )
