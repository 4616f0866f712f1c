"""Extract frames of a multi-camera recording once into a light JPEG frame set, and measure the frame offset.

Usage (the command that built ``data/pose2sim_balancing/frames``; needs ``pip install -e ".[video]"``)::

    python scripts/extract_frames.py --videos ../shared/data/pose2sim_balancing/videos \\
        --calibration data/pose2sim_balancing/calibration/Calib_qualisys.toml \\
        --detections data/pose2sim_balancing/pose --out data/pose2sim_balancing/frames \\
        --frames 1,21,41,61,81 --scale 0.5 --quality 75

Videos are matched to the calibration's cameras by the number in their names (``cam01.mp4`` <-> ``cam_01``).
Every frame is decoded (PyAV) and downscaled; the listed video frames (0-based) and each camera's median
background are written as JPEG with a ``frames.json`` manifest (see :mod:`lt_core.data.frames`). With
``--detections`` (OpenPose JSON folders), the offset between video frames and detection files is measured on
*all* decoded frames (how often moving keypoints land on the person, :func:`lt_core.data.frames.offset_scores`),
printed, and stored in the manifest; ``--offset`` sets it by hand instead.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from lt_core.data.calibration import load_toml_calibration  # noqa: E402
from lt_core.data.frames import MOVING_JOINTS, offset_scores, write_manifest  # noqa: E402
from lt_core.data.video import extract_frames  # noqa: E402
from lt_core.skeleton import BODY25B  # noqa: E402

VIDEO_SUFFIXES = (".mp4", ".avi", ".mov", ".mkv", ".webm")


def _number(name: str) -> int | None:
    nums = re.findall(r"\d+", name)
    return int(nums[-1]) if nums else None


def match_videos(names: list[str], folder: Path) -> dict[str, Path]:
    """Calibration camera name -> video file, matched by the number in the names."""
    videos = sorted(p for p in folder.iterdir() if p.suffix.lower() in VIDEO_SUFFIXES)
    if not videos:
        raise SystemExit(f"error: no video ({', '.join(VIDEO_SUFFIXES)}) in {folder}")
    by_number = {_number(p.stem): p for p in videos}
    missing = [n for n in names if _number(n) not in by_number]
    if missing:
        raise SystemExit(
            f"error: no video for cameras {missing} in {folder} (videos: {[p.name for p in videos]}); "
            "videos are matched to cameras by the number in their names"
        )
    return {n: by_number[_number(n)] for n in names}


def parse_frames(text: str) -> list[int]:
    """``"1,21,41"`` or a range ``"1:100:20"`` (start:stop:step) -> frame numbers."""
    if ":" in text:
        parts = [int(p) for p in text.split(":")]
        return list(range(*parts))
    return [int(p) for p in text.split(",") if p.strip()]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--videos", type=Path, required=True, help="folder of one video per camera")
    ap.add_argument("--calibration", type=Path, required=True, help="Pose2Sim/anipose TOML (camera names)")
    ap.add_argument("--out", type=Path, required=True, help="output folder of the frame set")
    ap.add_argument("--frames", default="1,21,41,61,81", help="video frames to store: 1,21,41 or start:stop:step")
    ap.add_argument("--scale", type=float, default=0.5, help="downscale factor 1/n (default 0.5)")
    ap.add_argument("--quality", type=int, default=75, help="JPEG quality (default 75)")
    ap.add_argument("--detections", type=Path, default=None, help="OpenPose JSON folders: measure the offset")
    ap.add_argument("--offset", type=int, default=None, help="set the offset (video = detection + offset) by hand")
    ap.add_argument("--search", type=int, default=5, help="offsets searched: -search..search (default 5)")
    args = ap.parse_args(argv)

    cameras = load_toml_calibration(args.calibration)
    videos = match_videos(list(cameras.names), args.videos)
    frames = parse_frames(args.frames)
    print(f"decoding {len(videos)} videos, storing video frames {frames} at scale {args.scale} ...", flush=True)
    info = {
        "source": f"videos {', '.join(p.name for p in videos.values())}",
        "note": "frame_NNNN.jpg is video frame NNNN (0-based); video frame = detection frame + offset",
    }
    fs, decoded = extract_frames(videos, args.out, frames, args.scale, args.quality, args.offset, **info)
    offset = args.offset
    if args.detections is not None and offset is None:
        from lt_core.data.pose2sim import Pose2SimDetections  # noqa: PLC0415

        det = Pose2SimDetections.load(args.detections.parent, calibration=args.calibration, pose_dir=args.detections)
        names = list(cameras.names)
        video_list = [decoded[n] for n in names]
        from lt_core.data.video import median_background  # noqa: PLC0415

        backgrounds = [median_background(v) for v in video_list]
        joints = [BODY25B.joints.index(j) for j in MOVING_JOINTS]
        scores = offset_scores(
            lambda c, v: video_list[c][v],
            lambda c: backgrounds[c],
            [list(range(len(v))) for v in video_list],
            det.points.numpy(),
            det.confidences.numpy(),
            det.frames,
            fs.scale,
            range(-args.search, args.search + 1),
            joints,
            names,
        )
        table = scores.pivot(index="offset", columns="camera", values="hit_rate")[[*names, "all"]]
        print("fraction of moving keypoints (elbows, wrists, knees, feet) on the person, every decoded frame:")
        print(table.to_string(float_format=lambda x: f"{x:.3f}"))
        pooled = scores[scores.camera == "all"].set_index("offset")["hit_rate"]
        offset = int(pooled.idxmax())
        per_camera = {n: int(scores[scores.camera == n].set_index("offset")["hit_rate"].idxmax()) for n in names}
        print(f"offset: video frame = detection frame + {offset} (best per camera: {per_camera})")
        info["offset_measurement"] = {
            "method": "fraction of moving keypoints on the foreground (|frame - median background|), all frames",
            "hit_rate_by_offset": {str(k): round(float(v), 4) for k, v in pooled.items()},
            "best_offset_per_camera": per_camera,
        }
    if offset is not None:
        extra = {k: v for k, v in fs.manifest.items() if k not in ("format", "version", "scale", "offset", "cameras")}
        write_manifest(args.out, fs.manifest["cameras"], fs.scale, offset, **{**extra, **info})
    total = sum(p.stat().st_size for p in args.out.rglob("*") if p.is_file())
    print(f"wrote {args.out} ({total / 1e6:.2f} MB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
