"""Voxel grids and their projection: the geometry the unprojection and the volumetric model share.

:func:`make_cuboid_grid` lays a (possibly rotated) cube of voxel centres around a root, :func:`project_grid` projects
the same world points into every view of a sample, and :func:`autocast_disabled` keeps geometry out of mixed
precision. Grid layout: ``grid[b, i, j, k] = centre_b + R_z(theta_b) @ (s * (i, j, k) - side / 2)`` with
``s = side / (D - 1)``: the first voxel axis runs along world ``x``, the second along ``y``, the third along ``z``
(before the optional rotation about ``z``).
"""

from __future__ import annotations

import contextlib

import torch
from torch import Tensor

from lt_core.camera import Camera
from lt_core.lens import distort_normalized

__all__ = ["autocast_disabled", "geometry_dtype", "make_cuboid_grid", "project_grid"]


def autocast_disabled(device: torch.device):
    """A context that disables autocast on ``device`` (a no-op where autocast does not exist).

    Used around geometry (projections, triangulation, grids) so it runs in float32/float64 under mixed precision.
    """
    try:
        return torch.autocast(device_type=device.type, enabled=False)
    except (RuntimeError, ValueError):  # pragma: no cover - device types without autocast
        return contextlib.nullcontext()


def geometry_dtype(*dtypes: torch.dtype) -> torch.dtype:
    """float64 if any input is float64, else float32 (never half precision)."""
    return torch.float64 if torch.float64 in dtypes else torch.float32


def make_cuboid_grid(center: Tensor, side: float = 2500.0, D: int = 64, rotation_z: Tensor | None = None) -> Tensor:
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
    dtype = geometry_dtype(center.dtype)
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


def _camera_tensors(cameras: Camera, dtype: torch.dtype) -> tuple[Tensor, Tensor, Tensor, Tensor | None]:
    """K, R, t and (only when non-zero) dist of ``cameras`` in ``dtype``."""
    dist = cameras.dist.to(dtype) if cameras.has_distortion else None
    return cameras.K.to(dtype), cameras.R.to(dtype), cameras.t.to(dtype), dist


def project_grid(cameras: Camera | Tensor, points: Tensor) -> tuple[Tensor, Tensor]:
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
    dtype = geometry_dtype(cam_dtype, points.dtype)
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
            xy = distort_normalized(xy, dist, cameras.distortion_model)  # (B, C, N, 2) with dist (B, C, 5)
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
