"""Calibration readers/writers: round trips in the real formats, unit and frame conversions, clear errors."""

from __future__ import annotations

import json
import math
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import project_panoptic_cm

from lt_core.camera import Camera, stack_cameras
from lt_core.data.calibration import (
    PANOPTIC_TO_ZUP,
    CalibrationError,
    h36m_camera_from_raw,
    h36m_cameras_from_labels,
    load_h36m_cameras_h5,
    load_panoptic_calibration,
    load_rig_json,
    load_toml_calibration,
    rotate_world,
    save_panoptic_calibration,
    save_rig_json,
    save_toml_calibration,
)
from lt_core.rotation import rodrigues_to_matrix

DATA = Path(__file__).resolve().parents[1] / "data" / "pose2sim_balancing"
TOML = DATA / "calibration" / "Calib_qualisys.toml"


def _rot(seed: int) -> np.ndarray:
    q, r = np.linalg.qr(np.random.default_rng(seed).normal(size=(3, 3)))
    q = q * np.sign(np.diag(r))
    return q if np.linalg.det(q) > 0 else -q


def _assert_same(a: Camera, b: Camera, atol: float = 1e-6) -> None:
    assert a.names == b.names
    for x, y in ((a.K, b.K), (a.R, b.R), (a.t, b.t), (a.dist, b.dist)):
        torch.testing.assert_close(x.double(), y.double(), atol=atol, rtol=0)
    if a.image_size is not None or b.image_size is not None:
        torch.testing.assert_close(a.image_size.double(), b.image_size.double())


# ------------------------------------------------------------------------------------------------ Pose2Sim TOML
def test_toml_real_file_units_and_centres_match_qualisys_export():
    cams = load_toml_calibration(TOML)
    assert cams.names == ["cam_01", "cam_02", "cam_03", "cam_04"]
    assert cams.batch_shape == (4,)
    assert cams.image_size[0].tolist() == [1088.0, 1920.0]
    # the .qca export (an independent file) states each camera centre in mm
    root = ET.parse(DATA / "calibration" / "Calib.qca.txt").getroot()
    centres = [[float(c.find("transform").get(k)) for k in "xyz"] for c in root.iter("camera")]
    torch.testing.assert_close(cams.center, torch.tensor(centres, dtype=torch.float64), atol=1.0, rtol=0)
    # cameras are 3-5 m from the origin and 1.7-2.1 m above the floor (Z-up world)
    assert ((cams.center.norm(dim=-1) > 2500) & (cams.center.norm(dim=-1) < 5000)).all()
    assert ((cams.center[:, 2] > 1500) & (cams.center[:, 2] < 2200)).all()


def test_toml_round_trip_and_selection(tmp_path):
    cams = load_toml_calibration(TOML)
    out = save_toml_calibration(tmp_path / "calib.toml", cams)
    _assert_same(load_toml_calibration(out), cams, atol=1e-9)
    two = load_toml_calibration(TOML, names=["cam_03", "cam_01"])
    assert two.names == ["cam_03", "cam_01"]
    torch.testing.assert_close(two.t[1], cams.t[0])


def test_toml_translation_metres_and_rodrigues(tmp_path):
    text = """[cam_1]
name = "a"
size = [ 640.0, 480.0]
matrix = [ [ 500.0, 0.0, 320.0], [ 0.0, 500.0, 240.0], [ 0.0, 0.0, 1.0]]
distortions = [ 0.01, -0.02, 0.001, 0.002]
rotation = [ 0.1, -0.2, 0.3]
translation = [ 0.5, -1.0, 2.0]
fisheye = false

[metadata]
adjusted = false
error = 0.0
"""
    p = tmp_path / "c.toml"
    p.write_text(text)
    cam = load_toml_calibration(p)
    torch.testing.assert_close(cam.t[0], torch.tensor([500.0, -1000.0, 2000.0], dtype=torch.float64))
    torch.testing.assert_close(cam.R[0], rodrigues_to_matrix(torch.tensor([0.1, -0.2, 0.3], dtype=torch.float64)))
    torch.testing.assert_close(cam.dist[0], torch.tensor([0.01, -0.02, 0.001, 0.002, 0.0], dtype=torch.float64))


def test_toml_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.toml"):
        load_toml_calibration(tmp_path / "nope.toml")
    good = TOML.read_text()
    fisheye = tmp_path / "fish.toml"
    fisheye.write_text(good.replace("fisheye = false", "fisheye = true", 1))
    with pytest.raises(NotImplementedError, match="fisheye"):
        load_toml_calibration(fisheye)
    bad = tmp_path / "bad.toml"
    bad.write_text(
        good.replace(
            "translation = [ 0.3211048899999996, 0.9563320600000009, 2.8907130499999996]", "translation = [ 0.3, 0.9]"
        )
    )
    with pytest.raises(CalibrationError, match=r"bad\.toml.*cam_01.*translation"):
        load_toml_calibration(bad)
    broken = tmp_path / "broken.toml"
    broken.write_text("[cam_01\nmatrix = ")
    with pytest.raises(CalibrationError, match="broken.toml"):
        load_toml_calibration(broken)
    missing = tmp_path / "missing.toml"
    missing.write_text(good.replace("rotation = [ 1.6882754799999993, 1.0483220499999997, -0.41955852000000016]\n", ""))
    with pytest.raises(CalibrationError, match=r"cam_01.*'rotation'"):
        load_toml_calibration(missing)
    with pytest.raises(CalibrationError, match="cam_09"):
        load_toml_calibration(TOML, names=["cam_09"])
    cam = load_toml_calibration(TOML)
    cam.dist[0, 4] = 0.1
    with pytest.raises(ValueError, match="k3"):
        save_toml_calibration(tmp_path / "k3.toml", cam)


# ------------------------------------------------------------------------------------------------ CMU Panoptic
def _panoptic_doc() -> dict:
    cams = []
    for i, (name, typ, res) in enumerate(
        [
            ("00_00", "hd", [1920, 1080]),
            ("00_03", "hd", [1920, 1080]),
            ("01_01", "vga", [640, 480]),
            ("00_06", "hd", [1920, 1080]),
        ]
    ):
        centre_cm = np.array([300.0 * math.cos(i), -150.0, 300.0 * math.sin(i)])  # cameras above the floor: y < 0
        R = _look_at_ydown(centre_cm)
        t = -R @ centre_cm
        cams.append(
            {
                "name": name,
                "type": typ,
                "resolution": res,
                "panel": int(name[:2]),
                "node": int(name[3:]),
                "K": [[1400.0 + i, 0.0, res[0] / 2 + 3], [0.0, 1401.0, res[1] / 2 - 2], [0.0, 0.0, 1.0]],
                "distCoef": [-0.2 + 0.01 * i, 0.1, 0.001, -0.0005, -0.01],
                "R": R.tolist(),
                "t": t.reshape(3, 1).tolist(),
            }
        )
    return {"calibDataSource": "fixture", "cameras": cams}


def _look_at_ydown(centre: np.ndarray, target=(0.0, -90.0, 0.0)) -> np.ndarray:
    z = np.asarray(target) - centre
    z /= np.linalg.norm(z)
    x = np.cross(np.array([0.0, 1.0, 0.0]), z)  # image x; world "down" is +y, image v points down
    x /= np.linalg.norm(x)
    y = np.cross(z, x)
    return np.stack([x, y, z])


def test_panoptic_selection_units_and_round_trip(tmp_path):
    doc = _panoptic_doc()
    p = tmp_path / "calibration_seq.json"
    p.write_text(json.dumps(doc))
    hd = load_panoptic_calibration(p)
    assert hd.names == ["00_00", "00_03", "00_06"]
    assert hd.image_size[0].tolist() == [1920.0, 1080.0]
    assert load_panoptic_calibration(p, count=2).names == ["00_00", "00_03"]
    assert load_panoptic_calibration(p, camera_type="vga").image_size[0].tolist() == [640.0, 480.0]
    named = load_panoptic_calibration(p, names=["00_06", "00_00"])
    assert named.names == ["00_06", "00_00"]
    torch.testing.assert_close(named.t[1], 10 * torch.tensor(doc["cameras"][0]["t"], dtype=torch.float64).reshape(3))
    for z_up in (False, True):
        cams = load_panoptic_calibration(p, camera_type=None, z_up=z_up)
        back = save_panoptic_calibration(tmp_path / f"out_{z_up}.json", cams, z_up=z_up)
        raw = json.loads(back.read_text())["cameras"]
        for a, b in zip(raw, doc["cameras"]):
            for key in ("R", "t", "K", "distCoef"):
                np.testing.assert_allclose(a[key], b[key], atol=1e-9)
        _assert_same(load_panoptic_calibration(back, camera_type=None, z_up=z_up), cams, atol=1e-9)


def test_panoptic_cm_ydown_point_projects_to_same_pixel_after_conversion(tmp_path):
    doc = _panoptic_doc()
    p = tmp_path / "calibration_seq.json"
    p.write_text(json.dumps(doc))
    cams = load_panoptic_calibration(p, camera_type=None, z_up=True)
    X_cm = np.array([[10.0, -170.0, 5.0], [-20.0, -90.0, 12.0], [3.0, -2.0, -8.0]])  # head, pelvis, foot (y down)
    X_ours = torch.as_tensor(10.0 * X_cm) @ PANOPTIC_TO_ZUP.T
    assert torch.det(PANOPTIC_TO_ZUP) == 1.0
    assert (X_ours[:, 2] > 0).all() and X_ours[0, 2] == 1700.0  # up is +z, floor at z = 0
    for c, raw in enumerate(doc["cameras"]):
        uv = cams[c].project(X_ours)
        np.testing.assert_allclose(uv.numpy(), project_panoptic_cm(raw, X_cm), atol=1e-6)


def test_panoptic_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="calibration_x.json"):
        load_panoptic_calibration(tmp_path / "calibration_x.json")
    doc = _panoptic_doc()
    del doc["cameras"][1]["K"]
    p = tmp_path / "calibration_bad.json"
    p.write_text(json.dumps(doc))
    with pytest.raises(CalibrationError, match=r"calibration_bad\.json.*00_03.*'K'"):
        load_panoptic_calibration(p)
    doc = _panoptic_doc()
    doc["cameras"][0]["R"] = [[1, 0, 0], [0, 1, 0], [0, 0, 2]]
    p.write_text(json.dumps(doc))
    with pytest.raises(CalibrationError, match=r"00_00.*rotation"):
        load_panoptic_calibration(p)
    p.write_text("{not json")
    with pytest.raises(CalibrationError, match="calibration_bad.json"):
        load_panoptic_calibration(p)
    p.write_text(json.dumps(_panoptic_doc()))
    with pytest.raises(CalibrationError, match="only 3"):
        load_panoptic_calibration(p, count=5)


# ------------------------------------------------------------------------------------------------ Human3.6M
CAM_DTYPE = np.dtype(
    [("R", np.float32, (3, 3)), ("t", np.float32, (3, 1)), ("K", np.float32, (3, 3)), ("dist", np.float32, (5,))]
)


def h36m_camera_array(n_subjects: int = 2, seed: int = 0) -> np.ndarray:
    """A ``cameras`` structured array like the paper's labels: 4 cameras ~4.5 m around, looking at the centre."""
    arr = np.zeros((n_subjects, 4), dtype=CAM_DTYPE)
    for s in range(n_subjects):
        for c in range(4):
            ang = c * math.pi / 2 + 0.3 + 0.01 * s
            eye = np.array([4500 * math.cos(ang), 4500 * math.sin(ang), 1600.0])
            cam = Camera.look_at(
                eye, (0.0, 0.0, 900.0), focal=1145.0 + c, image_size=(1000, 1000), principal=(512.0 - c, 515.0 + c)
            )
            arr[s, c]["R"] = cam.R.numpy()
            arr[s, c]["t"] = cam.t.numpy().reshape(3, 1)
            arr[s, c]["K"] = cam.K.numpy()
            arr[s, c]["dist"] = [-0.2 + 0.01 * c, 0.24, -0.0015, 0.0005, -0.0023]
    return arr


def test_h36m_labels_cameras():
    arr = h36m_camera_array()
    labels = {
        "cameras": arr,
        "subject_names": ["S1", "S9"],
        "camera_names": ["54138969", "55011271", "58860488", "60457274"],
    }
    cams = h36m_cameras_from_labels(labels, "S9")
    assert cams.names == labels["camera_names"]
    assert cams.image_size[:, 1].tolist() == [1002.0, 1000.0, 1000.0, 1002.0]
    X = torch.tensor([[100.0, -200.0, 900.0], [0.0, 0.0, 1700.0]], dtype=torch.float64)
    for c in range(4):
        rec = arr[1, c]
        Xc = X.numpy() @ rec["R"].T.astype(float) + rec["t"].reshape(3).astype(float)
        uv_ideal = (Xc @ rec["K"].T.astype(float))[:, :2] / Xc[:, 2:]
        np.testing.assert_allclose(cams[c].project(X, distort=False).numpy(), uv_ideal, atol=1e-3)
    with pytest.raises(CalibrationError, match="S3"):
        h36m_cameras_from_labels(labels, "S3")


def test_h36m_raw_camera_conversion():
    R = _rot(3)
    C = np.array([1800.0, -3200.0, 1500.0])
    f, c, k, p = (
        np.array([1145.0, 1144.0]),
        np.array([512.5, 515.4]),
        np.array([-0.2, 0.24, -0.0023]),
        np.array([-0.0015, 0.0005]),
    )
    cam = h36m_camera_from_raw(
        R.T, C.reshape(3, 1), f.reshape(2, 1), c.reshape(2, 1), k.reshape(3, 1), p.reshape(2, 1), name="54138969"
    )
    torch.testing.assert_close(cam.R, torch.as_tensor(R))
    torch.testing.assert_close(cam.t, torch.as_tensor(-R @ C))
    torch.testing.assert_close(cam.center, torch.as_tensor(C))
    torch.testing.assert_close(cam.dist, torch.tensor([-0.2, 0.24, -0.0015, 0.0005, -0.0023], dtype=torch.float64))
    assert cam.image_size.tolist() == [1000.0, 1002.0]
    X = np.array([[10.0, 20.0, 900.0]])
    Xc = (R @ (X - C).T).T  # the file's convention X_cam = R (X - C)
    uv = Xc[:, :2] / Xc[:, 2:] * f + c
    np.testing.assert_allclose(cam.project(torch.as_tensor(X), distort=False).numpy(), uv, atol=1e-9)


def test_h36m_h5_reader_missing_file_or_package(tmp_path):
    with pytest.raises(FileNotFoundError, match="cameras.h5"):
        load_h36m_cameras_h5(tmp_path / "cameras.h5")
    try:
        import h5py  # noqa: F401
    except ImportError:
        (tmp_path / "cameras.h5").write_bytes(b"")
        with pytest.raises(ImportError, match="h5py"):
            load_h36m_cameras_h5(tmp_path / "cameras.h5")


# ------------------------------------------------------------------------------------------------ rig JSON / misc
def test_rig_json_round_trip_and_errors(tmp_path):
    cams = stack_cameras(
        [Camera.look_at((3000.0 * math.cos(a), 3000.0 * math.sin(a), 1500.0), (0, 0, 900)) for a in (0.0, 2.0, 4.0)]
    )
    cams.names = ["a", "b", "c"]
    cams.dist = torch.tensor([[0.1, 0.0, 0.0, 0.0, 0.01]] * 3, dtype=torch.float64)
    p = save_rig_json(tmp_path / "rig.json", cams, description="three cameras")
    _assert_same(load_rig_json(p), cams, atol=0)
    one = save_rig_json(tmp_path / "one.json", cams[1])
    assert load_rig_json(one).batch_shape == (1,)
    with pytest.raises(FileNotFoundError, match="absent.json"):
        load_rig_json(tmp_path / "absent.json")
    doc = json.loads(p.read_text())
    del doc["cameras"][2]["R"]
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(doc))
    with pytest.raises(CalibrationError, match=r"bad\.json.*'c'.*'R'"):
        load_rig_json(bad)
    bad.write_text(json.dumps({"cameras": []}))
    with pytest.raises(CalibrationError, match="format"):
        load_rig_json(bad)


def test_rotate_world_keeps_pixels():
    cam = Camera.look_at((3000.0, 1000.0, 1500.0), (0, 0, 900))
    Q = torch.as_tensor(_rot(7))
    X = torch.randn(5, 3, dtype=torch.float64) * 500
    torch.testing.assert_close(rotate_world(cam, Q).project(X @ Q.T), cam.project(X))
