"""Vectorised ray casting of capsules: per-pixel nearest hit for many views at once.

Everything happens in each camera's frame, where every pixel ray starts at the origin and runs along
``d = (x, y, 1)``, ``(x, y)`` the pixel's undistorted normalised image coordinates. The ray parameter of a hit is
then its depth ``z_cam`` (mm) directly.

**Capsule** (segment ``A -> B``, unit axis ``u``, length ``L``, radius ``r``): the infinite cylinder around the axis
is hit where ``|m + s w|^2 = r^2``, ``m`` the component of ``-A`` perpendicular to ``u`` and ``w = d - (d.u) u``::

    qa = d.d - (d.u)^2,  qb = m.d,  qc = |m|^2 - r^2,  s = (-qb - sqrt(qb^2 - qa qc)) / qa

and the hit lies on the capsule's body when its axial position ``y = s (d.u) - A.u`` is within ``[0, L]``;
otherwise the ray can only enter through the end sphere on that side (a ray that misses the infinite cylinder misses
the capsule). ``d.u``, ``m.d`` and ``A.d`` are affine in ``(x, y)``, so per pixel-capsule pair the test costs a few
dozen multiply-adds. All per-capsule quantities are computed once per view in float64, per-pixel ones in float32.

**Culling**: the image is cut into ``tile x tile`` pixel tiles; a capsule is tested only against tiles whose range
of ``(x, y)`` overlaps the capsule's projected bounding box (the box through the projections of the corners of its
camera-frame axis-aligned bounding box; exact for any pinhole because the projection of a convex set lies in the
convex hull of the projected corners). Surviving ``(view, tile, capsule)`` triples are evaluated in one batch and
the nearest hit per pixel is found with a single ``scatter_reduce(amin)`` on 64-bit keys that pack the depth's
float bits (monotonic for positive floats) with the capsule index.
"""

from __future__ import annotations

import torch
from torch import Tensor

__all__ = [
    "capsule_params",
    "hit_capsules",
    "nearest_hits_dense",
    "nearest_hits_tiled",
    "nearest_hits_loop",
    "capsule_bounds",
    "NEAR",
]

NEAR = 10.0
"""Nearest depth (mm) a surface is drawn at; capsules reaching closer than this to a camera are never culled."""

_INDEX_BITS = 8  # up to 256 capsules


def capsule_params(a: Tensor, b: Tensor, r: Tensor) -> Tensor:
    """Per-capsule constants of the intersection test.

    Args:
        a, b: (..., K, 3) camera-frame endpoints in mm (any float dtype; float64 recommended).
        r: (..., K) radii in mm.

    Returns:
        (..., K, 14) float32 ``[ux, uy, uz, mx, my, mz, |m|^2 - r^2, A.u, L, Ax, Ay, Az, |A|^2 - r^2, |B|^2 - r^2]``.
    """
    a, b, r = a.double(), b.double(), r.double()
    ax = b - a
    L = ax.norm(dim=-1, keepdim=True)
    degenerate = L < 1e-6
    z = torch.zeros_like(ax)
    z[..., 2] = 1.0
    u = torch.where(degenerate, z, ax / L.clamp_min(1e-6))
    L = torch.where(degenerate, torch.zeros_like(L), L)
    au = (a * u).sum(-1, keepdim=True)
    m = -a + au * u  # perpendicular component of (origin - A)
    r2 = (r * r)[..., None]
    mmr = (m * m).sum(-1, keepdim=True) - r2
    cap_a = (a * a).sum(-1, keepdim=True) - r2
    cap_b = (b * b).sum(-1, keepdim=True) - r2
    return torch.cat([u, m, mmr, au, L, a, cap_a, cap_b], -1).float()


def hit_capsules(x: Tensor, y: Tensor, dd: Tensor, p: Tensor) -> Tensor:
    """Depth of the first hit of rays ``(x, y, 1)`` with capsules.

    Args:
        x, y, dd: (..., T) normalised ray coordinates and ``1 + x^2 + y^2``.
        p: (..., 14) capsule constants from :func:`capsule_params` (broadcast against the rays: pass (..., 1, 14)
            views with one capsule per row of rays, or any broadcastable layout).

    Returns:
        (..., T) hit depth in mm (``inf`` where the ray misses or the hit is nearer than :data:`NEAR`).
    """
    ux, uy, uz, mx, my, mz, mmr, au, L, ax, ay, az, cap_a, cap_b = (p[..., i] for i in range(14))
    du = torch.addcmul(torch.addcmul(uz, ux, x), uy, y)  # d.u
    md = torch.addcmul(torch.addcmul(mz, mx, x), my, y)  # m.d
    qa = torch.addcmul(dd, du, du, value=-1.0)
    h = torch.addcmul(md * md, qa, mmr, value=-1.0)
    miss = h < 0
    s = h.clamp_min_(0).sqrt_().add_(md).div_(qa).neg_()  # cylinder entry depth (h reused)
    ya = torch.addcmul(-au, s, du)  # axial position of the cylinder hit
    body = (ya >= 0) & (ya <= L) & (qa > 1e-10)
    # end sphere on the side the cylinder hit falls: A when y < L/2, else B = A + L u
    far = (ya >= 0.5 * L).to(x.dtype)
    pd = torch.addcmul(torch.addcmul(az, ax, x), ay, y)  # A.d
    pd = pd.addcmul_(far * L, du)
    cc = torch.addcmul(cap_a, far, cap_b - cap_a)
    h2 = torch.addcmul(pd * pd, dd, cc, value=-1.0)
    miss |= ~body & (h2 < 0)
    s2 = pd.sub_(h2.clamp_min_(0).sqrt_()).div_(dd)
    t = torch.where(body, s, s2)
    miss |= t < NEAR
    return t.masked_fill_(miss, float("inf"))


def _pack(t: Tensor, k: Tensor) -> Tensor:
    """Pack positive float32 depths and capsule indices into int64 keys ordered by depth."""
    bits = t.contiguous().view(torch.int32).to(torch.int64)
    return (bits << _INDEX_BITS) | k


def _unpack(key: Tensor) -> tuple[Tensor, Tensor]:
    k = key & ((1 << _INDEX_BITS) - 1)
    t = (key >> _INDEX_BITS).to(torch.int32).view(torch.float32)
    return t, k


_NO_HIT = (0x7F800000 << _INDEX_BITS) | ((1 << _INDEX_BITS) - 1)  # key of (inf, 255)


def nearest_hits_dense(xy: Tensor, params: Tensor) -> tuple[Tensor, Tensor]:
    """Nearest capsule hit of every ray, testing every capsule (no culling; for few rays).

    Args:
        xy: (N, R, 2) normalised ray coordinates of R rays in each of N views.
        params: (N, K, 14) capsule constants per view.

    Returns:
        ``(depth, index)``: (N, R) depth in mm (``inf`` for no hit) and (N, R) int64 capsule index (``-1``).
    """
    x, y = xy[..., 0][:, None], xy[..., 1][:, None]  # (N, 1, R)
    dd = 1 + x * x + y * y
    t = hit_capsules(x, y, dd, params[:, :, None, :])  # (N, K, R)
    depth, idx = t.min(1)
    idx = torch.where(torch.isfinite(depth), idx, torch.full_like(idx, -1))
    return depth, idx


def capsule_bounds(a: Tensor, b: Tensor, r: Tensor) -> Tensor:
    """Conservative bounds of each capsule's projection in normalised image coordinates.

    Args:
        a, b: (..., K, 3) camera-frame endpoints in mm.
        r: (..., K) radii in mm.

    Returns:
        (..., K, 4) ``(x0, y0, x1, y1)``; ``-inf/inf`` for capsules reaching closer than :data:`NEAR` to the camera
        plane (tested everywhere), an empty box (``x0 > x1``) for capsules entirely behind the camera.
    """
    lo = torch.minimum(a, b) - r[..., None]
    hi = torch.maximum(a, b) + r[..., None]
    z0, z1 = lo[..., 2], hi[..., 2]
    zs = torch.stack([z0, z1], -1).clamp_min(1e-3)  # (..., K, 2)
    xs = torch.stack([lo[..., 0], hi[..., 0]], -1)
    ys = torch.stack([lo[..., 1], hi[..., 1]], -1)
    px = xs[..., :, None] / zs[..., None, :]  # (..., K, 2, 2)
    py = ys[..., :, None] / zs[..., None, :]
    box = torch.stack(
        [px.flatten(-2).amin(-1), py.flatten(-2).amin(-1), px.flatten(-2).amax(-1), py.flatten(-2).amax(-1)], -1
    )
    inf = torch.full_like(box, float("inf"))
    everywhere = torch.stack([-inf[..., 0], -inf[..., 1], inf[..., 2], inf[..., 3]], -1)
    empty = torch.stack([inf[..., 0], inf[..., 1], -inf[..., 2], -inf[..., 3]], -1)
    box = torch.where((z0 < NEAR)[..., None], everywhere, box)
    return torch.where((z1 < NEAR)[..., None], empty, box)


def nearest_hits_tiled(
    xy: Tensor, params: Tensor, bounds: Tensor, tile: int = 8, pair_chunk: int = 1 << 16
) -> tuple[Tensor, Tensor]:
    """Nearest capsule hit of every pixel of N images, culling capsules per tile.

    Args:
        xy: (N, H, W, 2) normalised (undistorted) coordinates of each pixel's ray.
        params: (N, K, 14) capsule constants per view (:func:`capsule_params`).
        bounds: (N, K, 4) projected capsule bounds (:func:`capsule_bounds`).
        tile: tile side in pixels.
        pair_chunk: pixel-capsule tests evaluated per batch (bounds the temporaries).

    Returns:
        ``(depth, index)``: (N, H, W) float32 depth in mm (``inf`` where no capsule is hit) and (N, H, W) int64
        capsule index (``-1`` where none).
    """
    N, H, W, _ = xy.shape
    K = params.shape[1]
    if K >= (1 << _INDEX_BITS) - 1:
        raise ValueError(f"at most {(1 << _INDEX_BITS) - 2} capsules are supported, got {K}")
    gh, gw = -(-H // tile), -(-W // tile)
    ph, pw = gh * tile - H, gw * tile - W
    if ph or pw:  # replicate the last row/column so padded rays stay inside the tile bounds
        xy = torch.nn.functional.pad(xy.permute(0, 3, 1, 2), (0, pw, 0, ph), mode="replicate").permute(0, 2, 3, 1)
    G, T = gh * gw, tile * tile
    xt = xy.reshape(N, gh, tile, gw, tile, 2).permute(0, 1, 3, 5, 2, 4).reshape(N, G, 2, T)
    tmin = xt.amin(-1)  # (N, G, 2)
    tmax = xt.amax(-1)
    ov = (
        (tmin[:, :, None, 0] <= bounds[:, None, :, 2])
        & (tmax[:, :, None, 0] >= bounds[:, None, :, 0])
        & (tmin[:, :, None, 1] <= bounds[:, None, :, 3])
        & (tmax[:, :, None, 1] >= bounds[:, None, :, 1])
    )
    n, g, k = ov.nonzero(as_tuple=True)  # (Np,)
    keys = torch.full((N * G, T), _NO_HIT, dtype=torch.int64, device=xy.device)
    x2 = xt.reshape(N * G, 2, T)
    vg = n * G + g
    step = max(1, pair_chunk // T)  # keep the temporaries of one chunk in cache
    for i in range(0, vg.numel(), step):
        vgi, ki = vg[i : i + step], k[i : i + step]
        rays = x2[vgi]  # (np, 2, T)
        x, y = rays[:, 0], rays[:, 1]
        dd = torch.addcmul(torch.addcmul(torch.ones_like(x), x, x), y, y)
        t = hit_capsules(x, y, dd, params[n[i : i + step], ki][:, None, :])  # (np, T)
        keys.scatter_reduce_(0, vgi[:, None].expand(-1, T), _pack(t, ki[:, None]), reduce="amin")
    depth, idx = _unpack(keys)
    idx = torch.where(torch.isfinite(depth), idx, torch.full_like(idx, -1))
    depth = depth.reshape(N, gh, gw, tile, tile).permute(0, 1, 3, 2, 4).reshape(N, gh * tile, gw * tile)[:, :H, :W]
    idx = idx.reshape(N, gh, gw, tile, tile).permute(0, 1, 3, 2, 4).reshape(N, gh * tile, gw * tile)[:, :H, :W]
    return depth, idx


def nearest_hits_loop(xy: Tensor, params: Tensor) -> tuple[Tensor, Tensor]:
    """Reference for :func:`nearest_hits_tiled`: every pixel against every capsule, one capsule at a time.

    This is the straightforward per-capsule z-buffer loop (no culling); it gives the same result and serves as the
    correctness reference and the speed baseline of ``benchmarks/render.py``.

    Args:
        xy: (N, H, W, 2) normalised ray coordinates.
        params: (N, K, 14) capsule constants.

    Returns:
        ``(depth, index)`` as :func:`nearest_hits_tiled`.
    """
    N, H, W, _ = xy.shape
    x, y = xy[..., 0].reshape(N, H * W), xy[..., 1].reshape(N, H * W)
    dd = 1 + x * x + y * y
    best = torch.full_like(x, float("inf"))
    idx = torch.full(x.shape, -1, dtype=torch.int64, device=x.device)
    for k in range(params.shape[1]):
        t = hit_capsules(x, y, dd, params[:, k, None, :])
        closer = t < best
        best = torch.where(closer, t, best)
        idx = idx.masked_fill(closer, k)
    return best.reshape(N, H, W), idx.reshape(N, H, W)
