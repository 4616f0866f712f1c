"""The ``"gather"`` unprojection backend: bilinear sampling as a weighted gather, in pure PyTorch.

Used by :func:`lt_core.ops.unprojection.unproject_features` (``backend="gather"``, and ``"auto"`` on the CPU when
numba is missing); the ``"centres"`` pixel convention only.

The C maps of a sample are zero-padded by one pixel and stored
channels-last as the rows of a table: 2 sentinel rows, then C * (h+2) * (w+2) rows of F values. A voxel-view that
sees a map reads the 4 rows around its pixel with the bilinear weights (taps in the padding ring read zeros, like
grid_sample's zero padding); F.embedding_bag(mode="sum", per_sample_weights=...) does the gather and the weighted
sum in one vectorised pass. "sum"/"conf" use one bag of 4*C taps per voxel (conf: the view weights are folded
into the table), "softmax" one bag of 4 taps per voxel-view followed by a softmax over the views.
In padded pixel coordinates (u + 1, v + 1) a visible voxel lies in [0.5, w + 0.5] x [0.5, h + 0.5], so its four
taps are always inside its own padded map. Hidden voxel-views read table rows (0, 1, w+2, w+3) with weights
(1, 0, 0, 0): row 0 holds _HIDDEN_LOGIT for the softmax (0 for the sums) and the other three are padding zeros,
so a hidden view adds nothing to a sum and gets softmax weight exp(-1e30) = 0. A voxel that no view sees has its
view 0 read rows (1, 2, w+3, w+4) instead (all zeros): its softmax is then [1, 0, ...] over values
[0, -1e30, ...], exactly 0.

Without autograd the softmax over views runs in base 2 on a table scaled by log2(e): with s2 = log2(e) * s,
softmax_c(s) = 2^s2_c / sum_j 2^s2_j, and exp2 is several times cheaper than exp on the CPU. No max is subtracted:
the table's values bound every sample (bilinear weights are convex, the padding is 0), so when they are small
enough (_EXP2_LIMIT) 2^s2 can neither overflow nor underflow to 0 and the plain ratio is as accurate as the
max-shifted one. Larger features, and autograd, use torch.softmax on the unscaled table.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor

from lt_core.camera import Camera
from lt_core.ops.grid import project_grid

__all__ = ["GATHER_CHUNK_ELEMENTS", "GatherTaps", "unproject_gather"]

_HIDDEN_LOGIT = -1e30
_SENTINEL_ROWS = 2
GATHER_CHUNK_ELEMENTS = 1 << 20
_SOFTMAX_CHUNK_ELEMENTS = 1 << 19
_EXP2_LIMIT = {torch.float32: 100.0, torch.float64: 1000.0}
"""Largest ``|log2(e) * feature|`` for the base-2 softmax: 2^100 * 100 * C stays far below float32's 2^128 and
2^-100 far above its smallest normal 2^-126 (float64: 2^+-1000 against 2^1024 and 2^-1022)."""


def _gather_table(
    maps: Tensor, hidden: float, scale: Tensor | float | None = None, out: Tensor | None = None
) -> Tensor:
    """(C, F, h, w) maps of one sample -> (2 + C*(h+2)*(w+2), F) gather table.

    Row 0 is ``hidden``, row 1 zero, then the maps zero-padded by one pixel, channels last: row
    ``2 + c*(h+2)*(w+2) + (v+1)*(w+2) + (u+1)`` is pixel (u, v) of view c. ``scale``: optional (C,) view weights or
    one number multiplied into the maps.

    ``out``: a table of this layout from an earlier call with the same ``hidden`` (no autograd): only the pixels
    are overwritten, its sentinel rows and padding stay as they are.
    """
    C, Fc, h, w = maps.shape
    P = (h + 2) * (w + 2)
    if out is None:
        table = maps.new_zeros(_SENTINEL_ROWS + C * P, Fc)
        table[:1].fill_(hidden)
    else:
        table = out
    pixels = table[_SENTINEL_ROWS:].view(C, h + 2, w + 2, Fc)[:, 1:-1, 1:-1]
    if torch.is_grad_enabled() and (maps.requires_grad or (isinstance(scale, Tensor) and scale.requires_grad)):
        weighted = (
            maps if scale is None else maps * (scale[:, None, None, None] if isinstance(scale, Tensor) else scale)
        )
        pixels.copy_(weighted.permute(0, 2, 3, 1))
        return table
    # one 2-D transposition per view, (F, h*w) -> (h*w, F): copy_'s cache-blocked transpose (a contiguous target
    # and a transposed contiguous source) is much faster than the strided copy of the 4-D permutation; the small
    # channels-last map is then copied (and scaled) row by row into the padded table
    flat = maps.new_empty(h * w, Fc)
    factors = scale.tolist() if isinstance(scale, Tensor) else [scale] * C
    for c in range(C):
        flat.copy_(maps[c].view(Fc, h * w).t())
        if factors[c] is None:
            pixels[c].copy_(flat.view(h, w, Fc))
        else:
            torch.mul(flat.view(h, w, Fc), factors[c], out=pixels[c])
    return table


class GatherTaps:
    """Bilinear taps of the gather backend (table rows and weights), one chunk of voxels of one sample at a time.

    Without lens distortion the projection matrices are folded once into ``(B, 3C, 3)`` / ``(B, 3C, 1)`` (pixel
    coordinates shifted by +1 into the padded maps, missing views given ``z = -1``), so one matrix product per
    chunk gives ``((u+1) z, (v+1) z, z)`` for all views, laid out ``(3, C, n)``: voxels innermost, so that the
    elementwise work runs over long contiguous rows. The visibility is a float 0/1 mask (clamping a coordinate to
    its visible range changes it iff it lies outside or is NaN; float compares and products are several times faster
    than boolean masks and ``torch.where`` on the CPU), and it is multiplied into the corner and the fractional
    parts, which moves hidden voxel-views to corner (0, 0) with weights (1, 0, 0, 0). Two small matrix products
    then interleave the taps per voxel (a layout change is costly on a CPU, and GEMM packing does it fastest):

    - rows: ``[unseen, m (first + u0 + W2 v0)] @ E + (0, 1, W2, W2+1)``, ``u0 = floor(u)``, ``m`` the mask,
      ``first`` the row of padded pixel (0, 0) of the view, and ``unseen`` adding 1 to view 0 of a voxel that no
      view sees (softmax only): exact integer arithmetic in floating point;
    - weights: ``[m a, m b, m a b] @ Mw + (1, 0, 0, 0)``, i.e. ``(1-a)(1-b), a(1-b), (1-a)b, ab`` with ``a, b`` the
      fractional parts (the product form up to float rounding).

    The taps are constants of the geometry (no gradient flows into the grid or the cameras). They are computed into
    buffers allocated once per call: the views returned for a chunk are overwritten by the next chunk.
    """

    def __init__(
        self,
        cameras: Camera | Tensor,
        points: Tensor,
        views_valid: Tensor | None,
        h: int,
        w: int,
        sdtype: torch.dtype,
        step: int,
    ):
        self.cameras, self.points = cameras, points.detach()
        B = points.shape[0]
        self.C = C = cameras.shape[1] if isinstance(cameras, Tensor) else cameras.batch_shape[1]
        self.h, self.w = h, w
        device, dtype = points.device, points.dtype
        self.valid = None if views_valid is None else views_valid.to(device=device, dtype=torch.bool)
        self.matrices = None
        if not (isinstance(cameras, Camera) and cameras.has_distortion):
            P = (cameras.projection if isinstance(cameras, Camera) else cameras).detach().to(dtype)  # (B, C, 3, 4)
            P = torch.stack([P[:, :, 0] + P[:, :, 2], P[:, :, 1] + P[:, :, 2], P[:, :, 2]], 2)  # pixel + 1
            if self.valid is not None:  # a missing view sees nothing: z = -1 everywhere
                behind = torch.tensor([0.0, 0.0, 0.0, -1.0], dtype=dtype, device=device)
                P = torch.where(self.valid[:, :, None, None], P, behind)
            P = P.transpose(1, 2)  # (B, 3, C, 4): rows ordered (coordinate, view)
            self.matrices = (P[..., :3].reshape(B, 3 * C, 3), P[..., 3:].reshape(B, 3 * C, 1))
        H2, W2 = h + 2, w + 2
        # rows are exact in floating point: integers below 2^24 in float32
        self.idtype = idtype = (
            sdtype if _SENTINEL_ROWS + C * H2 * W2 < 2**24 or sdtype == torch.float64 else torch.float64
        )
        kw = dict(device=device, dtype=idtype)
        self.W2 = W2
        # row of padded pixel (0, 0) of each view, (C, 1)
        self.first = (torch.arange(C, **kw) * (H2 * W2) + _SENTINEL_ROWS)[:, None]
        unseen = torch.zeros(1, 4 * C, **kw)
        unseen[0, :4] = 1.0  # view 0 of a voxel no view sees: rows (1, 2, W2+1, W2+2), all zeros
        # (1 + C, 4C): inputs [unseen, base] -> column c*4 + k gets base_c (+ unseen for view 0)
        self.rows_matrix = torch.cat([unseen, torch.eye(C, **kw).repeat_interleave(4, 1)])
        self.rows_bias = torch.tensor([0.0, 1.0, W2, W2 + 1.0], **kw).repeat(C)
        kw = dict(device=device, dtype=sdtype)
        mix = torch.tensor([[-1.0, 1.0, 0.0, 0.0], [-1.0, 0.0, 1.0, 0.0], [1.0, -1.0, -1.0, 1.0]], **kw)
        self.weights_matrix = torch.einsum("ij,ck->ickj", mix, torch.eye(C, **kw)).reshape(3 * C, 4 * C)
        self.weights_bias = torch.tensor([1.0, 0.0, 0.0, 0.0], **kw).repeat(C)
        # per-chunk work buffers (flat), and their views for a chunk of n voxels (cached per n). ``planes`` holds
        # the matrix products' inputs, rows [unseen (1), base (C), a (C), b (C), a b (C)], and ``corner`` the
        # (u0, v0) corners and then the mask
        new = lambda k, dt: torch.empty(k * step, dtype=dt, device=device)  # noqa: E731
        self._buffers = dict(
            q=new(3 * C, dtype),
            clamped=new(2 * C, dtype),
            corner=new(3 * C, sdtype),
            planes=new(1 + 4 * C, sdtype),
            rows_f=new(4 * C, idtype),
            rows=new(4 * C, torch.int32),
            wts=new(4 * C, sdtype),
        )
        if idtype != sdtype:  # the rows' inputs in float64, and the corners and mask converted to it
            self._buffers.update(rows_in=new(1 + C, idtype), wide=new(3 * C, idtype))
        self._views: dict[int, dict[str, Tensor]] = {}

    def _buffer_views(self, n: int) -> dict[str, Tensor]:
        views = self._views.get(n)
        if views is None:
            C, buf = self.C, self._buffers
            shapes = dict(
                q=(3 * C, n),
                clamped=(2, C, n),
                corner=(3, C, n),
                planes=(1 + 4 * C, n),
                rows_f=(n, 4 * C),
                rows=(n, 4 * C),
                wts=(n, 4 * C),
                rows_in=(1 + C, n),
                wide=(3, C, n),
            )
            views = {k: buf[k][: math.prod(shape)].view(shape) for k, shape in shapes.items() if k in buf}
            self._views[n] = views
        return views

    def _project(self, b: int, n0: int, n1: int, out: Tensor) -> Tensor:
        """(3, C, n) padded homogeneous pixel coordinates ``((u+1) z, (v+1) z, z)`` of points ``n0:n1`` of
        sample ``b``."""
        pts = self.points[b, n0:n1]
        C, n = self.C, pts.shape[0]
        if self.matrices is not None:
            M, t = self.matrices
            return torch.addmm(t[b], M[b], pts.t(), out=out).view(3, C, n)
        uv, depth = project_grid(self.cameras[b : b + 1], pts[None])  # (1, C, n, 2), (1, C, n)
        uv, depth = uv[0].detach(), depth[0].detach()
        if self.valid is not None:
            depth = torch.where(self.valid[b, :, None], depth, torch.full_like(depth, -1.0))
        return torch.stack([(uv[..., 0] + 1) * depth, (uv[..., 1] + 1) * depth, depth]).to(out.dtype)

    @torch.no_grad()
    def __call__(self, b: int, n0: int, n1: int, softmax: bool) -> tuple[Tensor, Tensor, Tensor]:
        """Taps of points ``n0:n1`` of sample ``b``.

        Returns:
            ``(rows, weights, visible)``: (n, 4C) int32 table rows and weights ordered (view, tap) per voxel (one
            bag of 4C taps per voxel or, viewed as (n*C, 4), one bag of 4 taps per voxel-view), and the (C, n)
            visibility as a 0/1 float mask. ``softmax``: voxels that no view sees read the all-zero rows in view 0.
        """
        C, n = self.C, n1 - n0
        v = self._buffer_views(n)
        q = self._project(b, n0, n1, v["q"])
        # behind the camera (or on its plane): z = 0, so that u = (u+1) z / z becomes +-inf or NaN, i.e. hidden
        q[2].clamp_(min=0.0)
        uv = q[:2].div_(q[2:])  # padded pixel coordinates (in place)
        clamped = v["clamped"]
        if self.h == self.w:
            torch.clamp(uv, 0.5, self.w + 0.5, out=clamped)
        else:
            torch.clamp(uv[0], 0.5, self.w + 0.5, out=clamped[0])
            torch.clamp(uv[1], 0.5, self.h + 0.5, out=clamped[1])
        inside = torch.eq(clamped, uv, out=uv)  # 1 inside the visible rectangle, 0 outside, infinite or NaN
        planes, corner = v["planes"], v["corner"]
        frac, mask = planes[C + 1 : 3 * C + 1].view(2, C, n), corner[2]
        torch.mul(inside[0], inside[1], out=mask)
        torch.nan_to_num(clamped, nan=1.0, out=clamped)  # hidden positions only, where NaN * 0 would stay NaN
        if corner.dtype == clamped.dtype:
            torch.sub(clamped, torch.floor(clamped, out=corner[:2]), out=frac)
        else:  # geometry and samples of different precision: floor in the geometry's
            torch.sub(clamped, corner[:2].copy_(torch.floor(clamped, out=inside)), out=frac)
        # hidden voxel-views: base 0, fractions 0 -> rows (0, 1, W2, W2+1), weights (1, 0, 0, 0)
        frac.mul_(mask)
        torch.mul(frac[0], frac[1], out=planes[3 * C + 1 :])
        if "wide" in v:  # maps too large for float32 row arithmetic
            rows_in, corner = v["rows_in"], v["wide"].copy_(corner)
        else:
            rows_in = planes[: C + 1]
        unseen, base = rows_in[0], rows_in[1:]
        torch.add(corner[0], corner[1], alpha=self.W2, out=base).add_(self.first).mul_(corner[2])
        if softmax:
            torch.amax(corner[2], 0, out=unseen)
            unseen.neg_().add_(1.0)
            rows_matrix = self.rows_matrix
        else:
            rows_in, rows_matrix = base, self.rows_matrix[1:]
        rows_f = torch.addmm(self.rows_bias, rows_in.t(), rows_matrix, out=v["rows_f"])
        rows = v["rows"].copy_(rows_f)
        wts = torch.addmm(self.weights_bias, planes[C + 1 :].t(), self.weights_matrix, out=v["wts"])
        return rows, wts, mask


def _max_abs(maps: Tensor) -> float:
    """``max |maps|`` (inf or NaN when some value is not finite)."""
    lo, hi = torch.aminmax(maps.detach())
    return max(-float(lo), float(hi)) if not (math.isnan(float(lo)) or math.isnan(float(hi))) else math.nan


def _mix_views_exp2(s2: Tensor, e: Tensor, den: Tensor, out: Tensor) -> Tensor:
    """``sum_c softmax_c(s) s_c`` over the views of (n, C, F) base-2 samples ``s2 = log2(e) s``, in base 2.

    ``e`` and ``den`` are (n, F) work buffers. Returns ``out`` (n, F) holding ``sum_c 2^s2_c s2_c / sum_c 2^s2_c``
    (multiply by ln 2 for natural units). One view at a time, so that the powers of a view are used while they are
    in cache (hidden views: 2^-1e30 = 0, and 0 * -1e30 = -0).
    """
    torch.exp2(s2[:, 0], out=den)
    torch.mul(den, s2[:, 0], out=out)
    for c in range(1, s2.shape[1]):
        torch.exp2(s2[:, c], out=e)
        den.add_(e)
        out.addcmul_(e, s2[:, c])
    return out.div_(den)


def _transposer(Fc: int, scale: float, exact_gemm: bool, like: Tensor) -> Tensor | None:
    """The ``(F/G, G, G)`` batch of scaled identities that :func:`_transpose_into` multiplies by, or None (a copy)."""
    G = next((g for g in (8, 4) if Fc % g == 0), None) if exact_gemm else None
    if G is None:
        return None
    return torch.eye(G, dtype=like.dtype, device=like.device).mul_(scale).expand(Fc // G, G, G)


def _transpose_into(out: Tensor, r: Tensor, scale: float, eye: Tensor | None) -> None:
    """``out = scale * r.t()`` for a contiguous (n, F) ``r`` and an (F, n) ``out`` with contiguous rows.

    ``eye`` (:func:`_transposer`, only for finite ``r``): the transposition is a batched product with ``scale``
    times a small identity, ``out[g*G:(g+1)*G] = (scale I_G) @ r[:, g*G:(g+1)*G].t()``. The GEMM's operand packing
    is a vectorised transposition, about twice as fast as copy_'s, and each result is ``scale * x`` plus exact zeros
    (0 * y for the other G-1 finite inputs), so the values are those of the plain product.
    """
    if eye is None:
        if scale == 1.0:
            out.copy_(r.t())
        else:
            torch.mul(r.t(), scale, out=out)
        return
    n, Fc = r.shape
    G = eye.shape[-1]
    torch.bmm(eye, r.view(n, Fc // G, G).permute(1, 2, 0), out=out.unflatten(0, (Fc // G, G)))


def unproject_gather(
    features: Tensor,
    taps: GatherTaps,
    N: int,
    aggregation: str,
    view_weights: Tensor | None,
    step: int,
    keep_visibility: bool,
):
    """Gather backend of :func:`unproject_features`: (B, F, N) volume and the (B, C, N) visibility (or None).

    One sample at a time (its table, a few MB, stays in cache and its memory is reused by the next sample), ``step``
    voxels at a time within a sample (the softmax in sub-steps whose per-view samples stay near 2 MB). Without
    autograd each chunk's channels-last ``(n, F)`` result is transposed, while in cache, into the volume.
    """
    B, C, Fc, h, w = features.shape
    softmax = aggregation == "softmax"
    sub = max(1, _SOFTMAX_CHUNK_ELEMENTS // (C * Fc)) if softmax else step
    track = torch.is_grad_enabled() and (
        features.requires_grad or (view_weights is not None and view_weights.requires_grad)
    )
    visibility = torch.empty(B, C, N, dtype=torch.bool, device=features.device) if keep_visibility else None
    if track:
        base2 = False
    else:
        bound = _max_abs(features)
        base2 = softmax and bound * math.log2(math.e) <= _EXP2_LIMIT.get(features.dtype, 0.0)  # False for NaN
        # finite results: a sample is a convex combination of table values, a sum adds at most C of them
        exact_gemm = bound * (C + 1) < torch.finfo(features.dtype).max
        out_scale = math.log(2.0) if base2 else 1.0  # base-2 softmax results back to natural units
        eye = _transposer(Fc, out_scale, exact_gemm, features)
        volume = features.new_empty(B, Fc, N)
    if base2:  # work buffers of the base-2 softmax, reused by every sub-step
        e_buf, den_buf, mix_buf = features.new_empty(3, min(sub, N) * Fc).unbind()
    samples, table = [], None
    for b in range(B):
        scale = math.log2(math.e) if base2 else (None if view_weights is None else view_weights[b])
        # without autograd the samples share one table: its sentinel rows and padding are written once
        table = _gather_table(features[b], _HIDDEN_LOGIT if softmax else 0.0, scale, None if track else table)
        parts = []
        for n0 in range(0, N, step):
            n1 = min(N, n0 + step)
            rows, wts, visible = taps(b, n0, n1, softmax)
            if track:  # the taps' buffers are reused by the next chunk, autograd keeps these for the backward
                rows, wts = rows.clone(), wts.clone()
            if keep_visibility:
                visibility[b, :, n0:n1].copy_(visible)
            for j0 in range(0, n1 - n0, sub):
                j1 = min(n1 - n0, j0 + sub)
                n = j1 - j0
                if softmax:  # one bag per voxel-view, softmax over the views
                    s = F.embedding_bag(
                        rows[j0:j1].view(n * C, 4), table, mode="sum", per_sample_weights=wts[j0:j1].view(n * C, 4)
                    ).view(n, C, Fc)
                    if base2:
                        r = _mix_views_exp2(
                            s, e_buf[: n * Fc].view(n, Fc), den_buf[: n * Fc].view(n, Fc), mix_buf[: n * Fc].view(n, Fc)
                        )
                        _transpose_into(volume[b, :, n0 + j0 : n0 + j1], r, out_scale, eye)
                        continue
                    p = torch.softmax(s, 1)
                    if track:
                        r = (p * s).sum(1)
                    else:  # sum_c p_c s_c without a full-size temporary
                        r = torch.mul(p[:, 0], s[:, 0])
                        for c in range(1, C):
                            r.addcmul_(p[:, c], s[:, c])
                else:  # one bag of 4*C taps per voxel
                    r = F.embedding_bag(rows[j0:j1], table, per_sample_weights=wts[j0:j1], mode="sum")
                if track:
                    parts.append(r.t())
                else:
                    _transpose_into(volume[b, :, n0 + j0 : n0 + j1], r, out_scale, eye)
        if track:
            samples.append(torch.cat(parts, 1) if len(parts) > 1 else parts[0].contiguous())
    if track:
        volume = torch.stack(samples)
    return volume, visibility
