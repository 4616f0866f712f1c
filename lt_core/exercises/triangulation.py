"""Exercises of notebook 03 (algebraic triangulation): DLT rows, the weighted DLT, reprojection errors, RANSAC
consensus."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

from lt_core.data.rigs import human36m_like_rig
from lt_core.exercises import ExerciseFailed, call, close, register
from lt_core.ops.triangulation import dlt_svd, project_points, reprojection_error


def _scene(seed: int, n: int = 5) -> tuple[torch.Tensor, torch.Tensor]:
    """(C, 3, 4) projection matrices of the 4-camera rig and (n, 3) points in its capture area, float64."""
    g = torch.Generator().manual_seed(seed)
    X = torch.randn(n, 3, generator=g, dtype=torch.float64) * 350 + torch.tensor(
        [0.0, 0.0, 1000.0], dtype=torch.float64
    )
    return human36m_like_rig().projection.double(), X


@register("03.1", "the two DLT rows of one view", paper="Sec. 3, Eq. (3)")
def _rows(answer: Callable[..., Any]) -> str:
    P, X = _scene(0)
    uv = project_points(X, P[None])[0]  # (C, n, 2)
    for c in range(P.shape[0]):
        for i in range(X.shape[0]):
            A = torch.as_tensor(call(answer, uv[c, i].clone(), P[c].clone()), dtype=torch.float64)
            if A.shape != (2, 4):
                raise ExerciseFailed(f"expected a (2, 4) matrix, got shape {tuple(A.shape)}")
            Xh = torch.cat([X[i], torch.ones(1, dtype=torch.float64)])
            scale = A.norm(dim=1) * Xh.norm()
            if (scale == 0).any():
                raise ExerciseFailed(f"view {c}, point {i}: a row of A is zero")
            residual = (A @ Xh).abs() / scale
            if residual.max() > 1e-9:
                raise ExerciseFailed(
                    f"view {c}, point {i}: A X_h should be 0 for the point that projects to uv, got "
                    f"relative residuals {residual.tolist()}"
                )
            if torch.linalg.matrix_rank(A) < 2:
                raise ExerciseFailed(f"view {c}, point {i}: the two rows are parallel (rank 1)")
            other = Xh + torch.tensor([150.0, -80.0, 60.0, 0.0], dtype=torch.float64)
            if ((A @ other).abs() / (A.norm(dim=1) * other.norm())).max() < 1e-6:
                raise ExerciseFailed(
                    f"view {c}, point {i}: A X_h is also 0 for a point off the ray: the rows do not depend on uv"
                )
    return "For every view your rows vanish exactly on the point's ray (and not off it): two equations per view."


@register("03.2", "the weighted DLT by SVD", paper="Sec. 3, Eq. (4)")
def _weighted(answer: Callable[..., Any]) -> str:
    P, X = _scene(1)
    uv = project_points(X, P[None])[0]  # (C, n, 2)
    g = torch.Generator().manual_seed(11)
    noisy = uv + 3.0 * torch.randn(uv.shape, generator=g, dtype=torch.float64)
    C = P.shape[0]
    for i in range(X.shape[0]):
        w = 0.1 + torch.rand(C, generator=g, dtype=torch.float64)
        got = call(answer, uv[:, i].clone(), P.clone(), w.clone())
        close(
            got,
            X[i],
            f"point {i}, exact pixels, weights {[round(v, 2) for v in w.tolist()]}",
            atol=1e-6,
            rtol=0,
            unit="mm",
        )
        got = call(answer, noisy[:, i].clone(), P.clone(), w.clone())
        want = dlt_svd(noisy[None, :, i : i + 1], w[None, :, None], P[None])[0, 0]
        close(
            got,
            want,
            f"point {i}, 3 px of noise, weights {[round(v, 2) for v in w.tolist()]}",
            atol=1e-6,
            rtol=0,
            unit="mm",
        )
    w = torch.tensor([1.0, 0.0, 1.0, 1.0], dtype=torch.float64)[:C]
    bad = noisy[:, 0].clone()
    bad[1] += 200.0  # an outlier in view 1, switched off by its weight
    got = call(answer, bad, P.clone(), w)
    close(
        got,
        dlt_svd(noisy[None, :, :1], w[None, :, None], P[None])[0, 0],
        "view 1 off by 200 px with weight 0",
        atol=1e-6,
        rtol=0,
        unit="mm",
    )
    return "Exact points come back to 1e-6 mm, noisy ones as the weighted DLT of Eq. (4), and weight 0 removes a view."


@register("03.3", "reprojection errors", paper="Sec. 3: the errors RANSAC scores")
def _reprojection(answer: Callable[..., Any]) -> str:
    P, X = _scene(2, n=17)
    g = torch.Generator().manual_seed(12)
    uv = project_points(X, P[None])[0] + 4.0 * torch.randn(P.shape[0], 17, 2, generator=g, dtype=torch.float64)
    X_est = X + 20.0 * torch.randn(X.shape, generator=g, dtype=torch.float64)
    got = call(answer, X_est.clone(), uv.clone(), P.clone())
    close(got, reprojection_error(X_est, uv, P), "17 joints seen by 4 cameras", atol=1e-9, rtol=0, unit="px")
    return "Your (C, J) errors match lt_core.ops.triangulation.reprojection_error."


@register("03.4", "RANSAC's consensus set", paper="Sec. 4: the RANSAC baseline")
def _inliers(answer: Callable[..., Any]) -> str:
    P, X = _scene(3, n=8)
    g = torch.Generator().manual_seed(13)
    C = P.shape[0]
    uv = project_points(X, P[None])[0]  # (C, n, 2)
    for i in range(X.shape[0]):
        shift = torch.randn(C, 2, generator=g, dtype=torch.float64)
        shift = (
            shift / shift.norm(dim=-1, keepdim=True) * (2.0 + 40.0 * torch.rand(C, 1, generator=g, dtype=torch.float64))
        )
        obs = uv[:, i] + shift
        d = shift.norm(dim=-1)
        for threshold in (15.0, 25.0):
            if ((d - threshold).abs() < 0.5).any():
                continue  # keep away from the threshold itself
            got = torch.as_tensor(call(answer, X[i].clone(), obs.clone(), P.clone(), threshold))
            want = d < threshold
            if got.shape != want.shape or got.dtype != torch.bool:
                raise ExerciseFailed(f"return a (C,) bool tensor, got {tuple(got.shape)} {got.dtype}")
            if not torch.equal(got, want):
                raise ExerciseFailed(
                    f"point {i}, threshold {threshold:g} px: detections {d.round(decimals=1).tolist()}"
                    f" px from the reprojection; expected inliers {want.tolist()}, got {got.tolist()}"
                )
    return "Your consensus sets are the views whose detection lies within the threshold of the reprojection."
