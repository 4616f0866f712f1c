"""The paper's training losses, in the units the released models were trained with.

The released training code multiplies predicted and ground-truth 3D joints by 0.1 before the loss: millimetres
become **centimetres**. Every 3D loss here therefore takes joints in mm (the project's unit) and a ``scale``
(default ``0.1``, mm -> cm) applied first, so loss values and the smooth-MSE threshold mean what they meant in
the paper.

- Algebraic model: :func:`smooth_mse_loss`. Per coordinate, the squared error ``d = (scale * (p - t)) ** 2``
  (cm^2) is kept when ``d <= 400`` (an error up to 20 cm) and replaced by ``d ** 0.1 * 400 ** 0.9`` above (same
  value at 400, growing much more slowly, so outliers do not dominate). Mean over the valid joints' coordinates.
- Volumetric model: :func:`l1_loss` (mean absolute coordinate error in cm) plus ``0.01`` times
  :func:`volumetric_ce_loss`, the cross-entropy ``-log p`` of the voxel nearest to the ground-truth joint.

All losses respect ``joints_valid`` (B, J): invalid joints contribute nothing, and means run over valid joints
only (the released cross-entropy divided by all joints instead; here both terms average over valid joints).
Losses are computed in float32 or better whatever the input dtype (safe under autocast).
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import Tensor

from lt_core.checks import weighted_mean

__all__ = [
    "MM_TO_CM",
    "SMOOTH_MSE_THRESHOLD",
    "VOLUMETRIC_CE_WEIGHT",
    "smooth_mse_loss",
    "l1_loss",
    "nearest_voxel",
    "volumetric_ce_loss",
    "model_loss",
]

MM_TO_CM = 0.1
"""Scale from the project's millimetres to the paper's training unit (centimetres)."""

SMOOTH_MSE_THRESHOLD = 400.0
"""Squared error per coordinate (cm^2) above which the smooth MSE grows as ``d ** 0.1``."""

VOLUMETRIC_CE_WEIGHT = 0.01
"""Weight of the voxel cross-entropy in the volumetric loss."""


def _float(x: Tensor) -> Tensor:
    return x if x.dtype in (torch.float32, torch.float64) else x.float()


def _weights(pred: Tensor, valid: Tensor | None) -> Tensor:
    """(B, J) joint weights (1 for valid, 0 for invalid) in ``pred``'s dtype."""
    B, J = pred.shape[:2]
    if valid is None:
        return torch.ones(B, J, dtype=pred.dtype, device=pred.device)
    if tuple(valid.shape) != (B, J):
        raise ValueError(f"joints_valid must have shape ({B}, {J}), got {tuple(valid.shape)}")
    return valid.to(device=pred.device, dtype=pred.dtype)


def _check_pair(pred: Tensor, target: Tensor) -> None:
    if pred.dim() != 3 or pred.shape[-1] != 3:
        raise ValueError(f"pred must have shape (B, J, 3) (mm), got {tuple(pred.shape)}")
    if target.shape != pred.shape:
        raise ValueError(f"target must have shape {tuple(pred.shape)} like pred, got {tuple(target.shape)}")


def smooth_mse_loss(
    pred: Tensor,
    target: Tensor,
    valid: Tensor | None = None,
    *,
    scale: float = MM_TO_CM,
    threshold: float = SMOOTH_MSE_THRESHOLD,
) -> Tensor:
    """Smooth MSE of the algebraic model.

    Args:
        pred: (B, J, 3) predicted joints, mm.
        target: (B, J, 3) ground truth, mm.
        valid: optional (B, J) bool (or 0/1 weights); invalid joints are ignored.
        scale: multiplies coordinates before the loss (0.1: mm -> cm, the paper's unit).
        threshold: squared error per coordinate, in ``scale`` units squared, above which ``d`` becomes
            ``d ** 0.1 * threshold ** 0.9``.

    Returns:
        Scalar: sum of the (smoothed) squared errors over valid joints' coordinates divided by
        ``3 * max(1, number of valid joints)``.
    """
    _check_pair(pred, target)
    pred, target = _float(pred), _float(target).to(pred.dtype)
    w = _weights(pred, valid)
    d = ((pred - target) * scale) ** 2  # (B, J, 3)
    # the power is evaluated on d >= threshold only, so its derivative stays finite where d is small
    smooth = d.clamp_min(threshold) ** 0.1 * threshold**0.9
    d = torch.where(d > threshold, smooth, d)
    return (d * w[..., None]).sum() / (3.0 * w.sum().clamp_min(1.0))


def l1_loss(pred: Tensor, target: Tensor, valid: Tensor | None = None, *, scale: float = MM_TO_CM) -> Tensor:
    """Mean absolute coordinate error of the volumetric model.

    Args:
        pred: (B, J, 3) predicted joints, mm.
        target: (B, J, 3) ground truth, mm.
        valid: optional (B, J) bool (or 0/1 weights).
        scale: multiplies coordinates before the loss (0.1: the result is in cm).

    Returns:
        Scalar: ``sum |scale * (pred - target)|`` over valid joints' coordinates / ``(3 * max(1, n_valid))``.
    """
    _check_pair(pred, target)
    pred, target = _float(pred), _float(target).to(pred.dtype)
    w = _weights(pred, valid)
    return (((pred - target) * scale).abs() * w[..., None]).sum() / (3.0 * w.sum().clamp_min(1.0))


def nearest_voxel(grid: Tensor, points: Tensor) -> Tensor:
    """Index of the voxel centre nearest to each point, for regular (possibly rotated) grids.

    The grid must be a lattice ``grid[i, j, k] = o + i a + j b + k c`` with orthogonal ``a, b, c`` (as made by
    :func:`lt_core.ops.unprojection.make_cuboid_grid`); the nearest voxel is then the rounded lattice
    coordinate clamped to the grid, computed in closed form (no distance volume).

    Args:
        grid: (B, D1, D2, D3, 3) voxel centres, mm.
        points: (B, J, 3) points, mm.

    Returns:
        (B, J, 3) long indices ``(i, j, k)`` into the grid's spatial dimensions.
    """
    if grid.dim() != 5 or grid.shape[-1] != 3:
        raise ValueError(f"grid must have shape (B, D1, D2, D3, 3), got {tuple(grid.shape)}")
    if points.dim() != 3 or points.shape[-1] != 3 or points.shape[0] != grid.shape[0]:
        raise ValueError(f"points must have shape ({grid.shape[0]}, J, 3), got {tuple(points.shape)}")
    g = grid.detach().double()
    sizes = g.shape[1:4]
    if min(sizes) < 2:
        raise ValueError(f"grid needs at least 2 voxels per side, got {tuple(sizes)}")
    origin = g[:, 0, 0, 0]
    axes = torch.stack([g[:, 1, 0, 0] - origin, g[:, 0, 1, 0] - origin, g[:, 0, 0, 1] - origin], 1)  # (B, 3, 3)
    rel = points.detach().double() - origin[:, None]
    coords = rel @ axes.transpose(-1, -2) / (axes * axes).sum(-1)[:, None, :]  # projections on each axis
    upper = torch.tensor(sizes, dtype=coords.dtype, device=coords.device) - 1
    return torch.minimum(coords.round().clamp_min(0), upper).long()


def volumetric_ce_loss(
    volumes: Tensor,
    grid: Tensor,
    target: Tensor,
    valid: Tensor | None = None,
    *,
    from_logits: bool = False,
    eps: float = 1e-6,
) -> Tensor:
    """Cross-entropy of the ground-truth voxel.

    Args:
        volumes: (B, J, D1, D2, D3) per-joint probabilities over voxels (the model's ``volumes``), or scores
            with ``from_logits=True`` (the model's ``volume_logits``; a log-softmax is taken).
        grid: (B, D1, D2, D3, 3) voxel centres in mm.
        target: (B, J, 3) ground-truth joints in mm.
        valid: optional (B, J) bool (or 0/1 weights).
        from_logits: ``volumes`` are unnormalised scores.
        eps: added to probabilities before the log (as the released code); unused with logits.

    Returns:
        Scalar: mean over valid joints of ``-log(p[nearest voxel] + eps)`` (or ``-log_softmax`` at it).
    """
    if volumes.dim() != 5 or volumes.shape[:2] != target.shape[:2] or volumes.shape[2:] != grid.shape[1:4]:
        raise ValueError(
            f"volumes (B, J, D1, D2, D3) {tuple(volumes.shape)}, grid (B, D1, D2, D3, 3) "
            f"{tuple(grid.shape)} and target (B, J, 3) {tuple(target.shape)} disagree"
        )
    B, J = volumes.shape[:2]
    v = _float(volumes)
    w = _weights(v, valid)
    idx = nearest_voxel(grid, target)  # (B, J, 3)
    D1, D2, D3 = volumes.shape[2:]
    flat_index = (idx[..., 0] * D2 + idx[..., 1]) * D3 + idx[..., 2]  # (B, J)
    flat = v.reshape(B, J, -1)
    if from_logits:
        logp = torch.log_softmax(flat, -1).gather(-1, flat_index[..., None])[..., 0]
    else:
        logp = torch.log(flat.gather(-1, flat_index[..., None])[..., 0] + eps)
    return -weighted_mean(logp, w)


def model_loss(
    name: str,
    output: Mapping[str, Tensor],
    batch: Mapping,
    *,
    scale: float = MM_TO_CM,
    ce_weight: float = VOLUMETRIC_CE_WEIGHT,
) -> dict[str, Tensor]:
    """The paper's training loss of a model, from its output dict and a batch.

    Args:
        name: ``"algebraic"`` (smooth MSE) or ``"volumetric"`` (L1 + ``ce_weight`` x voxel cross-entropy).
            ``"ransac"`` has no trainable loss and raises.
        output: the model's output (``joints_3d``; for volumetric also ``volumes`` and ``grid``).
        batch: a sample batch with ``joints_3d`` (B, J, 3) mm and optionally ``joints_valid`` (B, J).
        scale: mm -> training unit (0.1: cm).
        ce_weight: weight of the cross-entropy term (volumetric).

    Returns:
        dict with ``loss`` (scalar to back-propagate) and its detached parts: ``smooth_mse`` (algebraic), or
        ``l1`` and ``ce`` (volumetric).
    """
    target = batch["joints_3d"].to(output["joints_3d"].device)
    valid = batch.get("joints_valid")
    pred = output["joints_3d"]
    if name == "algebraic":
        loss = smooth_mse_loss(pred, target, valid, scale=scale)
        return {"loss": loss, "smooth_mse": loss.detach()}
    if name == "volumetric":
        l1 = l1_loss(pred, target, valid, scale=scale)
        ce = volumetric_ce_loss(output["volumes"], output["grid"], target, valid)
        return {"loss": l1 + ce_weight * ce, "l1": l1.detach(), "ce": ce.detach()}
    if name == "ransac":
        raise ValueError(
            "the RANSAC baseline is not trained end to end (hard argmax); train the backbone with the algebraic model"
        )
    raise ValueError(f"unknown model name {name!r}; expected 'algebraic' or 'volumetric'")
