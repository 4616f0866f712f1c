"""From a calibration and per-camera 2D detections to a 3D skeleton sequence (your own cameras).

The steps behind ``python -m lt_core.triangulate`` and notebook 07:

1. :func:`load_calibration` reads a calibration file, dispatching on its suffix through
   :data:`CALIBRATION_READERS` (``.toml``: Pose2Sim; ``.json``: the project's rig JSON; ``.yml``/``.yaml``:
   EasyMocap's ``intri.yml`` with ``extri.yml`` beside it). Another format plugs in by adding one
   ``suffix -> reader`` entry.
2. :func:`match_camera_folders` pairs each calibrated camera with one folder of OpenPose JSON files, by name
   (``cam_01`` <-> ``cam_01`` or ``cam_01_json``) or else by the number in the names (``cam01_json``), and refuses
   ambiguous or incomplete pairings with a message listing both sides.
3. :func:`read_detections` reads every frame of every camera (progress bar), refusing cameras whose frame numbers
   differ unless told to accept the gaps (then they are counted and reported).
4. The subject is chosen among the detected people (:func:`lt_core.data.pose2sim.select_subject`), the detections
   are undistorted with the calibration's lens model, and :func:`triangulate_sequence` triangulates them:
   ``"dlt"`` (DLT weighted by the detection confidences), ``"ransac"`` (the paper's baseline over view pairs) or
   ``"subset"`` (every subset of views, the exhaustive variant), with the reprojection error of every joint.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from lt_core.camera import Camera
from lt_core.data.calibration import CalibrationError, load_rig_json, load_toml_calibration
from lt_core.data.calibration_formats import load_easymocap_cameras
from lt_core.data.pose2sim import Pose2SimDetections, openpose_frame_files, read_openpose_json, select_subject
from lt_core.ops.ransac import triangulate_best_subset, triangulate_ransac
from lt_core.ops.triangulation import triangulate
from lt_core.skeleton import BODY25B

__all__ = [
    "ReconstructionError",
    "CALIBRATION_READERS",
    "METHODS",
    "load_calibration",
    "match_camera_folders",
    "read_detections",
    "load_detections",
    "triangulate_sequence",
]

PathLike = str | Path
METHODS = ("dlt", "ransac", "subset")


class ReconstructionError(ValueError):
    """Inputs that do not fit together (camera names, frame numbers, methods); the message says what and where."""


# ---------------------------------------------------------------------------------------------------- calibration
def _easymocap(path: Path) -> Camera:
    """EasyMocap's pair of OpenCV YAML files: ``path`` is either of them, the other lies beside it."""
    stem = path.stem.lower()
    if stem not in ("intri", "extri"):
        raise CalibrationError(
            f"{path}: an OpenCV YAML calibration is read as EasyMocap's intri.yml + extri.yml; "
            "name the file intri.yml (with extri.yml beside it)"
        )
    intri, extri = path.with_name("intri" + path.suffix), path.with_name("extri" + path.suffix)
    if not extri.is_file() or not intri.is_file():
        missing = extri if not extri.is_file() else intri
        raise CalibrationError(f"{path}: EasyMocap calibration needs {missing.name} beside it ({missing} not found)")
    return load_easymocap_cameras(intri, extri)


CALIBRATION_READERS: dict[str, Callable[[Path], Camera]] = {
    ".toml": load_toml_calibration,
    ".json": load_rig_json,
    ".yml": _easymocap,
    ".yaml": _easymocap,
}
"""Calibration file suffix -> reader returning a (C,) :class:`~lt_core.camera.Camera` in mm with names."""


def load_calibration(path: PathLike) -> Camera:
    """Read a calibration file with the reader registered for its suffix (see :data:`CALIBRATION_READERS`).

    Raises:
        FileNotFoundError: no such file.
        CalibrationError: unknown suffix, unsupported format, or malformed content (names file and field).
    """
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"calibration file not found: {p}")
    reader = CALIBRATION_READERS.get(p.suffix.lower())
    if reader is None:
        raise CalibrationError(
            f"{p}: unknown calibration format {p.suffix!r}; supported: {', '.join(sorted(CALIBRATION_READERS))}"
        )
    cameras = reader(p)
    if not cameras.names or len(cameras.names) != cameras.batch_shape[0]:
        raise CalibrationError(f"{p}: every camera needs a name")
    return cameras


# ----------------------------------------------------------------------------------------------------- detections
def _number(text: str) -> int | None:
    nums = re.findall(r"\d+", text)
    return int(nums[-1]) if nums else None


def _stem(folder: str) -> str:
    return re.sub(r"[_-]?json$", "", folder, flags=re.I).lower()


def match_camera_folders(names: Sequence[str], folders: Sequence[Path]) -> list[Path]:
    """One detection folder per calibrated camera.

    Args:
        names: C camera names from the calibration.
        folders: candidate folders (one per camera, e.g. ``cam01_json``).

    Returns:
        C folders in the order of ``names``.

    Raises:
        ReconstructionError: a camera has no folder, or the pairing is ambiguous; the message lists both sides.
    """
    folders = list(folders)
    listing = f"calibration cameras {list(names)}; detection folders {[f.name for f in folders]}"
    by_name = {_stem(f.name): f for f in folders}
    if all(n.lower() in by_name for n in names):
        return [by_name[n.lower()] for n in names]
    numbers = [_number(n) for n in names]
    by_number: dict[int | None, list[Path]] = {}
    for f in folders:
        by_number.setdefault(_number(f.name), []).append(f)
    if None not in numbers and len(set(numbers)) == len(numbers):
        missing = [n for n, k in zip(names, numbers) if k not in by_number]
        if missing:
            raise ReconstructionError(
                f"no detection folder for cameras {missing} ({listing}); folders are matched "
                "to cameras by name or by the number in their names"
            )
        doubles = [n for n, k in zip(names, numbers) if len(by_number[k]) > 1]
        if doubles:
            raise ReconstructionError(f"several detection folders carry the number of cameras {doubles} ({listing})")
        return [by_number[k][0] for k in numbers]
    raise ReconstructionError(
        f"cannot pair cameras with detection folders ({listing}); name each folder after its "
        "camera (cam_01 or cam_01_json) or give both the same number"
    )


def read_detections(
    folders: Sequence[Path],
    frames: Sequence[int] | None = None,
    allow_missing: bool = False,
    progress: bool = True,
    num_joints: int = BODY25B.num_joints,
) -> tuple[np.ndarray, np.ndarray, list[int], dict[str, list[int]]]:
    """Read OpenPose JSON files of C cameras.

    Args:
        folders: C folders of per-frame JSON files (the frame number is the last integer of a file name).
        frames: frame numbers to read (default: every frame).
        allow_missing: accept cameras that lack some frames (they contribute nobody there) instead of raising.
        progress: show a progress bar over frames.
        num_joints: keypoints per person.

    Returns:
        ``(people, counts, frames, missing)``: (T, C, P, J, 3) keypoints padded with zeros, (T, C) people per
        frame and camera, the T frame numbers, and per folder name the frame numbers it lacks.

    Raises:
        ReconstructionError: cameras with different frame numbers (unless ``allow_missing``), or requested
            frames that no camera has.
    """
    from tqdm.auto import tqdm  # noqa: PLC0415

    files = [openpose_frame_files(f) for f in folders]
    present = sorted(set().union(*map(set, files)))
    wanted = present if frames is None else [int(f) for f in frames]
    absent = [f for f in wanted if f not in present]
    if absent:
        raise ReconstructionError(
            f"frames {absent[:10]}{' ...' if len(absent) > 10 else ''} are in no camera's "
            f"detections (frames present: {present[0]}..{present[-1]})"
        )
    missing = {Path(d).name: [f for f in wanted if f not in fc] for d, fc in zip(folders, files)}
    missing = {k: v for k, v in missing.items() if v}
    if missing and not allow_missing:
        counts = ", ".join(f"{Path(d).name}: {len([f for f in wanted if f in fc])}" for d, fc in zip(folders, files))
        first = "; ".join(f"{k} lacks {v[:5]}{' ...' if len(v) > 5 else ''}" for k, v in missing.items())
        raise ReconstructionError(
            f"cameras have different frame counts ({counts} of {len(wanted)} frames); {first}. "
            "Pass --allow-missing-frames to triangulate with the views that exist"
        )
    raw = []
    for t in tqdm(wanted, desc="reading detections", unit="frame", disable=not progress, file=sys.stderr):
        raw.append([read_openpose_json(fc[t], num_joints) if t in fc else np.zeros((0, num_joints, 3)) for fc in files])
    counts = np.array([[len(r) for r in row] for row in raw], dtype=np.int64).reshape(len(wanted), len(files))
    people = np.zeros((len(wanted), len(files), max(1, int(counts.max(initial=0))), num_joints, 3))
    for t, row in enumerate(raw):
        for c, r in enumerate(row):
            people[t, c, : len(r)] = r
    return people, counts, list(wanted), missing


def load_detections(
    calibration: PathLike | Camera,
    detections: PathLike,
    frames: Sequence[int] | None = None,
    selection: str = "reprojection",
    allow_missing: bool = False,
    progress: bool = True,
) -> tuple[Pose2SimDetections, dict[str, list[int]]]:
    """Calibration + folder of per-camera OpenPose folders -> the subject's detections, ready to triangulate.

    Args:
        calibration: a calibration file (see :func:`load_calibration`) or cameras already loaded.
        detections: folder holding one sub-folder of JSON files per camera.
        frames: frame numbers to read (default: all).
        selection: subject selection (:func:`lt_core.data.pose2sim.select_subject`).
        allow_missing: see :func:`read_detections`.
        progress: progress bars.

    Returns:
        ``(detections, missing)``: :class:`~lt_core.data.pose2sim.Pose2SimDetections` (points in distorted pixels,
        confidences, cameras) and the frames each camera lacks.
    """
    cameras = calibration if isinstance(calibration, Camera) else load_calibration(calibration)
    root = Path(detections)
    if not root.is_dir():
        raise FileNotFoundError(f"detections folder not found: {root}")
    subdirs = sorted(d for d in root.iterdir() if d.is_dir() and any(d.glob("*.json")))
    if not subdirs:
        raise ReconstructionError(f"{root}: no sub-folder with OpenPose *.json files (expected one per camera)")
    folders = match_camera_folders(list(cameras.names), subdirs)
    people, counts, frame_list, missing = read_detections(folders, frames, allow_missing, progress)
    kp, index = select_subject(people, counts, cameras, method=selection)
    conf = kp[..., 2].clip(min=0)
    pts = np.where((conf > 0)[..., None], kp[..., :2], np.nan)
    size = cameras.image_size[0].round().long().tolist() if cameras.image_size is not None else None
    det = Pose2SimDetections(
        torch.as_tensor(pts), torch.as_tensor(conf), cameras, tuple(size) if size else None, frame_list, index
    )
    return det, missing


# -------------------------------------------------------------------------------------------------- triangulation
def triangulate_sequence(
    det: Pose2SimDetections,
    method: str = "dlt",
    min_confidence: float = 0.0,
    threshold: float = 15.0,
    chunk: int = 256,
    progress: bool = False,
    seed: int = 0,
) -> tuple[Tensor, Tensor, Tensor]:
    """Triangulate every frame and joint of undistorted detections.

    Args:
        det: the subject's detections with cameras.
        method: ``"dlt"`` (confidence-weighted DLT, every view), ``"ransac"`` (view pairs, inliers below
            ``threshold``) or ``"subset"`` (every subset of views, the largest consistent one).
        min_confidence: detections below this confidence are not used (weight 0).
        threshold: inlier threshold in pixels of the undistorted image (RANSAC / subset).
        chunk: frames per batch.
        progress: progress bar over batches.
        seed: RANSAC's random generator seed (pairs are enumerated when there are few views).

    Returns:
        ``(X, used, error)``: (T, J, 3) world mm (NaN where fewer than 2 views are usable), (T, C, J) bool views
        used, (T, C, J) reprojection error in distorted pixels against each detection (NaN where none).
    """
    from tqdm.auto import tqdm  # noqa: PLC0415

    if method not in METHODS:
        raise ReconstructionError(f"unknown method {method!r}; choose one of {', '.join(METHODS)}")
    T, C, J, _ = det.points.shape
    valid = det.confidences >= max(min_confidence, 1e-12)
    und = det.undistorted_points
    weights = torch.where(valid, det.confidences, torch.zeros_like(det.confidences))
    P = det.cameras.projection
    X = torch.full((T, J, 3), float("nan"), dtype=torch.float64)
    used = torch.zeros(T, C, J, dtype=torch.bool)
    gen = torch.Generator().manual_seed(seed)
    for s in tqdm(
        range(0, T, chunk), desc=f"triangulating ({method})", unit="batch", disable=not progress, file=sys.stderr
    ):
        sl = slice(s, min(T, s + chunk))
        if method == "dlt":
            X[sl] = triangulate(und[sl], P.expand(und[sl].shape[0], C, 3, 4), weights[sl], on_insufficient="nan")
            used[sl] = valid[sl] & (valid[sl].sum(1, keepdim=True) >= 2)
            continue
        enough = valid[sl].sum(1) >= 2  # (t, J)
        t_idx, j_idx = enough.nonzero(as_tuple=True)
        if len(t_idx) == 0:
            continue
        pts = und[sl][t_idx, :, j_idx][:, :, None]  # (N, C, 1, 2)
        ok = valid[sl][t_idx, :, j_idx][:, :, None]
        Pn = P.expand(len(t_idx), C, 3, 4)
        if method == "ransac":
            Xn, mask = triangulate_ransac(pts, Pn, ok, threshold=threshold, generator=gen)
        else:
            Xn, mask = triangulate_best_subset(pts, Pn, ok, threshold=threshold)
        X[sl][t_idx, j_idx] = Xn[:, 0]
        used[sl][t_idx, :, j_idx] = mask[:, :, 0]
    return X, used, det.reprojection_errors(X)
