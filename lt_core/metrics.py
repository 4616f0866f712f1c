"""3D pose metrics and the Human3.6M reference evaluation protocol.

Errors are Euclidean distances in millimetres between predicted and ground-truth joints:

- **absolute MPJPE**: mean over joints of ``||pred - gt||``;
- **relative MPJPE**: the same after subtracting the root joint (pelvis, index 6) from prediction and ground truth
  separately; the root's own error is then zero and *stays in the mean* (the reference code does this);
- **PA-MPJPE**: after aligning the prediction to the ground truth by the similarity transform (rotation, uniform
  scale, translation) that minimises the squared error (Procrustes / Umeyama, batched via SVD).

Validity: a ``valid`` mask ``(N, J)`` drops joints. A frame's error is the mean over its valid joints; the relative
error of a frame whose root is invalid is undefined (NaN) and the frame is left out of relative averages. Tables
average **over frames** ("Average" is the mean over all frames, not the mean of the per-action means).

Human3.6M protocol (:func:`evaluate_predictions`): per action, trials ``-1`` and ``-2`` are pooled
(``"Directions-1"`` and ``"Directions-2"`` both count as ``"Directions"``); with ``exclude_damaged=True`` the
scenes with damaged ground truth (S9 Greeting-2, SittingDown-2, Waiting-1) are left out of the *absolute* columns
only, as the paper's absolute table does. Scenes are recognised in both namings people hold Human3.6M in: the
preprocessed labels' ``"Greeting-2"`` and the original dataset's ``"Greeting"`` (3d-pose-baseline, VideoPose3D).

All functions accept ``torch.Tensor`` or ``numpy.ndarray`` inputs; per-element results come back as the input's
kind, computed in float64.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import Tensor

__all__ = [
    "ROOT_JOINT",
    "DAMAGED_SCENES",
    "DAMAGED_SCENES_ORIGINAL",
    "joint_errors",
    "root_relative",
    "procrustes_align",
    "frame_errors",
    "mpjpe",
    "relative_mpjpe",
    "pa_mpjpe",
    "per_joint_mpjpe",
    "action_group",
    "is_damaged",
    "Evaluation",
    "evaluate_predictions",
]

ROOT_JOINT = 6
"""Pelvis index in the Human3.6M-17 order."""

DAMAGED_SCENES: frozenset[tuple[str, str]] = frozenset(
    {("S9", "Greeting-2"), ("S9", "SittingDown-2"), ("S9", "Waiting-1")}
)
"""(subject, action) pairs of Human3.6M whose ground truth is damaged; excluded from the absolute table."""

DAMAGED_SCENES_ORIGINAL: frozenset[tuple[str, str]] = frozenset(
    {("S9", "Greeting"), ("S9", "SittingDown 1"), ("S9", "Waiting 1")}
)
"""The same scenes under the original dataset's file names (used by 3d-pose-baseline's ``.h5`` files and
VideoPose3D's ``.npz`` files): the paper's preprocessing renamed S9 ``Greeting`` to ``Greeting-2``,
``SittingDown 1`` to ``SittingDown-2`` and ``Waiting 1`` to ``Waiting-1``."""

_ACTION_ALIASES = {"Photo": "TakingPhoto", "WalkDog": "WalkingDog", "WalkTogether": "WalkingTogether"}
"""Original Human3.6M action names that the preprocessed labels spell differently."""

ArrayLike = Tensor | np.ndarray


# ---------------------------------------------------------------------------------------------- helpers
def _to_torch(x: ArrayLike | None) -> Tensor | None:
    if x is None:
        return None
    if isinstance(x, Tensor):
        return x.detach().to(torch.float64)
    return torch.as_tensor(np.asarray(x), dtype=torch.float64)


def _valid(valid: ArrayLike | None, shape: torch.Size, device: torch.device) -> Tensor:
    """Boolean mask of ``shape`` ((..., J)) from an optional validity array."""
    if valid is None:
        return torch.ones(shape, dtype=torch.bool, device=device)
    v = valid.detach() if isinstance(valid, Tensor) else torch.as_tensor(np.asarray(valid))
    return (v.to(device) > 0).expand(shape)


def _like(result: Tensor, *inputs: Any) -> ArrayLike:
    """Return ``result`` as numpy if no input is a tensor, else as a tensor."""
    if any(isinstance(x, Tensor) for x in inputs):
        return result
    return result.cpu().numpy()


def _check(pred: Tensor, gt: Tensor) -> None:
    if pred.shape != gt.shape or pred.shape[-1] != 3 or pred.dim() < 2:
        raise ValueError(f"pred and gt must both have shape (..., J, 3), got {tuple(pred.shape)} and {tuple(gt.shape)}")


def _masked_mean(x: Tensor, mask: Tensor, dim: int) -> Tensor:
    """Mean of ``x`` over ``dim`` counting only ``mask``; NaN where nothing is valid."""
    count = mask.sum(dim)
    total = torch.where(mask, x, torch.zeros_like(x)).sum(dim)
    return torch.where(count > 0, total / count.clamp(min=1), torch.full_like(total, float("nan")))


# ---------------------------------------------------------------------------------------------- geometry
def joint_errors(pred: ArrayLike, gt: ArrayLike) -> ArrayLike:
    """Per-joint Euclidean errors.

    Args:
        pred: (..., J, 3) predicted joints, mm.
        gt: (..., J, 3) ground-truth joints, mm.

    Returns:
        (..., J) distances in mm.
    """
    p, g = _to_torch(pred), _to_torch(gt)
    _check(p, g)
    return _like((p - g).norm(dim=-1), pred, gt)


def root_relative(joints: ArrayLike, root: int = ROOT_JOINT) -> ArrayLike:
    """Subtract the root joint.

    Args:
        joints: (..., J, 3) joints, mm.
        root: root joint index (6 = pelvis).

    Returns:
        (..., J, 3) joints relative to the root; the root itself becomes 0.
    """
    x = _to_torch(joints)
    return _like(x - x[..., root : root + 1, :], joints)


def procrustes_align(pred: ArrayLike, gt: ArrayLike, valid: ArrayLike | None = None, scale: bool = True) -> ArrayLike:
    """Align ``pred`` to ``gt`` by the least-squares similarity transform (batched Umeyama via SVD).

    Finds ``s, R, t`` minimising ``sum_j w_j ||s R p_j + t - g_j||^2`` over valid joints, with ``R`` a proper
    rotation (no reflection), and returns ``s R p + t`` for every joint.

    Args:
        pred: (..., J, 3) predicted joints, mm.
        gt: (..., J, 3) ground truth, mm.
        valid: optional (..., J) mask; invalid joints do not influence the fit (they are still transformed).
        scale: fit the uniform scale ``s`` (``False``: rigid alignment, ``s = 1``).

    Returns:
        (..., J, 3) aligned prediction, mm. Frames with fewer than one valid joint come back unchanged.
    """
    p, g = _to_torch(pred), _to_torch(gt)
    _check(p, g)
    w = _valid(valid, p.shape[:-1], p.device).to(p.dtype)[..., None]  # (..., J, 1)
    n = w.sum(-2, keepdim=True).clamp(min=1.0)
    mu_p = (w * p).sum(-2, keepdim=True) / n
    mu_g = (w * g).sum(-2, keepdim=True) / n
    p0, g0 = p - mu_p, g - mu_g
    cov = (w * g0).transpose(-1, -2) @ p0 / n  # (..., 3, 3) = sum w g0 p0^T
    u, s, vh = torch.linalg.svd(cov)
    d = torch.sign(torch.linalg.det(u @ vh))
    d = torch.where(d == 0, torch.ones_like(d), d)
    signs = torch.stack([torch.ones_like(d), torch.ones_like(d), d], -1)  # (..., 3)
    rot = u @ (signs[..., :, None] * vh)
    if scale:
        var_p = (w * p0.pow(2)).sum((-1, -2)) / n[..., 0, 0]
        c = (s * signs).sum(-1) / var_p.clamp(min=1e-12)
        c = torch.where(var_p > 1e-12, c, torch.ones_like(c))
    else:
        c = torch.ones(p.shape[:-2], dtype=p.dtype, device=p.device)
    aligned = c[..., None, None] * p0 @ rot.transpose(-1, -2) + mu_g
    any_valid = (w.sum((-1, -2)) > 0)[..., None, None]
    return _like(torch.where(any_valid, aligned, p), pred, gt)


# ---------------------------------------------------------------------------------------------- per frame
def frame_errors(
    pred: ArrayLike, gt: ArrayLike, valid: ArrayLike | None = None, kind: str = "abs", root: int = ROOT_JOINT
) -> ArrayLike:
    """Per-frame mean joint error of one kind.

    Args:
        pred: (N, J, 3) or (..., J, 3) predictions, mm.
        gt: same shape, ground truth, mm.
        valid: optional (..., J) joint mask.
        kind: ``"abs"`` (absolute), ``"rel"`` (root-relative) or ``"pa"`` (Procrustes-aligned).
        root: root joint for ``"rel"``.

    Returns:
        (...,) mean error over valid joints, mm; NaN for frames with no valid joint (or, for ``"rel"``, an
        invalid root).
    """
    errs, mask = _joint_errors_kind(pred, gt, valid, kind, root)
    return _like(_masked_mean(errs, mask, -1), pred, gt)


def _joint_errors_kind(
    pred: ArrayLike, gt: ArrayLike, valid: ArrayLike | None, kind: str, root: int
) -> tuple[Tensor, Tensor]:
    """(..., J) errors of ``kind`` and the (..., J) mask of joints that count."""
    p, g = _to_torch(pred), _to_torch(gt)
    _check(p, g)
    mask = _valid(valid, p.shape[:-1], p.device)
    if kind == "abs":
        errs = (p - g).norm(dim=-1)
    elif kind == "rel":
        errs = ((p - p[..., root : root + 1, :]) - (g - g[..., root : root + 1, :])).norm(dim=-1)
        mask = mask & mask[..., root : root + 1]
    elif kind == "pa":
        errs = (_to_torch(procrustes_align(p, g, mask)) - g).norm(dim=-1)
    else:
        raise ValueError(f"kind must be 'abs', 'rel' or 'pa', got {kind!r}")
    return errs, mask


def _mean_over_frames(per_frame: Tensor) -> float:
    ok = ~torch.isnan(per_frame)
    return float(per_frame[ok].mean()) if ok.any() else float("nan")


def mpjpe(pred: ArrayLike, gt: ArrayLike, valid: ArrayLike | None = None) -> float:
    """Absolute MPJPE in mm: mean over frames of the mean over valid joints of ``||pred - gt||``.

    Args:
        pred: (N, J, 3) predictions, mm (a single (J, 3) pose is fine too).
        gt: same shape, ground truth.
        valid: optional (N, J) joint mask.
    """
    return _mean_over_frames(_to_torch(frame_errors(pred, gt, valid, "abs")).reshape(-1))


def relative_mpjpe(pred: ArrayLike, gt: ArrayLike, valid: ArrayLike | None = None, root: int = ROOT_JOINT) -> float:
    """Root-relative MPJPE in mm (root subtracted from both; the zero root error stays in the mean).

    Args:
        pred: (N, J, 3) predictions, mm.
        gt: same shape, ground truth.
        valid: optional (N, J) joint mask; frames with an invalid root are skipped.
        root: root joint index (6 = pelvis).
    """
    return _mean_over_frames(_to_torch(frame_errors(pred, gt, valid, "rel", root)).reshape(-1))


def pa_mpjpe(pred: ArrayLike, gt: ArrayLike, valid: ArrayLike | None = None) -> float:
    """Procrustes-aligned MPJPE in mm (similarity alignment per frame, fitted on valid joints).

    Args:
        pred: (N, J, 3) predictions, mm.
        gt: same shape, ground truth.
        valid: optional (N, J) joint mask.
    """
    return _mean_over_frames(_to_torch(frame_errors(pred, gt, valid, "pa")).reshape(-1))


def per_joint_mpjpe(
    pred: ArrayLike, gt: ArrayLike, valid: ArrayLike | None = None, kind: str = "abs", root: int = ROOT_JOINT
) -> ArrayLike:
    """Mean error of each joint over the frames where it is valid.

    Args:
        pred: (N, J, 3) predictions, mm.
        gt: (N, J, 3) ground truth.
        valid: optional (N, J) mask.
        kind: ``"abs"``, ``"rel"`` or ``"pa"``.
        root: root joint for ``"rel"``.

    Returns:
        (J,) mm (NaN for a joint never valid).
    """
    errs, mask = _joint_errors_kind(pred, gt, valid, kind, root)
    return _like(_masked_mean(errs.reshape(-1, errs.shape[-1]), mask.reshape(-1, mask.shape[-1]), 0), pred, gt)


# ---------------------------------------------------------------------------------------------- protocol
_TRIAL_SUFFIX = re.compile(r"[-_ ]\d+$")


def action_group(action: str) -> str:
    """Action name with its trial suffix removed: ``"Directions-2"`` -> ``"Directions"``, ``"Walking 1"`` ->
    ``"Walking"``; names without a suffix are returned unchanged. The original dataset's short names map to the
    preprocessed labels' (``"Photo"`` -> ``"TakingPhoto"``, ``"WalkDog"`` -> ``"WalkingDog"``, ``"WalkTogether"``
    -> ``"WalkingTogether"``), so tables from either naming have the same rows."""
    group = _TRIAL_SUFFIX.sub("", str(action))
    return _ACTION_ALIASES.get(group, group)


def is_damaged(subject: str, action: str, dataset: str | None = None) -> bool:
    """Whether a (subject, action) scene of Human3.6M has damaged ground truth.

    Args:
        subject: e.g. ``"S9"`` (``9`` and ``"9"`` are read as ``"S9"``).
        action: full action name with trial, in the preprocessed labels' naming (``"Greeting-2"``) or the original
            dataset's (``"Greeting"``, ``"SittingDown 1"``; underscores as in ``"SittingDown_1"`` file names work too).
        dataset: dataset name from the sample meta; only Human3.6M (names starting with ``"human36m"`` or
            ``"h36m"``, case-insensitive) or an unknown dataset (``None``) can be damaged.
    """
    if dataset is not None and not str(dataset).lower().startswith(("human36m", "h36m")):
        return False
    subj = str(subject)
    if subj.isdigit():
        subj = f"S{subj}"
    act = str(action)
    return (subj, act) in DAMAGED_SCENES or (subj, act.replace("_", " ")) in DAMAGED_SCENES_ORIGINAL


def _meta_columns(meta: Mapping[str, Sequence] | Sequence[Mapping[str, Any]] | None, n: int) -> dict[str, list]:
    """Normalise per-frame metadata (dict of lists or list of dicts) to a dict of length-``n`` lists."""
    keys = ("subject", "action", "frame", "dataset")
    if meta is None:
        return {"subject": [""] * n, "action": [""] * n, "frame": list(range(n)), "dataset": [None] * n}
    if isinstance(meta, Mapping):
        cols = {k: list(_tolist(meta[k])) if k in meta else None for k in keys}
    else:
        rows = list(meta)
        if len(rows) != n:
            raise ValueError(f"meta has {len(rows)} entries for {n} frames")
        cols = {k: [r.get(k) for r in rows] for k in keys}
    for k, v in cols.items():
        if v is None:
            cols[k] = list(range(n)) if k == "frame" else ([None] * n if k == "dataset" else [""] * n)
        elif len(v) != n:
            raise ValueError(f"meta[{k!r}] has {len(v)} entries for {n} frames")
    return cols


def _tolist(x: Any) -> Iterable:
    if isinstance(x, (Tensor, np.ndarray)):
        return x.tolist()
    if isinstance(x, str):
        raise TypeError("meta columns must be sequences, not a single string")
    return x


@dataclass
class Evaluation:
    """Result of :func:`evaluate_predictions`.

    Attributes:
        frames: one row per frame: ``subject, action, action_group, frame, dataset, damaged, abs, rel, pa``
            (per-frame errors in mm; NaN where undefined; ``abs`` is NaN for damaged frames when they are excluded).
        per_action: index = action group names (sorted) then ``"Average"``; columns ``mpjpe_abs``, ``mpjpe_rel``,
            ``pa_mpjpe`` (mm, means over frames) and ``frames`` / ``frames_abs`` (frame counts used).
        per_subject: same columns, index = subjects then ``"Average"``.
        per_joint: index = joint names; columns ``mpjpe_abs``, ``mpjpe_rel``, ``pa_mpjpe`` (mm).
        summary: ``{"mpjpe_abs", "mpjpe_rel", "pa_mpjpe", "frames", "frames_abs"}`` of the whole set.
        exclude_damaged: whether damaged scenes were left out of the absolute columns.
    """

    frames: pd.DataFrame
    per_action: pd.DataFrame
    per_subject: pd.DataFrame
    per_joint: pd.DataFrame
    summary: dict[str, float] = field(default_factory=dict)
    exclude_damaged: bool = False

    def action_row(self, metric: str = "mpjpe_rel") -> pd.DataFrame:
        """The paper's layout: one row, one column per action group plus ``"Average"`` (mm)."""
        return self.per_action[[metric]].T.rename(index={metric: metric})


_METRIC_COLS = {"abs": "mpjpe_abs", "rel": "mpjpe_rel", "pa": "pa_mpjpe"}


def _group_table(frames: pd.DataFrame, by: str) -> pd.DataFrame:
    """Means over frames per group of ``by`` plus an ``Average`` row."""
    agg = frames.groupby(by, sort=True).agg(
        mpjpe_abs=("abs", "mean"),
        mpjpe_rel=("rel", "mean"),
        pa_mpjpe=("pa", "mean"),
        frames=("rel", "size"),
        frames_abs=("abs", "count"),
    )
    total = pd.DataFrame(
        {
            "mpjpe_abs": [frames["abs"].mean()],
            "mpjpe_rel": [frames["rel"].mean()],
            "pa_mpjpe": [frames["pa"].mean()],
            "frames": [len(frames)],
            "frames_abs": [int(frames["abs"].count())],
        },
        index=["Average"],
    )
    out = pd.concat([agg, total])
    out.index.name = by
    return out


def _joint_names(j: int) -> list[str]:
    try:
        from lt_core.skeleton import H36M17  # optional; names only

        if H36M17.num_joints == j:
            return list(H36M17.joints)
    except Exception:  # pragma: no cover - skeleton module absent or different
        pass
    return [f"joint_{i}" for i in range(j)]


def evaluate_predictions(
    pred: ArrayLike,
    gt: ArrayLike,
    meta: Mapping[str, Sequence] | Sequence[Mapping[str, Any]] | None = None,
    valid: ArrayLike | None = None,
    exclude_damaged: bool = False,
    root: int = ROOT_JOINT,
    joint_names: Sequence[str] | None = None,
) -> Evaluation:
    """Evaluate 3D predictions with the Human3.6M reference protocol.

    Args:
        pred: (N, J, 3) predicted joints, world mm.
        gt: (N, J, 3) ground-truth joints, world mm.
        meta: per-frame ``subject``, ``action`` (with trial suffix), ``frame`` and optionally ``dataset``, as a
            dict of length-N lists or a list of N dicts; ``None`` puts every frame in one unnamed group.
        valid: optional (N, J) joint mask.
        exclude_damaged: leave the damaged Human3.6M scenes (:data:`DAMAGED_SCENES`) out of the absolute columns
            (relative and PA columns always use every frame).
        root: root joint for the relative error (6 = pelvis).
        joint_names: names for the per-joint table (Human3.6M-17 names by default when J = 17).

    Returns:
        An :class:`Evaluation` with per-frame, per-action, per-subject and per-joint tables and a summary.
    """
    p, g = _to_torch(pred), _to_torch(gt)
    _check(p, g)
    if p.dim() != 3:
        raise ValueError(f"pred and gt must have shape (N, J, 3), got {tuple(p.shape)}")
    n, j = p.shape[:2]
    cols = _meta_columns(meta, n)
    damaged = np.array(
        [is_damaged(s, a, d) for s, a, d in zip(cols["subject"], cols["action"], cols["dataset"])], dtype=bool
    )
    errs = {k: _joint_errors_kind(p, g, valid, k, root) for k in ("abs", "rel", "pa")}
    per_frame = {k: _masked_mean(e, m, -1).cpu().numpy() for k, (e, m) in errs.items()}
    if exclude_damaged:
        per_frame["abs"] = np.where(damaged, np.nan, per_frame["abs"])
    frames = pd.DataFrame(
        {
            "subject": [str(s) for s in cols["subject"]],
            "action": [str(a) for a in cols["action"]],
            "action_group": [action_group(a) for a in cols["action"]],
            "frame": cols["frame"],
            "dataset": cols["dataset"],
            "damaged": damaged,
            **per_frame,
        }
    )
    keep_abs = torch.as_tensor(~damaged if exclude_damaged else np.ones(n, bool))
    joint_table = {}
    for k, (e, m) in errs.items():
        mask = m & keep_abs[:, None] if k == "abs" else m
        joint_table[_METRIC_COLS[k]] = _masked_mean(e, mask, 0).cpu().numpy()
    names = list(joint_names) if joint_names is not None else _joint_names(j)
    per_joint = pd.DataFrame(joint_table, index=pd.Index(names, name="joint"))
    per_action = _group_table(frames, "action_group")
    per_subject = _group_table(frames, "subject")
    summary = {k: (int(v) if k.startswith("frames") else float(v)) for k, v in per_action.loc["Average"].items()}
    return Evaluation(frames, per_action, per_subject, per_joint, summary, exclude_damaged)
