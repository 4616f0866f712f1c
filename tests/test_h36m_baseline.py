"""3d-pose-baseline's Human3.6M layout (cameras.h5, MyPoses/3D_positions, StackedHourglass) read unchanged."""

from __future__ import annotations

import sys

import numpy as np
import pytest
import torch

pytest.importorskip("h5py")  # the optional 'h36m' extra (installed by make)

from h36m_fixtures import write_baseline, write_cameras_h5  # noqa: E402

from lt_core.data.calibration import CalibrationError, load_h36m_cameras_h5  # noqa: E402
from lt_core.data.h36m_baseline import load_h36m_baseline, read_detections_h5, read_positions_3d  # noqa: E402
from lt_core.data.h36m_sequences import H36M32_TO_17, H36MSequenceDataset  # noqa: E402
from lt_core.data.human36m import Human36MFormatError  # noqa: E402
from lt_core.data.sample import check_sample, collate_samples  # noqa: E402
from lt_core.data.videopose3d import videopose3d_cameras  # noqa: E402
from lt_core.metrics import evaluate_predictions, is_damaged  # noqa: E402
from lt_core.ops.camera_triangulation import triangulate_cameras  # noqa: E402
from lt_core.skeleton import H36M17  # noqa: E402

LAYOUT = {
    "S9": {"Greeting": 12, "Greeting 1": 10, "SittingDown 1": 8, "Waiting 1": 6},
    "S11": {"Directions": 7, "Walking 1": 9},
}


@pytest.fixture(scope="module")
def baseline(tmp_path_factory):
    root = tmp_path_factory.mktemp("h36m")
    info = write_baseline(
        root,
        LAYOUT,
        sh_frames={("S9", "Greeting 1", 2): 13, ("S11", "Walking 1", 1): 6},
        skip={("S11", "Directions", 0)},
    )
    return root, info


def test_cameras_h5_round_trip_with_names_and_lens():
    import tempfile
    from pathlib import Path

    with tempfile.TemporaryDirectory() as d:
        rigs = {"S9": videopose3d_cameras("S9")}
        cams = load_h36m_cameras_h5(write_cameras_h5(Path(d) / "cameras.h5", rigs), subjects=(9,))["S9"]
    assert cams.names == ["54138969", "55011271", "58860488", "60457274"] and cams.distortion_model == "h36m"
    for a, b in ((cams.K, rigs["S9"].K), (cams.R, rigs["S9"].R), (cams.t, rigs["S9"].t), (cams.dist, rigs["S9"].dist)):
        torch.testing.assert_close(a, b, atol=1e-9, rtol=1e-12)


def test_sequences_units_joints_and_camera_order(baseline):
    root, info = baseline
    seqs = load_h36m_baseline(root, subjects=["S9", 11])
    assert [(s.subject, s.action) for s in seqs] == [("S9", a) for a in sorted(LAYOUT["S9"])] + [
        ("S11", a) for a in sorted(LAYOUT["S11"])
    ]
    seq = seqs.find("S9", "Greeting")
    assert seq.camera_names == ["54138969", "55011271", "58860488", "60457274"] and seq.detector == "StackedHourglass"
    # 32 -> 17 joints in mm, exactly as the file stores them
    np.testing.assert_array_equal(seq.joints_3d, info["poses"]["S9", "Greeting"][:, list(H36M32_TO_17)])
    assert seq.joints_3d[:, H36M17.root, 2].mean() == pytest.approx(920, abs=20)  # pelvis height: mm, Z up
    # the detections are the file's, MPII-16 -> our first 16, no neck/nose
    np.testing.assert_array_equal(seq.points_2d[:, 1, :16], info["detections"]["S9", "Greeting", 1])
    assert (
        np.isnan(seq.points_2d[:, :, 16]).all() and not seq.valid_2d[:, :, 16].any() and seq.valid_2d[:, :, :16].all()
    )
    # and they land where the cameras project the 3D joints (lens included)
    uv = seq.cameras.project(torch.as_tensor(seq.joints_3d)[:, None]).numpy()
    np.testing.assert_allclose(seq.points_2d[:, :, :16], uv[:, :, :16], atol=1e-9)
    # triangulating them through the cameras recovers the 3D joints
    X = triangulate_cameras(
        torch.as_tensor(seq.points_2d), seq.cameras, torch.as_tensor(seq.valid_2d).double(), on_insufficient="nan"
    )
    assert (X[:, :16] - torch.as_tensor(seq.joints_3d[:, :16])).norm(dim=-1).max() < 1e-6
    assert torch.isnan(X[:, 16]).all()


def test_partial_sequences_are_reported_not_dropped(baseline):
    root, _ = baseline
    seqs = load_h36m_baseline(root, subjects=["S9", "S11"])
    report = "\n".join(seqs.report)
    # S11 Directions: the damaged video has no detections for one camera -> that view is missing, reported
    d = seqs.find("S11", "Directions")
    assert not d.valid_2d[:, 0].any() and d.valid_2d[:, 1:, :16].all()
    assert "S11 Directions: camera 54138969 has no detections" in report
    # 2D longer than 3D: trailing frames have no ground truth -> not used, reported
    g = seqs.find("S9", "Greeting 1")
    assert g.n_frames == 10 and "S9 Greeting 1: camera 58860488 has 13 2D frames for 10 3D frames" in report
    # 2D shorter: the view is missing after its end, reported
    w = seqs.find("S11", "Walking 1")
    assert w.n_frames == 9 and w.valid_2d[:6, 1, :16].all() and not w.valid_2d[6:, 1].any()
    assert "camera 55011271 has 6 2D frames for 9 3D frames" in report
    assert len(seqs.report) == 3 and "partial" in seqs.summary()


def test_damaged_scenes_in_the_original_naming(baseline):
    root, _ = baseline
    seqs = load_h36m_baseline(root, subjects=["S9"], actions=["Greeting", "SittingDown", "Waiting"])
    assert [s.action for s in seqs] == ["Greeting", "Greeting 1", "SittingDown 1", "Waiting 1"]
    assert [is_damaged(s.subject, s.action, "human36m") for s in seqs] == [True, False, True, True]
    ds = H36MSequenceDataset(seqs)
    pred = np.stack([ds[i]["joints_3d"].numpy() + 5.0 for i in range(len(ds))])
    gt = np.stack([ds[i]["joints_3d"].numpy() for i in range(len(ds))])
    ev = evaluate_predictions(pred, gt, [ds[i]["meta"] for i in range(len(ds))], exclude_damaged=True)
    assert ev.summary["frames_abs"] == LAYOUT["S9"]["Greeting 1"] and ev.summary["frames"] == len(ds)


def test_sample_format_dataset(baseline):
    root, _ = baseline
    seqs = load_h36m_baseline(root, subjects=["S11"])
    ds = H36MSequenceDataset(seqs, frame_step=2)
    assert len(ds) == 4 + 5
    s = ds[0]
    check_sample(s)
    assert s["points_2d"].shape == (4, 17, 2) and s["views_valid"].tolist() == [False, True, True, True]
    assert s["meta"]["action"] == "Directions" and s["meta"]["dataset"] == "human36m"
    batch = collate_samples([ds[0], ds[1]])
    assert batch["cameras"].batch_shape == (2, 4) and batch["cameras"].distortion_model == "h36m"
    assert batch["points_2d"].shape == (2, 4, 17, 2)


def test_gt_detections_option(baseline):
    root, info = baseline
    seqs = load_h36m_baseline(root, subjects=["S9"], actions=["Waiting 1"], detections="gt")
    seq = seqs[0]
    assert seq.valid_2d.all() and seq.detector == "gt" and not seqs.report
    X = triangulate_cameras(torch.as_tensor(seq.points_2d), seq.cameras)
    assert (X - torch.as_tensor(seq.joints_3d)).norm(dim=-1).max() < 1e-6


def test_errors_name_file_and_field(tmp_path, baseline, monkeypatch):
    root, _ = baseline
    # a camera without a detection file (not the known damaged one) is an error naming the expected file
    missing = tmp_path / "h36m"
    write_baseline(missing, {"S9": {"Eating": 5}}, skip={("S9", "Eating", 3)})
    with pytest.raises(FileNotFoundError, match=r"S9 Eating: no detections of camera 60457274.*Eating\.60457274\.h5"):
        load_h36m_baseline(missing, subjects=["S9"])
    seqs = load_h36m_baseline(missing, subjects=["S9"], missing_views="report")
    assert not seqs[0].valid_2d[:, 3].any() and "camera 60457274 has no detections" in seqs.report[0]
    # a truncated h5 file
    f = missing / "S9" / "MyPoses" / "3D_positions" / "Eating.h5"
    f.write_bytes(f.read_bytes()[:300])
    with pytest.raises(Human36MFormatError, match=r"Eating\.h5.*truncated"):
        read_positions_3d(f)
    # a file without the expected dataset, or with the wrong shape
    import h5py

    bad = tmp_path / "bad.h5"
    with h5py.File(bad, "w") as hf:
        hf["positions"] = np.zeros((96, 3))
    with pytest.raises(Human36MFormatError, match=r"bad\.h5.*missing dataset '3D_positions'.*positions"):
        read_positions_3d(bad)
    with h5py.File(bad, "w") as hf:
        hf["poses"] = np.zeros((5, 17, 2))
    with pytest.raises(Human36MFormatError, match=r"bad\.h5.*'poses' must be \(T, 16, 2\)"):
        read_detections_h5(bad)
    with pytest.raises(CalibrationError, match="cameras.h5.*subject5"):
        load_h36m_baseline(root, subjects=["S5"])
    with pytest.raises(FileNotFoundError, match="StackedHourglassFineTuned240"):
        load_h36m_baseline(root, subjects=["S9"], detections="StackedHourglassFineTuned240")
    with pytest.raises(KeyError, match="Eating"):
        load_h36m_baseline(root, subjects=["S9"], actions=["Eating"])
    # without h5py the error says how to install it
    monkeypatch.setitem(sys.modules, "h5py", None)
    with pytest.raises(ImportError, match=r"lt-triangulation\[h36m\]"):
        load_h36m_baseline(root, subjects=["S9"])
