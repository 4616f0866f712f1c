"""Tests of the network building blocks: PoseResNet backbone, V2V, official checkpoint compatibility."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from lt_core.models.backbone import BackboneConfig, PoseResNet, count_parameters
from lt_core.models.official import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    OFFICIAL_MODEL_NAMES,
    OfficialCheckpointError,
    load_official_state_dict,
    official_shapes,
    preprocess_like_official,
    synthetic_official_state_dict,
    unpreprocess_like_official,
)
from lt_core.models.v2v import V2VConfig, V2VModel

ALG, VOL = OFFICIAL_MODEL_NAMES


class AlgContainer(nn.Module):
    """Same attribute names as the released algebraic model."""

    def __init__(self) -> None:
        super().__init__()
        self.backbone = PoseResNet(BackboneConfig.paper(alg_confidences=True))


class VolContainer(nn.Module):
    """Same attribute names as the released volumetric (softmax) model."""

    def __init__(self) -> None:
        super().__init__()
        self.backbone = PoseResNet(BackboneConfig.paper())
        self.process_features = nn.Sequential(nn.Conv2d(256, 32, 1))
        self.volume_net = V2VModel(V2VConfig.paper())


@pytest.fixture(scope="module")
def alg_model() -> AlgContainer:
    torch.manual_seed(0)
    return AlgContainer()


@pytest.fixture(scope="module")
def vol_model() -> VolContainer:
    torch.manual_seed(0)
    return VolContainer()


@pytest.fixture(scope="module")
def synthetic() -> dict:
    return {name: synthetic_official_state_dict(name, seed=1) for name in OFFICIAL_MODEL_NAMES}


# ---------------------------------------------------------------- backbone


def test_tiny_backbone_shapes():
    torch.manual_seed(0)
    net = PoseResNet(BackboneConfig.tiny(alg_confidences=True, vol_confidences=True))
    out = net(torch.randn(2, 3, 128, 192))
    assert out.heatmaps.shape == (2, 17, 32, 48)
    assert out.features.shape == (2, 32, 32, 48)
    assert out.alg_confidences.shape == (2, 17)
    assert out.vol_confidences.shape == (2,)
    assert (out.alg_confidences > 0).all() and (out.alg_confidences < 1).all()
    assert (out.vol_confidences > 0).all()
    heatmaps, features, alg, vol = out  # unpacks like a 4-tuple
    assert heatmaps is out.heatmaps and vol is out.vol_confidences


def test_tiny_backbone_without_heads():
    net = PoseResNet(BackboneConfig.tiny(num_joints=5)).eval()
    out = net(torch.randn(1, 3, 64, 64))
    assert out.heatmaps.shape == (1, 5, 16, 16)
    assert out.alg_confidences is None and out.vol_confidences is None
    assert not hasattr(net, "alg_confidences") and not hasattr(net, "vol_confidences")


def test_confidence_head_rejects_too_small_images():
    net = PoseResNet(BackboneConfig.tiny(alg_confidences=True)).eval()
    with pytest.raises(ValueError, match="128 px"):
        net(torch.randn(1, 3, 64, 64))


def test_tiny_param_count_is_small():
    assert count_parameters(PoseResNet(BackboneConfig.tiny())) < 1_000_000
    assert count_parameters(PoseResNet(BackboneConfig.tiny(alg_confidences=True, vol_confidences=True))) < 1_500_000
    assert count_parameters(V2VModel(V2VConfig.tiny())) < 200_000


@pytest.mark.parametrize("depth", [34, 50])
def test_other_depths_build_and_run(depth):
    net = PoseResNet(BackboneConfig(depth=depth, width=0.125, deconv_channels=16, num_joints=3)).eval()
    assert net(torch.randn(1, 3, 64, 64)).heatmaps.shape == (1, 3, 16, 16)


def test_gradients_reach_conv1_from_heatmaps_and_confidences():
    torch.manual_seed(0)
    net = PoseResNet(BackboneConfig.tiny(alg_confidences=True, vol_confidences=True))
    images = torch.randn(2, 3, 128, 128)
    for pick in ("heatmaps", "alg_confidences", "vol_confidences"):
        net.zero_grad(set_to_none=True)
        getattr(net(images), pick).square().sum().backward()
        grad = net.conv1.weight.grad
        assert grad is not None and torch.isfinite(grad).all() and grad.abs().sum() > 0, pick
    # confidences do not depend on the deconvolution branch
    assert net.deconv_layers[0].weight.grad is None


# ---------------------------------------------------------------- V2V


def test_v2v_tiny_forward_backward():
    torch.manual_seed(0)
    net = V2VModel(V2VConfig.tiny())
    x = torch.randn(2, 32, 16, 16, 16, requires_grad=True)
    y = net(x)
    assert y.shape == (2, 17, 16, 16, 16)
    y.square().mean().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0
    for p in net.parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all()


def test_v2v_rejects_bad_volume_side():
    net = V2VModel(V2VConfig.tiny())
    with pytest.raises(ValueError, match="multiples of 8"):
        net(torch.randn(1, 32, 12, 12, 12))


def test_v2v_levels_setting():
    cfg = V2VConfig(in_channels=4, out_channels=2, channels=(4, 8), front_channels=4, front_kernel=3)
    net = V2VModel(cfg).eval()
    assert cfg.levels == 1 and not hasattr(net.encoder_decoder, "encoder_res2")
    assert net(torch.randn(1, 4, 6, 6, 6)).shape == (1, 2, 6, 6, 6)


# ---------------------------------------------------------------- official checkpoints


@pytest.mark.parametrize("name", OFFICIAL_MODEL_NAMES)
def test_paper_scale_names_and_shapes_match_release(name, alg_model, vol_model):
    model = alg_model if name == ALG else vol_model
    own = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    assert own == dict(official_shapes(name))
    assert len(own) == {ALG: 970, VOL: 1311}[name]


@pytest.mark.parametrize("name", OFFICIAL_MODEL_NAMES)
@pytest.mark.parametrize("prefix", ["", "module."])
def test_strict_load_of_synthetic_official_dicts(name, prefix, alg_model, vol_model, synthetic):
    model = alg_model if name == ALG else vol_model
    sd = synthetic[name]
    if prefix:
        sd = {prefix + k: v for k, v in sd.items()}
    report = load_official_state_dict(model, sd, strict=True)
    assert report.ok and report.stripped_prefix == bool(prefix)
    assert len(report.loaded) == len(sd)
    own = model.state_dict()
    for key in ("backbone.conv1.weight", "backbone.layer3.35.bn3.running_var", "backbone.final_layer.bias"):
        torch.testing.assert_close(own[key], synthetic[name][key], rtol=0, atol=0)
    assert int(own["backbone.bn1.num_batches_tracked"]) == 1000


def test_select_prefix_loads_bare_backbone(vol_model, synthetic):
    report = load_official_state_dict(vol_model.backbone, synthetic[VOL], select_prefix="backbone.")
    assert report.ok and len(report.loaded) == 950


def test_paper_backbone_runs_with_loaded_weights(alg_model, synthetic):
    load_official_state_dict(alg_model, synthetic[ALG])
    with torch.no_grad():
        out = alg_model.backbone.eval()(torch.randn(1, 3, 128, 128))
    assert out.heatmaps.shape == (1, 17, 32, 32) and out.features.shape == (1, 256, 32, 32)
    assert out.alg_confidences.shape == (1, 17) and torch.isfinite(out.heatmaps).all()


def test_wrong_shape_raises_naming_the_key(alg_model, synthetic):
    sd = dict(synthetic[ALG])
    sd["backbone.final_layer.weight"] = torch.zeros(16, 256, 1, 1)
    with pytest.raises(OfficialCheckpointError) as err:
        load_official_state_dict(alg_model, sd, strict=True)
    msg = str(err.value)
    assert "backbone.final_layer.weight" in msg and "[16, 256, 1, 1]" in msg and "[17, 256, 1, 1]" in msg
    with pytest.raises(OfficialCheckpointError, match="final_layer.weight"):
        load_official_state_dict(alg_model, sd, strict=False)  # shapes are checked even when not strict


def test_missing_and_unexpected_keys(alg_model, vol_model, synthetic):
    # the volumetric checkpoint lacks the confidence head and has process_features / volume_net
    with pytest.raises(OfficialCheckpointError) as err:
        load_official_state_dict(alg_model, synthetic[VOL], strict=True)
    msg = str(err.value)
    assert "20 missing keys" in msg and "backbone.alg_confidences.head.4.bias" in msg
    assert "361 unexpected keys" in msg and "process_features.0.weight" in msg and "... and 341 more" in msg
    report = load_official_state_dict(vol_model, synthetic[ALG], strict=False)
    assert len(report.loaded) == 950 and len(report.unexpected) == 20 and len(report.missing) == 361


# ---------------------------------------------------------------- preprocessing


def test_preprocess_matches_hand_computed_value():
    rgb = np.zeros((4, 4, 3), dtype=np.uint8)
    rgb[...] = (255, 0, 128)
    out = preprocess_like_official(rgb, size=None)
    assert out.shape == (3, 4, 4) and out.dtype == torch.float32
    # BGR order (128, 0, 255), normalised with the RGB statistics in the given order
    expected = torch.tensor([(128 / 255 - 0.485) / 0.229, (0 - 0.456) / 0.224, (1 - 0.406) / 0.225])
    torch.testing.assert_close(out[:, 2, 1], expected)
    assert abs(out[0, 0, 0].item() - 0.0740646) < 1e-5


def test_preprocess_layouts_resize_and_inverse():
    gen = torch.Generator().manual_seed(0)
    chw = torch.randint(0, 256, (2, 3, 40, 50), generator=gen, dtype=torch.uint8)
    a = preprocess_like_official(chw)
    b = preprocess_like_official(chw.permute(0, 2, 3, 1).numpy())
    c = preprocess_like_official(chw.float() / 255)
    assert a.shape == (2, 3, 384, 384)
    torch.testing.assert_close(a, b)
    assert (a - c).abs().max() < 0.5 / 255 / min(IMAGENET_STD) + 1e-6  # integer rounding only
    same = preprocess_like_official(chw, size=None)
    back = unpreprocess_like_official(same)
    torch.testing.assert_close(back, chw.float() / 255, rtol=0, atol=1e-6)
    assert len(IMAGENET_MEAN) == 3
