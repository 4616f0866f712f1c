"""EasyMocap intri.yml / extri.yml (OpenCV FileStorage YAML, as EasyMocap and cv2 write them) and anipose's
calibration.toml (as aniposelib's CameraGroup.dump writes it), read into our convention."""

from __future__ import annotations

import json
import math
import re

import numpy as np
import pytest
import torch
from conftest import project_panoptic_cm, random_points

from lt_core.camera import Camera, stack_cameras
from lt_core.data.calibration import CalibrationError, load_panoptic_calibration, load_toml_calibration
from lt_core.data.calibration_formats import load_anipose_calibration, load_easymocap_cameras
from lt_core.data.opencv_yaml import read_opencv_yaml
from lt_core.rotation import matrix_to_rodrigues


def rig(n: int = 3) -> Camera:
    cams = []
    for i in range(n):
        a = 2 * math.pi * i / n + 0.4
        c = Camera.look_at(
            [3500 * math.cos(a), 3500 * math.sin(a), 1400.0 + 100 * i],
            [0.0, 0.0, 900.0],
            focal=1100.0 + 25 * i,
            image_size=(1920, 1080),
            principal=(958.0 + i, 541.0 - i),
        )
        cams.append(Camera(c.K, c.R, c.t, torch.tensor([-0.31 + 0.02 * i, 0.12, 0.0011, -0.0007, -0.02]), c.image_size))
    out = stack_cameras(cams)
    out.names = [f"{i + 1:02d}" for i in range(n)]
    return out


# ------------------------------------------------------------------------------------------- EasyMocap writers
def easymocap_files(folder, cams: Camera, dist_key: str = "dist", sizes: bool = True):
    """intri.yml / extri.yml exactly as EasyMocap's FileStorage writes them: CR LF, 2-space indent, data on one line
    with 6 decimals, names quoted, T in metres, R_ as a 3x1 Rodrigues vector and Rot_ as the 3x3 matrix."""

    def mat(key, value):
        value = np.asarray(value, dtype=float)
        return [
            f"{key}: !!opencv-matrix",
            f"  rows: {value.shape[0]}",
            f"  cols: {value.shape[1]}",
            "  dt: d",
            "  data: [{}]".format(", ".join(f"{v:.6f}" for v in value.reshape(-1))),
        ]

    intri, extri = ["%YAML:1.0", "---", "names:"], ["%YAML:1.0", "---", "names:"]
    for n in cams.names:
        intri.append(f'  - "{n}"')
        extri.append(f'  - "{n}"')
    for c, n in enumerate(cams.names):
        intri += mat(f"K_{n}", cams.K[c]) + mat(f"{dist_key}_{n}", cams.dist[c][None])
        if sizes:
            intri += [f"H_{n}: {int(cams.image_size[c, 1])}", f"W_{n}: {int(cams.image_size[c, 0])}"]
        extri += mat(f"R_{n}", matrix_to_rodrigues(cams.R[c])[:, None]) + mat(f"Rot_{n}", cams.R[c])
        extri += mat(f"T_{n}", cams.t[c][:, None] / 1000.0)
    (folder / "intri.yml").write_bytes(("\r\n".join(intri) + "\r\n").encode())
    (folder / "extri.yml").write_bytes(("\r\n".join(extri) + "\r\n").encode())
    return folder / "intri.yml", folder / "extri.yml"


def opencv_style(value: np.ndarray, key: str) -> list[str]:
    """A matrix as cv2.FileStorage writes it: 3-space indent, %.16e numbers, data wrapped over lines."""
    flat = [f"{v:.16e}" if v != 0 else "0." for v in np.asarray(value, dtype=float).reshape(-1)]
    lines = [f"{key}: !!opencv-matrix", f"   rows: {value.shape[0]}", f"   cols: {value.shape[1]}", "   dt: d"]
    chunks = [flat[i : i + 4] for i in range(0, len(flat), 4)]
    body = [", ".join(ch) for ch in chunks]
    lines.append("   data: [ " + body[0] + ("," if len(body) > 1 else " ]"))
    for k, b in enumerate(body[1:], 1):
        lines.append("       " + b + ("," if k < len(body) - 1 else " ]"))
    return lines


def assert_same(a: Camera, b: Camera, atol_t: float = 1e-9, atol: float = 1e-9) -> None:
    assert a.names == b.names and a.distortion_model == "opencv"
    torch.testing.assert_close(a.K, b.K, atol=atol, rtol=0)
    torch.testing.assert_close(a.R, b.R, atol=max(atol, 1e-6 if atol_t > 1e-6 else atol), rtol=0)
    torch.testing.assert_close(a.t, b.t, atol=atol_t, rtol=0)
    torch.testing.assert_close(a.dist, b.dist, atol=atol, rtol=0)


def test_easymocap_files_as_easymocap_writes_them(tmp_path):
    truth = rig()
    intri, extri = easymocap_files(tmp_path, truth)
    cams = load_easymocap_cameras(intri, extri)
    assert_same(cams, truth, atol_t=1e-3, atol=1e-6)  # 6 decimals in the files; T in metres
    assert cams.image_size.tolist() == [[1920.0, 1080.0]] * 3
    # projections agree with an independent OpenCV projection of the file's numbers
    X = random_points(1, 20)[0]
    doc_i, doc_e = read_opencv_yaml(intri), read_opencv_yaml(extri)
    for c, n in enumerate(cams.names):
        ref = {
            "K": doc_i[f"K_{n}"],
            "R": doc_e[f"Rot_{n}"],
            "t": 1000 * doc_e[f"T_{n}"],
            "distCoef": doc_i[f"dist_{n}"][0],
        }
        np.testing.assert_allclose(cams[c].project(X).numpy(), project_panoptic_cm(ref, X.numpy()), atol=2e-3)
    assert load_easymocap_cameras(intri, extri, names=["03", "01"]).names == ["03", "01"]
    cm = load_easymocap_cameras(intri, extri, units="cm")
    torch.testing.assert_close(cm.t * 100, cams.t)


def test_easymocap_files_as_opencv_writes_them(tmp_path):
    truth = rig(2)
    truth.names = ["1", "2"]
    intri = ["%YAML:1.0", "---", "# written by cv2.FileStorage", "names:", "   - 1", '   - "2"']
    extri = ["%YAML:1.0", "---", "names:", "   - 1", '   - "2"']
    for c, n in enumerate(truth.names):
        intri += opencv_style(truth.K[c].numpy(), f"K_{n}") + opencv_style(truth.dist[c][:, None].numpy(), f"D_{n}")
        intri += [f"H_{n}: -1", f"W_{n}: -1"]  # EasyMocap's "size unknown"
        extri += opencv_style(matrix_to_rodrigues(truth.R[c])[:, None].numpy(), f"R_{n}")
        extri += opencv_style(truth.t[c][:, None].numpy() / 1000.0, f"T_{n}")
    (tmp_path / "intri.yml").write_text("\n".join(intri) + "\n")
    (tmp_path / "extri.yml").write_text("\n".join(extri) + "\n")
    cams = load_easymocap_cameras(tmp_path / "intri.yml", tmp_path / "extri.yml")
    assert_same(cams, truth, atol_t=1e-9, atol=1e-9)
    assert cams.image_size is None
    doc = read_opencv_yaml(tmp_path / "intri.yml")
    assert doc["names"] == [1, "2"] and doc["K_1"].shape == (3, 3) and doc["H_1"] == -1


def test_easymocap_errors_name_file_camera_and_field(tmp_path):
    intri, extri = easymocap_files(tmp_path, rig(2))
    good_i, good_e = intri.read_text(), extri.read_text()
    intri.write_text(good_i.replace("K_02", "Q_02"))
    with pytest.raises(CalibrationError, match=r"intri\.yml, camera '02'.*'K_02'"):
        load_easymocap_cameras(intri, extri)
    intri.write_text(good_i.replace("dist_02", "D2_02"))
    with pytest.raises(CalibrationError, match=r"camera '02'.*missing field 'dist_02' \(or 'D_02'\)"):
        load_easymocap_cameras(intri, extri)
    intri.write_text(good_i.replace("  rows: 3", "  rows: 4", 1))
    with pytest.raises(CalibrationError, match=r"intri\.yml: line \d+: K_01: 4x3 matrix needs 12 values"):
        load_easymocap_cameras(intri, extri)
    intri.write_text(good_i.replace("%YAML:1.0", "YAML"))
    with pytest.raises(CalibrationError, match="must start with '%YAML:1.0'"):
        load_easymocap_cameras(intri, extri)
    intri.write_text(good_i)
    identity = "data: [1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0]"
    extri.write_text(
        re.sub(r"(Rot_02: !!opencv-matrix\r?\n(?:  .*\r?\n){3}  )data: \[[^\]]*\]", r"\g<1>" + identity, good_e)
    )
    with pytest.raises(CalibrationError, match=r"extri\.yml, camera '02'.*'R_02'.*'Rot_02'.*different rotations"):
        load_easymocap_cameras(intri, extri)
    extri.write_text(good_e.replace("T_01", "X_01"))
    with pytest.raises(CalibrationError, match=r"extri\.yml, camera '01'.*'T_01'"):
        load_easymocap_cameras(intri, extri)
    extri.write_text(good_e)
    intri.write_text(good_i.replace("names:", "cameras:"))
    with pytest.raises(CalibrationError, match="missing field 'names'"):
        load_easymocap_cameras(intri, extri)
    with pytest.raises(ValueError, match="units"):
        load_easymocap_cameras(intri, extri, units="inch")
    with pytest.raises(FileNotFoundError, match="nothere.yml"):
        load_easymocap_cameras(tmp_path / "nothere.yml", extri)


# ------------------------------------------------------------------------------------------------------ anipose
def anipose_toml(cams: Camera, keys: list[str], scale: float = 1.0) -> str:
    """calibration.toml exactly as aniposelib's CameraGroup.dump writes it with the toml package (arrays with a
    trailing comma, a [metadata] table), translations in the board's unit (mm / scale)."""

    def arr(v):
        v = np.asarray(v)
        if v.ndim == 2:
            return "[ " + ", ".join(arr(r) for r in v) + ",]"
        return (
            "[ "
            + ", ".join(repr(float(x)) if not float(x).is_integer() or v.dtype.kind == "f" else str(int(x)) for x in v)
            + ",]"
        )

    out = []
    for c, key in enumerate(keys):
        size = [int(v) for v in cams.image_size[c].tolist()]
        out += [
            f"[{key}]",
            f'name = "{cams.names[c]}"',
            f"size = [ {size[0]}, {size[1]},]",
            f"matrix = {arr(cams.K[c].numpy())}",
            f"distortions = {arr(cams.dist[c].numpy())}",
            f"rotation = {arr(matrix_to_rodrigues(cams.R[c]).numpy())}",
            f"translation = {arr(cams.t[c].numpy() / scale)}",
            "",
        ]
    out += ["[metadata]", "adjusted = true", "error = 0.7311", ""]
    return "\n".join(out)


def test_anipose_calibration_units_and_camera_order(tmp_path):
    truth = rig(11)
    truth.names = [f"cam{i}" for i in range(11)]
    path = tmp_path / "calibration.toml"
    path.write_text(anipose_toml(truth, [f"cam_{i}" for i in range(11)]))
    cams = load_anipose_calibration(path)
    # CameraGroup.load sorts the table keys as strings: cam_0, cam_1, cam_10, cam_2, ...
    order = sorted(range(11), key=lambda i: f"cam_{i}")
    assert cams.names == [f"cam{i}" for i in order]
    assert_same(cams, truth[order], atol_t=1e-9, atol=1e-12)
    assert cams.image_size[0].tolist() == [1920.0, 1080.0]
    X = random_points(1, 10)[0]
    torch.testing.assert_close(cams.project(X), truth[order].project(X))
    # a board measured in metres
    path.write_text(anipose_toml(truth, [f"cam_{i}" for i in range(11)], scale=1000.0))
    torch.testing.assert_close(load_anipose_calibration(path, units="m").t, cams.t)
    assert load_anipose_calibration(path, units="m", names=["cam3", "cam1"]).names == ["cam3", "cam1"]


def test_anipose_errors(tmp_path):
    truth = rig(2)
    text = anipose_toml(truth, ["cam_0", "cam_1"])
    path = tmp_path / "calibration.toml"
    path.write_text(text.replace('name = "02"', 'name = "02"\nfisheye = true'))
    with pytest.raises(NotImplementedError, match=r"'02'.*fisheye"):
        load_anipose_calibration(path)
    path.write_text(text.replace("distortions", "distortion"))
    with pytest.raises(CalibrationError, match=r"calibration\.toml, camera '01' \(\[cam_0\]\).*'distortions'"):
        load_anipose_calibration(path)
    path.write_text("[metadata]\nadjusted = false\n")
    with pytest.raises(CalibrationError, match="no camera tables"):
        load_anipose_calibration(path)
    path.write_text("[cam_0\n")
    with pytest.raises(CalibrationError, match="not valid TOML"):
        load_anipose_calibration(path)


# ------------------------------------------------------------------------------------------------ CMU Panoptic
def test_panoptic_kinect_type_and_unknown_types(tmp_path):
    cams = []
    for i, (name, typ) in enumerate(
        [("00_00", "hd"), ("50_01", "kinect-color"), ("50_02", "kinect-color"), ("01_01", "vga")]
    ):
        R = np.eye(3)
        cams.append(
            {
                "name": name,
                "type": typ,
                "resolution": [1920, 1080],
                "K": [[1000.0, 0, 960], [0, 1000, 540], [0, 0, 1]],
                "distCoef": [0.0] * 5,
                "R": R.tolist(),
                "t": [[0.0], [0.0], [300.0 + i]],
            }
        )
    p = tmp_path / "calibration_seq.json"
    p.write_text(json.dumps({"cameras": cams}))
    assert load_panoptic_calibration(p, camera_type="kinect").names == ["50_01", "50_02"]
    assert load_panoptic_calibration(p, camera_type="kinect-color").names == ["50_01", "50_02"]
    with pytest.raises(CalibrationError, match=r"no camera of type 'kinect-depth'.*\['hd', 'kinect-color', 'vga'\]"):
        load_panoptic_calibration(p, camera_type="kinect-depth")


def test_pose2sim_reader_is_not_the_anipose_reader(tmp_path):
    """Same fields, different conventions: Pose2Sim's translations are metres in file order."""
    truth = rig(3)
    path = tmp_path / "calibration.toml"
    path.write_text(anipose_toml(truth, ["cam_0", "cam_1", "cam_2"], scale=1000.0))  # metres, like Pose2Sim
    torch.testing.assert_close(load_toml_calibration(path).t, load_anipose_calibration(path, units="m").t)
