"""How :func:`lt_core.ops.triangulation.triangulate` runs: input conversion, per-point weight scaling, passes over
points and thread counts that hold up on a busy machine."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np
import torch
from torch import Tensor

__all__ = ["single_thread_below", "rescale_weights", "as_tensor", "point_chunks", "single_threaded"]


_PARALLEL_MIN_POINTS = 1 << 20


def _cpu_count() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def single_thread_below(n_points: int, min_points: int = _PARALLEL_MIN_POINTS) -> bool:
    """Whether to run ``n_points`` of elementwise triangulation work on one thread.

    The kernels are memory bound elementwise passes: a second thread gains little on an idle machine and, on a busy
    one, every pass waits at a barrier for the slowest (descheduled) thread, which measured 5-20x *slower* than one
    thread on a loaded 2-core CPU. So: one thread below ``min_points`` points, or whenever the 1-minute load
    average already fills the CPUs this process may use.
    """
    if torch.get_num_threads() <= 1 or n_points < min_points:
        return True
    try:
        return os.getloadavg()[0] >= _cpu_count() - 0.5
    except OSError:  # no load average on this platform
        return False


@contextmanager
def single_threaded(one: bool) -> Iterator[None]:
    """Run the body on one intra-op thread when ``one`` (restoring the caller's setting afterwards)."""
    old = torch.get_num_threads()
    if not one or old <= 1:
        yield
        return
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(old)


def as_tensor(x, name: str, error: type[Exception] = ValueError) -> Tensor:
    """Tensors pass through; NumPy arrays, lists and scalars become tensors (Python floats as float64, through
    NumPy); anything else, booleans and complex numbers are refused with ``error`` naming the argument."""
    if isinstance(x, Tensor):
        t = x
    else:
        try:
            t = torch.as_tensor(np.asarray(x))
        except (TypeError, ValueError, RuntimeError) as e:
            raise error(f"{name} must be a tensor or an array of numbers, got {type(x).__name__} ({e})") from None
    if t.dtype == torch.bool or t.is_complex():
        raise error(f"{name} must hold real numbers, got dtype {t.dtype}")
    return t


def rescale_weights(w: Tensor, outside: tuple[float, float] | None = None) -> Tensor:
    """Scale each point's weights by a power of two so that its largest weight lies in [0.5, 1).

    The DLT solution does not depend on a common scale of one point's weights, but its arithmetic does: squared
    weights enter products of three (the adjugate), so 1e-40 or 1e100 under- or overflows. A power of two changes
    no mantissa, so the scaled weights keep their exact ratios. The scale is a constant for autograd (the answer
    is invariant to it).

    Args:
        w: (B, C, J) finite non-negative weights.
        outside: rescale only points whose largest weight lies outside this interval (``None``: every point).

    Returns:
        (B, C, J) rescaled weights (points without a positive weight unchanged).
    """
    m = w.detach().amax(1, keepdim=True)  # (B, 1, J)
    _, e = torch.frexp(m)  # m = mantissa * 2**e, mantissa in [0.5, 1); e = 0 for m = 0
    if outside is not None:
        lo, hi = outside
        e = torch.where((m < lo) | (m > hi), e, torch.zeros_like(e))
    # 2**-e in two factors: 2**1074 (the smallest subnormal's inverse) does not fit one float64
    e1 = torch.div(-e, 2, rounding_mode="floor")
    one = torch.ones_like(m)
    return w * torch.ldexp(one, e1) * torch.ldexp(one, -e - e1)


def point_chunks(B: int, J: int, chunk: int) -> Iterator[tuple[slice, slice]]:
    """Blocks (samples, joints) of at most about ``chunk`` points covering a (B, J) grid in row-major order."""
    if B * J <= chunk:
        yield slice(0, B), slice(0, J)
    elif J >= chunk:
        for b in range(B):
            for j in range(0, J, chunk):
                yield slice(b, b + 1), slice(j, min(J, j + chunk))
    else:
        step = max(1, chunk // J)
        for b in range(0, B, step):
            yield slice(b, min(B, b + step)), slice(0, J)
