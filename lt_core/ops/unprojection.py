"""Unprojection of 2D feature maps into a 3D cuboid around the person (the volumetric model's lifting step).

Every voxel centre of a world-space grid is projected into every view; the view's feature map is sampled there
bilinearly and the per-view volumes are aggregated into one ``(B, F, D, D, D)`` volume:

- ``"sum"``: plain sum over the views that see the voxel;
- ``"conf"``: sum weighted by per-view confidences ``(B, C)`` normalised over the (valid) views;
- ``"softmax"``: per voxel and per channel, the views are weighted by a softmax over views of the sampled
  features themselves, ``sum_c softmax_c(f_c) * f_c`` (the released model's aggregation).

Pixel convention (docs/CONVENTIONS.md): integer pixel coordinates are pixel centres, a ``w``-pixel-wide map covers
``u`` in ``[-0.5, w - 0.5]``. ``F.grid_sample`` with ``align_corners=False`` uses the same convention once
``u`` is normalised as ``(u + 0.5) / w * 2 - 1``. Cameras must describe the feature maps, i.e. be the image
cameras resized to the feature resolution with :meth:`lt_core.camera.Camera.resize`. (The released code mapped
``u`` to ``2 u / w - 1`` with ``align_corners=True``, a sub-pixel scale and offset error not repeated here.)

A voxel contributes nothing from a view when it lies behind that camera (depth <= 0), projects outside the map
(the ``[-0.5, w - 0.5] x [-0.5, h - 0.5]`` rectangle), or the view is marked missing. The softmax aggregation
runs over the views that do see the voxel; the released model instead let those views take part with a value of
0, which differs only for voxels that some camera does not see. A voxel seen by no view is 0.

Three sampling backends give the same volumes up to float rounding. ``"grid_sample"`` samples all maps at once
with ``F.grid_sample``. ``"gather"`` writes bilinear sampling as a weighted gather: the maps, zero-padded and
channels-last, are the rows of a table, and ``F.embedding_bag(mode="sum", per_sample_weights=...)`` reads the four
bilinear taps of every voxel and view with their weights in one fused pass (one bag per voxel holding the taps of
all views for ``"sum"``/``"conf"``, one bag per voxel and view for ``"softmax"``). ``"fused"`` (CPU, needs numba;
:mod:`lt_core.ops._fused`) reads the same padded channels-last table from compiled kernels that take a block of 64
voxels through projection, taps, gather, aggregation over the views and transposition into the volume in one pass,
with the channel arithmetic on 16-element vectors; it writes nothing of size views x voxels to memory and is the
fastest on the CPU (forward and backward). The gather and fused backends treat the grid and the cameras as
constants (no gradient flows into them); all three are differentiable w.r.t. the features and the confidences.
``"auto"`` (the default) picks fused on the CPU (gather when numba is missing) and grid_sample elsewhere, or when
the grid or the cameras require a gradient.

Geometry (projection, masks, sampling positions and weights) is computed in at least float32 with autocast
disabled, so the module is safe under mixed precision; half-precision features are sampled in float32.

Grid layout (:func:`make_cuboid_grid`): ``grid[b, i, j, k] = centre_b + R_z(theta_b) @ (s * (i, j, k) - side / 2)``
with ``s = side / (D - 1)``: the first voxel axis runs along world ``x``, the second along ``y``, the third along
``z`` (before the optional rotation about ``z``). Volumes produced here are index-aligned with the grid, so
``soft_argmax_3d(volumes, beta, grid)`` returns world millimetres.
"""

from __future__ import annotations

import contextlib
import math
from typing import Literal, Optional, Union

import torch
import torch.nn.functional as F
from torch import Tensor

from ..camera import Camera, distort_normalized
from ..conventions import check_convention, rules, sampling_bounds, sampling_transform

__all__ = [
    "AGGREGATIONS",
    "BACKENDS",
    "autocast_disabled",
    "Aggregation",
    "Backend",
    "make_cuboid_grid",
    "project_grid",
    "unproject_features",
    "unproject_features_loop",
]

Aggregation = Literal["sum", "conf", "softmax"]
AGGREGATIONS: tuple[str, ...] = ("sum", "conf", "softmax")
"""Supported view aggregations."""

Backend = Literal["auto", "fused", "gather", "grid_sample"]
BACKENDS: tuple[str, ...] = ("auto", "fused", "gather", "grid_sample")
"""Sampling implementations of :func:`unproject_features` (``"auto"``: fused on the CPU when numba is installed,
else gather; grid_sample elsewhere)."""


_FUSED = None
"""The :mod:`lt_core.ops._fused` module once imported, False when numba is missing, None before the first use."""


def fused_available() -> bool:
    """Whether the compiled ``"fused"`` CPU backend can run (it needs numba)."""
    global _FUSED
    if _FUSED is None:
        try:
            from . import _fused
            _FUSED = _fused
        except ImportError:
            _FUSED = False
    return _FUSED is not False


def autocast_disabled(device: torch.device):
    """A context that disables autocast on ``device`` (a no-op where autocast does not exist).

    Used around geometry (projections, triangulation, grids) so it runs in float32/float64 under mixed precision.
    """
    try:
        return torch.autocast(device_type=device.type, enabled=False)
    except (RuntimeError, ValueError):  # pragma: no cover - device types without autocast
        return contextlib.nullcontext()


def _geometry_dtype(*dtypes: torch.dtype) -> torch.dtype:
    """float64 if any input is float64, else float32 (never half precision)."""
    return torch.float64 if torch.float64 in dtypes else torch.float32


def make_cuboid_grid(center: Tensor, side: float = 2500.0, D: int = 64,
                     rotation_z: Optional[Tensor] = None) -> Tensor:
    """World coordinates of the voxel centres of cubes around given centres.

    Voxels are spaced ``side / (D - 1)``: the outermost voxel centres lie on the cube's faces, as in the released
    model (``D = 64``, ``side = 2500`` mm gives 39.7 mm voxels).

    Args:
        center: (B, 3) cube centres in world mm (e.g. the pelvis). Not detached; pass ``center.detach()`` when
            no gradient should flow into the grid.
        side: cube side in mm.
        D: voxels per side (>= 2).
        rotation_z: optional (B,) angles in radians; the cube is rotated about the world ``z`` (vertical) axis
            through its centre, counter-clockwise seen from above.

    Returns:
        (B, D, D, D, 3) voxel centres in world mm, ``grid[b, i, j, k] = center[b] + R_z @ (s*i - side/2,
        s*j - side/2, s*k - side/2)``: axis 1 runs along world x, axis 2 along y, axis 3 along z (unrotated).
        The dtype is ``center``'s if it is float32/float64, else float32.
    """
    if center.dim() != 2 or center.shape[-1] != 3:
        raise ValueError(f"center must have shape (B, 3) (world mm), got {tuple(center.shape)}")
    if D < 2:
        raise ValueError(f"D must be at least 2 voxels per side, got {D}")
    if not side > 0:
        raise ValueError(f"side must be positive (mm), got {side}")
    dtype = _geometry_dtype(center.dtype)
    device = center.device
    with autocast_disabled(device):
        center = center.to(dtype)
        ticks = torch.arange(D, dtype=dtype, device=device) * (side / (D - 1)) - side / 2
        ii, jj, kk = torch.meshgrid(ticks, ticks, ticks, indexing="ij")
        offsets = torch.stack([ii, jj, kk], -1)  # (D, D, D, 3)
        B = center.shape[0]
        if rotation_z is None:
            return center[:, None, None, None, :] + offsets[None]
        theta = torch.as_tensor(rotation_z, device=device).to(dtype).reshape(-1)
        if theta.shape[0] != B:
            raise ValueError(f"rotation_z must have shape ({B},), got {tuple(theta.shape)}")
        c, s = torch.cos(theta), torch.sin(theta)
        zero, one = torch.zeros_like(c), torch.ones_like(c)
        Rz = torch.stack([c, -s, zero, s, c, zero, zero, zero, one], -1).reshape(B, 3, 3)
        rotated = torch.einsum("bxy,ijky->bijkx", Rz, offsets)
        return center[:, None, None, None, :] + rotated


def _camera_tensors(cameras: Camera, dtype: torch.dtype) -> tuple[Tensor, Tensor, Tensor, Optional[Tensor]]:
    """K, R, t and (only when non-zero) dist of ``cameras`` in ``dtype``."""
    dist = cameras.dist.to(dtype) if cameras.has_distortion else None
    return cameras.K.to(dtype), cameras.R.to(dtype), cameras.t.to(dtype), dist


def project_grid(cameras: Union[Camera, Tensor], points: Tensor) -> tuple[Tensor, Tensor]:
    """Project the same world points into all views of each sample.

    Args:
        cameras: a :class:`Camera` with batch shape (B, C) (distortion applied when present), or (B, C, 3, 4)
            projection matrices ``K [R | t]`` (ideal pinhole).
        points: (B, N, 3) world mm.

    Returns:
        ``(uv, depth)``: (B, C, N, 2) pixels and (B, C, N) depth along the optical axis in mm (``<= 0``: behind
        the camera; such points get meaningless pixels). Computed in float64 if the cameras or points are
        float64, else float32.
    """
    if points.dim() != 3 or points.shape[-1] != 3:
        raise ValueError(f"points must have shape (B, N, 3), got {tuple(points.shape)}")
    cam_dtype = cameras.dtype if isinstance(cameras, Camera) else cameras.dtype
    dtype = _geometry_dtype(cam_dtype, points.dtype)
    X = points.to(dtype)[:, None]  # (B, 1, N, 3)
    if isinstance(cameras, Camera):
        K, R, t, dist = _camera_tensors(cameras, dtype)
        if K.dim() != 4:
            raise ValueError(f"cameras must have batch shape (B, C), got {tuple(cameras.batch_shape)}")
        Xc = X @ R.transpose(-1, -2) + t[..., None, :]  # (B, C, N, 3)
        depth = Xc[..., 2]
        z = torch.where(depth.abs() < 1e-9, torch.full_like(depth, 1e-9), depth)[..., None]
        xy = Xc[..., :2] / z
        if dist is not None:
            xy = distort_normalized(xy, dist, cameras.distortion_model)  # (B, C, N, 2) with dist (B, C, 5)
        x, y = xy[..., 0], xy[..., 1]
        u = K[..., 0, 0, None] * x + K[..., 0, 1, None] * y + K[..., 0, 2, None]
        v = K[..., 1, 1, None] * y + K[..., 1, 2, None]
        return torch.stack([u, v], -1), depth
    P = cameras.to(dtype)
    if P.dim() != 4 or P.shape[-2:] != (3, 4):
        raise ValueError(f"projection matrices must have shape (B, C, 3, 4), got {tuple(P.shape)}")
    q = X @ P[..., :3].transpose(-1, -2) + P[..., None, :, 3]  # (B, C, N, 3)
    depth = q[..., 2]
    z = torch.where(depth.abs() < 1e-9, torch.full_like(depth, 1e-9), depth)[..., None]
    return q[..., :2] / z, depth


def _check_inputs(features: Tensor, cameras: Union[Camera, Tensor], grid: Tensor, aggregation: str,
                  confidences: Optional[Tensor], views_valid: Optional[Tensor]) -> None:
    if features.dim() != 5:
        raise ValueError(f"features must have shape (B, C, F, h, w), got {tuple(features.shape)}")
    B, C = features.shape[:2]
    batch = tuple(cameras.batch_shape) if isinstance(cameras, Camera) else tuple(cameras.shape[:-2])
    if batch != (B, C):
        raise ValueError(f"cameras must have batch shape ({B}, {C}) to match the features, got {batch}")
    if grid.dim() != 5 or grid.shape[0] != B or grid.shape[-1] != 3:
        raise ValueError(f"grid must have shape ({B}, D, D, D, 3) (world mm), got {tuple(grid.shape)}")
    if aggregation not in AGGREGATIONS:
        raise ValueError(f"aggregation must be one of {AGGREGATIONS}, got {aggregation!r}")
    if aggregation == "conf":
        if confidences is None:
            raise ValueError("aggregation 'conf' needs per-view confidences of shape (B, C)")
        if tuple(confidences.shape) != (B, C):
            raise ValueError(f"confidences must have shape ({B}, {C}), got {tuple(confidences.shape)}")
    if views_valid is not None and tuple(views_valid.shape) != (B, C):
        raise ValueError(f"views_valid must have shape ({B}, {C}), got {tuple(views_valid.shape)}")


def _sample_dtype(features: Tensor) -> torch.dtype:
    return features.dtype if features.dtype in (torch.float32, torch.float64) else torch.float32


def _sample_grid_coordinates(idx: Tensor, depth: Tensor, h: int, w: int, convention: str) -> tuple[Tensor, Tensor]:
    """Sampling indices (..., 2) -> ``grid_sample(align_corners=False)`` coordinates (..., 2) and visibility (...).

    A voxel-view is visible when it lies in front of the camera and its index within the convention's bounds
    (:func:`lt_core.conventions.sampling_bounds`); hidden voxels are moved far outside the map, where all four
    bilinear taps fall in the zero padding (value exactly 0).
    """
    u_lo, u_hi, v_lo, v_hi = sampling_bounds((h, w), convention, dtype=idx.dtype)
    u, v = idx[..., 0], idx[..., 1]
    visible = (depth > 0) & (u >= u_lo) & (u <= u_hi) & (v >= v_lo) & (v <= v_hi)
    g = torch.stack([(u + 0.5) * (2.0 / w) - 1.0, (v + 0.5) * (2.0 / h) - 1.0], -1)
    g = torch.where(visible[..., None], g, torch.full_like(g, -3.0))
    return g, visible


def _sampling_positions(cameras: Union[Camera, Tensor], points: Tensor, h: int, w: int,
                        views_valid: Optional[Tensor], convention: str = "centres") -> tuple[Tensor, Tensor]:
    """grid_sample positions (B, C, N, 2) of world points (B, N, 3) and their visibility (B, C, N).

    Without lens distortion the convention's sampling transform is folded into the projection matrix, so one
    batched product gives the sampling indices directly.
    """
    if isinstance(cameras, Camera) and cameras.has_distortion:
        uv, depth = project_grid(cameras, points)
        T = sampling_transform((h, w), convention, dtype=uv.dtype, device=uv.device)
        idx = uv @ T[:2, :2].T
    else:
        dtype = _geometry_dtype(cameras.dtype, points.dtype)
        P = (cameras.projection if isinstance(cameras, Camera) else cameras).to(dtype)
        P = sampling_transform((h, w), convention, dtype=dtype, device=P.device) @ P
        q = points.to(dtype)[:, None] @ P[..., :3].transpose(-1, -2) + P[..., None, :, 3]  # (B, C, N, 3)
        depth = q[..., 2]
        idx = q[..., :2] / torch.where(depth.abs() < 1e-9, torch.full_like(depth, 1e-9), depth)[..., None]
    g, visible = _sample_grid_coordinates(idx, depth, h, w, convention)
    if views_valid is not None:
        keep = views_valid.to(torch.bool)[..., None]
        visible = visible & keep
        g = torch.where(keep[..., None], g, torch.full_like(g, -3.0))
    return g, visible


_CPU_CHUNK_ELEMENTS = 1 << 21


def _voxel_chunk(device: torch.device, per_voxel: int, N: int, chunk_voxels: Optional[int],
                 cpu_elements: int = _CPU_CHUNK_ELEMENTS) -> int:
    """Voxels per step: ``chunk_voxels`` if given, else all of them off the CPU, else ``cpu_elements`` values."""
    if chunk_voxels is not None:
        return min(int(chunk_voxels), N)
    if device.type != "cpu":
        return N
    step = max(1, min(N, cpu_elements // max(1, per_voxel)))
    return -(-N // -(-N // step))  # same number of steps, evenly sized


def _sample_and_aggregate(maps: Tensor, g: Tensor, visible: Tensor, aggregation: str,
                          takes_part: Optional[Tensor] = None) -> Tensor:
    """Sample (B*C, F, h, w) maps at (B, C, n, 2) positions and aggregate over views -> (B, F, n).

    Hidden voxels (``visible`` False) already sample exactly 0 (their positions lie far outside the maps).
    ``takes_part``: optional (B, C) bool views that take part in the softmax even where they do not see a voxel
    (with the value 0; the official convention), else only the visible views take part.
    """
    B, C, n, _ = g.shape
    Fc = maps.shape[1]
    sampled = F.grid_sample(maps, g.reshape(B * C, 1, n, 2), mode="bilinear", padding_mode="zeros",
                            align_corners=False).reshape(B, C, Fc, n)
    if aggregation in ("sum", "conf"):  # "conf" weights were folded into the maps
        return sampled.sum(1)
    mask = visible if takes_part is None else visible | takes_part[:, :, None]
    logits = sampled.masked_fill(~mask[:, :, None, :], float("-inf"))
    top = logits.detach().amax(1, keepdim=True)
    top = torch.where(torch.isfinite(top), top, torch.zeros_like(top))  # voxels no view sees
    e = torch.exp(logits - top)  # 0 for views that take no part
    return (e * sampled).sum(1) / e.sum(1).clamp_min(torch.finfo(sampled.dtype).tiny)


def _normalized_confidences(confidences: Tensor, valid: Tensor) -> Tensor:
    """(B, C) non-negative confidences -> weights over valid views summing to 1 per sample."""
    w = confidences * valid.to(confidences.dtype)
    return w / w.sum(1, keepdim=True).clamp_min(torch.finfo(w.dtype).tiny)


# ---------------------------------------------------------------------------------------------- gather backend
#
# Bilinear sampling as a weighted gather. The C maps of a sample are zero-padded by one pixel and stored
# channels-last as the rows of a table: 2 sentinel rows, then C * (h+2) * (w+2) rows of F values. A voxel-view that
# sees a map reads the 4 rows around its pixel with the bilinear weights (taps in the padding ring read zeros, like
# grid_sample's zero padding); F.embedding_bag(mode="sum", per_sample_weights=...) does the gather and the weighted
# sum in one vectorised pass. "sum"/"conf" use one bag of 4*C taps per voxel (conf: the view weights are folded
# into the table), "softmax" one bag of 4 taps per voxel-view followed by a softmax over the views.
# In padded pixel coordinates (u + 1, v + 1) a visible voxel lies in [0.5, w + 0.5] x [0.5, h + 0.5], so its four
# taps are always inside its own padded map. Hidden voxel-views read table rows (0, 1, w+2, w+3) with weights
# (1, 0, 0, 0): row 0 holds _HIDDEN_LOGIT for the softmax (0 for the sums) and the other three are padding zeros,
# so a hidden view adds nothing to a sum and gets softmax weight exp(-1e30) = 0. A voxel that no view sees has its
# view 0 read rows (1, 2, w+3, w+4) instead (all zeros): its softmax is then [1, 0, ...] over values
# [0, -1e30, ...], exactly 0.
#
# Without autograd the softmax over views runs in base 2 on a table scaled by log2(e): with s2 = log2(e) * s,
# softmax_c(s) = 2^s2_c / sum_j 2^s2_j, and exp2 is several times cheaper than exp on the CPU. No max is subtracted:
# the table's values bound every sample (bilinear weights are convex, the padding is 0), so when they are small
# enough (_EXP2_LIMIT) 2^s2 can neither overflow nor underflow to 0 and the plain ratio is as accurate as the
# max-shifted one. Larger features, and autograd, use torch.softmax on the unscaled table.

_HIDDEN_LOGIT = -1e30
_SENTINEL_ROWS = 2
_GATHER_CHUNK_ELEMENTS = 1 << 20
_SOFTMAX_CHUNK_ELEMENTS = 1 << 19
_EXP2_LIMIT = {torch.float32: 100.0, torch.float64: 1000.0}
"""Largest ``|log2(e) * feature|`` for the base-2 softmax: 2^100 * 100 * C stays far below float32's 2^128 and
2^-100 far above its smallest normal 2^-126 (float64: 2^+-1000 against 2^1024 and 2^-1022)."""


def _gather_table(maps: Tensor, hidden: float, scale: Union[Tensor, float, None] = None,
                  out: Optional[Tensor] = None) -> Tensor:
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
        weighted = maps if scale is None else maps * (scale[:, None, None, None] if isinstance(scale, Tensor)
                                                      else scale)
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


class _GatherTaps:
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

    def __init__(self, cameras: Union[Camera, Tensor], points: Tensor, views_valid: Optional[Tensor],
                 h: int, w: int, sdtype: torch.dtype, step: int):
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
        self.idtype = idtype = (sdtype if _SENTINEL_ROWS + C * H2 * W2 < 2 ** 24 or sdtype == torch.float64
                                else torch.float64)
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
        self._buffers = dict(q=new(3 * C, dtype), clamped=new(2 * C, dtype), corner=new(3 * C, sdtype),
                             planes=new(1 + 4 * C, sdtype),
                             rows_f=new(4 * C, idtype), rows=new(4 * C, torch.int32), wts=new(4 * C, sdtype))
        if idtype != sdtype:  # the rows' inputs in float64, and the corners and mask converted to it
            self._buffers.update(rows_in=new(1 + C, idtype), wide=new(3 * C, idtype))
        self._views: dict[int, dict[str, Tensor]] = {}

    def _buffer_views(self, n: int) -> dict[str, Tensor]:
        views = self._views.get(n)
        if views is None:
            C, buf = self.C, self._buffers
            shapes = dict(q=(3 * C, n), clamped=(2, C, n), corner=(3, C, n),
                          planes=(1 + 4 * C, n), rows_f=(n, 4 * C), rows=(n, 4 * C), wts=(n, 4 * C),
                          rows_in=(1 + C, n), wide=(3, C, n))
            views = {k: buf[k][:math.prod(shape)].view(shape) for k, shape in shapes.items() if k in buf}
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
        uv, depth = project_grid(self.cameras[b:b + 1], pts[None])  # (1, C, n, 2), (1, C, n)
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
        frac, mask = planes[C + 1:3 * C + 1].view(2, C, n), corner[2]
        torch.mul(inside[0], inside[1], out=mask)
        torch.nan_to_num(clamped, nan=1.0, out=clamped)  # hidden positions only, where NaN * 0 would stay NaN
        if corner.dtype == clamped.dtype:
            torch.sub(clamped, torch.floor(clamped, out=corner[:2]), out=frac)
        else:  # geometry and samples of different precision: floor in the geometry's
            torch.sub(clamped, corner[:2].copy_(torch.floor(clamped, out=inside)), out=frac)
        # hidden voxel-views: base 0, fractions 0 -> rows (0, 1, W2, W2+1), weights (1, 0, 0, 0)
        frac.mul_(mask)
        torch.mul(frac[0], frac[1], out=planes[3 * C + 1:])
        if "wide" in v:  # maps too large for float32 row arithmetic
            rows_in, corner = v["rows_in"], v["wide"].copy_(corner)
        else:
            rows_in = planes[:C + 1]
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
        wts = torch.addmm(self.weights_bias, planes[C + 1:].t(), self.weights_matrix, out=v["wts"])
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


def _transposer(Fc: int, scale: float, exact_gemm: bool, like: Tensor) -> Optional[Tensor]:
    """The ``(F/G, G, G)`` batch of scaled identities that :func:`_transpose_into` multiplies by, or None (a copy)."""
    G = next((g for g in (8, 4) if Fc % g == 0), None) if exact_gemm else None
    if G is None:
        return None
    return torch.eye(G, dtype=like.dtype, device=like.device).mul_(scale).expand(Fc // G, G, G)


def _transpose_into(out: Tensor, r: Tensor, scale: float, eye: Optional[Tensor]) -> None:
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


def _unproject_gather(features: Tensor, taps: _GatherTaps, N: int, aggregation: str,
                      view_weights: Optional[Tensor], step: int, keep_visibility: bool):
    """Gather backend of :func:`unproject_features`: (B, F, N) volume and the (B, C, N) visibility (or None).

    One sample at a time (its table, a few MB, stays in cache and its memory is reused by the next sample), ``step``
    voxels at a time within a sample (the softmax in sub-steps whose per-view samples stay near 2 MB). Without
    autograd each chunk's channels-last ``(n, F)`` result is transposed, while in cache, into the volume.
    """
    B, C, Fc, h, w = features.shape
    softmax = aggregation == "softmax"
    sub = max(1, _SOFTMAX_CHUNK_ELEMENTS // (C * Fc)) if softmax else step
    track = torch.is_grad_enabled() and (features.requires_grad or (
        view_weights is not None and view_weights.requires_grad))
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
                    s = F.embedding_bag(rows[j0:j1].view(n * C, 4), table, mode="sum",
                                        per_sample_weights=wts[j0:j1].view(n * C, 4)).view(n, C, Fc)
                    if base2:
                        r = _mix_views_exp2(s, e_buf[:n * Fc].view(n, Fc), den_buf[:n * Fc].view(n, Fc),
                                            mix_buf[:n * Fc].view(n, Fc))
                        _transpose_into(volume[b, :, n0 + j0:n0 + j1], r, out_scale, eye)
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
                    _transpose_into(volume[b, :, n0 + j0:n0 + j1], r, out_scale, eye)
        if track:
            samples.append(torch.cat(parts, 1) if len(parts) > 1 else parts[0].contiguous())
    if track:
        volume = torch.stack(samples)
    return volume, visibility


def _resolve_backend(backend: str, features: Tensor, cameras: Union[Camera, Tensor], grid: Tensor,
                     convention: str = "centres") -> str:
    if backend not in BACKENDS:
        raise ValueError(f"backend must be one of {BACKENDS}, got {backend!r}")
    if backend == "gather" and convention != "centres":
        raise ValueError(f"backend 'gather' implements the 'centres' convention only, got {convention!r}; use "
                         "'fused' (CPU) or 'grid_sample'")
    if backend != "auto":
        return backend
    if features.device.type != "cpu":
        return "grid_sample"
    geometry = [grid] + ([cameras.K, cameras.R, cameras.t, cameras.dist] if isinstance(cameras, Camera) else [cameras])
    if torch.is_grad_enabled() and any(x is not None and x.requires_grad for x in geometry):
        return "grid_sample"  # the fused and gather backends treat the geometry as constant
    if fused_available():
        return "fused"
    return "gather" if convention == "centres" else "grid_sample"


def _convention_of(cameras: Union[Camera, Tensor], convention: Optional[str]) -> str:
    """The explicit ``convention``, else the cameras' (``"centres"`` for projection matrices); a convention that
    contradicts the cameras' raises."""
    own = cameras.convention if isinstance(cameras, Camera) else None
    if convention is None:
        return own or "centres"
    convention = check_convention(convention)
    if own is not None and own != convention:
        raise ValueError(f"convention {convention!r} contradicts the cameras' convention {own!r}; build the cameras "
                         "with the convention you want (lt_core.conventions)")
    return convention


def unproject_features(
    features: Tensor,
    cameras: Union[Camera, Tensor],
    grid: Tensor,
    aggregation: Aggregation = "softmax",
    confidences: Optional[Tensor] = None,
    views_valid: Optional[Tensor] = None,
    return_visibility: bool = False,
    chunk_voxels: Optional[int] = None,
    backend: Backend = "auto",
    convention: Optional[str] = None,
):
    """Unproject multi-view feature maps into voxel grids, all samples and views in one call.

    Args:
        features: (B, C, F, h, w) feature maps (any float dtype).
        cameras: :class:`Camera` with batch shape (B, C) in the feature maps' pixel frame (image cameras resized
            by ``h / H``), or (B, C, 3, 4) projection matrices in that frame.
        grid: (B, D1, D2, D3, 3) voxel centres in world mm (see :func:`make_cuboid_grid`).
        aggregation: ``"sum"``, ``"conf"`` or ``"softmax"`` (see the module docstring).
        confidences: (B, C) non-negative per-view confidences, required by ``"conf"``; normalised over the valid
            views here (weights sum to 1 per sample).
        views_valid: optional (B, C) bool; missing views contribute nothing.
        return_visibility: also return the (B, C, D1, D2, D3) boolean mask of voxels each view sees.
        chunk_voxels: voxels processed per step. ``None``: the whole grid in one step on GPUs; on the CPU steps
            small enough for the per-step temporaries to stay in cache (fused: voxels per task, rounded up to
            whole 64-voxel blocks; by default about two tasks per torch thread).
        backend: how the maps are sampled. ``"fused"``: compiled CPU kernels (numba) doing projection,
            sampling and aggregation in one pass per voxel block, the fastest on the CPU; threads follow
            ``torch.get_num_threads()``. ``"gather"``: a weighted gather (``F.embedding_bag`` over channels-last
            maps), pure PyTorch. Both treat the grid and the cameras as constants (no gradient flows into them).
            ``"grid_sample"``: ``F.grid_sample``, differentiable w.r.t. the geometry too, any device. ``"auto"``:
            fused on the CPU (gather without numba), grid_sample elsewhere or when the grid or the cameras require
            a gradient. All agree up to float rounding and are differentiable w.r.t. the features (and the
            confidences).
        convention: where a voxel samples a map and which views take part in the softmax
            (:mod:`lt_core.conventions`): ``"centres"`` (see the module docstring) or ``"official"`` (the paper's
            released code: sampling index ``(u (w - 1) / h, v (h - 1) / w)``, zero padding instead of a border,
            every valid view in the softmax with 0 where it does not see the voxel). ``None``: the cameras'
            convention (``"centres"`` for projection matrices). The gather backend implements ``"centres"`` only.

    Returns:
        (B, F, D1, D2, D3) aggregated volume, index-aligned with ``grid``; dtype float32/float64 (half inputs are
        promoted). With ``return_visibility``, the tuple ``(volume, visibility)``.
    """
    _check_inputs(features, cameras, grid, aggregation, confidences, views_valid)
    if chunk_voxels is not None and chunk_voxels < 1:
        raise ValueError(f"chunk_voxels must be positive, got {chunk_voxels}")
    convention = _convention_of(cameras, convention)
    backend = _resolve_backend(backend, features, cameras, grid, convention)
    B, C, Fc, h, w = features.shape
    spatial = grid.shape[1:4]
    N = spatial[0] * spatial[1] * spatial[2]
    sdtype = _sample_dtype(features)
    with autocast_disabled(features.device):
        maps = features.to(sdtype)
        weights = None
        if aggregation == "conf":
            valid = (torch.ones(B, C, dtype=torch.bool, device=features.device) if views_valid is None
                     else views_valid.to(torch.bool))
            weights = _normalized_confidences(confidences.to(sdtype), valid)
        if backend in ("fused", "gather"):  # both take the points in the geometry's precision
            points = grid.reshape(B, N, 3).to(_geometry_dtype(cameras.dtype, grid.dtype))
        if backend == "fused":
            if not fused_available():
                raise RuntimeError("backend 'fused' needs numba (pip install numba); backend 'gather' needs nothing")
            if features.device.type != "cpu":
                raise ValueError(f"backend 'fused' runs on the CPU, got features on {features.device}")
            geometry = _FUSED.FusedGeometry(cameras, points, views_valid, h, w, convention)
            volume, visible = _FUSED.fused_unproject(maps, weights, geometry, aggregation, return_visibility,
                                                     chunk_voxels)
        elif backend == "gather":
            step = _voxel_chunk(features.device, 16 * C + Fc, N, chunk_voxels, _GATHER_CHUNK_ELEMENTS)
            taps = _GatherTaps(cameras, points, views_valid, h, w, sdtype, step)
            volume, visible = _unproject_gather(maps, taps, N, aggregation, weights, step, return_visibility)
        else:
            # (B, C, N, 2) sampling positions, (B, C, N) visibility; hidden voxels sample exactly 0
            g, visible = _sampling_positions(cameras, grid.reshape(B, N, 3), h, w, views_valid, convention)
            takes_part = None
            if aggregation == "softmax" and rules(convention).softmax_views == "valid":
                takes_part = (torch.ones(B, C, dtype=torch.bool, device=features.device) if views_valid is None
                              else views_valid.to(device=features.device, dtype=torch.bool))
            if weights is not None:
                maps = maps * weights[:, :, None, None, None]  # sampling is linear: weight the small maps
            maps = maps.reshape(B * C, Fc, h, w)
            g = g.to(sdtype)
            step = _voxel_chunk(features.device, B * C * Fc, N, chunk_voxels)
            parts = [_sample_and_aggregate(maps, g[:, :, n0:n0 + step], visible[:, :, n0:n0 + step],
                                           aggregation, takes_part) for n0 in range(0, N, step)]
            volume = parts[0] if len(parts) == 1 else torch.cat(parts, -1)
    volume = volume.reshape(B, Fc, *spatial)
    if return_visibility:
        return volume, visible.reshape(B, C, *spatial)
    return volume


def unproject_features_loop(
    features: Tensor,
    cameras: Union[Camera, Tensor],
    grid: Tensor,
    aggregation: Aggregation = "softmax",
    confidences: Optional[Tensor] = None,
    views_valid: Optional[Tensor] = None,
    convention: Optional[str] = None,
) -> Tensor:
    """Per-sample, per-view reference of :func:`unproject_features` (for tests and as the benchmark baseline).

    The straightforward implementation: for every sample and view, project the grid into that view, sample that
    view's map with ``F.grid_sample`` and accumulate (``"sum"``, ``"conf"``); ``"softmax"`` keeps the per-view
    volumes of a sample and aggregates them at the end. Same arguments and result as :func:`unproject_features`
    (without ``return_visibility``).
    """
    _check_inputs(features, cameras, grid, aggregation, confidences, views_valid)
    convention = _convention_of(cameras, convention)
    B, C, Fc, h, w = features.shape
    spatial = grid.shape[1:4]
    sdtype = _sample_dtype(features)
    zero_views_take_part = rules(convention).softmax_views == "valid"
    out = []
    for b in range(B):
        points = grid[b].reshape(1, -1, 3)
        if aggregation == "conf":
            weights = [confidences[b, c].to(sdtype) if views_valid is None or bool(views_valid[b, c])
                       else confidences.new_zeros((), dtype=sdtype) for c in range(C)]
            total = sum(weights).clamp_min(torch.finfo(sdtype).tiny)
        acc, per_view, masks = None, [], []
        for c in range(C):
            uv, depth = project_grid(cameras[b:b + 1, c:c + 1], points)  # (1, 1, N, 2), (1, 1, N)
            T = sampling_transform((h, w), convention, dtype=uv.dtype, device=uv.device)
            idx = uv[0, 0] @ T[:2, :2].T  # (N, 2) sampling indices
            u, v, z = idx[:, 0], idx[:, 1], depth[0, 0]
            u_lo, u_hi, v_lo, v_hi = sampling_bounds((h, w), convention, dtype=idx.dtype)
            seen = (z > 0) & (u >= u_lo) & (u <= u_hi) & (v >= v_lo) & (v <= v_hi)
            valid = views_valid is None or bool(views_valid[b, c])
            if not valid:
                seen = torch.zeros_like(seen)
            pos = torch.stack([(u + 0.5) / w * 2 - 1, (v + 0.5) / h * 2 - 1], -1)
            pos = torch.where(seen[:, None], pos, torch.full_like(pos, -3.0))  # unseen: all taps in the padding
            vol = F.grid_sample(features[b, c][None].to(sdtype), pos.to(sdtype)[None, None],
                                mode="bilinear", padding_mode="zeros", align_corners=False)[0, :, 0]  # (F, N)
            if aggregation == "sum":
                acc = vol if acc is None else acc.add_(vol)
            elif aggregation == "conf":
                acc = vol * (weights[c] / total) if acc is None else acc.addcmul_(vol, weights[c] / total)
            else:
                per_view.append(vol)
                masks.append(torch.full_like(seen, valid) if zero_views_take_part else seen)
        if aggregation == "softmax":
            stacked = torch.stack(per_view)  # (C, F, N)
            part = torch.stack(masks)[:, None, :].expand_as(stacked)
            logits = torch.where(part, stacked, torch.full_like(stacked, -math.inf))
            soft = torch.softmax(logits, 0).nan_to_num(0.0)  # voxels no view takes part in: all weights 0
            acc = (soft * stacked).sum(0)  # views not seeing the voxel sampled exactly 0
        out.append(acc.reshape(Fc, *spatial))
    return torch.stack(out)
