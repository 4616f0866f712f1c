"""Linear-algebra kernels of the direct linear transform, batched over points.

The solvers that :func:`lt_core.ops.triangulation.triangulate` and the robust variants of :mod:`lt_core.ops.ransac`
run on each pass of points, with no input checking of their own (their callers validate):

- Closed-form small matrices: :func:`adjugate4` (4 x 4 adjugates stored as structure of arrays, ``(16, N)``),
  3 x 3 determinants and Cramer solves, camera centres (world mm) of ``(..., 3, 4)`` projection matrices.
- Normalisation: :func:`normalize_projections` turns ``(B, C, 3, 4)`` projections (world mm to pixels) into a
  :class:`NormalizedRig`: each view's intrinsics ``K_c`` are read back from its ``P_c`` so that pixels map
  through ``K_c^{-1}`` to unitless image coordinates, and world points are shifted by the camera centres' centroid
  (mm) and divided by their mean distance to it (mm), so that the unknowns are O(1).
- Solves: :func:`dlt_normalized` assembles ``A^T A`` of every point of the normalised weighted system and
  :func:`null_vector_dehomogenized` takes its smallest eigenvector through the adjugate and a few power iterations
  (finite derivatives even for coincident views); :func:`dlt_svd` solves the raw pixel/mm system by batched SVD,
  as the paper's released code does.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

__all__ = [
    "adjugate4",
    "camera_centres",
    "NormalizedRig",
    "normalize_projections",
    "dlt_normalized",
    "null_vector_dehomogenized",
    "dlt_svd",
]

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
