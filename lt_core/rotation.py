"""Rotation helpers: axis-angle (Rodrigues) vectors and rotation matrices.

All functions are batched over leading dimensions and differentiable.
"""

from __future__ import annotations

import torch
from torch import Tensor

from lt_core.checks import check_shape

__all__ = ["rodrigues_to_matrix", "matrix_to_rodrigues", "rotation_about_axis", "is_rotation"]


def rodrigues_to_matrix(rvec: Tensor) -> Tensor:
    """Convert axis-angle vectors to rotation matrices (Rodrigues' formula).

    Args:
        rvec: (..., 3) axis times angle in radians (OpenCV's ``rvec``).

    Returns:
        (..., 3, 3) rotation matrices.
    """
    check_shape(rvec, (3,), "rvec")
    theta2 = (rvec * rvec).sum(-1, keepdim=True)[..., None]  # (..., 1, 1)
    theta = theta2.clamp_min(1e-30).sqrt()
    x, y, z = rvec.unbind(-1)
    zero = torch.zeros_like(x)
    k = torch.stack([zero, -z, y, z, zero, -x, -y, x, zero], -1).reshape(*rvec.shape[:-1], 3, 3)
    small = theta2 < 1e-12
    # sin(t)/t and (1-cos t)/t^2 with their Taylor series near 0 (keeps gradients finite at 0)
    a = torch.where(small, 1 - theta2 / 6, torch.sin(theta) / theta)
    b = torch.where(small, 0.5 - theta2 / 24, (1 - torch.cos(theta)) / theta2.clamp_min(1e-30))
    eye = torch.eye(3, dtype=rvec.dtype, device=rvec.device).expand_as(k)
    return eye + a * k + b * (k @ k)


def matrix_to_rodrigues(R: Tensor) -> Tensor:
    """Convert rotation matrices to axis-angle vectors.

    Args:
        R: (..., 3, 3) rotation matrices.

    Returns:
        (..., 3) axis times angle in radians, angle in [0, pi].
    """
    check_shape(R, (3, 3), "R")
    # Robust route through quaternions (Shepperd's method without branches on the batch).
    m = R
    trace = m[..., 0, 0] + m[..., 1, 1] + m[..., 2, 2]
    q = torch.stack(
        [
            1 + trace,
            1 + m[..., 0, 0] - m[..., 1, 1] - m[..., 2, 2],
            1 - m[..., 0, 0] + m[..., 1, 1] - m[..., 2, 2],
            1 - m[..., 0, 0] - m[..., 1, 1] + m[..., 2, 2],
        ],
        -1,
    )
    best = q.argmax(-1, keepdim=True)
    w = torch.stack(
        [trace + 1, m[..., 2, 1] - m[..., 1, 2], m[..., 0, 2] - m[..., 2, 0], m[..., 1, 0] - m[..., 0, 1]], -1
    )
    xq = torch.stack(
        [
            m[..., 2, 1] - m[..., 1, 2],
            1 + m[..., 0, 0] - m[..., 1, 1] - m[..., 2, 2],
            m[..., 0, 1] + m[..., 1, 0],
            m[..., 0, 2] + m[..., 2, 0],
        ],
        -1,
    )
    yq = torch.stack(
        [
            m[..., 0, 2] - m[..., 2, 0],
            m[..., 0, 1] + m[..., 1, 0],
            1 - m[..., 0, 0] + m[..., 1, 1] - m[..., 2, 2],
            m[..., 1, 2] + m[..., 2, 1],
        ],
        -1,
    )
    zq = torch.stack(
        [
            m[..., 1, 0] - m[..., 0, 1],
            m[..., 0, 2] + m[..., 2, 0],
            m[..., 1, 2] + m[..., 2, 1],
            1 - m[..., 0, 0] - m[..., 1, 1] + m[..., 2, 2],
        ],
        -1,
    )
    cand = torch.stack([w, xq, yq, zq], -2)  # (..., 4, 4)
    quat = torch.gather(cand, -2, best[..., None].expand(*best.shape[:-1], 1, 4)).squeeze(-2)
    quat = quat / quat.norm(dim=-1, keepdim=True)
    quat = torch.where(quat[..., :1] < 0, -quat, quat)
    vec = quat[..., 1:]
    sin_half = vec.norm(dim=-1, keepdim=True)
    angle = 2 * torch.atan2(sin_half, quat[..., :1])
    scale = torch.where(sin_half < 1e-12, 2 * torch.ones_like(sin_half), angle / sin_half.clamp_min(1e-30))
    return vec * scale


def rotation_about_axis(angle: Tensor, axis: str = "z") -> Tensor:
    """Rotation matrices about a coordinate axis.

    Args:
        angle: (...) angles in radians.
        axis: one of ``"x"``, ``"y"``, ``"z"``.

    Returns:
        (..., 3, 3) rotation matrices (counter-clockwise when looking down the axis).
    """
    c, s = torch.cos(angle), torch.sin(angle)
    o, z = torch.ones_like(angle), torch.zeros_like(angle)
    if axis == "x":
        rows = [o, z, z, z, c, -s, z, s, c]
    elif axis == "y":
        rows = [c, z, s, z, o, z, -s, z, c]
    elif axis == "z":
        rows = [c, -s, z, s, c, z, z, z, o]
    else:
        raise ValueError(f"axis must be 'x', 'y' or 'z', got {axis!r}")
    return torch.stack(rows, -1).reshape(*angle.shape, 3, 3)


def is_rotation(R: Tensor, atol: float = 1e-4) -> Tensor:
    """Whether each matrix is a proper rotation (orthonormal, determinant +1).

    Args:
        R: (..., 3, 3) matrices.
        atol: absolute tolerance on ``R R^T - I`` and on ``det R - 1``.

    Returns:
        (...) boolean tensor.
    """
    check_shape(R, (3, 3), "R")
    eye = torch.eye(3, dtype=R.dtype, device=R.device)
    ortho = ((R @ R.transpose(-1, -2)) - eye).abs().amax((-1, -2)) <= atol
    det = (torch.linalg.det(R) - 1).abs() <= atol
    return ortho & det
