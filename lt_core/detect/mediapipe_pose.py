"""MediaPipe's pose landmarks as BODY_25B detections, written as OpenPose JSON. Needs the optional ``pose`` extra.

Why this detector: the legacy pose solution of ``mediapipe`` 0.10.14 carries its networks
(``pose_detection.tflite``, ``pose_landmark_full.tflite``) inside the wheel, so it runs offline; 0.10.21 pins
``numpy<2`` and releases from 0.10.30 on no longer ship the legacy models. 0.10.14 installs beside this project's
numpy 2.x and torch (it adds jax, jaxlib, opencv-contrib-python and protobuf<5), which is why it is an extra.

MediaPipe finds one person per image and returns 33 BlazePose landmarks, ``x, y`` as fractions of the image width
and height (0 = left/top edge) and a ``visibility`` in [0, 1]. :func:`blazepose_to_body25b` maps them to
BODY_25B: same-named points are copied, the neck is the mean of the shoulders (visibility: the smaller one), and
``Head``, ``LSmallToe``, ``RSmallToe`` have no counterpart (confidence 0). BlazePose's hips sit a few centimetres
from OpenPose's, so the two skeletons differ there by definition.
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Iterable
from pathlib import Path

import numpy as np

from lt_core.data.frames import FrameSet
from lt_core.skeleton import BODY25B

__all__ = [
    "BLAZEPOSE_FOR_BODY25B",
    "require_mediapipe",
    "blazepose_to_body25b",
    "detect_body25b",
    "write_openpose_json",
    "detect_frame_set",
]

BLAZEPOSE_FOR_BODY25B: dict[str, tuple[int, ...]] = {
    "Nose": (0,),
    "LEye": (2,),
    "REye": (5,),
    "LEar": (7,),
    "REar": (8,),
    "LShoulder": (11,),
    "RShoulder": (12,),
    "LElbow": (13,),
    "RElbow": (14,),
    "LWrist": (15,),
    "RWrist": (16,),
    "LHip": (23,),
    "RHip": (24,),
    "LKnee": (25,),
    "RKnee": (26,),
    "LAnkle": (27,),
    "RAnkle": (28,),
    "Neck": (11, 12),
    "Head": (),
    "LBigToe": (31,),
    "LSmallToe": (),
    "LHeel": (29,),
    "RBigToe": (32,),
    "RSmallToe": (),
    "RHeel": (30,),
}
"""BODY_25B joint -> BlazePose landmark indices averaged for it (empty: no counterpart)."""


def require_mediapipe():
    """Import MediaPipe, or explain how to install it."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            import mediapipe  # noqa: PLC0415 (optional dependency)
    except ImportError as e:
        raise ImportError(
            'the MediaPipe detector needs the optional extra: pip install -e ".[pose]" '
            "(mediapipe==0.10.14, whose wheel carries the pose models)"
        ) from e
    return mediapipe


def blazepose_to_body25b(landmarks: np.ndarray) -> np.ndarray:
    """(33, 3) BlazePose ``(u, v, visibility)`` in pixels -> (25, 3) BODY_25B ``(u, v, confidence)``.

    Joints without a counterpart are ``(0, 0, 0)``, OpenPose's marker of a missing keypoint.
    """
    lm = np.asarray(landmarks, dtype=np.float64)
    if lm.shape != (33, 3):
        raise ValueError(f"expected (33, 3) BlazePose landmarks, got {lm.shape}")
    out = np.zeros((BODY25B.num_joints, 3))
    for j, name in enumerate(BODY25B.joints):
        idx = list(BLAZEPOSE_FOR_BODY25B[name])
        if idx:
            out[j, :2] = lm[idx, :2].mean(0)
            out[j, 2] = lm[idx, 2].min()
    return out


def detect_body25b(
    images: Iterable[np.ndarray], model_complexity: int = 1, min_detection_confidence: float = 0.5
) -> list[np.ndarray]:
    """Run MediaPipe Pose (static images) on RGB images.

    Args:
        images: (H, W, 3) uint8 RGB images.
        model_complexity: 0, 1 (``pose_landmark_full``, shipped in the wheel) or 2 (not shipped: refused).
        min_detection_confidence: person detector threshold.

    Returns:
        Per image, (P, 25, 3) BODY_25B keypoints ``(u, v, confidence)`` in that image's pixels (centres at
        integers), ``P`` = 1 when a person was found, else 0.
    """
    if model_complexity not in (0, 1):
        raise ValueError(
            "model_complexity must be 0 or 1: the heavy model (2) is not in the wheel and would be downloaded"
        )
    mp = require_mediapipe()
    out = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with mp.solutions.pose.Pose(
            static_image_mode=True, model_complexity=model_complexity, min_detection_confidence=min_detection_confidence
        ) as pose:
            for image in images:
                h, w = image.shape[:2]
                res = pose.process(np.ascontiguousarray(image))
                if res.pose_landmarks is None:
                    out.append(np.zeros((0, BODY25B.num_joints, 3)))
                    continue
                lm = np.array([[p.x * w - 0.5, p.y * h - 0.5, p.visibility] for p in res.pose_landmarks.landmark])
                out.append(blazepose_to_body25b(lm)[None])
    return out


def write_openpose_json(path: Path | str, people: np.ndarray) -> Path:
    """Write (P, 25, 3) keypoints as OpenPose JSON (read by :func:`lt_core.data.pose2sim.read_openpose_json`)."""
    kp = np.asarray(people, dtype=np.float64).reshape(-1, BODY25B.num_joints, 3)
    doc = {
        "version": 1.3,
        "people": [{"person_id": [-1], "pose_keypoints_2d": [round(float(v), 3) for v in p.reshape(-1)]} for p in kp],
    }
    p = Path(path)
    p.write_text(json.dumps(doc))
    return p


def detect_frame_set(frames: FrameSet, out: Path | str, model_complexity: int = 1) -> dict[str, int]:
    """Detect BODY_25B keypoints on every stored frame and write OpenPose JSON per camera and detection frame.

    Keypoints are converted to the video's pixels (``u = (u_stored + 0.5) / scale - 0.5``), the coordinates of
    the calibration, so the result triangulates like any OpenPose folder: ``out/<camera folder>_json/
    <camera folder>.<detection frame:04d>.json``.

    Returns:
        Per camera name, the number of frames where a person was found.
    """
    out = Path(out)
    found = {}
    for c, name in enumerate(frames.names):
        folder = out / f"{frames.folders[c]}_json"
        folder.mkdir(parents=True, exist_ok=True)
        det_frames = [v - frames.offset for v in frames.video_frames[c]]
        images = [frames.video_image(c, v) for v in frames.video_frames[c]]
        people = detect_body25b(images, model_complexity)
        for t, p in zip(det_frames, people):
            p = p.copy()
            ok = p[..., 2] > 0
            p[..., :2] = np.where(ok[..., None], (p[..., :2] + 0.5) / frames.scale - 0.5, 0.0)
            write_openpose_json(folder / f"{frames.folders[c]}.{t:04d}.json", p)
        found[name] = sum(len(p) for p in people)
    return found
