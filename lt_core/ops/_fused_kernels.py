"""Compiled CPU kernels of the ``"fused"`` unprojection backend (numba; see :mod:`lt_core.ops.unprojection`).

Everything a voxel needs happens in one pass over a block of voxels: projection into each view, visibility, the
four bilinear taps, the weighted gather of the channels from a padded channels-last table, the aggregation over the
views and the transposition of the block into the channels-first volume. Nothing of size ``C * N`` is written to
memory, which is what the tensor-level backends spend most of their time on. The channel arithmetic runs on
vectors of :data:`LANES` elements (:mod:`lt_core.ops._simd`).

Layouts (one sample; the caller runs samples and voxel ranges as tasks):

- ``table``: (C, (h+2)*(w+2), Fp) maps zero-padded by one pixel, channels last and zero-padded to ``Fp``, a multiple
  of LANES; row ``(v+1)*(w+2) + (u+1)`` of view ``c`` is pixel (u, v). Padded pixel coordinates of a visible voxel
  lie in ``[0.5, w+0.5] x [0.5, h+0.5]``, so its four taps always fall inside its own padded map (taps in the ring
  read the zero padding, like grid_sample's zero padding).
- ``proj``: (C, 3, 4) matrices giving homogeneous *padded* pixel coordinates ``((u+1) z, (v+1) z, z)`` of a world
  point in mm; a missing view has the row ``(0, 0, 0, -1)`` for ``z`` (always behind the camera).
- ``pos``: alternatively (C, N, 2) padded pixel coordinates computed elsewhere (lens distortion), NaN where hidden.
- ``points``: (3, Npad) world mm (x, y and z rows, zero-padded to a multiple of LANES). ``out``: (F, N) volume
  of the sample (channels first).

A voxel-view is visible when ``z > 0`` and its padded sampling coordinates lie in ``bounds`` = (u_min, u_max, v_min,
v_max): ``[0.5, w+0.5] x [0.5, h+0.5]``, the map's rectangle, in the ``"centres"`` convention, ``[0, w+1) x [0, h+1)``
in the ``"official"`` one (:func:`lt_core.conventions.sampling_bounds`). The softmax over views subtracts the
per-channel maximum over the views taking part: the visible ones, plus, where ``part[c]`` is set (the official
convention's valid views), view ``c`` with the value 0 where it does not see the voxel. Voxels that no view takes
part in are 0.
Non-finite features propagate as in the loop reference: a NaN or an infinity read by a tap reaches the channel and
the voxels that read it.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from lt_core.ops._simd import (
    LANES,
    blend4,
    blend4_add,
    project_taps,
    scatter4_add,
    softmax_grad,
    softmax_mix,
    store_fence,
    transpose_tile,
    transpose_tile_stream,
    vfill,
)

SIMD_SOURCE_SHA256 = "ba8a0e3d43951564"
"""Start of the sha256 of ``_simd.py``, whose intrinsics these kernels inline. numba's on-disk cache is keyed by
this file's time stamp only, so a change to the intrinsics must come with a change of this line (a test checks
that it matches); otherwise a stale compiled kernel could be loaded."""

BLOCK = 64
"""Voxels per block (a multiple of LANES): the block's taps, samples and results stay in the L1/L2 caches."""

_LOG2E = 1.4426950408889634
_OPTS = dict(nogil=True, cache=True, fastmath={"contract"})
"""Compiled without the GIL (tasks run in threads), cached on disk, and with fused multiply-adds only: no
reassociation, and NaN and infinities keep their IEEE behaviour."""


@njit(**_OPTS)
def _scalar(dt, value):
    """``value`` as a scalar of dtype ``dt`` (numba types Python float literals as float64)."""
    k = np.empty(1, dtype=dt)
    k[0] = value
    return k[0]


@njit(**_OPTS)
def _view_taps(proj, points, pos, use_pos, c, n0, n, bounds, w, rows, wts, seen):
    """Taps of voxels ``n0:n0+n`` in view ``c``: top-left rows (n,), bilinear weights (4, n), seen (n,), from the
    (C, N, 2) padded pixel positions ``pos`` (NaN where hidden); the scalar counterpart of ``project_taps``.
    A hidden voxel-view gets the taps of padded pixel (1, 1) (valid rows; never read).
    """
    dt = proj.dtype
    one = _scalar(dt, 1.0)
    ulo, uhi, vlo, vhi = _scalar(dt, bounds[0]), _scalar(dt, bounds[1]), _scalar(dt, bounds[2]), _scalar(dt, bounds[3])
    W2 = w + 2
    for i in range(n):
        up, vp = pos[c, n0 + i, 0], pos[c, n0 + i, 1]
        ok = (up >= ulo) & (up <= uhi) & (vp >= vlo) & (vp <= vhi)  # NaN: False
        up = up if ok else one
        vp = vp if ok else one
        u0 = np.floor(up)
        v0 = np.floor(vp)
        a = up - u0
        b = vp - v0
        seen[i] = ok
        rows[i] = np.int64(v0) * W2 + np.int64(u0)
        wts[0, i] = (one - a) * (one - b)
        wts[1, i] = a * (one - b)
        wts[2, i] = (one - a) * b
        wts[3, i] = a * b


@njit(**_OPTS)
def _tap_buffers(C, dt):
    """Work buffers of :func:`_block_taps`: (C, BLOCK) rows, (C, 4, BLOCK) weights, (C, BLOCK) seen."""
    return (
        np.empty((C, BLOCK), dtype=np.int64),
        np.empty((C, 4, BLOCK), dtype=dt),
        np.empty((C, BLOCK), dtype=np.bool_),
    )


@njit(**_OPTS)
def _block_taps(proj, points, pos, use_pos, b0, n, bounds, w, rows, wts, seen):
    """Taps of voxels ``b0:b0+n`` in every view into (C, BLOCK) rows and seen and (C, 4, BLOCK) weights.

    ``points``: (3, Npad) world mm, Npad a multiple of LANES (padding points are hidden: z = 0 there).
    """
    C = rows.shape[0]
    if use_pos:
        for c in range(C):
            _view_taps(proj, points, pos, use_pos, c, b0, n, bounds, w, rows[c], wts[c], seen[c])
        return
    pts = points.reshape(-1)
    mats = proj.reshape(-1)
    r = rows.reshape(-1)
    sn = seen.reshape(-1)
    wt = wts.reshape(-1)
    dt = proj.dtype
    ulo, uhi, vlo, vhi = _scalar(dt, bounds[0]), _scalar(dt, bounds[1]), _scalar(dt, bounds[2]), _scalar(dt, bounds[3])
    for c in range(C):
        for i0 in range(0, n, LANES):
            project_taps(
                pts,
                points.shape[1],
                b0 + i0,
                mats,
                c,
                ulo,
                uhi,
                vlo,
                vhi,
                w,
                r,
                sn,
                c * BLOCK + i0,
                wt,
                c * 4 * BLOCK + i0,
                BLOCK,
            )


@njit(**_OPTS)
def _transpose(src, soff, sstride, dst, doff, dstride, rows, cols, scale, stream):
    """``dst[doff + j dstride + r] = scale src[soff + r sstride + j]`` for ``r < rows, j < cols``: LANES x LANES
    tiles, then element by element for the edges."""
    rf = rows // LANES * LANES
    cf = cols // LANES * LANES
    for r0 in range(0, rf, LANES):
        for j0 in range(0, cf, LANES):
            if stream:
                transpose_tile_stream(
                    src, soff + r0 * sstride + j0, sstride, dst, doff + j0 * dstride + r0, dstride, scale
                )
            else:
                transpose_tile(src, soff + r0 * sstride + j0, sstride, dst, doff + j0 * dstride + r0, dstride, scale)
    for r in range(rows):
        for j in range(cf if r < rf else 0, cols):
            dst[doff + j * dstride + r] = scale * src[soff + r * sstride + j]


@njit(**_OPTS)
def relayout(maps, scale, table, to_table):
    """Between (C, F, h, w) ``maps`` and the padded channels-last ``table`` (C, P, Fp), times the per-view ``scale``:
    ``to_table``: ``table[c, (v+1)(w+2) + u+1, f] = scale[c] maps[c, f, v, u]`` (the padding, ring and channels
    beyond F, is left as it is: zeros); else the adjoint, ``maps[c, f, v, u] = scale[c] table[c, ...]``."""
    C, Fc, h, w = maps.shape
    P, Fp = table.shape[1], table.shape[2]
    W2 = w + 2
    m = maps.reshape(-1)
    t = table.reshape(-1)
    for c in range(C):
        for v in range(h):
            mo = (c * Fc * h + v) * w  # channel 0 of map row v
            to = (c * P + (v + 1) * W2 + 1) * Fp  # padded pixel (1, v + 1)
            if to_table:
                _transpose(m, mo, h * w, t, to, Fp, Fc, w, scale[c], False)
            else:
                _transpose(t, to, Fp, m, mo, h * w, w, Fc, scale[c], False)


@njit(**_OPTS)
def forward(table, Fc, proj, points, pos, use_pos, bounds, part, w, softmax, n0, n1, out, stream, vis, keep_vis):
    """Aggregated samples of voxels ``n0:n1`` (``n0`` a multiple of BLOCK) of one sample into ``out[:, n0:n1]``
    (and the visibility into ``vis[:, n0:n1]`` when ``keep_vis``). ``stream``: non-temporal stores into ``out``
    (its rows must start on LANES-element boundaries)."""
    C, P, Fp = table.shape
    below = (w + 2) * Fp  # table elements between a pixel and the one below it
    N = out.shape[1]
    dt = table.dtype
    tab = table.reshape(-1)
    o = out.reshape(-1)
    rows, wts, seen = _tap_buffers(C, dt)
    acc = np.zeros(BLOCK * Fp, dtype=dt)
    s = np.zeros(C * BLOCK * Fp, dtype=dt)  # softmax: the samples of the k-th view that sees voxel i at (k, i)
    count = np.zeros(BLOCK, dtype=np.int64)
    mx = np.empty(LANES, dtype=dt)
    den = np.empty(LANES, dtype=dt)
    l2e = _scalar(dt, _LOG2E)
    for b0 in range(n0, n1, BLOCK):
        n = min(BLOCK, n1 - b0)
        _block_taps(proj, points, pos, use_pos, b0, n, bounds, w, rows, wts, seen)
        if keep_vis:
            for c in range(C):
                for i in range(n):
                    vis[c, b0 + i] = seen[c, i]
        if softmax:
            count[:] = 0
        else:
            acc[:] = 0.0
        for c in range(C):  # view by view: the taps of one map are close together
            for i in range(n):
                if seen[c, i]:
                    base = (c * P + rows[c, i]) * Fp
                    w0, w1, w2, w3 = wts[c, 0, i], wts[c, 1, i], wts[c, 2, i], wts[c, 3, i]
                    if softmax:
                        d = (count[i] * BLOCK + i) * Fp
                        count[i] += 1
                        for fb in range(0, Fp, LANES):
                            blend4(s, d + fb, tab, base + fb, Fp, below, w0, w1, w2, w3)
                    else:
                        for fb in range(0, Fp, LANES):
                            blend4_add(acc, i * Fp + fb, tab, base + fb, Fp, below, w0, w1, w2, w3)
                elif softmax and part[c]:  # takes part with the value 0
                    d = (count[i] * BLOCK + i) * Fp
                    count[i] += 1
                    for fb in range(0, Fp, LANES):
                        vfill(s, d + fb, 0.0)
        if softmax:
            for i in range(n):
                for fb in range(0, Fp, LANES):
                    if count[i] == 0:
                        vfill(acc, i * Fp + fb, 0.0)
                    else:
                        softmax_mix(s, i * Fp + fb, BLOCK * Fp, count[i], acc, i * Fp + fb, mx, den, 0, l2e)
        _transpose(acc, 0, Fp, o, b0, N, n, Fc, 1.0, stream)
    if stream:
        store_fence()


@njit(**_OPTS)
def backward(table, grad_out, proj, points, pos, use_pos, bounds, part, w, softmax, n0, n1, grad_table):
    """Add the table gradient of voxels ``n0:n1`` of one sample, from the (F, N) volume gradient, to
    ``grad_table`` (C, P, Fp). The softmax recomputes the samples: with ``p_c`` the softmax weights and
    ``o = sum_c p_c s_c``, ``d o / d s_c = p_c (1 + s_c - o)``."""
    C, P, Fp = table.shape
    Fc, N = grad_out.shape
    below = (w + 2) * Fp  # table elements between a pixel and the one below it
    dt = table.dtype
    tab = table.reshape(-1)
    gt = grad_table.reshape(-1)
    go = grad_out.reshape(-1)
    rows, wts, seen = _tap_buffers(C, dt)
    g = np.zeros(BLOCK * Fp, dtype=dt)
    s = np.zeros(C * Fp, dtype=dt)  # softmax: the samples of the k-th view that sees the voxel at k
    slot = np.zeros(C, dtype=np.int64)
    gs = np.zeros(LANES, dtype=dt)
    mx = np.empty(Fp, dtype=dt)
    den = np.empty(Fp, dtype=dt)
    o = np.empty(Fp, dtype=dt)
    l2e = _scalar(dt, _LOG2E)
    for b0 in range(n0, n1, BLOCK):
        n = min(BLOCK, n1 - b0)
        _block_taps(proj, points, pos, use_pos, b0, n, bounds, w, rows, wts, seen)
        _transpose(go, b0, N, g, 0, Fp, Fc, n, 1.0, False)  # (F, n) -> (n, Fp); channels beyond F stay 0
        for i in range(n):
            if softmax:
                k = 0
                for c in range(C):
                    if seen[c, i]:
                        slot[c] = k
                        base = (c * P + rows[c, i]) * Fp
                        for fb in range(0, Fp, LANES):
                            blend4(
                                s,
                                k * Fp + fb,
                                tab,
                                base + fb,
                                Fp,
                                below,
                                wts[c, 0, i],
                                wts[c, 1, i],
                                wts[c, 2, i],
                                wts[c, 3, i],
                            )
                        k += 1
                    elif part[c]:  # takes part with the value 0 (no gradient flows to the maps from it)
                        for fb in range(0, Fp, LANES):
                            vfill(s, k * Fp + fb, 0.0)
                        k += 1
                if k == 0:
                    continue
                for fb in range(0, Fp, LANES):
                    softmax_mix(s, fb, Fp, k, o, fb, mx, den, fb, l2e)
            for c in range(C):
                if not seen[c, i]:
                    continue
                base = (c * P + rows[c, i]) * Fp
                w0, w1, w2, w3 = wts[c, 0, i], wts[c, 1, i], wts[c, 2, i], wts[c, 3, i]
                for fb in range(0, Fp, LANES):
                    if softmax:
                        softmax_grad(gs, g, i * Fp + fb, s, slot[c] * Fp + fb, mx, den, o, fb, l2e)
                        scatter4_add(gt, base + fb, Fp, below, w0, w1, w2, w3, gs, 0)
                    else:
                        scatter4_add(gt, base + fb, Fp, below, w0, w1, w2, w3, g, i * Fp + fb)
