"""``python -m lt_core.triangulate`` on the shipped Pose2Sim demo, its outputs read back, and its error messages."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from lt_core.data.calibration import CalibrationError, load_toml_calibration, save_rig_json
from lt_core.data.pose2sim import Pose2SimDetections, read_trc, write_trc
from lt_core.reconstruct import (
    CALIBRATION_READERS,
    ReconstructionError,
    load_calibration,
    load_detections,
    match_camera_folders,
    triangulate_sequence,
)
from lt_core.skeleton import BODY25B
from lt_core.triangulate import main

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "data" / "pose2sim_balancing"
TOML = DATA / "calibration" / "Calib_qualisys.toml"
POSE = DATA / "pose"


@pytest.fixture(scope="module")
def reference() -> Pose2SimDetections:
    """What notebook 07 triangulates: the demo loaded by the library, confidence-weighted DLT."""
    return Pose2SimDetections.load(DATA)


def _run(*args: str) -> int:
    return main(["--calibration", str(TOML), "--detections", str(POSE), "--quiet", *args])


def test_cli_trc_reads_back_as_the_library_reconstruction(tmp_path: Path, reference, capsys):
    out = tmp_path / "demo.trc"
    assert main(["--calibration", str(TOML), "--detections", str(POSE), "--out", str(out), "--rate", "60"]) == 0
    captured = capsys.readouterr()
    assert "reading detections" in captured.err and "triangulating (dlt)" in captured.err  # progress bars
    assert "2500 of 2500 joint positions triangulated" in captured.out
    trc = read_trc(out)
    X = reference.triangulate().numpy()
    assert trc.marker_names == list(BODY25B.joints) and trc.rate == 60.0
    assert trc.frames.tolist() == [f + 1 for f in reference.frames]  # TRC frame k = detection frame k - 1
    assert np.abs(trc.markers - X).max() < 1e-6  # mm, after metres / Y-up and back
    csv = pd.read_csv(tmp_path / "demo_reprojection.csv")
    assert len(csv) == 100 * 25 and set(csv.columns) >= {"frame", "joint", "views", "mean_reprojection_px"}
    err = reference.reprojection_errors(torch.as_tensor(X)).numpy()
    row = csv[(csv.frame == 40) & (csv.joint == "RWrist")].iloc[0]
    j = BODY25B.joints.index("RWrist")
    assert row.views == int(np.isfinite(err[40, :, j]).sum())
    assert row.mean_reprojection_px == pytest.approx(np.nanmean(err[40, :, j]), abs=0.01)


def test_cli_npz_and_methods(tmp_path: Path, reference):
    frames = "0:30"
    assert _run("--out", str(tmp_path / "dlt.npz"), "--frames", frames) == 0
    assert _run("--out", str(tmp_path / "ransac.npz"), "--frames", frames, "--method", "ransac") == 0
    dlt, ransac = np.load(tmp_path / "dlt.npz"), np.load(tmp_path / "ransac.npz")
    assert dlt["joints_mm"].shape == (30, 25, 3) and dlt["reprojection_px"].shape == (30, 4, 25)
    assert dlt["frames"].tolist() == list(range(30)) and str(dlt["method"]) == "dlt"
    assert dlt["camera_names"].tolist() == ["cam_01", "cam_02", "cam_03", "cam_04"]
    assert np.abs(dlt["joints_mm"] - reference.triangulate()[:30].numpy()).max() < 1e-9
    mean = np.nanmean(np.where(dlt["views_used"], dlt["reprojection_px"], np.nan), 1)
    assert np.allclose(dlt["joint_error_px"], mean, equal_nan=True)
    # RANSAC drops views that disagree: fewer views, smaller error on the views it keeps
    assert ransac["views_used"].sum() < dlt["views_used"].sum()
    assert np.nanmedian(ransac["joint_error_px"]) < np.nanmedian(dlt["joint_error_px"])
    assert np.isfinite(ransac["joints_mm"]).all()


def test_rig_json_calibration_gives_the_same_result(tmp_path: Path):
    rig = save_rig_json(tmp_path / "rig.json", load_toml_calibration(TOML))
    assert (
        main(
            [
                "--calibration",
                str(rig),
                "--detections",
                str(POSE),
                "--out",
                str(tmp_path / "a.npz"),
                "--frames",
                "0:10",
                "--quiet",
            ]
        )
        == 0
    )
    assert _run("--out", str(tmp_path / "b.npz"), "--frames", "0:10") == 0
    a, b = np.load(tmp_path / "a.npz"), np.load(tmp_path / "b.npz")
    assert np.abs(a["joints_mm"] - b["joints_mm"]).max() < 1e-6


@pytest.mark.parametrize(
    "suffix, message",
    [
        (".yml", "name the file intri.yml"),
        (".yaml", "name the file intri.yml"),
        (".xml", "unknown calibration format '.xml'"),
    ],
)
def test_unsupported_calibration_formats(tmp_path: Path, capsys, suffix, message):
    calib = tmp_path / f"calib{suffix}"
    calib.write_text("%YAML:1.0\n")
    rc = main(["--calibration", str(calib), "--detections", str(POSE), "--out", str(tmp_path / "x.trc"), "--quiet"])
    assert rc == 2 and message in capsys.readouterr().err
    assert {".toml", ".json", ".yml"} <= set(CALIBRATION_READERS)
    with pytest.raises(CalibrationError, match=message):
        load_calibration(calib)


def test_bad_output_suffix_and_missing_inputs(tmp_path: Path, capsys):
    assert _run("--out", str(tmp_path / "x.csv")) == 2
    assert "unknown output format '.csv'; use .trc or .npz" in capsys.readouterr().err
    assert (
        main(
            [
                "--calibration",
                str(tmp_path / "nope.toml"),
                "--detections",
                str(POSE),
                "--out",
                str(tmp_path / "x.trc"),
                "--quiet",
            ]
        )
        == 2
    )
    assert "calibration file not found" in capsys.readouterr().err
    assert (
        main(["--calibration", str(TOML), "--detections", str(tmp_path), "--out", str(tmp_path / "x.trc"), "--quiet"])
        == 2
    )
    assert "no sub-folder with OpenPose *.json files" in capsys.readouterr().err


def _copy_pose(tmp_path: Path, names: dict[str, str]) -> Path:
    root = tmp_path / "pose"
    for src, dst in names.items():
        shutil.copytree(POSE / src, root / dst)
    return root


def test_mismatched_camera_names_are_refused(tmp_path: Path, capsys):
    renamed = _copy_pose(
        tmp_path, {"cam01_json": "left", "cam02_json": "right", "cam03_json": "top", "cam04_json": "back"}
    )
    assert (
        main(["--calibration", str(TOML), "--detections", str(renamed), "--out", str(tmp_path / "x.trc"), "--quiet"])
        == 2
    )
    err = capsys.readouterr().err
    assert "no detection folder for cameras ['cam_01', 'cam_02', 'cam_03', 'cam_04']" in err
    assert "detection folders ['back', 'left', 'right', 'top']" in err
    three = _copy_pose(
        tmp_path / "b", {"cam01_json": "cam01_json", "cam02_json": "cam02_json", "cam03_json": "cam03_json"}
    )
    assert (
        main(["--calibration", str(TOML), "--detections", str(three), "--out", str(tmp_path / "x.trc"), "--quiet"]) == 2
    )
    assert "no detection folder for cameras ['cam_04']" in capsys.readouterr().err


def test_match_camera_folders_by_name_then_number():
    names = ["cam_01", "cam_02"]
    assert [p.name for p in match_camera_folders(names, [Path("cam_02_json"), Path("cam_01")])] == [
        "cam_01",
        "cam_02_json",
    ]
    assert [p.name for p in match_camera_folders(names, [Path("video2"), Path("video1")])] == ["video1", "video2"]
    with pytest.raises(ReconstructionError, match="several detection folders carry the number"):
        match_camera_folders(names, [Path("a1"), Path("b1"), Path("c2")])
    with pytest.raises(ReconstructionError, match="cannot pair cameras with detection folders"):
        match_camera_folders(["left", "right"], [Path("a"), Path("b")])


def test_frame_count_mismatch_is_refused_then_reported(tmp_path: Path, capsys):
    root = _copy_pose(tmp_path, {f"cam0{k}_json": f"cam0{k}_json" for k in range(1, 5)})
    (root / "cam02_json" / "cam02.0005.json").unlink()
    args = ["--calibration", str(TOML), "--detections", str(root), "--frames", "0:10", "--quiet"]
    assert main([*args, "--out", str(tmp_path / "x.npz")]) == 2
    err = capsys.readouterr().err
    assert "different frame counts" in err and "cam02_json: 9" in err and "cam02_json lacks [5]" in err
    det, missing = load_detections(TOML, root, range(10), allow_missing=True, progress=False)
    assert missing == {"cam02_json": [5]}
    assert torch.isnan(det.points[5, 1]).all() and (det.confidences[5, 1] == 0).all()
    X, used, _ = triangulate_sequence(det)
    assert not used[5, 1].any() and used[4, 1].any() and torch.isfinite(X[5]).all()
    assert (
        main(
            [
                "--calibration",
                str(TOML),
                "--detections",
                str(root),
                "--frames",
                "0:10",
                "--allow-missing-frames",
                "--out",
                str(tmp_path / "y.npz"),
            ]
        )
        == 0
    )
    assert "warning: cam02_json lacks 1 frames ([5])" in capsys.readouterr().err


def test_write_trc_round_trip_and_checks(tmp_path: Path):
    gen = np.random.default_rng(0)
    X = gen.normal(size=(5, 3, 3)) * 800
    X[2, 1] = np.nan
    write_trc(tmp_path / "a.trc", X, ["A", "B", "C"], 50.0, frames=[11, 12, 13, 14, 15])
    back = read_trc(tmp_path / "a.trc")
    assert back.marker_names == ["A", "B", "C"] and back.rate == 50.0 and back.frames.tolist() == [11, 12, 13, 14, 15]
    assert np.allclose(back.times, np.arange(11, 16) / 50.0)
    assert np.isnan(back.markers[2, 1]).all() and np.nanmax(np.abs(back.markers - X)) < 1e-9
    raw = read_trc(tmp_path / "a.trc", z_up=False)
    assert np.allclose(raw.markers[0, 0], X[0, 0, [1, 2, 0]])  # Y-up file: (x, y, z)_trc = (y, z, x)_ours
    with pytest.raises(ValueError, match="shape \\(T, M, 3\\)"):
        write_trc(tmp_path / "b.trc", X[..., :2], ["A", "B", "C"], 50.0)
    with pytest.raises(ValueError, match="need 3 non-empty marker names"):
        write_trc(tmp_path / "b.trc", X, ["A", "B"], 50.0)


def test_module_runs_from_the_command_line(tmp_path: Path):
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "lt_core.triangulate",
            "--calibration",
            str(TOML),
            "--detections",
            str(POSE),
            "--out",
            str(tmp_path / "x.yml.trc"),
            "--frames",
            "0:3",
            "--quiet",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    assert "wrote" in proc.stdout and (tmp_path / "x.yml.trc").is_file()


def test_easymocap_calibration_drives_the_command(tmp_path: Path):
    """intri.yml (with extri.yml beside it) reconstructs what the TOML calibration does."""
    from test_calibration_formats import easymocap_files

    cams = load_toml_calibration(TOML)
    intri, extri = easymocap_files(tmp_path, cams)
    assert load_calibration(intri).names == cams.names
    assert (
        main(
            [
                "--calibration",
                str(intri),
                "--detections",
                str(POSE),
                "--out",
                str(tmp_path / "e.npz"),
                "--frames",
                "0:5",
                "--quiet",
            ]
        )
        == 0
    )
    assert (
        main(
            [
                "--calibration",
                str(TOML),
                "--detections",
                str(POSE),
                "--out",
                str(tmp_path / "t.npz"),
                "--frames",
                "0:5",
                "--quiet",
            ]
        )
        == 0
    )
    a, b = np.load(tmp_path / "e.npz"), np.load(tmp_path / "t.npz")
    assert np.abs(a["joints_mm"] - b["joints_mm"]).max() < 0.01  # mm; the YAML holds fewer digits than the TOML
    extri.unlink()
    with pytest.raises(CalibrationError, match="needs extri.yml beside it"):
        load_calibration(intri)
