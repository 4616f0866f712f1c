"""Camera rigs of the embedded dataset: a Human3.6M-like 4-camera room and a CMU-Panoptic-like HD dome.

Both are built deterministically from a few numbers (no randomness), in the project's world (Z up, floor at
``z = 0``, millimetres), and are also shipped as rig JSON files in ``data/rigs/`` (written by
:func:`write_rig_files`, read by :func:`load_rig`; the format is that of
:func:`lt_core.data.calibration.save_rig_json`).

* :func:`human36m_like_rig` -- four 1000 x 1000 cameras with ``f ~ 1145 px`` in the corners of a room, 4.1-5.5 m
  from the capture centre and 1.48-1.57 m high, aimed near ``(0, 0, 0.9 m)``: the layout, focal lengths and
  principal points of Human3.6M's cameras (approximate; the real calibration is per subject).
* :func:`dome_rig` -- ``n`` (default 31) 1920 x 1080 cameras with ``f`` in 1400-1560 px on four rings of a dome of
  radius 2.9 m centred 1 m above the floor (elevations -10, 10, 30, 50 degrees), aimed at points within 15 cm of
  ``(0, 0, 0.9 m)``: the geometry of CMU Panoptic's HD cameras (radius ~2.8-2.9 m, 31 cameras).

Both take ``distortion=True`` to add mild, realistic lens distortion (the default rigs are ideal pinholes, like the
undistorted images the paper's pipeline works on).
"""

from __future__ import annotations

import math
from pathlib import Path

import torch

from lt_core.camera import Camera, stack_cameras
from lt_core.data import calibration
from lt_core.paths import data_dir

__all__ = ["human36m_like_rig", "dome_rig", "load_rig", "write_rig_files", "rig_path", "RIG_FILES", "CAPTURE_CENTER"]

CAPTURE_CENTER = (0.0, 0.0, 900.0)
"""Centre of the capture volume (mm, world): the point the rigs look at."""

RIG_FILES = {"human36m": "human36m_like.json", "dome": "panoptic_like_dome.json"}
"""Rig name -> file name in ``data/rigs/``."""

_ALIASES = {
    "human36m": "human36m",
    "human36m_like": "human36m",
    "h36m": "human36m",
    "dome": "dome",
    "panoptic": "dome",
    "panoptic_like_dome": "dome",
}

# Human3.6M-like: camera centres (mm), aim offsets from the capture centre (mm), focal (fx, fy), principal (cx, cy)
_H36M = (
    ((-1840.0, 4950.0, 1565.0), (40.0, -60.0, 20.0), (1145.0, 1144.0), (512.5, 515.5)),
    ((1760.0, 4310.0, 1480.0), (-50.0, -30.0, -10.0), (1149.7, 1147.6), (508.8, 508.1)),
    ((1845.0, -5220.0, 1490.0), (30.0, 70.0, 0.0), (1149.1, 1148.8), (519.8, 501.4)),
    ((-1795.0, -3720.0, 1575.0), (-20.0, 40.0, 30.0), (1145.5, 1144.8), (514.0, 501.0)),
)
_H36M_DIST = (-0.207, 0.247, -0.0009, -0.0014, -0.003)  # k1, k2, p1, p2, k3 of a typical Human3.6M camera


def human36m_like_rig(distortion: bool = False, dtype: torch.dtype = torch.float64) -> Camera:
    """Four cameras in the corners of a room, like Human3.6M's.

    Args:
        distortion: add Human3.6M-like radial/tangential distortion (``k1 = -0.21``) to every camera.
        dtype: tensor dtype.

    Returns:
        Camera with batch shape (4,), ``image_size`` (1000, 1000), names ``cam_0`` .. ``cam_3``.
    """
    cams = []
    for i, (eye, aim, (fx, fy), (cx, cy)) in enumerate(_H36M):
        target = tuple(c + a for c, a in zip(CAPTURE_CENTER, aim))
        cam = Camera.look_at(eye, target, focal=fx, image_size=(1000, 1000), principal=(cx, cy), dtype=dtype)
        cam.K[1, 1] = fy
        if distortion:
            cam.dist = torch.tensor(_H36M_DIST, dtype=dtype) * (1.0 + 0.04 * i)
        cam.names = [f"cam_{i}"]
        cams.append(cam)
    return stack_cameras(cams)


def _ring_counts(n: int, elevations: tuple[float, ...]) -> list[int]:
    """Split ``n`` cameras over rings in proportion to each ring's circumference (largest remainders)."""
    w = [math.cos(math.radians(e)) for e in elevations]
    raw = [n * x / sum(w) for x in w]
    counts = [int(r) for r in raw]
    order = sorted(range(len(raw)), key=lambda i: raw[i] - counts[i], reverse=True)
    for i in order[: n - sum(counts)]:
        counts[i] += 1
    return counts


def dome_rig(
    n: int = 31,
    radius: float = 2900.0,
    center_height: float = 1000.0,
    elevations: tuple[float, ...] = (-10.0, 10.0, 30.0, 50.0),
    distortion: bool = False,
    dtype: torch.dtype = torch.float64,
) -> Camera:
    """HD cameras on rings of a dome, like CMU Panoptic's.

    Args:
        n: number of cameras (>= 1).
        radius: dome radius in mm (distance of every camera from the dome centre).
        center_height: height of the dome centre above the floor, mm.
        elevations: ring elevations in degrees above the dome centre; cameras are split over the rings in
            proportion to their circumference, azimuths staggered between rings.
        distortion: add mild radial distortion (``k1`` about -0.22, varying per camera).
        dtype: tensor dtype.

    Returns:
        Camera with batch shape (n,), ``image_size`` (1920, 1080), names ``cam_00`` .. (ring-major order).
    """
    if n < 1:
        raise ValueError(f"dome_rig needs n >= 1 cameras, got {n}")
    counts = _ring_counts(n, elevations)
    cams = []
    i = 0
    for ring, (el, count) in enumerate(zip(elevations, counts)):
        for j in range(count):
            az = 2 * math.pi * (j + 0.5 * (ring % 2) + 0.13 * ring) / max(count, 1)
            e = math.radians(el)
            eye = (
                radius * math.cos(e) * math.cos(az),
                radius * math.cos(e) * math.sin(az),
                center_height + radius * math.sin(e),
            )
            aim = (150.0 * math.sin(2.1 * i + 0.3), 150.0 * math.sin(1.7 * i + 1.1), 100.0 * math.sin(0.9 * i))
            target = tuple(c + a for c, a in zip(CAPTURE_CENTER, aim))
            focal = 1480.0 + 80.0 * math.sin(2.3 * i + 0.7)
            principal = (959.5 + 12.0 * math.sin(1.3 * i), 539.5 + 10.0 * math.cos(1.9 * i))
            cam = Camera.look_at(eye, target, focal=focal, image_size=(1920, 1080), principal=principal, dtype=dtype)
            cam.K[1, 1] = focal * (1.0 + 0.002 * math.sin(3.1 * i))
            if distortion:
                k1 = -0.22 + 0.03 * math.sin(1.1 * i)
                cam.dist = torch.tensor([k1, 0.18, 0.0004, -0.0003, -0.02], dtype=dtype)
            cam.names = [f"cam_{i:02d}"]
            cams.append(cam)
            i += 1
    return stack_cameras(cams)


def rig_path(name: str) -> Path:
    """Path of a shipped rig file (``"human36m"`` / ``"dome"`` or an alias) in ``data/rigs/``."""
    key = _ALIASES.get(name)
    if key is None:
        raise KeyError(f"unknown rig {name!r}; known: {sorted(_ALIASES)}")
    return data_dir() / "rigs" / RIG_FILES[key]


def write_rig_files(directory: str | Path | None = None) -> list[Path]:
    """Write ``human36m_like.json`` and ``panoptic_like_dome.json`` (ideal pinholes) into ``directory``.

    Args:
        directory: output folder (default ``data/rigs/``).

    Returns:
        The written paths.
    """
    d = Path(directory) if directory is not None else data_dir() / "rigs"
    d.mkdir(parents=True, exist_ok=True)
    return [
        calibration.save_rig_json(
            d / RIG_FILES["human36m"],
            human36m_like_rig(),
            "Human3.6M-like 4-camera room rig (lt_core.data.rigs.human36m_like_rig)",
        ),
        calibration.save_rig_json(
            d / RIG_FILES["dome"], dome_rig(), "CMU-Panoptic-like 31-camera HD dome (lt_core.data.rigs.dome_rig)"
        ),
    ]


def load_rig(name_or_path: str | Path) -> Camera:
    """Load a rig by name (``"human36m"``, ``"dome"`` and aliases) or from a rig JSON file.

    A named rig is read from its file in ``data/rigs/`` when present, else built by its function (same cameras).

    Returns:
        Camera with batch shape (C,), float64, names set.
    """
    key = _ALIASES.get(str(name_or_path))
    if key is None:
        return calibration.load_rig_json(name_or_path)
    p = rig_path(key)
    if p.is_file():
        return calibration.load_rig_json(p)
    return human36m_like_rig() if key == "human36m" else dome_rig()
