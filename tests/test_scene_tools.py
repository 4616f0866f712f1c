"""lt_core.viz additions for the course: scenes that open on the subject, per-method buttons, plain log axes, volume
slices with a colour bar and millimetre axes."""

from __future__ import annotations

import os
import re

import numpy as np
import pytest

os.environ.setdefault("MPLBACKEND", "Agg")

import matplotlib.pyplot as plt  # noqa: E402
from conftest import standing_pose_mm  # noqa: E402

from lt_core import viz  # noqa: E402
from lt_core.data.rigs import human36m_like_rig  # noqa: E402

POSE = standing_pose_mm()


def _scene(focus: bool):
    fig = viz.scene_figure(human36m_like_rig(), {"truth": POSE, "estimate": POSE + 40.0}, floor=False)
    if focus:
        viz.focus_on(fig, POSE.numpy())
    return fig


def test_focus_on_keeps_everything_and_centres_the_subject():
    fig = _scene(focus=True)
    bounds = viz.scene_bounds(fig)
    scene = fig.layout.scene
    ranges = np.array([scene.xaxis.range, scene.yaxis.range, scene.zaxis.range])
    assert (ranges[:, 0] <= bounds[:, 0]).all() and (ranges[:, 1] >= bounds[:, 1]).all(), "a trace is cut off"
    assert scene.aspectmode == "manual"
    span = ranges[:, 1] - ranges[:, 0]
    assert np.allclose([scene.aspectratio.x, scene.aspectratio.y, scene.aspectratio.z], span / span.max())
    # the camera centre is the subject's centre in plotly's normalised scene coordinates
    subject = (POSE.numpy().min(0) + POSE.numpy().max(0)) / 2
    expected = (subject - ranges.mean(1)) / span.max()
    centre = np.array([scene.camera.center.x, scene.camera.center.y, scene.camera.center.z])
    assert np.allclose(centre, expected)
    eye = np.array([scene.camera.eye.x, scene.camera.eye.y, scene.camera.eye.z])
    # the eye stands about two subject sizes away: much closer than the cameras, which are metres away
    assert 0.5 * 2200 / span.max() < np.linalg.norm(eye - centre) < 4 * 2200 / span.max()
    with pytest.raises(ValueError, match="finite point"):
        viz.focus_on(fig, np.full((3, 3), np.nan))


def test_pose_toggles_show_one_method_at_a_time():
    fig = _scene(focus=False)
    viz.pose_toggles(fig, ["estimate"], always=["truth"])
    buttons = fig.layout.updatemenus[0].buttons
    assert [b.label for b in buttons] == ["all", "estimate"]
    groups = [t.legendgroup for t in fig.data]
    only = buttons[1].args[0]["visible"]
    for g, vis in zip(groups, only):
        assert vis is True, f"trace of group {g!r} hidden by the 'estimate' button"
    fig2 = _scene(focus=False)
    viz.pose_toggles(fig2, ["truth", "estimate"])
    mask = fig2.layout.updatemenus[0].buttons[2].args[0]["visible"]  # "estimate" alone
    assert [v for g, v in zip(groups, mask) if g == "truth"] == [False] * 4
    assert [v for g, v in zip(groups, mask) if g == "estimate"] == [True] * 4
    assert all(v for g, v in zip(groups, mask) if g not in ("truth", "estimate")), "cameras must stay visible"


def test_plain_log_axis_labels():
    fig, ax = plt.subplots()
    ax.plot([1, 2, 4, 8, 31], [150, 100, 80, 75, 70])
    viz.plain_log_axis(ax, "x", [1, 2, 4, 8, 16, 31])
    viz.plain_log_axis(ax, "y")
    fig.canvas.draw()
    xl = [t.get_text() for t in ax.get_xticklabels()]
    yl = [t.get_text() for t in ax.get_yticklabels()]
    assert xl == ["1", "2", "4", "8", "16", "31"]
    assert len(yl) >= 4 and all(re.fullmatch(r"\d+", s) for s in yl), yl
    assert ax.get_yscale() == "log"
    plt.close(fig)


def test_volume_slice_has_colour_bar_and_mm_axes():
    fig, ax = plt.subplots()
    viz.volume_slice(ax, np.random.default_rng(0).random((8, 8)), 1250.0, label="probability")
    assert len(fig.axes) == 2 and fig.axes[1].get_ylabel() == "probability"
    assert "mm" in ax.get_xlabel() and "mm" in ax.get_ylabel()
    assert ax.get_xlim() == (-1250.0, 1250.0)
    plt.close(fig)


def test_focused_scene_shows_a_large_subject(tmp_path):
    """In Chromium the focused scene's skeleton is drawn several times taller than in the default view."""
    from test_browser import CHROMIUM, chromium

    if CHROMIUM is None:
        pytest.skip("needs Chromium")
    from matplotlib.image import imread

    counts = {}
    for focus in (False, True):
        fig = viz.scene_figure(human36m_like_rig(), {"pose": POSE}, floor=False)
        for trace in fig.data[-4:-1]:
            trace.line.width = 8
        if focus:
            viz.focus_on(fig, POSE.numpy())
        fig.update_layout(width=800, height=600, showlegend=False)
        page = viz.save_html(fig, tmp_path / f"scene_{focus}.html")
        shot = tmp_path / f"shot_{focus}.png"
        proc = chromium([f"--screenshot={shot}", "--window-size=800,600", page.as_uri()], tmp_path)
        assert proc.returncode == 0 and shot.is_file(), proc.stderr[-2000:]
        img = imread(shot)[..., :3]
        mask = np.zeros(img.shape[:2], dtype=bool)
        for side in ("left", "right"):
            rgb = np.array([int(viz.SIDE_COLORS[side][k : k + 2], 16) / 255 for k in (1, 3, 5)])
            mask |= np.abs(img - rgb).max(-1) < 0.12
        rows = np.nonzero(mask.any(1))[0]
        counts[focus] = int(rows.max() - rows.min()) if len(rows) else 0  # height of the drawn skeleton, px
    assert counts[False] > 10 and counts[True] > 2.5 * counts[False], counts
