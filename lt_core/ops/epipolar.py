"""Epipolar geometry of calibrated cameras with lens distortion: viewing rays, epipolar curves, the fundamental matrix.

A pixel ``x_a`` of camera ``a`` is the image of every world point on its viewing ray
``X(s) = C_a + s d``, ``C_a = -R_a^T t_a``, ``d = R_a^T K_a^{-1} (u, v, 1)^T`` (after undistorting ``x_a``). Camera
``b`` sees that ray as the **epipolar line** of ``x_a``: the same point must be detected on it in view ``b``. For
ideal pinhole pixels the line is ``l_b = F x_a`` with the fundamental matrix
``F = K_b^{-T} [t]_x R K_a^{-1}``, ``R = R_b R_a^T``, ``t = t_b - R t_a``; with distortion the line bends into a
curve, which :func:`epipolar_curve` draws by projecting points of the ray (distortion included).
"""

from __future__ import annotations

import torch
from torch import Tensor

from lt_core.camera import Camera

__all__ = ["viewing_ray", "epipolar_curve", "fundamental_matrix", "distance_to_polyline"]


def viewing_ray(camera: Camera, uv: Tensor) -> tuple[Tensor, Tensor]:
    """Viewing ray of distorted pixels of one camera.

    Args:
        camera: a single camera (no batch dimensions).
        uv: (N, 2) distorted pixels.

    Returns:
        ``(origin, direction)``: (3,) camera centre in world mm and (N, 3) unit directions in the world.
    """
    if camera.batch_shape:
        raise ValueError(f"viewing_ray expects a single camera, got batch shape {tuple(camera.batch_shape)}")
    uv = torch.as_tensor(uv, dtype=camera.dtype)
    und = camera.undistort_points(uv)
    hom = torch.cat([und, torch.ones_like(und[..., :1])], -1)  # (N, 3)
    d_cam = torch.linalg.solve(camera.K, hom.T).T
    d = d_cam @ camera.R  # R^T d_cam, row vectors
    return camera.center, d / d.norm(dim=-1, keepdim=True)


def epipolar_curve(
    camera_a: Camera, uv: Tensor, camera_b: Camera, near: float = 300.0, far: float = 30000.0, samples: int = 400
) -> Tensor:
    """Where camera ``b`` sees the viewing ray of pixel ``uv`` of camera ``a`` (distortion included).

    Args:
        camera_a, camera_b: single cameras.
        uv: (2,) distorted pixel in camera ``a``.
        near, far: range of distances along the ray (mm), sampled geometrically.
        samples: number of ray points.

    Returns:
        (M, 2) distorted pixels of camera ``b``, ordered by distance from camera ``a``; points behind camera ``b``
        or outside its image (when ``image_size`` is known, with a 10 % margin) are dropped.
    """
    origin, d = viewing_ray(camera_a, torch.as_tensor(uv, dtype=camera_a.dtype).reshape(1, 2))
    s = torch.logspace(torch.log10(torch.tensor(near)), torch.log10(torch.tensor(far)), samples, dtype=camera_a.dtype)
    X = origin + s[:, None] * d[0]  # (M, 3)
    front = camera_b.depth(X) > 1.0
    px = camera_b.project(X)
    keep = front & torch.isfinite(px).all(-1)
    if camera_b.image_size is not None:
        W, H = (float(v) for v in camera_b.image_size.reshape(2))
        keep &= (px[:, 0] > -0.1 * W) & (px[:, 0] < 1.1 * W) & (px[:, 1] > -0.1 * H) & (px[:, 1] < 1.1 * H)
    return px[keep]


def fundamental_matrix(camera_a: Camera, camera_b: Camera) -> Tensor:
    """(3, 3) ``F`` with ``x_b^T F x_a = 0`` for ideal pinhole (undistorted) pixels of the same world point."""
    R = camera_b.R @ camera_a.R.T
    t = camera_b.t - R @ camera_a.t
    tx = torch.zeros(3, 3, dtype=t.dtype)
    tx[0, 1], tx[0, 2], tx[1, 0], tx[1, 2], tx[2, 0], tx[2, 1] = -t[2], t[1], t[2], -t[0], -t[1], t[0]
    return torch.linalg.inv(camera_b.K).T @ tx @ R @ torch.linalg.inv(camera_a.K)


def distance_to_polyline(points: Tensor, polyline: Tensor) -> Tensor:
    """Shortest distance (px) from each of (N, 2) points to a (M, 2) polyline (M >= 2); NaN points give NaN."""
    a, b = polyline[:-1], polyline[1:]  # (S, 2)
    ab = b - a
    ap = points[:, None] - a[None]  # (N, S, 2)
    t = ((ap * ab).sum(-1) / (ab * ab).sum(-1).clamp_min(1e-12)).clamp(0, 1)
    closest = a[None] + t[..., None] * ab[None]
    return (points[:, None] - closest).norm(dim=-1).amin(-1)
