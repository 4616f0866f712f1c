"""Stored frames drawn in video pixels, and several skeletons animated together (lt_core.viz)."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pytest

from lt_core import viz
from lt_core.skeleton import BODY25B


def test_show_frame_uses_video_pixel_extent():
    fig, ax = plt.subplots()
    viz.show_frame(ax, np.zeros((960, 544, 3), np.uint8), scale=0.5)
    assert ax.get_xlim() == (-0.5, 1087.5) and ax.get_ylim() == (1919.5, -0.5)
    assert ax.images[0].get_extent() == [-0.5, 1087.5, 1919.5, -0.5]
    viz.zoom_to_points(ax, np.array([[100.0, 200.0], [300.0, 600.0], [np.nan, np.nan]]), margin=0.0)
    x0, x1 = ax.get_xlim()
    y0, y1 = ax.get_ylim()
    assert x0 < 100 < 300 < x1 and y1 < 200 < 600 < y0  # v still points down
    plt.close(fig)


def test_poses_animation_moves_every_pose():
    gen = np.random.default_rng(0)
    a = gen.normal(size=(5, 25, 3)) * 300 + [0, 0, 1000]
    b = a + 50.0
    fig = viz.poses_animation({"ours": a, "theirs": b}, skeleton=BODY25B, pose_dash={"theirs": "dash"})
    assert len(fig.frames) == 5
    first = len(fig.data) - 8
    assert list(fig.frames[3].traces) == list(range(first, first + 8))
    joints_ours, joints_theirs = fig.frames[3].data[3], fig.frames[3].data[7]
    assert np.allclose(joints_ours.x, np.round(a[3, :, 0], 1)) and np.allclose(joints_theirs.z, np.round(b[3, :, 2], 1))
    assert fig.frames[3].data[4].line.dash == "dash" and fig.data[first + 4].line.dash == "dash"
    with pytest.raises(ValueError, match="must all have shape"):
        viz.poses_animation({"ours": a, "short": b[:3]}, skeleton=BODY25B)
