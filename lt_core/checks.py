"""Small guards shared across the library: shape checks with one message format, and divisions by sums that may be 0.

These idioms appeared in several modules, each spelled slightly differently; one spelling keeps the error messages
alike and the arithmetic identical wherever it is used (the helpers perform exactly the operations they replace, so
results do not change by a bit).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

__all__ = ["check_shape", "normalize_sum", "weighted_mean"]


def check_shape(x: object, trailing: Sequence[int | str], name: str) -> None:
    """Check that ``x`` is a tensor whose last dimensions are ``trailing``.

    Args:
        x: the value to check.
        trailing: the expected last dimensions; an ``int`` must match exactly, a ``str`` (e.g. ``"N"``) names a
            dimension of any size that must exist.
        name: the argument's name, used in the message.

    Raises:
        TypeError: ``x`` is not a ``torch.Tensor``.
        ValueError: ``x`` has fewer dimensions than ``trailing`` or a fixed dimension differs; the message reads
            ``"X must have shape (..., N, 3), got (4, 2)"``.
    """
    if not isinstance(x, Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(x).__name__}")
    k = len(trailing)
    last = tuple(x.shape[x.dim() - k :]) if x.dim() >= k else None
    if last is None or any(isinstance(t, int) and s != t for s, t in zip(last, trailing)):
        raise ValueError(f"{name} must have shape (..., {', '.join(map(str, trailing))}), got {tuple(x.shape)}")


def normalize_sum(x: Tensor, dim: int | tuple[int, ...]) -> Tensor:
    """``x`` divided by its sum over ``dim`` (kept), so that it sums to 1 there; all-zero slices stay 0.

    The sum is clamped to the dtype's smallest normal number instead of adding an epsilon, so that non-zero slices
    are normalised exactly, whatever their scale.

    Args:
        x: non-negative values, any shape.
        dim: dimension(s) to normalise over.

    Returns:
        Same shape and dtype as ``x``.
    """
    return x / x.sum(dim, keepdim=True).clamp_min(torch.finfo(x.dtype).tiny)


def weighted_mean(values: Tensor, weights: Tensor, min_total: float = 1.0, scale: float = 1.0) -> Tensor:
    """``scale * sum(values * weights) / max(sum(weights), min_total)``: a masked or weighted mean over every element.

    With 0/1 weights (a validity mask) this is the mean over valid elements, and 0 when none is valid. ``scale``
    multiplies the sum before the division, in that order (a loss weight), so that a scaled mean is bit for bit the
    expression ``scale * (values * weights).sum() / weights.sum()`` it replaces.

    Args:
        values: any shape.
        weights: broadcastable to ``values``, non-negative.
        min_total: the smallest denominator (1 for masks: one valid element or none gives its value or 0).
        scale: factor applied to the weighted sum before dividing (1: none; multiplying by 1 is exact).

    Returns:
        A scalar tensor.
    """
    return scale * (values * weights).sum() / weights.sum().clamp_min(min_total)
