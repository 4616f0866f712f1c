"""The paper's RANSAC baseline exactly as its released code runs it (convention ``"official"``).

For every point (samples in order, joints in order within a sample), over the views that see it:

1. ``n_iters`` (10) hypotheses, each a pair of views drawn by Python's ``random.sample`` and sorted, triangulated by
   the unweighted raw DLT (float64 SVD);
2. a view is an inlier of a hypothesis when its reprojection error, **half** the Euclidean pixel distance
   (``0.5 * |x - P X|``), is below ``threshold`` (15, i.e. 30 px of distance); the pair itself always counts;
3. the first hypothesis with strictly more inliers than every earlier one wins;
4. the winner's inliers are triangulated again (raw DLT) and, with ``refine``, the point is refined by
   ``scipy.optimize.least_squares(method="trf", loss="huber")`` on those half-distance residuals.

The random stream is Python's Mersenne Twister: give ``rng`` a seeded :class:`random.Random` (or a seed) and the
draws are the ones the released code makes after ``random.seed`` with that seed (it drew from a population
``set(range(n))``, which Python <= 3.10 turned into ``(0, ..., n-1)`` and Python >= 3.11 refuses; the pairs drawn
here from ``range(n)`` are the same). Views marked invalid are left out before sampling, as the released dataset
leaves missing views out.

Everything but the drawing and the refinement is vectorised over points and hypotheses with numpy's batched SVD
(the same LAPACK routine, matrix by matrix, as the released code's per-point calls). The refinement is one small
``least_squares`` problem per point. Nothing here is differentiable.

See :mod:`lt_core.ops.ransac` for the project's own vectorised RANSAC (all pairs, full-distance threshold,
Gauss-Newton refinement). Paper: arXiv:1905.05754, Sec. 3 ("RANSAC" baseline).
"""

from __future__ import annotations

import random

import numpy as np
import torch
from torch import Tensor

from lt_core.ops.triangulation import TriangulationError

__all__ = ["triangulate_ransac_official", "OFFICIAL_RANSAC_ITERATIONS", "OFFICIAL_RANSAC_THRESHOLD"]

OFFICIAL_RANSAC_ITERATIONS = 10
"""Hypotheses per point in the released code."""

OFFICIAL_RANSAC_THRESHOLD = 15.0
"""Inlier threshold of the released code, compared with half the pixel distance."""


def _dlt(P: np.ndarray, uv: np.ndarray) -> np.ndarray:
    """Unweighted raw DLT of many points: P (..., n, 3, 4), uv (..., n, 2) -> (..., 3) (float64 SVD)."""
    rows = uv[..., :, :, None] * P[..., :, 2:3, :] - P[..., :, :2, :]  # (..., n, 2, 4): u P3 - P1, v P3 - P2
    A = rows.reshape(*rows.shape[:-3], -1, 4)
    _, _, vh = np.linalg.svd(A, full_matrices=False)
    Xh = vh[..., 3, :]
    return Xh[..., :3] / Xh[..., 3:]


def _half_errors(X: np.ndarray, P: np.ndarray, uv: np.ndarray) -> np.ndarray:
    """Half reprojection distances: X (..., 3), P (..., n, 3, 4), uv (..., n, 2) -> (..., n)."""
    Xh = np.concatenate([X, np.ones_like(X[..., :1])], -1)[..., None, None, :]  # (..., 1, 1, 4)
    q = (Xh @ np.swapaxes(P, -1, -2))[..., 0, :]  # (..., n, 3)
    proj = q[..., :2] / q[..., 2:]
    return 0.5 * np.sqrt(((uv - proj) ** 2).sum(-1))


def _as_rng(rng: random.Random | int | None) -> random.Random:
    if rng is None:
        return random._inst  # type: ignore[attr-defined]  # the module-level generator, as the released code
    if isinstance(rng, random.Random):
        return rng
    return random.Random(rng)


def triangulate_ransac_official(
    points: Tensor,
    projections: Tensor,
    valid: Tensor | None = None,
    *,
    n_iters: int = OFFICIAL_RANSAC_ITERATIONS,
    threshold: float = OFFICIAL_RANSAC_THRESHOLD,
    refine: bool = True,
    rng: random.Random | int | None = None,
) -> tuple[Tensor, Tensor]:
    """RANSAC triangulation as the paper's released code does it (module docstring).

    Args:
        points: (B, C, J, 2) detected image pixels (the released model uses integer heatmap maxima times the
            stride).
        projections: (B, C, 3, 4) projection matrices (world mm to pixels); float32 ones are used as they are (the
            released model receives float32 matrices).
        valid: optional (B, C, J) bool detections to use (invalid views are left out before sampling).
        n_iters: hypotheses per point (10).
        threshold: inlier threshold on half the pixel distance (15).
        refine: Huber least-squares refinement on the inliers (``direct_optimization`` of the released
            configuration; needs scipy).
        rng: a :class:`random.Random`, a seed, or ``None`` for Python's global generator.

    Returns:
        ``(joints, inliers)``: (B, J, 3) float64 points in mm and (B, C, J) bool inlier views.

    Raises:
        TriangulationError: bad shapes, non-finite values in used views, or a point with fewer than 2 views.
    """
    if points.dim() != 4 or points.shape[-1] != 2:
        raise TriangulationError(f"points must have shape (B, C, J, 2), got {tuple(points.shape)}")
    B, C, J, _ = points.shape
    if tuple(projections.shape) != (B, C, 3, 4):
        raise TriangulationError(f"projections must have shape ({B}, {C}, 3, 4), got {tuple(projections.shape)}")
    if valid is not None and tuple(valid.shape) != (B, C, J):
        raise TriangulationError(f"valid must have shape ({B}, {C}, {J}), got {tuple(valid.shape)}")
    if n_iters < 1:
        raise TriangulationError(f"n_iters must be at least 1, got {n_iters}")
    if not threshold > 0:
        raise TriangulationError(f"threshold must be a positive number of pixels, got {threshold}")
    uv = points.detach().cpu().double().numpy()
    P_given = projections.detach().cpu().numpy()  # float32 stays float32 in the refinement, as in the released code
    P = P_given.astype(np.float64)
    ok = np.ones((B, C, J), dtype=bool) if valid is None else valid.detach().cpu().bool().numpy()
    if not np.isfinite(P).all():
        raise TriangulationError("projection matrices contain NaN or inf")
    bad = ok & ~np.isfinite(uv).all(-1)
    if bad.any():
        b, c, j = (int(i) for i in np.argwhere(bad)[0])
        raise TriangulationError(f"points contain NaN or inf in a used view (sample {b}, view {c}, joint {j})")
    counts = ok.sum(1)
    if (counts < 2).any():
        b, j = (int(i) for i in np.argwhere(counts < 2)[0])
        raise TriangulationError(
            f"every point needs at least 2 views for RANSAC (sample {b}, joint {j} has {int(counts[b, j])})"
        )
    generator = _as_rng(rng)
    joints = np.zeros((B, J, 3))
    inliers = np.zeros((B, C, J), dtype=bool)
    order = [(b, j) for b in range(B) for j in range(J)]
    pairs = np.empty((len(order), n_iters, 2), dtype=np.int64)
    for k, (b, j) in enumerate(order):  # the random stream, in the released code's order
        n = int(counts[b, j])
        for i in range(n_iters):
            pairs[k, i] = sorted(generator.sample(range(n), 2))
    subsets: dict[tuple[int, ...], list[int]] = {}  # points grouped by their views: one batch per group
    for k, (b, j) in enumerate(order):
        subsets.setdefault(tuple(np.flatnonzero(ok[b, :, j]).tolist()), []).append(k)
    for views, members in subsets.items():
        idx = np.array(members)
        bs = np.array([order[k][0] for k in members])
        js = np.array([order[k][1] for k in members])
        v = np.array(views)
        Pm = P[bs][:, v]  # (m, n, 3, 4)
        Pg = P_given[bs][:, v]
        um = uv[bs[:, None], v[None, :], js[:, None]]  # (m, n, 2)
        best = _best_inliers(Pm, um, pairs[idx], threshold)  # (m, n) bool
        for r, k in enumerate(members):
            b, j = order[k]
            sel = np.flatnonzero(best[r])
            X = _dlt(Pm[r, sel], um[r, sel])
            if refine:
                X = _refine(X, Pg[r, sel], um[r, sel])
            joints[b, j] = X
            inliers[b, v[sel], j] = True
    return torch.from_numpy(joints), torch.from_numpy(inliers)


def _best_inliers(P: np.ndarray, uv: np.ndarray, pairs: np.ndarray, threshold: float) -> np.ndarray:
    """Winning inlier sets of m points: P (m, n, 3, 4), uv (m, n, 2), pairs (m, H, 2) -> (m, n) bool."""
    m, n = uv.shape[:2]
    rows = np.arange(m)[:, None, None]
    Ph = P[rows, pairs]  # (m, H, 2, 3, 4)
    uh = uv[rows, pairs]  # (m, H, 2, 2)
    X = _dlt(Ph, uh)  # (m, H, 3)
    err = _half_errors(X, P[:, None], uv[:, None])  # (m, H, n)
    inl = err < threshold
    inl[rows[..., 0], np.arange(pairs.shape[1])[None, :], pairs[..., 0]] = True
    inl[rows[..., 0], np.arange(pairs.shape[1])[None, :], pairs[..., 1]] = True
    size = inl.sum(-1)  # (m, H)
    # first hypothesis with strictly more inliers than all earlier ones = first maximum
    winner = size.argmax(-1)
    return inl[np.arange(m), winner]


def _refine(X0: np.ndarray, P: np.ndarray, uv: np.ndarray) -> np.ndarray:
    """Huber least squares (trust region reflective) on the half-distance residuals of the inlier views.

    The residuals are evaluated view by view with one (1, 4) x (4, 3) product each, with the projection matrices
    in their given precision (numpy multiplies a float64 point by a float32 matrix in another order than two
    float64 operands): the arithmetic of the released code. The finite-difference Jacobian of ``least_squares``
    magnifies last-bit differences, so any other evaluation order moves the optimum by micrometres.
    """
    try:
        from scipy.optimize import least_squares  # noqa: PLC0415 (optional at import time)
    except ImportError as e:  # pragma: no cover - scipy is a dependency
        raise ImportError("the paper's RANSAC refinement needs scipy (pip install scipy)") from e
    views = [(Pv.T, uvv[None, :]) for Pv, uvv in zip(P, uv)]

    def residuals(x: np.ndarray) -> np.ndarray:
        Xh = np.concatenate([x[None, :], np.ones((1, 1))], axis=1)  # (1, 4)
        out = np.empty(len(views))
        for i, (Pt, seen) in enumerate(views):
            q = Xh @ Pt  # (1, 3)
            proj = q[:, :2] / q[:, 2:]
            out[i] = 0.5 * np.sqrt(np.sum((seen - proj) ** 2, axis=1))[0]
        return out

    return least_squares(residuals, X0, loss="huber", method="trf").x
