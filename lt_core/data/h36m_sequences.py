"""Human3.6M as most people hold it today: whole sequences of 3D poses and 2D detections, plus cameras.

The readers :mod:`lt_core.data.h36m_baseline` (3d-pose-baseline's ``.h5`` layout) and
:mod:`lt_core.data.videopose3d` (VideoPose3D's ``.npz`` files) both return :class:`H36MSequences`: a list of
:class:`H36MSequence`, one per (subject, action), in one convention:

* 3D joints (T, 17, 3) in world millimetres, Human3.6M-17 order of :data:`lt_core.skeleton.H36M17` (32 -> 17 with
  :data:`H36M32_TO_17`, the joints the paper's labels keep);
* 2D detections (T, C, 17, 2) in pixels of the original (distorted) images, mapped to the same 17 joints from the
  detector's own layout; joints a layout does not have are NaN with ``valid_2d`` False (MPII-16 has no neck/nose);
* cameras (C,) in the order the files define (columns of the 2D arrays), with Human3.6M's lens model;
* action names as the files spell them (``"Greeting"``, ``"SittingDown 1"``); :func:`lt_core.metrics.is_damaged`
  knows the damaged scenes in this naming too.

Nothing is dropped silently: when 2D and 3D disagree on a sequence's length, or a camera has no detections, the
loaders mark the affected views invalid (or trim trailing 2D frames that have no 3D pose) and say so in
``H36MSequences.report``.

:class:`H36MSequenceDataset` serves the frames in the one sample format (:mod:`lt_core.data.sample`) with the 2D
detections as extra keys, for code that works frame by frame.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset

from lt_core.camera import Camera
from lt_core.data.human36m import Human36MFormatError
from lt_core.metrics import action_group

__all__ = [
    "H36M32_TO_17",
    "LAYOUT_TO_H36M17",
    "Human36MFormatError",
    "H36MSequence",
    "H36MSequences",
    "H36MSequenceDataset",
    "map_joints_2d",
    "align_views",
    "subject_name",
    "select_actions",
]


H36M32_TO_17: tuple[int, ...] = (3, 2, 1, 6, 7, 8, 0, 12, 13, 15, 27, 26, 25, 17, 18, 19, 14)
"""Indices into Human3.6M's 32 joints of our 17 (RFoot=3 -> RAnkle, ..., Neck/Nose=14), as the paper's labels."""

LAYOUT_TO_H36M17: dict[str, tuple[int, ...]] = {
    # VideoPose3D's 17 joints (the 32 minus its static ones, in 32-joint order): hip, RHip, RKnee, RFoot, LHip,
    # LKnee, LFoot, spine, thorax, neck/nose, head, LShoulder, LElbow, LWrist, RShoulder, RElbow, RWrist
    "h36m": (3, 2, 1, 4, 5, 6, 0, 7, 8, 10, 16, 15, 14, 11, 12, 13, 9),
    # MPII-16 as Stacked Hourglass outputs it and 3d-pose-baseline names it (RFoot, RKnee, RHip, LHip, LKnee,
    # LFoot, Hip, Spine, Thorax, Head, RWrist, RElbow, RShoulder, LShoulder, LElbow, LWrist): no neck/nose
    "mpii": tuple(range(16)) + (-1,),
    # COCO-17 (nose, eyes, ears, shoulders, elbows, wrists, hips, knees, ankles): limbs only; pelvis, spine,
    # thorax, head and neck/nose do not exist in it
    "coco": (16, 14, 12, 11, 13, 15, -1, -1, -1, -1, 10, 8, 6, 5, 7, 9, -1),
}
"""For each 2D layout, the source joint of each of our 17 joints (``-1``: the layout has no such joint)."""

_LAYOUT_SIZES = {"h36m": 17, "mpii": 16, "coco": 17}


def subject_name(subject: str | int) -> str:
    """``9``, ``"9"`` and ``"S9"`` -> ``"S9"``."""
    s = str(subject)
    return f"S{s}" if s.isdigit() else s


def select_actions(available: Sequence[str], actions: Sequence[str] | None, where: str) -> list[str]:
    """The ``available`` actions named by ``actions``: exact names (``"Greeting 1"``) or groups (``"Greeting"``,
    ``"WalkingDog"``: every trial); ``None``: all. A name matching nothing raises KeyError listing what exists."""
    available = list(available)
    if actions is None:
        return available
    wanted = set(actions)
    groups = {action_group(a) for a in actions}
    picked = [a for a in available if a in wanted or action_group(a) in groups]
    have = {action_group(x) for x in available}
    unknown = [a for a in actions if a not in available and action_group(a) not in have]
    if unknown:
        raise KeyError(f"{where}: no action {unknown}; available: {available}")
    return picked


def map_joints_2d(points: np.ndarray, layout: str, where: str) -> tuple[np.ndarray, np.ndarray]:
    """Map (..., J_layout, D) detections to our 17 joints.

    Args:
        points: (..., J, 2) pixels or (..., J, 3) pixels plus a confidence.
        layout: ``"h36m"`` (VideoPose3D's 17), ``"mpii"`` (16) or ``"coco"`` (17).
        where: file / sequence description for error messages.

    Returns:
        ``(points (..., 17, D) float64 with NaN for missing joints, exists (17,) bool)``.
    """
    if layout not in LAYOUT_TO_H36M17:
        raise Human36MFormatError(f"{where}: unknown 2D joint layout {layout!r}; known: {sorted(LAYOUT_TO_H36M17)}")
    n = _LAYOUT_SIZES[layout]
    if points.ndim < 2 or points.shape[-2] != n or points.shape[-1] not in (2, 3):
        raise Human36MFormatError(
            f"{where}: layout {layout!r} needs (..., {n}, 2 or 3) detections, got shape {points.shape}"
        )
    src = np.array(LAYOUT_TO_H36M17[layout])
    exists = src >= 0
    out = np.full(points.shape[:-2] + (17, points.shape[-1]), np.nan)
    out[..., exists, :] = points[..., src[exists], :]
    return out, exists


@dataclass
class H36MSequence:
    """One (subject, action) of Human3.6M with 2D detections in C views.

    Attributes:
        subject: ``"S9"``.
        action: the action as the files name it (``"SittingDown 1"``).
        cameras: (C,) full-frame cameras, float64, mm, Human3.6M lens model, names = camera ids.
        joints_3d: (T, 17, 3) world mm, or ``None`` when only detections were loaded.
        points_2d: (T, C, 17, 2) detected pixels in the original images; NaN where missing.
        valid_2d: (T, C, 17) bool: a detection exists (the layout has the joint and the view covers the frame).
        scores: (T, C, 17) detector confidences when the file stores them, else ``None``.
        detector: name of the 2D source (``"StackedHourglass"``, ``"cpn_ft_h36m_dbb"``, ...).
    """

    subject: str
    action: str
    cameras: Camera
    joints_3d: np.ndarray | None
    points_2d: np.ndarray
    valid_2d: np.ndarray
    scores: np.ndarray | None = None
    detector: str = ""

    def __post_init__(self) -> None:
        T, C = self.points_2d.shape[:2]
        if self.points_2d.shape != (T, C, 17, 2) or self.valid_2d.shape != (T, C, 17):
            raise ValueError(
                f"{self.subject} {self.action}: points_2d must be (T, C, 17, 2) and valid_2d (T, C, 17), "
                f"got {self.points_2d.shape} and {self.valid_2d.shape}"
            )
        if tuple(self.cameras.batch_shape) != (C,):
            raise ValueError(
                f"{self.subject} {self.action}: {C} views but cameras of batch shape {tuple(self.cameras.batch_shape)}"
            )
        if self.joints_3d is not None and self.joints_3d.shape != (T, 17, 3):
            raise ValueError(
                f"{self.subject} {self.action}: joints_3d must be ({T}, 17, 3), got {self.joints_3d.shape}"
            )

    @property
    def n_frames(self) -> int:
        return int(self.points_2d.shape[0])

    @property
    def camera_names(self) -> list[str]:
        return list(self.cameras.names or [])


@dataclass
class H36MSequences:
    """Sequences loaded by a Human3.6M reader, with the loader's report of partial data.

    Attributes:
        sequences: one :class:`H36MSequence` per (subject, action), in subject then file order.
        report: one line per partial sequence (missing views, 2D and 3D of different lengths), never empty silently.
        source: description of the files read.
    """

    sequences: list[H36MSequence]
    report: list[str] = field(default_factory=list)
    source: str = ""

    def __len__(self) -> int:
        return len(self.sequences)

    def __getitem__(self, i: int) -> H36MSequence:
        return self.sequences[i]

    def __iter__(self):
        return iter(self.sequences)

    @property
    def n_frames(self) -> int:
        return sum(s.n_frames for s in self.sequences)

    def find(self, subject: str, action: str) -> H36MSequence:
        """The sequence of ``subject`` and ``action`` (file naming); KeyError listing what exists otherwise."""
        for s in self.sequences:
            if s.subject == subject and s.action == action:
                return s
        have = sorted({(s.subject, s.action) for s in self.sequences})
        raise KeyError(f"no sequence {subject} {action!r}; loaded: {have}")

    def summary(self) -> str:
        """One paragraph: how many sequences, frames, views, and the partial-data report."""
        subjects = sorted({s.subject for s in self.sequences}, key=lambda x: int(x[1:]) if x[1:].isdigit() else 0)
        lines = [
            f"{len(self.sequences)} sequences ({', '.join(subjects)}), {self.n_frames} frames"
            + (f", from {self.source}" if self.source else "")
        ]
        lines += [f"  partial: {r}" for r in self.report] or ["  no partial sequences"]
        return "\n".join(lines)


def align_views(
    views: Sequence[np.ndarray | None], n_frames: int | None, names: Sequence[str], where: str, report: list[str]
) -> tuple[np.ndarray, np.ndarray, int]:
    """Stack per-camera detections of different lengths onto the frames of the 3D poses.

    Args:
        views: per camera a (T_c, 17, D) array (already in our 17 joints), or ``None`` for a view without data.
        n_frames: frames of the 3D poses (``None``: the longest view).
        names: camera names (for the report).
        where: ``"S9 Greeting"`` (for the report).
        report: list the partial-data lines are appended to.

    Returns:
        ``(stacked (T, C, 17, D) with NaN where a view has no frame, covered (T, C) bool, T)``. Views longer than
        the 3D poses lose their trailing frames (they have no ground truth); shorter views are NaN after their end.
    """
    lengths = [None if v is None else v.shape[0] for v in views]
    T = n_frames if n_frames is not None else max((n for n in lengths if n is not None), default=0)
    D = next((v.shape[-1] for v in views if v is not None), 2)
    out = np.full((T, len(views), 17, D), np.nan)
    covered = np.zeros((T, len(views)), dtype=bool)
    for c, v in enumerate(views):
        if v is None:
            report.append(f"{where}: camera {names[c]} has no detections; the view is marked missing in all {T} frames")
            continue
        n = min(v.shape[0], T)
        out[:n, c] = v[:n]
        covered[:n, c] = True
        if v.shape[0] > T:
            report.append(
                f"{where}: camera {names[c]} has {v.shape[0]} 2D frames for {T} 3D frames; the last "
                f"{v.shape[0] - T} 2D frames (no ground truth) are not used"
            )
        elif v.shape[0] < T:
            report.append(
                f"{where}: camera {names[c]} has {v.shape[0]} 2D frames for {T} 3D frames; the view is "
                f"marked missing in the last {T - v.shape[0]} frames"
            )
    return out, covered, T


class H36MSequenceDataset(Dataset):
    """Frames of :class:`H36MSequences` in the one sample format, with the 2D detections.

    Each item has ``cameras`` (C,) full-frame float64 cameras (no crop: there are no images), ``joints_3d``
    (17, 3) float64 mm (zeros and ``joints_valid`` False without 3D poses), ``views_valid`` (C,) (a view with no
    detection at all in the frame is invalid), ``points_2d`` (C, 17, 2) float64 pixels (NaN where missing),
    ``points_2d_valid`` (C, 17) bool, ``scores_2d`` (C, 17) when the detector has confidences, and ``meta`` with
    ``dataset = "human36m"``, ``subject``, ``action``, ``frame``, ``camera_names``, ``detector``.

    Args:
        sequences: what a reader returned.
        frame_step: keep every ``frame_step``-th frame of each sequence.
    """

    dataset_name = "human36m"

    def __init__(self, sequences: H36MSequences | Sequence[H36MSequence], frame_step: int = 1) -> None:
        self.sequences = list(sequences)
        step = max(1, int(frame_step))
        self.index = [(i, f) for i, s in enumerate(self.sequences) for f in range(0, s.n_frames, step)]

    def __len__(self) -> int:
        return len(self.index)

    def __getitem__(self, index: int) -> dict[str, Any]:
        i, f = self.index[index]
        s = self.sequences[i]
        valid = torch.as_tensor(s.valid_2d[f])
        sample: dict[str, Any] = {
            "cameras": s.cameras,
            "joints_3d": torch.zeros(17, 3, dtype=torch.float64)
            if s.joints_3d is None
            else torch.as_tensor(s.joints_3d[f], dtype=torch.float64),
            "joints_valid": torch.full((17,), s.joints_3d is not None),
            "views_valid": valid.any(-1),
            "points_2d": torch.as_tensor(s.points_2d[f]),
            "points_2d_valid": valid,
            "meta": {
                "dataset": self.dataset_name,
                "subject": s.subject,
                "action": s.action,
                "frame": int(f),
                "index": int(index),
                "camera_names": s.camera_names,
                "detector": s.detector,
            },
        }
        if s.scores is not None:
            sample["scores_2d"] = torch.as_tensor(s.scores[f])
        return sample
