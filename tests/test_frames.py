"""Stored real frames of the Pose2Sim demo: manifest, pixel mapping, and the frame offset against the detections."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from lt_core.data.calibration import load_toml_calibration
from lt_core.data.frames import (
    MOVING_JOINTS,
    FrameSetError,
    foreground_mask,
    load_frames,
    to_image_pixels,
)
from lt_core.data.pose2sim import Pose2SimDetections
from lt_core.data.video import downscale
from lt_core.skeleton import BODY25B

DATA = Path(__file__).resolve().parents[1] / "data" / "pose2sim_balancing"
FRAMES = DATA / "frames"


@pytest.fixture(scope="module")
def frameset():
    return load_frames(FRAMES)


@pytest.fixture(scope="module")
def detections() -> Pose2SimDetections:
    return Pose2SimDetections.load(DATA)


def test_frame_set_matches_the_calibration_and_stays_light(frameset):
    cams = load_toml_calibration(DATA / "calibration" / "Calib_qualisys.toml")
    assert frameset.names == list(cams.names)
    assert frameset.scale == 0.5 and frameset.offset == 1
    assert frameset.detection_frames == [0, 20, 40, 60, 80]
    for c, name in enumerate(frameset.names):
        img = frameset.image(name, 40)
        W, H = frameset.stored_sizes[c]
        assert img.shape == (H, W, 3) and img.dtype == np.uint8
        assert frameset.background(c).shape == img.shape
        vw, vh = frameset.video_sizes[c]
        assert (W, H) == (vw // 2, vh // 2) and vh == 1920 and vw in (1080, 1088)
    total = sum(p.stat().st_size for p in FRAMES.rglob("*") if p.is_file())
    assert total < 2.5e6, f"frame set grew to {total / 1e6:.1f} MB"
    prov = (FRAMES / "PROVENANCE.txt").read_text()
    assert "BSD-3-Clause" in prov and "scripts/extract_frames.py" in prov and "pose2sim 0.10.49" in prov


def test_detections_land_on_the_person_only_at_the_measured_offset(frameset, detections):
    """Moving keypoints (elbows, wrists, knees, feet) fall on pixels that differ from the median background far
    more often at the manifest's offset than at any other one, in every camera."""
    joints = [BODY25B.joints.index(j) for j in MOVING_JOINTS]
    scores = frameset.offset_scores(
        detections.points.numpy(),
        detections.confidences.numpy(),
        detections.frames,
        offsets=range(-3, 4),
        joints=joints,
    )
    table = scores.pivot(index="offset", columns="camera", values="hit_rate")
    tested = scores[scores.offset == 1].set_index("camera").keypoints
    assert (tested.drop("all") >= 40).all() and tested["all"] >= 200
    for cam in [*frameset.names, "all"]:
        assert int(table[cam].idxmax()) == frameset.offset, f"{cam}: {table[cam].round(3).to_dict()}"
    pooled = table["all"]
    assert pooled[1] > 0.9
    assert pooled[1] - max(pooled[0], pooled[2]) > 0.04  # one frame off is measurably worse
    assert pooled[1] - max(pooled[-3], pooled[3]) > 0.12


def test_image_pixel_mapping_follows_the_box_downscale():
    """A 2x2 block at video pixels (10..11, 20..21) becomes stored pixel (5, 10) = to_image_pixels(10.5, 20.5)."""
    img = np.zeros((40, 30, 3), np.uint8)
    img[20:22, 10:12] = 200
    small = downscale(img, 0.5)
    assert small.shape == (20, 15, 3)
    ys, xs = np.nonzero(small[..., 0])
    assert (xs.tolist(), ys.tolist()) == ([5], [10]) and small[10, 5, 0] == 200
    assert np.allclose(to_image_pixels([10.5, 20.5], 0.5), [5.0, 10.0])
    assert np.allclose(to_image_pixels([[0.0, 0.0]], 0.25), [[-0.375, -0.375]])
    with pytest.raises(ValueError, match="1/n"):
        downscale(img, 0.3)


def test_foreground_mask_threshold_and_growth():
    bg = np.full((9, 9, 3), 100, np.uint8)
    img = bg.copy()
    img[4, 4] = (130, 130, 130)  # summed difference 90
    assert foreground_mask(img, bg, threshold=40, grow=0).sum() == 1
    assert foreground_mask(img, bg, threshold=100, grow=0).sum() == 0
    assert foreground_mask(img, bg, threshold=40, grow=1).sum() == 9
    with pytest.raises(ValueError, match="differ in shape"):
        foreground_mask(img[:5], bg)


def test_frame_set_errors_name_the_problem(tmp_path: Path, frameset):
    with pytest.raises(FileNotFoundError, match="frame manifest not found"):
        load_frames(tmp_path)
    copy = tmp_path / "frames"
    shutil.copytree(FRAMES, copy)
    doc = json.loads((copy / "frames.json").read_text())
    (copy / "cam03" / "frame_0041.jpg").unlink()
    with pytest.raises(FileNotFoundError, match=r"camera #2: listed frame missing: .*frame_0041\.jpg"):
        load_frames(copy)
    (copy / "frames.json").write_text(json.dumps({**doc, "format": "something"}))
    with pytest.raises(FrameSetError, match="field 'format'"):
        load_frames(copy)
    with pytest.raises(KeyError, match=r"video frame 4 \(detection frame 3\) is not stored"):
        frameset.image("cam_01", 3)
    with pytest.raises(KeyError, match="no camera named 'cam_9'"):
        frameset.image("cam_9", 0)
