"""Camera rigs of the embedded dataset: geometry, determinism, rig files."""

from __future__ import annotations

import torch

from lt_core.data.calibration import load_rig_json
from lt_core.data.rigs import CAPTURE_CENTER, dome_rig, human36m_like_rig, load_rig, rig_path, write_rig_files

CENTRE = torch.tensor(CAPTURE_CENTER, dtype=torch.float64)


def _sees_centre(cam) -> torch.Tensor:
    """(C,) bool: the capture centre is in front of each camera and projects inside its image."""
    X = CENTRE.expand(cam.batch_shape[0], 1, 3)
    uv = cam.project(X)[:, 0]
    inside = ((uv >= -0.5) & (uv <= cam.image_size - 0.5)).all(-1)
    return inside & (cam.depth(X)[:, 0] > 0)


def test_human36m_like_geometry():
    cam = human36m_like_rig().validate()
    assert tuple(cam.batch_shape) == (4,)
    assert cam.names == ["cam_0", "cam_1", "cam_2", "cam_3"]
    assert torch.all(cam.image_size == torch.tensor([1000.0, 1000.0], dtype=torch.float64))
    f = cam.K[:, [0, 1], [0, 1]]
    assert torch.all((f > 1130) & (f < 1160))
    pp = cam.K[:, :2, 2]
    assert torch.all((pp - 499.5).abs() < 30)
    C = cam.center
    dist = (C - CENTRE).norm(dim=-1)
    assert torch.all((dist > 4000) & (dist < 6000))
    assert torch.all((C[:, 2] > 1200) & (C[:, 2] < 1800))
    # one camera per corner (quadrant) of the room
    quadrants = {(bool(x > 0), bool(y > 0)) for x, y in C[:, :2].tolist()}
    assert len(quadrants) == 4
    assert bool(_sees_centre(cam).all())
    assert not cam.has_distortion and human36m_like_rig(distortion=True).has_distortion


def test_dome_geometry():
    cam = dome_rig().validate()
    assert tuple(cam.batch_shape) == (31,)
    assert len(set(cam.names)) == 31
    assert torch.all(cam.image_size == torch.tensor([1920.0, 1080.0], dtype=torch.float64))
    f = cam.K[:, 0, 0]
    assert torch.all((f >= 1390) & (f <= 1610))
    dist = (cam.center - torch.tensor([0.0, 0.0, 1000.0], dtype=torch.float64)).norm(dim=-1)
    assert torch.allclose(dist, torch.full_like(dist, 2900.0))
    heights = cam.center[:, 2].round().unique()
    assert len(heights) >= 3  # several rings
    assert bool(_sees_centre(cam).all())
    assert tuple(dome_rig(7).batch_shape) == (7,)


def test_rigs_deterministic_and_files_roundtrip(tmp_path):
    a, b = dome_rig(), dome_rig()
    assert torch.equal(a.K, b.K) and torch.equal(a.R, b.R) and torch.equal(a.t, b.t)
    paths = write_rig_files(tmp_path)
    for p, ref in zip(paths, (human36m_like_rig(), dome_rig())):
        cam = load_rig_json(p)
        assert torch.allclose(cam.K, ref.K) and torch.allclose(cam.R, ref.R) and torch.allclose(cam.t, ref.t)
        assert cam.names == ref.names
        assert torch.allclose(load_rig(p).t, ref.t)


def test_shipped_rig_files_match_builders():
    for name, ref in (("human36m", human36m_like_rig()), ("dome", dome_rig())):
        assert rig_path(name).is_file(), f"{rig_path(name)} missing: run lt_core.data.rigs.write_rig_files()"
        cam = load_rig(name)
        assert torch.allclose(cam.K, ref.K) and torch.allclose(cam.R, ref.R, atol=1e-12)
        assert torch.allclose(cam.t, ref.t, atol=1e-9)
