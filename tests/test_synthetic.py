"""The embedded synthetic multi-view dataset: sample format, split, determinism, geometry of its cameras."""

from __future__ import annotations

import pytest
import torch
from torch.utils.data import DataLoader

from lt_core.data.rigs import human36m_like_rig
from lt_core.data.sample import check_sample, collate_samples
from lt_core.data.synthetic import TRAIN_CLIPS, VAL_CLIPS, SyntheticMultiViewDataset
from lt_core.ops.triangulation import triangulate
from lt_core.render import render


@pytest.fixture(scope="module")
def small() -> SyntheticMultiViewDataset:
    return SyntheticMultiViewDataset(clips=["02_01"], image_size=64, max_frames_per_clip=6, seed=3)


def test_split_by_clip_has_no_overlap():
    assert not set(TRAIN_CLIPS) & set(VAL_CLIPS)
    train = SyntheticMultiViewDataset("train", load_images=False)
    val = SyntheticMultiViewDataset("val", load_images=False)
    assert {c for c, _ in train.index} == set(TRAIN_CLIPS)
    assert {c for c, _ in val.index} == set(VAL_CLIPS)
    assert len(train) > 2 * len(val) > 0
    assert val[0]["meta"]["clip"] in VAL_CLIPS and "images" not in val[0]


def test_sample_format(small):
    s = small[2]
    check_sample(s)
    assert s["images"].shape == (4, 3, 64, 64) and s["images"].dtype == torch.float32
    assert 0.0 <= float(s["images"].min()) and float(s["images"].max()) <= 1.0
    assert s["joints_3d"].shape == (17, 3) and s["joints_3d"].dtype == torch.float32
    assert s["joints_valid"].all() and s["views_valid"].shape == (4,)
    assert tuple(s["cameras"].batch_shape) == (4,) and s["cameras"].dtype == torch.float32
    m = s["meta"]
    assert m["dataset"] == "embedded-h36m-rig" and m["clip"] == "02_01" and m["action"].startswith("02_01")
    assert m["subject"].startswith("cmu02-") and isinstance(m["frame"], int)
    assert m["camera_names"] == ["cam_0", "cam_1", "cam_2", "cam_3"]
    # feet on the floor, person in the capture area
    assert -50 < float(s["joints_3d"][:, 2].min()) < 250
    assert float(s["joints_3d"][6, :2].norm()) <= 1000.0 + 1e-3


def test_deterministic_given_seed(small):
    a = small[4]
    b = SyntheticMultiViewDataset(clips=["02_01"], image_size=64, max_frames_per_clip=6, seed=3)[4]
    assert torch.equal(a["images"], b["images"]) and torch.equal(a["joints_3d"], b["joints_3d"])
    assert torch.equal(a["cameras"].K, b["cameras"].K)
    c = SyntheticMultiViewDataset(clips=["02_01"], image_size=64, max_frames_per_clip=6, seed=4)[4]
    assert not torch.equal(a["images"], c["images"])


def test_triangulating_projected_ground_truth_recovers_3d(small):
    batch = collate_samples([small[i] for i in range(len(small))])
    cams, X = batch["cameras"], batch["joints_3d"]
    assert tuple(cams.batch_shape) == (len(small), 4) and batch["images"].shape[:2] == (len(small), 4)
    uv = cams.project(X[:, None].expand(-1, 4, -1, -1))  # (B, C, 17, 2)
    Xt = triangulate(uv.double(), cams.projection.double())
    assert float((Xt - X.double()).norm(dim=-1).max()) < 1.0


def test_crop_cameras_consistent_with_images(small):
    for i in (0, 5):
        s, setup = small[i], small.item_setup(i)
        # the sample's cameras project the joints where the rendered images show the body
        out = render(s["joints_3d"], s["cameras"], setup["body"], setup["scene"], return_parts=True)
        uv = s["cameras"].project(s["joints_3d"][None].expand(4, 17, 3)).round().long().clamp(0, 63)
        parts = out.parts[torch.arange(4)[:, None], uv[..., 1], uv[..., 0]]
        vis = s["meta"]["joints_visible"]
        assert vis.float().mean() > 0.7
        assert (parts[vis] >= 0).float().mean() > 0.95
        # joints sit well inside the crops (the box holds the whole silhouette)
        assert bool(((uv > 0) & (uv < 63)).all())


def test_random_view_subsets_and_dome(tmp_path):
    ds = SyntheticMultiViewDataset(
        clips=["131_03"],
        rig="dome",
        num_views=3,
        random_views=True,
        image_size=48,
        max_frames_per_clip=4,
        cache_dir=tmp_path,
    )
    names = [tuple(ds[i]["meta"]["camera_names"]) for i in range(len(ds))]
    assert all(len(n) == 3 for n in names) and len(set(names)) > 1
    assert ds[0]["meta"]["dataset"] == "embedded-dome"
    assert len(list(tmp_path.glob("*.pt"))) == len(ds)
    cached = ds[1]  # read back from the cache
    fresh = SyntheticMultiViewDataset(
        clips=["131_03"], rig="dome", num_views=3, random_views=True, image_size=48, max_frames_per_clip=4
    )[1]
    assert torch.equal(cached["images"], fresh["images"]) and torch.equal(cached["cameras"].t, fresh["cameras"].t)
    assert cached["meta"]["camera_names"] == fresh["meta"]["camera_names"]


def test_custom_rig_and_dataloader():
    rig = human36m_like_rig()[[0, 2]]
    ds = SyntheticMultiViewDataset(
        clips=["02_01"], rig=rig, image_size=(48, 32), max_frames_per_clip=4, placement="center"
    )
    batch = next(iter(DataLoader(ds, batch_size=4, collate_fn=collate_samples)))
    assert batch["images"].shape == (4, 2, 3, 32, 48)
    assert tuple(batch["cameras"].batch_shape) == (4, 2)
    assert batch["views_valid"].all() and len(batch["meta"]) == 4
    assert batch["meta"][0]["dataset"] == "embedded-custom-rig"
    assert torch.allclose(batch["joints_3d"][:, 6, :2], torch.zeros(4, 2), atol=1e-3)
