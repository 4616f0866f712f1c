"""Whole-image undistortion (lt_core.data.undistort) against the released preprocessing, and on the fly in the
Human3.6M dataset. Reference: tests/fixtures/official/undistort_h36m.npz (README there)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from lt_core.camera import Camera
from lt_core.data.calibration import h36m_cameras_from_labels
from lt_core.data.human36m import Human36MDataset, load_h36m_labels, load_image_crop
from lt_core.data.undistort import remap_bicubic, undistort_image, undistortion_map

ROOT = Path(__file__).parent / "fixtures" / "official"
H36M = ROOT / "human36m_layout"


def _case(n: int):
    ref = np.load(ROOT / "undistort_h36m.npz", allow_pickle=False)
    meta = json.loads(str(ref["meta"]))
    subject, action, cam, frame = meta["cases"][n]
    labels = load_h36m_labels(H36M / "extra" / "human36m-multiview-labels-GTbboxes.npy")
    camera = h36m_cameras_from_labels(labels, labels["subject_names"].index(subject))[labels["camera_names"].index(cam)]
    path = H36M / "processed" / subject / action / "imageSequence" / cam / f"img_{frame + 1:06d}.jpg"
    image = torch.from_numpy(np.asarray(Image.open(path).convert("RGB")).copy()).permute(2, 0, 1)
    return ref, meta, camera, image, path


@pytest.mark.parametrize("n", [0, 1])
def test_undistortion_matches_the_released_script(n):
    ref, meta, camera, image, _ = _case(n)
    assert camera.distortion_model == "h36m"
    source = undistortion_map(camera, image.shape[2], image.shape[1])
    assert (source[::50, ::50] - torch.from_numpy(ref[f"case{n}_map_float"])).abs().max() < 1e-3  # px
    out = undistort_image(image, camera, source).permute(1, 2, 0).numpy()[..., ::-1]  # BGR, as OpenCV wrote it
    worst, far = 0, 0
    for r, c in meta["patches_row_col"]:
        d = np.abs(out[r : r + 64, c : c + 64].astype(int) - ref[f"case{n}_patch_{r}_{c}"].astype(int))
        worst, far = max(worst, int(d.max())), far + int((d > 1).sum())
    # equal up to the JPEG decoders (PIL's and OpenCV's may differ by a grey level on some builds)
    assert worst <= 2 and far < 0.001 * 20 * 64 * 64 * 3


def test_undistortion_moves_points_to_the_pinhole_projection():
    """A bright dot drawn at a distorted projection lands, after undistortion, at the pinhole projection."""
    camera = Camera(
        torch.tensor([[800.0, 0, 320], [0, 800.0, 240], [0, 0, 1]]),
        torch.eye(3),
        torch.zeros(3),
        torch.tensor([-0.25, 0.12, 0.001, -0.002, 0.0]),
        distortion_model="h36m",
    )
    X = torch.tensor([[-600.0, -450.0, 2000.0]])  # towards the top-left corner, where the lens moves points most
    uv_d, uv_p = camera.project(X)[0], camera.project(X, distort=False)[0]
    assert (uv_d - uv_p).norm() > 5 and (uv_p > 20).all()  # pixels, inside the image
    vv, uu = torch.meshgrid(torch.arange(480.0), torch.arange(640.0), indexing="ij")
    blob = torch.exp(-((uu - uv_d[0]) ** 2 + (vv - uv_d[1]) ** 2) / (2 * 2.0**2))
    out = undistort_image((blob * 250).round().to(torch.uint8).expand(3, -1, -1).contiguous(), camera)[0].double()
    w = out * (out > 20)
    centre = torch.stack([(w * uu).sum() / w.sum(), (w * vv).sum() / w.sum()])
    assert (centre - uv_p.double()).norm() < 0.2


def test_remap_checks_shapes_and_keeps_dtype():
    img = torch.arange(3 * 4 * 5, dtype=torch.float32).reshape(3, 4, 5)
    same = remap_bicubic(img, torch.stack(torch.meshgrid(torch.arange(5.0), torch.arange(4.0), indexing="xy"), -1))
    assert torch.allclose(same, img, atol=1e-4)  # integer positions read the pixels themselves
    with pytest.raises(ValueError, match=r"\(3, H, W\)"):
        remap_bicubic(img[0], torch.zeros(2, 2, 2))
    with pytest.raises(ValueError, match=r"\(H, W, 2\)"):
        remap_bicubic(img, torch.zeros(2, 2))


def test_human36m_undistorts_on_the_fly():
    _, _, camera, image, path = _case(0)
    ds = Human36MDataset(
        H36M, split="val", image_size=96, exclude_damaged=False, undistorted="on_the_fly", convention="official"
    )
    assert not ds.subject_cameras("S9").has_distortion
    index = next(
        i
        for i in range(len(ds))
        if ds[i]["meta"]["subject"] == "S9"
        and ds[i]["meta"]["frame"] == 5
        and ds[i]["meta"]["action"] == "Directions-2"
    )
    s = ds[index]
    k = ds.camera_names.index("54138969")
    box = s["meta"]["bbox_ltrb"][k].tolist()
    expected = load_image_crop(path, box, (96, 96), lambda im: undistort_image(im, camera), resample="area")
    assert torch.equal(s["images"][k], expected)
    plain = load_image_crop(path, box, (96, 96), resample="area")
    assert (s["images"][k] - plain).abs().max() > 0.1  # undistortion moved the drawn skeleton
    with pytest.raises(ValueError, match="'on_the_fly'"):
        Human36MDataset(H36M, split="val", undistorted="sometimes")
