"""lt_core with the official convention against outputs of the paper's released code (``pytest -k official``).

The references are in tests/fixtures/official (README.md there documents every array, the official source lines
that computed it, its units and precision; PROVENANCE.txt the origin and licence). Acceptance: cameras, 2D
keypoints and float64 algebraic 3D within 1e-3 px / 1e-3 mm; float32 official outputs within 0.1 mm (their
LAPACK / oneDNN rounding); unprojection volumes within 1e-4 on every voxel; volumetric keypoints within 0.1 mm.
"""

from __future__ import annotations

import random
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from lt_core.camera import Camera
from lt_core.conventions import rules, scale_box
from lt_core.data.human36m import Human36MDataset
from lt_core.models import (
    AlgebraicTriangulationNet,
    BackboneConfig,
    RANSACTriangulationNet,
    V2VConfig,
    VolumetricTriangulationNet,
)
from lt_core.models.backbone import BackboneOutput
from lt_core.ops.ransac_official import triangulate_ransac_official
from lt_core.ops.soft_argmax import soft_argmax_3d
from lt_core.ops.triangulation import triangulate
from lt_core.ops.unprojection import make_cuboid_grid, unproject_features, unproject_features_loop

FIXTURES = Path(__file__).parent / "fixtures" / "official"
H36M = FIXTURES / "human36m_layout"


def load(name: str) -> dict[str, np.ndarray]:
    with np.load(FIXTURES / f"{name}.npz", allow_pickle=False) as z:
        return {k: z[k] for k in z.files}


def t(a: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(a))


def max_diff(a, b) -> float:
    a = a.detach().numpy() if isinstance(a, torch.Tensor) else np.asarray(a)
    return float(np.abs(a.astype(np.float64) - np.asarray(b, dtype=np.float64)).max())


class StubBackbone(nn.Module):
    """Returns stored backbone outputs (flattened over samples and views), whatever the images."""

    def __init__(self, heatmaps: torch.Tensor, features=None, alg_confidences=None) -> None:
        super().__init__()
        self.out = BackboneOutput(heatmaps, features, alg_confidences, None)

    def forward(self, images: torch.Tensor) -> BackboneOutput:
        assert images.shape[0] == self.out.heatmaps.shape[0]
        return self.out


# ---------------------------------------------------------------------------------------------------- cameras
def test_official_camera_chain_matches_the_released_code():
    z = load("cameras")
    full = Camera(t(z["K_full"]), t(z["R"]), t(z["t"]), convention="official")
    X = t(z["joints_3d"])  # (2, 17, 3)
    for s in range(2):
        box = t(z["bbox"][s]).double()  # (4, 4) LTRB
        crop = full.crop(box[:, 0], box[:, 1])
        assert max_diff(crop.K, z["K_crop"][s]) == 0.0
        img = full.crop_and_resize(box, (384, 384))
        assert max_diff(img.K, z["K_384"][s]) < 1e-9
        assert max_diff(img.projection, z["P_384"][s]) < 1e-6
        assert max_diff(img.project(X[s][None].expand(4, 17, 3)), z["uv_384"][s]) < 1e-6
        assert torch.equal(img.projection.float(), t(z["P_384_float32"][s]))
        hm = img.resize(96 / 384)
        assert max_diff(hm.K, z["K_96"][s]) < 1e-9
        assert max_diff(hm.project(X[s][None].expand(4, 17, 3)), z["uv_96"][s]) < 1e-6
        # the project's convention differs exactly by the half-pixel terms, 0.5 s - 0.5 per resize
        centres = full.with_convention("centres").crop_and_resize(box, (384, 384))
        s384 = 384 / (box[:, 2] - box[:, 0])
        assert max_diff(centres.K[:, 0, 2] - img.K[:, 0, 2], 0.5 * s384 - 0.5) < 1e-9


def test_official_anisotropic_crop():
    z = load("cameras")
    cam = Camera(t(z["K_full"][0]), t(z["R"][0]), t(z["t"][0]), convention="official")
    left, top, right, bottom = (float(v) for v in z["aniso_bbox"])
    h_img, w_img = (int(v) for v in z["aniso_image_shape"])
    img = cam.crop_and_resize(torch.tensor([left, top, right, bottom], dtype=torch.float64), (w_img, h_img))
    assert max_diff(img.K, z["aniso_K_img"]) < 1e-9
    assert max_diff(img.project(t(z["joints_3d"][0])), z["aniso_uv_img"]) < 1e-6


def test_official_camera_convention_travels_and_cannot_be_mixed():
    z = load("cameras")
    cam = Camera(t(z["K_full"]), t(z["R"]), t(z["t"]), convention="official")
    assert cam[1:].convention == "official" and cam.to(torch.float32).convention == "official"
    assert cam.expand(3, 4).convention == "official"
    with pytest.raises(ValueError, match="convention must be one of"):
        Camera(t(z["K_full"]), t(z["R"]), t(z["t"]), convention="corners")
    from lt_core.camera import CameraError, stack_cameras

    with pytest.raises(CameraError, match="different pixel conventions"):
        stack_cameras([cam[0], cam[1].with_convention("centres")])


# ---------------------------------------------------------------------------------------------- triangulation
@pytest.mark.parametrize("views", ["4v", "8v"])
@pytest.mark.parametrize("conf", ["conf", "noconf"])
def test_official_dlt_matches_float64_and_float32_runs(views, conf):
    z = load("triangulation")
    w64 = t(z[f"confidences_{views}"]) if conf == "conf" else None
    X64 = triangulate(t(z[f"points_{views}"]), t(z[f"P_{views}"]), w64, normalize=False, precision="native")
    assert max_diff(X64, z[f"X_{views}_{conf}_f64"]) < 1e-6
    w32 = t(z[f"confidences_{views}_f32"]) if conf == "conf" else None
    X32 = triangulate(t(z[f"points_{views}_f32"]), t(z[f"P_{views}_f32"]), w32, normalize=False, precision="native")
    assert X32.dtype == torch.float32
    assert max_diff(X32, z[f"X_{views}_{conf}_f32"]) < 0.1
    if conf == "noconf":  # the official numpy DLT (used by its RANSAC) solves the same system
        assert max_diff(X64, z[f"X_{views}_noconf_numpy"]) < 1e-6
    # the normalised DLT is a different estimator: equal without noise, apart with noise
    Xn = triangulate(t(z[f"points_{views}"]), t(z[f"P_{views}"]), w64)
    assert max_diff(Xn[0], z[f"X_{views}_{conf}_f64"][0]) < 1e-6  # sample 0 is noise-free
    assert max_diff(Xn[3], z[f"X_{views}_{conf}_f64"][3]) > 0.5  # 6 px of noise


def test_official_dlt_is_differentiable():
    z = load("triangulation")
    pts = t(z["points_4v"])[:1, :, :3].clone().requires_grad_(True)
    w = t(z["confidences_4v"])[:1, :, :3].clone().requires_grad_(True)
    f = lambda p, c: triangulate(p, t(z["P_4v"])[:1], c, normalize=False)  # noqa: E731
    # the raw system is badly conditioned (entries from 1e-3 to 1e6), so finite differences need eps >= 1e-5
    assert torch.autograd.gradcheck(f, (pts, w), eps=1e-5, atol=1e-4, rtol=1e-3)


# ------------------------------------------------------------------------------------------- algebraic head
def _algebraic_net(z, use_confidences: bool, dtype: torch.dtype) -> tuple[AlgebraicTriangulationNet, dict]:
    B, C, J, h, w = z["heatmaps"].shape
    net = AlgebraicTriangulationNet(BackboneConfig.tiny(), use_confidences=use_confidences, convention="official")
    conf = t(z["alg_confidences_raw"]).to(dtype).reshape(B * C, J) if use_confidences else None
    net.backbone = StubBackbone(t(z["heatmaps"]).to(dtype).reshape(B * C, J, h, w), alg_confidences=conf)
    cams = Camera(t(z["K"]), t(z["R"]).expand(B, C, 3, 3), t(z["t"]).expand(B, C, 3), convention="official")
    images = torch.zeros(B, C, 3, *(int(v) for v in z["image_shape"]), dtype=dtype)
    return net.eval(), net(images, cams)


@pytest.mark.parametrize("conf", ["conf", "noconf"])
def test_official_algebraic_head_float32(conf):
    z = load("algebraic_head")
    net, out = _algebraic_net(z, conf == "conf", torch.float32)
    assert torch.equal(out["joints_2d"], t(z["keypoints_2d"]))  # 4 u, exactly
    assert max_diff(out["confidences"], z[f"confidences_{conf}"]) < 1e-7
    assert max_diff(out["joints_3d"], z[f"keypoints_3d_{conf}"]) < 0.1
    assert out["joints_3d"].dtype == torch.float32


@pytest.mark.parametrize("conf", ["conf", "noconf"])
def test_official_algebraic_head_float64(conf):
    z = load("algebraic_head")
    net, out = _algebraic_net(z, conf == "conf", torch.float64)
    assert max_diff(out["joints_2d"], z["keypoints_2d_f64"]) < 1e-9
    assert max_diff(out["confidences"], z[f"confidences_{conf}_f64"]) < 1e-7
    assert max_diff(out["joints_3d"], z[f"keypoints_3d_{conf}_f64"]) < 1e-3


def test_official_algebraic_missing_view_equals_leaving_it_out():
    """A view flagged invalid gives what the released dataset gives by omitting it."""
    z = load("algebraic_head")
    B, C, J, h, w = z["heatmaps"].shape
    net = AlgebraicTriangulationNet(BackboneConfig.tiny(), use_confidences=True, convention="official").eval()
    hm = t(z["heatmaps"]).double()
    raw = t(z["alg_confidences_raw"]).double()
    cams = Camera(t(z["K"]), t(z["R"]).expand(B, C, 3, 3), t(z["t"]).expand(B, C, 3), convention="official")
    net.backbone = StubBackbone(hm.reshape(B * C, J, h, w), alg_confidences=raw.reshape(B * C, J))
    valid = torch.tensor([[True, True, False, True]] * B)
    flagged = net(torch.zeros(B, C, 3, 384, 384, dtype=torch.float64), cams, valid)
    keep = [0, 1, 3]
    net.backbone = StubBackbone(hm[:, keep].reshape(B * 3, J, h, w), alg_confidences=raw[:, keep].reshape(B * 3, J))
    omitted = net(torch.zeros(B, 3, 3, 384, 384, dtype=torch.float64), cams[:, keep])
    assert max_diff(flagged["joints_3d"], omitted["joints_3d"]) < 1e-6
    assert max_diff(flagged["confidences"][:, keep], omitted["confidences"]) < 1e-12


def test_official_model_refuses_cameras_of_the_other_convention():
    z = load("algebraic_head")
    B, C, J, h, w = z["heatmaps"].shape
    net = AlgebraicTriangulationNet(BackboneConfig.tiny(), use_confidences=False, convention="official")
    net.backbone = StubBackbone(t(z["heatmaps"]).reshape(B * C, J, h, w))
    cams = Camera(t(z["K"]), t(z["R"]).expand(B, C, 3, 3), t(z["t"]).expand(B, C, 3))  # "centres"
    with pytest.raises(ValueError, match="'official' pixel convention but the cameras carry 'centres'"):
        net(torch.zeros(B, C, 3, 384, 384), cams)


# --------------------------------------------------------------------------------------------- unprojection
@pytest.mark.parametrize("rot", ["rot0", "rot"])
def test_official_coordinate_volumes(rot):
    z = load("unprojection")
    grid = make_cuboid_grid(t(z["base_points"]), float(z["cuboid_side"]), int(z["volume_size"]), t(z[f"theta_{rot}"]))
    assert max_diff(grid, z[f"coord_volumes_{rot}"]) < 1e-3  # mm; the official rotates in float32 about the centre


@pytest.mark.parametrize("backend", ["fused", "grid_sample", "loop"])
@pytest.mark.parametrize("rot", ["rot0", "rot"])
@pytest.mark.parametrize("aggregation", ["sum", "conf", "softmax"])
def test_official_unprojection_every_voxel(backend, rot, aggregation):
    z = load("unprojection")
    conf = t(z["vol_confidences"][..., 0]) if aggregation == "conf" else None  # equal over channels
    args = (t(z["features"]), t(z["proj_matricies_hm"]), t(z[f"coord_volumes_{rot}"]), aggregation, conf)
    if backend == "loop":
        volume = unproject_features_loop(*args, convention="official")
    else:
        volume = unproject_features(*args, backend=backend, convention="official")
    assert max_diff(volume, z[f"volume_{aggregation}_{rot}"]) < 1e-4
    # the project's own rules differ where some view does not see the voxel
    ours = unproject_features(*args, backend="grid_sample")
    assert max_diff(ours, z[f"volume_{aggregation}_{rot}"]) > 0.1


@pytest.mark.parametrize("backend", ["fused", "grid_sample"])
def test_official_unprojection_non_square_maps(backend):
    z = load("unprojection")
    for aggregation in ("sum", "softmax"):
        volume = unproject_features(
            t(z["nonsquare_features"]),
            t(z["nonsquare_proj_matricies_hm"]),
            t(z["coord_volumes_rot0"][:1]),
            aggregation,
            backend=backend,
            convention="official",
        )
        assert max_diff(volume, z[f"nonsquare_volume_{aggregation}"]) < 1e-4


def test_official_unprojection_through_cameras_and_gradients():
    """The same volumes from Camera objects (convention carried by the cameras), and the fused backward pass
    agrees with grid_sample's autograd under the official softmax (views taking part with zeros)."""
    z = load("unprojection")
    cams = Camera(t(z["K_hm"]), t(z["R"]), t(z["t"]), convention="official")
    grid = t(z["coord_volumes_rot"])
    feats = t(z["features"]).double()
    volume = unproject_features(feats, cams, grid, "softmax")
    assert max_diff(volume, z["volume_softmax_rot"]) < 1e-4
    with pytest.raises(ValueError, match="contradicts the cameras' convention"):
        unproject_features(feats, cams, grid, "softmax", convention="centres")
    with pytest.raises(ValueError, match="'centres' convention only"):
        unproject_features(feats, cams, grid, "softmax", backend="gather")
    small = feats[:, :, :2, ::4, ::4].clone()  # 24 x 24 maps: a quick gradient comparison
    small_cams = cams.resize(24 / 96)
    coarse = make_cuboid_grid(t(z["base_points"]).double(), 2500.0, 6, t(z["theta_rot"]).double())
    grads = []
    for backend in ("fused", "grid_sample"):
        f = small.clone().requires_grad_(True)
        v = unproject_features(f, small_cams, coarse, "softmax", backend=backend)
        (v * torch.linspace(-1, 1, v.numel(), dtype=v.dtype).reshape(v.shape)).sum().backward()
        grads.append(f.grad)
    assert grads[0].abs().sum() > 0
    assert max_diff(grads[0], grads[1]) < 1e-10


def test_official_3d_soft_argmax():
    z = load("unprojection")
    coords = t(z["integrate_coord_volumes"])
    for dtype, key, tol in (
        (torch.float32, "integrate_keypoints_f32", 0.01),
        (torch.float64, "integrate_keypoints_f64", 1e-9),
    ):
        joints, probs = soft_argmax_3d(
            t(z["integrate_volumes"]).to(dtype), 1.0, coords.to(dtype)[:, None], return_probs=True
        )
        assert max_diff(joints, z[key]) < tol
    assert max_diff(probs.float(), z["integrate_probs_f32"]) < 1e-6


# ------------------------------------------------------------------------------------------ volumetric head
def test_official_volumetric_head():
    z = load("volumetric_head")
    B, C, Fb, h, w = z["backbone_features"].shape
    D = int(z["volume_size"])
    net = VolumetricTriangulationNet(
        replace(BackboneConfig.tiny(), deconv_channels=Fb),
        V2VConfig.paper(),
        volume_size=D,
        cuboid_side=float(z["cuboid_side"]),
        aggregation="softmax",
        beta=float(z["volume_multiplier"]),
        convention="official",
    )
    net.process_features.load_state_dict(
        {"0.weight": t(z["process_features.0.weight"]), "0.bias": t(z["process_features.0.bias"])}
    )
    state = {}
    for name in z["volume_net_names"].tolist():
        if f"volume_net_q.{name}" in z:
            state[name] = t(z[f"volume_net_q.{name}"]).float() * t(z[f"volume_net_scale.{name}"])
        else:
            state[name] = t(z[f"volume_net.{name}"])
    net.volume_net.load_state_dict(state, strict=True)
    net.backbone = StubBackbone(
        torch.zeros(B * C, 17, h, w), features=t(z["backbone_features"]).reshape(B * C, Fb, h, w)
    )
    cams = Camera(t(z["K_img"]), t(z["R"]).expand(B, C, 3, 3), t(z["t"]).expand(B, C, 3), convention="official")
    assert torch.equal(cams.resize(w / 128).projection.float(), t(z["proj_matricies_hm"]))
    root = t(z["pred_keypoints_3d"][:, 6])
    with torch.no_grad():
        out = net.eval()(torch.zeros(B, C, 3, 128, 128), cams, root)
        assert max_diff(out["grid"], z["coord_volumes"]) < 1e-3
        # the V2V input: official-convention unprojection of the processed features, at the stored voxels
        v2v_in = unproject_features(
            t(z["processed_features"]),
            t(z["proj_matricies_hm"]),
            t(z["coord_volumes"]),
            "softmax",
            convention="official",
        ).reshape(B, 32, -1)
    idx = t(z["sample_voxel_index"])
    assert max_diff(v2v_in[..., idx], z["v2v_input_sampled"]) < 1e-4
    assert max_diff(out["joints_3d"], z["vol_keypoints_3d"]) < 0.1
    probs = out["volumes"].reshape(B, 17, -1)
    assert max_diff(probs[..., idx], z["volumes_sampled"]) < 1e-3 * float(z["volumes_max"].max())
    assert torch.equal(probs.argmax(-1), t(z["volumes_argmax"]))
    marg = torch.stack(
        [out["volumes"].double().sum((3, 4)), out["volumes"].double().sum((2, 4)), out["volumes"].double().sum((2, 3))],
        2,
    )
    assert max_diff(marg, z["volumes_marginals"]) < 1e-4


# ------------------------------------------------------------------------------------------------- RANSAC
@pytest.mark.parametrize("refine", [True, False])
def test_official_ransac_bit_for_bit(refine):
    z = load("ransac")
    tag = "refine" if refine else "norefine"
    rng = random.Random(1234)  # the fixture seeded Python's generator once, then ran 4 views, then 8 views
    for views in ("4v", "8v"):
        X, inliers = triangulate_ransac_official(
            t(z[f"points_{views}"]).double(), t(z[f"P_{views}"]), refine=refine, rng=rng
        )
        assert max_diff(X, z[f"X_{views}_{tag}"]) < 1e-9
        assert np.array_equal(inliers.numpy(), z[f"inliers_{views}_{tag}"])
        # RANSAC did its job: outliers are rarer among the inliers than among all detections
        outlier = z[f"outlier_{views}"]
        assert (inliers.numpy() & outlier).sum() / inliers.numpy().sum() < 0.7 * outlier.mean()


def test_official_ransac_model_uses_the_official_procedure():
    """The RANSAC network with the official convention reads integer maxima times the stride and gives what
    the official RANSAC gives on them (same seed)."""
    z = load("ransac")
    P, pts = t(z["P_4v"]), t(z["points_4v"]).double()
    B, C, J, _ = pts.shape
    hm = torch.zeros(B * C, J, 96, 96)
    q = (pts / 4).long().clamp(0, 95).reshape(B * C, J, 2)
    hm.view(B * C * J, -1)[torch.arange(B * C * J), (q[..., 1] * 96 + q[..., 0]).reshape(-1)] = 1.0
    net = RANSACTriangulationNet(BackboneConfig.tiny(), convention="official").eval()
    assert net.n_iters == 10 and not net.subpixel
    net.backbone = StubBackbone(hm)
    # cameras whose float32 projection equals the stored matrices: K = I, [R | t] = P (no resize involved)
    cams = Camera(torch.eye(3).expand(B, C, 3, 3), P[..., :3].double(), P[..., 3].double(), convention="official")
    out = net(torch.zeros(B, C, 3, 384, 384), cams, rng=5)
    expected, _ = triangulate_ransac_official((q.reshape(B, C, J, 2) * 4).double(), P, rng=5)
    assert max_diff(out["joints_3d"], expected) < 1e-3


def test_official_ransac_errors():
    z = load("ransac")
    pts, P = t(z["points_4v"]).double(), t(z["P_4v"])
    with pytest.raises(ValueError, match="threshold must be a positive"):
        triangulate_ransac_official(pts, P, threshold=float("nan"))
    with pytest.raises(ValueError, match="n_iters must be at least 1"):
        triangulate_ransac_official(pts, P, n_iters=0)
    valid = torch.ones(pts.shape[:3], dtype=torch.bool)
    valid[1, 1:, 5] = False
    with pytest.raises(ValueError, match="sample 1, joint 5 has 1"):
        triangulate_ransac_official(pts, P, valid=valid)


# --------------------------------------------------------------------------------------- Human3.6M layout
def _h36m(convention: str, **kw) -> Human36MDataset:
    return Human36MDataset(H36M, split="val", image_size=384, exclude_damaged=False, convention=convention, **kw)


def test_official_human36m_items_match_the_released_dataset():
    z = np.load(H36M / "official_items.npz", allow_pickle=False)
    ds = _h36m("official")
    assert len(ds) == len(z["item_index"])
    for i in range(len(ds)):
        s = ds[i]
        v0, nv = int(z["item_first_view"][i]), int(z["item_n_views"][i])
        valid = s["views_valid"]
        assert int(valid.sum()) == nv
        assert s["meta"]["subject"] == z["item_subject"][i] and s["meta"]["action"] == z["item_action"][i]
        assert s["meta"]["frame"] == int(z["item_frame_idx"][i])
        cams = s["cameras"][valid]
        assert cams.convention == "official"
        assert torch.equal(cams.K, t(z["view_K"][v0 : v0 + nv]))  # bit for bit (float32 arithmetic)
        P = z["view_projection"][v0 : v0 + nv]
        assert np.abs(cams.projection.numpy() - P).max() <= 2e-7 * np.abs(P).max()
        assert np.array_equal(s["meta"]["bbox_ltrb"][valid].numpy(), z["view_bbox_ltrb"][v0 : v0 + nv])
        assert max_diff(s["joints_3d"], z["keypoints_3d"][i, :, :3]) == 0.0
        uv = cams.to(torch.float64).project(s["joints_3d"].double()[None].expand(nv, 17, 3), distort=False)
        assert max_diff(uv, z["view_proj2d"][v0 : v0 + nv]) < 1e-3
        missing = [k for k, n in enumerate(ds.camera_names) if n not in set(z["view_camera_name"][v0 : v0 + nv])]
        assert (~valid).nonzero().flatten().tolist() == missing  # S11 Directions-2 has no camera 54138969
    damaged_free = Human36MDataset(H36M, split="val", image_size=384, exclude_damaged=True, convention="official")
    names = [(damaged_free[i]["meta"]["subject"], damaged_free[i]["meta"]["action"]) for i in range(len(damaged_free))]
    assert names == list(zip(z["nodamage_subject"].tolist(), z["nodamage_action"].tolist()))


def test_official_human36m_images_match_the_released_preprocessing():
    """Images after the released crop, INTER_AREA resize and normalisation (BGR, ImageNet RGB statistics): channel
    statistics and 16 x 16 INTER_AREA thumbnails of the official items, to float32 rounding."""
    from lt_core.data.resize_area import resize_area
    from lt_core.models.official import preprocess_like_official

    z = np.load(H36M / "official_items.npz", allow_pickle=False)
    ds = _h36m("official", load_images=True)
    assert ds.resample == "area"
    for i in range(len(ds)):
        s = ds[i]
        v0, nv = int(z["item_first_view"][i]), int(z["item_n_views"][i])
        x = preprocess_like_official(s["images"][s["views_valid"]], size=None).double()  # (nv, 3, H, W) BGR
        assert max_diff(x.mean((2, 3)), z["view_image_mean"][v0 : v0 + nv]) < 1e-5
        assert max_diff(x.amin((2, 3)), z["view_image_min"][v0 : v0 + nv]) < 1e-5
        assert max_diff(x.amax((2, 3)), z["view_image_max"][v0 : v0 + nv]) < 1e-5
        thumbs = torch.stack([resize_area(v, (16, 16)) for v in x]).permute(0, 2, 3, 1)
        assert max_diff(thumbs, z["view_image_thumb16"][v0 : v0 + nv]) < 1e-4


def test_official_box_scaling_at_scale_1_5():
    """At bbox scale 1.5 the released dataset truncates the side about the integer centre (its
    ``scale_bbox``); checked against that rule written out, and against the centres rule that rounds."""
    z = np.load(H36M / "official_items.npz", allow_pickle=False)
    ds = _h36m("official", bbox_scale=1.5, load_images=False)
    ours = _h36m("centres", bbox_scale=1.5, load_images=False)
    differ = 0
    for i in range(len(ds)):
        s, c = ds[i], ours[i]
        v0 = int(z["item_first_view"][i])
        for k, box in enumerate(s["meta"]["bbox_ltrb"][s["views_valid"]].tolist()):
            l, tp, r, b = (int(v) for v in z["view_bbox_ltrb"][v0 + k])  # the scale-1 boxes of the release
            cx, cy, side = (l + r) // 2, (tp + b) // 2, int(1.5 * (r - l))
            assert box == [cx - side // 2, cy - side // 2, cx - side // 2 + side, cy - side // 2 + side]
        differ += int((s["meta"]["bbox_ltrb"] != c["meta"]["bbox_ltrb"]).any(-1).sum())
        # the cameras follow the box: crop at its corner, resize by 384 / side
        valid = s["views_valid"]
        box = s["meta"]["bbox_ltrb"][valid].float()
        assert (
            max_diff(
                s["cameras"][valid].K[:, 0, 2],
                (ds.subject_cameras(s["meta"]["subject"])[valid].K[:, 0, 2].float() - box[:, 0])
                * (384 / (box[:, 2] - box[:, 0])),
            )
            < 1e-3
        )
    assert differ > 0  # the two rules disagree on some boxes
    assert scale_box((0, 0, 5, 5), 1.5, "official") == (-1, -1, 6, 6)  # centre 2, side int(7.5) = 7
    assert scale_box((0, 0, 5, 5), 1.5, "centres") == (-2, -2, 6, 6)  # centre 2.5, side round(7.5) = 8


def test_official_rules_are_the_documented_ones():
    assert rules("official").resize_offset == 0.0 and rules("centres").resize_offset == 0.5
    assert not rules("official").normalized_dlt and rules("centres").normalized_dlt
    assert rules("official").softmax_views == "valid" and rules("centres").softmax_views == "seen"


# ------------------------------------------------------------------------------- conventions in the workflow
def test_official_convention_of_configs_and_checkpoints(tmp_path):
    from lt_core.train.config import TrainConfig
    from lt_core.train.factory import build_model

    assert TrainConfig(backbone="paper").convention == "official"  # the paper's configuration
    assert TrainConfig().convention == "centres"
    assert TrainConfig(convention="official").convention == "official"
    with pytest.raises(ValueError, match="convention must be one of"):
        TrainConfig(convention="pixel-corners")
    with pytest.raises(ValueError, match="TrainConfig.convention"):
        TrainConfig(model_options={"convention": "official"})
    saved = TrainConfig(backbone="paper").to_dict()
    del saved["convention"]  # a checkpoint written before the field existed
    assert TrainConfig.from_saved(saved).convention == "centres"
    assert TrainConfig.from_saved(TrainConfig(convention="official").to_dict()).convention == "official"
    model = build_model(TrainConfig(model="algebraic", convention="official"))
    assert model.convention == "official"


def test_official_checkpoint_records_the_convention(tmp_path):
    from lt_core.train import Trainer
    from lt_core.train.checkpoint import load_checkpoint
    from lt_core.train.config import TrainConfig
    from lt_core.train.evaluate import load_trained_model

    cfg = TrainConfig(
        name="conv",
        model="algebraic",
        convention="official",
        image_size=(64, 64),
        max_steps=1,
        batch_size=1,
        val_split=None,
        out_dir=str(tmp_path / "run"),
        device="cpu",
        progress=False,
        dataset_options={"clips": ["131_03"], "max_frames_per_clip": 2, "num_views": 2, "load_images": True},
    )
    trainer = Trainer(cfg)
    path = trainer.save_checkpoint()
    ckpt = load_checkpoint(path)
    assert ckpt["convention"] == "official" and ckpt["config"]["convention"] == "official"
    assert load_trained_model(path).convention == "official"
    # the dataset the factory builds for it carries official cameras
    assert trainer.train_dataset[0]["cameras"].convention == "official"
    # an old checkpoint (no field) loads as "centres"
    del ckpt["config"]["convention"], ckpt["convention"]
    torch.save(ckpt, tmp_path / "old.pt")
    assert load_trained_model(tmp_path / "old.pt").convention == "centres"


def test_official_state_dict_switches_the_model_convention():
    from lt_core.models.official import load_official_state_dict

    net = AlgebraicTriangulationNet(BackboneConfig.tiny(), use_confidences=False)
    assert net.convention == "centres"
    load_official_state_dict(net, net.state_dict(), strict=True)
    assert net.convention == "official"
    ransac = RANSACTriangulationNet(BackboneConfig.tiny())
    assert ransac.n_iters == 100 and ransac.subpixel
    load_official_state_dict(ransac, ransac.state_dict(), strict=True)
    assert ransac.n_iters == 10 and not ransac.subpixel  # the released baseline's defaults follow


def test_official_synthetic_cameras_follow_the_released_resize():
    from lt_core.data.synthetic import SyntheticMultiViewDataset

    kw = dict(clips=["131_03"], max_frames_per_clip=1, load_images=False, image_size=96)
    ours = SyntheticMultiViewDataset(**kw)[0]
    off = SyntheticMultiViewDataset(convention="official", **kw)[0]
    assert off["cameras"].convention == "official" and ours["cameras"].convention == "centres"
    side = ours["meta"]["bbox_ltrb"][:, 2] - ours["meta"]["bbox_ltrb"][:, 0]
    s = 96 / side
    shift = ours["cameras"].K[:, 0, 2] - off["cameras"].K[:, 0, 2]
    assert max_diff(shift, 0.5 * s - 0.5) < 1e-3  # the released resize drops 0.5 s - 0.5
    assert torch.equal(ours["cameras"].K[:, 0, 0], off["cameras"].K[:, 0, 0])
