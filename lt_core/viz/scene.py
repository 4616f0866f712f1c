"""Plotly 3D scenes: camera frusta, skeletons, the floor, and skeleton animations with a frame slider.

This module assembles figures (layout with equal axis scales, the scene, animated sequences); the traces they are
made of come from :mod:`lt_core.viz.traces` (its builders are importable from here too).

All coordinates are world millimetres in the project's Z-up frame (docs/CONVENTIONS.md). The builders return plain
``plotly.graph_objects`` objects, so a figure can be shown in a notebook (after :func:`~lt_core.viz.setup_plotly`)
or written to a standalone file with :func:`~lt_core.viz.save_html`. Animations use plotly frames and a slider, so
they stay interactive in exported HTML without a running kernel.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import plotly.graph_objects as go

from lt_core.camera import Camera
from lt_core.skeleton import H36M17, Skeleton
from lt_core.viz.traces import (
    DECIMALS,
    ArrayLike,
    _np,
    axes_traces,
    camera_traces,
    floor_trace,
    frustum_lines,
    points_trace,
    skeleton_traces,
)

__all__ = [
    "DECIMALS",
    "frustum_lines",
    "camera_traces",
    "axes_traces",
    "skeleton_traces",
    "points_trace",
    "floor_trace",
    "scene_layout",
    "scene_figure",
    "skeleton_animation",
    "poses_animation",
]


def scene_layout(title: str | None = None, height: int = 600, ranges: np.ndarray | None = None) -> go.Layout:
    """Layout of a Z-up scene in millimetres with equal axis scales.

    Args:
        title: figure title.
        height: figure height in pixels.
        ranges: optional (3, 2) axis ranges (mm); fixed ranges keep the view still during animations.
    """
    axes = {}
    for k, name in enumerate("xyz"):
        ax = dict(title=f"{name} (mm)", backgroundcolor="white", showbackground=False, gridcolor="#e5e5e5")
        if ranges is not None:
            ax["range"] = [float(ranges[k, 0]), float(ranges[k, 1])]
        axes[f"{name}axis"] = ax
    aspect = dict(aspectmode="data")
    if ranges is not None:
        span = ranges[:, 1] - ranges[:, 0]
        span = span / span.max()
        aspect = dict(aspectmode="manual", aspectratio=dict(x=span[0], y=span[1], z=span[2]))
    return go.Layout(
        title=dict(text=title) if title else None,
        height=height,
        margin=dict(l=0, r=0, t=40 if title else 10, b=0),
        scene=dict(**axes, **aspect, camera=dict(up=dict(x=0, y=0, z=1), eye=dict(x=1.4, y=-1.4, z=0.9))),
        legend=dict(itemsizing="constant"),
    )


def _as_pose_dict(poses: Mapping[str, ArrayLike] | ArrayLike | None) -> dict[str, np.ndarray]:
    if poses is None:
        return {}
    if isinstance(poses, Mapping):
        return {k: _np(v) for k, v in poses.items()}
    return {"pose": _np(poses)}


def scene_figure(
    cameras: Camera | None = None,
    poses: Mapping[str, ArrayLike] | ArrayLike | None = None,
    skeleton: Skeleton = H36M17,
    title: str | None = None,
    frustum_depth: float = 500.0,
    floor: bool = True,
    pose_colors: Mapping[str, str | None] | None = None,
    pose_dash: Mapping[str, str | None] | None = None,
    height: int = 600,
) -> go.Figure:
    """A 3D scene of camera frusta and skeletons.

    Args:
        cameras: cameras to draw (any batch shape) or ``None``.
        poses: one (J, 3) pose (mm) or ``{name: (J, 3)}``; the first pose is coloured by side, the others in one
            colour each unless ``pose_colors`` says otherwise.
        skeleton: joint set of the poses.
        title: figure title.
        frustum_depth: frustum depth in mm.
        floor: draw a floor grid at ``z = 0`` around the poses (or the cameras).
        pose_colors: per pose name, a colour or ``None`` (by side).
        pose_dash: per pose name, a dash style.
        height: figure height in pixels.

    Returns:
        The figure. Trace order: floor, camera traces (2 per camera), then 4 traces per pose.
    """
    pose_map = _as_pose_dict(poses)
    fig = go.Figure(layout=scene_layout(title, height))
    if floor:
        pts = [p.reshape(-1, 3) for p in pose_map.values()]
        if cameras is not None:
            pts.append(_np(cameras.center).reshape(-1, 3))
        allp = np.concatenate(pts) if pts else np.zeros((1, 3))
        allp = allp[np.isfinite(allp).all(1)]
        centre = np.round(np.median(allp[:, :2], 0) / 500.0) * 500.0 if len(allp) else np.zeros(2)
        reach = np.abs(allp[:, :2] - centre).max() if len(allp) else 1000.0
        extent = float(np.clip(np.ceil(reach / 500.0) * 500.0, 1000.0, 20000.0))
        fig.add_trace(floor_trace(extent, step=max(250.0, extent / 6 // 250 * 250), center=centre))
    if cameras is not None:
        fig.add_traces(camera_traces(cameras, frustum_depth))
    palette = ["#2b2b2b", "#111111", "#e6ab02", "#a6761d", "#666666"]  # distinct from the camera colours
    for k, (name, X) in enumerate(pose_map.items()):
        default = None if k == 0 else palette[k % len(palette)]
        color = (pose_colors or {}).get(name, default)
        dash = (pose_dash or {}).get(name)
        fig.add_traces(skeleton_traces(X, skeleton, name=name, color=color, dash=dash))
    return fig


def skeleton_animation(
    joints: ArrayLike,
    cameras: Camera | None = None,
    skeleton: Skeleton = H36M17,
    fps: float = 10.0,
    title: str | None = None,
    frame_labels: Sequence[str] | None = None,
    frustum_depth: float = 500.0,
    height: int = 600,
    slider_prefix: str = "frame ",
) -> go.Figure:
    """A skeleton moving through ``T`` frames, with play/pause buttons and a frame slider.

    Works without a kernel (in exported HTML) because all frames are stored in the figure. Keep ``T`` modest
    (tens to a few hundred frames).

    Args:
        joints: (T, J, 3) world mm.
        cameras: cameras drawn in every frame (static), or ``None``.
        skeleton: joint set.
        fps: playback rate of the play button.
        title: figure title.
        frame_labels: T slider labels (default: frame numbers).
        frustum_depth: frustum depth in mm.
        height: figure height in pixels.
        slider_prefix: text before the current frame label.

    Returns:
        The figure, with ``T`` frames that update the last four traces (the pose).
    """
    seq = _np(joints)
    if seq.ndim != 3 or seq.shape[1:] != (skeleton.num_joints, 3):
        raise ValueError(f"joints must have shape (T, {skeleton.num_joints}, 3), got {seq.shape}")
    T = seq.shape[0]
    labels = list(frame_labels) if frame_labels is not None else [str(i) for i in range(T)]
    fig = scene_figure(cameras, {"pose": seq[0]}, skeleton, title, frustum_depth, height=height)
    pts = seq.reshape(-1, 3)
    if cameras is not None:
        pts = np.concatenate([pts, _np(cameras.center).reshape(-1, 3)])
    fig.update_layout(scene_layout(title, height, _bounds(pts)))
    first = len(fig.data) - 4
    frames = []
    for i in range(T):
        tr = skeleton_traces(seq[i], skeleton, name="pose")
        frames.append(go.Frame(data=tr, traces=list(range(first, first + 4)), name=labels[i]))
    fig.frames = frames
    _add_play_controls(fig, labels, fps, slider_prefix)
    return fig


def poses_animation(
    poses: Mapping[str, ArrayLike],
    cameras: Camera | None = None,
    skeleton: Skeleton = H36M17,
    fps: float = 10.0,
    title: str | None = None,
    frame_labels: Sequence[str] | None = None,
    frustum_depth: float = 500.0,
    height: int = 600,
    pose_dash: Mapping[str, str | None] | None = None,
    slider_prefix: str = "frame ",
) -> go.Figure:
    """Several skeleton sequences moving together (e.g. two reconstructions side by side), with a frame slider.

    Args:
        poses: ``{name: (T, J, 3)}`` world mm, the same ``T`` for all; the first is coloured by side, the others
            in one colour each (as in :func:`scene_figure`).
        cameras, skeleton, fps, title, frame_labels, frustum_depth, height, slider_prefix: as in
            :func:`skeleton_animation`.
        pose_dash: per pose name, a dash style.

    Returns:
        The figure; each of its ``T`` frames updates the last ``4 * len(poses)`` traces.
    """
    seqs = {k: _np(v) for k, v in poses.items()}
    shapes = {k: v.shape for k, v in seqs.items()}
    T = next(iter(seqs.values())).shape[0] if seqs else 0
    if not seqs or any(s != (T, skeleton.num_joints, 3) for s in shapes.values()):
        raise ValueError(f"poses must all have shape (T, {skeleton.num_joints}, 3), got {shapes}")
    labels = list(frame_labels) if frame_labels is not None else [str(i) for i in range(T)]
    fig = scene_figure(
        cameras, {k: v[0] for k, v in seqs.items()}, skeleton, title, frustum_depth, pose_dash=pose_dash, height=height
    )
    pts = np.concatenate([v.reshape(-1, 3) for v in seqs.values()])
    if cameras is not None:
        pts = np.concatenate([pts, _np(cameras.center).reshape(-1, 3)])
    fig.update_layout(scene_layout(title, height, _bounds(pts)))
    n = 4 * len(seqs)
    first = len(fig.data) - n
    static = list(fig.data[first:])  # colours and dashes of the first frame, reused for every frame
    frames = []
    for i in range(T):
        data = []
        for k, seq in enumerate(seqs.values()):
            for tr, ref in zip(skeleton_traces(seq[i], skeleton, name=static[4 * k].name), static[4 * k : 4 * k + 4]):
                tr.line = ref.line if ref.mode == "lines" else tr.line
                tr.marker = ref.marker if ref.mode == "markers" else tr.marker
                data.append(tr)
        frames.append(go.Frame(data=data, traces=list(range(first, first + n)), name=labels[i]))
    fig.frames = frames
    _add_play_controls(fig, labels, fps, slider_prefix)
    return fig


def _bounds(points: np.ndarray) -> np.ndarray:
    """(3, 2) axis ranges around the finite (N, 3) points, down to the floor (z = 0), with 5 % padding."""
    pts = points[np.isfinite(points).all(1)]
    lo, hi = pts.min(0), pts.max(0)
    lo[2] = min(lo[2], 0.0)
    pad = 0.05 * (hi - lo).max()
    return np.stack([lo - pad, hi + pad], 1)


def _add_play_controls(fig: go.Figure, labels: Sequence[str], fps: float, slider_prefix: str) -> None:
    """Play / pause buttons and a frame slider for the figure's frames (named by ``labels``), offline-safe."""
    duration = 1000.0 / fps
    play = dict(
        label="play",
        method="animate",
        args=[None, dict(frame=dict(duration=duration, redraw=True), fromcurrent=True, transition=dict(duration=0))],
    )
    pause = dict(
        label="pause", method="animate", args=[[None], dict(frame=dict(duration=0, redraw=False), mode="immediate")]
    )
    steps = [
        dict(
            label=label,
            method="animate",
            args=[[label], dict(frame=dict(duration=0, redraw=True), mode="immediate", transition=dict(duration=0))],
        )
        for label in labels
    ]
    fig.update_layout(
        updatemenus=[
            dict(
                type="buttons",
                buttons=[play, pause],
                x=0.0,
                y=0.0,
                xanchor="left",
                yanchor="top",
                direction="left",
                pad=dict(t=10, r=10),
            )
        ],
        sliders=[
            dict(
                steps=steps,
                active=0,
                x=0.12,
                len=0.85,
                y=0.0,
                yanchor="top",
                currentvalue=dict(prefix=slider_prefix),
                pad=dict(t=10),
            )
        ],
    )
