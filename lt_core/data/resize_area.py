"""OpenCV's ``INTER_AREA`` resize, which the paper's released dataset uses for its crops, written in torch.

Shrinking (``src / dst >= 1``) averages the source pixels each output pixel covers, weighted by the covered length
along each axis (a pixel ``i`` covers ``[i, i + 1)``, an output pixel ``[j s, (j + 1) s)``), which is the
anti-aliased resize the released models saw in training. Enlarging (``src / dst < 1``), OpenCV's area mode is a
linear interpolation whose weight is the part of the output pixel that lies beyond a source pixel edge: output pixel
``j`` starts in source pixel ``i = floor(j s)`` and takes ``f = (j + 1) - (i + 1) / s`` (0 when negative, else its
fractional part) of pixel ``i + 1``. For 8-bit images OpenCV computes that branch in fixed point (11-bit weights,
rounding the 22-bit products), and so does :func:`resize_area`; the shrinking branch runs in floating point and
rounds half to even, as OpenCV does.

Separable: the rows are resized, then the columns. As OpenCV, it takes the linear branch on both axes as soon as one
axis is enlarged. On 8-bit images :func:`resize_area` gives ``cv2.resize(..., INTER_AREA)``'s output bit for bit
(tests/test_resize_area.py, references computed with OpenCV 5.1 on an x86-64 CPU; OpenCV's vectorised fixed-point
kernel is what is reproduced, its scalar tail for rows not a multiple of the vector width rounds by a grey level
differently on some machines); floating-point images agree to float32 rounding.
"""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np
import torch
from torch import Tensor

__all__ = ["area_weights", "resize_area"]

_COEF_BITS = 11
"""OpenCV's INTER_RESIZE_COEF_BITS: fixed-point weights of the 8-bit linear branch."""


@lru_cache(maxsize=64)
def area_weights(src: int, dst: int, linear: bool | None = None) -> tuple[Tensor, bool]:
    """(dst, src) float64 matrix ``W`` with ``out = W @ in`` along one axis, and whether it is the linear
    (enlarging, fixed-point for 8-bit images) branch. ``linear``: force the branch (OpenCV takes the linear one for
    both axes as soon as one axis is enlarged); ``None``: the linear one when ``dst > src``."""
    if src < 1 or dst < 1:
        raise ValueError(f"sizes must be positive, got {src} -> {dst}")
    scale = src / dst
    W = torch.zeros(dst, src, dtype=torch.float64)
    if linear is None:
        linear = scale < 1
    if not linear:
        for j in range(dst):
            f1 = j * scale
            f2 = f1 + scale
            s1, s2 = math.ceil(f1), math.floor(f2)
            cell = min(scale, src - f1)
            if s1 - f1 > 1e-3:
                W[j, s1 - 1] = (s1 - f1) / cell
            for i in range(s1, min(s2, src)):
                W[j, i] = 1.0 / cell
            if f2 - s2 > 1e-3 and s2 < src:
                W[j, s2] = min(min(f2 - s2, 1.0), cell) / cell
        return W, False
    inv = dst / src
    for j in range(dst):
        i = math.floor(j * scale)
        f = np.float32((j + 1) - (i + 1) * inv)  # OpenCV keeps this weight in float32
        f = np.float32(0.0) if f <= 0 else f - np.float32(math.floor(f))
        if i < 0:
            i, f = 0, np.float32(0.0)
        if i >= src - 1:
            i, f = src - 1, np.float32(0.0)
        W[j, i] += float(np.float32(1.0) - f)
        if f:
            W[j, i + 1] += float(f)
    return W, True


def resize_area(image: Tensor, size: tuple[int, int]) -> Tensor:
    """Resize like ``cv2.resize(image, size, interpolation=cv2.INTER_AREA)``.

    Args:
        image: (C, H, W) uint8 or floating-point image.
        size: output ``(W, H)``.

    Returns:
        (C, H_out, W_out) image of ``image``'s dtype (uint8 results rounded and clipped).
    """
    if image.dim() != 3:
        raise ValueError(f"image must have shape (C, H, W), got {tuple(image.shape)}")
    _, h, w = image.shape
    w_out, h_out = (int(v) for v in size)
    linear = w_out > w or h_out > h  # OpenCV's area averaging needs both axes shrinking (or unchanged)
    Wx, _ = area_weights(w, w_out, linear)
    Wy, _ = area_weights(h, h_out, linear)
    if image.dtype == torch.uint8 and linear:  # OpenCV's 8-bit fixed-point linear branch
        one = 1 << _COEF_BITS
        ax = torch.round((Wx.float() * one).double()).to(torch.int64)  # weights rounded from float32, as OpenCV
        rows = (image.to(torch.float64) @ ax.T.to(torch.float64)).to(torch.int64)  # (C, H, W_out) * 2^11, exact
        # the vertical pass as OpenCV's vectorised 8-bit kernel computes it: both rows shifted right by 4, each
        # multiplied by its 11-bit weight keeping the high 16 bits, the sum rounded and shifted right by 2
        idx, wts = _taps(h, h_out, True)  # (K <= 2, H_out) source rows and weights of the taps
        b = torch.round((wts.float() * one).double()).to(torch.int64)[:, None, :, None]
        hi = ((rows[:, idx].movedim(1, 0) >> 4).clamp(-32768, 32767) * b) >> 16  # (K, C, H_out, W_out)
        return ((hi.sum(0) + 2) >> 2).clamp(0, 255).to(torch.uint8)
    if image.dtype == torch.uint8 and w == 2 * w_out and h == 2 * h_out:  # OpenCV's fast 2x2 average: half up
        blocks = image.to(torch.int64).reshape(image.shape[0], h_out, 2, w_out, 2).sum((2, 4))
        return ((blocks + 2) >> 2).clamp(0, 255).to(torch.uint8)
    if image.dtype == torch.uint8:  # OpenCV sums in float32, source pixel by source pixel, then rounds half to even
        rows = _accumulate(image.to(torch.float32), *_taps(w, w_out, False), dim=2)  # (C, H, W_out)
        out = _accumulate(rows, *_taps(h, h_out, False), dim=1)  # (C, H_out, W_out)
        return torch.round(out).clamp(0, 255).to(torch.uint8)
    x = image.to(torch.float64)
    return torch.einsum("ij,cjk,lk->cil", Wy, x, Wx).to(image.dtype)


@lru_cache(maxsize=64)
def _taps(src: int, dst: int, linear: bool) -> tuple[Tensor, Tensor]:
    """The non-zero entries of :func:`area_weights` as taps: (K, dst) source indices and float64 weights, tap ``k``
    of every output in increasing source order (outputs with fewer taps repeat their last index with weight 0)."""
    W, _ = area_weights(src, dst, linear)
    nz = [row.nonzero().flatten() for row in W]
    K = max(len(t) for t in nz)
    idx = torch.stack([torch.cat([t, t[-1:].expand(K - len(t))]) for t in nz], 1)  # (K, dst)
    wts = torch.gather(W.T, 0, idx)
    wts = torch.where(torch.arange(K)[:, None] < torch.tensor([len(t) for t in nz])[None], wts, torch.zeros(()))
    return idx, wts


def _accumulate(x: Tensor, idx: Tensor, wts: Tensor, dim: int) -> Tensor:
    """Taps (K, out) applied along ``dim`` of ``x`` as OpenCV's area kernel sums them: tap by tap in increasing
    source order, in ``x``'s precision."""
    x = x.movedim(dim, -1)
    w = wts.to(x.dtype)
    out = x[..., idx[0]] * w[0]
    for k in range(1, idx.shape[0]):
        out = out + x[..., idx[k]] * w[k]
    return out.movedim(-1, dim)
