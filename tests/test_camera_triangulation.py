"""Triangulation from Camera objects and distorted pixels: points recovered through both lens models."""

from __future__ import annotations

import pytest
import torch
from conftest import random_points, ring_rig
from torch.autograd import gradcheck

from lt_core.camera import Camera
from lt_core.ops.camera_triangulation import (
    reprojection_error_cameras,
    triangulate_cameras,
    triangulate_cameras_best_subset,
    triangulate_cameras_ransac,
    undistort_views,
)
from lt_core.ops.triangulation import TriangulationError, triangulate

LENSES = {"opencv": [-0.28, 0.09, 0.002, -0.001, 0.0], "h36m": [-0.21, 0.25, -0.0014, -0.001, -0.003]}


def distorted_rig(model: str, n: int = 4) -> Camera:
    base = ring_rig(n)
    dist = torch.tensor(LENSES[model], dtype=torch.float64) * torch.linspace(0.9, 1.1, n, dtype=torch.float64)[:, None]
    return Camera(base.K, base.R, base.t, dist, torch.tensor([1000.0, 1000.0]), base.names, distortion_model=model)


@pytest.mark.parametrize("model", ["opencv", "h36m"])
def test_points_recovered_through_distortion(model):
    rig = distorted_rig(model)
    X = random_points(6, 17, seed=4)  # (B, J, 3) mm
    uv = rig.project(X[:, None])  # (B, C, J, 2) distorted pixels, rig (C,) broadcast over samples
    assert (uv - rig.project(X[:, None], distort=False)).norm(dim=-1).max() > 2  # the lens moves points by pixels
    Xh = triangulate_cameras(uv, rig)
    assert Xh.shape == X.shape and (Xh - X).norm(dim=-1).max() < 1e-6
    assert reprojection_error_cameras(Xh, uv, rig).max() < 1e-6
    # ignoring the lens (pixels straight into the DLT) is what this function exists to prevent
    naive = triangulate(uv, rig.projection.expand(6, 4, 3, 4))
    assert (naive - X).norm(dim=-1).mean() > 1.0
    # per-sample cameras (B, C) give the same answer
    torch.testing.assert_close(triangulate_cameras(uv, rig.expand(6, 4)), Xh, atol=1e-9, rtol=0)


def test_weights_missing_detections_and_robust_variants():
    rig = distorted_rig("h36m", 5)
    X = random_points(3, 17, seed=5)
    uv = rig.project(X[:, None]).clone()
    w = torch.ones(3, 5, 17, dtype=torch.float64)
    uv[0, 1, 4] = float("nan")  # a missing detection, weight 0
    w[0, 1, 4] = 0.0
    assert (triangulate_cameras(uv, rig, w) - X).norm(dim=-1).max() < 1e-6
    assert torch.isnan(undistort_views(uv, rig)[0, 1, 4]).all()
    # one view wrong by 80 px for every joint: RANSAC and the exhaustive search ignore it
    bad = uv.clone()
    bad[:, 2, :, 0] += 80.0
    valid = w > 0
    Xr, inliers = triangulate_cameras_ransac(bad, rig, valid)
    Xs, used = triangulate_cameras_best_subset(bad, rig, valid)
    assert (Xr - X).norm(dim=-1).max() < 1e-6 and (Xs - X).norm(dim=-1).max() < 1e-6
    assert not inliers[:, 2].any() and not used[:, 2].any()
    assert (triangulate_cameras(bad, rig, w) - X).norm(dim=-1).mean() > 10


def test_gradients_flow_through_the_undistortion():
    rig = distorted_rig("opencv", 3)
    X = random_points(1, 2, seed=6)
    uv = rig.project(X[:, None]).detach().requires_grad_(True)
    w = (
        torch.rand(1, 3, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
        .add(0.5)
        .requires_grad_(True)
    )
    assert gradcheck(lambda p, q: triangulate_cameras(p, rig, q), (uv, w), eps=1e-6, atol=1e-5)


def test_errors_name_the_problem():
    rig = distorted_rig("opencv", 3)
    X = random_points(2, 4)
    uv = rig.project(X[:, None])
    with pytest.raises(TriangulationError, match=r"batch shape \(\.\.\., 4\)"):
        triangulate_cameras(torch.zeros(2, 4, 4, 2, dtype=torch.float64), rig)
    with pytest.raises(TypeError, match="Camera"):
        triangulate_cameras(uv, rig.projection)
    # x (1 - 0.28 r^2) peaks at r = 1.09: a lens without k2 folds back, and pixels far beyond have no ray
    rig = Camera(rig.K, rig.R, rig.t, torch.tensor([-0.28, 0.0, 0.0, 0.0, 0.0], dtype=torch.float64))
    far = rig.project(X[:, None])
    far[1, 0, 2] = torch.tensor([-9000.0, -9000.0])
    with pytest.raises(TriangulationError, match=r"\[1, 0, 2\].*no inverse"):
        triangulate_cameras(far, rig)
    w = torch.ones(2, 3, 4, dtype=torch.float64)
    w[1, 0, 2] = 0.0
    assert torch.isfinite(triangulate_cameras(far, rig, w)).all()
