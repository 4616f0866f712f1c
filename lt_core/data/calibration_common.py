"""Field parsing and validation shared by every calibration reader of :mod:`lt_core.data`.

One place for what the readers of :mod:`lt_core.data.calibration`, :mod:`lt_core.data.h36m_cameras` and
:mod:`lt_core.data.calibration_formats` have in common: the :class:`CalibrationError` they raise, the check that a
file exists, the conversion of one record's fields into finite float64 arrays of the expected shape (an error names
the file, the camera and the field otherwise), building and validating one :class:`~lt_core.camera.Camera` from
``K`` (3, 3) px, ``R`` (3, 3), ``t`` (3,) mm, distortion and ``(W, H)`` image size, selecting cameras by name and
stacking them into a (C,) rig.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from lt_core.camera import Camera, CameraError, stack_cameras

__all__ = ["CalibrationError", "PathLike"]

PathLike = str | Path


class CalibrationError(ValueError):
    """Malformed calibration content; the message names the file, the camera and the field."""


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
