"""Batched, differentiable, confidence-weighted DLT triangulation.

For a point seen at pixels ``(u_c, v_c)`` by cameras with projection matrices ``P_c`` (3 x 4), the direct linear
transform stacks two rows per view,

.. math::  w_c (u_c P_c^3 - P_c^1),\\qquad w_c (v_c P_c^3 - P_c^2),

into ``A`` (2C x 4) and takes the homogeneous ``X`` minimising ``|A X|`` with ``|X| = 1``: the eigenvector of
``M = A^T A`` with the smallest eigenvalue. ``w_c`` are the learned confidences of the algebraic model.

Implementation (everything vectorised over points, no per-point linear-algebra call):

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
from dataclasses import dataclass
from typing import Literal

import torch
from torch import Tensor

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

# index tables for the closed-form 4x4 adjugate (pairs of 2x2 minors of rows 0-1 and rows 2-3)
_S_A = [(0, 0, 1, 1), (0, 0, 1, 2), (0, 0, 1, 3), (0, 1, 1, 2), (0, 1, 1, 3), (0, 2, 1, 3)]
_C_A = [(2, 0, 3, 1), (2, 0, 3, 2), (2, 0, 3, 3), (2, 1, 3, 2), (2, 1, 3, 3), (2, 2, 3, 3)]
# adj[i][j] = sum_k sign * m[r, c] * minor, minors indexed into cat(s, c) (s: 0..5, c: 6..11)
_ADJ = [
    [(+1, 1, 1, 11), (-1, 1, 2, 10), (+1, 1, 3, 9)],
    [(-1, 0, 1, 11), (+1, 0, 2, 10), (-1, 0, 3, 9)],
    [(+1, 3, 1, 5), (-1, 3, 2, 4), (+1, 3, 3, 3)],
    [(-1, 2, 1, 5), (+1, 2, 2, 4), (-1, 2, 3, 3)],
    [(-1, 1, 0, 11), (+1, 1, 2, 8), (-1, 1, 3, 7)],
    [(+1, 0, 0, 11), (-1, 0, 2, 8), (+1, 0, 3, 7)],
    [(-1, 3, 0, 5), (+1, 3, 2, 2), (-1, 3, 3, 1)],
    [(+1, 2, 0, 5), (-1, 2, 2, 2), (+1, 2, 3, 1)],
    [(+1, 1, 0, 10), (-1, 1, 1, 8), (+1, 1, 3, 6)],
    [(-1, 0, 0, 10), (+1, 0, 1, 8), (-1, 0, 3, 6)],
    [(+1, 3, 0, 4), (-1, 3, 1, 2), (+1, 3, 3, 0)],
    [(-1, 2, 0, 4), (+1, 2, 1, 2), (-1, 2, 3, 0)],
    [(-1, 1, 0, 9), (+1, 1, 1, 7), (-1, 1, 2, 6)],
    [(+1, 0, 0, 9), (-1, 0, 1, 7), (+1, 0, 2, 6)],
    [(-1, 3, 0, 3), (+1, 3, 1, 1), (-1, 3, 2, 0)],
    [(+1, 2, 0, 3), (-1, 2, 1, 1), (+1, 2, 2, 0)],
]


def adjugate4(m: Tensor | list[Tensor]) -> Tensor:
    """Closed-form adjugate of many 4x4 matrices, stored as structure of arrays.

    Uses Laplace expansion by complementary 2x2 minors of rows (0, 1) and rows (2, 3): twelve minors, then three
    products per entry. Every operation is elementwise on contiguous length-N rows, which is what makes it fast.

    Args:
        m: (16, N) row-major entries of N matrices (``m[4 * r + c]`` is entry (r, c) of every matrix), or a
            list of those 16 rows.

    Returns:
        (16, N) entries of ``adj(m)`` (equal to ``det(m) * inverse(m)`` where invertible).
    """
    e = lambda r, c: m[4 * r + c]  # noqa: E731
    minors = [e(a, b) * e(c, d) - e(a, d) * e(c, b) for a, b, c, d in _S_A + _C_A]
    out = []
    for terms in _ADJ:
        acc = None
        for sign, r, c, k in terms:
            t = e(r, c) * minors[k]
            acc = (t if sign > 0 else -t) if acc is None else (acc + t if sign > 0 else acc - t)
        out.append(acc)
    return torch.stack(out)


def _det3(a: Tensor) -> Tensor:
    """Determinants of (..., 3, 3) matrices in closed form."""
    return (a[..., 0, :] * torch.linalg.cross(a[..., 1, :], a[..., 2, :])).sum(-1)


def _solve3(a: Tensor, b: Tensor) -> tuple[Tensor, Tensor]:
    """Closed-form (Cramer) solve of (..., 3, 3) systems: returns (solution (..., 3), determinant (...)).

    Singular systems give a zero solution; callers check the determinant.
    """
    c0 = torch.linalg.cross(a[..., 1, :], a[..., 2, :])
    c1 = torch.linalg.cross(a[..., 2, :], a[..., 0, :])
    c2 = torch.linalg.cross(a[..., 0, :], a[..., 1, :])
    det = (a[..., 0, :] * c0).sum(-1)
    safe = torch.where(det == 0, torch.ones_like(det), det)[..., None]
    # inverse(a) has columns c0, c1, c2 divided by det
    return (c0 * b[..., :1] + c1 * b[..., 1:2] + c2 * b[..., 2:]) / safe, det


def _intrinsics_from_projection(P: Tensor) -> tuple[Tensor, Tensor]:
    """Recover upper-triangular K (up to scale) from P = K [R | t]; returns (P / |P^3_{:3}|, K^{-1})."""
    scale = P[..., 2, :3].norm(dim=-1)[..., None, None]
    Pn = P / scale
    Mm = Pn[..., :3]
    G = Mm @ Mm.transpose(-1, -2)  # = K K^T with K[2,2] = 1
    cx, cy = G[..., 0, 2], G[..., 1, 2]
    fy = (G[..., 1, 1] - cy * cy).clamp_min(1e-30).sqrt()
    skew = (G[..., 0, 1] - cx * cy) / fy
    fx = (G[..., 0, 0] - cx * cx - skew * skew).clamp_min(1e-30).sqrt()
    zero, one = torch.zeros_like(fx), torch.ones_like(fx)
    # inverse of [[fx, s, cx], [0, fy, cy], [0, 0, 1]]
    Kinv = torch.stack(
        [
            1 / fx,
            -skew / (fx * fy),
            (skew * cy - cx * fy) / (fx * fy),
            zero,
            1 / fy,
            -cy / fy,
            zero,
            zero,
            one,
        ],
        -1,
    ).reshape(*fx.shape, 3, 3)
    return Pn, Kinv


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


@dataclass
class NormalizedRig:
    """Similarity-normalised projection matrices of B rigs of C views (see module docstring).

    Attributes:
        P: (B, C, 3, 4) normalised projections acting on normalised world points ``X' = (X - origin) / spread``
            and giving normalised image coordinates (pixels mapped through ``K^{-1}``).
        Kinv: (B, C, 3, 3) inverse intrinsics recovered from the input projections.
        origin: (B, 1, 3) centroid of the camera centres, mm.
        spread: (B,) mean distance of the centres to their centroid, mm (at least 1).
    """

    P: Tensor
    Kinv: Tensor
    origin: Tensor
    spread: Tensor

    def normalize_points(self, pts: Tensor) -> tuple[Tensor, Tensor]:
        """(B, C, J, 2) pixels -> two (B, C, J) tensors of normalised image coordinates."""
        Ki = self.Kinv
        u, v = pts[..., 0], pts[..., 1]
        x = Ki[..., 0, 0, None] * u + Ki[..., 0, 1, None] * v + Ki[..., 0, 2, None]
        y = Ki[..., 1, 1, None] * v + Ki[..., 1, 2, None]
        return x, y

    def denormalize(self, Xn: Tensor) -> Tensor:
        """(B, ..., 3) normalised world points -> world millimetres."""
        shape = (-1,) + (1,) * (Xn.dim() - 2) + (3,)
        return Xn * self.spread.reshape(shape[:-1] + (1,)) + self.origin.reshape(shape)


def normalize_projections(P: Tensor) -> NormalizedRig:
    """Hartley-style normalisation of (B, C, 3, 4) projection matrices (pixels and world mm)."""
    Pn, Kinv = _intrinsics_from_projection(P)
    Pn = Kinv @ Pn  # = +-[R | t]
    centres = -_solve3(Pn[..., :3], Pn[..., 3])[0]  # (B, C, 3) camera centres
    origin = centres.mean(1, keepdim=True)  # (B, 1, 3)
    spread = (centres - origin).norm(dim=-1).mean(1).clamp_min(1.0)  # (B,)
    return NormalizedRig(_shift_scale(Pn, origin, spread), Kinv, origin, spread)


def dlt_normalized(x: Tensor, y: Tensor, w: Tensor, P: Tensor, iterations: int = 2) -> Tensor:
    """Weighted DLT in normalised coordinates for every point at once.

    Args:
        x, y: (B, C, N) normalised image coordinates.
        w: (B, C, N) weights (rows of view c are multiplied by ``w``).
        P: (B, C, 3, 4) normalised projections.
        iterations: power iterations on the adjugate.

    Returns:
        (B, N, 3) normalised world points.
    """
    B, C, N = x.shape
    p1, p2, p3 = P[..., 0, :], P[..., 1, :], P[..., 2, :]  # (B, C, 4)
    outer = lambda a, b: a[..., :, None] * b[..., None, :]  # noqa: E731
    s31 = outer(p3, p1)
    s32 = outer(p3, p2)
    basis = torch.stack(
        [outer(p3, p3), s31 + s31.transpose(-1, -2), s32 + s32.transpose(-1, -2), outer(p1, p1) + outer(p2, p2)], 2
    ).reshape(B, C * 4, 16)  # (B, 4C, 16)
    w2 = w * w
    coef = torch.stack([w2 * (x * x + y * y), -w2 * x, -w2 * y, w2], -1)  # (B, C, N, 4)
    coef = coef.permute(0, 1, 3, 2).reshape(B, C * 4, N)
    M = torch.bmm(basis.transpose(1, 2), coef)  # (B, 16, N): A^T A of every point
    M = M.permute(1, 0, 2).reshape(16, B * N)
    return null_vector_dehomogenized(M, iterations).reshape(B, N, 3)


def null_vector_dehomogenized(M: Tensor, iterations: int = 2) -> Tensor:
    """Eigenvector of the smallest eigenvalue of symmetric PSD 4x4 matrices, as a 3D point.

    Args:
        M: (16, N) row-major entries of N symmetric positive semi-definite matrices (``A^T A`` of DLT systems),
            stored as structure of arrays.
        iterations: power iterations on the adjugate after the first column pick.

    Returns:
        (N, 3) dehomogenised eigenvectors (a homogeneous coordinate near 0 is clamped, keeping values finite).
    """
    tiny = torch.finfo(M.dtype).tiny
    rows = list(M.unbind(0))
    # a relative ridge changes no eigenvector but keeps adj(M) non-zero when M has a 2D null space
    ridge = 1e-13 * (rows[0] + rows[5] + rows[10] + rows[15]) + tiny
    for i in (0, 5, 10, 15):
        rows[i] = rows[i] + ridge
    adj = adjugate4(rows)  # (16, N)
    diag = torch.stack([adj[0], adj[5], adj[10], adj[15]]).abs()
    k = diag.argmax(0)  # (N,)
    cols = adj.reshape(4, 4, -1)  # cols[r, c, n]
    v = torch.gather(cols, 1, k.expand(4, 1, -1))[:, 0]  # (4, N): column k = adj e_k, already near the answer
    for step in range(iterations + 1):
        v = v * torch.rsqrt((v * v).sum(0, keepdim=True) + tiny)
        if step < iterations:
            v = (cols * v[None]).sum(1)
    h = v[3]
    small = 1e-12 if M.dtype == torch.float64 else 1e-6
    h = torch.where(h.abs() < small, torch.where(h < 0, -small, small).to(h.dtype), h)
    return (v[:3] / h).T


def camera_centres(P: Tensor) -> Tensor:
    """Camera centres ``C`` with ``P [C; 1] = 0`` of (..., 3, 4) projection matrices -> (..., 3) (world mm)."""
    return -_solve3(P[..., :3], P[..., 3])[0]


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


def dlt_svd(points: Tensor, weights: Tensor, projections: Tensor) -> Tensor:
    """The raw weighted DLT solved by SVD, batched over points (the paper's released code, one point at a time).

    For each point the rows ``w_c (u_c P_c^3 - P_c^1)`` and ``w_c (v_c P_c^3 - P_c^2)`` are stacked view by view
    (u row, then v row) into ``A`` (2C x 4), with no normalisation, and the right singular vector of the smallest
    singular value is dehomogenised. Runs in the inputs' dtype.

    Args:
        points: (B, C, J, 2) pixels.
        weights: (B, C, J) row weights.
        projections: (B, C, 3, 4) projection matrices (world mm to pixels).

    Returns:
        (B, J, 3) points in world mm (differentiable through the SVD where singular values are distinct).
    """
    rows = projections[:, :, None, 2:3, :] * points[..., None]  # (B, C, J, 2, 4): u P3, v P3
    rows = (rows - projections[:, :, None, :2, :]) * weights[..., None, None]
    A = rows.permute(0, 2, 1, 3, 4).flatten(2, 3)  # (B, J, 2C, 4), rows ordered (view, u/v)
    _, _, vh = torch.linalg.svd(A, full_matrices=False)
    Xh = vh[..., -1, :]
    return Xh[..., :3] / Xh[..., 3:]


def _shift_scale(Pn: Tensor, origin: Tensor, spread: Tensor) -> Tensor:
    """Express projections in world coordinates X = origin + spread * X' (so X' is O(1))."""
    rot = Pn[..., :3]  # (B, C, 3, 3)
    trans = Pn[..., 3] + (rot @ origin[:, 0, :, None].unsqueeze(1))[..., 0]  # (B, C, 3)
    return torch.cat([rot, (trans / spread[:, None, None])[..., None]], -1)


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
