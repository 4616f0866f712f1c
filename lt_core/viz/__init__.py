"""Visualisation for the notebooks: offline plotly scenes, matplotlib helpers, sliders with static fallbacks.

* :mod:`.offline` -- :func:`setup_plotly` (figures that draw with no network, plotly.js embedded once) and
  :func:`save_html` (standalone figure files);
* :mod:`.scene` -- 3D scenes: camera frusta, skeletons, floor, animations with a frame slider;
* :mod:`.traces` -- the plotly traces scenes are made of (frusta, camera axes, skeletons, points, floor grid);
* :mod:`.mpl` -- images in the pixel-centre convention, 2D skeletons, per-view grids, small multiples;
* :mod:`.scene_tools` -- :func:`focus_on` (open a scene's view on the subject) and :func:`pose_toggles`
  (buttons showing one method's pose at a time);
* :mod:`.frames` -- stored (downscaled) video frames drawn in the calibration's pixel coordinates;
* :mod:`.widgets` -- :func:`slider_or_grid`: ``ipywidgets`` when live, small multiples when headless.
"""

from lt_core.viz.colors import CAMERA_COLORS, SIDE_COLORS, camera_color, side_color
from lt_core.viz.frames import show_frame, zoom_to_points
from lt_core.viz.mpl import (
    axes_grid,
    draw_skeleton_2d,
    draw_views,
    plain_log_axis,
    set_image_axes,
    show_image,
    small_multiples,
    volume_slice,
)
from lt_core.viz.offline import DEFAULT_RENDERERS, RENDERER_NAME, figure_html, save_html, setup_plotly
from lt_core.viz.scene import poses_animation, scene_figure, scene_layout, skeleton_animation
from lt_core.viz.scene_tools import focus_on, pose_toggles, scene_bounds
from lt_core.viz.traces import axes_traces, camera_traces, floor_trace, frustum_lines, points_trace, skeleton_traces
from lt_core.viz.widgets import HEADLESS_ENV, slider_or_grid, widgets_enabled

__all__ = [
    "CAMERA_COLORS",
    "SIDE_COLORS",
    "camera_color",
    "side_color",
    "show_frame",
    "zoom_to_points",
    "axes_grid",
    "draw_skeleton_2d",
    "draw_views",
    "plain_log_axis",
    "set_image_axes",
    "show_image",
    "small_multiples",
    "volume_slice",
    "focus_on",
    "pose_toggles",
    "scene_bounds",
    "DEFAULT_RENDERERS",
    "RENDERER_NAME",
    "figure_html",
    "save_html",
    "setup_plotly",
    "axes_traces",
    "camera_traces",
    "floor_trace",
    "frustum_lines",
    "points_trace",
    "scene_figure",
    "scene_layout",
    "skeleton_animation",
    "skeleton_traces",
    "poses_animation",
    "HEADLESS_ENV",
    "slider_or_grid",
    "widgets_enabled",
]
