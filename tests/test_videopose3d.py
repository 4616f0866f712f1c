"""VideoPose3D's data_3d_h36m.npz / data_2d_h36m_<detector>.npz read unchanged; the shipped calibration."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from h36m_fixtures import H36M_S1_CAM1, write_videopose3d

from lt_core.data.h36m_sequences import H36M32_TO_17
from lt_core.data.human36m import Human36MFormatError
from lt_core.data.videopose3d import load_videopose3d, load_videopose3d_2d, load_videopose3d_3d, videopose3d_cameras
from lt_core.detector_baseline import evaluate_methods_table, triangulate_sequences
from lt_core.metrics import is_damaged
from lt_core.ops.camera_triangulation import triangulate_cameras
from lt_core.skeleton import H36M17

LAYOUT = {"S9": {"Greeting": 8, "SittingDown 1": 6, "Walking 1": 7}, "S11": {"Photo": 9}}
DETECTORS = {"cpn_ft_h36m_dbb": "h36m", "sh_pt_mpii": "mpii", "detectron_pt_coco": "coco", "gt": "h36m-nolayout"}

# Human3.6M's metadata for the other three cameras of S1 (R world to camera, T centre mm, f, c, k, p)
S1_METADATA = [
    H36M_S1_CAM1,
    {
        "R": [
            [0.9281683400814921, 0.3721538354721445, 0.002248380248018696],
            [0.08166409428175585, -0.1977722953267526, -0.976840363061605],
            [-0.3630902204349604, 0.9068559102440475, -0.21395758897485287],
        ],
        "T": [1761.27853428116, -5078.00659454077, 1606.2649598335],
        "f": [1149.67569986785, 1147.59161666764],
        "c": [508.848621645943, 508.064917088557],
        "k": [-0.194213629607385, 0.240408539138292, 0.00681997559022603],
        "p": [-0.0027408943961907, -0.001619026613787],
    },
    {
        "R": [
            [-0.9141549520542256, -0.40277802228118775, -0.045722952682337906],
            [-0.04562341383935874, 0.21430849526487267, -0.9756999400261069],
            [0.4027893093720077, -0.889854894701693, -0.214287280609606],
        ],
        "T": [-1846.7776610084, 5215.04650469073, 1491.97246576518],
        "f": [1149.14071676148, 1148.7989685676],
        "c": [519.815837182153, 501.402658888552],
        "k": [-0.208338188251856, 0.255488007488945, -0.00246049749891915],
        "p": [-0.000759999321030303, 0.00148438698385668],
    },
    {
        "R": [
            [0.9141562410494211, -0.40060705854636447, 0.061905989962380774],
            [-0.05641000739510571, -0.2769531972942539, -0.9592261660183036],
            [0.40141783470104664, 0.8733904688919611, -0.2757767409202658],
        ],
        "T": [-1794.78972871109, -3722.69891503676, 1574.89272604599],
        "f": [1145.51133842318, 1144.77392807652],
        "c": [514.968197319863, 501.882018537695],
        "k": [-0.198384093827848, 0.218323676298049, -0.00894780704152122],
        "p": [-0.00181336200488089, -0.000587205583421232],
    },
]


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("vp3d")
    info = write_videopose3d(folder, LAYOUT, DETECTORS, frames_2d={("S9", "Walking 1", 3): 10, ("S11", "Photo", 0): 5})
    return folder, info


def test_shipped_calibration_matches_the_human36m_metadata():
    """The quaternion + centre table reproduces Human3.6M's own rotation, centre, intrinsics and lens (whose two
    tangential numbers VideoPose3D stores in the other order)."""
    cams = videopose3d_cameras("S1")
    assert cams.names == ["54138969", "55011271", "58860488", "60457274"] and cams.distortion_model == "h36m"
    assert cams.image_size[:, 1].tolist() == [1002.0, 1000.0, 1000.0, 1002.0]
    for c, m in enumerate(S1_METADATA):
        np.testing.assert_allclose(cams.R[c].numpy(), m["R"], atol=2e-7)
        np.testing.assert_allclose(cams.center[c].numpy(), m["T"], atol=1e-3)
        np.testing.assert_allclose(cams.K[c, [0, 1], [0, 1]].numpy(), m["f"], atol=1e-3)
        np.testing.assert_allclose(cams.K[c, :2, 2].numpy(), m["c"], atol=1e-4)
        np.testing.assert_allclose(
            cams.dist[c].numpy(), [m["k"][0], m["k"][1], m["p"][0], m["p"][1], m["k"][2]], rtol=1e-6, atol=1e-9
        )
    for s in ("S5", "S6", "S7", "S8", "S9", "S11"):
        assert torch.linalg.det(videopose3d_cameras(s).R).sub(1).abs().max() < 1e-6
    with pytest.raises(KeyError, match="S2"):
        videopose3d_cameras("S2")


def test_3d_file_metres_to_mm_and_32_to_17(files):
    folder, info = files
    poses = load_videopose3d_3d(folder / "data_3d_h36m.npz")
    assert sorted(poses) == ["S11", "S9"] and sorted(poses["S9"]) == sorted(LAYOUT["S9"])
    expect = info["poses"]["S9", "Greeting"][:, list(H36M32_TO_17)]
    np.testing.assert_allclose(poses["S9"]["Greeting"], expect, atol=1e-3)  # float32 metres in the file


@pytest.mark.parametrize("detector", sorted(DETECTORS))
def test_every_layout_lands_on_the_projected_joints(files, detector):
    folder, _ = files
    seqs = load_videopose3d(
        folder / "data_3d_h36m.npz", folder / f"data_2d_h36m_{detector}.npz", subjects=["S9"], actions=["Greeting"]
    )
    seq = seqs[0]
    assert seq.detector == detector and seq.camera_names == ["54138969", "55011271", "58860488", "60457274"]
    exists = {
        "h36m": range(17),
        "h36m-nolayout": range(17),
        "mpii": range(16),
        "coco": [0, 1, 2, 3, 4, 5, 10, 11, 12, 13, 14, 15],
    }[DETECTORS[detector]]
    absent = [j for j in range(17) if j not in exists]
    assert seq.valid_2d[:, :, list(exists)].all() and not seq.valid_2d[:, :, absent].any()
    uv = seq.cameras.project(torch.as_tensor(seq.joints_3d)[:, None]).numpy()
    np.testing.assert_allclose(seq.points_2d[:, :, list(exists)], uv[:, :, list(exists)], atol=2e-3)
    X = triangulate_cameras(
        torch.as_tensor(seq.points_2d), seq.cameras, torch.as_tensor(seq.valid_2d).double(), on_insufficient="nan"
    )
    err = (X[:, list(exists)] - torch.as_tensor(seq.joints_3d[:, list(exists)])).norm(dim=-1)
    assert err.max() < 0.1  # mm, float32 pixels in the file


def test_partial_sequences_reported_and_damaged_names(files):
    folder, _ = files
    seqs = load_videopose3d(folder / "data_3d_h36m.npz", folder / "data_2d_h36m_cpn_ft_h36m_dbb.npz")
    report = "\n".join(seqs.report)
    assert "S9 Walking 1: camera 60457274 has 10 2D frames for 7 3D frames; the last 3" in report
    photo = seqs.find("S11", "Photo")
    assert "S11 Photo: camera 54138969 has 5 2D frames for 9 3D frames" in report
    assert photo.valid_2d[:5, 0].all() and not photo.valid_2d[5:, 0].any()
    assert [is_damaged(s.subject, s.action) for s in seqs if s.subject == "S9"] == [True, True, False]


def test_detector_baseline_methods_on_noisy_detections(tmp_path):
    write_videopose3d(tmp_path, {"S9": {"Greeting": 6, "Walking 1": 5}}, {"sh_pt_mpii": "mpii"}, noise_px=2.0)
    seqs = load_videopose3d(tmp_path / "data_3d_h36m.npz", tmp_path / "data_2d_h36m_sh_pt_mpii.npz", ["S9"])
    results = triangulate_sequences(seqs)
    table = evaluate_methods_table(results)
    assert list(table.index) == ["DLT", "RANSAC", "exhaustive"]
    assert (table["frames"] == 11).all() and (table["frames abs"] == 5).all()  # Greeting is a damaged scene
    assert (table["joints scored"] == 11 * 16).all() and (table["NaN in scored joints"] == 0).all()
    assert (table["MPJPE abs (mm)"] < 15).all() and (table["MPJPE abs (mm)"] > 0.5).all()
    assert np.isnan(results["DLT"].pred[:, H36M17.index("Neck")]).all()


def test_errors_name_what_is_missing(tmp_path, files):
    folder, _ = files
    p3, p2 = folder / "data_3d_h36m.npz", folder / "data_2d_h36m_cpn_ft_h36m_dbb.npz"
    with pytest.raises(Human36MFormatError, match=r"data_3d_h36m\.npz: no subject \['S5'\]"):
        load_videopose3d(p3, p2, subjects=["S5"])
    data2 = dict(np.load(p2, allow_pickle=True))
    pos = data2["positions_2d"].item()
    del pos["S9"]["Greeting"]
    pos["S11"]["Photo"] = pos["S11"]["Photo"][:3]
    np.savez_compressed(tmp_path / "data_2d_h36m_cut.npz", positions_2d=pos, metadata=data2["metadata"].item())
    with pytest.raises(Human36MFormatError, match=r"Photo.*list of 4 arrays"):
        load_videopose3d(p3, tmp_path / "data_2d_h36m_cut.npz")
    with pytest.raises(Human36MFormatError, match=r"data_2d_h36m_cut\.npz: no detections for S9 'Greeting'"):
        load_videopose3d(p3, tmp_path / "data_2d_h36m_cut.npz", subjects=["S9"])
    trunc = tmp_path / "data_3d_trunc.npz"
    trunc.write_bytes(p3.read_bytes()[:200])
    with pytest.raises(Human36MFormatError, match=r"data_3d_trunc\.npz.*truncated"):
        load_videopose3d_3d(trunc)
    np.savez_compressed(tmp_path / "other.npz", poses=np.zeros(3))
    with pytest.raises(Human36MFormatError, match=r"other\.npz: missing field 'positions_3d'"):
        load_videopose3d_3d(tmp_path / "other.npz")
    np.savez_compressed(tmp_path / "data_2d_h36m_x.npz", positions_2d={"S9": {}}, metadata={"num_joints": 15})
    with pytest.raises(Human36MFormatError, match="num_joints' = 15"):
        load_videopose3d_2d(tmp_path / "data_2d_h36m_x.npz")
    with pytest.raises(FileNotFoundError, match="data_2d_h36m_none.npz"):
        load_videopose3d(p3, tmp_path / "data_2d_h36m_none.npz")
