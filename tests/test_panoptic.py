"""CMU Panoptic dataset on a fixture written in the panoptic-toolbox layout (cm, y-down world, joints19)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import project_panoptic_cm
from torch.utils.data import DataLoader

from lt_core.data.human36m import collate_samples
from lt_core.data.panoptic import PanopticDataset, PanopticFormatError, panoptic_to_zup, read_panoptic_bodies
from lt_core.skeleton import COCO19, H36M17

SEQ = "171204_pose1"
RES = (320, 180)  # the fixture's "HD" images are small; the real ones are 1920 x 1080
HD = ["00_00", "00_03", "00_06", "00_12"]
# a standing person in Panoptic's frame: cm, y DOWN (floor at y = 0)
BODY_CM = {
    "Neck": (0, -150, 0),
    "Nose": (0, -160, 6),
    "BodyCenter": (0, -100, 0),
    "LShoulder": (18, -148, 0),
    "LElbow": (25, -120, 0),
    "LWrist": (28, -95, 3),
    "LHip": (10, -95, 0),
    "LKnee": (10, -50, 2),
    "LAnkle": (10, -8, 0),
    "RShoulder": (-18, -148, 0),
    "RElbow": (-25, -120, 0),
    "RWrist": (-28, -95, 3),
    "RHip": (-10, -95, 0),
    "RKnee": (-10, -50, 2),
    "RAnkle": (-10, -8, 0),
    "REye": (-3, -163, 8),
    "LEye": (3, -163, 8),
    "REar": (-7, -160, 0),
    "LEar": (7, -160, 0),
}


def _look_at_ydown(centre: np.ndarray, target=(0.0, -90.0, 0.0)) -> np.ndarray:
    z = np.asarray(target) - centre
    z /= np.linalg.norm(z)
    x = np.cross(np.array([0.0, 1.0, 0.0]), z)
    x /= np.linalg.norm(x)
    return np.stack([x, np.cross(z, x), z])


def _calibration() -> dict:
    cams = []
    for i, name in enumerate(HD + ["01_01"]):
        ang = 2 * math.pi * i / 5
        centre = np.array([400.0 * math.cos(ang), -180.0 + 20 * i, 400.0 * math.sin(ang)])
        R = _look_at_ydown(centre)
        typ, res = ("vga", [64, 48]) if name == "01_01" else ("hd", list(RES))
        cams.append(
            {
                "name": name,
                "type": typ,
                "resolution": res,
                "panel": int(name[:2]),
                "node": int(name[3:]),
                "K": [[210.0 + i, 0.0, res[0] / 2 + 1.5], [0.0, 211.0, res[1] / 2 - 1.0], [0.0, 0.0, 1.0]],
                "distCoef": [-0.05, 0.01, 0.0005, -0.0004, 0.0],
                "R": R.tolist(),
                "t": (-R @ centre).reshape(3, 1).tolist(),
            }
        )
    return {"calibDataSource": "fixture", "cameras": cams}


def body(frame: int, offset_x: float) -> np.ndarray:
    j = np.array([BODY_CM[n] for n in COCO19.joints], dtype=float) + [offset_x + 0.5 * frame, 0.0, 0.0]
    return np.concatenate([j, np.full((19, 1), 0.7)], 1)  # (19, 4) x, y, z, c


def _blob(uv: np.ndarray) -> np.ndarray:
    v, u = np.mgrid[0 : RES[1], 0 : RES[0]].astype(float)
    g = np.exp(-((u - uv[0]) ** 2 + (v - uv[1]) ** 2) / (2 * 2.0**2))
    img = (255 * g).astype(np.uint8)
    return np.stack([img, img // 2, img // 4], -1)


def make_fixture(root: Path) -> dict:
    """Write calibration, 3 pose files (2 bodies; id 7 absent in the last) and HD images with a blob at the neck."""
    from PIL import Image

    seq = root / SEQ
    (seq / "hdPose3d_stage1_coco19").mkdir(parents=True)
    calib = _calibration()
    (seq / f"calibration_{SEQ}.json").write_text(json.dumps(calib))
    for frame in (100, 101, 102):
        a, b = body(frame, 0.0), body(frame, 80.0)
        a[5, 3] = -1.0  # LWrist of body 3 invalid
        bodies = [{"id": 3, "joints19": a.reshape(-1).tolist()}]
        if frame != 102:
            bodies.append({"id": 7, "joints19": b.reshape(-1).tolist()})
        doc = {"version": 0.7, "univTime": 1000.0 + frame, "fpsType": "hd_29_97", "bodies": bodies}
        (seq / "hdPose3d_stage1_coco19" / f"body3DScene_{frame:08d}.json").write_text(json.dumps(doc))
        for cam in calib["cameras"]:
            if cam["type"] != "hd":
                continue
            folder = seq / "hdImgs" / cam["name"]
            folder.mkdir(parents=True, exist_ok=True)
            uv = project_panoptic_cm(cam, a[:1, :3])[0]
            Image.fromarray(_blob(uv)).save(folder / f"{cam['name']}_{frame:08d}.jpg", quality=95)
    return calib


@pytest.fixture(scope="module")
def root(tmp_path_factory) -> Path:
    r = tmp_path_factory.mktemp("panoptic")
    make_fixture(r)
    return r


def test_bodies_reader(root):
    bodies = read_panoptic_bodies(root / SEQ / "hdPose3d_stage1_coco19" / "body3DScene_00000100.json")
    assert [b[0] for b in bodies] == [3, 7] and bodies[0][1].shape == (19, 4)
    assert bodies[0][1][5, 3] == -1


def test_units_axes_and_joint_mapping(root):
    ds = PanopticDataset(root, SEQ, cameras=3, load_images=False)
    assert len(ds) == 5 and ds.camera_names[SEQ] == ["00_00", "00_03", "00_06"]  # 2 + 2 + 1 people
    s = ds[0]
    raw = body(100, 0.0)
    # (x, y, z)_ours = 10 * (x, z, -y)_panoptic: up is +z, floor at z = 0, a proper rotation
    pelvis = torch.tensor([10 * raw[2, 0], 10 * raw[2, 2], -10 * raw[2, 1]], dtype=torch.float32)
    torch.testing.assert_close(s["joints_3d"][H36M17.index("Pelvis")], pelvis)
    assert s["joints_3d"][H36M17.index("Thorax"), 2] == 1500.0
    head = H36M17.index("Head")
    assert s["joints_3d"][head, 2] > s["joints_3d"][H36M17.index("RAnkle"), 2] + 1400
    lw = H36M17.index("LWrist")
    assert not s["joints_valid"][lw] and (s["joints_3d"][lw] == 0).all()
    assert s["joints_valid"].sum() == 16
    assert s["meta"]["dataset"] == "panoptic" and s["meta"]["person_id"] == 3 and s["meta"]["frame"] == 100
    native = PanopticDataset(root, SEQ, cameras=["00_12", "00_03"], load_images=False, skeleton="coco19")[0]
    assert native["joints_3d"].shape == (19, 3) and native["cameras"].names == ["00_12", "00_03"]
    assert native["joints_valid"].tolist() == [i != 5 for i in range(19)]
    assert torch.linalg.det(torch.tensor([[1.0, 0, 0], [0, 0, 1], [0, -1, 0]])) == 1
    torch.testing.assert_close(
        panoptic_to_zup(np.array([1.0, 2.0, 3.0])), torch.tensor([10.0, 30.0, -20.0], dtype=torch.float64)
    )


def test_person_selection(root):
    ds = PanopticDataset(root, SEQ, cameras=2, load_images=False, person=7)
    assert len(ds) == 2 and {ds[i]["meta"]["person_id"] for i in range(2)} == {7}
    assert ds[0]["joints_valid"].all()
    assert len(PanopticDataset(root, SEQ, cameras=2, load_images=False, frame_step=2)) == 3  # frames 100 and 102


def test_multi_person_frames_give_every_person(root):
    """A frame with two people is two samples (one skeleton each), not just the first body of the file."""
    ds = PanopticDataset(root, SEQ, cameras=2, load_images=False)
    keys = [(ds[i]["meta"]["frame"], ds[i]["meta"]["person_id"]) for i in range(len(ds))]
    assert keys == [(100, 3), (100, 7), (101, 3), (101, 7), (102, 3)]
    for i, (frame, pid) in enumerate(keys):
        raw = body(frame, 0.0 if pid == 3 else 80.0)
        pelvis = panoptic_to_zup(raw[2:3, :3])[0].float()  # BodyCenter -> Pelvis
        torch.testing.assert_close(ds[i]["joints_3d"][H36M17.index("Pelvis")], pelvis)
        assert ds[i]["meta"]["subject"] == str(pid)
    # the two people of frame 101 are 80 cm apart along Panoptic's x (= our x)
    dx = ds[3]["joints_3d"][:, 0] - ds[2]["joints_3d"][:, 0]
    valid = ds[2]["joints_valid"] & ds[3]["joints_valid"]
    torch.testing.assert_close(dx[valid], torch.full_like(dx[valid], 800.0))


def test_cameras_project_like_panoptic_and_crops_agree(root):
    """The neck, projected in cm/y-down by the raw calibration, lands where our converted crop camera puts it."""
    calib = json.loads((root / SEQ / f"calibration_{SEQ}.json").read_text())
    ds = PanopticDataset(root, SEQ, cameras=4, image_size=48, person=3)
    s = ds[1]
    assert s["images"].shape == (4, 3, 48, 48) and s["views_valid"].all()
    full = ds.sequence_cameras(SEQ)
    neck_cm = body(101, 0.0)[:1, :3]
    neck_ours = panoptic_to_zup(neck_cm)
    for c in range(4):
        np.testing.assert_allclose(
            full[c].project(neck_ours).numpy(), project_panoptic_cm(calib["cameras"][c], neck_cm), atol=1e-6
        )
    uv = s["cameras"].to(torch.float64).project(s["joints_3d"][H36M17.index("Thorax")][None].double())[:, 0]
    v, u = torch.meshgrid(
        torch.arange(48.0, dtype=torch.float64), torch.arange(48.0, dtype=torch.float64), indexing="ij"
    )
    for c in range(4):
        red = s["images"][c, 0].double()
        near = ((u - uv[c, 0]) ** 2 + (v - uv[c, 1]) ** 2 < 5**2).double() * red
        centroid = torch.stack([(near * u).sum(), (near * v).sum()]) / near.sum()
        assert (centroid - uv[c]).norm() < 0.15, (c, centroid, uv[c])
    # every valid joint falls inside the square crop
    valid = s["joints_valid"]
    uv_all = s["cameras"].to(torch.float64).project(s["joints_3d"][valid].double())
    assert ((uv_all > -0.5) & (uv_all < 47.5)).all()


def test_missing_image_marks_view_invalid_and_collate(root):
    img = root / SEQ / "hdImgs" / "00_06" / "00_06_00000102.jpg"
    img.rename(img.with_suffix(".bak"))
    try:
        ds = PanopticDataset(root, SEQ, cameras=4, image_size=32, person=3)
        s = ds[2]
        assert s["views_valid"].tolist() == [True, True, False, True] and s["images"][2].abs().sum() == 0
        batch = next(iter(DataLoader(ds, batch_size=3, collate_fn=collate_samples)))
        assert batch["images"].shape == (3, 4, 3, 32, 32) and batch["cameras"].batch_shape == (3, 4)
        assert batch["joints_valid"].shape == (3, 17)
    finally:
        img.with_suffix(".bak").rename(img)


def test_errors(tmp_path, root):
    with pytest.raises(FileNotFoundError, match=f"calibration_{SEQ}.json"):
        PanopticDataset(tmp_path, SEQ)
    (tmp_path / SEQ).mkdir()
    (tmp_path / SEQ / f"calibration_{SEQ}.json").write_text(json.dumps(_calibration()))
    with pytest.raises(FileNotFoundError, match="hdPose3d_stage1_coco19"):
        PanopticDataset(tmp_path, SEQ)
    pose = tmp_path / SEQ / "hdPose3d_stage1_coco19"
    pose.mkdir()
    (pose / "body3DScene_00000001.json").write_text(json.dumps({"bodies": [{"id": 0, "joints19": [0.0] * 75}]}))
    with pytest.raises(PanopticFormatError, match=r"body3DScene_00000001\.json.*joints19"):
        PanopticDataset(tmp_path, SEQ)
    (pose / "body3DScene_00000001.json").write_text(json.dumps({"version": 0.7}))
    with pytest.raises(PanopticFormatError, match="bodies"):
        PanopticDataset(tmp_path, SEQ)
    with pytest.raises(ValueError, match="skeleton"):
        PanopticDataset(root, SEQ, skeleton="body25b")
