"""Epipolar geometry with distortion: rays, curves, the fundamental matrix (lt_core.ops.epipolar)."""

from __future__ import annotations

import torch
from conftest import ring_rig

from lt_core.camera import Camera
from lt_core.ops.epipolar import distance_to_polyline, epipolar_curve, fundamental_matrix, viewing_ray


def _distorted_rig() -> Camera:
    rig = ring_rig(3)
    dist = torch.tensor([-0.25, 0.08, 0.001, -0.002, 0.0], dtype=torch.float64).expand(3, 5).clone()
    return Camera(rig.K, rig.R, rig.t, dist, torch.tensor([1000.0, 1000.0], dtype=torch.float64).expand(3, 2), None)


def test_viewing_ray_passes_through_the_point():
    rig = _distorted_rig()
    X = torch.tensor([[150.0, -80.0, 1100.0], [-300.0, 200.0, 600.0]], dtype=torch.float64)
    uv = rig[0].project(X)
    origin, d = viewing_ray(rig[0], uv)
    s = ((X - origin) * d).sum(-1, keepdim=True)
    assert torch.allclose(origin + s * d, X, atol=1e-6)  # mm
    assert torch.allclose(d.norm(dim=-1), torch.ones(2, dtype=torch.float64))


def test_epipolar_curve_goes_through_the_other_view_and_bends_with_distortion():
    rig = _distorted_rig()
    X = torch.tensor([[120.0, 60.0, 1300.0]], dtype=torch.float64)
    uv_a, uv_b = rig[0].project(X)[0], rig[1].project(X)
    curve = epipolar_curve(rig[0], uv_a, rig[1], samples=4000)
    assert len(curve) > 100
    assert float(distance_to_polyline(uv_b, curve)[0]) < 0.05  # px
    off = uv_b + torch.tensor([[0.0, 25.0]], dtype=torch.float64)
    assert 5.0 < float(distance_to_polyline(off, curve)[0]) <= 25.0
    # with distortion the curve is not a straight line: its chord deviates by more than a pixel somewhere
    a, b = curve[0], curve[-1]
    n = torch.stack([-(b - a)[1], (b - a)[0]]) / (b - a).norm()
    assert float(((curve - a) @ n).abs().max()) > 1.0


def test_fundamental_matrix_on_undistorted_pixels():
    rig = _distorted_rig()
    X = torch.randn(20, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(0)) * 300
    X[:, 2] += 900
    xa = rig[0].undistort_points(rig[0].project(X))
    xb = rig[2].undistort_points(rig[2].project(X))
    F = fundamental_matrix(rig[0], rig[2])
    ha = torch.cat([xa, torch.ones(20, 1, dtype=torch.float64)], -1)
    hb = torch.cat([xb, torch.ones(20, 1, dtype=torch.float64)], -1)
    lines = ha @ F.T  # (20, 3): l_b = F x_a
    dist = (hb * lines).sum(-1).abs() / lines[:, :2].norm(dim=-1)
    assert float(dist.max()) < 1e-6  # px
    assert torch.linalg.matrix_rank(F) == 2
