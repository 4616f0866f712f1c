"""Soft-argmax (differentiable expected coordinates) and hard argmax with sub-pixel refinement.

Soft-argmax turns a heatmap ``H`` into coordinates by a softmax with inverse temperature ``beta``:

.. math::  p_{ij} = \\frac{\\exp(\\beta H_{ij})}{\\sum_{kl} \\exp(\\beta H_{kl})}, \\qquad
           \\hat u = \\sum_{ij} p_{ij}\\, j, \\quad \\hat v = \\sum_{ij} p_{ij}\\, i.

Coordinates follow the project's pixel convention: integer values are pixel (voxel) centres, ``u`` is the column
(x), ``v`` the row (y). Large ``beta`` approaches the hard argmax; small ``beta`` blurs toward the centre of the
map (the border bias discussed in notebook 02).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = ["soft_argmax_2d", "soft_argmax_3d", "hard_argmax_2d", "softmax_nd"]


def softmax_nd(heatmaps: Tensor, beta: float | Tensor = 1.0, dims: int = 2) -> Tensor:
    """Softmax over the last ``dims`` dimensions with inverse temperature ``beta``.

    Args:
        heatmaps: (..., *spatial) scores.
        beta: inverse temperature (scalar or broadcastable to (...)).
        dims: number of trailing spatial dimensions (2 or 3).

    Returns:
        (..., *spatial) probabilities summing to 1 over the spatial dimensions.
    """
    spatial = heatmaps.shape[-dims:]
    flat = heatmaps.reshape(*heatmaps.shape[:-dims], -1)
    if isinstance(beta, Tensor):
        beta = beta[..., None]
    return F.softmax(flat * beta, dim=-1).reshape(*heatmaps.shape[:-dims], *spatial)


def _check(heatmaps: Tensor, dims: int, name: str) -> None:
    if not isinstance(heatmaps, Tensor):
        raise TypeError(f"{name}: heatmaps must be a torch.Tensor, got {type(heatmaps).__name__}")
    if heatmaps.dim() < dims + 1:
        spatial = "H, W" if dims == 2 else "D, H, W"
        raise ValueError(f"{name}: heatmaps must have shape (..., {spatial}), got {tuple(heatmaps.shape)}")
    if not heatmaps.is_floating_point():
        raise TypeError(f"{name}: heatmaps must be floating point, got {heatmaps.dtype}")
    if heatmaps.numel() == 0:
        return
    # amax propagates NaN, so one reduction finds NaN, +inf and maps without any finite score
    top = heatmaps.detach().reshape(*heatmaps.shape[:-dims], -1).amax(-1)
    bad = ~torch.isfinite(top)
    if bool(bad.any()):
        idx = tuple(int(i) for i in bad.nonzero()[0])
        v = float(top[idx])
        what = "contains NaN" if v != v else ("contains +inf" if v > 0 else "is -inf everywhere (no finite score)")
        raise ValueError(
            f"{name}: heatmap {idx} of shape {tuple(heatmaps.shape)} {what}; its argmax is undefined "
            f"({int(bad.sum())} such map(s))"
        )


def soft_argmax_2d(heatmaps: Tensor, beta: float | Tensor = 100.0, return_probs: bool = False):
    """Differentiable 2D argmax.

    Args:
        heatmaps: (..., H, W) scores (e.g. (B, J, H, W)).
        beta: inverse temperature; the paper uses 100 on heatmaps that are first normalised by a softmax-free
            network output.
        return_probs: also return the (..., H, W) softmax probabilities.

    Returns:
        (..., 2) expected coordinates ``(u, v)`` in heatmap pixels (integer = pixel centre), and optionally the
        probabilities.
    """
    _check(heatmaps, 2, "soft_argmax_2d")
    H, W = heatmaps.shape[-2:]
    p = softmax_nd(heatmaps, beta, 2)
    xs = torch.arange(W, dtype=p.dtype, device=p.device)
    ys = torch.arange(H, dtype=p.dtype, device=p.device)
    u = (p.sum(-2) * xs).sum(-1)
    v = (p.sum(-1) * ys).sum(-1)
    coords = torch.stack([u, v], -1)
    return (coords, p) if return_probs else coords


def soft_argmax_3d(volumes: Tensor, beta: float | Tensor = 1.0, grid: Tensor | None = None, return_probs: bool = False):
    """Differentiable 3D argmax over volumes.

    Args:
        volumes: (..., D, H, W) scores (e.g. (B, J, D, D, D) from V2V).
        beta: inverse temperature (the released volumetric model uses 1).
        grid: optional (..., D, H, W, 3) world coordinates of every voxel centre (mm). When given the result is
            the expected world position; otherwise the expected voxel index ``(x=w, y=h, z=d)``.
        return_probs: also return the (..., D, H, W) probabilities.

    Returns:
        (..., 3) expected coordinates (voxel indices, or mm when ``grid`` is given).
    """
    _check(volumes, 3, "soft_argmax_3d")
    p = softmax_nd(volumes, beta, 3)
    if grid is not None:
        if grid.shape[-4:-1] != volumes.shape[-3:] or grid.shape[-1] != 3:
            raise ValueError(
                f"grid must have shape (..., {', '.join(map(str, volumes.shape[-3:]))}, 3), got {tuple(grid.shape)}"
            )
        coords = (p[..., None] * grid).sum((-4, -3, -2))
    else:
        D, H, W = volumes.shape[-3:]
        z = (p.sum((-2, -1)) * torch.arange(D, dtype=p.dtype, device=p.device)).sum(-1)
        y = (p.sum((-3, -1)) * torch.arange(H, dtype=p.dtype, device=p.device)).sum(-1)
        x = (p.sum((-3, -2)) * torch.arange(W, dtype=p.dtype, device=p.device)).sum(-1)
        coords = torch.stack([x, y, z], -1)
    return (coords, p) if return_probs else coords


def hard_argmax_2d(heatmaps: Tensor, refine: bool = True) -> tuple[Tensor, Tensor]:
    """Hard argmax with sub-pixel refinement (the RANSAC baseline's 2D estimate).

    The refinement fits a parabola through the maximum and its two neighbours along each axis (exact for a
    locally quadratic peak, as a Gaussian's log near its mode); at the border the integer location is kept.

    Args:
        heatmaps: (..., H, W) scores.
        refine: apply the sub-pixel refinement.

    Returns:
        ``(coords, peak)``: (..., 2) coordinates ``(u, v)`` in heatmap pixels and (..., ) the peak values
        (usable as confidences). Not differentiable with respect to the location.
    """
    _check(heatmaps, 2, "hard_argmax_2d")
    H, W = heatmaps.shape[-2:]
    flat = heatmaps.reshape(*heatmaps.shape[:-2], H * W)
    peak, idx = flat.max(-1)
    v = torch.div(idx, W, rounding_mode="floor")
    u = idx - v * W
    coords = torch.stack([u, v], -1).to(heatmaps.dtype)
    if not refine:
        return coords, peak

    def at(du: int, dv: int) -> Tensor:
        uu = (u + du).clamp(0, W - 1)
        vv = (v + dv).clamp(0, H - 1)
        return torch.gather(flat, -1, (vv * W + uu)[..., None])[..., 0]

    def offset(minus: Tensor, centre: Tensor, plus: Tensor, inside: Tensor) -> Tensor:
        denom = minus - 2 * centre + plus
        ok = inside & (denom < 0)
        d = 0.5 * (minus - plus) / torch.where(ok, denom, torch.ones_like(denom))
        return torch.where(ok, d.clamp(-0.5, 0.5), torch.zeros_like(d))

    c = peak
    du = offset(at(-1, 0), c, at(1, 0), (u > 0) & (u < W - 1))
    dv = offset(at(0, -1), c, at(0, 1), (v > 0) & (v < H - 1))
    return coords + torch.stack([du, dv], -1).detach(), peak
