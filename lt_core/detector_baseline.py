"""The paper's baseline setting on real data: triangulate an off-the-shelf 2D detector's output, score it.

Given :class:`~lt_core.data.h36m_sequences.H36MSequences` (real Human3.6M detections, e.g. Stacked Hourglass or
CPN, from :mod:`lt_core.data.h36m_baseline` or :mod:`lt_core.data.videopose3d`), every frame is triangulated from
the *distorted* detections through the cameras (:mod:`lt_core.ops.camera_triangulation`) by

* ``"DLT"``: all views, equal weights (or the detector's confidences with ``use_scores``);
* ``"RANSAC"``: view pairs, 15 px inlier threshold, refined on the inliers (the paper's baseline);
* ``"exhaustive"``: the largest view subset consistent within 15 px.

and evaluated with the Human3.6M protocol of :func:`lt_core.metrics.evaluate_predictions` (absolute MPJPE without
the damaged S9 scenes, pelvis-relative MPJPE, PA-MPJPE). A joint is scored where the detector has it in at least
two views (MPII-16 has no neck/nose, so that joint is left out for Stacked Hourglass).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch

from lt_core.data.h36m_sequences import H36MSequence
from lt_core.metrics import Evaluation, evaluate_predictions
from lt_core.ops.camera_triangulation import (
    triangulate_cameras,
    triangulate_cameras_best_subset,
    triangulate_cameras_ransac,
)

__all__ = ["METHODS", "Triangulated", "triangulate_sequence", "triangulate_sequences", "evaluate_methods_table"]

METHODS: tuple[str, ...] = ("DLT", "RANSAC", "exhaustive")


@dataclass
class Triangulated:
    """Predictions of one method over many frames.

    Attributes:
        pred: (N, 17, 3) world mm (NaN where fewer than two views detect the joint).
        gt: (N, 17, 3) world mm.
        valid: (N, 17) joints scored (triangulated and with ground truth).
        meta: per-frame ``subject``, ``action``, ``frame``, ``dataset`` lists.
    """

    pred: np.ndarray
    gt: np.ndarray
    valid: np.ndarray
    meta: dict[str, list]

    def evaluate(self, exclude_damaged: bool = True) -> Evaluation:
        """The Human3.6M protocol (absolute columns without the damaged scenes by default)."""
        pred = np.where(self.valid[..., None], self.pred, self.gt)  # unscored joints never reach the metric
        return evaluate_predictions(pred, self.gt, self.meta, valid=self.valid, exclude_damaged=exclude_damaged)


def _robust(
    method: str,
    pts: torch.Tensor,
    valid: torch.Tensor,
    cameras,
    threshold: float,
    chunk: int,
    generator: torch.Generator,
) -> torch.Tensor:
    """Robust triangulation of the (frame, joint) points that have >= 2 detections; NaN elsewhere."""
    T, C, J, _ = pts.shape
    out = torch.full((T, J, 3), float("nan"), dtype=torch.float64)
    ok = valid.sum(1) >= 2  # (T, J)
    t_idx, j_idx = ok.nonzero(as_tuple=True)
    flat_pts = pts[t_idx, :, j_idx][:, :, None]  # (P, C, 1, 2): each point a sample of one joint
    flat_valid = valid[t_idx, :, j_idx][:, :, None]
    for s in range(0, flat_pts.shape[0], chunk):
        p, v = flat_pts[s : s + chunk], flat_valid[s : s + chunk]
        if method == "RANSAC":
            X, _ = triangulate_cameras_ransac(p, cameras, v, threshold=threshold, generator=generator)
        else:
            X, _ = triangulate_cameras_best_subset(p, cameras, v, threshold=threshold)
        out[t_idx[s : s + chunk], j_idx[s : s + chunk]] = X[:, 0].to(torch.float64)
    return out


def triangulate_sequence(
    seq: H36MSequence,
    method: str,
    frame_step: int = 1,
    use_scores: bool = False,
    threshold: float = 15.0,
    chunk: int = 20000,
    seed: int = 0,
) -> torch.Tensor:
    """Triangulate every ``frame_step``-th frame of one sequence.

    Args:
        seq: a sequence with (T, C, 17, 2) distorted detections and (C,) cameras.
        method: ``"DLT"``, ``"RANSAC"`` or ``"exhaustive"``.
        frame_step: keep every ``frame_step``-th frame.
        use_scores: DLT weights from the detector's confidences (when the file has them).
        threshold: inlier threshold of the robust methods, pixels.
        chunk: points per robust call (memory bound).
        seed: RANSAC's random generator seed (all pairs are tried with 4 cameras, so it rarely matters).

    Returns:
        (T', 17, 3) world mm, NaN where fewer than two views detect a joint.
    """
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    pts = torch.as_tensor(seq.points_2d[::frame_step])
    valid = torch.as_tensor(seq.valid_2d[::frame_step])
    if method == "DLT":
        w = valid.to(torch.float64)
        if use_scores and seq.scores is not None:
            w = w * torch.as_tensor(np.nan_to_num(seq.scores[::frame_step])).clamp_min(0)
        return triangulate_cameras(pts, seq.cameras, w, on_insufficient="nan")
    return _robust(method, pts, valid, seq.cameras, threshold, chunk, torch.Generator().manual_seed(seed))


def triangulate_sequences(
    sequences: Sequence[H36MSequence],
    methods: Sequence[str] = METHODS,
    frame_step: int = 1,
    use_scores: bool = False,
    threshold: float = 15.0,
    progress: bool = False,
) -> dict[str, Triangulated]:
    """Triangulate all sequences with each method.

    Args:
        sequences: sequences with 3D ground truth (``joints_3d`` set).
        methods: subset of :data:`METHODS`.
        frame_step: keep every ``frame_step``-th frame.
        use_scores: DLT weights from the detector's confidences.
        threshold: robust methods' inlier threshold (px).
        progress: show a progress bar over the sequences.

    Returns:
        ``{method: Triangulated}``.
    """
    seqs = list(sequences)
    missing = [f"{s.subject} {s.action}" for s in seqs if s.joints_3d is None]
    if missing:
        raise ValueError(f"sequences without 3D ground truth cannot be scored: {missing[:5]}")
    preds: dict[str, list[torch.Tensor]] = {m: [] for m in methods}
    iterator = seqs
    if progress:
        from tqdm.auto import tqdm  # noqa: PLC0415

        iterator = tqdm(seqs, desc="triangulating sequences", unit="seq")
    gts, valids, meta = [], [], {"subject": [], "action": [], "frame": [], "dataset": []}
    for seq in iterator:
        for m in methods:
            preds[m].append(triangulate_sequence(seq, m, frame_step, use_scores, threshold))
        frames = list(range(0, seq.n_frames, frame_step))
        gts.append(seq.joints_3d[::frame_step])
        valids.append(seq.valid_2d[::frame_step].sum(1) >= 2)
        meta["subject"] += [seq.subject] * len(frames)
        meta["action"] += [seq.action] * len(frames)
        meta["frame"] += frames
        meta["dataset"] += ["human36m"] * len(frames)
    gt = np.concatenate(gts) if gts else np.zeros((0, 17, 3))
    valid = np.concatenate(valids) if valids else np.zeros((0, 17), dtype=bool)
    out = {}
    for m in methods:
        pred = torch.cat(preds[m]).numpy() if preds[m] else np.zeros((0, 17, 3))
        out[m] = Triangulated(pred, gt, valid & np.isfinite(pred).all(-1), meta)
    return out


def evaluate_methods_table(results: dict[str, Triangulated], exclude_damaged: bool = True) -> pd.DataFrame:
    """One row per method: absolute, relative and PA-MPJPE (mm, reference protocol), frames and scored joints."""
    rows = []
    for name, r in results.items():
        ev = r.evaluate(exclude_damaged)
        rows.append(
            {
                "method": name,
                "MPJPE abs (mm)": ev.summary["mpjpe_abs"],
                "MPJPE rel (mm)": ev.summary["mpjpe_rel"],
                "PA-MPJPE (mm)": ev.summary["pa_mpjpe"],
                "frames": ev.summary["frames"],
                "frames abs": ev.summary["frames_abs"],
                "joints scored": int(r.valid.sum()),
                "NaN in scored joints": int(np.isnan(r.pred[r.valid]).sum()),
            }
        )
    return pd.DataFrame(rows).set_index("method")
