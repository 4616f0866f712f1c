"""Human3.6M in 3d-pose-baseline's layout (Martinez et al.'s ``h36m.zip``), read unchanged.

Layout (the facts the readers rely on)::

    <root>/cameras.h5                                          subject<s>/camera<c>/{R, T, f, c, k, p, Name}
    <root>/S<s>/MyPoses/3D_positions/<action>.h5               dataset "3D_positions": (96, T) world mm,
                                                               row 3 j + d = coordinate d of joint j (32 joints)
    <root>/S<s>/StackedHourglass/<action>.<camera>.h5          dataset "poses": (T, 16, 2) pixels, MPII-16 order
                                                               (spaces of the action written as "_")

Action names are the original dataset's (``"Directions 1"``, ``"Greeting"``, ``"Photo"``, ``"WalkDog 1"``); the
fine-tuned detections use the folder ``StackedHourglassFineTuned240`` in the same layout. Human3.6M's S11
``Directions`` has a damaged video: 3d-pose-baseline ships detections for 3 of its 4 cameras, and the loader marks
the fourth view missing (and reports it) instead of failing.

Conversions: 32 -> 17 joints (:data:`~lt_core.data.h36m_sequences.H36M32_TO_17`), MPII-16 -> 17 (no neck/nose),
cameras from ``cameras.h5`` with Human3.6M's lens model, camera order as ``cameras.h5`` defines it (camera1..4).
Reading needs the optional package ``h5py`` (``pip install 'lt-triangulation[h36m]'``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Literal

import numpy as np

from lt_core.camera import Camera
from lt_core.data.calibration_common import CalibrationError
from lt_core.data.h36m_cameras import load_h36m_cameras_h5, open_h5
from lt_core.data.h36m_sequences import (
    H36M32_TO_17,
    H36MSequence,
    H36MSequences,
    align_views,
    map_joints_2d,
    select_actions,
    subject_name,
)
from lt_core.data.human36m import Human36MFormatError

__all__ = [
    "KNOWN_MISSING_VIEWS",
    "read_positions_3d",
    "read_detections_h5",
    "list_baseline_actions",
    "load_h36m_baseline",
]

PathLike = str | Path

KNOWN_MISSING_VIEWS: frozenset[tuple[str, str]] = frozenset({("S11", "Directions")})
"""(subject, action) whose detections lack a camera in the published files (a damaged Human3.6M video)."""


def _dataset(path: Path, name: str) -> np.ndarray:
    try:
        with open_h5(path) as hf:
            if name not in hf:
                raise Human36MFormatError(f"{path}: missing dataset {name!r}; the file holds {sorted(hf.keys())}")
            return np.asarray(hf[name][()], dtype=np.float64)
    except CalibrationError as e:
        raise Human36MFormatError(str(e)) from None
    except OSError as e:
        raise Human36MFormatError(f"{path}: cannot read dataset {name!r} (truncated or corrupt file?): {e}") from None


def read_positions_3d(path: PathLike) -> np.ndarray:
    """Read one ``MyPoses/3D_positions/<action>.h5``.

    Returns:
        (T, 32, 3) float64 world millimetres (all 32 Human3.6M joints).
    """
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"Human3.6M 3D poses not found: {p}")
    a = _dataset(p, "3D_positions")
    if a.ndim != 2 or a.shape[0] != 96:
        raise Human36MFormatError(f"{p}: dataset '3D_positions' must be (96, T) (32 joints x 3, frames), got {a.shape}")
    return a.T.reshape(-1, 32, 3)


def read_detections_h5(path: PathLike) -> np.ndarray:
    """Read one ``StackedHourglass/<action>.<camera>.h5``.

    Returns:
        (T, 16, 2) float64 pixels, MPII-16 order.
    """
    p = Path(path)
    a = _dataset(p, "poses")
    if a.ndim != 3 or a.shape[1:] != (16, 2):
        raise Human36MFormatError(f"{p}: dataset 'poses' must be (T, 16, 2) pixels, got {a.shape}")
    return a


def list_baseline_actions(root: PathLike, subject: str | int) -> list[str]:
    """Action names of a subject: the stems of ``S<s>/MyPoses/3D_positions/*.h5``, sorted."""
    folder = Path(root) / subject_name(subject) / "MyPoses" / "3D_positions"
    if not folder.is_dir():
        raise FileNotFoundError(f"Human3.6M 3D poses folder not found: {folder}")
    return sorted(f.stem for f in folder.glob("*.h5"))


def _detection_file(folder: Path, action: str, camera: str) -> Path | None:
    for name in (f"{action.replace(' ', '_')}.{camera}.h5", f"{action}.{camera}.h5"):
        if (folder / name).is_file():
            return folder / name
    return None


def load_h36m_baseline(
    root: PathLike,
    subjects: Sequence[str | int] = ("S9", "S11"),
    actions: Sequence[str] | None = None,
    detections: str = "StackedHourglass",
    cameras: PathLike | Mapping[str, Camera] | None = None,
    missing_views: Literal["raise", "report"] = "raise",
) -> H36MSequences:
    """Load 3D poses and 2D detections of Human3.6M in 3d-pose-baseline's layout.

    Args:
        root: the folder holding ``cameras.h5`` and ``S1``, ``S5``, ... (``h36m/`` of ``h36m.zip``).
        subjects: ``"S9"`` or ``9`` style.
        actions: file names (``"Greeting 1"``) or groups (``"Greeting"`` takes both trials); ``None``: all.
        detections: folder of the 2D detections under each subject (``"StackedHourglass"``,
            ``"StackedHourglassFineTuned240"``), or ``"gt"`` for the ground-truth projections of the 3D poses
            through the cameras (the 2D ground truth of VideoPose3D's ``data_2d_h36m_gt``).
        cameras: ``cameras.h5`` (default ``<root>/cameras.h5``) or a dict ``{"S9": Camera (4,)}``.
        missing_views: a camera without a detection file raises :class:`FileNotFoundError` naming it (``"raise"``)
            or becomes a missing view, reported (``"report"``). The known damaged S11 ``Directions`` video is
            always reported, never an error.

    Returns:
        :class:`H36MSequences` in subject then action order, ``report`` listing partial sequences.
    """
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"3d-pose-baseline data folder not found: {root}")
    if missing_views not in ("raise", "report"):
        raise ValueError(f"missing_views must be 'raise' or 'report', got {missing_views!r}")
    subjects = [subject_name(s) for s in subjects]
    if cameras is None or isinstance(cameras, (str, Path)):
        cam_file = Path(cameras) if cameras is not None else root / "cameras.h5"
        numbers = [int(s[1:]) for s in subjects]
        rigs = load_h36m_cameras_h5(cam_file, subjects=numbers)
    else:
        rigs = dict(cameras)
    out: list[H36MSequence] = []
    report: list[str] = []
    for subject in subjects:
        if subject not in rigs:
            raise KeyError(f"no cameras for {subject}; cameras are given for {sorted(rigs)}")
        rig = rigs[subject]
        names = list(rig.names or [])
        det_folder = root / subject / detections
        if detections != "gt" and not det_folder.is_dir():
            raise FileNotFoundError(f"2D detections folder not found: {det_folder}")
        for action in select_actions(list_baseline_actions(root, subject), actions, str(root / subject)):
            where = f"{subject} {action}"
            joints32 = read_positions_3d(root / subject / "MyPoses" / "3D_positions" / f"{action}.h5")
            joints = joints32[:, list(H36M32_TO_17)]
            if detections == "gt":
                import torch  # noqa: PLC0415

                uv = rig.project(torch.as_tensor(joints)[:, None]).numpy()  # (T, C, 17, 2)
                pts, covered, T = uv, np.ones(uv.shape[:2], dtype=bool), joints.shape[0]
                exists = np.ones(17, dtype=bool)
            else:
                views = []
                exists = np.ones(17, dtype=bool)
                for cam in names:
                    f = _detection_file(det_folder, action, cam)
                    if f is None:
                        expected = det_folder / f"{action.replace(' ', '_')}.{cam}.h5"
                        if missing_views == "raise" and (subject, action) not in KNOWN_MISSING_VIEWS:
                            raise FileNotFoundError(
                                f"{where}: no detections of camera {cam}: {expected} is missing "
                                "(missing_views='report' marks such views missing instead)"
                            )
                        views.append(None)
                        continue
                    mapped, exists = map_joints_2d(read_detections_h5(f), "mpii", str(f))
                    views.append(mapped)
                pts, covered, T = align_views(views, joints.shape[0], names, where, report)
            valid = covered[..., None] & exists[None, None, :] & np.isfinite(pts).all(-1)
            out.append(
                H36MSequence(subject, action, rig, joints, pts, valid, None, "gt" if detections == "gt" else detections)
            )
    return H36MSequences(out, report, f"3d-pose-baseline layout ({detections}) in {root.name}")
