"""Colours shared by every drawing: left/right sides of the body and per-camera colours."""

from __future__ import annotations

__all__ = ["SIDE_COLORS", "CAMERA_COLORS", "side_color", "camera_color"]

SIDE_COLORS: dict[str, str] = {"left": "#1f77b4", "right": "#d62728", "center": "#4d4d4d"}
"""Body sides: left blue, right red, centre grey (the subject's own left and right)."""

CAMERA_COLORS: tuple[str, ...] = (
    "#2ca02c",
    "#ff7f0e",
    "#9467bd",
    "#8c564b",
    "#e377c2",
    "#17becf",
    "#bcbd22",
    "#7f7f7f",
)
"""Cycle of camera colours (distinct from the side colours)."""


def side_color(side: str) -> str:
    """Colour of a body side (``"left"``, ``"right"`` or ``"center"``)."""
    return SIDE_COLORS[side]


def camera_color(index: int) -> str:
    """Colour of the camera with this index (cycles)."""
    return CAMERA_COLORS[index % len(CAMERA_COLORS)]
