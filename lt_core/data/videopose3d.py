"""Human3.6M in VideoPose3D's ``.npz`` files, read unchanged.

Files (the facts the readers rely on; both are ``np.savez_compressed`` archives of pickled dicts)::

    data_3d_h36m.npz             positions_3d = {subject: {action: (T, 32, 3) float32 world metres}}
    data_2d_h36m_<detector>.npz  positions_2d = {subject: {action: [4 arrays (T_c, J, 2) pixels, one per camera]}}
                                 metadata = {"num_joints": J, "keypoints_symmetry": ..., ["layout_name": ...]}

``<detector>`` is e.g. ``cpn_ft_h36m_dbb``, ``detectron_ft_h36m``, ``sh_pt_mpii``, ``sh_ft_h36m`` or ``gt``. The
joint layout comes from ``metadata["layout_name"]`` when present (``"h36m"``, ``"mpii"``, ``"coco"``), else from
``num_joints`` (17: VideoPose3D's Human3.6M order, 16: MPII as Stacked Hourglass outputs it). Arrays with a third
channel carry a confidence per joint. Camera ``c`` of the 2D lists is VideoPose3D's camera ``c``
(54138969, 55011271, 58860488, 60457274); its calibration lives in VideoPose3D's code, not in the files, and ships
with this project (``data/human36m_cameras/videopose3d_cameras.json``; :func:`videopose3d_cameras`). Action names
are the original dataset's (``"Directions 1"``, ``"Photo"``, ``"WalkDog"``); S11 ``Directions`` is absent (a
damaged video). Some 2D sequences are a few frames longer than the motion capture: the extra trailing frames have
no ground truth and are dropped, and the loader reports it.

Conversions: metres -> millimetres, 32 -> 17 joints, the 2D layout -> our 17 joints, quaternion + camera centre ->
``R, t`` (:mod:`lt_core.data.h36m_sequences`).
"""

from __future__ import annotations

import zipfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from lt_core.camera import Camera, stack_cameras
from lt_core.data.h36m_cameras import H36M_CAMERA_NAMES
from lt_core.data.h36m_sequences import (
    H36M32_TO_17,
    LAYOUT_TO_H36M17,
    H36MSequence,
    H36MSequences,
    align_views,
    map_joints_2d,
    select_actions,
    subject_name,
)
from lt_core.data.human36m import Human36MFormatError
from lt_core.data.textio import load_json, names_file
from lt_core.paths import REPO_ROOT

__all__ = [
    "VIDEOPOSE3D_CAMERAS_PATH",
    "videopose3d_cameras",
    "load_videopose3d_3d",
    "load_videopose3d_2d",
    "load_videopose3d",
]

PathLike = str | Path

VIDEOPOSE3D_CAMERAS_PATH = REPO_ROOT / "data" / "human36m_cameras" / "videopose3d_cameras.json"
"""The Human3.6M calibration in VideoPose3D's layout (see that folder's PROVENANCE.txt)."""


def _quaternion_matrix(q: np.ndarray) -> np.ndarray:
    w, x, y, z = q / np.linalg.norm(q)
    return np.array(
        [
            [1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y)],
            [2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x)],
            [2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y)],
        ]
    )


def videopose3d_cameras(subject: str | int, path: PathLike | None = None) -> Camera:
    """Cameras of one subject from VideoPose3D's calibration table.

    ``orientation`` is the unit quaternion ``(w, x, y, z)`` of the camera-to-world rotation and ``translation`` the
    camera centre ``C`` in mm, so ``R = rot(q)^T`` and ``t = -R C``. ``tangential_distortion`` is stored as
    ``(p2, p1)`` of Human3.6M's model (:mod:`lt_core.lens`), so ``dist = (k1, k2, p1, p2, k3)`` reverses it.

    Args:
        subject: ``"S9"`` or ``9``.
        path: the JSON table (default :data:`VIDEOPOSE3D_CAMERAS_PATH`).

    Returns:
        Camera (4,) float64 in VideoPose3D's camera order, names = camera ids, full-frame ``image_size``,
        ``distortion_model="h36m"``.
    """
    p = Path(path) if path is not None else VIDEOPOSE3D_CAMERAS_PATH
    doc = load_json(p, Human36MFormatError, "VideoPose3D camera table")
    subject = subject_name(subject)
    table = doc.get("extrinsics") if isinstance(doc, dict) else None
    if not isinstance(table, dict):
        raise Human36MFormatError(f"{p}: missing object field 'extrinsics'")
    extr = table.get(subject)
    if not extr:
        raise KeyError(f"{p}: no cameras for {subject}; subjects: {sorted(table)}")
    return _table_cameras(p, doc, extr)


@names_file(Human36MFormatError)
def _table_cameras(p: Path, doc: dict, extr: list) -> Camera:
    """The cameras of one subject's ``extrinsics`` entries with the table's ``intrinsics`` (see above)."""
    cams = []
    for intr, ext in zip(doc["intrinsics"], extr):
        f, c = intr["focal_length"], intr["center"]
        K = torch.tensor([[f[0], 0.0, c[0]], [0.0, f[1], c[1]], [0.0, 0.0, 1.0]], dtype=torch.float64)
        R = _quaternion_matrix(np.asarray(ext["orientation"], dtype=np.float64)).T
        t = -R @ np.asarray(ext["translation"], dtype=np.float64)
        k, tan = intr["radial_distortion"], intr["tangential_distortion"]
        dist = torch.tensor([k[0], k[1], tan[1], tan[0], k[2]], dtype=torch.float64)
        cams.append(
            Camera(
                K,
                torch.as_tensor(R),
                torch.as_tensor(t),
                dist,
                torch.tensor([intr["res_w"], intr["res_h"]], dtype=torch.float64),
                [intr["id"]],
                distortion_model="h36m",
            )
        )
    return stack_cameras(cams)


def _load_npz_dict(path: PathLike, key: str) -> tuple[dict, Any]:
    """``(np.load(path)[key].item(), the archive)``; clear errors for a missing, truncated or foreign file."""
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"VideoPose3D file not found: {p}")
    try:
        archive = np.load(p, allow_pickle=True)
        keys = list(archive.keys())
    except (zipfile.BadZipFile, OSError, ValueError, EOFError) as e:
        raise Human36MFormatError(f"{p}: not a readable .npz archive (truncated or corrupt?): {e}") from None
    if key not in keys:
        raise Human36MFormatError(f"{p}: missing field {key!r}; the archive holds {keys}")
    try:
        value = archive[key].item()
    except (zipfile.BadZipFile, OSError, ValueError, EOFError, TypeError) as e:
        raise Human36MFormatError(f"{p}: cannot read field {key!r} (truncated or corrupt?): {e}") from None
    if not isinstance(value, dict):
        raise Human36MFormatError(
            f"{p}: field {key!r} must be a dict {{subject: {{action: ...}}}}, got {type(value).__name__}"
        )
    return value, archive


def _require_subjects(data: dict, subjects: Sequence[str], path: PathLike) -> None:
    missing = [s for s in subjects if s not in data]
    if missing:
        raise Human36MFormatError(f"{path}: no subject {missing}; the file holds {sorted(data)}")


def load_videopose3d_3d(
    path: PathLike, subjects: Sequence[str | int] | None = None
) -> dict[str, dict[str, np.ndarray]]:
    """Read ``data_3d_h36m.npz``.

    Returns:
        ``{subject: {action: (T, 17, 3) float64 world mm}}`` (32 -> 17 joints, metres -> mm).
    """
    data, _ = _load_npz_dict(path, "positions_3d")
    wanted = [subject_name(s) for s in subjects] if subjects is not None else sorted(data)
    _require_subjects(data, wanted, path)
    out: dict[str, dict[str, np.ndarray]] = {}
    for s in wanted:
        out[s] = {}
        for action, pos in data[s].items():
            a = np.asarray(pos, dtype=np.float64)
            if a.ndim != 3 or a.shape[1:] != (32, 3):
                raise Human36MFormatError(
                    f"{path}: positions_3d[{s!r}][{action!r}] must be (T, 32, 3) metres, got {a.shape}"
                )
            out[s][str(action)] = 1000.0 * a[:, list(H36M32_TO_17)]
    return out


def _layout(meta: Mapping[str, Any] | None, path: PathLike) -> str:
    meta = meta or {}
    name = meta.get("layout_name")
    if name is not None:
        return str(name)
    n = meta.get("num_joints")
    if n == 17:
        return "h36m"
    if n == 16:
        return "mpii"
    raise Human36MFormatError(
        f"{path}: metadata has no 'layout_name' and 'num_joints' = {n!r}; cannot tell the "
        "2D joint layout (expected 17 for Human3.6M or 16 for MPII)"
    )


def load_videopose3d_2d(
    path: PathLike, subjects: Sequence[str | int] | None = None
) -> tuple[dict[str, dict[str, list[np.ndarray | None]]], str]:
    """Read ``data_2d_h36m_<detector>.npz``.

    Returns:
        ``({subject: {action: [per camera (T_c, 17, 2 or 3) float64 in our 17 joints, or None]}}, layout)``;
        joints the layout lacks are NaN.
    """
    data, archive = _load_npz_dict(path, "positions_2d")
    meta = archive["metadata"].item() if "metadata" in archive.keys() else None
    layout = _layout(meta, path)
    wanted = [subject_name(s) for s in subjects] if subjects is not None else sorted(data)
    _require_subjects(data, wanted, path)
    out: dict[str, dict[str, list[np.ndarray | None]]] = {}
    for s in wanted:
        out[s] = {}
        for action, views in data[s].items():
            where = f"{path}: positions_2d[{s!r}][{action!r}]"
            if not isinstance(views, (list, tuple)) or len(views) != len(H36M_CAMERA_NAMES):
                raise Human36MFormatError(
                    f"{where} must be a list of {len(H36M_CAMERA_NAMES)} arrays (one per camera), "
                    f"got {type(views).__name__} of length {len(views) if hasattr(views, '__len__') else '?'}"
                )
            mapped = []
            for c, v in enumerate(views):
                mapped.append(
                    None if v is None else map_joints_2d(np.asarray(v, dtype=np.float64), layout, f"{where}[{c}]")[0]
                )
            out[s][str(action)] = mapped
    return out, layout


def load_videopose3d(
    path_3d: PathLike,
    path_2d: PathLike,
    subjects: Sequence[str | int] = ("S9", "S11"),
    actions: Sequence[str] | None = None,
    cameras: Mapping[str, Camera] | None = None,
) -> H36MSequences:
    """Load 3D poses and 2D detections from VideoPose3D's two files.

    Args:
        path_3d: ``data_3d_h36m.npz``.
        path_2d: ``data_2d_h36m_<detector>.npz``.
        subjects: ``"S9"`` or ``9`` style; each must be in both files.
        actions: file names (``"Greeting 1"``) or groups (``"Greeting"``); ``None``: every action of the 3D file.
        cameras: ``{"S9": Camera (4,)}`` in VideoPose3D's camera order (e.g. from ``cameras.h5``); default the
            shipped VideoPose3D calibration (:func:`videopose3d_cameras`).

    Returns:
        :class:`H36MSequences`; an action of the 3D file without 2D detections raises (naming subject and action),
        2D sequences of another length than the 3D poses are aligned and reported.
    """
    subjects = [subject_name(s) for s in subjects]
    poses = load_videopose3d_3d(path_3d, subjects)
    dets, layout = load_videopose3d_2d(path_2d, subjects)
    detector = Path(path_2d).stem.removeprefix("data_2d_h36m_")
    out: list[H36MSequence] = []
    report: list[str] = []
    for s in subjects:
        rig = cameras[s] if cameras is not None else videopose3d_cameras(s)
        names = list(rig.names or H36M_CAMERA_NAMES)
        if len(names) != len(H36M_CAMERA_NAMES):
            raise ValueError(f"cameras of {s} must be a (4,) rig in VideoPose3D's order, got {len(names)} cameras")
        for action in select_actions(sorted(poses[s]), actions, f"{path_3d} ({s})"):
            if action not in dets[s]:
                raise Human36MFormatError(
                    f"{path_2d}: no detections for {s} {action!r} (present in {path_3d}); "
                    f"actions with detections: {sorted(dets[s])}"
                )
            views = dets[s][action]
            joints = poses[s][action]
            pts, covered, _ = align_views(views, joints.shape[0], names, f"{s} {action}", report)
            scores = pts[..., 2] if pts.shape[-1] == 3 else None
            pts = pts[..., :2]
            exists = np.array(LAYOUT_TO_H36M17[layout]) >= 0
            valid = covered[..., None] & exists[None, None, :] & np.isfinite(pts).all(-1)
            out.append(H36MSequence(s, action, rig, joints, pts, valid, scores, detector))
        extra = sorted(set(dets[s]) - set(poses[s]))
        if extra and actions is None:
            report.append(f"{s}: detections without 3D poses are not used: {extra}")
    return H36MSequences(
        out, report, f"VideoPose3D files {Path(path_3d).name} + {Path(path_2d).name} (2D layout {layout!r})"
    )
