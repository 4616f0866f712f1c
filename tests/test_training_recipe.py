"""Tests of the embedded training recipe: crop jitter at render time, the uint8 render cache, read-time augmentation,
the training facts for captions, and ``scripts/train_embedded.py`` at a tiny size."""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from torch.utils.data import Dataset

from lt_core.camera import Camera
from lt_core.data.augment import PIVOT_LEGS, TILT_CLEARANCE, jitter_boxes, pivot_pose, roll_crop_cameras, tilt_pose
from lt_core.data.synthetic import SyntheticMultiViewDataset
from lt_core.render import seed_from
from lt_core.train.batching import SeededDataset
from lt_core.train.rendered import ColorJitter, Compose, Occluders, RenderedDataset, ViewDropout, cache_key

REPO = Path(__file__).resolve().parents[1]


pytestmark = pytest.mark.usefixtures("one_thread")


def _dataset(**kw) -> SyntheticMultiViewDataset:
    opts = dict(clips=["02_01"], max_frames_per_clip=2, image_size=128, random_views=False)
    opts.update(kw)
    return SyntheticMultiViewDataset("train", **opts)


# ---------------------------------------------------------------------------------------------- crop jitter
def test_rolled_camera_turns_projections_about_the_crop_centre():
    K = torch.tensor([[300.0, 0, 70.0], [0, 300.0, 55.0], [0, 0, 1]], dtype=torch.float64)
    cam = Camera(
        K[None],
        torch.eye(3, dtype=torch.float64)[None],
        torch.tensor([[10.0, -20.0, 3000.0]]),
        image_size=torch.tensor([[128.0, 128.0]]),
    )
    X = torch.randn(1, 17, 3, dtype=torch.float64) * 300
    angle = torch.tensor([0.4], dtype=torch.float64)
    rolled = roll_crop_cameras(cam, angle)
    c = torch.tensor([63.5, 63.5], dtype=torch.float64)
    rot = torch.tensor([[math.cos(0.4), -math.sin(0.4)], [math.sin(0.4), math.cos(0.4)]], dtype=torch.float64)
    expected = c + (cam.project(X) - c) @ rot.T
    assert torch.allclose(rolled.project(X), expected, atol=1e-9)
    assert torch.allclose(rolled.depth(X), cam.depth(X))  # a roll keeps depths


def test_jitter_boxes_stay_within_their_amplitudes():
    boxes = torch.tensor([[100.0, 200.0, 300.0, 400.0]] * 64, dtype=torch.float64)
    out, roll = jitter_boxes(boxes, {"scale": 0.1, "shift": 0.05, "roll": 15.0}, seed=3)
    side = out[:, 2] - out[:, 0]
    assert torch.allclose(side, out[:, 3] - out[:, 1])  # still square
    assert (side / 200).log().abs().max() <= 0.1 + 1e-12 and (side / 200).std() > 0.02
    shift = (0.5 * (out[:, :2] + out[:, 2:]) - torch.tensor([200.0, 300.0], dtype=torch.float64)) / side[:, None]
    assert shift.abs().max() <= 0.05 + 1e-12
    assert roll.abs().max() <= math.radians(15) + 1e-12 and roll.std() > 0.05
    again, _ = jitter_boxes(boxes, {"scale": 0.1, "shift": 0.05, "roll": 15.0}, seed=3)
    assert torch.equal(out, again)
    assert jitter_boxes(boxes, {"scale": 0.1}, seed=3)[1] is None


def test_crop_roll_rotates_the_rendered_person_with_its_labels():
    plain = _dataset(max_frames_per_clip=1, view_indices=[0])
    rolled_ds = _dataset(max_frames_per_clip=1, view_indices=[0], crop_jitter={"roll": 30.0})
    assert plain.config_key() != rolled_ds.config_key()
    a, b = plain[0], rolled_ds[0]
    _, roll = jitter_boxes(a["meta"]["bbox_ltrb"].double(), {"roll": 30.0}, seed=seed_from(0, "02_01", 0, "crop"))
    uv_a = a["cameras"].project(a["joints_3d"][None])[0]
    uv_b = b["cameras"].project(b["joints_3d"][None])[0]
    c = torch.tensor([63.5, 63.5])
    th = float(roll[0])
    rot = torch.tensor([[math.cos(th), -math.sin(th)], [math.sin(th), math.cos(th)]])
    assert torch.allclose(uv_b, c + (uv_a - c) @ rot.T, atol=0.5)  # fx, fy differ by 1 in 1145

    def rotated(img, angle):  # image turned by `angle` about its centre (the direction of the labels above)
        ca, sa = math.cos(angle), math.sin(angle)
        theta = torch.tensor([[ca, sa, 0.0], [-sa, ca, 0.0]], dtype=torch.float32)[None]
        grid = F.affine_grid(theta, [1, 3, 128, 128], align_corners=False)
        return F.grid_sample(img[None], grid, align_corners=False)[0]

    person = (a["images"][0] - a["images"][0].mean((1, 2), keepdim=True)).abs().sum(0) > 0.3
    right = (rotated(a["images"][0], th) - b["images"][0]).abs().mean()
    wrong = (rotated(a["images"][0], -th) - b["images"][0]).abs().mean()
    assert person.any() and right < 0.6 * wrong


def test_crop_jitter_rejects_unknown_keys_and_negative_amplitudes():
    with pytest.raises(ValueError, match="unknown keys \\['zoom'\\]"):
        _dataset(crop_jitter={"zoom": 0.1})
    with pytest.raises(ValueError, match="finite and >= 0"):
        _dataset(crop_jitter={"scale": -0.1})
    assert _dataset(crop_jitter={"scale": 0.0}).config_key() == _dataset().config_key()


def test_tilted_poses_keep_their_shape_and_stay_above_the_floor():
    joints = _dataset(max_frames_per_clip=1, placement="center")[0]["joints_3d"]
    tilted = [tilt_pose(joints, 1.0, 180.0, seed=k) for k in range(20)]
    d0 = torch.cdist(joints.double(), joints.double())
    for t in tilted:
        assert torch.allclose(torch.cdist(t.double(), t.double()), d0, atol=1e-3)  # a rigid motion
        assert float(t[:, 2].min()) >= TILT_CLEARANCE - 1e-3
    up = lambda j: 0.5 * (j[12] + j[13]) - 0.5 * (j[2] + j[3])  # noqa: E731
    angles = [math.degrees(math.acos(float(up(t)[2] / up(t).norm()))) for t in tilted]
    assert max(angles) > 120 and min(angles) < 60  # upside down and nearly upright among the draws
    assert torch.equal(tilt_pose(joints, 0.0, 180.0, seed=1), joints)
    assert torch.equal(tilt_pose(joints, 1.0, 90.0, seed=4), tilt_pose(joints, 1.0, 90.0, seed=4))
    assert _dataset(pose_tilt=(0.5, 90.0)).config_key() != _dataset().config_key()
    with pytest.raises(ValueError, match="pose_tilt must be"):
        _dataset(pose_tilt=(1.5, 90.0))


def test_pivoted_poses_hinge_about_the_standing_leg():
    from lt_core.skeleton import H36M17

    joints = _dataset(max_frames_per_clip=1, placement="center")[0]["joints_3d"]
    stance = "right" if joints[0, 2] <= joints[5, 2] else "left"
    hip, below = PIVOT_LEGS[stance]
    free_ankle = 5 if stance == "right" else 0
    bones0 = H36M17.bone_lengths(joints.double())
    trunk = lambda j: math.degrees(math.acos(float((j[8] - j[6])[2] / (j[8] - j[6]).norm())))  # noqa: E731
    pivoted = [pivot_pose(joints, 1.0, 150.0, seed=k) for k in range(30)]
    for p in pivoted:
        assert torch.equal(p[[hip, *below]], joints[[hip, *below]])  # the standing leg stays where it was
        assert torch.allclose(H36M17.bone_lengths(p.double()), bones0, atol=1e-3)
        moved = [j for j in range(17) if j not in (hip, *below)]
        assert float(p[moved, 2].min()) >= TILT_CLEARANCE - 1e-3 or torch.equal(p, joints)
    split = [p for p in pivoted if trunk(p) > 90]
    assert len(split) >= 5, "half the draws should bring the trunk past the horizontal"
    for p in split:  # trunk down, the other leg up: a standing split
        assert float(p[free_ankle, 2]) > float(joints[free_ankle, 2]) + 500.0
        assert float(p[9, 2]) < float(joints[9, 2]) - 500.0
    assert torch.equal(pivot_pose(joints, 0.0, 150.0, seed=1), joints)
    assert torch.equal(pivot_pose(joints, 1.0, 90.0, seed=4), pivot_pose(joints, 1.0, 90.0, seed=4))
    with pytest.raises(ValueError, match="Human3.6M-17"):
        pivot_pose(joints[:16], 1.0, 90.0, seed=0)
    assert _dataset(pose_pivot=(0.5, 90.0)).config_key() != _dataset().config_key()
    assert _dataset(pose_pivot=(0.0, 90.0)).config_key() == _dataset().config_key()
    with pytest.raises(ValueError, match="pose_pivot must be"):
        _dataset(pose_pivot=(0.5, -1.0))


# ---------------------------------------------------------------------------------------------- rendered sets
def test_rendered_dataset_matches_its_source_and_reloads_from_the_cache(tmp_path):
    src = _dataset(crop_jitter={"scale": 0.1, "roll": 10.0})
    first = RenderedDataset(src, workers=0, cache_dir=tmp_path)
    assert not first.loaded_from_cache and len(first) == 2 and first.images.dtype == torch.uint8
    s, ref = first[1], src[1]
    assert (s["images"] - ref["images"]).abs().max() <= 0.5 / 255 + 1e-6
    assert torch.allclose(s["cameras"].K, ref["cameras"].K) and s["cameras"].names == ref["cameras"].names
    assert torch.equal(s["joints_3d"], ref["joints_3d"]) and s["meta"]["clip"] == "02_01"
    again = RenderedDataset(src, workers=0, cache_dir=tmp_path)
    assert again.loaded_from_cache and torch.equal(again.images, first.images)
    assert torch.equal(again[1]["cameras"].R, s["cameras"].R) and again.clips == ["02_01"]
    other = _dataset(max_frames_per_clip=1)
    assert cache_key(other) != cache_key(src)  # other frames, other key


def test_float32_storage_keeps_the_rendered_images_exactly(tmp_path):
    src = _dataset()
    exact = RenderedDataset(src, workers=0, cache_dir=tmp_path, storage="float32")
    assert exact.images.dtype == torch.float32 and exact.cache_path.suffix == ".f32"
    ref = src[1]
    assert torch.equal(exact[1]["images"], ref["images"]) and torch.equal(exact[1]["cameras"].t, ref["cameras"].t)
    exact[1]["images"].zero_()  # reads are copies: an in-place transform cannot change the store
    assert torch.equal(exact[1]["images"], ref["images"])
    again = RenderedDataset(src, workers=0, cache_dir=tmp_path, storage="float32")
    assert again.loaded_from_cache and torch.equal(again.images, exact.images)
    assert cache_key(src, "float32") != cache_key(src)  # uint8 and float32 caches never mix
    with pytest.raises(ValueError, match="storage must be one of"):
        RenderedDataset(src, workers=0, storage="float16")


class _Sizes(Dataset):
    def __init__(self):
        self.base = _dataset(max_frames_per_clip=1)

    def __len__(self):
        return 2

    def __getitem__(self, i):
        s = dict(self.base[0])
        if i == 1:
            s["images"] = s["images"][:, :, :64]
        return s


def test_rendered_dataset_refuses_samples_of_different_shapes():
    with pytest.raises(ValueError, match="sample 1 has images .* every sample needs the same views and size"):
        RenderedDataset(_Sizes(), workers=0)


def test_augmentations_are_seeded_and_keep_labels():
    src = RenderedDataset(
        _dataset(), workers=0, transform=Compose([Occluders(prob=1.0), ColorJitter(), ViewDropout(prob=1.0)])
    )
    seeded = SeededDataset(src, seed=5)
    a, b = seeded[0], seeded[0]
    assert torch.equal(a["images"], b["images"]) and torch.equal(a["views_valid"], b["views_valid"])
    plain = src.sample(0)
    assert not torch.equal(a["images"], plain["images"]) and a["images"].min() >= 0 and a["images"].max() <= 1
    assert torch.equal(a["joints_3d"], plain["joints_3d"]) and torch.equal(a["cameras"].K, plain["cameras"].K)
    kept = [int(SeededDataset(src, seed=k)[0]["views_valid"].sum()) for k in range(30)]
    assert min(kept) >= 1 and max(kept) <= 3 and len(set(kept)) == 3
    assert int(ViewDropout(prob=1.0, min_views=2)(plain)["views_valid"].sum()) >= 2
    with pytest.raises(ValueError, match="min_views >= 1"):
        ViewDropout(min_views=0)


# ---------------------------------------------------------------------------------------------- facts and script
def test_training_facts_and_paper_scale_parameters(tmp_path):
    from lt_core.models import AlgebraicTriangulationNet, BackboneConfig
    from lt_core.paper_facts import paper_parameters, training_caption, training_facts, training_table

    assert paper_parameters("ransac") == paper_parameters("algebraic_noconf")
    with torch.device("meta"):
        head = AlgebraicTriangulationNet(BackboneConfig.paper(), use_confidences=True).backbone.alg_confidences
    assert paper_parameters("algebraic") - paper_parameters("algebraic_noconf") == sum(
        p.numel() for p in head.parameters()
    )
    assert paper_parameters("volumetric") > 50 * 10**6
    with pytest.raises(FileNotFoundError, match="no manifest missing.json"):
        training_facts(tmp_path / "missing.pt")
    manifest = {
        "config": {
            "model": "volumetric",
            "image_size": [128, 128],
            "model_options": {"volume_size": 16, "cuboid_side": 2200.0},
        },
        "parameters": 1393474,
        "train_s": 600.0,
        "pipeline_s": 5400.0,
        "train_steps": 4000,
        "threads": 1,
        "train_data": {"clips": 42, "frames": 12000, "views_per_frame": 4, "images": 48000},
    }
    (tmp_path / "vol.json").write_text(json.dumps(manifest))
    f = training_facts(tmp_path / "vol.pt")
    assert (f.method, f.frames, f.clips, f.views, f.volume_size) == ("volumetric", 12000, 42, 4, 16)
    assert f.total_s == 5400.0 and f.stage_s == 600.0  # the recorded pipeline, not backbone + own stage
    text = training_caption({"volumetric": tmp_path / "vol.pt", "algebraic": None})
    assert (
        "trained 90 min at most on a 2-core CPU (volumetric, rendering and every stage it builds on included)" in text
    )
    assert "on 12,000 rendered frames x 4 views of 42 motion clips, 128 px crops, 16^3 voxels over 2.2 m" in text
    assert "384 px crops, 64^3 voxels over 2.5 m" in text
    table = training_table({"volumetric": tmp_path / "vol.pt"})
    assert table.loc[0, "parameters"] == 1393474 and table.loc[0, "paper: volume"] == "64^3 over 2.5 m"
    assert table.loc[0, "training time"] == "90 min (rendering and earlier stages 80 min, its own 4000 steps 10 min)"
    assert table.loc[0, "paper: parameters"] == paper_parameters("volumetric")
    del manifest["pipeline_s"], manifest["train_data"]  # an older manifest: the time adds up the recorded stages
    (tmp_path / "vol.json").write_text(json.dumps(manifest))
    assert training_facts(tmp_path / "vol.pt").total_s != 5400.0


def test_train_embedded_script_at_a_tiny_size(tmp_path):
    sys.path.insert(0, str(REPO / "scripts"))
    try:
        import train_embedded
    finally:
        sys.path.remove(str(REPO / "scripts"))
    out = {k: tmp_path / k for k in ("runs", "ckpt", "tables", "renders")}
    args = [
        "--quick",
        "--train-split",
        "train",
        "--eval-split",
        "val",
        "--render-workers",
        "0",
        "--batch-size",
        "2",
        *sum(
            (
                [f"--{k if k != 'ckpt' else 'checkpoints'}".replace("renders", "render-cache"), str(v)]
                for k, v in out.items()
            ),
            [],
        ),
    ]
    assert train_embedded.main(args) == 0
    table = (out["tables"] / "embedded_h36m_rig.md").read_text()
    assert "QUICK SMOKE RUN" in table and "131_03" in table and "05_06" in table
    per_clip = (out["tables"] / "embedded_h36m_rig_per_clip.csv").read_text()
    assert "pooled" in per_clip and "family: cmu" in per_clip
    vol = json.loads((out["ckpt"] / "embedded_vol_softmax.json").read_text())
    assert vol["pipeline"] == ["2d", "alg_conf", "vol_softmax"] and vol["train_data"]["clips"] == 5
    assert {"test_mpjpe_rel", "test_mpjpe_rel_single_view", "test_mpjpe_rel_two_clips"} <= set(vol["metrics"])
    assert vol["init_from"] == "embedded_alg_conf" and vol["config"]["lr_schedule"] == "cosine"
    with pytest.raises(SystemExit):
        train_embedded.main(["--stages", "3d"])
