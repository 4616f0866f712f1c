"""Robust triangulation: RANSAC over view pairs (the paper's baseline) and exhaustive view subsets.

Both are vectorised over points and hypotheses: every hypothesis of every point is triangulated by one call of
the normalised DLT of :mod:`lt_core.ops.triangulation`, scored by reprojection error in all views, and the winner's
inliers are re-triangulated and refined by Gauss-Newton on the reprojection error. No Python loop runs per point.

RANSAC as in the paper: hypotheses are random pairs of views (all pairs when there are few enough), a view is an
inlier when its reprojection error is below ``threshold`` pixels (15 px), the hypothesis with most inliers wins
(ties: smaller mean inlier error), and its inlier set is triangulated and refined.
"""

from __future__ import annotations

from itertools import combinations

import torch
from torch import Tensor

from .triangulation import (
    TriangulationError,
    dlt_normalized,
    normalize_projections,
    _solve3,
    null_vector_dehomogenized,
    project_points,
)

__all__ = ["triangulate_ransac", "triangulate_best_subset", "refine_reprojection"]


def _prepare(points: Tensor, projections: Tensor, valid: Tensor | None) -> tuple[Tensor, Tensor, Tensor]:
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


def _hypotheses(masks: Tensor, x: Tensor, y: Tensor, Pn: Tensor, rig, chunk: int) -> Tensor:
    """Triangulate hypotheses given by view masks (B, C, N, H) -> (B, N, H, 3) world mm."""
    B, C, N, H = masks.shape
    out = []
    for h0 in range(0, H, chunk):
        m = masks[..., h0:h0 + chunk]
        hh = m.shape[-1]
        xs = x[..., None].expand(B, C, N, hh).reshape(B, C, N * hh)
        ys = y[..., None].expand(B, C, N, hh).reshape(B, C, N * hh)
        Xn = dlt_normalized(xs, ys, m.reshape(B, C, N * hh).to(x.dtype), Pn)
        out.append(rig.denormalize(Xn).reshape(B, N, hh, 3))
    return torch.cat(out, 2)


def _pair_hypotheses(x: Tensor, y: Tensor, rig, first: Tensor, second: Tensor) -> Tensor:
    """Two-view DLT for every (point, pair) hypothesis.

    Args:
        x, y: (B, C, J) normalised image coordinates.
        rig: the :class:`NormalizedRig` of the views.
        first, second: (B, J, H) view indices of each hypothesis.

    Returns:
        (B, J, H, 3) triangulated points in world mm.
    """
    B, C, J = x.shape
    H = first.shape[-1]
    xt, yt = x.transpose(1, 2), y.transpose(1, 2)  # (B, J, C)
    bidx = torch.arange(B, device=x.device)[:, None, None]
    M = x.new_zeros(B, J, H, 4, 4)
    for view in (first, second):
        Pv = rig.P[bidx, view]  # (B, J, H, 3, 4)
        xv = torch.gather(xt, 2, view)[..., None]
        yv = torch.gather(yt, 2, view)[..., None]
        for r in (xv * Pv[..., 2, :] - Pv[..., 0, :], yv * Pv[..., 2, :] - Pv[..., 1, :]):
            M = M + r[..., :, None] * r[..., None, :]
    Xn = null_vector_dehomogenized(M.reshape(-1, 16).T).reshape(B, J, H, 3)
    return rig.denormalize(Xn)


def refine_reprojection(X: Tensor, points: Tensor, projections: Tensor, mask: Tensor, iterations: int = 5,
                        damping: float = 1e-6) -> Tensor:
    """Gauss-Newton refinement of 3D points minimising squared pixel reprojection error over masked views.

    Args:
        X: (B, N, 3) initial points in mm.
        points: (B, C, N, 2) observed pixels.
        projections: (B, C, 3, 4) projection matrices.
        mask: (B, C, N) views to use (at least 2 per point for a well-posed problem).
        iterations: Gauss-Newton steps (Levenberg-damped by ``damping`` times the diagonal).

    Returns:
        (B, N, 3) refined points; points whose normal equations are singular keep their input value.
    """
    m = mask.to(X.dtype)[..., None]  # (B, C, N, 1)
    A = projections[:, :, None, :3, :3]  # (B, C, 1, 3, 3)
    b = projections[:, :, None, :, 3]  # (B, C, 1, 3)
    for _ in range(iterations):
        q = (A * X[:, None, :, None, :]).sum(-1) + b  # (B, C, N, 3)
        z = q[..., 2:].clamp_min(1e-9)
        uv = q[..., :2] / z
        r = (uv - points) * m  # (B, C, N, 2)
        # d(uv)/dX = (A[:2] - uv A[2]) / z, rows (B, C, N, 3)
        ju = (A[..., 0, :] - uv[..., :1] * A[..., 2, :]) / z * m
        jv = (A[..., 1, :] - uv[..., 1:] * A[..., 2, :]) / z * m
        JtJ = (ju[..., :, None] * ju[..., None, :] + jv[..., :, None] * jv[..., None, :]).sum(1)  # (B, N, 3, 3)
        Jtr = (ju * r[..., :1] + jv * r[..., 1:]).sum(1)  # (B, N, 3)
        JtJ = JtJ + torch.diag_embed(torch.diagonal(JtJ, dim1=-2, dim2=-1) * damping + 1e-12)
        step, det = _solve3(JtJ, Jtr)
        good = (det.abs() > 1e-30)[..., None] & torch.isfinite(step)
        X = torch.where(good, X - step, X)
    return X


def _finish(best_mask: Tensor, pts: Tensor, P: Tensor, x: Tensor, y: Tensor, rig, refine: bool,
            out_dtype: torch.dtype) -> Tensor:
    Xn = dlt_normalized(x, y, best_mask.to(x.dtype), rig.P)
    X = rig.denormalize(Xn)
    if refine:
        X = refine_reprojection(X, pts, P, best_mask)
    return X.to(out_dtype)


def triangulate_ransac(
    points: Tensor,
    projections: Tensor,
    valid: Tensor | None = None,
    *,
    threshold: float = 15.0,
    n_iters: int = 100,
    refine: bool = True,
    generator: torch.Generator | None = None,
    chunk: int = 64,
) -> tuple[Tensor, Tensor]:
    """RANSAC triangulation over view pairs, vectorised over all points.

    Args:
        points: (B, C, J, 2) detected pixels (e.g. hard-argmax of heatmaps). NaN marks a missing detection.
        projections: (B, C, 3, 4) projection matrices (world mm to pixels).
        valid: optional (B, C, J) boolean detections to consider.
        threshold: inlier reprojection threshold in pixels (the paper uses 15).
        n_iters: number of random pair hypotheses per point; when ``C (C - 1) / 2 <= n_iters`` every pair is
            tried once instead (deterministic).
        refine: Gauss-Newton refinement of the final estimate on its inlier views.
        generator: random generator for reproducible sampling.
        chunk: hypotheses triangulated per DLT call (memory bound).

    Returns:
        ``(joints, inliers)``: (B, J, 3) points in mm and (B, C, J) boolean inlier views of the winner.

    Raises:
        TriangulationError: bad shapes, fewer than two views, NaN cameras, or a point with fewer than two valid
            detections.
    """
    pts, P, ok = _prepare(points, projections, valid)
    B, C, J, _ = pts.shape
    if bool((ok.sum(1) < 2).any()):
        raise TriangulationError("every point needs at least 2 valid detections for RANSAC")
    rig = normalize_projections(P)
    x, y = rig.normalize_points(pts)
    pairs = list(combinations(range(C), 2))
    if len(pairs) <= n_iters:
        idx = torch.tensor(pairs, device=pts.device)  # (H, 2)
        first = idx[:, 0].expand(B, J, -1)
        second = idx[:, 1].expand(B, J, -1)
    else:
        shape = (B, J, n_iters)
        first = torch.randint(0, C, shape, generator=generator, device="cpu").to(pts.device)
        second = (first + torch.randint(1, C, shape, generator=generator, device="cpu").to(pts.device)) % C
    first, second = first.contiguous(), second.contiguous()
    views = torch.arange(C, device=pts.device)[None, :, None, None]
    masks = (views == first[:, None]) | (views == second[:, None])  # (B, C, J, H)
    masks = masks & ok[..., None]
    usable_h = masks.sum(1) == 2  # (B, J, H): both views of the pair detected
    X = _pair_hypotheses(x, y, rig, first, second)  # (B, J, H, 3)
    _, inlier, score = _scores(X, pts, P, ok, threshold)
    score = torch.where(usable_h, score, torch.full_like(score, -1e9))
    best = score.argmax(-1)  # (B, J)
    pick = best[:, None, :, None].expand(B, C, J, 1)
    best_mask = torch.gather(inlier, 3, pick)[..., 0] | torch.gather(masks, 3, pick)[..., 0]
    return _finish(best_mask, pts, P, x, y, rig, refine, points.dtype), best_mask


def triangulate_best_subset(
    points: Tensor,
    projections: Tensor,
    valid: Tensor | None = None,
    *,
    threshold: float = 15.0,
    min_views: int = 2,
    max_views: int = 12,
    refine: bool = True,
    chunk: int = 64,
) -> tuple[Tensor, Tensor]:
    """Exhaustive robust triangulation: try every subset of at least ``min_views`` views.

    The winner is the largest subset whose views all reproject within ``threshold`` pixels (ties: smallest mean
    error); when no subset is consistent, the pair with the smallest error is used.

    Args:
        points: (B, C, J, 2) pixels; NaN marks a missing detection.
        projections: (B, C, 3, 4) projection matrices.
        valid: optional (B, C, J) boolean detections to consider.
        threshold: consistency threshold in pixels.
        min_views: smallest subset size (2).
        max_views: refuse larger rigs (there are ``2^C`` subsets).
        refine: Gauss-Newton refinement of the winner.

    Returns:
        ``(joints, used)``: (B, J, 3) points in mm and (B, C, J) boolean views used.
    """
    pts, P, ok = _prepare(points, projections, valid)
    B, C, J, _ = pts.shape
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
    complete = (masks.sum(1) == size)  # all views of the subset detected
    X = _hypotheses(masks, x, y, rig.P, rig, chunk)
    err, _, _ = _scores(X, pts, P, ok, threshold)
    err = torch.where(masks, err, torch.zeros_like(err))
    worst = err.amax(1)  # (B, J, H)
    mean = err.sum(1) / size.clamp_min(1)
    consistent = complete & (worst < threshold)
    score = torch.where(consistent, size.to(err.dtype) - (mean / threshold).clamp(max=1.0) * 0.5,
                        -1e6 - mean)  # fall back to the most accurate subset
    score = torch.where(complete, score, torch.full_like(score, -1e12))
    best = score.argmax(-1)
    used = torch.gather(masks, 3, best[:, None, :, None].expand(B, C, J, 1))[..., 0]
    return _finish(used, pts, P, x, y, rig, refine, points.dtype), used
