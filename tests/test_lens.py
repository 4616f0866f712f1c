"""Lens models: Human3.6M's distortion against an independent implementation of its formula, exact undistortion
for both models, gradients, and the model travelling with every camera operation."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest
import torch
from conftest import random_points, ring_rig
from h36m_fixtures import H36M_S1_CAM1
from torch.autograd import gradcheck

from lt_core.camera import Camera, CameraError, stack_cameras
from lt_core.data.calibration import (
    h36m_camera_from_raw,
    load_rig_json,
    save_panoptic_calibration,
    save_rig_json,
    save_toml_calibration,
)
from lt_core.data.sample import collate_samples
from lt_core.lens import distort_normalized, undistort_fixed_point, undistort_normalized
from lt_core.ops.unprojection import project_grid


def h36m_reference_project(X: np.ndarray, R, T, f, c, k, p) -> np.ndarray:
    """Human3.6M's own projection, written from its formula: X_cam = R (X - T); radial 1 + k1 r^2 + k2 r^4 + k3 r^6;
    a tangential factor p1 y + p2 x multiplies (x, y) with the radial one, and (p2, p1) r^2 is added."""
    R, T, f, c, k, p = (np.asarray(a, dtype=float) for a in (R, T, f, c, k, p))
    Xc = (X - T) @ R.T
    x, y = Xc[:, 0] / Xc[:, 2], Xc[:, 1] / Xc[:, 2]
    r2 = x * x + y * y
    factor = 1 + k[0] * r2 + k[1] * r2**2 + k[2] * r2**3 + p[0] * y + p[1] * x
    xd, yd = x * factor + p[1] * r2, y * factor + p[0] * r2
    return np.stack([f[0] * xd + c[0], f[1] * yd + c[1]], -1)


def videopose3d_reference_project(Xc: np.ndarray, f, c, k, tangential) -> np.ndarray:
    """VideoPose3D's form of the same model (camera-frame points; ``tangential`` in its (p2, p1) order)."""
    f, c, k, q = (np.asarray(a, dtype=float) for a in (f, c, k, tangential))
    xy = Xc[:, :2] / Xc[:, 2:]
    r2 = (xy**2).sum(1, keepdims=True)
    radial = 1 + k[0] * r2 + k[1] * r2**2 + k[2] * r2**3
    return f * (xy * (radial + (q * xy).sum(1, keepdims=True)) + q * r2) + c


def _h36m_cam() -> Camera:
    m = H36M_S1_CAM1
    return h36m_camera_from_raw(np.asarray(m["R"]).T, m["T"], m["f"], m["c"], m["k"], m["p"], name="54138969")


def _points_over_image(cam: Camera, n: int = 30, depth: float = 4500.0) -> torch.Tensor:
    """World points whose projections cover the whole image (corners included)."""
    u, v = np.meshgrid(np.linspace(0, 999, n), np.linspace(0, 1001, n))
    uv = torch.tensor(np.stack([u.ravel(), v.ravel()], -1))
    xy = cam.undistort_normalized(cam._pixels_to_normalized(uv))
    return cam.camera_to_world(torch.cat([xy * depth, torch.full((xy.shape[0], 1), depth, dtype=xy.dtype)], -1))


def test_h36m_model_matches_the_reference_formula_and_opencv_does_not():
    cam = _h36m_cam()
    assert cam.distortion_model == "h36m"
    X = _points_over_image(cam)
    m = H36M_S1_CAM1
    ref = h36m_reference_project(X.numpy(), m["R"], m["T"], m["f"], m["c"], m["k"], m["p"])
    np.testing.assert_allclose(cam.project(X).numpy(), ref, atol=1e-9)
    # VideoPose3D's ordering of the two tangential numbers describes the same lens
    vp3d = videopose3d_reference_project(cam.world_to_camera(X).numpy(), m["f"], m["c"], m["k"], m["p"][::-1])
    np.testing.assert_allclose(cam.project(X).numpy(), vp3d, atol=1e-9)
    # reading p as OpenCV's p1, p2 is off by a fraction of a pixel towards the corners
    as_opencv = dataclasses.replace(cam, distortion_model="opencv").project(X)
    gap = (as_opencv - cam.project(X)).norm(dim=-1)
    assert gap.max() > 0.3 and gap.min() < 0.01


@pytest.mark.parametrize("model", ["opencv", "h36m"])
def test_undistortion_is_exact_and_both_backends_agree(model):
    g = torch.Generator().manual_seed(0)
    xy = (torch.rand(3, 400, 2, generator=g, dtype=torch.float64) - 0.5) * 1.2
    dist = torch.tensor(
        [[-0.28, 0.09, 0.002, -0.001, 0.0], [-0.2, 0.24, -0.0014, -0.001, -0.003], [0.05, -0.01, 0.0, 0.003, 0.001]],
        dtype=torch.float64,
    )
    xd = distort_normalized(xy, dist, model)
    for backend in ("numba", "torch"):
        und = undistort_normalized(xd, dist, model, backend=backend)
        assert (und - xy).abs().max() < 1e-13, backend
    # OpenCV's fixed-point iteration is slower to converge on the strong lens (kept for comparison)
    fp = undistort_fixed_point(xd, dist, model, iterations=5)
    assert (fp - xy).abs().max() > 1e-6
    assert (undistort_fixed_point(xd, dist, model, iterations=200) - xy).abs().max() < 1e-12


def test_undistortion_returns_nan_where_the_lens_has_no_inverse():
    dist = torch.tensor([-0.5, 0.0, 0.0, 0.0, 0.0], dtype=torch.float64)  # x (1 - 0.5 r^2) peaks at r = 0.816
    peak = 0.816496580927726 * (1 - 0.5 * 0.816496580927726**2)
    xd = torch.tensor([[0.3, 0.0], [peak * 1.05, 0.0], [float("nan"), 0.1]], dtype=torch.float64)
    for backend in ("numba", "torch"):
        und = undistort_normalized(xd, dist, backend=backend)
        assert torch.isfinite(und[0]).all() and torch.isnan(und[1:]).all(), backend


@pytest.mark.parametrize("model", ["opencv", "h36m"])
def test_undistortion_gradients_are_the_implicit_ones(model):
    g = torch.Generator().manual_seed(1)
    xd = ((torch.rand(2, 3, 2, generator=g, dtype=torch.float64) - 0.5) * 0.8).requires_grad_(True)
    dist = torch.tensor(
        [[-0.2, 0.1, 0.002, -0.001, 0.01], [0.03, -0.02, -0.001, 0.002, 0.0]], dtype=torch.float64, requires_grad=True
    )
    assert gradcheck(lambda a, d: undistort_normalized(a, d, model), (xd, dist), eps=1e-6, atol=1e-7)
    # distort(undistort(x)) = x, so the chain has the identity as Jacobian
    out = distort_normalized(undistort_normalized(xd, dist, model), dist, model)
    grad = torch.autograd.grad(out.sum(), xd)[0]
    torch.testing.assert_close(grad, torch.ones_like(grad))


def test_camera_carries_the_model_through_every_operation(tmp_path):
    base = ring_rig(3)
    dist = torch.tensor([-0.2, 0.24, -0.0014, -0.001, -0.003], dtype=torch.float64).expand(3, 5)
    rig = Camera(base.K, base.R, base.t, dist, torch.tensor([1000.0, 1000.0]), ["a", "b", "c"], distortion_model="h36m")
    X = random_points(1, 8)[0]
    opencv = dataclasses.replace(rig, distortion_model="opencv")
    assert (rig.project(X) - opencv.project(X)).abs().max() > 1e-3  # the model matters for these cameras
    variants = {
        "to": rig.to(torch.float32).to(torch.float64),
        "index": rig[[0, 1, 2]],
        "expand": rig.expand(2, 3)[1],
        "crop": rig.crop(10, 20).crop(-10, -20),
        "resize": rig.resize(0.5).resize(2.0),
        "stack": stack_cameras([rig[0], rig[1], rig[2]]),
    }
    for name, cam in variants.items():
        assert cam.distortion_model == "h36m", name
        torch.testing.assert_close(cam.project(X), rig.project(X), atol=1e-3 if name == "to" else 1e-9, rtol=0)
    assert collate_samples([{"cameras": rig}, {"cameras": rig}])["cameras"].distortion_model == "h36m"
    uv, _ = project_grid(rig.expand(1, 3), X[None])  # the volumetric model's projection
    torch.testing.assert_close(uv[0], rig.project(X), atol=1e-9, rtol=0)
    torch.testing.assert_close(rig.undistort_points(rig.project(X)), rig.project(X, distort=False), atol=1e-9, rtol=0)
    with pytest.raises(CameraError, match="different distortion models"):
        stack_cameras([rig[0], opencv[1]])
    with pytest.raises(CameraError, match="distortion_model"):
        Camera(base.K, base.R, base.t, distortion_model="fisheye")
    # files: our rig JSON keeps the model; OpenCV-only formats refuse rather than write a wrong lens
    back = load_rig_json(save_rig_json(tmp_path / "rig.json", rig))
    assert back.distortion_model == "h36m"
    torch.testing.assert_close(back.project(X), rig.project(X))
    for save in (save_panoptic_calibration, save_toml_calibration):
        with pytest.raises(ValueError, match="h36m"):
            save(tmp_path / "out", rig)


def test_renderer_rays_use_the_model():
    from lt_core.render.renderer import _flat_cameras, _normalized_rays

    base = ring_rig(2)
    rig = Camera(
        base.K,
        base.R,
        base.t,
        torch.tensor([-0.2, 0.2, 0.004, -0.003, 0.0], dtype=torch.float64),
        distortion_model="h36m",
    )
    flat = _flat_cameras(rig, 2)
    assert flat.distortion_model == "h36m"
    u = torch.tensor([10.0, 500.0, 990.0])
    rays = _normalized_rays(flat, u, u).double()  # (2, 3, 3, 2) undistorted normalised coordinates of the pixels
    back = rig[0].distort_normalized(rays[0].reshape(1, 9, 2))[0]
    pix = torch.stack(torch.meshgrid(u, u, indexing="xy"), -1).reshape(9, 2).double()
    torch.testing.assert_close(rig[0]._normalized_to_pixels(back), pix, atol=1e-3, rtol=0)
    assert math.isfinite(float(rays.sum()))
