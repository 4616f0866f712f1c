"""Exercises of notebook 02 (soft-argmax): the estimator, its gradient, the parabola refinement, the beta -> 0 limit."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

from lt_core.exercises import ExerciseFailed, call, close, register
from lt_core.ops.soft_argmax import hard_argmax_2d, soft_argmax_2d


def _heatmaps(n: int, h: int, w: int, seed: int) -> torch.Tensor:
    """Random smooth-ish float64 heatmaps (n, h, w): a bump at a random place plus noise."""
    g = torch.Generator().manual_seed(seed)
    u0 = torch.rand(n, 1, 1, generator=g, dtype=torch.float64) * (w - 1)
    v0 = torch.rand(n, 1, 1, generator=g, dtype=torch.float64) * (h - 1)
    u = torch.arange(w, dtype=torch.float64)[None, None]
    v = torch.arange(h, dtype=torch.float64)[None, :, None]
    bump = torch.exp(-((u - u0) ** 2 + (v - v0) ** 2) / (2 * 2.5**2))
    return bump + 0.1 * torch.randn(n, h, w, generator=g, dtype=torch.float64)


@register("02.1", "soft-argmax in three lines", paper="Sec. 3, Eq. (1)-(2)")
def _soft_argmax(answer: Callable[..., Any]) -> str:
    hm = _heatmaps(6, 24, 40, seed=0)  # h != w: swapping u and v shows
    for beta in (1.0, 30.0, 100.0):
        got = call(answer, hm.clone(), beta)
        close(
            got,
            soft_argmax_2d(hm, beta=beta),
            f"6 random 24 x 40 heatmaps (h x w), beta = {beta:g}",
            atol=1e-8,
            rtol=0,
            unit="px",
        )
    return "(u, v) match lt_core.ops.soft_argmax_2d on 24 x 40 maps for beta = 1, 30 and 100."


@register("02.2", "the gradient of u_hat", paper="Sec. 3, Eq. (1)-(2): gradients flow back to the heatmaps")
def _gradient(answer: Callable[..., Any]) -> str:
    hm = _heatmaps(3, 20, 28, seed=1)
    for k in range(3):
        for beta in (3.0, 30.0):
            h = hm[k].clone().requires_grad_(True)
            soft_argmax_2d(h[None], beta=beta)[0, 0].backward()
            got = call(answer, hm[k].clone(), beta)
            close(got, h.grad, f"heatmap {k} (20 x 28), beta = {beta:g}", atol=1e-9, rtol=1e-6)
    return "Your d u_hat / d H equals autograd's on three heatmaps and two betas."


@register("02.3", "the parabola refinement", paper="Sec. 4: the RANSAC baseline's 2D points")
def _refine(answer: Callable[..., Any]) -> str:
    g = torch.Generator().manual_seed(3)
    n = 50
    centre = 1.0 + torch.rand(n, generator=g, dtype=torch.float64)
    minus = centre - 0.05 - torch.rand(n, generator=g, dtype=torch.float64)
    plus = centre - 0.05 - torch.rand(n, generator=g, dtype=torch.float64)
    hm = torch.zeros(n, 5, 7, dtype=torch.float64)  # maximum at (u, v) = (3, 2), neighbours along u
    hm[:, 2, 2], hm[:, 2, 3], hm[:, 2, 4] = minus, centre, plus
    hm[:, 1, 3] = hm[:, 3, 3] = centre - 0.5  # a symmetric profile along v: no offset there
    want = hard_argmax_2d(hm)[0][:, 0] - 3.0
    got = call(answer, minus.clone(), centre.clone(), plus.clone())
    close(got, want, f"{n} random peaks (values left, centre, right)", atol=1e-12, rtol=0, unit="px")
    return "The sub-pixel offsets match hard_argmax_2d's refinement on 50 random peaks."


@register("02.4", "the small-beta limit", paper="Sec. 3, Eq. (1): the inverse temperature")
def _limit(answer: Callable[..., Any]) -> str:
    for w, h in ((64, 64), (40, 24), (7, 3)):
        got = call(answer, w, h)
        hm = _heatmaps(1, h, w, seed=w)
        near_zero = soft_argmax_2d(hm, beta=1e-9)[0]
        close(got, near_zero, f"a {w} x {h} (W x H) map", atol=1e-6, rtol=0, unit="px")
    if not isinstance(got, (tuple, list, torch.Tensor)) or len(got) != 2:
        raise ExerciseFailed("return the point as (u, v)")
    return "As beta -> 0 every pixel gets the same weight: the estimate is the mean pixel ((W-1)/2, (H-1)/2)."
