"""Camera calibration readers and writers, all converting into the one convention of ``docs/CONVENTIONS.md``.

Every reader returns a :class:`~lt_core.camera.Camera` in millimetres with ``X_cam = R X + t``, distortion
``(k1, k2, p1, p2, k3)`` (missing terms padded with 0) in the lens model the format uses (``distortion_model``:
OpenCV's, or Human3.6M's own for the Human3.6M formats; see :mod:`lt_core.lens`), ``image_size = (W, H)`` where the
format records it and ``names`` set. Formats:

* Human3.6M, the paper's preprocessed labels and the raw ``cameras.h5`` of 3d-pose-baseline: read by
  :mod:`lt_core.data.h36m_cameras` (its functions are importable from here too).
* CMU Panoptic ``calibration_<seq>.json`` (centimetres; optional rotation of its y-down world to our Z-up world).
* Pose2Sim TOML (``translation`` in metres, ``rotation`` a Rodrigues vector); anipose's ``calibration.toml`` (same
  fields, board units) and EasyMocap's ``intri.yml`` / ``extri.yml`` are in :mod:`lt_core.data.calibration_formats`.
* The project's own rig JSON (:func:`save_rig_json` / :func:`load_rig_json`).

This module holds the Panoptic, TOML and rig JSON formats, readers and writers; the field checks every reader
shares live in :mod:`lt_core.data.calibration_common`.

Errors: a missing file raises :class:`FileNotFoundError` naming the path; malformed content raises
:class:`CalibrationError` naming the file, the camera and the field.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from lt_core.camera import Camera
from lt_core.data.calibration_common import (
    CalibrationError,
    PathLike,
    _array,
    _field,
    _make_camera,
    _require_file,
    _select,
    _stack,
)
from lt_core.data.h36m_cameras import (
    H36M_CAMERA_NAMES,
    H36M_IMAGE_SIZES,
    h36m_camera_from_raw,
    h36m_cameras_from_labels,
    import_h5py,
    load_h36m_cameras_h5,
    open_h5,
)
from lt_core.data.textio import load_json, load_toml, names_file
from lt_core.rotation import matrix_to_rodrigues, rodrigues_to_matrix

__all__ = [
    "CalibrationError",
    "H36M_CAMERA_NAMES",
    "H36M_IMAGE_SIZES",
    "PANOPTIC_TO_ZUP",
    "h36m_cameras_from_labels",
    "h36m_camera_from_raw",
    "load_h36m_cameras_h5",
    "import_h5py",
    "open_h5",
    "load_panoptic_calibration",
    "save_panoptic_calibration",
    "load_toml_calibration",
    "save_toml_calibration",
    "load_rig_json",
    "save_rig_json",
    "rotate_world",
]

PANOPTIC_TO_ZUP = torch.tensor([[1.0, 0.0, 0.0], [0.0, 0.0, 1.0], [0.0, -1.0, 0.0]], dtype=torch.float64)
"""Proper rotation ``Q`` (det +1) from CMU Panoptic's y-down world to our Z-up world:
``(x, y, z)_ours = Q (x, y, z)_panoptic = (x, z, -y)_panoptic``. Cameras follow with ``R' = R Q^T``."""


PANOPTIC_CAMERA_TYPE_ALIASES: dict[str, str] = {"kinect": "kinect-color"}
"""Short names accepted for the ``type`` values of Panoptic calibration files (``"hd"``, ``"vga"``,
``"kinect-color"``)."""


# ------------------------------------------------------------------------------------------------------- helpers
def _opencv_only(camera: Camera, fmt: str) -> None:
    """Formats that store OpenCV coefficients cannot hold another lens model: refuse instead of writing wrong data."""
    if camera.distortion_model != "opencv" and camera.has_distortion:
        raise ValueError(
            f"the {fmt} format stores OpenCV distortion; these cameras use the "
            f"{camera.distortion_model!r} model, which it cannot represent"
        )


def _numpy_camera(camera: Camera) -> list[dict[str, Any]]:
    """Flatten a (C,) or single Camera into plain per-camera dicts (float64 numpy, t in mm)."""
    cam = camera if camera.batch_shape else _unsqueeze(camera)
    if len(cam.batch_shape) != 1:
        raise ValueError(f"expected a single camera or a (C,) rig, got batch shape {tuple(cam.batch_shape)}")
    n = cam.batch_shape[0]
    names = cam.names if cam.names is not None and len(cam.names) == n else [f"cam_{i + 1:02d}" for i in range(n)]
    out = []
    for i in range(n):
        out.append(
            {
                "name": names[i],
                "K": cam.K[i].detach().cpu().double().numpy(),
                "R": cam.R[i].detach().cpu().double().numpy(),
                "t": cam.t[i].detach().cpu().double().numpy(),
                "dist": cam.dist[i].detach().cpu().double().numpy(),
                "image_size": None if cam.image_size is None else cam.image_size[i].detach().cpu().double().numpy(),
            }
        )
    return out


def _unsqueeze(camera: Camera) -> Camera:
    return Camera(
        camera.K[None],
        camera.R[None],
        camera.t[None],
        camera.dist[None],
        None if camera.image_size is None else camera.image_size[None],
        camera.names,
        convention=camera.convention,
        distortion_model=camera.distortion_model,
    )


def rotate_world(camera: Camera, Q: Tensor) -> Camera:
    """Express cameras in a rotated world ``X' = Q X`` (``Q`` a 3x3 rotation): ``R' = R Q^T``, ``t`` unchanged.

    Args:
        camera: cameras of any batch shape.
        Q: (3, 3) rotation from the old world to the new world.

    Returns:
        Cameras that project ``Q X`` exactly where ``camera`` projects ``X``.
    """
    Q = torch.as_tensor(Q, dtype=camera.dtype, device=camera.device)
    return replace(camera, R=camera.R @ Q.T)


# ------------------------------------------------------------------------------------------------------ Panoptic
@names_file(CalibrationError)
def load_panoptic_calibration(
    path: PathLike,
    names: Sequence[str] | None = None,
    camera_type: str | None = "hd",
    count: int | None = None,
    z_up: bool = False,
) -> Camera:
    """Read a CMU Panoptic ``calibration_<seq>.json``.

    Args:
        path: the JSON file.
        names: camera names to take, in this order (e.g. ``["00_03", "00_06"]``); overrides ``camera_type``.
        camera_type: take cameras of this ``type`` in file order: ``"hd"``, ``"vga"`` or ``"kinect-color"`` (the
            value the files hold; ``"kinect"`` is accepted for it); ``None``: every camera. A type that matches
            no camera raises :class:`CalibrationError` listing the types the file has.
        count: keep only the first ``count`` selected cameras.
        z_up: express the cameras in our Z-up world (rotation :data:`PANOPTIC_TO_ZUP`) instead of Panoptic's
            y-down world. Translations are always converted from cm to mm.

    Returns:
        Camera with batch shape (C,), ``t`` in mm, ``image_size`` from ``resolution``, names set.
    """
    p = _require_file(path)
    data = load_json(p, CalibrationError, "Panoptic calibration")
    records = _field(data, "cameras", str(p))
    if not isinstance(records, list):
        raise CalibrationError(f"{p}: field 'cameras' must be a list")
    all_names = [str(_field(r, "name", f"{p}, camera #{i}")) for i, r in enumerate(records)]
    if names is not None:
        idx = _select(all_names, names, p)
    else:
        wanted = PANOPTIC_CAMERA_TYPE_ALIASES.get(camera_type, camera_type)
        idx = [i for i, r in enumerate(records) if wanted is None or r.get("type") == wanted]
        if not idx:
            types = sorted({str(r.get("type")) for r in records if isinstance(r, Mapping)})
            raise CalibrationError(f"{p}: no camera of type {camera_type!r}; the file has types {types}")
    if count is not None:
        if count > len(idx):
            raise CalibrationError(f"{p}: asked for {count} cameras, only {len(idx)} match")
        idx = idx[:count]
    cams = []
    for i in idx:
        r, w = records[i], f"{p}, camera {all_names[i]}"
        size = _array(r["resolution"], (2,), w, "resolution") if "resolution" in r else None
        cams.append(
            _make_camera(
                _array(_field(r, "K", w), (3, 3), w, "K"),
                _array(_field(r, "R", w), (3, 3), w, "R"),
                10.0 * _array(_field(r, "t", w), (3,), w, "t"),
                _array(r.get("distCoef", [0.0] * 5), (5,), w, "distCoef", sizes=(4, 5)),
                size,
                all_names[i],
                w,
            )
        )
    cam = _stack(cams, p)
    return rotate_world(cam, PANOPTIC_TO_ZUP) if z_up else cam


def save_panoptic_calibration(path: PathLike, camera: Camera, camera_type: str = "hd", z_up: bool = False) -> Path:
    """Write cameras as a CMU Panoptic calibration JSON (t in centimetres).

    Args:
        path: output file.
        camera: a single camera or a (C,) rig in our units (mm).
        camera_type: value of each camera's ``type`` field.
        z_up: the cameras live in our Z-up world (as returned with ``z_up=True``); they are rotated back to
            Panoptic's y-down world before writing.

    Returns:
        The written path.
    """
    _opencv_only(camera, "CMU Panoptic calibration")
    if z_up:
        camera = rotate_world(camera, PANOPTIC_TO_ZUP.T)
    out = []
    for c in _numpy_camera(camera):
        name = c["name"]
        panel, node = (name.split("_") + ["0"])[:2] if "_" in name else ("0", "0")
        rec: dict[str, Any] = {"name": name, "type": camera_type}
        if c["image_size"] is not None:
            rec["resolution"] = [int(round(v)) for v in c["image_size"]]
        rec.update(
            {
                "panel": int(panel) if panel.isdigit() else 0,
                "node": int(node) if node.isdigit() else 0,
                "K": c["K"].tolist(),
                "distCoef": c["dist"].tolist(),
                "R": c["R"].tolist(),
                "t": (c["t"] / 10.0).reshape(3, 1).tolist(),
            }
        )
        out.append(rec)
    p = Path(path)
    p.write_text(json.dumps({"calibDataSource": "lt_core", "cameras": out}, indent=1))
    return p


# ---------------------------------------------------------------------------------------------------------- TOML
@names_file(CalibrationError)
def load_toml_calibration(path: PathLike, names: Sequence[str] | None = None) -> Camera:
    """Read a Pose2Sim calibration TOML (translations in metres, cameras in file order).

    anipose writes the same fields with translations in its calibration board's unit (usually mm) and orders
    cameras by sorted table key: read its ``calibration.toml`` with
    :func:`lt_core.data.calibration_formats.load_anipose_calibration`.

    Each camera is a table (``[cam_01]`` ...) with ``name``, ``size`` = [W, H], ``matrix`` (3x3 px),
    ``distortions`` = [k1, k2, p1, p2] (OpenCV), ``rotation`` (Rodrigues vector, world to camera),
    ``translation`` (metres) and ``fisheye``. Tables without ``matrix`` (e.g. ``[metadata]``) are skipped.

    Args:
        path: the TOML file.
        names: camera names (the ``name`` field, else the table name) to keep, in this order.

    Returns:
        Camera with batch shape (C,), ``t`` in mm, names set.

    Raises:
        NotImplementedError: a camera has ``fisheye = true`` (the fisheye model is not supported).
    """
    p = _require_file(path)
    data = load_toml(p, CalibrationError, "TOML calibration")
    cams, cam_names = [], []
    for key, table in data.items():
        if not isinstance(table, dict) or key == "metadata" or ("matrix" not in table and not key.startswith("cam")):
            continue
        name = str(table.get("name", key))
        w = f"{p}, camera {name!r} ([{key}])"
        if table.get("fisheye", False):
            raise NotImplementedError(
                f"{w}: fisheye = true; the fisheye lens model is not supported "
                "(convert the calibration to the OpenCV pinhole + k1,k2,p1,p2 model)"
            )
        K = _array(_field(table, "matrix", w), (3, 3), w, "matrix")
        dist = _array(table.get("distortions", [0.0] * 4), (5,), w, "distortions", sizes=(4, 5))
        rvec = _array(_field(table, "rotation", w), (3,), w, "rotation")
        t = 1000.0 * _array(_field(table, "translation", w), (3,), w, "translation")
        size = _array(table["size"], (2,), w, "size") if "size" in table else None
        R = rodrigues_to_matrix(torch.as_tensor(rvec, dtype=torch.float64)).numpy()
        cams.append(_make_camera(K, R, t, dist, size, name, w))
        cam_names.append(name)
    idx = _select(cam_names, names, p)
    return _stack([cams[i] for i in idx], p)


def _toml_value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, str):
        return json.dumps(v)
    if isinstance(v, (list, tuple, np.ndarray)):
        return "[ " + ", ".join(_toml_value(x) for x in list(v)) + "]"
    return repr(float(v))


def save_toml_calibration(path: PathLike, camera: Camera) -> Path:
    """Write cameras as a Pose2Sim calibration TOML (translation in metres, Rodrigues rotation).

    Args:
        path: output file.
        camera: a single camera or a (C,) rig (mm). ``k3`` cannot be stored in this format: a non-zero ``k3``
            raises ``ValueError`` rather than being dropped silently.

    Returns:
        The written path.
    """
    _opencv_only(camera, "Pose2Sim TOML")
    lines = []
    for i, c in enumerate(_numpy_camera(camera)):
        if abs(c["dist"][4]) > 0:
            raise ValueError(
                f"camera {c['name']!r}: k3 = {c['dist'][4]} cannot be written to the TOML format "
                "(it stores k1, k2, p1, p2 only)"
            )
        rvec = matrix_to_rodrigues(torch.as_tensor(c["R"])).numpy()
        key = c["name"] if c["name"].replace("_", "").isalnum() else f"cam_{i + 1:02d}"
        lines.append(f"[{key}]")
        lines.append(f"name = {_toml_value(c['name'])}")
        if c["image_size"] is not None:
            lines.append(f"size = {_toml_value(c['image_size'])}")
        lines.append(f"matrix = {_toml_value([list(r) for r in c['K']])}")
        lines.append(f"distortions = {_toml_value(c['dist'][:4])}")
        lines.append(f"rotation = {_toml_value(rvec)}")
        lines.append(f"translation = {_toml_value(c['t'] / 1000.0)}")
        lines.append("fisheye = false")
        lines.append("")
    lines += ["[metadata]", "adjusted = false", "error = 0.0", ""]
    p = Path(path)
    p.write_text("\n".join(lines))
    return p


# ------------------------------------------------------------------------------------------------------ rig JSON
_RIG_FORMAT = "lt-rig"


def save_rig_json(path: PathLike, camera: Camera, description: str = "") -> Path:
    """Write a camera rig in the project's own JSON format.

    Layout: ``{"format": "lt-rig", "version": 1, "units": "mm", "convention": "X_cam = R X + t",
    "description": str, "cameras": [{"name", "K" 3x3, "R" 3x3, "t" [3] mm, "dist" [5], "image_size" [W, H]}]}``,
    plus ``"distortion_model"`` when the lens model is not OpenCV's (e.g. ``"h36m"``).

    Args:
        path: output file.
        camera: a single camera or a (C,) rig.
        description: free text stored with the rig.

    Returns:
        The written path.
    """
    cams = []
    for c in _numpy_camera(camera):
        cams.append(
            {
                "name": c["name"],
                "K": c["K"].tolist(),
                "R": c["R"].tolist(),
                "t": c["t"].tolist(),
                "dist": c["dist"].tolist(),
                "image_size": None if c["image_size"] is None else c["image_size"].tolist(),
            }
        )
    doc = {
        "format": _RIG_FORMAT,
        "version": 1,
        "units": "mm",
        "convention": "X_cam = R X + t",
        "description": description,
        "cameras": cams,
    }
    if camera.distortion_model != "opencv":
        doc["distortion_model"] = camera.distortion_model
    p = Path(path)
    p.write_text(json.dumps(doc, indent=1))
    return p


@names_file(CalibrationError)
def load_rig_json(path: PathLike) -> Camera:
    """Read a rig written by :func:`save_rig_json`.

    Returns:
        Camera with batch shape (C,), float64, ``t`` in mm, names set, the file's ``distortion_model``.
    """
    p = _require_file(path)
    doc = load_json(p, CalibrationError, "rig JSON")
    if not isinstance(doc, dict) or doc.get("format") != _RIG_FORMAT:
        raise CalibrationError(f"{p}: not an {_RIG_FORMAT!r} rig file (field 'format')")
    if doc.get("units", "mm") != "mm":
        raise CalibrationError(f"{p}: field 'units' must be 'mm', got {doc.get('units')!r}")
    records = _field(doc, "cameras", str(p))
    if not isinstance(records, list):
        raise CalibrationError(f"{p}: field 'cameras' must be a list")
    cams = []
    for i, r in enumerate(records):
        name = str(_field(r, "name", f"{p}, camera #{i}"))
        w = f"{p}, camera {name!r}"
        size = r.get("image_size")
        cams.append(
            _make_camera(
                _array(_field(r, "K", w), (3, 3), w, "K"),
                _array(_field(r, "R", w), (3, 3), w, "R"),
                _array(_field(r, "t", w), (3,), w, "t"),
                _array(r.get("dist", [0.0] * 5), (5,), w, "dist", sizes=(4, 5)),
                None if size is None else _array(size, (2,), w, "image_size"),
                name,
                w,
                model=str(doc.get("distortion_model", "opencv")),
            )
        )
    return _stack(cams, p)
