"""The optional MediaPipe detector: landmark mapping, OpenPose JSON output, and (with the extra) a live run."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from lt_core.data.frames import load_frames
from lt_core.data.pose2sim import read_openpose_json
from lt_core.detect.mediapipe_pose import BLAZEPOSE_FOR_BODY25B, blazepose_to_body25b, write_openpose_json
from lt_core.reconstruct import load_detections, triangulate_sequence
from lt_core.skeleton import BODY25B

DATA = Path(__file__).resolve().parents[1] / "data" / "pose2sim_balancing"
SHIPPED = DATA / "mediapipe"


def test_blazepose_mapping():
    lm = np.zeros((33, 3))
    lm[:, 0] = np.arange(33) * 10.0
    lm[:, 1] = 5.0
    lm[:, 2] = np.linspace(0.1, 0.9, 33)
    out = blazepose_to_body25b(lm)
    J = BODY25B.joints
    assert set(BLAZEPOSE_FOR_BODY25B) == set(J)
    assert out[J.index("LWrist")].tolist() == [150.0, 5.0, pytest.approx(lm[15, 2])]
    assert out[J.index("RHeel"), 0] == 300.0 and out[J.index("LBigToe"), 0] == 310.0
    assert out[J.index("Neck"), 0] == 115.0 and out[J.index("Neck"), 2] == pytest.approx(lm[11, 2])  # min of the two
    for missing in ("Head", "LSmallToe", "RSmallToe"):
        assert out[J.index(missing)].tolist() == [0.0, 0.0, 0.0]
    with pytest.raises(ValueError, match="33, 3"):
        blazepose_to_body25b(lm[:17])


def test_openpose_json_round_trip(tmp_path: Path):
    kp = np.random.default_rng(0).uniform(0, 1000, (2, 25, 3))
    back = read_openpose_json(write_openpose_json(tmp_path / "a.json", kp))
    assert back.shape == (2, 25, 3) and np.abs(back - kp).max() < 1e-3


def test_shipped_detections_triangulate_with_the_demo_calibration():
    det, missing = load_detections(DATA / "calibration" / "Calib_qualisys.toml", SHIPPED, progress=False)
    assert det.frames == [0, 20, 40, 60, 80] and missing == {}
    assert bool((det.confidences > 0).any(-1).all())  # a person in every camera and frame
    X, _, err = triangulate_sequence(det, "ransac")
    assert np.nanmedian(err.numpy()) < 60  # px, full-size frames: the detections are in the calibration's pixels


def test_live_detection_matches_the_shipped_files(tmp_path: Path):
    pytest.importorskip("mediapipe", reason="the pose extra (mediapipe) is not installed")
    from lt_core.detect.mediapipe_pose import detect_frame_set

    frames = load_frames(DATA / "frames")
    detect_frame_set(frames, tmp_path)
    files = sorted(tmp_path.rglob("*.json"))
    assert len(files) == 20
    for f in files:
        live, shipped = read_openpose_json(f), read_openpose_json(SHIPPED / f.parent.name / f.name)
        assert live.shape == shipped.shape == (1, 25, 3)
        assert np.abs(live - shipped).max() < 0.5, f.name
