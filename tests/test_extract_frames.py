"""scripts/extract_frames.py end to end on small synthetic videos (needs the optional ``video`` extra: PyAV).

Two cameras film a bright square sliding to the right, 6 px per frame; the "detections" of frame t put every
keypoint on the square as it is in video frame t + 2. The script must store the requested frames in order, at
half size, with a background free of the square, and measure the offset +2.
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest

from lt_core.data.calibration import save_toml_calibration
from lt_core.data.frames import load_frames
from lt_core.data.rigs import human36m_like_rig

av = pytest.importorskip("av", reason="the video extra (PyAV) is not installed")

ROOT = Path(__file__).resolve().parents[1]
N_FRAMES, W, H, SIDE, STEP, X0, Y0, OFFSET = 24, 192, 64, 12, 6, 10, 26, 2


def _square_x(frame: int) -> int:
    return X0 + STEP * frame


def _write_video(path: Path) -> None:
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=30)
        stream.width, stream.height, stream.pix_fmt = W, H, "yuv420p"
        stream.options = {"crf": "0"}
        for f in range(N_FRAMES):
            img = np.full((H, W, 3), 30, np.uint8)
            img[Y0 : Y0 + SIDE, _square_x(f) : _square_x(f) + SIDE] = 230
            for packet in stream.encode(av.VideoFrame.from_ndarray(img, format="rgb24")):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)


def _write_detections(folder: Path) -> None:
    """OpenPose JSON: detection frame t sees the square of video frame t + OFFSET (25 keypoints on it)."""
    folder.mkdir(parents=True)
    gen = np.random.default_rng(0)
    for t in range(N_FRAMES - OFFSET):
        x0 = _square_x(t + OFFSET)
        kp = np.stack(
            [x0 + 1 + gen.uniform(0, SIDE - 3, 25), Y0 + 1 + gen.uniform(0, SIDE - 3, 25), np.full(25, 0.9)], -1
        )
        doc = {"version": 1.3, "people": [{"person_id": [-1], "pose_keypoints_2d": kp.reshape(-1).tolist()}]}
        (folder / f"{folder.parent.name}.{t:04d}.json").write_text(json.dumps(doc))


def _script():
    spec = importlib.util.spec_from_file_location("extract_frames", ROOT / "scripts" / "extract_frames.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_extract_frames_stores_ordered_frames_and_measures_the_offset(tmp_path: Path, capsys):
    videos, pose = tmp_path / "videos", tmp_path / "pose"
    videos.mkdir()
    rig = human36m_like_rig()[:2]
    rig.names = ["cam_01", "cam_02"]
    calib = save_toml_calibration(tmp_path / "calib.toml", rig)
    for k in (1, 2):
        _write_video(videos / f"cam0{k}.mp4")
        _write_detections(pose / f"cam0{k}_json")
    out = tmp_path / "frames"
    rc = _script().main(
        [
            "--videos",
            str(videos),
            "--calibration",
            str(calib),
            "--detections",
            str(pose),
            "--out",
            str(out),
            "--frames",
            "3:20:4",
            "--scale",
            "0.5",
            "--quality",
            "95",
            "--search",
            "4",
        ]
    )
    assert rc == 0
    printed = capsys.readouterr().out
    assert "offset: video frame = detection frame + 2" in printed
    fs = load_frames(out)
    assert fs.offset == OFFSET and fs.names == ["cam_01", "cam_02"] and fs.scale == 0.5
    assert fs.video_frames == [[3, 7, 11, 15, 19]] * 2
    assert fs.manifest["cameras"][0]["video_frames"] == N_FRAMES
    assert fs.manifest["offset_measurement"]["best_offset_per_camera"] == {"cam_01": 2, "cam_02": 2}
    for v in fs.video_frames[0]:
        img = fs.video_image("cam_02", v).astype(float).mean(-1)
        assert img.shape == (H // 2, W // 2)
        cols = np.nonzero(img.max(0) > 130)[0]
        expected = ((_square_x(v) + 0.5) * 0.5 - 0.5, (_square_x(v) + SIDE - 1 + 0.5) * 0.5 - 0.5)
        assert abs(cols.min() - expected[0]) <= 1 and abs(cols.max() - expected[1]) <= 1, (v, cols, expected)
        assert fs.image("cam_02", v - OFFSET).shape == (H // 2, W // 2, 3)
    assert fs.background(0).max() < 80  # the moving square is gone from the median


def test_extract_frames_refuses_a_camera_without_video(tmp_path: Path):
    videos = tmp_path / "videos"
    videos.mkdir()
    _write_video(videos / "cam01.mp4")
    rig = human36m_like_rig()[:2]
    rig.names = ["cam_01", "cam_02"]
    calib = save_toml_calibration(tmp_path / "calib.toml", rig)
    with pytest.raises(SystemExit, match=r"no video for cameras \['cam_02'\]"):
        _script().main(["--videos", str(videos), "--calibration", str(calib), "--out", str(tmp_path / "o")])
    with pytest.raises(Exception, match="has 24 frames, cannot store frames \\[30\\]"):
        from lt_core.data.video import extract_frames

        extract_frames({"cam_01": videos / "cam01.mp4"}, tmp_path / "o2", [1, 30])
