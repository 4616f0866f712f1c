"""Compiled undistortion (numba): Newton's method per point, every point in one pass (see :mod:`lt_core.lens`).

Each point is inverted in registers: no intermediate tensor is written per iteration, which is what the tensor
version spends its time on. The arithmetic is the same as :func:`lt_core.lens._newton_torch` (float64, IEEE: no
fast-math reassociation).
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit


@njit(nogil=True, cache=True, inline="always")
def _residual(x, y, xd, yd, k1, k2, p1, p2, k3, s):
    """``distort(x, y) - (xd, yd)`` and its 2x2 Jacobian ``(j11, j12, j21, j22)`` at ``(x, y)``."""
    r2 = x * x + y * y
    radial = 1.0 + r2 * (k1 + r2 * (k2 + r2 * k3))
    g = k1 + r2 * (2.0 * k2 + 3.0 * k3 * r2)
    fx = x * radial + s * p1 * x * y + p2 * (r2 + s * x * x) - xd
    fy = y * radial + p1 * (r2 + s * y * y) + s * p2 * x * y - yd
    j11 = radial + 2.0 * x * x * g + s * p1 * y + 2.0 * (1.0 + s) * p2 * x
    j12 = 2.0 * x * y * g + s * p1 * x + 2.0 * p2 * y
    j21 = 2.0 * x * y * g + 2.0 * p1 * x + s * p2 * y
    j22 = radial + 2.0 * y * y * g + 2.0 * (1.0 + s) * p1 * y + s * p2 * x
    return fx, fy, j11, j12, j21, j22


@njit(nogil=True, cache=True)
def undistort_newton(
    xy_d: np.ndarray, dist: np.ndarray, s: float, max_iter: int, tol: float, accept: float
) -> np.ndarray:
    """Invert the lens model for M points.

    Args:
        xy_d: (M, 2) distorted normalised coordinates (float64).
        dist: (M, 5) ``k1, k2, p1, p2, k3`` of each point's camera.
        s: tangential factor: 2 for OpenCV, 1 for Human3.6M (see :func:`lt_core.lens.distort_normalized`).
        max_iter: Newton iterations at most.
        tol: stop when the Newton step is below ``tol`` (normalised units).
        accept: a point whose final residual exceeds ``accept`` has no inverse there; it comes back NaN.

    Returns:
        (M, 2) undistorted normalised coordinates, NaN where the input is not finite, Newton did not converge or
        converged where the lens folds back (a Jacobian without two positive eigenvalues).
    """
    m = xy_d.shape[0]
    out = np.empty((m, 2))
    for i in range(m):
        xd, yd = xy_d[i, 0], xy_d[i, 1]
        k1, k2, p1, p2, k3 = dist[i, 0], dist[i, 1], dist[i, 2], dist[i, 3], dist[i, 4]
        if not (math.isfinite(xd) and math.isfinite(yd)):
            out[i, 0] = math.nan
            out[i, 1] = math.nan
            continue
        x, y = xd, yd
        for _ in range(max_iter):
            fx, fy, j11, j12, j21, j22 = _residual(x, y, xd, yd, k1, k2, p1, p2, k3, s)
            det = j11 * j22 - j12 * j21
            if det == 0.0 or not math.isfinite(det):
                break
            dx = (j22 * fx - j12 * fy) / det
            dy = (j11 * fy - j21 * fx) / det
            x -= dx
            y -= dy
            if abs(dx) + abs(dy) <= tol:
                break
        # accept a root where the lens preserves directions locally (J with positive eigenvalues: det > 0 and
        # trace > 0): beyond the radius where a strong lens folds back, a "root" on the far side of the image is
        # not the ray that produced the pixel
        fx, fy, j11, j12, j21, j22 = _residual(x, y, xd, yd, k1, k2, p1, p2, k3, s)
        if abs(fx) + abs(fy) <= accept and j11 * j22 - j12 * j21 > 0.0 and j11 + j22 > 0.0:
            out[i, 0] = x
            out[i, 1] = y
        else:
            out[i, 0] = math.nan
            out[i, 1] = math.nan
    return out
