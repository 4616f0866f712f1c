"""Batched, differentiable, confidence-weighted DLT triangulation.

For a point seen at pixels ``(u_c, v_c)`` by cameras with projection matrices ``P_c`` (3 x 4), the direct linear
transform stacks two rows per view,

.. math::  w_c (u_c P_c^3 - P_c^1),\\qquad w_c (v_c P_c^3 - P_c^2),

into ``A`` (2C x 4) and takes the homogeneous ``X`` minimising ``|A X|`` with ``|X| = 1``: the eigenvector of
``M = A^T A`` with the smallest eigenvalue. ``w_c`` are the learned confidences of the algebraic model.

Implementation (everything vectorised over points, no per-point linear-algebra call; the kernels live in
:mod:`lt_core.ops.dlt_kernels`, this module checks inputs, splits them into passes and handles missing views):

1. **Normalisation** (Hartley style, data independent). Each view's pixels are mapped through ``K_c^{-1}``, with
   ``K_c`` recovered from ``P_c`` itself, so all views speak in normalised image units; world coordinates are
   centred on the cameras' centroid and scaled by their spread. Both are similarity transforms, so noise-free
   points are recovered exactly; with noise, the algebraic error is balanced between views.
2. ``M`` is assembled for all points with one batched matrix product: per view it is a combination of four fixed
   4 x 4 matrices with per-point coefficients ``w^2 (u^2 + v^2), -w^2 u, -w^2 v, w^2``.
3. The smallest eigenvector is the dominant eigenvector of the adjugate ``adj(M)`` (eigenvalues ``det M / l_i``),
   computed in closed form and refined by power iteration. Unlike SVD's backward pass, whose terms
   ``1 / (s_i^2 - s_j^2)`` blow up when views coincide, every step here has finite derivatives.

Computation runs in float64 internally unless ``precision="native"`` (float32 inputs stay float32 then).

``normalize=False`` solves the system the paper's released code solves instead (convention ``"official"`` of
:mod:`lt_core.conventions`): the same weighted rows in raw pixels and world millimetres, no normalisation, the
smallest right singular vector of ``A`` from one SVD per point (batched). Noise-free points give the same answer
either way; with noise the two weigh the views differently (tens of mm apart with a few pixels of noise), and the
raw system in float32 carries about 0.1 mm of rounding.

Lens distortion: projection matrices describe an ideal pinhole, so every function here takes *undistorted* pixels.
Detections on real (distorted) images must be undistorted first; :mod:`lt_core.ops.camera_triangulation`
(``triangulate_cameras``) takes :class:`~lt_core.camera.Camera` objects and distorted pixels and does it exactly.
"""

from __future__ import annotations

import warnings
from typing import Literal

import torch
from torch import Tensor

from lt_core.ops.dlt_kernels import (
    NormalizedRig,
    _det3,
    adjugate4,
    camera_centres,
    dlt_normalized,
    dlt_svd,
    normalize_projections,
    null_vector_dehomogenized,
)
from lt_core.ops.execution import as_tensor, point_chunks, rescale_weights, single_thread_below
from lt_core.ops.execution import single_threaded as _threads

__all__ = [
    "triangulate",
    "triangulate_reference",
    "TriangulationError",
    "reprojection_error",
    "project_points",
    "normalize_projections",
    "dlt_normalized",
    "dlt_svd",
    "null_vector_dehomogenized",
    "NormalizedRig",
    "adjugate4",
    "UnderdeterminedWarning",
    "camera_centres",
    "rescale_weights",
    "single_thread_below",
    "CHUNK_POINTS",
]


class TriangulationError(ValueError):
    """Raised for inputs that cannot be triangulated (too few views, NaN, degenerate cameras, bad shapes)."""


class UnderdeterminedWarning(UserWarning):
    """Points were triangulated from views that share one camera centre (one view, or coincident cameras) because
    ``min_views=1`` allowed it: such a point can be anywhere on its ray, so its depth is arbitrary."""


CHUNK_POINTS = 1 << 15
"""Points solved per pass by :func:`triangulate` when no gradient is recorded, for 4 views (``C`` views: ``4 / C``
as many): temporaries stay about 20 MB per pass however many points there are, so throughput stays flat and memory
stays a fraction of the input."""


def _check_inputs(points: Tensor, projections: Tensor, weights: Tensor | None) -> None:
    if points.dim() < 3 or points.shape[-1] != 2:
        raise TriangulationError(f"points must have shape (..., C, J, 2), got {tuple(points.shape)}")
    if projections.shape[-2:] != (3, 4):
        raise TriangulationError(f"projections must have shape (..., C, 3, 4), got {tuple(projections.shape)}")
    if projections.shape[:-2] != points.shape[:-2]:
        raise TriangulationError(
            "points (..., C, J, 2) and projections (..., C, 3, 4) disagree on the batch/view dimensions: "
            f"{tuple(points.shape)} vs {tuple(projections.shape)}"
        )
    if weights is not None and weights.shape != points.shape[:-1]:
        raise TriangulationError(
            f"weights must have shape {tuple(points.shape[:-1])} (..., C, J), got {tuple(weights.shape)}"
        )


def _no_baseline(P: Tensor, usable: Tensor, counts: Tensor) -> Tensor:
    """(B, J) points whose usable views all share one camera centre (a single view, or coincident cameras).

    Args:
        P: (B, C, 3, 4) projections; usable: (B, C, J) views with weight > 0; counts: (B, J) usable views.
    """
    alone = counts == 1
    centres = camera_centres(P)  # (B, C, 3)
    C = centres.shape[1]
    scale = centres.norm(dim=-1).amax(-1, keepdim=True)[..., None].clamp_min(1.0)  # (B, 1, 1)
    close = (centres[:, :, None] - centres[:, None]).norm(dim=-1) <= 1e-9 * scale  # (B, C, C)
    if not bool(close.sum((1, 2)).gt(C).any()):  # only the diagonal: every centre distinct
        return alone
    # group id of a view: the first view at the same position; all usable views in one group -> no baseline
    group = torch.where(close, torch.arange(C, device=P.device), C).amin(-1)  # (B, C)
    g = group[..., None].expand_as(usable)
    gmin = torch.where(usable, g, C).amin(1)
    gmax = torch.where(usable, g, -1).amax(1)
    return (gmin == gmax) & (counts >= 1)


def triangulate(
    points: Tensor,
    projections: Tensor,
    weights: Tensor | None = None,
    *,
    min_views: int = 2,
    on_insufficient: Literal["raise", "nan"] = "raise",
    precision: Literal["float64", "native"] = "float64",
    iterations: int = 2,
    check: bool = True,
    normalize: bool = True,
) -> Tensor:
    """Confidence-weighted DLT triangulation of many points at once.

    Args:
        points: (..., C, J, 2) pixel coordinates of J points in C views, of an ideal pinhole (undistorted: for
            detections on distorted images use :func:`lt_core.ops.camera_triangulation.triangulate_cameras`, which
            undistorts with the cameras first). Entries of views with zero weight may be NaN (a missing detection).
            Tensors, NumPy arrays or nested lists; integer pixels are computed and returned in float64.
        projections: (..., C, 3, 4) projection matrices ``K [R | t]`` (world mm to pixels).
        weights: (..., C, J) non-negative confidences (``None``: all ones). A view counts as *usable* for a
            point when its weight is > 0. Only their ratios within a point matter: each point's weights are
            rescaled by a power of two before solving, so any common scale (1e-300 ... 1e300) gives the same point.
        min_views: smallest number of usable views per point (at least 1). A point needs two usable views from
            two different camera centres to have a depth; with ``min_views=1`` points that lack such a baseline
            (one view, or coincident cameras) are returned on their ray at an arbitrary depth, with an
            :class:`UnderdeterminedWarning`.
        on_insufficient: ``"raise"`` a :class:`TriangulationError` when a point has fewer than ``min_views``
            usable views (or, with ``min_views >= 2``, only views from one camera centre), or return NaN for
            those points (``"nan"``).
        precision: ``"float64"`` computes internally in double precision (the result keeps the input dtype);
            ``"native"`` stays in the input dtype (faster for float32, about 1e-5 relative accuracy).
        iterations: power iterations after the adjugate step (2 converges to machine precision for any
            non-degenerate geometry).
        check: validate values (NaN, degenerate cameras, coincident camera centres, view counts). Shape checks
            always run.
        normalize: ``True``: the Hartley-normalised system solved through the adjugate (module docstring).
            ``False``: the raw weighted system solved by SVD, as the paper's released code does (convention
            ``"official"``); with ``precision="native"`` in the inputs' precision, like its float32 models. There
            weights are rescaled only for points whose largest weight lies outside [2^-16, 2^16], so the released
            code's results stay bit-identical where its arithmetic works.

    Returns:
        (..., J, 3) triangulated points in world millimetres, differentiable with respect to points, weights and
        projections. Without autograd, points are solved in passes of :data:`CHUNK_POINTS` (flat throughput and
        memory for millions of points), on one thread unless the batch is large and the machine idle
        (:func:`single_thread_below`).

    Raises:
        TriangulationError: bad shapes or types, NaN/inf inputs in usable views, negative weights, degenerate
            projection matrices, too few usable views, or no baseline.
    """
    points = as_tensor(points, "points", TriangulationError)
    projections = as_tensor(projections, "projections", TriangulationError)
    weights = None if weights is None else as_tensor(weights, "weights", TriangulationError)
    _check_inputs(points, projections, weights)
    if min_views < 1:
        raise TriangulationError(f"min_views must be >= 1, got {min_views}")
    if on_insufficient not in ("raise", "nan"):
        raise TriangulationError(f"on_insufficient must be 'raise' or 'nan', got {on_insufficient!r}")
    if precision not in ("float64", "native"):
        raise TriangulationError(f"precision must be 'float64' or 'native', got {precision!r}")
    *lead, C, J, _ = points.shape
    out_dtype = points.dtype if points.dtype.is_floating_point else torch.float64
    if precision == "float64":
        work = torch.float64
    else:
        work = torch.promote_types(out_dtype, projections.dtype)
        work = work if work.is_floating_point else torch.float64
    B = 1
    for d in lead:
        B *= d
    pts_all = points.reshape(B, C, J, 2)
    P = projections.reshape(B, C, 3, 4).to(work)
    w_all = None if weights is None else weights.reshape(B, C, J)

    if w_all is None:
        usable = torch.ones(B, C, J, dtype=torch.bool, device=points.device)
    else:
        if check:
            if not bool(torch.isfinite(w_all).all()):
                raise TriangulationError("weights contain NaN or inf")
            if bool((w_all.amin() if w_all.numel() else w_all.new_zeros(())) < 0):
                raise TriangulationError("weights must be non-negative")
        usable = w_all > 0
    if check:
        if not torch.isfinite(P).all():
            raise TriangulationError("projection matrices contain NaN or inf")
        det = _det3(P[..., :3])
        size = P[..., :3].abs().amax((-1, -2)).clamp_min(1e-300)
        degenerate = det.abs() <= 1e-9 * size**3
        if degenerate.any():
            b, c = (int(i) for i in degenerate.nonzero()[0])
            raise TriangulationError(f"degenerate camera: projection matrix of sample {b}, view {c} has rank < 3")
    counts = usable.sum(1)  # (B, J)
    insufficient = counts < min_views
    if on_insufficient == "raise" and bool(insufficient.any()):
        b, j = (int(i) for i in insufficient.nonzero()[0])
        raise TriangulationError(
            f"{int(insufficient.sum())} point(s) have fewer than {min_views} usable views "
            f"(first: sample {b}, joint {j} with {int(counts[b, j])})"
        )
    if check and B * C * J:
        flat = _no_baseline(P, usable, counts) & ~insufficient
        if bool(flat.any()):
            b, j = (int(i) for i in flat.nonzero()[0])
            what = (
                f"{int(flat.sum())} point(s) are seen from a single camera centre only (one usable view, or "
                f"coincident cameras; first: sample {b}, joint {j} with {int(counts[b, j])} usable view(s))"
            )
            if min_views == 1:
                warnings.warn(
                    f"{what}: min_views=1 returns them on their ray at an arbitrary depth",
                    UnderdeterminedWarning,
                    stacklevel=2,
                )
            elif on_insufficient == "raise":
                raise TriangulationError(
                    f"{what}: their depth is undetermined; move a camera or give NaN with on_insufficient='nan'"
                )
            else:
                insufficient = insufficient | flat

    grad = torch.is_grad_enabled() and any(t is not None and t.requires_grad for t in (points, projections, weights))
    chunk = B * J if grad else max(1, CHUNK_POINTS * 4 // max(C, 4))  # same temporaries for any view count
    rig_all = normalize_projections(P) if normalize and chunk >= B * J else None
    X_all = None if grad else torch.empty(B, J, 3, dtype=out_dtype, device=points.device)
    with _threads(single_thread_below(B * J)):
        for sb, sj in point_chunks(B, J, max(chunk, 1)):
            pts = pts_all[sb, :, sj].to(work)
            use = usable[sb, :, sj]
            if w_all is None:
                w = torch.ones(pts.shape[:-1], dtype=work, device=pts.device)
            else:
                w = w_all[sb, :, sj].to(work)
            # missing detections: zero them so NaN cannot leak through a zero weight
            pts = torch.where(use[..., None], pts, torch.zeros((), dtype=pts.dtype, device=pts.device))
            if check and not bool(torch.isfinite(pts.sum())):
                bad = ~torch.isfinite(pts).all(-1)
                b, c, j = (int(i) for i in bad.nonzero()[0])
                raise TriangulationError(
                    f"points contain NaN or inf in a usable view (sample {b + sb.start}, view {c}, joint "
                    f"{j + sj.start}); give missing detections weight 0"
                )
            if normalize:
                rig = rig_all if rig_all is not None else normalize_projections(P[sb])
                x, y = rig.normalize_points(pts)
                Xn = dlt_normalized(x, y, rescale_weights(w), rig.P, iterations=iterations)  # (b, j, 3)
                X = rig.denormalize(Xn)
            else:
                X = dlt_svd(pts, rescale_weights(w, outside=(2.0**-16, 2.0**16)), P[sb])
            if X_all is None:
                X_all = X.to(out_dtype)
            else:
                X_all[sb, sj] = X
    X = X_all
    if insufficient.any():
        X = torch.where(insufficient[..., None], torch.full_like(X, float("nan")), X)
    return X.reshape(*lead, J, 3)


def triangulate_reference(points: Tensor, projections: Tensor, weights: Tensor | None = None) -> Tensor:
    """Float64 per-point SVD reference of the same normalised weighted DLT (slow; for tests and benchmarks).
    Undistorted (pinhole) pixels, as :func:`triangulate`.

    Args and returns as :func:`triangulate`; always computes with ``torch.linalg.svd`` in float64 and the same
    normalisation, so it is the exact answer the fast path must match.
    """
    _check_inputs(points, projections, weights)
    *lead, C, J, _ = points.shape
    B = 1
    for d in lead:
        B *= d
    pts = points.reshape(B, C, J, 2).double()
    P = projections.reshape(B, C, 3, 4).double()
    w = torch.ones(B, C, J, dtype=torch.float64) if weights is None else weights.reshape(B, C, J).double()
    rig = normalize_projections(P)
    Pn, Kinv, origin, spread = rig.P, rig.Kinv, rig.origin, rig.spread
    xy = (torch.cat([pts, torch.ones_like(pts[..., :1])], -1) @ Kinv.transpose(-1, -2))[..., :2]
    out = torch.empty(B, J, 3, dtype=torch.float64)
    for b in range(B):
        for j in range(J):
            rows = []
            for c in range(C):
                rows.append(w[b, c, j] * (xy[b, c, j, 0] * Pn[b, c, 2] - Pn[b, c, 0]))
                rows.append(w[b, c, j] * (xy[b, c, j, 1] * Pn[b, c, 2] - Pn[b, c, 1]))
            _, _, vh = torch.linalg.svd(torch.stack(rows))
            v = vh[-1]
            out[b, j] = v[:3] / v[3] * spread[b] + origin[b, 0]
    return out.to(points.dtype).reshape(*lead, J, 3)


def project_points(X: Tensor, projections: Tensor) -> Tensor:
    """Project world points with projection matrices.

    Args:
        X: (..., J, 3) world points in mm.
        projections: (..., C, 3, 4) projection matrices.

    Returns:
        (..., C, J, 2) pixels (ideal pinhole; no distortion).
    """
    Xh = torch.cat([X, torch.ones_like(X[..., :1])], -1)  # (..., J, 4)
    x = Xh[..., None, :, :] @ projections.transpose(-1, -2)  # (..., C, J, 3)
    z = x[..., 2:]
    z = torch.where(z.abs() < 1e-12, torch.full_like(z, 1e-12), z)
    return x[..., :2] / z


def reprojection_error(X: Tensor, points: Tensor, projections: Tensor) -> Tensor:
    """Pixel distance between observed points and reprojected 3D points.

    Args:
        X: (..., J, 3) world points in mm.
        points: (..., C, J, 2) observed pixels (undistorted; for distorted detections use
            :func:`lt_core.ops.camera_triangulation.reprojection_error_cameras`).
        projections: (..., C, 3, 4) projection matrices.

    Returns:
        (..., C, J) reprojection errors in pixels.
    """
    return (project_points(X, projections) - points).norm(dim=-1)
