"""The ``"fused"`` unprojection backend: compiled CPU kernels (:mod:`lt_core.ops._fused_kernels`) behind an
autograd function.

The maps of every sample are laid out once as a padded channels-last table; then tasks (a sample and a range of
voxels each) project, sample and aggregate their voxels in one pass each and write them into the channels-first
volume. Tasks run in a pool of ``torch.get_num_threads()`` threads (the kernels release the GIL), or in the calling
thread when torch uses one thread. The backward pass recomputes the taps and scatters the volume gradient into a
gradient table (one task per sample: samples own their tables), which is transposed back into the maps' layout.

The grid and the cameras are constants here (no gradient flows into them); the maps and the per-view weights of
the ``"conf"`` aggregation are differentiable.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import torch
from torch import Tensor

from lt_core.camera import Camera
from lt_core.conventions import rules, sampling_bounds, sampling_transform
from lt_core.ops import _fused_kernels as kernels
from lt_core.ops._simd import LANES
from lt_core.ops.grid import project_grid

__all__ = ["FusedGeometry", "fused_unproject"]

_POOL: ThreadPoolExecutor | None = None
_POOL_KEY: tuple[int, int] = (0, 0)


def _run(tasks: list[Callable[[], None]]) -> None:
    """Run the tasks in the thread pool (one per torch thread), or here when torch uses a single thread."""
    global _POOL, _POOL_KEY
    threads = torch.get_num_threads()
    if threads <= 1 or len(tasks) <= 1:
        for task in tasks:
            task()
        return
    key = (threads, os.getpid())  # a forked child gets a pool of its own
    if _POOL is None or _POOL_KEY != key:
        _POOL = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="lt-unproject")
        _POOL_KEY = key
    for future in [_POOL.submit(task) for task in tasks]:
        future.result()


def _ranges(B: int, N: int, chunk: int | None) -> list[tuple[int, int, int]]:
    """(sample, first voxel, end) tasks: ``chunk`` voxels each (rounded up to whole blocks), or by default about two
    tasks per thread in all."""
    if chunk is None:
        parts = max(1, math.ceil(2 * torch.get_num_threads() / B)) if torch.get_num_threads() > 1 else 1
        chunk = math.ceil(N / parts)
    step = max(kernels.BLOCK, math.ceil(chunk / kernels.BLOCK) * kernels.BLOCK)
    return [(b, n0, min(N, n0 + step)) for b in range(B) for n0 in range(0, N, step)]


class FusedGeometry:
    """Where the voxels of every sample land in every view, in the kernels' layout (constants: no gradient).

    Points: (B, 3, Npad) coordinate rows in world mm. Without lens distortion: (B, C, 3, 4) matrices giving padded
    homogeneous sampling coordinates ``((u+1) z, (v+1) z, z)``; with distortion: (B, C, N, 2) padded sampling
    coordinates, NaN where a voxel is hidden. A missing view (``views_valid`` False) sees nothing. ``convention``
    (:mod:`lt_core.conventions`) sets the sampling index, the bounds and which views take part in the softmax
    (``part``, (B, C) bool: the valid views in the official convention, none otherwise).
    """

    def __init__(
        self,
        cameras: Camera | Tensor,
        points: Tensor,
        views_valid: Tensor | None,
        h: int,
        w: int,
        convention: str = "centres",
    ):
        B, N, _ = points.shape
        dtype = points.dtype
        C = cameras.shape[1] if isinstance(cameras, Tensor) else cameras.batch_shape[1]
        valid = None if views_valid is None else views_valid.to(device=points.device, dtype=torch.bool)
        T = sampling_transform((h, w), convention, dtype=dtype)
        np_dtype = np.float32 if dtype == torch.float32 else np.float64
        self.bounds = np.array(sampling_bounds((h, w), convention, 1.0, dtype), dtype=np_dtype)
        part = rules(convention).softmax_views == "valid"
        self.part = np.zeros((B, C), dtype=np.bool_)
        if part:
            self.part[:] = True if valid is None else valid.cpu().numpy()
        self.use_pos = isinstance(cameras, Camera) and cameras.has_distortion
        if self.use_pos:  # the kernels read the positions only
            uv, depth = project_grid(cameras, points.detach())  # (B, C, N, 2), (B, C, N)
            uv = uv.to(dtype) @ T[:2, :2].T + 1.0
            hidden = depth <= 0
            if valid is not None:
                hidden = hidden | ~valid[:, :, None]
            uv = torch.where(hidden[..., None], torch.full_like(uv, math.nan), uv)
            self.pos = uv.contiguous().numpy()
            self.points = np.zeros((B, 3, LANES), dtype=self.pos.dtype)
            self.proj = np.zeros((B, 1, 3, 4), dtype=self.pos.dtype)
        else:
            npad = -(-N // LANES) * LANES  # coordinates as rows, padded with hidden points (z = 0) to whole vectors
            soa = torch.zeros(B, 3, npad, dtype=dtype)
            soa[:, :, :N] = points.detach().transpose(1, 2)
            self.points = soa.numpy()
            P = (cameras.projection if isinstance(cameras, Camera) else cameras).detach().to(dtype)
            P = T @ P  # to sampling indices
            P = torch.stack([P[:, :, 0] + P[:, :, 2], P[:, :, 1] + P[:, :, 2], P[:, :, 2]], 2)  # pixel + 1
            if valid is not None:  # a missing view: z = -1 everywhere, i.e. behind the camera
                behind = torch.tensor([0.0, 0.0, 0.0, -1.0], dtype=dtype)
                z_row = torch.where(valid[:, :, None], P[:, :, 2], behind)
                P = torch.cat([P[:, :, :2], z_row[:, :, None]], 2)
            self.proj = P.contiguous().numpy()
            self.pos = np.zeros((B, 1, 1, 2), dtype=self.points.dtype)
        self.h, self.w, self.N = h, w, N


def _padded_channels(Fc: int) -> int:
    return -(-Fc // LANES) * LANES


def _tables(maps: np.ndarray, scale: np.ndarray) -> np.ndarray:
    """(B, C, F, h, w) maps times (B, C) scale -> (B, C, (h+2)(w+2), Fp) padded channels-last tables."""
    B, C, Fc, h, w = maps.shape
    tables = np.zeros((B, C, (h + 2) * (w + 2), _padded_channels(Fc)), dtype=maps.dtype)
    _run([lambda b=b: kernels.relayout(maps[b], scale[b], tables[b], True) for b in range(B)])
    return tables


class _FusedUnprojection(torch.autograd.Function):
    """(B, C, F, h, w) maps and optional (B, C) view weights -> (B, F, N) volume and (B, C, N) visibility."""

    @staticmethod
    def forward(
        ctx,
        maps: Tensor,
        weights: Tensor | None,
        geometry: FusedGeometry,
        softmax: bool,
        keep_vis: bool,
        chunk: int | None,
    ):
        B, C, Fc, h, w = maps.shape
        m = maps.detach().contiguous().numpy()
        scale = (
            np.ones((B, C), dtype=m.dtype) if weights is None else weights.detach().to(maps.dtype).contiguous().numpy()
        )
        tables = _tables(m, scale)
        N = geometry.N
        volume = maps.new_empty(B, Fc, N)
        out = volume.numpy()
        # non-temporal stores need every channel row of the volume to start on a vector boundary. They pay off when
        # the volume reuses memory the allocator had already (below 32 MiB malloc recycles freed blocks); larger
        # volumes are fresh pages from mmap, faulted in by the first write, where plain stores measured faster.
        nbytes = volume.numel() * volume.element_size()
        stream = volume.data_ptr() % (LANES * volume.element_size()) == 0 and N % LANES == 0 and nbytes < 32 << 20
        vis = np.zeros((B, C, N) if keep_vis else (B, 1, 1), dtype=np.bool_)
        g = geometry

        def task(b: int, n0: int, n1: int) -> None:
            kernels.forward(
                tables[b],
                Fc,
                g.proj[b],
                g.points[b],
                g.pos[b],
                g.use_pos,
                g.bounds,
                g.part[b],
                g.w,
                softmax,
                n0,
                n1,
                out[b],
                stream,
                vis[b],
                keep_vis,
            )

        _run([lambda t=t: task(*t) for t in _ranges(B, N, chunk)])
        ctx.save_for_backward(maps, weights)
        ctx.fused = (tables, geometry, softmax)
        visibility = torch.from_numpy(vis) if keep_vis else None
        if visibility is not None:
            ctx.mark_non_differentiable(visibility)
        return volume, visibility

    @staticmethod
    def backward(ctx, grad_volume: Tensor, _grad_visibility):
        maps, weights = ctx.saved_tensors
        tables, g, softmax = ctx.fused
        B, C = maps.shape[:2]
        go = grad_volume.detach().to(maps.dtype).contiguous().numpy()
        grad_tables = np.zeros_like(tables)

        def task(b: int) -> None:
            kernels.backward(
                tables[b],
                go[b],
                g.proj[b],
                g.points[b],
                g.pos[b],
                g.use_pos,
                g.bounds,
                g.part[b],
                g.w,
                softmax,
                0,
                g.N,
                grad_tables[b],
            )

        _run([lambda b=b: task(b) for b in range(B)])
        # gradient w.r.t. the weighted maps, then through the per-view weights
        grad_weighted = np.empty(maps.shape, dtype=tables.dtype)
        ones = np.ones((B, C), dtype=tables.dtype)
        _run([lambda b=b: kernels.relayout(grad_weighted[b], ones[b], grad_tables[b], False) for b in range(B)])
        grad_weighted = torch.from_numpy(grad_weighted)
        grad_maps = grad_weights = None
        if weights is None:
            grad_maps = grad_weighted
        else:
            if ctx.needs_input_grad[0]:
                grad_maps = grad_weighted * weights.detach().to(maps.dtype)[:, :, None, None, None]
            if ctx.needs_input_grad[1]:
                grad_weights = (grad_weighted * maps.detach()).sum((2, 3, 4)).to(weights.dtype)
        return grad_maps, grad_weights, None, None, None, None


def fused_unproject(
    maps: Tensor, weights: Tensor | None, geometry: FusedGeometry, aggregation: str, keep_vis: bool, chunk: int | None
) -> tuple[Tensor, Tensor | None]:
    """(B, C, F, h, w) float32/float64 CPU maps -> (B, F, N) volume and the (B, C, N) visibility (or None).
    The caller has checked the inputs (:func:`lt_core.ops.unprojection.unproject_features`).

    ``weights``: (B, C) per-view weights folded into the maps (the ``"conf"`` aggregation), or None.
    """
    return _FusedUnprojection.apply(maps, weights, geometry, aggregation == "softmax", keep_vis, chunk)
