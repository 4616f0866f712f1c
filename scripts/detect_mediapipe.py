"""Detect 2D poses with MediaPipe on a stored frame set and write them as OpenPose JSON (optional ``pose`` extra).

Usage (the command that wrote ``data/pose2sim_balancing/mediapipe``; needs ``pip install -e ".[pose]"``)::

    python scripts/detect_mediapipe.py --frames data/pose2sim_balancing/frames \\
        --out data/pose2sim_balancing/mediapipe

One folder ``<camera>_json`` per camera, one file per stored frame, named by detection frame (the frame set's
offset applied) and in the calibration's (full video) pixels, so ``python -m lt_core.triangulate --detections
<out>`` and notebook 07 read it like OpenPose output. The models run from the wheel; nothing is downloaded.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from lt_core.data.frames import load_frames  # noqa: E402
from lt_core.detect.mediapipe_pose import detect_frame_set, require_mediapipe  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--frames", type=Path, required=True, help="frame set folder (frames.json)")
    ap.add_argument("--out", type=Path, required=True, help="output folder of per-camera JSON folders")
    ap.add_argument("--model-complexity", type=int, default=1, choices=[0, 1])
    args = ap.parse_args(argv)
    mp = require_mediapipe()
    found = detect_frame_set(load_frames(args.frames), args.out, args.model_complexity)
    print(
        f"MediaPipe {mp.__version__}: person found in "
        + ", ".join(f"{n}: {k}" for n, k in found.items())
        + f" frames; wrote {args.out}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
