"""Pose2Sim demo data: OpenPose JSON detections, TRC reconstructions, subject selection and a triangulation check.

The file formats are read and written by :mod:`lt_core.data.pose2sim_formats` (re-exported here); this module
chooses the subject among the detected people, triangulates a trial and compares it with Pose2Sim's own
reconstruction (:func:`pose2sim_check`; ``scripts/pose2sim_check.py`` writes the report).

The embedded copy lives in ``data/pose2sim_balancing`` (BSD-3, see its PROVENANCE.txt): one person balancing on a
beam, 4 calibrated portrait cameras (1088 x 1920), 100 frames at 60 fps, OpenPose BODY_25B detections per camera
and frame (bystanders are detected too), and Pose2Sim's own triangulation as TRC files.

Choosing the subject among several detected people (:func:`select_subject`): ``"reprojection"`` (default) takes,
on the first frame, the one-person-per-camera combination whose confidence-weighted triangulation has the smallest
median reprojection error, then in every later frame picks in each camera the person closest to the reprojection of
the previous frame's 3D pose, re-running the exhaustive search when that choice stops reprojecting well.
``"bbox"`` takes the person with the largest keypoint bounding box and ``"confidence"`` the highest mean
confidence. On the demo (400 camera-frames, bystanders in cam_01/cam_02) all three take OpenPose's person 0 except
in frame 37 of cam_01, where OpenPose split the subject into two partial skeletons (8 and 14 keypoints):
``"reprojection"`` and ``"bbox"`` take the 14-keypoint part, ``"confidence"`` a third, wrong detection.
``"reprojection"`` is the default because it does not rely on the subject being the largest or most confident
person in every view (``tests/test_pose2sim.py`` has a crowd where ``"bbox"`` fails and it does not).
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from lt_core.camera import Camera
from lt_core.data.calibration import load_toml_calibration
from lt_core.data.pose2sim_formats import (
    TRC_TO_ZUP,
    Pose2SimFormatError,
    TRCData,
    openpose_frame_files,
    read_openpose_folders,
    read_openpose_json,
    read_trc,
    write_trc,
)
from lt_core.ops.triangulation import triangulate
from lt_core.skeleton import BODY25B

__all__ = [
    "Pose2SimFormatError",
    "TRC_TO_ZUP",
    "read_openpose_json",
    "openpose_frame_files",
    "read_openpose_folders",
    "TRCData",
    "read_trc",
    "write_trc",
    "select_subject",
    "Pose2SimDetections",
    "Pose2SimCheck",
    "pose2sim_check",
]

PathLike = str | Path
NUM_JOINTS = BODY25B.num_joints


def _bbox_area(kp: np.ndarray) -> np.ndarray:
    """(..., J, 3) keypoints -> (...) area of the bounding box of the detected keypoints (0 if none)."""
    valid = kp[..., 2] > 0
    big = np.where(valid[..., None], kp[..., :2], np.nan)
    with np.errstate(all="ignore"):
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            span = np.nanmax(big, -2) - np.nanmin(big, -2)
    area = span[..., 0] * span[..., 1]
    return np.nan_to_num(area, nan=0.0)


def _triangulate_np(kp: np.ndarray, cameras: Camera, und: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Triangulate (N, C, J, 3) detections (distorted pixels + confidences) with (C,) cameras.

    ``und`` optionally gives the (N, C, J, 2) undistorted pixels (computed when ``None``).

    Returns:
        ``(X, err)``: (N, J, 3) mm (NaN with fewer than 2 views) and (N, C, J) reprojection errors in distorted
        pixels (NaN where the view has no detection or X is NaN).
    """
    pts = torch.as_tensor(kp[..., :2], dtype=torch.float64)
    w = torch.as_tensor(kp[..., 2], dtype=torch.float64).clamp_min(0)
    if und is not None:
        und = torch.as_tensor(und, dtype=torch.float64)
    else:
        und = cameras.undistort_points(pts) if cameras.has_distortion else pts  # (N, C, J, 2)
    P = cameras.projection.expand(pts.shape[0], *cameras.projection.shape)
    X = triangulate(und, P, w, on_insufficient="nan")
    ok = torch.isfinite(X).all(-1)
    proj = cameras.project(torch.where(ok[..., None], X, torch.zeros_like(X))[:, None])  # (N, C, J, 2)
    err = (proj - pts).norm(dim=-1)
    err = torch.where((w > 0) & ok[:, None], err, torch.full_like(err, float("nan")))
    return X.numpy(), err.numpy()


def _best_combination(
    kp_t: np.ndarray, und_t: np.ndarray, counts_t: np.ndarray, cameras: Camera, max_combinations: int
) -> tuple[np.ndarray, float]:
    """Exhaustive search over one person per camera of one frame.

    Args:
        kp_t: (C, P, J, 3) keypoints; und_t: (C, P, J, 2) undistorted pixels; counts_t: (C,) people per camera.

    Returns:
        (person index per camera or -1, median reprojection error in px of the best combination).
    """
    options = [list(range(n)) if n > 0 else [-1] for n in counts_t]
    combos = list(itertools.islice(itertools.product(*options), max_combinations))
    C = len(counts_t)
    batch = np.zeros((len(combos), C, kp_t.shape[-2], 3))
    ubatch = np.zeros((len(combos), C, kp_t.shape[-2], 2))
    for i, combo in enumerate(combos):
        for c, p in enumerate(combo):
            if p >= 0:
                batch[i, c], ubatch[i, c] = kp_t[c, p], und_t[c, p]
    _, err = _triangulate_np(batch, cameras, ubatch)
    with np.errstate(all="ignore"):
        score = np.array([np.nanmedian(e) if np.isfinite(e).any() else np.inf for e in err])
    best = int(np.argmin(score))
    return np.array(combos[best]), float(score[best])


def select_subject(
    people: np.ndarray,
    counts: np.ndarray,
    cameras: Camera | None = None,
    method: str = "reprojection",
    reinit_px: float = 40.0,
    max_combinations: int = 4096,
) -> tuple[np.ndarray, np.ndarray]:
    """Pick the subject among the people detected in each frame and camera.

    Args:
        people: (T, C, P, J, 3) keypoints ``(x, y, c)`` (zeros = missing), as from :func:`read_openpose_folders`.
        counts: (T, C) number of people per frame and camera.
        cameras: (C,) cameras (needed by ``"reprojection"``).
        method: ``"reprojection"`` (multi-view consistency + tracking), ``"bbox"`` (largest keypoint bounding
            box) or ``"confidence"`` (highest mean keypoint confidence).
        reinit_px: with ``"reprojection"``, when the tracked choice reprojects with a median error above this
            (pixels), the frame is searched exhaustively again.
        max_combinations: cap on the exhaustive search (one person per camera).

    Returns:
        ``(keypoints, index)``: (T, C, J, 3) the chosen person's keypoints (zeros where nobody is detected) and
        (T, C) int the chosen person index (-1 where nobody is detected).
    """
    T, C, P, J, _ = people.shape
    index = np.full((T, C), -1, dtype=np.int64)
    if method in ("bbox", "confidence"):
        score = _bbox_area(people) if method == "bbox" else people[..., 2].mean(-1)
        score = np.where(np.arange(P)[None, None] < counts[..., None], score, -np.inf)
        index = np.where(counts > 0, score.argmax(-1), -1)
    elif method == "reprojection":
        if cameras is None:
            raise ValueError("select_subject(method='reprojection') needs the cameras")
        pts = torch.as_tensor(people[..., :2]).transpose(1, 2)  # (T, P, C, J, 2), cameras broadcast over C
        und = (cameras.undistort_points(pts) if cameras.has_distortion else pts).transpose(1, 2).numpy()
        largest = np.where(np.arange(P)[None, None] < counts[..., None], _bbox_area(people), -np.inf).argmax(-1)

        def gather(t: int, choice: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
            kp, uv = np.zeros((C, J, 3)), np.zeros((C, J, 2))
            for c, p in enumerate(choice):
                if p >= 0:
                    kp[c], uv[c] = people[t, c, p], und[t, c, p]
            return kp, uv

        prev: np.ndarray | None = None
        for t in range(T):
            choice, X = None, None
            if prev is not None:  # track: per camera, the person nearest to the previous pose's reprojection
                choice = np.full(C, -1)
                ok = np.isfinite(prev).all(-1)
                proj = cameras.project(torch.as_tensor(np.where(ok[:, None], prev, 0.0))).numpy()  # (C, J, 2)
                for c in range(C):
                    dists = [
                        np.median(np.linalg.norm(people[t, c, p, m, :2] - proj[c, m], axis=-1))
                        if (m := (people[t, c, p, :, 2] > 0) & ok).any()
                        else np.inf
                        for p in range(counts[t, c])
                    ]
                    if dists and np.isfinite(min(dists)):
                        choice[c] = int(np.argmin(dists))
                kp, uv = gather(t, choice)
                X, err = _triangulate_np(kp[None], cameras, uv[None])
                if not np.isfinite(err).any() or np.nanmedian(err) > reinit_px:
                    choice, X = None, None
            if choice is None and (counts[t] > 0).sum() >= 2:  # (re)initialise: best multi-view combination
                choice, _ = _best_combination(people[t], und[t], counts[t], cameras, max_combinations)
                kp, uv = gather(t, choice)
                X, _ = _triangulate_np(kp[None], cameras, uv[None])
            if choice is None:  # fewer than two views with anyone: fall back to the largest person
                choice = np.where(counts[t] > 0, largest[t], -1)
            index[t] = choice
            if X is not None:
                prev = X[0] if prev is None else np.where(np.isfinite(X[0]), X[0], prev)
    else:
        raise ValueError(f"unknown selection method {method!r}; use 'reprojection', 'bbox' or 'confidence'")
    take = np.clip(index, 0, P - 1)
    kp = np.take_along_axis(people, take[..., None, None, None], axis=2)[:, :, 0]
    kp = np.where((index >= 0)[..., None, None], kp, 0.0)
    return kp, index


# -------------------------------------------------------------------------------------------------------- loader
def _camera_number(name: str) -> int | None:
    nums = re.findall(r"\d+", name)
    return int(nums[-1]) if nums else None


@dataclass
class Pose2SimDetections:
    """Multi-view OpenPose detections of one subject with its calibration, ready for triangulation.

    Attributes:
        points: (T, C, J, 2) float64 detected pixels (distorted image), NaN where the keypoint is missing.
        confidences: (T, C, J) float64 OpenPose confidences, 0 where missing.
        cameras: Camera with batch shape (C,), mm, names from the calibration.
        image_size: (W, H) pixels.
        frames: T frame numbers (0-based, as in the JSON file names).
        person_index: (T, C) index of the chosen person in each JSON file (-1: nobody detected).
        joint_names: J BODY_25B joint names.
    """

    points: Tensor
    confidences: Tensor
    cameras: Camera
    image_size: tuple[int, int]
    frames: list[int]
    person_index: np.ndarray
    joint_names: tuple[str, ...] = field(default=BODY25B.joints)

    @classmethod
    def load(
        cls,
        root: PathLike,
        calibration: PathLike | None = None,
        pose_dir: PathLike | None = None,
        selection: str = "reprojection",
        frames: Sequence[int] | None = None,
    ) -> Pose2SimDetections:
        """Load a Pose2Sim trial folder.

        Args:
            root: trial folder holding ``calibration/*.toml`` and ``pose/<cam>_json/`` (e.g.
                ``data/pose2sim_balancing``).
            calibration: the TOML file (default: the only ``*.toml`` under ``root/calibration``).
            pose_dir: folder of per-camera JSON folders (default ``root/pose``).
            selection: subject selection method of :func:`select_subject`.
            frames: frame numbers to read (default: all).

        Camera folders are matched to calibration cameras by the number in their names (``cam01_json`` <->
        ``cam_01``), else by sorted order.
        """
        root = Path(root)
        if not root.is_dir():
            raise FileNotFoundError(f"Pose2Sim folder not found: {root}")
        if calibration is None:
            tomls = sorted((root / "calibration").glob("*.toml"))
            if len(tomls) != 1:
                raise FileNotFoundError(
                    f"expected exactly one calibration TOML in {root / 'calibration'}, found {[t.name for t in tomls]}"
                )
            calibration = tomls[0]
        cameras = load_toml_calibration(calibration)
        pose_dir = Path(pose_dir) if pose_dir is not None else root / "pose"
        if not pose_dir.is_dir():
            raise FileNotFoundError(f"pose folder not found: {pose_dir}")
        folders = sorted(d for d in pose_dir.iterdir() if d.is_dir())
        names = list(cameras.names or [])
        by_number = {_camera_number(d.name): d for d in folders}
        if all(_camera_number(n) in by_number for n in names) and len(set(by_number)) == len(folders):
            folders = [by_number[_camera_number(n)] for n in names]
        elif len(folders) != len(names):
            raise Pose2SimFormatError(f"{pose_dir}: {len(folders)} camera folders for {len(names)} calibrated cameras")
        people, counts, frame_list = read_openpose_folders(folders, frames)
        kp, index = select_subject(people, counts, cameras, method=selection)
        conf = kp[..., 2].clip(min=0)
        pts = np.where((conf > 0)[..., None], kp[..., :2], np.nan)
        size = cameras.image_size[0].round().long().tolist() if cameras.image_size is not None else None
        return cls(
            torch.as_tensor(pts), torch.as_tensor(conf), cameras, tuple(size) if size else None, frame_list, index
        )

    @property
    def undistorted_points(self) -> Tensor:
        """(T, C, J, 2) pixels of an ideal pinhole camera with the same ``K`` (NaN where missing)."""
        return self.cameras.undistort_points(self.points) if self.cameras.has_distortion else self.points

    def triangulate(
        self, min_confidence: float = 0.0, outlier_px: float | None = None, min_views: int = 2, rounds: int = 2
    ) -> Tensor:
        """Confidence-weighted DLT of every frame and joint on undistorted points.

        Args:
            min_confidence: detections below this confidence get weight 0.
            outlier_px: if set, after each triangulation the view with the largest reprojection error of a joint
                is dropped when that error exceeds ``outlier_px`` pixels and more than ``min_views`` views remain
                (``rounds`` times), a simple form of the view rejection Pose2Sim applies.
            min_views: views a joint keeps at least when rejecting outliers.
            rounds: rejection rounds.

        Returns:
            (T, J, 3) world mm; NaN where fewer than 2 views have a usable detection.
        """
        w = torch.where(
            self.confidences >= max(min_confidence, 1e-12), self.confidences, torch.zeros_like(self.confidences)
        )
        P = self.cameras.projection.expand(self.points.shape[0], *self.cameras.projection.shape)
        und = self.undistorted_points
        X = triangulate(und, P, w, on_insufficient="nan")
        if outlier_px is None:
            return X
        for _ in range(rounds):
            err = self.reprojection_errors(X)
            err = torch.where(w > 0, torch.nan_to_num(err, nan=0.0), torch.full_like(err, -1.0))
            worst, view = err.max(1)  # (T, J)
            drop = (worst > outlier_px) & ((w > 0).sum(1) > min_views)
            if not drop.any():
                break
            t, j = drop.nonzero(as_tuple=True)
            w = w.clone()
            w[t, view[t, j], j] = 0
            X = triangulate(und, P, w, on_insufficient="nan")
        return X

    def reprojection_errors(self, X: Tensor) -> Tensor:
        """(T, C, J) pixel distance between detections and the (distorted) projections of ``X`` (T, J, 3) mm.

        NaN where the detection is missing or ``X`` is NaN.
        """
        ok = torch.isfinite(X).all(-1)
        proj = self.cameras.project(torch.where(ok[..., None], X, torch.zeros_like(X))[:, None])  # (T, C, J, 2)
        err = (proj - self.points).norm(dim=-1)
        return torch.where(ok[:, None] & (self.confidences > 0), err, torch.full_like(err, float("nan")))


# --------------------------------------------------------------------------------------------------------- check
@dataclass
class Pose2SimCheck:
    """Result of :func:`pose2sim_check`.

    Attributes:
        per_joint: DataFrame, one row per matched joint: median / mean / 90th-percentile distance (mm) between
            our triangulation and Pose2Sim's, and the number of frames compared.
        per_camera: DataFrame, one row per camera: median reprojection error (px) of our triangulation and of
            Pose2Sim's reconstruction onto the same detections.
        summary: overall numbers (``median_distance_mm``, ``mean_distance_mm``, ``median_reprojection_px``,
            ``pose2sim_median_reprojection_px``, ``frames``, ``joints``, ``frame_offset``, ...).
    """

    per_joint: object
    per_camera: object
    summary: dict


def pose2sim_check(
    root: PathLike,
    trc: PathLike | None = None,
    selection: str = "reprojection",
    min_confidence: float = 0.0,
    outlier_px: float | None = None,
    detections: Pose2SimDetections | None = None,
) -> Pose2SimCheck:
    """Triangulate the Pose2Sim demo detections and compare with Pose2Sim's own reconstruction.

    Args:
        root: the trial folder (``data/pose2sim_balancing``).
        trc: the reference TRC (default: the unfiltered ``pose-3d/*_0-100.trc``, i.e. the shortest-named TRC).
        selection: subject selection method (see :func:`select_subject`).
        min_confidence: detections below this confidence get weight 0 (weights are the OpenPose confidences).
        outlier_px: optional view rejection threshold (see :meth:`Pose2SimDetections.triangulate`); ``None`` is
            the plain confidence-weighted DLT over every view.
        detections: already loaded detections of ``root`` (skips reading and selecting again).

    Returns:
        :class:`Pose2SimCheck` with per-joint distances (mm) and per-camera reprojection errors (px).
    """
    import pandas as pd  # noqa: PLC0415 (only the check needs pandas)

    root = Path(root)
    det = detections if detections is not None else Pose2SimDetections.load(root, selection=selection)
    if trc is None:
        trcs = sorted((root / "pose-3d").glob("*.trc"), key=lambda f: len(f.name))
        if not trcs:
            raise FileNotFoundError(f"no TRC file in {root / 'pose-3d'}")
        trc = trcs[0]
    ref = read_trc(trc)
    X = det.triangulate(min_confidence, outlier_px=outlier_px).numpy()  # (T, 25, 3)
    frame_pos = {f: i for i, f in enumerate(det.frames)}
    rows = [(i, frame_pos[int(f) - 1]) for i, f in enumerate(ref.frames) if int(f) - 1 in frame_pos]
    if not rows:
        raise Pose2SimFormatError(f"{trc}: no TRC frame matches a detection frame")
    ri, di = (np.array(v) for v in zip(*rows))
    joints = [n for n in ref.marker_names if n in BODY25B.joints]
    jd = [BODY25B.joints.index(n) for n in joints]
    jr = [ref.marker_names.index(n) for n in joints]
    ours = X[di][:, jd]
    theirs = ref.markers[ri][:, jr]
    dist = np.linalg.norm(ours - theirs, axis=-1)  # (T, M)
    per_joint = []
    for k, name in enumerate(joints):
        d = dist[:, k][np.isfinite(dist[:, k])]
        per_joint.append(
            {
                "joint": name,
                "median_mm": float(np.median(d)) if d.size else np.nan,
                "mean_mm": float(np.mean(d)) if d.size else np.nan,
                "p90_mm": float(np.percentile(d, 90)) if d.size else np.nan,
                "frames": int(d.size),
            }
        )
    # reprojection errors on the compared joints, ours and Pose2Sim's
    err_ours = det.reprojection_errors(torch.as_tensor(X)).numpy()[di][:, :, jd]  # (T, C, M)
    Xref = np.full_like(X[di], np.nan)
    Xref[:, jd] = theirs
    sub = Pose2SimDetections(
        det.points[di],
        det.confidences[di],
        det.cameras,
        det.image_size,
        [det.frames[i] for i in di],
        det.person_index[di],
    )
    err_ref = sub.reprojection_errors(torch.as_tensor(Xref)).numpy()[:, :, jd]
    per_camera = []
    for c, name in enumerate(det.cameras.names):
        eo, er = err_ours[:, c], err_ref[:, c]
        per_camera.append(
            {
                "camera": name,
                "ours_median_px": float(np.nanmedian(eo)),
                "pose2sim_median_px": float(np.nanmedian(er)),
                "detections": int(np.isfinite(eo).sum()),
            }
        )
    finite = dist[np.isfinite(dist)]
    summary = {
        "data": root.name,
        "reference": Path(trc).name,
        "selection": selection,
        "min_confidence": min_confidence,
        "outlier_px": outlier_px,
        "frames": int(len(di)),
        "cameras": len(det.cameras.names),
        "joints": len(joints),
        "median_distance_mm": float(np.median(finite)),
        "mean_distance_mm": float(np.mean(finite)),
        "median_reprojection_px": float(np.nanmedian(err_ours)),
        "pose2sim_median_reprojection_px": float(np.nanmedian(err_ref)),
        "frame_offset": "TRC frame k = detection frame k - 1",
    }
    return Pose2SimCheck(pd.DataFrame(per_joint), pd.DataFrame(per_camera), summary)
