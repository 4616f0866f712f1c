"""Unprojection of 2D feature maps into a 3D cuboid around the person (the volumetric model's lifting step).

Every voxel centre of a world-space grid is projected into every view; the view's feature map is sampled there
bilinearly and the per-view volumes are aggregated into one ``(B, F, D, D, D)`` volume:

- ``"sum"``: plain sum over the views that see the voxel;
- ``"conf"``: sum weighted by per-view confidences ``(B, C)`` normalised over the (valid) views;
- ``"softmax"``: per voxel and per channel, the views are weighted by a softmax over views of the sampled
  features themselves, ``sum_c softmax_c(f_c) * f_c`` (the released model's aggregation).

Pixel conventions (:mod:`lt_core.conventions`). With ``"centres"`` (the default) integer pixel coordinates are pixel
centres, a ``w``-pixel-wide map covers ``u`` in ``[-0.5, w - 0.5]``, and ``F.grid_sample`` with
``align_corners=False`` samples the same point once ``u`` is normalised as ``(u + 0.5) / w * 2 - 1``. Cameras must
describe the feature maps, i.e. be the image cameras resized to the feature resolution with
:meth:`lt_core.camera.Camera.resize`. A voxel contributes nothing from a view when it lies behind that camera
(depth <= 0), projects outside the map, or the view is marked missing; the softmax aggregation runs over the views
that do see the voxel, and a voxel seen by no view is 0. With ``"official"`` (the paper's released code) the map is
sampled at ``(u (w - 1) / h, v (h - 1) / w)``, zero padding replaces the border, and every valid view takes part in
the softmax, with 0 where it does not see the voxel.

Three sampling backends give the same volumes up to float rounding. ``"grid_sample"`` samples all maps at once
with ``F.grid_sample``. ``"gather"`` (:mod:`lt_core.ops._gather`, ``"centres"`` only) writes bilinear sampling as a
weighted gather over zero-padded channels-last maps with ``F.embedding_bag``. ``"fused"`` (CPU, needs numba;
:mod:`lt_core.ops._fused`) reads the same padded channels-last table from compiled kernels that take a block of 64
voxels through projection, taps, gather, aggregation over the views and transposition into the volume in one pass,
with the channel arithmetic on 16-element vectors; it writes nothing of size views x voxels to memory and is the
fastest on the CPU (forward and backward). The gather and fused backends treat the grid and the cameras as
constants (no gradient flows into them); all three are differentiable w.r.t. the features and the confidences.
``"auto"`` (the default) picks fused on the CPU (gather when numba is missing) and grid_sample elsewhere, or when
the grid or the cameras require a gradient. :func:`unproject_features_loop` is the per-sample, per-view reference.

Geometry (projection, masks, sampling positions and weights) is computed in at least float32 with autocast
disabled, so the module is safe under mixed precision; half-precision features are sampled in float32.

Grids come from :func:`lt_core.ops.grid.make_cuboid_grid` (re-exported here with :func:`project_grid` and
:func:`autocast_disabled`); volumes produced here are index-aligned with the grid, so
``soft_argmax_3d(volumes, beta, grid)`` returns world millimetres.
"""

from __future__ import annotations

import math
from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor

from lt_core.camera import Camera
from lt_core.checks import normalize_sum
from lt_core.conventions import check_convention, rules, sampling_bounds, sampling_transform
from lt_core.ops._gather import GATHER_CHUNK_ELEMENTS, GatherTaps, unproject_gather
from lt_core.ops.grid import autocast_disabled, geometry_dtype, make_cuboid_grid, project_grid

__all__ = [
    "AGGREGATIONS",
    "BACKENDS",
    "autocast_disabled",
    "Aggregation",
    "Backend",
    "make_cuboid_grid",
    "project_grid",
    "unproject_features",
    "unproject_features_loop",
]

Aggregation = Literal["sum", "conf", "softmax"]
AGGREGATIONS: tuple[str, ...] = ("sum", "conf", "softmax")
"""Supported view aggregations."""

Backend = Literal["auto", "fused", "gather", "grid_sample"]
BACKENDS: tuple[str, ...] = ("auto", "fused", "gather", "grid_sample")
"""Sampling implementations of :func:`unproject_features` (``"auto"``: fused on the CPU when numba is installed,
else gather; grid_sample elsewhere)."""


_FUSED = None
"""The :mod:`lt_core.ops._fused` module once imported, False when numba is missing, None before the first use."""


def fused_available() -> bool:
    """Whether the compiled ``"fused"`` CPU backend can run (it needs numba)."""
    global _FUSED
    if _FUSED is None:
        try:
            from lt_core.ops import _fused

            _FUSED = _fused
        except ImportError:
            _FUSED = False
    return _FUSED is not False


def _check_inputs(
    features: Tensor,
    cameras: Camera | Tensor,
    grid: Tensor,
    aggregation: str,
    confidences: Tensor | None,
    views_valid: Tensor | None,
) -> None:
    if features.dim() != 5:
        raise ValueError(f"features must have shape (B, C, F, h, w), got {tuple(features.shape)}")
    B, C = features.shape[:2]
    batch = tuple(cameras.batch_shape) if isinstance(cameras, Camera) else tuple(cameras.shape[:-2])
    if batch != (B, C):
        raise ValueError(f"cameras must have batch shape ({B}, {C}) to match the features, got {batch}")
    if grid.dim() != 5 or grid.shape[0] != B or grid.shape[-1] != 3:
        raise ValueError(f"grid must have shape ({B}, D, D, D, 3) (world mm), got {tuple(grid.shape)}")
    if aggregation not in AGGREGATIONS:
        raise ValueError(f"aggregation must be one of {AGGREGATIONS}, got {aggregation!r}")
    if aggregation == "conf":
        if confidences is None:
            raise ValueError("aggregation 'conf' needs per-view confidences of shape (B, C)")
        if tuple(confidences.shape) != (B, C):
            raise ValueError(f"confidences must have shape ({B}, {C}), got {tuple(confidences.shape)}")
    if views_valid is not None and tuple(views_valid.shape) != (B, C):
        raise ValueError(f"views_valid must have shape ({B}, {C}), got {tuple(views_valid.shape)}")


def _sample_dtype(features: Tensor) -> torch.dtype:
    return features.dtype if features.dtype in (torch.float32, torch.float64) else torch.float32


def _sample_grid_coordinates(idx: Tensor, depth: Tensor, h: int, w: int, convention: str) -> tuple[Tensor, Tensor]:
    """Sampling indices (..., 2) -> ``grid_sample(align_corners=False)`` coordinates (..., 2) and visibility (...).

    A voxel-view is visible when it lies in front of the camera and its index within the convention's bounds
    (:func:`lt_core.conventions.sampling_bounds`); hidden voxels are moved far outside the map, where all four
    bilinear taps fall in the zero padding (value exactly 0).
    """
    u_lo, u_hi, v_lo, v_hi = sampling_bounds((h, w), convention, dtype=idx.dtype)
    u, v = idx[..., 0], idx[..., 1]
    visible = (depth > 0) & (u >= u_lo) & (u <= u_hi) & (v >= v_lo) & (v <= v_hi)
    g = torch.stack([(u + 0.5) * (2.0 / w) - 1.0, (v + 0.5) * (2.0 / h) - 1.0], -1)
    g = torch.where(visible[..., None], g, torch.full_like(g, -3.0))
    return g, visible


def _sampling_positions(
    cameras: Camera | Tensor, points: Tensor, h: int, w: int, views_valid: Tensor | None, convention: str = "centres"
) -> tuple[Tensor, Tensor]:
    """grid_sample positions (B, C, N, 2) of world points (B, N, 3) and their visibility (B, C, N).

    Without lens distortion the convention's sampling transform is folded into the projection matrix, so one
    batched product gives the sampling indices directly.
    """
    if isinstance(cameras, Camera) and cameras.has_distortion:
        uv, depth = project_grid(cameras, points)
        T = sampling_transform((h, w), convention, dtype=uv.dtype, device=uv.device)
        idx = uv @ T[:2, :2].T
    else:
        dtype = geometry_dtype(cameras.dtype, points.dtype)
        P = (cameras.projection if isinstance(cameras, Camera) else cameras).to(dtype)
        P = sampling_transform((h, w), convention, dtype=dtype, device=P.device) @ P
        q = points.to(dtype)[:, None] @ P[..., :3].transpose(-1, -2) + P[..., None, :, 3]  # (B, C, N, 3)
        depth = q[..., 2]
        idx = q[..., :2] / torch.where(depth.abs() < 1e-9, torch.full_like(depth, 1e-9), depth)[..., None]
    g, visible = _sample_grid_coordinates(idx, depth, h, w, convention)
    if views_valid is not None:
        keep = views_valid.to(torch.bool)[..., None]
        visible = visible & keep
        g = torch.where(keep[..., None], g, torch.full_like(g, -3.0))
    return g, visible


_CPU_CHUNK_ELEMENTS = 1 << 21


def _voxel_chunk(
    device: torch.device, per_voxel: int, N: int, chunk_voxels: int | None, cpu_elements: int = _CPU_CHUNK_ELEMENTS
) -> int:
    """Voxels per step: ``chunk_voxels`` if given, else all of them off the CPU, else ``cpu_elements`` values."""
    if chunk_voxels is not None:
        return min(int(chunk_voxels), N)
    if device.type != "cpu":
        return N
    step = max(1, min(N, cpu_elements // max(1, per_voxel)))
    return -(-N // -(-N // step))  # same number of steps, evenly sized


def _sample_and_aggregate(
    maps: Tensor, g: Tensor, visible: Tensor, aggregation: str, takes_part: Tensor | None = None
) -> Tensor:
    """Sample (B*C, F, h, w) maps at (B, C, n, 2) positions and aggregate over views -> (B, F, n).

    Hidden voxels (``visible`` False) already sample exactly 0 (their positions lie far outside the maps).
    ``takes_part``: optional (B, C) bool views that take part in the softmax even where they do not see a voxel
    (with the value 0; the official convention), else only the visible views take part.
    """
    B, C, n, _ = g.shape
    Fc = maps.shape[1]
    sampled = F.grid_sample(
        maps, g.reshape(B * C, 1, n, 2), mode="bilinear", padding_mode="zeros", align_corners=False
    ).reshape(B, C, Fc, n)
    if aggregation in ("sum", "conf"):  # "conf" weights were folded into the maps
        return sampled.sum(1)
    mask = visible if takes_part is None else visible | takes_part[:, :, None]
    logits = sampled.masked_fill(~mask[:, :, None, :], float("-inf"))
    top = logits.detach().amax(1, keepdim=True)
    top = torch.where(torch.isfinite(top), top, torch.zeros_like(top))  # voxels no view sees
    e = torch.exp(logits - top)  # 0 for views that take no part
    return (e * sampled).sum(1) / e.sum(1).clamp_min(torch.finfo(sampled.dtype).tiny)


def _normalized_confidences(confidences: Tensor, valid: Tensor) -> Tensor:
    """(B, C) non-negative confidences -> weights over valid views summing to 1 per sample."""
    w = confidences * valid.to(confidences.dtype)
    return normalize_sum(w, 1)


def _resolve_backend(
    backend: str, features: Tensor, cameras: Camera | Tensor, grid: Tensor, convention: str = "centres"
) -> str:
    if backend not in BACKENDS:
        raise ValueError(f"backend must be one of {BACKENDS}, got {backend!r}")
    if backend == "gather" and convention != "centres":
        raise ValueError(
            f"backend 'gather' implements the 'centres' convention only, got {convention!r}; use "
            "'fused' (CPU) or 'grid_sample'"
        )
    if backend != "auto":
        return backend
    if features.device.type != "cpu":
        return "grid_sample"
    geometry = [grid] + ([cameras.K, cameras.R, cameras.t, cameras.dist] if isinstance(cameras, Camera) else [cameras])
    if torch.is_grad_enabled() and any(x is not None and x.requires_grad for x in geometry):
        return "grid_sample"  # the fused and gather backends treat the geometry as constant
    if fused_available():
        return "fused"
    return "gather" if convention == "centres" else "grid_sample"


def _convention_of(cameras: Camera | Tensor, convention: str | None) -> str:
    """The explicit ``convention``, else the cameras' (``"centres"`` for projection matrices); a convention that
    contradicts the cameras' raises."""
    own = cameras.convention if isinstance(cameras, Camera) else None
    if convention is None:
        return own or "centres"
    convention = check_convention(convention)
    if own is not None and own != convention:
        raise ValueError(
            f"convention {convention!r} contradicts the cameras' convention {own!r}; build the cameras "
            "with the convention you want (lt_core.conventions)"
        )
    return convention


def unproject_features(
    features: Tensor,
    cameras: Camera | Tensor,
    grid: Tensor,
    aggregation: Aggregation = "softmax",
    confidences: Tensor | None = None,
    views_valid: Tensor | None = None,
    return_visibility: bool = False,
    chunk_voxels: int | None = None,
    backend: Backend = "auto",
    convention: str | None = None,
):
    """Unproject multi-view feature maps into voxel grids, all samples and views in one call.

    Args:
        features: (B, C, F, h, w) feature maps (any float dtype).
        cameras: :class:`Camera` with batch shape (B, C) in the feature maps' pixel frame (image cameras resized
            by ``h / H``), or (B, C, 3, 4) projection matrices in that frame.
        grid: (B, D1, D2, D3, 3) voxel centres in world mm (see :func:`make_cuboid_grid`).
        aggregation: ``"sum"``, ``"conf"`` or ``"softmax"`` (see the module docstring).
        confidences: (B, C) non-negative per-view confidences, required by ``"conf"``; normalised over the valid
            views here (weights sum to 1 per sample).
        views_valid: optional (B, C) bool; missing views contribute nothing.
        return_visibility: also return the (B, C, D1, D2, D3) boolean mask of voxels each view sees.
        chunk_voxels: voxels processed per step. ``None``: the whole grid in one step on GPUs; on the CPU steps
            small enough for the per-step temporaries to stay in cache (fused: voxels per task, rounded up to
            whole 64-voxel blocks; by default about two tasks per torch thread).
        backend: how the maps are sampled. ``"fused"``: compiled CPU kernels (numba) doing projection,
            sampling and aggregation in one pass per voxel block, the fastest on the CPU; threads follow
            ``torch.get_num_threads()``. ``"gather"``: a weighted gather (``F.embedding_bag`` over channels-last
            maps), pure PyTorch. Both treat the grid and the cameras as constants (no gradient flows into them).
            ``"grid_sample"``: ``F.grid_sample``, differentiable w.r.t. the geometry too, any device. ``"auto"``:
            fused on the CPU (gather without numba), grid_sample elsewhere or when the grid or the cameras require
            a gradient. All agree up to float rounding and are differentiable w.r.t. the features (and the
            confidences).
        convention: where a voxel samples a map and which views take part in the softmax
            (:mod:`lt_core.conventions`): ``"centres"`` (see the module docstring) or ``"official"`` (the paper's
            released code: sampling index ``(u (w - 1) / h, v (h - 1) / w)``, zero padding instead of a border,
            every valid view in the softmax with 0 where it does not see the voxel). ``None``: the cameras'
            convention (``"centres"`` for projection matrices). The gather backend implements ``"centres"`` only.

    Returns:
        (B, F, D1, D2, D3) aggregated volume, index-aligned with ``grid``; dtype float32/float64 (half inputs are
        promoted). With ``return_visibility``, the tuple ``(volume, visibility)``.
    """
    _check_inputs(features, cameras, grid, aggregation, confidences, views_valid)
    if chunk_voxels is not None and chunk_voxels < 1:
        raise ValueError(f"chunk_voxels must be positive, got {chunk_voxels}")
    convention = _convention_of(cameras, convention)
    backend = _resolve_backend(backend, features, cameras, grid, convention)
    B, C, Fc, h, w = features.shape
    spatial = grid.shape[1:4]
    N = spatial[0] * spatial[1] * spatial[2]
    sdtype = _sample_dtype(features)
    with autocast_disabled(features.device):
        maps = features.to(sdtype)
        weights = None
        if aggregation == "conf":
            valid = (
                torch.ones(B, C, dtype=torch.bool, device=features.device)
                if views_valid is None
                else views_valid.to(torch.bool)
            )
            weights = _normalized_confidences(confidences.to(sdtype), valid)
        if backend in ("fused", "gather"):  # both take the points in the geometry's precision
            points = grid.reshape(B, N, 3).to(geometry_dtype(cameras.dtype, grid.dtype))
        if backend == "fused":
            if not fused_available():
                raise RuntimeError("backend 'fused' needs numba (pip install numba); backend 'gather' needs nothing")
            if features.device.type != "cpu":
                raise ValueError(f"backend 'fused' runs on the CPU, got features on {features.device}")
            geometry = _FUSED.FusedGeometry(cameras, points, views_valid, h, w, convention)
            volume, visible = _FUSED.fused_unproject(
                maps, weights, geometry, aggregation, return_visibility, chunk_voxels
            )
        elif backend == "gather":
            step = _voxel_chunk(features.device, 16 * C + Fc, N, chunk_voxels, GATHER_CHUNK_ELEMENTS)
            taps = GatherTaps(cameras, points, views_valid, h, w, sdtype, step)
            volume, visible = unproject_gather(maps, taps, N, aggregation, weights, step, return_visibility)
        else:
            # (B, C, N, 2) sampling positions, (B, C, N) visibility; hidden voxels sample exactly 0
            g, visible = _sampling_positions(cameras, grid.reshape(B, N, 3), h, w, views_valid, convention)
            takes_part = None
            if aggregation == "softmax" and rules(convention).softmax_views == "valid":
                takes_part = (
                    torch.ones(B, C, dtype=torch.bool, device=features.device)
                    if views_valid is None
                    else views_valid.to(device=features.device, dtype=torch.bool)
                )
            if weights is not None:
                maps = maps * weights[:, :, None, None, None]  # sampling is linear: weight the small maps
            maps = maps.reshape(B * C, Fc, h, w)
            g = g.to(sdtype)
            step = _voxel_chunk(features.device, B * C * Fc, N, chunk_voxels)
            parts = [
                _sample_and_aggregate(
                    maps, g[:, :, n0 : n0 + step], visible[:, :, n0 : n0 + step], aggregation, takes_part
                )
                for n0 in range(0, N, step)
            ]
            volume = parts[0] if len(parts) == 1 else torch.cat(parts, -1)
    volume = volume.reshape(B, Fc, *spatial)
    if return_visibility:
        return volume, visible.reshape(B, C, *spatial)
    return volume


def unproject_features_loop(
    features: Tensor,
    cameras: Camera | Tensor,
    grid: Tensor,
    aggregation: Aggregation = "softmax",
    confidences: Tensor | None = None,
    views_valid: Tensor | None = None,
    convention: str | None = None,
) -> Tensor:
    """Per-sample, per-view reference of :func:`unproject_features` (for tests and as the benchmark baseline).

    The straightforward implementation: for every sample and view, project the grid into that view, sample that
    view's map with ``F.grid_sample`` and accumulate (``"sum"``, ``"conf"``); ``"softmax"`` keeps the per-view
    volumes of a sample and aggregates them at the end. Same arguments and result as :func:`unproject_features`
    (without ``return_visibility``).
    """
    _check_inputs(features, cameras, grid, aggregation, confidences, views_valid)
    convention = _convention_of(cameras, convention)
    B, C, Fc, h, w = features.shape
    spatial = grid.shape[1:4]
    sdtype = _sample_dtype(features)
    zero_views_take_part = rules(convention).softmax_views == "valid"
    out = []
    for b in range(B):
        points = grid[b].reshape(1, -1, 3)
        if aggregation == "conf":
            weights = [
                confidences[b, c].to(sdtype)
                if views_valid is None or bool(views_valid[b, c])
                else confidences.new_zeros((), dtype=sdtype)
                for c in range(C)
            ]
            total = sum(weights).clamp_min(torch.finfo(sdtype).tiny)
        acc, per_view, masks = None, [], []
        for c in range(C):
            uv, depth = project_grid(cameras[b : b + 1, c : c + 1], points)  # (1, 1, N, 2), (1, 1, N)
            T = sampling_transform((h, w), convention, dtype=uv.dtype, device=uv.device)
            idx = uv[0, 0] @ T[:2, :2].T  # (N, 2) sampling indices
            u, v, z = idx[:, 0], idx[:, 1], depth[0, 0]
            u_lo, u_hi, v_lo, v_hi = sampling_bounds((h, w), convention, dtype=idx.dtype)
            seen = (z > 0) & (u >= u_lo) & (u <= u_hi) & (v >= v_lo) & (v <= v_hi)
            valid = views_valid is None or bool(views_valid[b, c])
            if not valid:
                seen = torch.zeros_like(seen)
            pos = torch.stack([(u + 0.5) / w * 2 - 1, (v + 0.5) / h * 2 - 1], -1)
            pos = torch.where(seen[:, None], pos, torch.full_like(pos, -3.0))  # unseen: all taps in the padding
            vol = F.grid_sample(
                features[b, c][None].to(sdtype),
                pos.to(sdtype)[None, None],
                mode="bilinear",
                padding_mode="zeros",
                align_corners=False,
            )[0, :, 0]  # (F, N)
            if aggregation == "sum":
                acc = vol if acc is None else acc.add_(vol)
            elif aggregation == "conf":
                acc = vol * (weights[c] / total) if acc is None else acc.addcmul_(vol, weights[c] / total)
            else:
                per_view.append(vol)
                masks.append(torch.full_like(seen, valid) if zero_views_take_part else seen)
        if aggregation == "softmax":
            stacked = torch.stack(per_view)  # (C, F, N)
            part = torch.stack(masks)[:, None, :].expand_as(stacked)
            logits = torch.where(part, stacked, torch.full_like(stacked, -math.inf))
            soft = torch.softmax(logits, 0).nan_to_num(0.0)  # voxels no view takes part in: all weights 0
            acc = (soft * stacked).sum(0)  # views not seeing the voxel sampled exactly 0
        out.append(acc.reshape(Fc, *spatial))
    return torch.stack(out)
