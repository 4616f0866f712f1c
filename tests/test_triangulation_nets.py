"""Tests of the assembled models: algebraic, RANSAC baseline and volumetric triangulation networks."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from lt_core.camera import Camera, stack_cameras
from lt_core.losses import model_loss
from lt_core.models import (
    AlgebraicTriangulationNet,
    BackboneConfig,
    BackboneOutput,
    RANSACTriangulationNet,
    V2VConfig,
    VolumetricTriangulationNet,
)
from lt_core.models.official import (
    OFFICIAL_MODEL_NAMES,
    OfficialCheckpointError,
    load_official_state_dict,
    official_shapes,
    synthetic_official_state_dict,
)
from lt_core.ops.triangulation import project_points

ALG, VOL = OFFICIAL_MODEL_NAMES
ROOT = torch.tensor([0.0, 0.0, 900.0])


def make_rig(B: int, C: int, size: int) -> Camera:
    """(B, C) cameras on a ring, each the crop of a 1000 px camera around the person resized to ``size``."""
    rigs = []
    box = torch.tensor([200.0, 200.0, 800.0, 800.0])
    for b in range(B):
        cams = []
        for c in range(C):
            a = 2 * math.pi * c / C + 0.4 * b
            cam = Camera.look_at(
                (3500 * math.cos(a), 3500 * math.sin(a), 1300.0),
                (0.0, 0.0, 900.0),
                focal=1000.0,
                image_size=(1000, 1000),
            )
            cams.append(cam.crop_and_resize(box, (size, size)))
        rigs.append(stack_cameras(cams))
    return stack_cameras(rigs)


def random_joints(B: int, J: int = 17, seed: int = 0) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    return ROOT + 250.0 * (torch.rand(B, J, 3, generator=gen) * 2 - 1)


class StubBackbone(nn.Module):
    """Returns Gaussian heatmaps (and features) at given pixel positions, like a perfect detector.

    With ``log_beta`` set, the maps are ``log(Gaussian) / log_beta``: a soft-argmax with inverse temperature
    ``log_beta`` then sees exactly a Gaussian of width ``sigma`` (an unbiased sub-pixel estimate).
    """

    def __init__(
        self, uv: torch.Tensor, hm_size: int, sigma: float = 1.0, alg: bool = False, log_beta: float | None = None
    ) -> None:
        super().__init__()
        self.uv = uv  # (N, J, 2) heatmap pixels
        self.hm_size = hm_size
        self.sigma = sigma
        self.alg = alg
        self.log_beta = log_beta
        self.anchor = nn.Parameter(torch.zeros(()))

    def forward(self, images: torch.Tensor) -> BackboneOutput:
        s = torch.arange(self.hm_size, dtype=torch.float32)
        du = (s[None, None, None, :] - self.uv[..., 0, None, None]) ** 2
        dv = (s[None, None, :, None] - self.uv[..., 1, None, None]) ** 2
        logg = -(du + dv) / (2 * self.sigma**2)
        hm = (logg / self.log_beta if self.log_beta else torch.exp(logg)) + self.anchor
        conf = torch.full(hm.shape[:2], 0.5) if self.alg else None
        return BackboneOutput(hm, hm, conf, None)


# ---------------------------------------------------------------- algebraic


def test_algebraic_shapes_confidences_and_view_checks():
    torch.manual_seed(0)
    B, C = 2, 3
    net = AlgebraicTriangulationNet(BackboneConfig.tiny())
    out = net(torch.rand(B, C, 3, 128, 128), make_rig(B, C, 128))
    assert out["joints_3d"].shape == (B, 17, 3) and out["joints_2d"].shape == (B, C, 17, 2)
    assert out["heatmaps"].shape == (B, C, 17, 32, 32) and out["confidences"].shape == (B, C, 17)
    torch.testing.assert_close(out["confidences"].sum(1), torch.full((B, 17), 1 + C * 1e-5))
    assert torch.isfinite(out["joints_3d"]).all()
    valid = torch.tensor([[True, False, True], [True, True, True]])
    out = net(torch.rand(B, C, 3, 128, 128), make_rig(B, C, 128), views_valid=valid)
    assert (out["confidences"][0, 1] == 0).all() and (out["confidences"][0, 0] > 0).all()
    plain = AlgebraicTriangulationNet(BackboneConfig.tiny(), use_confidences=False)
    assert not hasattr(plain.backbone, "alg_confidences")
    assert torch.equal(plain(torch.rand(1, 2, 3, 64, 64), make_rig(1, 2, 64))["confidences"], torch.ones(1, 2, 17))
    with pytest.raises(ValueError, match="at least 2 views"):
        net(torch.rand(1, 1, 3, 128, 128), make_rig(1, 1, 128))
    with pytest.raises(ValueError, match="batch shape"):
        net(torch.rand(1, 2, 3, 128, 128), make_rig(1, 3, 128))


def test_algebraic_triangulates_perfect_heatmaps_in_heatmap_pixels():
    """With detections exactly at the projections, the pipeline recovers the 3D joints (no *4 hack)."""
    B, C, size = 2, 4, 128
    cams = make_rig(B, C, size)
    joints = random_joints(B)
    hm_cams = cams.resize(32 / size)
    uv_hm = project_points(joints.double(), hm_cams.projection).float()  # (B, C, J, 2)
    net = AlgebraicTriangulationNet(BackboneConfig.tiny())
    net.backbone = StubBackbone(uv_hm.reshape(B * C, 17, 2), 32, sigma=1.5, alg=True, log_beta=net.beta)
    out = net(torch.zeros(B, C, 3, size, size), cams)
    assert (out["joints_3d"] - joints).norm(dim=-1).max() < 5.0  # mm
    uv_img = project_points(joints.double(), cams.projection).float()
    assert (out["joints_2d"] - uv_img).norm(dim=-1).max() < 0.2  # image pixels


def test_ransac_net_recovers_joints_and_rejects_an_outlier_view():
    B, C, size = 1, 4, 128
    cams = make_rig(B, C, size)
    joints = random_joints(B, seed=3)
    uv_hm = project_points(joints.double(), cams.resize(32 / size).projection).float()
    uv_hm[0, 2, 5] = torch.tensor([3.0, 28.0])  # a wrong detection in view 2 for joint 5
    net = RANSACTriangulationNet(BackboneConfig.tiny())
    net.backbone = StubBackbone(uv_hm.reshape(B * C, 17, 2), 32)
    out = net(torch.zeros(B, C, 3, size, size), cams, generator=torch.Generator().manual_seed(0))
    assert (out["joints_3d"] - joints).norm(dim=-1).max() < 5.0
    assert not out["inliers"][0, 2, 5] and out["inliers"][0, :, 0].all()
    assert out["peaks"].shape == (B, C, 17)


def test_algebraic_gradients_reach_backbone_and_confidence_head():
    torch.manual_seed(0)
    B, C = 1, 2
    net = AlgebraicTriangulationNet(BackboneConfig.tiny())
    out = net(torch.rand(B, C, 3, 128, 128), make_rig(B, C, 128))
    model_loss("algebraic", out, {"joints_3d": random_joints(B)})["loss"].backward()
    for p in (net.backbone.conv1.weight, net.backbone.alg_confidences.head[-2].weight):
        assert p.grad is not None and torch.isfinite(p.grad).all() and p.grad.abs().sum() > 0


def test_algebraic_overfits_a_tiny_batch():
    torch.manual_seed(0)
    B, C = 1, 2
    images, cams, target = torch.rand(B, C, 3, 128, 128), make_rig(B, C, 128), random_joints(B)
    net = AlgebraicTriangulationNet(BackboneConfig.tiny(num_joints=4))
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    batch = {"joints_3d": target[:, :4], "joints_valid": torch.ones(B, 4, dtype=torch.bool)}
    losses = []
    for _ in range(15):
        loss = model_loss("algebraic", net(images, cams), batch)["loss"]
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert min(losses[-5:]) < 0.5 * losses[0], losses


def test_algebraic_under_autocast():
    torch.manual_seed(0)
    net = AlgebraicTriangulationNet(BackboneConfig.tiny())
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = net(torch.rand(1, 2, 3, 128, 128), make_rig(1, 2, 128))
    assert out["joints_3d"].dtype == torch.float32 and torch.isfinite(out["joints_3d"]).all()


# ---------------------------------------------------------------- volumetric


class Scale(nn.Module):
    def __init__(self, factor: float) -> None:
        super().__init__()
        self.factor = factor

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.factor


def tiny_volumetric(**kw) -> VolumetricTriangulationNet:
    kw.setdefault("volume_size", 16)
    kw.setdefault("cuboid_side", 1000.0)
    return VolumetricTriangulationNet(BackboneConfig.tiny(), V2VConfig.tiny(), **kw)


def test_volumetric_pipeline_geometry_with_perfect_features():
    """Blobs at the joints' projections, unprojected and soft-argmaxed, give back the joints."""
    B, C, size = 1, 4, 128
    cams = make_rig(B, C, size)
    joints = ROOT + (random_joints(B, seed=1) - ROOT) * 0.6
    uv_hm = project_points(joints.double(), cams.resize(32 / size).projection).float()
    net = tiny_volumetric(aggregation="sum", volume_size=32).eval()
    net.backbone = StubBackbone(uv_hm.reshape(B * C, 17, 2), 32, sigma=1.5)
    net.process_features = nn.Identity()
    net.volume_net = Scale(10.0)
    out = net(torch.zeros(B, C, 3, size, size), cams, ROOT.expand(B, 3))
    voxel = 1000.0 / 31
    assert (out["joints_3d"] - joints).norm(dim=-1).max() < voxel
    torch.testing.assert_close(out["volumes"].sum((-3, -2, -1)), torch.ones(B, 17))


@pytest.mark.parametrize("aggregation", ["softmax", "sum", "conf"])
def test_volumetric_shapes_gradients_and_one_view(aggregation):
    torch.manual_seed(0)
    B, C = 2, 3
    net = tiny_volumetric(aggregation=aggregation).train()
    size = 128 if aggregation == "conf" else 64  # the confidence head needs >= 128 px
    cams, images = make_rig(B, C, size), torch.rand(B, C, 3, size, size)
    out = net(images, cams, ROOT.expand(B, 3))
    D = 16
    assert out["joints_3d"].shape == (B, 17, 3) and out["volumes"].shape == (B, 17, D, D, D)
    assert out["grid"].shape == (B, D, D, D, 3) and out["heatmaps"].shape == (B, C, 17, size // 4, size // 4)
    assert ("vol_confidences" in out) == (aggregation == "conf")
    if aggregation == "conf":
        torch.testing.assert_close(out["vol_confidences"].sum(1), torch.ones(B))
    loss = model_loss("volumetric", out, {"joints_3d": random_joints(B), "joints_valid": torch.ones(B, 17)})
    loss["loss"].backward()
    g = net.backbone.conv1.weight.grad
    assert g is not None and torch.isfinite(g).all() and g.abs().sum() > 0
    # a single view works too, with and without the training rotation
    one = net(images[:, :1], cams[:, 0:1], ROOT.expand(B, 3))
    assert torch.isfinite(one["joints_3d"]).all()
    net.eval()
    with torch.no_grad():
        one = net(images[:, :1], cams[:, 0:1], ROOT.expand(B, 3))
    assert torch.equal(one["rotation"], torch.zeros(B))


def test_volumetric_rotation_is_random_in_training_and_seeded():
    net = tiny_volumetric().train()
    cams, images = make_rig(2, 2, 64), torch.rand(2, 2, 3, 64, 64)
    torch.manual_seed(5)
    a = net(images, cams, ROOT.expand(2, 3))
    torch.manual_seed(5)
    b = net(images, cams, ROOT.expand(2, 3))
    assert torch.equal(a["rotation"], b["rotation"]) and a["rotation"].abs().min() > 0
    assert a["rotation"][0] != a["rotation"][1]
    torch.testing.assert_close(a["grid"].mean((1, 2, 3)), ROOT.expand(2, 3), atol=1e-3, rtol=0)
    net.rotate_train = False
    assert torch.equal(net(images, cams, ROOT.expand(2, 3))["rotation"], torch.zeros(2))


def test_volumetric_overfits_a_tiny_batch():
    torch.manual_seed(0)
    B, C = 1, 2
    images, cams = torch.rand(B, C, 3, 64, 64), make_rig(B, C, 64)
    target = random_joints(B)[:, :4]
    net = VolumetricTriangulationNet(
        BackboneConfig.tiny(num_joints=4),
        V2VConfig.tiny(out_channels=4),
        volume_size=16,
        cuboid_side=1000.0,
        rotate_train=False,
    )
    opt = torch.optim.Adam(net.parameters(), lr=3e-3)
    batch = {"joints_3d": target, "joints_valid": torch.ones(B, 4, dtype=torch.bool)}
    losses = []
    for _ in range(15):
        loss = model_loss("volumetric", net(images, cams, ROOT.expand(B, 3)), batch)["loss"]
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert min(losses[-5:]) < 0.5 * losses[0], losses


def test_volumetric_config_errors():
    with pytest.raises(ValueError, match="multiple"):
        tiny_volumetric(volume_size=12)
    with pytest.raises(ValueError, match="aggregation"):
        tiny_volumetric(aggregation="max")
    with pytest.raises(ValueError, match="out_channels"):
        VolumetricTriangulationNet(BackboneConfig.tiny(), V2VConfig.tiny(out_channels=5), volume_size=16)
    net = tiny_volumetric()
    with pytest.raises(ValueError, match="root"):
        net(torch.rand(1, 2, 3, 64, 64), make_rig(1, 2, 64), torch.zeros(3))


# ---------------------------------------------------------------- released checkpoints


@pytest.fixture(scope="module")
def paper_models():
    torch.manual_seed(0)
    return {
        ALG: AlgebraicTriangulationNet(BackboneConfig.paper()),
        VOL: VolumetricTriangulationNet(BackboneConfig.paper(), V2VConfig.paper()),
    }


@pytest.mark.parametrize("name", OFFICIAL_MODEL_NAMES)
def test_paper_scale_models_load_official_state_dicts_strictly(paper_models, name):
    model = paper_models[name]
    assert list(model.state_dict().keys()) == list(official_shapes(name).keys())
    for prefix in ("", "module."):
        sd = synthetic_official_state_dict(name, prefix=prefix, seed=2)
        report = load_official_state_dict(model, sd, strict=True)
        assert report.ok and report.stripped_prefix == (prefix == "module.")
        key = next(k for k in sd if k.endswith("final_layer.weight"))
        assert torch.equal(model.backbone.final_layer.weight, sd[key])
    if name == VOL:
        assert torch.equal(model.process_features[0].weight, sd["module.process_features.0.weight"])


def test_confidence_aggregation_model_is_not_the_released_softmax_model():
    model = VolumetricTriangulationNet(BackboneConfig.tiny(), V2VConfig.tiny(), volume_size=16, aggregation="conf")
    assert hasattr(model.backbone, "vol_confidences") and not hasattr(model.backbone, "alg_confidences")
    with pytest.raises(OfficialCheckpointError):
        load_official_state_dict(model, synthetic_official_state_dict(VOL))
