"""Calibrations of two more multi-camera toolkits: EasyMocap (``intri.yml`` / ``extri.yml``) and anipose
(``calibration.toml``), converted into the one convention (``docs/CONVENTIONS.md``: mm, ``X_cam = R X + t``).

EasyMocap (OpenCV FileStorage YAML, read by :func:`~lt_core.data.opencv_yaml.read_opencv_yaml`)::

    intri.yml:  names: ["01", ...]   K_<name>: 3x3 px   dist_<name> (or D_<name>): 1x5 / 5x1 / 1x4 / 4x1 (OpenCV)
                H_<name>, W_<name>: image size (optional)
    extri.yml:  names   R_<name>: 3x1 Rodrigues (world to camera)   Rot_<name>: the same as 3x3 (optional)
                T_<name>: 3x1 translation (metres, as EasyMocap calibrates)

Camera order: the ``names`` list of ``intri.yml`` (EasyMocap's ``read_camera`` iterates it). Names stored as
numbers (an unquoted ``- 1``) become their integer text, as EasyMocap reads them.

anipose / aniposelib (``CameraGroup.dump``: TOML, one table per camera)::

    [cam_0]  name = "A"  size = [W, H]  matrix = 3x3 px  distortions = [k1, k2, p1, p2, k3]
             rotation = Rodrigues (world to camera)  translation = [x, y, z] in the calibration board's unit
    [metadata] ...

Camera order: the table keys sorted as strings, which is how ``CameraGroup.load`` orders them (``cam_10`` comes
before ``cam_2``). The translation unit is the board's (anipose's configs give the square size in mm, the default
here); pass ``units`` when the board was measured otherwise. ``fisheye = true`` cameras (4 coefficients of another
model) are refused. Pose2Sim's TOML (same fields, metres, file order) is
:func:`~lt_core.data.calibration.load_toml_calibration`.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from lt_core.camera import Camera
from lt_core.data.calibration_common import (
    CalibrationError,
    _array,
    _field,
    _make_camera,
    _require_file,
    _select,
    _stack,
)
from lt_core.data.opencv_yaml import read_opencv_yaml
from lt_core.data.textio import load_toml, names_file
from lt_core.rotation import rodrigues_to_matrix

__all__ = ["UNITS_TO_MM", "load_easymocap_cameras", "load_anipose_calibration"]

PathLike = str | Path

UNITS_TO_MM: dict[str, float] = {"mm": 1.0, "cm": 10.0, "m": 1000.0}
"""Millimetres per unit of a calibration's translations."""


def _scale(units: str) -> float:
    if units not in UNITS_TO_MM:
        raise ValueError(f"units must be one of {sorted(UNITS_TO_MM)}, got {units!r}")
    return UNITS_TO_MM[units]


def _names(doc: dict[str, Any], path: Path) -> list[str]:
    if "names" not in doc:
        raise CalibrationError(f"{path}: missing field 'names' (the list of camera names)")
    names = doc["names"]
    if not isinstance(names, list) or not names:
        raise CalibrationError(f"{path}: field 'names' must be a non-empty list of camera names")
    out = []
    for n in names:
        if isinstance(n, float) and n.is_integer():
            n = int(n)
        out.append(str(n))
    return out


@names_file(CalibrationError)
def load_easymocap_cameras(
    intri: PathLike, extri: PathLike, names: Sequence[str] | None = None, units: str = "m"
) -> Camera:
    """Read EasyMocap's ``intri.yml`` and ``extri.yml``.

    Args:
        intri: ``intri.yml`` (``K_<name>``, ``dist_<name>`` or ``D_<name>``, optional ``H_<name>``, ``W_<name>``).
        extri: ``extri.yml`` (``R_<name>`` Rodrigues, optional ``Rot_<name>``, ``T_<name>``).
        names: cameras to keep, in this order (default: the ``names`` of ``intri.yml``).
        units: unit of ``T_<name>`` (``"m"``, EasyMocap's; ``"cm"``; ``"mm"``).

    Returns:
        Camera with batch shape (C,), float64, ``t`` in mm, OpenCV distortion, ``image_size`` when ``H``/``W`` are
        given, names set.

    Raises:
        CalibrationError: a field is missing or malformed (the message names the file, the camera and the field),
            or ``R_<name>`` and ``Rot_<name>`` disagree.
    """
    scale = _scale(units)
    pi, pe = _require_file(intri), _require_file(extri)
    di, de = read_opencv_yaml(pi), read_opencv_yaml(pe)
    all_names = _names(di, pi)
    idx = _select(all_names, names, pi)
    cams = []
    for name in (all_names[i] for i in idx):
        wi, we = f"{pi}, camera {name!r}", f"{pe}, camera {name!r}"
        K = _array(_field(di, f"K_{name}", wi), (3, 3), wi, f"K_{name}")
        key = f"dist_{name}" if f"dist_{name}" in di else f"D_{name}"
        if key not in di:
            raise CalibrationError(
                f"{wi}: missing field 'dist_{name}' (or 'D_{name}'); write zeros for a lens without distortion"
            )
        dist = _array(di[key], (5,), wi, key, sizes=(4, 5))
        size = None
        if f"H_{name}" in di and f"W_{name}" in di:
            size = (float(di[f"W_{name}"]), float(di[f"H_{name}"]))
            if min(size) <= 0:  # EasyMocap writes -1 when it does not know the size
                size = None
        rvec = _array(_field(de, f"R_{name}", we), (3,), we, f"R_{name}")
        R = rodrigues_to_matrix(torch.as_tensor(rvec, dtype=torch.float64)).numpy()
        if f"Rot_{name}" in de:
            Rot = _array(de[f"Rot_{name}"], (3, 3), we, f"Rot_{name}")
            if np.abs(Rot - R).max() > 1e-4:
                raise CalibrationError(
                    f"{we}: fields 'R_{name}' (Rodrigues) and 'Rot_{name}' (matrix) describe "
                    f"different rotations (max difference {np.abs(Rot - R).max():.3g})"
                )
        t = scale * _array(_field(de, f"T_{name}", we), (3,), we, f"T_{name}")
        cams.append(_make_camera(K, R, t, dist, size, name, wi))
    return _stack(cams, pi)


@names_file(CalibrationError)
def load_anipose_calibration(path: PathLike, units: str = "mm", names: Sequence[str] | None = None) -> Camera:
    """Read an anipose / aniposelib ``calibration.toml``.

    Args:
        path: the TOML file written by ``CameraGroup.dump``.
        units: unit of ``translation`` (the calibration board's: ``"mm"`` by default, ``"cm"``, ``"m"``).
        names: cameras (their ``name`` field) to keep, in this order; default all, in ``CameraGroup.load``'s order
            (table keys sorted as strings).

    Returns:
        Camera with batch shape (C,), float64, ``t`` in mm, OpenCV distortion, ``image_size`` from ``size``.

    Raises:
        NotImplementedError: a camera has ``fisheye = true``.
        CalibrationError: invalid TOML or a missing/malformed field (file, camera and field named).
    """
    scale = _scale(units)
    p = _require_file(path)
    data = load_toml(p, CalibrationError, "anipose calibration")
    cams, cam_names = [], []
    for key in sorted(k for k in data if k != "metadata"):
        table = data[key]
        if not isinstance(table, dict):
            raise CalibrationError(f"{p}: [{key}] must be a table of camera fields")
        name = str(table.get("name", key))
        w = f"{p}, camera {name!r} ([{key}])"
        if table.get("fisheye", False):
            raise NotImplementedError(f"{w}: fisheye = true; the fisheye lens model is not supported")
        K = _array(_field(table, "matrix", w), (3, 3), w, "matrix")
        dist = _array(_field(table, "distortions", w), (5,), w, "distortions", sizes=(4, 5))
        rvec = _array(_field(table, "rotation", w), (3,), w, "rotation")
        t = scale * _array(_field(table, "translation", w), (3,), w, "translation")
        size = _array(table["size"], (2,), w, "size") if "size" in table else None
        R = rodrigues_to_matrix(torch.as_tensor(rvec, dtype=torch.float64)).numpy()
        cams.append(_make_camera(K, R, t, dist, size, name, w))
        cam_names.append(name)
    if not cams:
        raise CalibrationError(f"{p}: no camera tables (expected [cam_0], [cam_1], ...)")
    idx = _select(cam_names, names, p)
    return _stack([cams[i] for i in idx], p)
