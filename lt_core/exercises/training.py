"""Exercises of notebook 05 (training): the smooth MSE as trained, its derivative, the voxel cross-entropy, and what
the learned confidences do to the DLT."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

from lt_core.data.rigs import human36m_like_rig
from lt_core.exercises import ExerciseFailed, call, close, register
from lt_core.losses import MM_TO_CM, SMOOTH_MSE_THRESHOLD, smooth_mse_loss, volumetric_ce_loss
from lt_core.ops.triangulation import project_points, triangulate
from lt_core.ops.unprojection import make_cuboid_grid


@register("05.1", "the smooth MSE as it is trained", paper="Sec. 3, Eq. (15)")
def _smooth_mse(answer: Callable[..., Any]) -> str:
    g = torch.Generator().manual_seed(7)
    gt = torch.randn(3, 17, 3, generator=g, dtype=torch.float64) * 300
    for spread in (30.0, 150.0, 600.0):  # errors mostly under, around and over the 20 cm threshold
        pred = gt + spread * torch.randn(gt.shape, generator=g, dtype=torch.float64)
        got = call(answer, pred.clone(), gt.clone())
        close(
            got,
            smooth_mse_loss(pred, gt),
            f"3 samples of 17 joints, errors of about {spread:g} mm per coordinate",
            atol=1e-9,
            rtol=1e-9,
            unit="cm^2",
        )
    return "Per coordinate in cm, smoothed above 400 cm^2, divided by 3 x the number of joints: as lt_core.losses."


@register("05.2", "the derivative of the smoothing", paper="Sec. 3, Eq. (15)")
def _drho(answer: Callable[..., Any]) -> str:
    d = torch.tensor([0.5, 10.0, 100.0, 399.0, 401.0, 900.0, 1e4, 1e6], dtype=torch.float64)
    # rho'(d) by autograd through lt_core's loss: one coordinate off by sqrt(d) cm, rho(d) / 3 for a single joint
    dd = d.clone().requires_grad_(True)
    pred = torch.zeros(len(d), 1, 3, dtype=torch.float64)
    pred = pred + torch.stack([dd.sqrt() / MM_TO_CM, torch.zeros_like(dd), torch.zeros_like(dd)], -1)[:, None]
    loss = sum(smooth_mse_loss(pred[i : i + 1], torch.zeros(1, 1, 3, dtype=torch.float64)) for i in range(len(d)))
    (want,) = torch.autograd.grad(loss, dd)
    want = 3 * want
    got = call(answer, d.clone())
    close(got, want, f"d = {[float(v) for v in d]} cm^2 (threshold {SMOOTH_MSE_THRESHOLD:g})", atol=1e-12, rtol=1e-9)
    return "rho'(d) is 1 up to 400 cm^2 and 0.1 (400 / d)^0.9 above: an error of 2 m pulls 100 times less than MSE."


@register("05.3", "the voxel cross-entropy", paper="Sec. 3, Eq. (16)")
def _ce(answer: Callable[..., Any]) -> str:
    g = torch.Generator().manual_seed(8)
    D = 6
    grid = make_cuboid_grid(torch.tensor([[100.0, -50.0, 950.0]], dtype=torch.float64), 2000.0, D)[0]
    logits = torch.randn(17, D, D, D, generator=g, dtype=torch.float64)
    probs = torch.softmax(logits.reshape(17, -1), -1).reshape(17, D, D, D)
    gt = torch.tensor([100.0, -50.0, 950.0], dtype=torch.float64) + 700 * torch.randn(
        17, 3, generator=g, dtype=torch.float64
    )
    got = call(answer, probs.clone(), grid.clone(), gt.clone())
    close(
        got,
        volumetric_ce_loss(probs[None], grid[None], gt[None], eps=0.0),
        f"17 joints on a {D}^3 grid (some outside the cuboid)",
        atol=1e-3,
        rtol=0,
    )  # 1e-3: with or without the released code's eps = 1e-6
    return "-mean_j log p_j(voxel nearest the truth) matches lt_core.losses.volumetric_ce_loss."


def _confidence_case(seed: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    P = human36m_like_rig().projection.double()
    X = torch.tensor([0.0, 0.0, 1000.0], dtype=torch.float64) + 300 * torch.randn(3, generator=g, dtype=torch.float64)
    uv = project_points(X[None], P)[:, 0] + torch.randn(P.shape[0], 2, generator=g, dtype=torch.float64)
    bad = int(torch.randint(P.shape[0], (1,), generator=g))
    uv[bad] += 60.0  # one view is far off: an occlusion
    conf = 0.2 + torch.rand(P.shape[0], generator=g, dtype=torch.float64)
    conf[bad] = 0.02
    return uv, P, conf / conf.sum(), X


@register("05.4", "what the learned confidences buy", paper="Sec. 3, Eq. (4)-(5)")
def _confidences(
    answer: Callable[..., Any], points: Any = None, projections: Any = None, confidences: Any = None, truth: Any = None
) -> str:
    cases = [_confidence_case(s) for s in range(3)]
    if points is not None:
        cases.append(tuple(torch.as_tensor(v, dtype=torch.float64) for v in (points, projections, confidences, truth)))
    for k, (uv, P, conf, X) in enumerate(cases):
        got = call(answer, uv.clone(), P.clone(), conf.clone(), X.clone())
        if not isinstance(got, (tuple, list)) or len(got) != 2:
            raise ExerciseFailed("return two errors (with the confidences, with equal weights), in mm")
        with_c = (triangulate(uv[None, :, None], P[None], conf[None, :, None])[0, 0] - X).norm()
        equal = (triangulate(uv[None, :, None], P[None])[0, 0] - X).norm()
        name = "the notebook's occluded joint" if k == 3 else f"random case {k} (one view 60 px off, confidence 0.02)"
        close(
            torch.tensor([float(v) for v in got], dtype=torch.float64),
            torch.stack([with_c, equal]),
            name,
            atol=1e-6,
            rtol=0,
            unit="mm",
        )
    return "Weighting the DLT's rows by the confidences moves the joint toward what the trusted views agree on."
