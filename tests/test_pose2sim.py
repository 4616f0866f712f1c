"""Pose2Sim demo: OpenPose JSON and TRC readers, subject selection, and the third-party triangulation check."""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from lt_core.camera import Camera, stack_cameras
from lt_core.data.pose2sim import (
    Pose2SimDetections,
    Pose2SimFormatError,
    pose2sim_check,
    read_openpose_folders,
    read_openpose_json,
    read_trc,
    select_subject,
)
from lt_core.skeleton import BODY25B

DATA = Path(__file__).resolve().parents[1] / "data" / "pose2sim_balancing"
TRC = DATA / "pose-3d" / "S00_P00_T01_BalancingTrial_0-100.trc"


@pytest.fixture(scope="module")
def detections() -> Pose2SimDetections:
    return Pose2SimDetections.load(DATA)


def test_embedded_copy_has_licence_and_provenance():
    assert "BSD 3-Clause" in (DATA / "LICENSE").read_text()
    prov = (DATA / "PROVENANCE.txt").read_text()
    assert "COPIED" in prov and "perfanalytics/pose2sim" in prov
    assert len(list((DATA / "pose").glob("cam0*_json/*.json"))) == 400


def test_openpose_json_reader(tmp_path):
    people = read_openpose_json(DATA / "pose" / "cam01_json" / "cam01.0000.json")
    assert people.shape == (2, 25, 3)
    missing = people[1, :, 2] == 0
    assert missing.any() and (people[1, missing, :2] == 0).all()
    with pytest.raises(FileNotFoundError, match="cam09.0000.json"):
        read_openpose_json(tmp_path / "cam09.0000.json")
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"version": 1.3, "people": [{"person_id": [-1], "pose_keypoints_2d": [1.0, 2.0]}]}))
    with pytest.raises(Pose2SimFormatError, match=r"bad\.json.*person 0.*pose_keypoints_2d"):
        read_openpose_json(bad)
    bad.write_text(json.dumps({"version": 1.3}))
    with pytest.raises(Pose2SimFormatError, match=r"bad\.json.*'people'"):
        read_openpose_json(bad)
    empty = tmp_path / "empty.json"
    empty.write_text(json.dumps({"version": 1.3, "people": []}))
    assert read_openpose_json(empty).shape == (0, 25, 3)


def test_openpose_folders_pad_people():
    people, counts, frames = read_openpose_folders([DATA / "pose" / f"cam0{c}_json" for c in (1, 3)], frames=range(5))
    assert frames == [0, 1, 2, 3, 4]
    assert people.shape[:2] == (5, 2) and people.shape[3:] == (25, 3)
    assert (counts[:, 1] == 1).all() and (people[:, 1, 1:] == 0).all()


def test_trc_reader_units_axes():
    trc = read_trc(TRC)
    assert len(trc.marker_names) == 21 and trc.markers.shape == (100, 21, 3)
    assert trc.frames[0] == 1 and trc.rate == 60
    assert set(trc.marker_names) <= set(BODY25B.joints)
    z = trc.markers[..., 2]
    assert -50 < np.nanmin(z) < 100 and 1500 < np.nanmax(z) < 2000  # mm, Z-up: feet at the floor, head ~1.7 m
    head_above_feet = trc.marker("Head")[:, 2] - trc.marker("RAnkle")[:, 2]
    assert (head_above_feet > 1000).all()
    raw = read_trc(TRC, z_up=False)
    np.testing.assert_allclose(raw.markers[..., [2, 0, 1]], trc.markers)


def test_trc_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="none.trc"):
        read_trc(tmp_path / "none.trc")
    lines = TRC.read_text().splitlines()
    bad = tmp_path / "bad.trc"
    bad.write_text("\n".join(lines[:2] + [lines[2].replace("\t21\t", "\t20\t", 1)] + lines[3:]))
    with pytest.raises(Pose2SimFormatError, match=r"bad\.trc.*NumMarkers"):
        read_trc(bad)
    bad.write_text("hello\n")
    with pytest.raises(Pose2SimFormatError, match="PathFileType"):
        read_trc(bad)


def test_trc_markers_project_onto_detections(detections):
    """Pose2Sim's reconstruction, projected with the TOML cameras, lands on the chosen detections (< 20 px)."""
    trc = read_trc(TRC)
    idx = [BODY25B.joints.index(n) for n in trc.marker_names]
    X = torch.full((100, 25, 3), float("nan"), dtype=torch.float64)
    X[:, idx] = torch.as_tensor(trc.markers)
    err = detections.reprojection_errors(X).numpy()
    per_camera = [np.nanmedian(err[:, c]) for c in range(4)]
    assert max(per_camera) < 20 and min(per_camera) > 5, per_camera


def test_detections_loader_shapes(detections):
    d = detections
    assert d.points.shape == (100, 4, 25, 2) and d.confidences.shape == (100, 4, 25)
    assert d.cameras.batch_shape == (4,) and d.cameras.names == ["cam_01", "cam_02", "cam_03", "cam_04"]
    assert d.image_size == (1088, 1920) and d.frames[0] == 0 and d.frames[-1] == 99
    missing = d.confidences == 0
    assert torch.isnan(d.points[missing]).all() and torch.isfinite(d.points[~missing]).all()
    und = d.undistorted_points
    shift = (und - d.points).norm(dim=-1)
    assert 0 < float(np.nanmax(shift.numpy())) < 20  # mild lens distortion


def test_subject_selection_on_real_data(detections):
    """All methods take OpenPose's person 0 except where OpenPose split the subject in two (frame 37, cam_01)."""
    idx = detections.person_index
    assert (idx >= 0).all()
    assert (idx == 0).mean() >= 0.99
    folders = [DATA / "pose" / f"cam0{c}_json" for c in range(1, 5)]
    people, counts, _ = read_openpose_folders(folders)
    _, by_bbox = select_subject(people, counts, method="bbox")
    assert (by_bbox == idx).mean() >= 0.99


def test_reprojection_selection_beats_bbox_on_a_crowd():
    """A bystander closer to one camera is larger there; multi-view consistency still finds the subject."""
    rng = np.random.default_rng(0)
    cams = stack_cameras(
        [
            Camera.look_at((4000 * math.cos(a), 4000 * math.sin(a), 1500.0), (0, 0, 900), image_size=(1000, 1000))
            for a in (0.0, 1.6, 3.2, 4.7)
        ]
    )
    subject = torch.as_tensor(rng.normal(size=(25, 3)) * [150, 150, 400] + [0, 0, 900])
    T, C = 6, 4
    people = np.zeros((T, C, 3, 25, 3))
    counts = np.full((T, C), 2)
    truth = np.zeros((T, C), dtype=int)
    for t in range(T):
        moved = subject + torch.tensor([20.0 * t, 0.0, 0.0], dtype=torch.float64)
        near_cam0 = cams.center[0] * 0.55 + torch.tensor([0.0, 0.0, -300.0 * 0.45], dtype=torch.float64)
        bystander = torch.as_tensor(rng.normal(size=(25, 3)) * [150, 150, 400], dtype=torch.float64) + near_cam0
        for c in range(C):
            order = rng.permutation(2)
            truth[t, c] = int(np.argmin(order))
            for slot, who in zip(order, (moved, bystander)):
                uv = cams[c].project(who).numpy() + rng.normal(size=(25, 2))
                people[t, c, slot, :, :2] = uv
                people[t, c, slot, :, 2] = 0.8
    _, idx = select_subject(people, counts, cams, method="reprojection")
    assert (idx == truth).all()
    _, by_bbox = select_subject(people, counts, method="bbox")
    assert (by_bbox[:, 0] != truth[:, 0]).all()  # the largest person in camera 0 is the bystander


def test_pose2sim_check_matches_third_party_reconstruction(detections):
    chk = pose2sim_check(DATA, detections=detections)
    s = chk.summary
    assert s["frames"] == 100 and s["joints"] == 21
    # same confidence-weighted DLT as Pose2Sim where it kept every view: ~1 mm median
    assert s["median_distance_mm"] < 5, s
    assert (chk.per_joint["median_mm"] < 80).all()
    assert (chk.per_camera["ours_median_px"] < 20).all() and s["median_reprojection_px"] < 15
    assert 8 < s["pose2sim_median_reprojection_px"] < 17  # as the data's provenance states
    rejected = pose2sim_check(DATA, detections=detections, outlier_px=15.0)
    assert rejected.summary["median_reprojection_px"] < s["median_reprojection_px"]


def test_loader_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="no_such_trial"):
        Pose2SimDetections.load(tmp_path / "no_such_trial")
    trial = tmp_path / "trial"
    (trial / "calibration").mkdir(parents=True)
    shutil.copy(DATA / "calibration" / "Calib_qualisys.toml", trial / "calibration")
    with pytest.raises(FileNotFoundError, match="pose"):
        Pose2SimDetections.load(trial)


def test_check_script_writes_tables(tmp_path):
    import importlib.util

    path = DATA.parents[1] / "scripts" / "pose2sim_check.py"
    spec = importlib.util.spec_from_file_location("pose2sim_check_script", path)
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    assert script.main(["--out", str(tmp_path)]) == 0
    csv = (tmp_path / "pose2sim_check.csv").read_text().splitlines()
    assert csv[0].startswith("variant,section,name,median_mm")
    assert any(line.startswith("plain,overall,all") for line in csv)
    assert "Per camera" in (tmp_path / "pose2sim_check.md").read_text()
