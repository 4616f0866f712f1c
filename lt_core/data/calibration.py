"""Camera calibration readers and writers, all converting into the one convention of ``docs/CONVENTIONS.md``.

Every reader returns a :class:`~lt_core.camera.Camera` in millimetres with ``X_cam = R X + t``, distortion
``(k1, k2, p1, p2, k3)`` (missing terms padded with 0) in the lens model the format uses (``distortion_model``:
OpenCV's, or Human3.6M's own for the Human3.6M formats; see :mod:`lt_core.lens`), ``image_size = (W, H)`` where the
format records it and ``names`` set. Formats:

* Human3.6M, preprocessed labels of the paper's code (``cameras`` structured array, already in mm and ``R, t``).
* Human3.6M, raw ``cameras.h5`` of 3d-pose-baseline (MATLAB arrays, transposed; ``T`` is the camera centre, so
  ``t = -R C``). Needs ``h5py`` (``pip install lt-triangulation[h36m]``); the conversion itself
  (:func:`h36m_camera_from_raw`) does not.
* CMU Panoptic ``calibration_<seq>.json`` (centimetres; optional rotation of its y-down world to our Z-up world).
* Pose2Sim TOML (``translation`` in metres, ``rotation`` a Rodrigues vector); anipose's ``calibration.toml`` (same
  fields, board units) and EasyMocap's ``intri.yml`` / ``extri.yml`` are in :mod:`lt_core.data.calibration_formats`.
* The project's own rig JSON (:func:`save_rig_json` / :func:`load_rig_json`).

Errors: a missing file raises :class:`FileNotFoundError` naming the path; malformed content raises
:class:`CalibrationError` naming the file, the camera and the field.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from lt_core.camera import Camera, CameraError, stack_cameras
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
    "load_panoptic_calibration",
    "save_panoptic_calibration",
    "load_toml_calibration",
    "save_toml_calibration",
    "load_rig_json",
    "save_rig_json",
    "rotate_world",
]

PathLike = str | Path

H36M_CAMERA_NAMES: tuple[str, ...] = ("54138969", "55011271", "58860488", "60457274")
"""Human3.6M camera names in the order of the paper's labels and of ``cameras.h5`` (camera1..camera4)."""

H36M_IMAGE_SIZES: dict[str, tuple[int, int]] = {
    "54138969": (1000, 1002),
    "55011271": (1000, 1000),
    "58860488": (1000, 1000),
    "60457274": (1000, 1002),
}
"""Full-frame (W, H) of each Human3.6M camera."""

PANOPTIC_TO_ZUP = torch.tensor([[1.0, 0.0, 0.0], [0.0, 0.0, 1.0], [0.0, -1.0, 0.0]], dtype=torch.float64)
"""Proper rotation ``Q`` (det +1) from CMU Panoptic's y-down world to our Z-up world:
``(x, y, z)_ours = Q (x, y, z)_panoptic = (x, z, -y)_panoptic``. Cameras follow with ``R' = R Q^T``."""


PANOPTIC_CAMERA_TYPE_ALIASES: dict[str, str] = {"kinect": "kinect-color"}
"""Short names accepted for the ``type`` values of Panoptic calibration files (``"hd"``, ``"vga"``,
``"kinect-color"``)."""


class CalibrationError(ValueError):
    """Malformed calibration content; the message names the file, the camera and the field."""


# ------------------------------------------------------------------------------------------------------- helpers
def _require_file(path: PathLike) -> Path:
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"calibration file not found: {p}")
    return p


def _array(
    value: Any, shape: tuple[int, ...], where: str, field: str, sizes: Sequence[int] | None = None
) -> np.ndarray:
    """Convert ``value`` into a float64 array of ``shape`` (or of one of ``sizes`` when 1-D), or raise."""
    try:
        a = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError) as e:
        raise CalibrationError(f"{where}: field {field!r} is not numeric ({e})") from None
    if sizes is not None:
        a = a.reshape(-1)
        if a.size not in sizes:
            allowed = " or ".join(map(str, sizes))
            raise CalibrationError(f"{where}: field {field!r} must hold {allowed} numbers, got {a.size}")
    elif a.size == math.prod(shape):
        a = a.reshape(shape)
    else:
        raise CalibrationError(f"{where}: field {field!r} must have shape {shape}, got {a.shape}")
    if not np.isfinite(a).all():
        raise CalibrationError(f"{where}: field {field!r} contains NaN or inf")
    return a


def _field(record: Mapping[str, Any], key: str, where: str) -> Any:
    if not isinstance(record, Mapping):
        raise CalibrationError(f"{where}: expected a table/object, got {type(record).__name__}")
    if key not in record:
        raise CalibrationError(f"{where}: missing field {key!r}")
    return record[key]


def _make_camera(K, R, t_mm, dist, size, name: str, where: str, model: str = "opencv") -> Camera:
    try:
        cam = Camera(
            K=torch.as_tensor(K, dtype=torch.float64),
            R=torch.as_tensor(R, dtype=torch.float64),
            t=torch.as_tensor(t_mm, dtype=torch.float64).reshape(3),
            dist=torch.as_tensor(dist, dtype=torch.float64).reshape(-1),
            image_size=None if size is None else torch.as_tensor(size, dtype=torch.float64).reshape(2),
            names=[name],
            distortion_model=model,
        )
        cam.validate(atol=1e-3)
    except CameraError as e:
        raise CalibrationError(f"{where}: {e}") from None
    return cam


def _stack(cams: Sequence[Camera], source: Path | str) -> Camera:
    if not cams:
        raise CalibrationError(f"{source}: no cameras selected")
    if any(c.image_size is None for c in cams):
        for c in cams:
            c.image_size = None
    return stack_cameras(cams)


def _select(names: list[str], wanted: Sequence[str] | None, source: Path | str) -> list[int]:
    if wanted is None:
        return list(range(len(names)))
    missing = [n for n in wanted if n not in names]
    if missing:
        raise CalibrationError(f"{source}: no camera named {missing}; available: {names}")
    return [names.index(n) for n in wanted]


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


# ---------------------------------------------------------------------------------------------------------- H36M
def import_h5py(purpose: str):
    """The ``h5py`` module, or an ImportError that says how to install it (the ``h36m`` extra)."""
    try:
        import h5py  # noqa: PLC0415 (optional dependency)
    except ImportError as e:
        raise ImportError(
            f"{purpose} needs the optional package h5py: pip install 'lt-triangulation[h36m]' "
            "(or pip install h5py); the preprocessed labels need no extra package"
        ) from e
    return h5py


def open_h5(path: PathLike):
    """Open an HDF5 file for reading; a truncated or non-HDF5 file raises :class:`CalibrationError` naming it."""
    h5py = import_h5py(f"reading {Path(path).name}")
    try:
        return h5py.File(path, "r")
    except OSError as e:
        raise CalibrationError(f"{path}: not a readable HDF5 file (truncated or corrupt?): {e}") from None


def h36m_cameras_from_labels(labels: Mapping[str, Any], subject: str | int) -> Camera:
    """Cameras of one subject from the paper's preprocessed Human3.6M labels.

    Args:
        labels: the dict loaded from ``human36m-multiview-labels-GTbboxes.npy`` (keys ``cameras``,
            ``subject_names``, ``camera_names``); ``cameras`` is a structured array of shape
            (n_subjects, n_cameras) with fields ``R`` (3, 3), ``t`` (3, 1) mm, ``K`` (3, 3), ``dist`` (5,).
        subject: subject name (``"S9"``) or index into ``subject_names``.

    Returns:
        Camera with batch shape (n_cameras,), float64, ``t`` in mm, names = ``camera_names``, full-frame
        ``image_size`` for the known Human3.6M cameras (``None`` if a name is unknown), and the Human3.6M lens
        model (``distortion_model="h36m"``: the labels copy ``k`` and ``p`` of ``cameras.h5``).
    """
    where = "Human3.6M labels"
    for key in ("cameras", "subject_names", "camera_names"):
        _field(labels, key, where)
    subjects = list(labels["subject_names"])
    if isinstance(subject, str):
        if subject not in subjects:
            raise CalibrationError(f"{where}: unknown subject {subject!r}; subjects are {subjects}")
        s = subjects.index(subject)
    else:
        s = int(subject)
    arr = labels["cameras"]
    names = [str(n) for n in labels["camera_names"]]
    fields = set(arr.dtype.names or ())
    missing = {"R", "t", "K", "dist"} - fields
    if missing:
        raise CalibrationError(f"{where}: cameras array lacks fields {sorted(missing)}")
    cams = []
    for c, name in enumerate(names):
        rec = arr[s, c]
        w = f"{where}, subject {subjects[s]}, camera {name}"
        cams.append(
            _make_camera(
                _array(rec["K"], (3, 3), w, "K"),
                _array(rec["R"], (3, 3), w, "R"),
                _array(rec["t"], (3,), w, "t"),
                _array(rec["dist"], (5,), w, "dist", sizes=(4, 5)),
                H36M_IMAGE_SIZES.get(name),
                name,
                w,
                model="h36m",
            )
        )
    return _stack(cams, where)


def h36m_camera_from_raw(R, T, f, c, k, p, name: str = "", transpose: bool = True) -> Camera:
    """Convert one camera of the raw Human3.6M ``cameras.h5`` layout into our convention.

    Args:
        R: (3, 3) world-to-camera rotation as stored (MATLAB order; transposed when ``transpose``).
        T: (3,) or (3, 1) camera centre ``C`` in world mm (``X_cam = R (X - C)``).
        f: (2,) focal lengths in px; ``c``: (2,) principal point in px.
        k: (3,) radial distortion ``k1, k2, k3``; ``p``: (2,) tangential ``p1, p2`` (file order).
        name: camera name (e.g. ``"54138969"``); sets the full-frame ``image_size`` when known.
        transpose: the stored ``R`` is the MATLAB transpose (true for ``cameras.h5``).

    Returns:
        A single Camera with ``t = -R C`` in mm, ``dist = (k1, k2, p1, p2, k3)`` and ``distortion_model="h36m"``:
        Human3.6M's tangential terms are not OpenCV's (reading ``p`` as OpenCV's ``p1, p2`` moves points by up to
        0.4 px on these cameras), so the camera keeps Human3.6M's own formula (:mod:`lt_core.lens`), which
        reproduces the dataset's projection exactly.
    """
    where = f"Human3.6M raw camera {name or '?'}"
    R = _array(R, (3, 3), where, "R")
    R = R.T if transpose else R
    C = _array(T, (3,), where, "T")
    f = _array(f, (2,), where, "f")
    c = _array(c, (2,), where, "c")
    k = _array(k, (3,), where, "k")
    p = _array(p, (2,), where, "p")
    K = np.array([[f[0], 0.0, c[0]], [0.0, f[1], c[1]], [0.0, 0.0, 1.0]])
    dist = np.array([k[0], k[1], p[0], p[1], k[2]])
    return _make_camera(K, R, -R @ C, dist, H36M_IMAGE_SIZES.get(name), name, where, model="h36m")


def load_h36m_cameras_h5(path: PathLike, subjects: Sequence[int] = (1, 5, 6, 7, 8, 9, 11)) -> dict[str, Camera]:
    """Read the raw Human3.6M ``cameras.h5`` (3d-pose-baseline layout ``subject<s>/camera<c>/{R,T,f,c,k,p,Name}``).

    Args:
        path: the ``cameras.h5`` file.
        subjects: subject numbers to read.

    Returns:
        ``{"S1": Camera (4,), ...}`` in our convention (mm, ``t = -R C``), names from the file's ``Name`` field.

    Raises:
        ImportError: ``h5py`` is not installed (it is optional: ``pip install lt-triangulation[h36m]``).
        CalibrationError: the file is not HDF5 (e.g. truncated), or a group or field is missing.
    """
    p = _require_file(path)
    import_h5py("reading the raw Human3.6M cameras.h5")
    out: dict[str, Camera] = {}
    with open_h5(p) as hf:
        for s in subjects:
            cams = []
            for ci in range(1, 5):
                group = f"subject{s}/camera{ci}"
                if group not in hf:
                    raise CalibrationError(f"{p}: missing group {group!r}")
                g = hf[group]
                missing = [key for key in ("R", "T", "f", "c", "k", "p") if key not in g]
                if missing:
                    raise CalibrationError(f"{p}: {group} lacks fields {missing}")
                try:
                    raw = {key: g[key][()] for key in ("R", "T", "f", "c", "k", "p")}
                    name = (
                        "".join(chr(int(x)) for x in np.asarray(g["Name"][()]).reshape(-1))
                        if "Name" in g
                        else H36M_CAMERA_NAMES[ci - 1]
                    )
                except OSError as e:
                    raise CalibrationError(f"{p}: cannot read {group} (truncated or corrupt file?): {e}") from None
                cams.append(h36m_camera_from_raw(**raw, name=name))
            out[f"S{s}"] = _stack(cams, p)
    return out


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
