"""Plotly figures really draw in a browser with no network: standalone figure files and exported notebooks.

Uses headless Chromium (Debian: ``apt-get install -y chromium``); skipped when it is not installed. Two checks:

* ``--dump-dom`` after a virtual-time budget: the page's DOM (scripts removed) holds plotly's ``svg.main-svg`` and,
  for 3D scenes, a ``gl-container`` with a WebGL ``canvas``;
* ``--screenshot``: the 3D scene's pixels contain the skeleton's left/right colours, i.e. WebGL actually drew.

Software WebGL (SwiftShader) is enabled explicitly, so no GPU is needed.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest
from conftest import ring_rig, standing_pose_mm

from lt_core import viz

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = next(
    (
        p
        for p in (shutil.which("chromium"), shutil.which("chromium-browser"), "/usr/bin/chromium")
        if p and os.path.exists(p)
    ),
    None,
)
pytestmark = pytest.mark.skipif(
    CHROMIUM is None, reason="headless browser test needs Chromium: apt-get update && apt-get install -y chromium"
)

FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
    "--enable-unsafe-swiftshader",
    "--use-angle=swiftshader",
    "--mute-audio",
]


def chromium(args: list[str], tmp: Path, timeout: int = 120) -> subprocess.CompletedProcess:
    profile = tmp / "profile"
    profile.mkdir(exist_ok=True)
    cmd = [CHROMIUM, *FLAGS, f"--user-data-dir={profile}", "--virtual-time-budget=10000", *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)


class _Dom(HTMLParser):
    """Collects elements (tag, classes, ancestors' classes) outside <script>/<style>."""

    def __init__(self) -> None:
        super().__init__()
        self.stack: list[tuple[str, set[str]]] = []
        self.elements: list[tuple[str, set[str], list[set[str]]]] = []

    def handle_starttag(self, tag, attrs):
        classes = set((dict(attrs).get("class") or "").split())
        self.elements.append((tag, classes, [c for _, c in self.stack]))
        if tag not in ("canvas", "img", "br", "meta", "link", "input", "path", "rect", "line", "circle"):
            self.stack.append((tag, classes))

    def handle_endtag(self, tag):
        for i in range(len(self.stack) - 1, -1, -1):
            if self.stack[i][0] == tag:
                del self.stack[i:]
                break


def strip_code(html: str) -> str:
    """The page without <script> and <style> contents (plotly.js contains every class name as text)."""
    html = re.sub(r"<script\b.*?</script>", "", html, flags=re.S | re.I)
    return re.sub(r"<style\b.*?</style>", "", html, flags=re.S | re.I)


def parse_dom(html: str) -> _Dom:
    dom = _Dom()
    dom.feed(strip_code(html))
    return dom


def plot_counts(dom: _Dom) -> dict[str, int]:
    """Number of plotly root SVGs, 3D gl-containers holding a canvas, and plot divs."""
    svg = sum(1 for tag, cls, _ in dom.elements if tag == "svg" and "main-svg" in cls)
    gl = sum(1 for tag, _, anc in dom.elements if tag == "canvas" and any("gl-container" in a for a in anc))
    plots = sum(1 for tag, cls, _ in dom.elements if tag == "div" and "plotly-graph-div" in cls)
    return {"main_svg": svg, "gl_canvas": gl, "plots": plots}


def scene_html(tmp_path: Path) -> Path:
    pose = standing_pose_mm()
    fig = viz.scene_figure(ring_rig(4), pose, title="browser test", floor=False)
    for trace in fig.data[-4:-1]:  # thick bones so that they cover many pixels
        trace.line.width = 14
    fig.update_layout(width=900, height=700, showlegend=False, scene=dict(camera=dict(eye=dict(x=0.0, y=-0.9, z=0.1))))
    return viz.save_html(fig, tmp_path / "scene.html")


def test_standalone_scene_dom(tmp_path: Path):
    page = scene_html(tmp_path)
    proc = chromium(["--dump-dom", page.as_uri()], tmp_path)
    assert proc.returncode == 0, proc.stderr[-2000:]
    counts = plot_counts(parse_dom(proc.stdout))
    assert counts["plots"] == 1 and counts["main_svg"] >= 1, counts
    assert counts["gl_canvas"] >= 1, f"no WebGL canvas in the 3D scene: {counts}"
    assert "WebGL is not supported" not in strip_code(proc.stdout)


def test_standalone_scene_pixels(tmp_path: Path):
    from matplotlib.image import imread

    page = scene_html(tmp_path)
    shot = tmp_path / "shot.png"
    proc = chromium([f"--screenshot={shot}", "--window-size=900,700", page.as_uri()], tmp_path)
    assert proc.returncode == 0 and shot.is_file(), proc.stderr[-2000:]
    img = imread(shot)[..., :3]
    assert img.shape[0] >= 600 and img.shape[1] >= 800
    found = {}
    for side in ("left", "right"):
        rgb = np.array([int(viz.SIDE_COLORS[side][k : k + 2], 16) / 255 for k in (1, 3, 5)])
        found[side] = int((np.abs(img - rgb).max(-1) < 0.12).sum())
    assert min(found.values()) > 100, f"skeleton colours not drawn (pixel counts {found})"


def test_exported_notebook_draws(tmp_path: Path):
    """The committed 01 notebook, exported by nbconvert, draws its 3D scenes offline."""
    import nbformat
    from nbconvert import HTMLExporter

    path = ROOT / "notebooks" / "01_camera_geometry.ipynb"
    if not path.is_file():
        pytest.skip("notebooks/01_camera_geometry.ipynb not present")
    nb = nbformat.read(path, as_version=4)
    html, _ = HTMLExporter(template_name="lab").from_notebook_node(nb)
    out = tmp_path / "01.html"
    out.write_text(html, encoding="utf-8")
    proc = chromium(["--dump-dom", out.as_uri()], tmp_path, timeout=240)
    assert proc.returncode == 0, proc.stderr[-2000:]
    counts = plot_counts(parse_dom(proc.stdout))
    n_plotly = sum(1 for c in nb.cells for o in c.get("outputs", []) if "lt-plot-" in str(o.get("data", {})))
    assert n_plotly >= 1, "notebook 01 shows no plotly figure"
    assert counts["plots"] == n_plotly, counts
    assert counts["main_svg"] >= n_plotly and counts["gl_canvas"] >= 1, counts
