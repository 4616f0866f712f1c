"""Lens distortion models, exact in both directions: OpenCV's and Human3.6M's.

Both act on normalised image coordinates ``(x, y) = (X / Z, Y / Z)`` with five numbers
``dist = (k1, k2, p1, p2, k3)``, ``r^2 = x^2 + y^2`` and the same radial factor
``radial = 1 + k1 r^2 + k2 r^4 + k3 r^6``. They differ in the tangential terms:

* ``"opencv"`` (OpenCV, Pose2Sim, anipose, EasyMocap, CMU Panoptic)::

      x_d = x radial + 2 p1 x y + p2 (r^2 + 2 x^2)
      y_d = y radial + p1 (r^2 + 2 y^2) + 2 p2 x y

* ``"h36m"`` (the Human3.6M calibration, as its own code and 3d-pose-baseline's ``project_point_radial`` apply it,
  with ``p1, p2`` in the order of ``cameras.h5``)::

      x_d = x (radial + p1 y + p2 x) + p2 r^2 = x radial + p1 x y + p2 (r^2 + x^2)
      y_d = y (radial + p1 y + p2 x) + p1 r^2 = y radial + p2 x y + p1 (r^2 + y^2)

  i.e. OpenCV's formula with the factor 2 of the tangential terms replaced by 1. No choice of OpenCV coefficients
  reproduces it (the ``x^2`` and ``r^2`` terms of ``p2`` would need different weights), so it is a model of its own.
  VideoPose3D stores the same two numbers in the other order (``tangential_distortion = [p2, p1]``).

Undistortion solves ``distort(x) = x_d`` by Newton's method with the analytic 2x2 Jacobian, in float64, to machine
precision (a compiled per-point loop when numba is present, a tensor loop otherwise). Gradients are exact too: the
result is one differentiable Newton step taken from the converged solution, whose derivative is the implicit one
``dx/dx_d = J^{-1}``, ``dx/d(dist) = -J^{-1} d(distort)/d(dist)``. A distorted point that the model cannot produce
(beyond the radius where a strong lens folds back) has no inverse and comes back NaN rather than as a wrong point;
so does a root where the Jacobian lacks two positive eigenvalues (determinant and trace > 0): a folded lens maps some
far-away rays onto the image too, but those are not the ray that produced the pixel.
"""

from __future__ import annotations

import torch
from torch import Tensor

__all__ = [
    "DISTORTION_MODELS",
    "tangential_factor",
    "distort_normalized",
    "distortion_jacobian",
    "undistort_normalized",
    "undistort_fixed_point",
]

DISTORTION_MODELS: tuple[str, ...] = ("opencv", "h36m")
"""Lens models understood by :class:`~lt_core.camera.Camera` (its ``distortion_model``)."""

_NEWTON_MAX_ITER = 30
_NEWTON_TOL = 1e-14
_ACCEPT = 1e-9  # residual in normalised units (1e-6 px at a focal length of 1000 px)

_KERNEL = None  # the compiled kernel once imported, False without numba, None before the first use


def tangential_factor(model: str) -> float:
    """Weight of the tangential cross terms: 2 for ``"opencv"``, 1 for ``"h36m"`` (see the module docstring)."""
    if model == "opencv":
        return 2.0
    if model == "h36m":
        return 1.0
    raise ValueError(f"unknown distortion model {model!r}; expected one of {DISTORTION_MODELS}")


def _coefficients(dist: Tensor) -> tuple[Tensor, ...]:
    return tuple(dist[..., i, None] for i in range(5))


def distort_normalized(xy: Tensor, dist: Tensor, model: str = "opencv") -> Tensor:
    """Apply lens distortion to normalised image coordinates.

    Args:
        xy: (..., N, 2) normalised coordinates ``(X / Z, Y / Z)`` (unitless).
        dist: (..., 5) coefficients ``k1, k2, p1, p2, k3``, broadcast against the leading dimensions of ``xy``.
        model: ``"opencv"`` or ``"h36m"`` (module docstring).

    Returns:
        (..., N, 2) distorted normalised coordinates.
    """
    s = tangential_factor(model)
    k1, k2, p1, p2, k3 = _coefficients(dist)
    x, y = xy[..., 0], xy[..., 1]
    r2 = x * x + y * y
    radial = 1 + r2 * (k1 + r2 * (k2 + r2 * k3))
    xd = x * radial + s * p1 * x * y + p2 * (r2 + s * x * x)
    yd = y * radial + p1 * (r2 + s * y * y) + s * p2 * x * y
    return torch.stack([xd, yd], -1)


def distortion_jacobian(xy: Tensor, dist: Tensor, model: str = "opencv") -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """Entries ``(j11, j12, j21, j22)`` of ``d(x_d, y_d) / d(x, y)``, each (..., N), at ``xy`` (..., N, 2)."""
    s = tangential_factor(model)
    k1, k2, p1, p2, k3 = _coefficients(dist)
    x, y = xy[..., 0], xy[..., 1]
    r2 = x * x + y * y
    radial = 1 + r2 * (k1 + r2 * (k2 + r2 * k3))
    g = k1 + r2 * (2 * k2 + 3 * k3 * r2)  # d(radial) / d(r^2)
    j11 = radial + 2 * x * x * g + s * p1 * y + 2 * (1 + s) * p2 * x
    j12 = 2 * x * y * g + s * p1 * x + 2 * p2 * y
    j21 = 2 * x * y * g + 2 * p1 * x + s * p2 * y
    j22 = radial + 2 * y * y * g + 2 * (1 + s) * p1 * y + s * p2 * x
    return j11, j12, j21, j22


def _newton_step(xy: Tensor, xy_d: Tensor, dist: Tensor, model: str, jacobian_at: Tensor | None = None) -> Tensor:
    """``xy - J^{-1} (distort(xy) - xy_d)`` with ``J`` evaluated at ``jacobian_at`` (default ``xy``)."""
    f = distort_normalized(xy, dist, model) - xy_d
    j11, j12, j21, j22 = distortion_jacobian(xy if jacobian_at is None else jacobian_at, dist, model)
    det = j11 * j22 - j12 * j21
    dx = (j22 * f[..., 0] - j12 * f[..., 1]) / det
    dy = (j11 * f[..., 1] - j21 * f[..., 0]) / det
    return xy - torch.stack([dx, dy], -1)


def _newton_torch(xy_d: Tensor, dist: Tensor, model: str) -> Tensor:
    """Tensor Newton iterations (float64, no gradient), NaN where they do not converge."""
    xy = xy_d.clone()
    for _ in range(_NEWTON_MAX_ITER):
        new = _newton_step(xy, xy_d, dist, model)
        step = (new - xy).abs().sum(-1)
        xy = new
        if not bool((step > _NEWTON_TOL).any()):  # NaN steps compare False: they do not keep the loop alive
            break
    residual = (distort_normalized(xy, dist, model) - xy_d).abs().sum(-1)
    j11, j12, j21, j22 = distortion_jacobian(xy, dist, model)
    ok = (residual <= _ACCEPT) & (j11 * j22 - j12 * j21 > 0) & (j11 + j22 > 0)  # not where the lens folds back
    return torch.where(ok[..., None], xy, torch.full_like(xy, float("nan")))


def _kernel():
    global _KERNEL
    if _KERNEL is None:
        try:
            from lt_core._lens_kernels import undistort_newton

            _KERNEL = undistort_newton
        except ImportError:
            _KERNEL = False
    return _KERNEL


def _newton(xy_d: Tensor, dist: Tensor, model: str, backend: str) -> Tensor:
    kernel = _kernel() if backend in ("auto", "numba") else False
    if backend == "numba" and kernel is False:
        raise ImportError("the compiled undistortion needs numba (pip install numba)")
    if kernel is False or xy_d.device.type != "cpu":
        return _newton_torch(xy_d, dist, model)
    shape = xy_d.shape
    pts = xy_d.reshape(-1, 2).contiguous().numpy()
    coef = dist[..., None, :].expand(*shape[:-1], 5).reshape(-1, 5).contiguous().numpy()
    out = kernel(pts, coef, tangential_factor(model), _NEWTON_MAX_ITER, _NEWTON_TOL, _ACCEPT)
    return torch.from_numpy(out).reshape(shape)


def undistort_normalized(xy_d: Tensor, dist: Tensor, model: str = "opencv", backend: str = "auto") -> Tensor:
    """Invert :func:`distort_normalized` exactly (Newton's method to machine precision).

    Args:
        xy_d: (..., N, 2) distorted normalised coordinates.
        dist: (..., 5) coefficients, broadcast against the leading dimensions of ``xy_d``.
        model: ``"opencv"`` or ``"h36m"``.
        backend: ``"auto"`` (compiled loop when numba is installed and the data is on the CPU), ``"numba"`` or
            ``"torch"``.

    Returns:
        (..., N, 2) undistorted normalised coordinates in the dtype of ``xy_d``; NaN where the input is NaN or the
        model has no inverse there. Differentiable with respect to ``xy_d`` and ``dist`` (implicit gradient).
    """
    tangential_factor(model)  # validates the model name
    if backend not in ("auto", "numba", "torch"):
        raise ValueError(f"backend must be 'auto', 'numba' or 'torch', got {backend!r}")
    if xy_d.shape[-1] != 2:
        raise ValueError(f"xy_d must have shape (..., N, 2), got {tuple(xy_d.shape)}")
    out_dtype = xy_d.dtype if xy_d.dtype.is_floating_point else torch.float64
    d64 = dist.detach().to(torch.float64)
    with torch.no_grad():
        p64 = xy_d.detach().to(torch.float64)
        solution = _newton(p64, d64, model, backend)
    if torch.is_grad_enabled() and (xy_d.requires_grad or dist.requires_grad):
        # one differentiable Newton step from the solution: value unchanged, gradient the implicit one
        fixed = solution.to(out_dtype)
        return _newton_step(fixed, xy_d.to(out_dtype), dist.to(out_dtype), model, jacobian_at=fixed.detach())
    return solution.to(out_dtype)


def undistort_fixed_point(xy_d: Tensor, dist: Tensor, model: str = "opencv", iterations: int = 20) -> Tensor:
    """OpenCV's ``undistortPoints`` iteration ``x <- (x_d - tangential(x)) / radial(x)`` from ``x = x_d``.

    Kept for comparison and teaching (notebook 01 plots its convergence); it converges linearly and only where
    distortion is mild. :func:`undistort_normalized` is exact.

    Args:
        xy_d: (..., N, 2) distorted normalised coordinates.
        dist: (..., 5) coefficients.
        model: ``"opencv"`` or ``"h36m"``.
        iterations: number of fixed-point iterations.

    Returns:
        (..., N, 2) approximately undistorted coordinates (differentiable through the unrolled iterations).
    """
    s = tangential_factor(model)
    k1, k2, p1, p2, k3 = _coefficients(dist)
    xy = xy_d
    for _ in range(iterations):
        x, y = xy[..., 0], xy[..., 1]
        r2 = x * x + y * y
        radial = 1 + r2 * (k1 + r2 * (k2 + r2 * k3))
        dx = s * p1 * x * y + p2 * (r2 + s * x * x)
        dy = p1 * (r2 + s * y * y) + s * p2 * x * y
        xy = torch.stack([(xy_d[..., 0] - dx) / radial, (xy_d[..., 1] - dy) / radial], -1)
    return xy
