"""The capsule renderer: exact intersections, culling, occlusion, determinism, crops, distortion."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from lt_core.camera import Camera, stack_cameras
from lt_core.data.rigs import human36m_like_rig
from lt_core.render import (
    CAPSULE_NAMES,
    FLOOR,
    OUTSIDE,
    BodyStyle,
    SceneStyle,
    crop_region,
    crop_to_person,
    person_boxes,
    render,
)
from lt_core.render.raycast import capsule_bounds, capsule_params, hit_capsules, nearest_hits_loop, nearest_hits_tiled

pytestmark = pytest.mark.usefixtures("one_thread")


# a T-pose facing -y (its right side at -x), feet on the floor
T_POSE = torch.tensor(
    [
        [-100, 0, 90],
        [-100, 0, 500],
        [-100, 0, 920],
        [100, 0, 920],
        [100, 0, 500],
        [100, 0, 90],
        [0, 0, 920],
        [0, 0, 1150],
        [0, 0, 1400],
        [0, 0, 1720],
        [-750, 0, 1400],
        [-480, 0, 1400],
        [-180, 0, 1400],
        [180, 0, 1400],
        [480, 0, 1400],
        [750, 0, 1400],
        [0, 0, 1560],
    ],
    dtype=torch.float32,
)


def _cam(eye, target=(0.0, 0.0, 900.0), size=(200, 200), focal=300.0) -> Camera:
    return Camera.look_at(eye, target, focal=focal, image_size=size)


def _poses(n: int = 6) -> torch.Tensor:
    """A few varied poses: the T-pose turned and with the arms swung."""
    out = []
    for i in range(n):
        j = T_POSE.clone()
        a = 0.7 * i
        j[10:12, 1] -= 250.0 * math.sin(a)  # right forearm swings forwards/backwards
        j[14:16, 2] -= 300.0 * (i % 2)
        c, s = math.cos(a), math.sin(a)
        rot = torch.tensor([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])
        out.append(j @ rot.T + torch.tensor([100.0 * i, -50.0 * i, 0.0]))
    return torch.stack(out)


def test_ray_capsule_depth_is_exact():
    # capsule along x at depth 1000 mm, radius 50: the central ray hits at 950, a ray 30 mm off axis at
    # 1000 - sqrt(50^2 - 30^2) = 960; beyond the end caps the ray meets the end sphere
    a = torch.tensor([[[-200.0, 0.0, 1000.0]]])
    b = torch.tensor([[[200.0, 0.0, 1000.0]]])
    p = capsule_params(a, b, torch.tensor([[50.0]]))
    x = torch.tensor([0.0, 0.0, 0.22, 0.5])
    y = torch.tensor([0.0, 0.03, 0.0, 0.0])
    t = hit_capsules(x, y, 1 + x * x + y * y, p[0, 0])
    assert t[0].item() == pytest.approx(950.0, abs=1e-3)
    # ray (0, 0.03, 1): distance from the axis sqrt((0.03 s)^2 + (s - 1000)^2) = 50
    qa, qb, qc = 1 + 0.03**2, -2000.0, 1000.0**2 - 50.0**2
    assert t[1].item() == pytest.approx((-qb - math.sqrt(qb * qb - 4 * qa * qc)) / (2 * qa), rel=1e-5)
    # x = 0.22: point (220, 0, 1000) is 20 mm beyond the end at x = 200, inside the end sphere's reach
    d = torch.tensor([0.22, 0.0, 1.0])
    # sphere at B: |s d - B|^2 = r^2
    B = torch.tensor([200.0, 0.0, 1000.0])
    qa, qb, qc = d @ d, -2 * d @ B, B @ B - 50.0**2
    s = (-qb - torch.sqrt(qb * qb - 4 * qa * qc)) / (2 * qa)
    assert t[2].item() == pytest.approx(s.item(), rel=1e-5)
    assert math.isinf(t[3].item())


def test_tiled_culling_matches_loop_reference():
    g = torch.Generator().manual_seed(0)
    N, K = 3, 12
    a = torch.randn(N, K, 3, generator=g, dtype=torch.float64) * 300 + torch.tensor(
        [0.0, 0.0, 2500.0], dtype=torch.float64
    )
    b = a + torch.randn(N, K, 3, generator=g, dtype=torch.float64) * 200
    b[:, 0] = a[:, 0]  # a sphere
    r = torch.rand(N, K, generator=g, dtype=torch.float64) * 80 + 20
    p = capsule_params(a, b, r)
    bounds = capsule_bounds(a, b, r).float()
    u = torch.linspace(-0.4, 0.4, 61)
    xy = torch.stack(torch.meshgrid(u, u * 0.9, indexing="xy"), -1)[None].expand(N, -1, -1, -1).contiguous()
    d1, k1 = nearest_hits_tiled(xy, p, bounds, tile=8)
    d2, k2 = nearest_hits_loop(xy, p)
    assert torch.equal(k1, k2)
    assert torch.equal(torch.isinf(d1), torch.isinf(d2))
    fin = torch.isfinite(d1)
    assert fin.float().mean() > 0.05
    assert torch.allclose(d1[fin], d2[fin])


def test_render_culling_equals_per_capsule_loop():
    cams = stack_cameras(
        [_cam((0, -4000, 1500), size=(80, 80), focal=120.0), _cam((3000, 2500, 2200), size=(80, 80), focal=120.0)]
    )
    body, scene = BodyStyle.from_seed(3), SceneStyle.from_seed(4)
    a = render(_poses(2), cams, body, scene, return_parts=True, num_threads=1)
    b = render(_poses(2), cams, body, scene, return_parts=True, culling=False, num_threads=1)
    assert torch.equal(a.parts, b.parts)
    assert torch.allclose(a.images, b.images, atol=1e-6)


def test_same_seed_same_images_and_different_seed_differs():
    cams = human36m_like_rig().resize(0.1)
    j = _poses(2)
    outs = [
        render(j, cams, BodyStyle.from_seed(s), SceneStyle.from_seed(s + 1), noise_seed=s).images for s in (5, 5, 6)
    ]
    assert outs[0].shape == (2, 4, 3, 100, 100)
    assert torch.equal(outs[0], outs[1])
    assert not torch.equal(outs[0], outs[2])
    assert float(outs[0].min()) >= 0.0 and float(outs[0].max()) <= 1.0


@pytest.mark.parametrize("distortion", [False, True])
def test_projected_visible_joints_land_on_the_body(distortion):
    rig = human36m_like_rig(distortion=distortion)
    joints = _poses(6)
    body = BodyStyle.from_seed(11)
    cams, _ = crop_to_person(joints, rig, 96, body)
    out = render(joints, cams, body, SceneStyle.from_seed(12), return_parts=True)
    uv = out.joints_2d.round().long().clamp(0, 95)
    parts = torch.gather(out.parts.flatten(-2), -1, uv[..., 1] * 96 + uv[..., 0])  # (F, C, 17)
    vis = out.joints_visible
    assert vis.float().mean() > 0.7
    assert (parts[vis] >= 0).float().mean() > 0.97
    # projections with the (distorting) camera agree with the renderer's rays
    assert torch.allclose(out.joints_2d, cams.project(joints[:, None].double()).float(), atol=1e-3)


def test_self_occlusion_nearer_limb_wins():
    j = T_POSE.clone()
    # bring the right arm in front of the chest (towards -y, where the front camera is)
    j[11] = torch.tensor([-150.0, -300.0, 1300.0])
    j[10] = torch.tensor([100.0, -330.0, 1250.0])
    front = _cam((0.0, -3000.0, 1250.0), target=(0.0, 0.0, 1250.0))
    back = _cam((0.0, 3000.0, 1250.0), target=(0.0, 0.0, 1250.0))
    out = render(
        j, stack_cameras([front, back]), BodyStyle.default(), SceneStyle.default(), return_parts=True, return_depth=True
    )
    # the point on the forearm axis halfway along it, seen from both sides
    mid = 0.5 * (j[10] + j[11])
    uv = stack_cameras([front, back]).project(mid.double().expand(2, 1, 3))[:, 0].round().long()
    p_front = out.parts[0, uv[0, 1], uv[0, 0]].item()
    p_back = out.parts[1, uv[1, 1], uv[1, 0]].item()
    assert CAPSULE_NAMES[p_front] == "r_forearm"
    assert CAPSULE_NAMES[p_back] in ("spine", "r_flank", "l_flank", "shoulders")
    # the front view shows the forearm's warm colour, the back view the grey torso
    rgb_f = out.images[0, :, uv[0, 1], uv[0, 0]]
    rgb_b = out.images[1, :, uv[1, 1], uv[1, 0]]
    assert rgb_f[0] - rgb_f[2] > 0.2
    assert abs(rgb_b[0] - rgb_b[2]) < 0.15
    # the depth there is the nearer surface: the forearm is ~300 mm in front of the chest
    assert out.depth[0, uv[0, 1], uv[0, 0]] < out.depth[1, uv[1, 1], uv[1, 0]] - 150
    # and the wrist is visible from the front, hidden from the back
    assert bool(out.joints_visible[0, 10]) and not bool(out.joints_visible[1, 10])


def test_left_right_colour_families():
    body = BodyStyle.from_seed(21)
    for name, rgb in zip(CAPSULE_NAMES, body.colors):
        if name.startswith("r_"):
            assert rgb[0] >= rgb[2], name  # warm: more red than blue
        elif name.startswith("l_"):
            assert rgb[2] + rgb[1] > 2 * rgb[0] * 0.9, name  # cool: green/blue dominate


def test_floor_and_background():
    cam = _cam((0.0, -4000.0, 1500.0), size=(120, 90), focal=150.0)
    out = render(T_POSE, cam.expand(1), image_size=(120, 90), return_parts=True)
    parts = out.parts[0]
    assert (parts[-1] == FLOOR).all()  # bottom row: floor
    assert (parts[0] < 0).all() and (parts[0] != FLOOR).all()  # top row: background above the horizon


def test_crop_render_matches_cropped_full_render():
    rig = human36m_like_rig()[[0, 2]].resize(0.25)  # 250 x 250 full frames
    j = _poses(1)[0]
    body, scene = BodyStyle.from_seed(1), SceneStyle.default()
    full = render(j, rig, body, scene, return_parts=True)
    box = torch.tensor([[80.0, 40.0, 144.0, 104.0], [100.0, 30.0, 164.0, 94.0]], dtype=torch.float64)
    crop = rig.crop_and_resize(box, (32, 32))
    # the 2x finer crop camera has exactly the full frame's pixel grid: identical part labels
    fine = render(j, crop.resize(2.0), body, scene, (64, 64), return_parts=True)
    for c in range(2):
        l, t = int(box[c, 0]), int(box[c, 1])
        ref = full.parts[c, t : t + 64, l : l + 64]
        assert (fine.parts[c] == ref).float().mean() > 0.995
        img_ref = F.avg_pool2d(full.images[c, :, t : t + 64, l : l + 64][None], 2)[0]
        sup = render(j, crop[c : c + 1], body, scene, (32, 32), supersample=2).images[0]
        assert (sup - img_ref).abs().mean() < 0.01
    # joints project where the crop shows them: u_crop = (u - left + 0.5) * s - 0.5
    uv_c = render(j, crop, body, scene, (32, 32)).joints_2d
    expect = (full.joints_2d - box[:, None, :2].float() + 0.5) * 0.5 - 0.5
    assert torch.allclose(uv_c, expect, atol=1e-3)


def test_person_box_holds_the_whole_body_and_outside_is_black():
    rig = human36m_like_rig()
    j = _poses(3)
    body = BodyStyle.from_seed(2)
    boxes = person_boxes(j, rig, body)
    assert torch.allclose(boxes[..., 2] - boxes[..., 0], boxes[..., 3] - boxes[..., 1])  # square
    cams, boxes = crop_to_person(j, rig, 64, body)
    out = render(j, cams, body, SceneStyle.from_seed(3), return_parts=True)
    border = torch.cat([out.parts[..., 0, :], out.parts[..., -1, :], out.parts[..., :, 0], out.parts[..., :, -1]], -1)
    assert (border >= 0).float().mean() < 0.01  # the silhouette is not cut by the crop
    # a box that leaves the image: the part outside is black and labelled OUTSIDE
    box = torch.tensor([[-100.0, 300.0, 400.0, 800.0]], dtype=torch.float64).expand(4, 4)
    cam = rig.crop_and_resize(box, (50, 50))
    region = crop_region(box, rig.image_size, (50, 50))
    out = render(j[0], cam, body, SceneStyle.from_seed(3), valid_region=region, return_parts=True)
    assert (out.parts[:, :, :10] == OUTSIDE).all() and (out.images[:, :, :, :10] == 0).all()
    assert (out.parts[:, :, 11:] != OUTSIDE).all()
