"""Human3.6M dataset on a small fixture written in the exact preprocessed format (pickled dict, structured arrays)."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

from lt_core.camera import Camera
from lt_core.data.human36m import (
    Human36MDataset,
    Human36MFormatError,
    collate_samples,
    load_h36m_labels,
    square_bbox,
)

CAMERAS = ["54138969", "55011271", "58860488", "60457274"]
ACTIONS = ["Directions-1", "Greeting-2"]
SUBJECTS = ["S1", "S9"]
FULL = 200  # the fixture's full-frame images are 200 x 200 (real ones are 1000 x 1000/1002)
CAM_DTYPE = np.dtype(
    [("R", np.float32, (3, 3)), ("t", np.float32, (3, 1)), ("K", np.float32, (3, 3)), ("dist", np.float32, (5,))]
)
TABLE_DTYPE = np.dtype(
    [
        ("subject_idx", np.int8),
        ("action_idx", np.int8),
        ("frame_idx", np.int16),
        ("keypoints", np.float32, (17, 3)),
        ("bbox_by_camera_tlbr", np.int16, (4, 4)),
    ]
)


def _pose(frame: int) -> np.ndarray:
    rng = np.random.default_rng(frame)
    base = np.array(
        [
            [-100, 0, 80],
            [-100, 0, 480],
            [-100, 0, 900],
            [100, 0, 900],
            [100, 0, 480],
            [100, 0, 80],
            [0, 0, 900],
            [0, 0, 1150],
            [0, 0, 1400],
            [0, 0, 1650],
            [-300, 0, 900],
            [-250, 0, 1150],
            [-180, 0, 1400],
            [180, 0, 1400],
            [250, 0, 1150],
            [300, 0, 900],
            [0, 30, 1550],
        ],
        float,
    )
    return (base + rng.normal(scale=20, size=base.shape) + [10.0 * frame, 0, 0]).astype(np.float32)


def _cameras(distort: bool) -> np.ndarray:
    arr = np.zeros((2, 4), dtype=CAM_DTYPE)
    for s in range(2):
        for c in range(4):
            ang = c * math.pi / 2 + 0.4 + 0.05 * s
            eye = (4500 * math.cos(ang), 4500 * math.sin(ang), 1500.0)
            cam = Camera.look_at(
                eye, (0.0, 0.0, 900.0), focal=230.0 + c, image_size=(FULL, FULL), principal=(101.0 - c, 98.0 + c)
            )
            arr[s, c] = (
                cam.R.numpy(),
                cam.t.numpy().reshape(3, 1),
                cam.K.numpy(),
                [-0.2, 0.2, 0.001, -0.001, 0.0] if distort else [0.0] * 5,
            )
    return arr


def _blob_image(uv: np.ndarray) -> np.ndarray:
    """Black image with a Gaussian blob at each (u, v) (pixel centres at integers)."""
    v, u = np.mgrid[0:FULL, 0:FULL].astype(float)
    img = np.zeros((FULL, FULL))
    for x, y in uv:
        img += np.exp(-((u - x) ** 2 + (v - y) ** 2) / (2 * 2.0**2))
    img = (255 * np.clip(img, 0, 1)).astype(np.uint8)
    return np.stack([img, img // 2, img // 4], -1)  # reddish RGB, to check the channel order


def make_fixture(root: Path, distort: bool = True) -> dict:
    """Write labels + JPEGs in the real layout; a blob marks the head (joint 9) in every image."""
    from PIL import Image

    cams_arr = _cameras(distort)
    rows = []
    for s, subject in enumerate(SUBJECTS):
        for a, action in enumerate(ACTIONS):
            for frame in (0, 5, 10):
                X = _pose(frame + 100 * s + 10 * a)
                bboxes = np.zeros((4, 4), np.int16)
                for c, cam_name in enumerate(CAMERAS):
                    rec = cams_arr[s, c]
                    cam = Camera(rec["K"], rec["R"], rec["t"], rec["dist"])
                    uv = cam.project(torch.as_tensor(X, dtype=torch.float64)).numpy()
                    missing = subject == "S9" and action == "Greeting-2" and c == 0 and frame == 5
                    if not missing:
                        lo, hi = np.floor(uv.min(0)) - 5, np.ceil(uv.max(0)) + 5
                        bboxes[c] = [lo[1], lo[0], hi[1], hi[0]]  # top, left, bottom, right
                        for seq in ("imageSequence", "imageSequence-undistorted"):
                            folder = root / "processed" / subject / action / seq / cam_name
                            folder.mkdir(parents=True, exist_ok=True)
                            Image.fromarray(_blob_image(uv[9:10])).save(folder / f"img_{frame + 1:06d}.jpg", quality=95)
                rows.append((s, a, frame, X, bboxes))
    table = np.array(rows, dtype=TABLE_DTYPE)
    labels = {
        "subject_names": SUBJECTS,
        "camera_names": CAMERAS,
        "action_names": ACTIONS,
        "cameras": cams_arr,
        "table": table,
    }
    (root / "extra").mkdir(parents=True, exist_ok=True)
    np.save(root / "extra" / "human36m-multiview-labels-GTbboxes.npy", labels)
    return labels


@pytest.fixture(scope="module")
def fixture_root(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("h36m")
    make_fixture(root)
    return root


def test_labels_reader_round_trip(fixture_root):
    labels = load_h36m_labels(fixture_root / "extra" / "human36m-multiview-labels-GTbboxes.npy")
    assert labels["subject_names"] == SUBJECTS and labels["camera_names"] == CAMERAS
    assert labels["table"].dtype == TABLE_DTYPE and len(labels["table"]) == 12


def test_splits_filters_and_label_only(fixture_root):
    train = Human36MDataset(fixture_root, split="train", load_images=False)
    val = Human36MDataset(fixture_root, split="val", load_images=False)
    assert len(train) == 6 and len(val) == 6
    assert {train[i]["meta"]["subject"] for i in range(len(train))} == {"S1"}
    assert len(Human36MDataset(fixture_root, split="val", exclude_damaged=True, load_images=False)) == 3
    assert len(Human36MDataset(fixture_root, split="all", frame_step=2, load_images=False)) == 6
    assert len(Human36MDataset(fixture_root, split="all", actions=["Greeting"], load_images=False)) == 6
    s = val[0]
    assert "images" not in s
    assert s["joints_3d"].shape == (17, 3) and s["joints_3d"].dtype == torch.float32
    assert s["joints_valid"].all() and s["views_valid"].all()
    assert s["cameras"].batch_shape == (4,) and s["cameras"].names == CAMERAS
    assert s["meta"] == {**s["meta"], "dataset": "human36m", "subject": "S9", "action": "Directions-1", "frame": 0}
    assert train.image_path("S1", "Directions-1", CAMERAS[1], 5).name == "img_000006.jpg"


def test_images_crops_and_cameras_agree(fixture_root):
    """The blob drawn at the head's full-frame projection appears where the crop camera projects the head."""
    ds = Human36MDataset(fixture_root, split="all", image_size=64)
    for index in (0, 7):
        s = ds[index]
        imgs = s["images"]
        assert imgs.shape == (4, 3, 64, 64) and imgs.dtype == torch.float32 and 0 <= imgs.min() and imgs.max() <= 1
        assert imgs[:, 0].sum() > imgs[:, 2].sum()  # RGB order (red blob)
        uv = s["cameras"].to(torch.float64).project(s["joints_3d"][9:10].double())[:, 0]  # (4, 2)
        for c in range(4):
            red = imgs[c, 0].double()
            v, u = torch.meshgrid(
                torch.arange(64.0, dtype=torch.float64), torch.arange(64.0, dtype=torch.float64), indexing="ij"
            )
            near = ((u - uv[c, 0]) ** 2 + (v - uv[c, 1]) ** 2 < 6**2).double() * red
            centroid = torch.stack([(near * u).sum(), (near * v).sum()]) / near.sum()
            # 0.1 px: tight enough to catch a half-pixel convention slip (that would shift it by ~0.15 px here)
            assert (centroid - uv[c]).norm() < 0.1, (index, c, centroid, uv[c])
        box = s["meta"]["bbox_ltrb"]
        assert ((box[:, 2] - box[:, 0]) == (box[:, 3] - box[:, 1])).all()  # squared boxes


def test_missing_view_and_undistorted(fixture_root):
    ds = Human36MDataset(fixture_root, split="val", image_size=32)
    rows = [i for i in range(len(ds)) if ds.table[i]["action_idx"] == 1 and ds.table[i]["frame_idx"] == 5]
    s = ds[rows[0]]
    assert s["views_valid"].tolist() == [False, True, True, True]
    assert s["images"][0].abs().sum() == 0
    und = Human36MDataset(fixture_root, split="val", image_size=32, undistorted=True)
    assert not und[0]["cameras"].has_distortion and ds[0]["cameras"].has_distortion
    wide = Human36MDataset(fixture_root, split="val", image_size=(48, 32))[0]
    assert wide["images"].shape == (4, 3, 32, 48) and wide["cameras"].image_size[0].tolist() == [48.0, 32.0]
    assert "imageSequence-undistorted" in str(und.image_path("S9", "Directions-1", CAMERAS[0], 0))


def test_collate_batches(fixture_root):
    ds = Human36MDataset(fixture_root, split="train", image_size=32)
    batch = next(iter(DataLoader(ds, batch_size=3, collate_fn=collate_samples)))
    assert batch["images"].shape == (3, 4, 3, 32, 32)
    assert batch["cameras"].batch_shape == (3, 4) and batch["cameras"].projection.shape == (3, 4, 3, 4)
    assert batch["joints_3d"].shape == (3, 17, 3) and batch["views_valid"].shape == (3, 4)
    assert len(batch["meta"]) == 3 and batch["meta"][0]["subject"] == "S1"


def test_label_only_triangulation_recovers_joints(fixture_root):
    """Projecting with the sample cameras and triangulating returns the 3D joints (cameras are consistent)."""
    from lt_core.ops.triangulation import triangulate

    ds = Human36MDataset(fixture_root, split="train", load_images=False, undistorted=True)
    s = ds[2]
    cams = s["cameras"].to(torch.float64)
    uv = cams.project(s["joints_3d"].double()[None].expand(4, 17, 3))
    X = triangulate(uv, cams.projection)
    torch.testing.assert_close(X, s["joints_3d"].double(), atol=0.05, rtol=0)


def test_square_bbox():
    assert square_bbox((10, 20, 30, 60)) == (0, 20, 40, 60)
    assert square_bbox((10, 20, 50, 30)) == (10, 5, 50, 45)
    l, t, r, b = square_bbox((0, 0, 100, 100), scale=1.5)
    assert (r - l, b - t) == (150, 150) and (l + r, t + b) == (100, 100)


def test_errors(tmp_path, fixture_root):
    with pytest.raises(FileNotFoundError, match="human36m-multiview-labels-GTbboxes.npy"):
        Human36MDataset(tmp_path)
    labels = make_fixture(tmp_path / "broken")
    table = labels["table"]
    fields = [n for n in table.dtype.names if n != "bbox_by_camera_tlbr"]
    labels["table"] = np.array(table[fields].tolist(), dtype=[(n, table.dtype[n]) for n in fields])
    bad = tmp_path / "bad.npy"
    np.save(bad, labels)
    with pytest.raises(Human36MFormatError, match=r"bad\.npy.*bbox_by_camera_tlbr"):
        load_h36m_labels(bad)
    np.save(bad, np.zeros(3))
    with pytest.raises(Human36MFormatError, match="bad.npy"):
        load_h36m_labels(bad)
    with pytest.raises(ValueError, match="S7"):
        Human36MDataset(fixture_root, subjects=["S7"])
    ds = Human36MDataset(fixture_root, split="train")
    missing = ds.image_path("S1", "Directions-1", CAMERAS[2], 0)
    missing.rename(missing.with_suffix(".bak"))
    try:
        with pytest.raises(FileNotFoundError, match=r"S1/Directions-1/imageSequence/58860488/img_000001\.jpg"):
            ds[0]
    finally:
        missing.with_suffix(".bak").rename(missing)
