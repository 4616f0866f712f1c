"""Unprojection of 2D feature maps into a 3D cuboid around the person (the volumetric model's lifting step).

Every voxel centre of a world-space grid is projected into every view; the view's feature map is sampled there
bilinearly and the per-view volumes are aggregated into one ``(B, F, D, D, D)`` volume:

- ``"sum"``: plain sum over the views that see the voxel;
- ``"conf"``: sum weighted by per-view confidences ``(B, C)`` normalised over the (valid) views;
- ``"softmax"``: per voxel and per channel, the views are weighted by a softmax over views of the sampled
  features themselves, ``sum_c softmax_c(f_c) * f_c`` (the released model's aggregation).

Pixel convention (docs/CONVENTIONS.md): integer pixel coordinates are pixel centres, a ``w``-pixel-wide map covers
``u`` in ``[-0.5, w - 0.5]``. ``F.grid_sample`` with ``align_corners=False`` uses the same convention once
``u`` is normalised as ``(u + 0.5) / w * 2 - 1``. Cameras must describe the feature maps, i.e. be the image
cameras resized to the feature resolution with :meth:`lt_core.camera.Camera.resize`. (The released code mapped
``u`` to ``2 u / w - 1`` with ``align_corners=True``, a sub-pixel scale and offset error not repeated here.)

A voxel contributes nothing from a view when it lies behind that camera (depth <= 0), projects outside the map
(the ``[-0.5, w - 0.5] x [-0.5, h - 0.5]`` rectangle), or the view is marked missing. The softmax aggregation
runs over the views that do see the voxel; the released model instead let those views take part with a value of
0, which differs only for voxels that some camera does not see. A voxel seen by no view is 0.

Geometry (projection, masks, normalised sampling positions) is computed in at least float32 with autocast
disabled, so the module is safe under mixed precision; half-precision features are sampled in float32.

Grid layout (:func:`make_cuboid_grid`): ``grid[b, i, j, k] = centre_b + R_z(theta_b) @ (s * (i, j, k) - side / 2)``
with ``s = side / (D - 1)``: the first voxel axis runs along world ``x``, the second along ``y``, the third along
``z`` (before the optional rotation about ``z``). Volumes produced here are index-aligned with the grid, so
``soft_argmax_3d(volumes, beta, grid)`` returns world millimetres.
"""

from __future__ import annotations

import contextlib
import math
from typing import Literal, Optional, Union

import torch
import torch.nn.functional as F
from torch import Tensor

from ..camera import Camera

__all__ = [
    "AGGREGATIONS",
    "autocast_disabled",
    "Aggregation",
    "make_cuboid_grid",
    "project_grid",
    "unproject_features",
    "unproject_features_loop",
]

Aggregation = Literal["sum", "conf", "softmax"]
AGGREGATIONS: tuple[str, ...] = ("sum", "conf", "softmax")
"""Supported view aggregations."""


def autocast_disabled(device: torch.device):
    """A context that disables autocast on ``device`` (a no-op where autocast does not exist).

    Used around geometry (projections, triangulation, grids) so it runs in float32/float64 under mixed precision.
    """
    try:
        return torch.autocast(device_type=device.type, enabled=False)
    except (RuntimeError, ValueError):  # pragma: no cover - device types without autocast
        return contextlib.nullcontext()


def _geometry_dtype(*dtypes: torch.dtype) -> torch.dtype:
    """float64 if any input is float64, else float32 (never half precision)."""
    return torch.float64 if torch.float64 in dtypes else torch.float32


def make_cuboid_grid(center: Tensor, side: float = 2500.0, D: int = 64,
                     rotation_z: Optional[Tensor] = None) -> Tensor:
    """World coordinates of the voxel centres of cubes around given centres.

    Voxels are spaced ``side / (D - 1)``: the outermost voxel centres lie on the cube's faces, as in the released
    model (``D = 64``, ``side = 2500`` mm gives 39.7 mm voxels).

    Args:
        center: (B, 3) cube centres in world mm (e.g. the pelvis). Not detached; pass ``center.detach()`` when
            no gradient should flow into the grid.
        side: cube side in mm.
        D: voxels per side (>= 2).
        rotation_z: optional (B,) angles in radians; the cube is rotated about the world ``z`` (vertical) axis
            through its centre, counter-clockwise seen from above.

    Returns:
        (B, D, D, D, 3) voxel centres in world mm, ``grid[b, i, j, k] = center[b] + R_z @ (s*i - side/2,
        s*j - side/2, s*k - side/2)``: axis 1 runs along world x, axis 2 along y, axis 3 along z (unrotated).
        The dtype is ``center``'s if it is float32/float64, else float32.
    """
    if center.dim() != 2 or center.shape[-1] != 3:
        raise ValueError(f"center must have shape (B, 3) (world mm), got {tuple(center.shape)}")
    if D < 2:
        raise ValueError(f"D must be at least 2 voxels per side, got {D}")
    if not side > 0:
        raise ValueError(f"side must be positive (mm), got {side}")
    dtype = _geometry_dtype(center.dtype)
    device = center.device
    with autocast_disabled(device):
        center = center.to(dtype)
        ticks = torch.arange(D, dtype=dtype, device=device) * (side / (D - 1)) - side / 2
        ii, jj, kk = torch.meshgrid(ticks, ticks, ticks, indexing="ij")
        offsets = torch.stack([ii, jj, kk], -1)  # (D, D, D, 3)
        B = center.shape[0]
        if rotation_z is None:
            return center[:, None, None, None, :] + offsets[None]
        theta = torch.as_tensor(rotation_z, device=device).to(dtype).reshape(-1)
        if theta.shape[0] != B:
            raise ValueError(f"rotation_z must have shape ({B},), got {tuple(theta.shape)}")
        c, s = torch.cos(theta), torch.sin(theta)
        zero, one = torch.zeros_like(c), torch.ones_like(c)
        Rz = torch.stack([c, -s, zero, s, c, zero, zero, zero, one], -1).reshape(B, 3, 3)
        rotated = torch.einsum("bxy,ijky->bijkx", Rz, offsets)
        return center[:, None, None, None, :] + rotated


def _camera_tensors(cameras: Camera, dtype: torch.dtype) -> tuple[Tensor, Tensor, Tensor, Optional[Tensor]]:
    """K, R, t and (only when non-zero) dist of ``cameras`` in ``dtype``."""
    dist = cameras.dist.to(dtype) if cameras.has_distortion else None
    return cameras.K.to(dtype), cameras.R.to(dtype), cameras.t.to(dtype), dist


def _distort(xy: Tensor, dist: Tensor) -> Tensor:
    """OpenCV distortion of normalised coordinates (B, C, N, 2) with dist (B, C, 5)."""
    k1, k2, p1, p2, k3 = (dist[..., i, None] for i in range(5))
    x, y = xy[..., 0], xy[..., 1]
    r2 = x * x + y * y
    radial = 1 + r2 * (k1 + r2 * (k2 + r2 * k3))
    xd = x * radial + 2 * p1 * x * y + p2 * (r2 + 2 * x * x)
    yd = y * radial + p1 * (r2 + 2 * y * y) + 2 * p2 * x * y
    return torch.stack([xd, yd], -1)


def project_grid(cameras: Union[Camera, Tensor], points: Tensor) -> tuple[Tensor, Tensor]:
    """Project the same world points into all views of each sample.

    Args:
        cameras: a :class:`Camera` with batch shape (B, C) (distortion applied when present), or (B, C, 3, 4)
            projection matrices ``K [R | t]`` (ideal pinhole).
        points: (B, N, 3) world mm.

    Returns:
        ``(uv, depth)``: (B, C, N, 2) pixels and (B, C, N) depth along the optical axis in mm (``<= 0``: behind
        the camera; such points get meaningless pixels). Computed in float64 if the cameras or points are
        float64, else float32.
    """
    if points.dim() != 3 or points.shape[-1] != 3:
        raise ValueError(f"points must have shape (B, N, 3), got {tuple(points.shape)}")
    cam_dtype = cameras.dtype if isinstance(cameras, Camera) else cameras.dtype
    dtype = _geometry_dtype(cam_dtype, points.dtype)
    X = points.to(dtype)[:, None]  # (B, 1, N, 3)
    if isinstance(cameras, Camera):
        K, R, t, dist = _camera_tensors(cameras, dtype)
        if K.dim() != 4:
            raise ValueError(f"cameras must have batch shape (B, C), got {tuple(cameras.batch_shape)}")
        Xc = X @ R.transpose(-1, -2) + t[..., None, :]  # (B, C, N, 3)
        depth = Xc[..., 2]
        z = torch.where(depth.abs() < 1e-9, torch.full_like(depth, 1e-9), depth)[..., None]
        xy = Xc[..., :2] / z
        if dist is not None:
            xy = _distort(xy, dist)
        x, y = xy[..., 0], xy[..., 1]
        u = K[..., 0, 0, None] * x + K[..., 0, 1, None] * y + K[..., 0, 2, None]
        v = K[..., 1, 1, None] * y + K[..., 1, 2, None]
        return torch.stack([u, v], -1), depth
    P = cameras.to(dtype)
    if P.dim() != 4 or P.shape[-2:] != (3, 4):
        raise ValueError(f"projection matrices must have shape (B, C, 3, 4), got {tuple(P.shape)}")
    q = X @ P[..., :3].transpose(-1, -2) + P[..., None, :, 3]  # (B, C, N, 3)
    depth = q[..., 2]
    z = torch.where(depth.abs() < 1e-9, torch.full_like(depth, 1e-9), depth)[..., None]
    return q[..., :2] / z, depth


def _check_inputs(features: Tensor, cameras: Union[Camera, Tensor], grid: Tensor, aggregation: str,
                  confidences: Optional[Tensor], views_valid: Optional[Tensor]) -> None:
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


def _normalized_positions(uv: Tensor, depth: Tensor, h: int, w: int) -> tuple[Tensor, Tensor]:
    """Pixels (..., 2) -> grid_sample coordinates (..., 2) and the visibility mask (...)."""
    u, v = uv[..., 0], uv[..., 1]
    visible = (depth > 0) & (u >= -0.5) & (u <= w - 0.5) & (v >= -0.5) & (v <= h - 0.5)
    g = torch.stack([(u + 0.5) * (2.0 / w) - 1.0, (v + 0.5) * (2.0 / h) - 1.0], -1)
    # hidden voxels sample far outside the map: all four bilinear taps fall in the zero padding, value exactly 0
    g = torch.where(visible[..., None], g, torch.full_like(g, -3.0))
    return g, visible


def _sampling_positions(cameras: Union[Camera, Tensor], points: Tensor, h: int, w: int,
                        views_valid: Optional[Tensor]) -> tuple[Tensor, Tensor]:
    """grid_sample positions (B, C, N, 2) of world points (B, N, 3) and their visibility (B, C, N).

    Without lens distortion the pixel normalisation ``(u + 0.5) * 2 / w - 1`` is folded into the projection
    matrix, so one batched product gives the sampling positions directly.
    """
    if isinstance(cameras, Camera) and cameras.has_distortion:
        uv, depth = project_grid(cameras, points)
        g, visible = _normalized_positions(uv, depth, h, w)
    else:
        dtype = _geometry_dtype(cameras.dtype, points.dtype)
        P = (cameras.projection if isinstance(cameras, Camera) else cameras).to(dtype)
        A = torch.tensor([[2.0 / w, 0.0, 1.0 / w - 1.0], [0.0, 2.0 / h, 1.0 / h - 1.0], [0.0, 0.0, 1.0]],
                         dtype=dtype, device=P.device)
        P = A @ P  # (B, C, 3, 4): world mm -> homogeneous normalised sampling coordinates
        q = points.to(dtype)[:, None] @ P[..., :3].transpose(-1, -2) + P[..., None, :, 3]  # (B, C, N, 3)
        z = q[..., 2:]
        g = q[..., :2] / torch.where(z.abs() < 1e-9, torch.full_like(z, 1e-9), z)
        visible = (z[..., 0] > 0) & (g.abs() <= 1.0).all(-1)
        g = torch.where(visible[..., None], g, torch.full_like(g, -3.0))
    if views_valid is not None:
        keep = views_valid.to(torch.bool)[..., None]
        visible = visible & keep
        g = torch.where(keep[..., None], g, torch.full_like(g, -3.0))
    return g, visible


_CPU_CHUNK_ELEMENTS = 1 << 21


def _voxel_chunk(device: torch.device, per_voxel: int, N: int, chunk_voxels: Optional[int]) -> int:
    """Voxels per step: ``chunk_voxels`` if given, else all of them off the CPU, else ~2M sampled values."""
    if chunk_voxels is not None:
        if chunk_voxels < 1:
            raise ValueError(f"chunk_voxels must be positive, got {chunk_voxels}")
        return min(int(chunk_voxels), N)
    if device.type != "cpu":
        return N
    return max(1, min(N, _CPU_CHUNK_ELEMENTS // max(1, per_voxel)))


def _sample_and_aggregate(maps: Tensor, g: Tensor, visible: Tensor, aggregation: str) -> Tensor:
    """Sample (B*C, F, h, w) maps at (B, C, n, 2) positions and aggregate over views -> (B, F, n).

    Hidden voxels (``visible`` False) already sample exactly 0 (their positions lie far outside the maps).
    """
    B, C, n, _ = g.shape
    Fc = maps.shape[1]
    sampled = F.grid_sample(maps, g.reshape(B * C, 1, n, 2), mode="bilinear", padding_mode="zeros",
                            align_corners=False).reshape(B, C, Fc, n)
    if aggregation in ("sum", "conf"):  # "conf" weights were folded into the maps
        return sampled.sum(1)
    logits = sampled.masked_fill(~visible[:, :, None, :], float("-inf"))
    top = logits.detach().amax(1, keepdim=True)
    top = torch.where(torch.isfinite(top), top, torch.zeros_like(top))  # voxels no view sees
    e = torch.exp(logits - top)  # 0 for hidden views
    return (e * sampled).sum(1) / e.sum(1).clamp_min(torch.finfo(sampled.dtype).tiny)


def _normalized_confidences(confidences: Tensor, valid: Tensor) -> Tensor:
    """(B, C) non-negative confidences -> weights over valid views summing to 1 per sample."""
    w = confidences * valid.to(confidences.dtype)
    return w / w.sum(1, keepdim=True).clamp_min(torch.finfo(w.dtype).tiny)


def unproject_features(
    features: Tensor,
    cameras: Union[Camera, Tensor],
    grid: Tensor,
    aggregation: Aggregation = "softmax",
    confidences: Optional[Tensor] = None,
    views_valid: Optional[Tensor] = None,
    return_visibility: bool = False,
    chunk_voxels: Optional[int] = None,
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
        chunk_voxels: voxels processed per step (all samples and views at once in each step). ``None``: the
            whole grid in one step on GPUs; on the CPU steps whose per-view samples stay near 8 MB, since large
            fresh allocations (page faults) cost more there than the extra steps.

    Returns:
        (B, F, D1, D2, D3) aggregated volume, index-aligned with ``grid``; dtype float32/float64 (half inputs are
        promoted). With ``return_visibility``, the tuple ``(volume, visibility)``.
    """
    _check_inputs(features, cameras, grid, aggregation, confidences, views_valid)
    B, C, Fc, h, w = features.shape
    spatial = grid.shape[1:4]
    N = spatial[0] * spatial[1] * spatial[2]
    sdtype = _sample_dtype(features)
    with autocast_disabled(features.device):
        # (B, C, N, 2) sampling positions, (B, C, N) visibility; hidden voxels sample exactly 0
        g, visible = _sampling_positions(cameras, grid.reshape(B, N, 3), h, w, views_valid)
        maps = features.reshape(B, C, Fc, h, w).to(sdtype)
        if aggregation == "conf":
            valid = (torch.ones(B, C, dtype=torch.bool, device=features.device) if views_valid is None
                     else views_valid.to(torch.bool))
            weights = _normalized_confidences(confidences.to(sdtype), valid)
            maps = maps * weights[:, :, None, None, None]  # sampling is linear: weight the small maps
        maps = maps.reshape(B * C, Fc, h, w)
        g = g.to(sdtype)
        step = _voxel_chunk(features.device, B * C * Fc, N, chunk_voxels)
        parts = [_sample_and_aggregate(maps, g[:, :, n0:n0 + step], visible[:, :, n0:n0 + step], aggregation)
                 for n0 in range(0, N, step)]
        volume = parts[0] if len(parts) == 1 else torch.cat(parts, -1)
    volume = volume.reshape(B, Fc, *spatial)
    if return_visibility:
        return volume, visible.reshape(B, C, *spatial)
    return volume


def unproject_features_loop(
    features: Tensor,
    cameras: Union[Camera, Tensor],
    grid: Tensor,
    aggregation: Aggregation = "softmax",
    confidences: Optional[Tensor] = None,
    views_valid: Optional[Tensor] = None,
) -> Tensor:
    """Per-sample, per-view reference of :func:`unproject_features` (slow; for tests and benchmarks).

    Projects the grid into one view at a time, samples that view's map on its own and aggregates with explicit
    loops over views. Same arguments and result as :func:`unproject_features` (without ``return_visibility``).
    """
    _check_inputs(features, cameras, grid, aggregation, confidences, views_valid)
    B, C, Fc, h, w = features.shape
    spatial = grid.shape[1:4]
    sdtype = _sample_dtype(features)
    out = []
    for b in range(B):
        points = grid[b].reshape(1, -1, 3)
        per_view, masks = [], []
        for c in range(C):
            cam = cameras[b:b + 1, c:c + 1]
            uv, depth = project_grid(cam, points)  # (1, 1, N, 2), (1, 1, N)
            u, v, z = uv[0, 0, :, 0], uv[0, 0, :, 1], depth[0, 0]
            seen = (z > 0) & (u >= -0.5) & (u <= w - 0.5) & (v >= -0.5) & (v <= h - 0.5)
            if views_valid is not None and not bool(views_valid[b, c]):
                seen = torch.zeros_like(seen)
            pos = torch.stack([(u + 0.5) / w * 2 - 1, (v + 0.5) / h * 2 - 1], -1)
            pos = torch.where(seen[:, None], pos, torch.full_like(pos, -3.0))
            vol = F.grid_sample(features[b, c][None].to(sdtype), pos.to(sdtype)[None, None],
                                mode="bilinear", padding_mode="zeros", align_corners=False)[0, :, 0]  # (F, N)
            per_view.append(vol)
            masks.append(seen)
        if aggregation == "sum":
            acc = sum(vol * m.to(sdtype) for vol, m in zip(per_view, masks))
        elif aggregation == "conf":
            weights = []
            for c in range(C):
                ok = views_valid is None or bool(views_valid[b, c])
                weights.append(confidences[b, c].to(sdtype) if ok else confidences.new_zeros((), dtype=sdtype))
            total = sum(weights)
            acc = sum(vol * m.to(sdtype) * (wc / total) for vol, m, wc in zip(per_view, masks, weights))
        else:
            stacked = torch.stack(per_view)  # (C, F, N)
            seen = torch.stack(masks)[:, None, :].expand_as(stacked)
            logits = torch.where(seen, stacked, torch.full_like(stacked, -math.inf))
            soft = torch.softmax(logits, 0).nan_to_num(0.0)  # voxels no view sees: all weights 0
            acc = (soft * torch.where(seen, stacked, torch.zeros_like(stacked))).sum(0)
        out.append(acc.reshape(Fc, *spatial))
    return torch.stack(out)
