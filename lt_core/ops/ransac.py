"""Robust triangulation: RANSAC over view pairs (the paper's baseline) and exhaustive view subsets.

Both are vectorised over points and hypotheses: every hypothesis of every point is triangulated by one call of
the normalised DLT of :mod:`lt_core.ops.triangulation`, scored by reprojection error in all views, and the winner's
inliers are re-triangulated and refined by Gauss-Newton on the reprojection error. No Python loop runs per point.

RANSAC as in the paper: hypotheses are random pairs of views (all pairs when there are few enough), a view is an
inlier when its reprojection error is below ``threshold`` pixels (15 px), the hypothesis with most inliers wins
(ties: smaller mean inlier error), and its inlier set is triangulated and refined.

Pixels are those of an ideal pinhole (undistorted). For detections on distorted images use
``triangulate_cameras_ransac`` / ``triangulate_cameras_best_subset`` of :mod:`lt_core.ops.camera_triangulation`,
which undistort with the cameras first.
"""

from __future__ import annotations

import math
from itertools import combinations

import torch
from torch import Tensor

from lt_core.ops.dlt_kernels import _det3, dlt_normalized, normalize_projections, null_vector_dehomogenized
from lt_core.ops.triangulation import TriangulationError, _threads, project_points, single_thread_below

__all__ = ["triangulate_ransac", "triangulate_best_subset", "refine_reprojection"]


def _check_threshold(threshold: float) -> None:
    try:
        ok = math.isfinite(float(threshold)) and float(threshold) > 0
    except (TypeError, ValueError):
        ok = False
    if not ok:
        raise TriangulationError(f"threshold must be a positive, finite number of pixels, got {threshold!r}")


def _empty(points: Tensor, C: int) -> tuple[Tensor, Tensor]:
    """Results for a batch without points: (B, J, 3) joints and (B, C, J) masks with B * J = 0."""
    B, _, J, _ = points.shape
    dtype = points.dtype if points.dtype.is_floating_point else torch.float64
    return (
        torch.empty(B, J, 3, dtype=dtype, device=points.device),
        torch.zeros(B, C, J, dtype=torch.bool, device=points.device),
    )


def _prepare(points: Tensor, projections: Tensor, valid: Tensor | None) -> tuple[Tensor, Tensor, Tensor]:
    if not isinstance(points, Tensor) or not isinstance(projections, Tensor):
        raise TriangulationError(
            f"points and projections must be torch tensors, got {type(points).__name__} and "
            f"{type(projections).__name__} (torch.as_tensor converts NumPy arrays)"
        )
    if points.dim() != 4 or points.shape[-1] != 2:
        raise TriangulationError(f"points must have shape (B, C, J, 2), got {tuple(points.shape)}")
    B, C, J, _ = points.shape
    if projections.shape != (B, C, 3, 4):
        raise TriangulationError(f"projections must have shape ({B}, {C}, 3, 4), got {tuple(projections.shape)}")
    if C < 2:
        raise TriangulationError(f"robust triangulation needs at least 2 views, got {C}")
    pts = points.double()
    P = projections.double()
    if not torch.isfinite(P).all():
        raise TriangulationError("projection matrices contain NaN or inf")
    size = P[..., :3].abs().amax((-1, -2))
    degenerate = _det3(P[..., :3]).abs() <= 1e-9 * size**3
    if bool(degenerate.any()):
        b, c = (int(i) for i in degenerate.nonzero()[0])
        raise TriangulationError(
            f"degenerate camera: projection matrix of sample {b}, view {c} has rank < 3 "
            "(all zero, or a singular left 3x3 block)"
        )
    ok = torch.isfinite(pts).all(-1)
    if valid is not None:
        if valid.shape != (B, C, J):
            raise TriangulationError(f"valid must have shape ({B}, {C}, {J}), got {tuple(valid.shape)}")
        ok = ok & valid.bool()
    pts = torch.where(ok[..., None], pts, torch.zeros((), dtype=pts.dtype, device=pts.device))
    return pts, P, ok


def _scores(X: Tensor, pts: Tensor, P: Tensor, ok: Tensor, threshold: float) -> tuple[Tensor, Tensor, Tensor]:
    """Reprojection errors of hypotheses X (B, N, H, 3) in all views; returns (err, inlier, score)."""
    B, N, H, _ = X.shape
    proj = project_points(X.reshape(B, N * H, 3), P).reshape(B, P.shape[1], N, H, 2)  # (B, C, N, H, 2)
    err = (proj - pts[:, :, :, None, :]).norm(dim=-1)  # (B, C, N, H)
    # points behind a camera are never inliers
    Xh = torch.cat([X, torch.ones_like(X[..., :1])], -1).reshape(B, 1, N * H, 4)
    depth = (Xh @ P[:, :, 2:, :].transpose(-1, -2))[..., 0].reshape(B, -1, N, H)
    inlier = (err < threshold) & ok[..., None] & (depth > 0)
    count = inlier.sum(1)  # (B, N, H)
    mean_err = (err * inlier).sum(1) / count.clamp_min(1)
    score = count.to(err.dtype) - (mean_err / threshold).clamp(max=1.0) * 0.5  # more inliers first, then accuracy
    return err, inlier, score


def _per_view_normal_matrices(x: Tensor, y: Tensor, P: Tensor) -> Tensor:
    """Unweighted DLT normal matrices ``A_c^T A_c`` of every view and point, as structure of arrays.

    Args:
        x, y: (B, C, N) normalised image coordinates.
        P: (B, C, 3, 4) normalised projections.

    Returns:
        (16, B, C, N) entries of the per-view 4x4 matrices; a subset's DLT matrix is the sum over its views.
    """
    p1, p2, p3 = P[..., 0, :], P[..., 1, :], P[..., 2, :]
    outer = lambda a, b: (a[..., :, None] * b[..., None, :]).flatten(-2)  # noqa: E731  (B, C, 16)
    s31, s32 = outer(p3, p1), outer(p3, p2)
    t31, t32 = outer(p1, p3), outer(p2, p3)
    basis = torch.stack([outer(p3, p3), s31 + t31, s32 + t32, outer(p1, p1) + outer(p2, p2)], 0)  # (4, B, C, 16)
    basis = basis.permute(0, 3, 1, 2)[..., None]  # (4, 16, B, C, 1)
    M = basis[3].expand(16, *x.shape).clone()
    M.addcmul_(basis[0], (x * x + y * y)[None])
    M.addcmul_(basis[1], -x[None])
    M.addcmul_(basis[2], -y[None])
    return M


def _solve_hypotheses(M: Tensor, rig) -> Tensor:
    """(16, B, H, N) summed normal matrices -> (B, N, H, 3) world points in mm."""
    _, B, H, N = M.shape
    Xn = null_vector_dehomogenized(M.reshape(16, -1)).reshape(B, H, N, 3)
    return rig.denormalize(Xn).transpose(1, 2)


def _pair_hypotheses(Mv: Tensor, rig, first: Tensor, second: Tensor, shared: bool) -> Tensor:
    """Two-view DLT for every (point, pair) hypothesis.

    Args:
        Mv: (16, B, C, N) per-view normal matrices.
        rig: the :class:`NormalizedRig` of the views.
        first, second: view indices, (H,) when ``shared`` by all points, else (B, N, H) per point.

    Returns:
        (B, N, H, 3) triangulated points in world mm.
    """
    if shared:
        M = Mv.index_select(2, first) + Mv.index_select(2, second)  # (16, B, H, N)
    else:
        _, B, C, N = Mv.shape
        pick = lambda v: torch.gather(Mv, 2, v.permute(0, 2, 1)[None].expand(16, -1, -1, -1))  # noqa: E731
        M = pick(first) + pick(second)
    return _solve_hypotheses(M, rig)


def refine_reprojection(
    X: Tensor, points: Tensor, projections: Tensor, mask: Tensor, iterations: int = 5, damping: float = 1e-6
) -> Tensor:
    """Gauss-Newton refinement of 3D points minimising squared pixel reprojection error over masked views.

    Args:
        X: (B, N, 3) initial points in mm.
        points: (B, C, N, 2) observed pixels (undistorted).
        projections: (B, C, 3, 4) projection matrices.
        mask: (B, C, N) views to use (at least 2 per point for a well-posed problem).
        iterations: Gauss-Newton steps (Levenberg-damped by ``damping`` times the diagonal).

    Returns:
        (B, N, 3) refined points; points whose normal equations are singular keep their input value.
    """
    m = mask.to(X.dtype)  # (B, C, N)
    Pc = projections[..., None]  # (B, C, 3, 4, 1): entries broadcast over points
    u_obs, v_obs = points[..., 0], points[..., 1]
    X0, X1, X2 = X[..., 0][:, None], X[..., 1][:, None], X[..., 2][:, None]  # (B, 1, N)
    for _ in range(iterations):
        q = [Pc[:, :, r, 0] * X0 + Pc[:, :, r, 1] * X1 + Pc[:, :, r, 2] * X2 + Pc[:, :, r, 3] for r in range(3)]
        z = q[2].clamp_min(1e-9)
        u, v = q[0] / z, q[1] / z
        ru, rv = (u - u_obs) * m, (v - v_obs) * m  # (B, C, N)
        mz = m / z
        # d(u)/dX_k = (P0k - u P2k) / z, d(v)/dX_k = (P1k - v P2k) / z
        ju = [(Pc[:, :, 0, k] - u * Pc[:, :, 2, k]) * mz for k in range(3)]
        jv = [(Pc[:, :, 1, k] - v * Pc[:, :, 2, k]) * mz for k in range(3)]
        h = {(i, j): (ju[i] * ju[j] + jv[i] * jv[j]).sum(1) for i in range(3) for j in range(i, 3)}  # (B, N)
        g = [(ju[i] * ru + jv[i] * rv).sum(1) for i in range(3)]
        for i in range(3):
            h[i, i] = h[i, i] * (1 + damping) + 1e-12
        a00, a01, a02, a11, a12, a22 = h[0, 0], h[0, 1], h[0, 2], h[1, 1], h[1, 2], h[2, 2]
        c00, c01, c02 = a11 * a22 - a12 * a12, a02 * a12 - a01 * a22, a01 * a12 - a02 * a11
        c11, c12, c22 = a00 * a22 - a02 * a02, a01 * a02 - a00 * a12, a00 * a11 - a01 * a01
        det = a00 * c00 + a01 * c01 + a02 * c02
        ok = det.abs() > 1e-30
        inv = torch.where(ok, 1 / torch.where(ok, det, torch.ones_like(det)), torch.zeros_like(det))
        s0 = (c00 * g[0] + c01 * g[1] + c02 * g[2]) * inv
        s1 = (c01 * g[0] + c11 * g[1] + c12 * g[2]) * inv
        s2 = (c02 * g[0] + c12 * g[1] + c22 * g[2]) * inv
        X0, X1, X2 = X0 - s0[:, None], X1 - s1[:, None], X2 - s2[:, None]
    X = torch.stack([X0[:, 0], X1[:, 0], X2[:, 0]], -1)
    return X


def _finish(
    best_mask: Tensor, pts: Tensor, P: Tensor, x: Tensor, y: Tensor, rig, refine: bool, out_dtype: torch.dtype
) -> Tensor:
    Xn = dlt_normalized(x, y, best_mask.to(x.dtype), rig.P)
    X = rig.denormalize(Xn)
    if refine:
        X = refine_reprojection(X, pts, P, best_mask)
    return X.to(out_dtype)


def _triangulate_ransac(
    points: Tensor,
    projections: Tensor,
    valid: Tensor | None = None,
    *,
    threshold: float = 15.0,
    n_iters: int = 100,
    refine: bool = True,
    generator: torch.Generator | None = None,
) -> tuple[Tensor, Tensor]:
    """RANSAC triangulation over view pairs, vectorised over all points.

    Args:
        points: (B, C, J, 2) detected pixels (e.g. hard-argmax of heatmaps), undistorted (see the module
            docstring for distorted detections). NaN marks a missing detection.
        projections: (B, C, 3, 4) projection matrices (world mm to pixels).
        valid: optional (B, C, J) boolean detections to consider.
        threshold: inlier reprojection threshold in pixels (the paper uses 15).
        n_iters: number of random pair hypotheses per point; when ``C (C - 1) / 2 <= n_iters`` every pair is
            tried once instead (deterministic).
        refine: Gauss-Newton refinement of the final estimate on its inlier views.
        generator: random generator for reproducible sampling.

    Returns:
        ``(joints, inliers)``: (B, J, 3) points in mm and (B, C, J) boolean inlier views of the winner.

    Raises:
        TriangulationError: bad shapes, fewer than two views, NaN cameras, or a point with fewer than two valid
            detections.
    """
    _check_threshold(threshold)
    if not isinstance(n_iters, int) or n_iters < 1:
        raise TriangulationError(f"n_iters must be a positive integer, got {n_iters!r}")
    pts, P, ok = _prepare(points, projections, valid)
    B, C, J, _ = pts.shape
    if B * J == 0:
        return _empty(points, C)
    if bool((ok.sum(1) < 2).any()):
        b, j = (int(i) for i in (ok.sum(1) < 2).nonzero()[0])
        raise TriangulationError(
            f"every point needs at least 2 valid detections for RANSAC (sample {b}, joint {j} "
            f"has {int(ok[b, :, j].sum())})"
        )
    rig = normalize_projections(P)
    x, y = rig.normalize_points(pts)
    pairs = list(combinations(range(C), 2))
    shared = len(pairs) <= n_iters
    if shared:  # every pair once, the same for all points
        idx = torch.tensor(pairs, device=pts.device)  # (H, 2)
        first, second = idx[:, 0].contiguous(), idx[:, 1].contiguous()
        first_b, second_b = first.expand(B, J, -1), second.expand(B, J, -1)
    else:
        shape = (B, J, n_iters)
        first_b = torch.randint(0, C, shape, generator=generator, device="cpu").to(pts.device)
        second_b = (first_b + torch.randint(1, C, shape, generator=generator, device="cpu").to(pts.device)) % C
        first, second = first_b, second_b
    views = torch.arange(C, device=pts.device)[None, :, None, None]
    masks = (views == first_b[:, None]) | (views == second_b[:, None])  # (B, C, J, H)
    masks = masks & ok[..., None]
    usable_h = masks.sum(1) == 2  # (B, J, H): both views of the pair detected
    X = _pair_hypotheses(_per_view_normal_matrices(x, y, rig.P), rig, first, second, shared)  # (B, J, H, 3)
    _, inlier, score = _scores(X, pts, P, ok, threshold)
    score = torch.where(usable_h, score, torch.full_like(score, -1e9))
    best = score.argmax(-1)  # (B, J)
    pick = best[:, None, :, None].expand(B, C, J, 1)
    best_mask = torch.gather(inlier, 3, pick)[..., 0] | torch.gather(masks, 3, pick)[..., 0]
    return _finish(best_mask, pts, P, x, y, rig, refine, _empty(points[:0], C)[0].dtype), best_mask


def _triangulate_best_subset(
    points: Tensor,
    projections: Tensor,
    valid: Tensor | None = None,
    *,
    threshold: float = 15.0,
    min_views: int = 2,
    max_views: int = 12,
    refine: bool = True,
) -> tuple[Tensor, Tensor]:
    """Exhaustive robust triangulation: try every subset of at least ``min_views`` views.

    The winner is the largest subset whose views all reproject within ``threshold`` pixels (ties: smallest mean
    error); when no subset is consistent, the pair with the smallest error is used.

    Args:
        points: (B, C, J, 2) undistorted pixels (see the module docstring); NaN marks a missing detection.
        projections: (B, C, 3, 4) projection matrices.
        valid: optional (B, C, J) boolean detections to consider.
        threshold: consistency threshold in pixels.
        min_views: smallest subset size (2).
        max_views: refuse larger rigs (there are ``2^C`` subsets).
        refine: Gauss-Newton refinement of the winner.

    Returns:
        ``(joints, used)``: (B, J, 3) points in mm and (B, C, J) boolean views used.
    """
    _check_threshold(threshold)
    if not isinstance(min_views, int) or min_views < 2:
        raise TriangulationError(f"min_views must be an integer >= 2 (two views fix a depth), got {min_views!r}")
    pts, P, ok = _prepare(points, projections, valid)
    B, C, J, _ = pts.shape
    if B * J == 0:
        return _empty(points, C)
    if C > max_views:
        raise TriangulationError(f"exhaustive subsets are limited to {max_views} views (2^C subsets); got {C}")
    if bool((ok.sum(1) < min_views).any()):
        raise TriangulationError(f"every point needs at least {min_views} valid detections")
    rig = normalize_projections(P)
    x, y = rig.normalize_points(pts)
    subsets = [s for k in range(min_views, C + 1) for s in combinations(range(C), k)]
    sub = torch.zeros(C, len(subsets), dtype=torch.bool, device=pts.device)
    for h, s in enumerate(subsets):
        sub[list(s), h] = True
    masks = sub[None, :, None, :] & ok[..., None]  # (B, C, J, H)
    size = sub.sum(0)  # (H,)
    complete = masks.sum(1) == size  # all views of the subset detected
    Mv = _per_view_normal_matrices(x, y, rig.P)  # (16, B, C, J)
    M = (Mv.transpose(2, 3) @ sub.to(Mv.dtype)).transpose(2, 3)  # (16, B, H, J): sums over each subset's views
    X = _solve_hypotheses(M, rig)
    err, _, _ = _scores(X, pts, P, ok, threshold)
    err = torch.where(masks, err, torch.zeros_like(err))
    worst = err.amax(1)  # (B, J, H)
    mean = err.sum(1) / size.clamp_min(1)
    consistent = complete & (worst < threshold)
    score = torch.where(
        consistent, size.to(err.dtype) - (mean / threshold).clamp(max=1.0) * 0.5, -1e6 - mean
    )  # fall back to the most accurate subset
    score = torch.where(complete, score, torch.full_like(score, -1e12))
    best = score.argmax(-1)
    used = torch.gather(masks, 3, best[:, None, :, None].expand(B, C, J, 1))[..., 0]
    return _finish(used, pts, P, x, y, rig, refine, _empty(points[:0], C)[0].dtype), used


def triangulate_ransac(
    points: Tensor, projections: Tensor, valid: Tensor | None = None, **kwargs
) -> tuple[Tensor, Tensor]:
    n = points.shape[0] * points.shape[2] if isinstance(points, Tensor) and points.dim() == 4 else 0
    with _threads(single_thread_below(n * 8)):  # about 8 hypotheses of work per point; busy machines: see there
        return _triangulate_ransac(points, projections, valid, **kwargs)


def triangulate_best_subset(
    points: Tensor, projections: Tensor, valid: Tensor | None = None, **kwargs
) -> tuple[Tensor, Tensor]:
    n = points.shape[0] * points.shape[2] if isinstance(points, Tensor) and points.dim() == 4 else 0
    with _threads(single_thread_below(n * 8)):
        return _triangulate_best_subset(points, projections, valid, **kwargs)


triangulate_ransac.__doc__ = _triangulate_ransac.__doc__
triangulate_best_subset.__doc__ = _triangulate_best_subset.__doc__
