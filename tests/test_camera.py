import math

import pytest
import torch
from conftest import random_points, ring_rig
from torch.autograd import gradcheck

from lt_core.camera import Camera, CameraError, stack_cameras
from lt_core.rotation import matrix_to_rodrigues, rodrigues_to_matrix, rotation_about_axis


def test_rodrigues_round_trip_and_identity():
    g = torch.Generator().manual_seed(1)
    r = torch.randn(50, 3, generator=g, dtype=torch.float64)
    r = r / r.norm(dim=-1, keepdim=True) * torch.rand(50, 1, generator=g, dtype=torch.float64) * 3.0
    R = rodrigues_to_matrix(r)
    assert torch.allclose(R @ R.transpose(-1, -2), torch.eye(3, dtype=torch.float64).expand(50, 3, 3), atol=1e-12)
    assert torch.allclose(matrix_to_rodrigues(R), r, atol=1e-9)
    assert torch.allclose(rodrigues_to_matrix(torch.zeros(3, dtype=torch.float64)), torch.eye(3, dtype=torch.float64))
    Rz = rotation_about_axis(torch.tensor(math.pi / 2, dtype=torch.float64), "z")
    assert torch.allclose(
        Rz @ torch.tensor([1.0, 0, 0], dtype=torch.float64), torch.tensor([0.0, 1, 0], dtype=torch.float64), atol=1e-12
    )


def test_look_at_projects_target_to_principal_point():
    cam = Camera.look_at([4000.0, -3000.0, 1500.0], [0.0, 0.0, 900.0], focal=1145.0, image_size=(1000, 1000))
    uv = cam.project(torch.tensor([[0.0, 0.0, 900.0]], dtype=torch.float64))
    assert torch.allclose(uv, torch.tensor([[499.5, 499.5]], dtype=torch.float64), atol=1e-9)
    # up in the world is up in the image (smaller v)
    above = cam.project(torch.tensor([[0.0, 0.0, 1400.0]], dtype=torch.float64))
    assert above[0, 1] < 499.5
    cam.validate()


def test_world_camera_round_trip_and_centre(rig4):
    X = random_points(1, 30)[0]
    Xc = rig4.world_to_camera(X)
    assert Xc.shape == (4, 30, 3)
    assert torch.allclose(rig4.camera_to_world(Xc), X.expand(4, 30, 3), atol=1e-9)
    C = rig4.center
    assert torch.allclose(rig4.world_to_camera(C[:, None, :])[:, 0], torch.zeros(4, 3, dtype=torch.float64), atol=1e-9)


def test_projection_matrix_matches_project(rig4):
    X = random_points(1, 20)[0]
    uv = rig4.project(X)
    Xh = torch.cat([X, torch.ones(20, 1, dtype=X.dtype)], -1)
    x = Xh @ rig4.projection.transpose(-1, -2)
    assert torch.allclose(x[..., :2] / x[..., 2:], uv, atol=1e-9)


def test_distortion_undistort_inverts():
    cam = Camera.look_at([3000.0, 0, 1000.0], [0, 0, 900.0], image_size=(1000, 1000))
    cam = Camera(cam.K, cam.R, cam.t, dist=torch.tensor([-0.2, 0.05, 1e-3, -5e-4, 0.01]), image_size=cam.image_size)
    X = random_points(1, 50, seed=3)[0] * 0.5
    ideal = cam.project(X, distort=False)
    dist = cam.project(X, distort=True)
    assert (ideal - dist).norm(dim=-1).max() > 1.0  # distortion does something
    assert torch.allclose(cam.undistort_points(dist), ideal, atol=1e-6)
    assert torch.allclose(cam.distort_points(ideal), dist, atol=1e-9)


def test_crop_and_resize_follow_pixel_centre_convention():
    cam = Camera.look_at([3000.0, 1000.0, 1500.0], [0, 0, 900.0], image_size=(1000, 1000))
    X = random_points(1, 10, seed=2)[0] * 0.3
    uv = cam.project(X)
    cropped = cam.crop(100, 50)
    assert torch.allclose(cropped.project(X), uv - torch.tensor([100.0, 50.0], dtype=torch.float64), atol=1e-9)
    # resizing by 1/4: pixel centre 0 -> -0.375, centre 3.5 (between 4 px) -> 0.5, etc.
    small = cam.resize(0.25)
    assert torch.allclose(small.project(X), (uv + 0.5) * 0.25 - 0.5, atol=1e-9)
    assert torch.allclose(small.image_size, torch.tensor([250.0, 250.0], dtype=torch.float64))
    box = torch.tensor([200.0, 100.0, 600.0, 500.0], dtype=torch.float64)
    cr = cam.crop_and_resize(box, (128, 128))
    expect = (uv - box[:2] + 0.5) * (128 / 400) - 0.5
    assert torch.allclose(cr.project(X), expect, atol=1e-9)


def test_batched_cameras_broadcast_and_index():
    rig = ring_rig(3)
    B = 5
    batched = rig.expand(B, 3)
    X = random_points(B, 7)
    uv = batched.project(X[:, None])
    assert uv.shape == (B, 3, 7, 2)
    assert torch.allclose(uv[2, 1], rig[1].project(X[2]), atol=1e-9)
    assert batched[0].batch_shape == (3,)
    assert len(rig) == 3
    st = stack_cameras([rig[0], rig[2]])
    assert torch.allclose(st.K[1], rig.K[2])


def test_project_gradcheck():
    rig = ring_rig(2)
    X = random_points(1, 3)[0].requires_grad_(True)
    K = rig.K.clone().requires_grad_(True)
    dist = torch.tensor([[-0.1, 0.01, 1e-3, 1e-3, 0.0]] * 2, dtype=torch.float64, requires_grad=True)

    def f(X, K, dist):
        return Camera(K, rig.R, rig.t, dist).project(X)

    assert gradcheck(f, (X, K, dist))


def test_bad_cameras_raise_clear_errors():
    K = torch.eye(3, dtype=torch.float64)
    with pytest.raises(CameraError, match="K must have shape"):
        Camera(torch.eye(4), torch.eye(3), torch.zeros(3))
    with pytest.raises(CameraError, match="t must have shape"):
        Camera(K, torch.eye(3, dtype=torch.float64), torch.zeros(4))
    with pytest.raises(CameraError, match="NaN"):
        Camera(K, torch.eye(3, dtype=torch.float64), torch.tensor([0.0, float("nan"), 0.0]))
    with pytest.raises(CameraError, match="not a rotation"):
        Camera(K, torch.eye(3, dtype=torch.float64) * 2, torch.zeros(3)).validate()
    with pytest.raises(CameraError, match="focal"):
        Camera(
            torch.diag(torch.tensor([-1.0, 1.0, 1.0], dtype=torch.float64)),
            torch.eye(3, dtype=torch.float64),
            torch.zeros(3),
        ).validate()
    with pytest.raises(CameraError, match="coincide"):
        Camera.look_at([0, 0, 0], [0, 0, 0])
    with pytest.raises(ValueError, match=r"\(\.\.\., N, 3\)"):
        Camera(K, torch.eye(3, dtype=torch.float64), torch.zeros(3)).project(torch.zeros(5, 2, dtype=torch.float64))
