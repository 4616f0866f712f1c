"""lt_core.viz and lt_core.notebook_utils: scene builders, offline plotly, static fallbacks, result files."""

from __future__ import annotations

import re

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import plotly.graph_objects as go  # noqa: E402
import plotly.io as pio  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
from conftest import ring_rig, standing_pose_mm  # noqa: E402
from plotly.offline import get_plotlyjs  # noqa: E402

from lt_core import viz  # noqa: E402
from lt_core.camera import Camera  # noqa: E402
from lt_core.notebook_utils import NotebookResults, check_size, default_size, markdown_table  # noqa: E402
from lt_core.skeleton import BODY25B, H36M17  # noqa: E402
from lt_core.viz.offline import OfflineNotebookRenderer  # noqa: E402


def standing_pose() -> torch.Tensor:
    """A plausible (17, 3) Human3.6M pose in mm (not from data; only for drawing tests)."""
    g = torch.Generator().manual_seed(1)
    return standing_pose_mm() + torch.randn(17, 3, generator=g, dtype=torch.float64) * 5


def bone_segments(trace: go.Scatter3d) -> int:
    return sum(1 for v in trace.x if v is None)


# ---------------------------------------------------------------------------------------------------------- 3D scenes
def test_frustum_corners_project_to_image_corners():
    cams = ring_rig(3)
    starts, ends = viz.frustum_lines(cams, depth=700.0)
    assert starts.shape == ends.shape == (3, 11, 3)
    centres = cams.center.numpy()
    np.testing.assert_allclose(starts[:, :4], np.repeat(centres[:, None], 4, 1), atol=1e-6)
    corners = torch.as_tensor(ends[:, :4])  # far rectangle: outer pixel edges at depth 700 mm
    uv = cams.project(corners)
    w, h = cams.image_size[0].tolist()
    expected = torch.tensor([[-0.5, -0.5], [w - 0.5, -0.5], [w - 0.5, h - 0.5], [-0.5, h - 0.5]], dtype=torch.float64)
    torch.testing.assert_close(uv, expected.expand(3, 4, 2), atol=1e-6, rtol=0)
    torch.testing.assert_close(cams.depth(corners), torch.full((3, 4), 700.0, dtype=torch.float64))


def test_frustum_without_image_size_uses_principal_point():
    cam = Camera.look_at([3000.0, 0.0, 1500.0], [0.0, 0.0, 900.0], image_size=(640, 480))
    cam.image_size = None
    starts, ends = viz.frustum_lines(cam, depth=500.0)
    uv = cam.project(torch.as_tensor(ends[:, 1:2]))
    torch.testing.assert_close(uv[0, 0], torch.tensor([639.5, -0.5], dtype=torch.float64), atol=1e-6, rtol=0)


def test_axes_traces_follow_camera_rotation():
    cam = ring_rig(1)
    traces = viz.axes_traces(cam.center[0], cam.R[0], length=300.0, name="cam")
    assert [t.name for t in traces] == ["cam x", "cam y", "cam z"]
    z_tip = np.array([traces[2].x[1], traces[2].y[1], traces[2].z[1]])
    # the z arrow points along the optical axis: 300 mm straight ahead of the camera
    Xc = cam.world_to_camera(torch.as_tensor(z_tip)[None, None])[0, 0]
    np.testing.assert_allclose(Xc.numpy(), [0.0, 0.0, 300.0], atol=1e-6)


def test_skeleton_traces_one_segment_per_bone():
    traces = viz.skeleton_traces(standing_pose(), H36M17, name="gt")
    assert len(traces) == 4
    assert [t.meta for t in traces[:3]] == ["left", "right", "center"]
    assert sum(bone_segments(t) for t in traces[:3]) == len(H36M17.bones)
    assert traces[3].name == "gt joints" and len(traces[3].x) == 17
    assert traces[0].line.color == viz.SIDE_COLORS["left"] and traces[1].line.color == viz.SIDE_COLORS["right"]
    assert sum(t.showlegend is not False for t in traces) == 1


def test_skeleton_traces_skip_missing_joints_and_check_shape():
    X = standing_pose()
    X[0] = float("nan")  # RAnkle missing: the shin bone is skipped
    traces = viz.skeleton_traces(X, H36M17)
    assert sum(bone_segments(t) for t in traces[:3]) == len(H36M17.bones) - 1
    with pytest.raises(ValueError, match="17, 3"):
        viz.skeleton_traces(torch.zeros(25, 3), H36M17)
    assert len(viz.skeleton_traces(torch.zeros(25, 3), BODY25B)) == 4


def test_scene_figure_trace_layout():
    cams = ring_rig(4)
    fig = viz.scene_figure(
        cams, {"truth": standing_pose(), "estimate": standing_pose() + 20}, title="rig", pose_dash={"estimate": "dash"}
    )
    assert isinstance(fig, go.Figure)
    names = [t.name for t in fig.data]
    assert names[0] == "floor"
    assert names[1:9:2] == ["cam 0", "cam 1", "cam 2", "cam 3"]
    assert names[9:13] == ["truth"] * 3 + ["truth joints"]
    assert names[13:17] == ["estimate"] * 3 + ["estimate joints"]
    assert fig.data[13].line.dash == "dash"
    assert all(isinstance(t, go.Scatter3d) for t in fig.data)
    assert fig.layout.scene.zaxis.title.text == "z (mm)"
    assert fig.layout.scene.camera.up.z == 1
    assert fig.layout.title.text == "rig"


def test_scene_figure_uses_camera_names():
    cams = ring_rig(2)
    cams.names = ["left_cam", "right_cam"]
    fig = viz.scene_figure(cams, floor=False)
    assert [t.name for t in fig.data[::2]] == ["left_cam", "right_cam"]
    assert fig.data[1].text == ("left_cam",)


def test_skeleton_animation_frames_and_slider():
    T = 6
    seq = standing_pose()[None].repeat(T, 1, 1) + torch.arange(T, dtype=torch.float64)[:, None, None] * 10
    fig = viz.skeleton_animation(seq, ring_rig(2), fps=5)
    assert len(fig.frames) == T
    assert all(len(f.data) == 4 for f in fig.frames)
    assert list(fig.frames[0].traces) == list(range(len(fig.data) - 4, len(fig.data)))
    assert len(fig.layout.sliders[0].steps) == T
    assert fig.layout.scene.aspectmode == "manual"
    assert [b.label for b in fig.layout.updatemenus[0].buttons] == ["play", "pause"]
    with pytest.raises(ValueError):
        viz.skeleton_animation(standing_pose())


# --------------------------------------------------------------------------------------------------- offline plotly
NO_EXTERNAL_SCRIPT = re.compile(r"<script[^>]*\bsrc\s*=", re.IGNORECASE)


def test_save_html_embeds_plotlyjs(tmp_path):
    fig = viz.scene_figure(ring_rig(2), standing_pose(), title="offline")
    path = viz.save_html(fig, tmp_path / "sub" / "scene.html")
    html = path.read_text(encoding="utf-8")
    bundle = get_plotlyjs()
    assert bundle in html  # plotly.js itself is inside (about 4.7 MB) ...
    page = html.replace(bundle, "")  # ... and nothing around it points to the network
    assert not re.findall(r"https?://", page) and "cdn" not in page.lower()
    assert not NO_EXTERNAL_SCRIPT.search(page)
    assert 'id="scene"' in html and "Plotly.newPlot" in html
    assert "<title>offline</title>" in html


def test_save_html_is_reproducible(tmp_path):
    fig = viz.scene_figure(ring_rig(2), standing_pose())
    a = viz.save_html(fig, tmp_path / "a" / "s.html").read_bytes()
    b = viz.save_html(fig, tmp_path / "b" / "s.html").read_bytes()
    assert a == b


def test_setup_plotly_offline_renderer():
    previous = pio.renderers.default
    try:
        name = viz.setup_plotly()
        assert name == "plotly_mimetype+lt_offline"
        assert pio.renderers.default == name
        with pytest.raises(ValueError, match="CDN"):
            viz.setup_plotly("notebook_connected")
        bundle = OfflineNotebookRenderer().to_mimebundle(go.Figure(go.Scatter3d(x=[0], y=[0], z=[0])).to_dict())
        html = bundle["text/html"]
        assert re.search(r'id="lt-plot-\d+"', html)
        assert "cdn" not in html.lower() and not re.findall(r"https?://", html)
        assert not NO_EXTERNAL_SCRIPT.search(html)
        mime = pio.renderers._build_mime_bundle(go.Figure().to_dict())
        assert set(mime) == {"application/vnd.plotly.v1+json", "text/html"}
    finally:
        pio.renderers.default = previous


# ---------------------------------------------------------------------------------------------------------- widgets
def test_widgets_disabled_headless(monkeypatch):
    monkeypatch.setenv("LT_HEADLESS", "1")
    assert viz.widgets_enabled() is False
    assert viz.widgets_enabled(True) is True
    monkeypatch.delenv("LT_HEADLESS")
    assert viz.widgets_enabled() is False  # not inside a Jupyter kernel


def test_slider_or_grid_static_fallback():
    seen = []

    def draw(ax, value):
        seen.append(value)
        ax.plot([0, value], [0, 1])

    fig = viz.slider_or_grid(draw, [1, 2, 3, 5, 8], name="beta", interactive=False, ncols=3)
    assert isinstance(fig, plt.Figure)
    assert seen == [1, 2, 3, 5, 8]
    visible = [ax for ax in fig.axes if ax.get_visible()]
    assert [ax.get_title() for ax in visible] == [f"beta = {v}" for v in (1, 2, 3, 5, 8)]
    plt.close(fig)
    with pytest.raises(ValueError):
        viz.slider_or_grid(draw, [], interactive=False)


# ---------------------------------------------------------------------------------------------------------- matplotlib
def test_show_image_pixel_centre_extent():
    fig, ax = plt.subplots()
    viz.show_image(ax, torch.rand(3, 4, 6))
    assert ax.images[0].get_extent() == [-0.5, 5.5, 3.5, -0.5]
    plt.close(fig)


def test_draw_views_grid():
    cams = ring_rig(3)
    uv = cams.project(standing_pose()[None].expand(3, 17, 3))
    fig = viz.draw_views(uv, cams.image_size, names=["a", "b", "c"], overlays={"noisy": uv + 3}, ncols=2)
    visible = [ax for ax in fig.axes if ax.get_visible()]
    assert [ax.get_title() for ax in visible] == ["a", "b", "c"]
    assert visible[0].get_ylim()[0] > visible[0].get_ylim()[1]  # v points down
    plt.close(fig)


# ---------------------------------------------------------------------------------------------------------- results
def test_notebook_results_files(tmp_path):
    import pandas as pd

    res = NotebookResults(tmp_path, "09_demo")
    fig, ax = plt.subplots()
    ax.plot([0, 1])
    assert res.save_figure(fig, "line") == "figures/09_demo/line.png"
    plt.close(fig)
    assert res.save_figure(go.Figure(), "empty") == "figures/09_demo/empty.html"
    df = pd.DataFrame({"method": ["a|b", "c"], "error (mm)": [1.23456, float("nan")]})
    csv, md = res.save_table(df, "errors", "Errors on nothing")
    assert (csv, md) == ("tables/09_demo/errors.csv", "tables/09_demo/errors.md")
    text = (tmp_path / md).read_text()
    assert text.startswith("**Errors on nothing**")
    assert "| a\\|b | 1.23 |" in text and "| c | nan |" in text
    assert pd.read_csv(tmp_path / csv)["error (mm)"].iloc[0] == pytest.approx(1.23456)
    assert len(res.written) == 4 and str(tmp_path) not in res.summary()
    with pytest.raises(TypeError):
        res.save_figure(object(), "bad")


def test_markdown_table_and_sizes(monkeypatch):
    import pandas as pd

    assert markdown_table(pd.DataFrame({"x": [1.0], "ok": [True]}), ".1f").splitlines() == [
        "| x | ok |",
        "|---|---|",
        "| 1.0 | yes |",
    ]
    monkeypatch.setenv("LT_NOTEBOOK_SIZE", "smoke")
    assert default_size() == "smoke"
    with pytest.raises(ValueError):
        check_size("huge")
