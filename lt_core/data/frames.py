"""Stored video frames of a multi-camera recording, and the check that detections land on the person.

A frame set is a folder written once by ``scripts/extract_frames.py`` (decoding needs the optional ``video`` extra;
reading does not: JPEGs are read with Pillow, which matplotlib already needs)::

    frames.json                  the manifest (format ``lt-frames``, version 1)
    <folder>/frame_NNNN.jpg      video frame NNNN (0-based decoding order) of one camera, downscaled
    <folder>/background.jpg      per-pixel median of every frame of that camera's video (the static scene)

Manifest fields: ``scale`` (stored pixels = video pixels resized by ``scale``), ``offset`` (video frame =
detection frame + ``offset``, measured by :func:`offset_scores`), ``cameras`` (one record per camera: ``name`` as
in the calibration, ``folder``, ``video``, ``video_size`` [W, H], ``stored_size`` [W, H], ``frames`` (video frame
numbers stored)), and free-text ``source``/``decoder``/``note`` fields.

Coordinates: the detections and the calibration speak in video pixels; a stored frame of scale ``s`` shows pixel
``u`` at ``(u + 0.5) * s - 0.5`` (docs/CONVENTIONS.md: pixel centres stay centres). :meth:`FrameSet.to_image`
does this mapping.

Frame alignment (:func:`offset_scores`): with a static camera, the moving person is where a frame differs from the
median background. For each candidate offset ``k`` we read, in video frame ``f``, the foreground mask at the
keypoints detected for detection frame ``f - k``; limbs move, so only the right ``k`` puts elbows, wrists, knees
and feet on the person in every frame. The hit rate peaks at the true offset.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

__all__ = [
    "FRAMES_FORMAT",
    "MOVING_JOINTS",
    "FrameSetError",
    "FrameSet",
    "load_frames",
    "write_manifest",
    "frame_file",
    "to_image_pixels",
    "foreground_mask",
    "offset_scores",
]

PathLike = str | Path
FRAMES_FORMAT = "lt-frames"
MOVING_JOINTS: tuple[str, ...] = (
    "LElbow",
    "RElbow",
    "LWrist",
    "RWrist",
    "LKnee",
    "RKnee",
    "LAnkle",
    "RAnkle",
    "LBigToe",
    "RBigToe",
    "LHeel",
    "RHeel",
)
"""Keypoints (BODY_25B names) that move most: the ones that tell frame offsets apart."""


class FrameSetError(ValueError):
    """Malformed frame-set manifest or files; the message names the file and the field."""


def frame_file(video_frame: int) -> str:
    """File name of a stored video frame: ``frame_0041.jpg``."""
    return f"frame_{int(video_frame):04d}.jpg"


def to_image_pixels(uv: np.ndarray, scale: float) -> np.ndarray:
    """Video pixels (..., 2) -> pixels of the image resized by ``scale``: ``(u + 0.5) * scale - 0.5``."""
    return (np.asarray(uv, dtype=np.float64) + 0.5) * scale - 0.5


def _read_jpeg(path: Path) -> np.ndarray:
    from PIL import Image  # noqa: PLC0415 (Pillow ships with matplotlib)

    if not path.is_file():
        raise FileNotFoundError(f"frame image not found: {path}")
    with Image.open(path) as im:
        return np.asarray(im.convert("RGB"))


@dataclass
class FrameSet:
    """A folder of stored frames (see the module docstring).

    Attributes:
        root: the folder holding ``frames.json``.
        names: C camera names (as in the calibration).
        folders: C sub-folder names.
        video_frames: per camera, the stored video frame numbers.
        stored_sizes: per camera, (W, H) of the stored images.
        video_sizes: per camera, (W, H) of the decoded video.
        scale: stored pixels = video pixels resized by ``scale``.
        offset: video frame = detection frame + ``offset`` (``None`` if never measured).
        manifest: the whole manifest.
    """

    root: Path
    names: list[str]
    folders: list[str]
    video_frames: list[list[int]]
    stored_sizes: list[tuple[int, int]]
    video_sizes: list[tuple[int, int]]
    scale: float
    offset: int | None
    manifest: dict = field(repr=False)

    def camera_index(self, camera: str | int) -> int:
        """Index of a camera given by name or index."""
        if isinstance(camera, (int, np.integer)):
            if not 0 <= int(camera) < len(self.names):
                raise IndexError(f"camera index {camera} out of range for {len(self.names)} cameras")
            return int(camera)
        if camera not in self.names:
            raise KeyError(f"{self.root}: no camera named {camera!r}; cameras are {self.names}")
        return self.names.index(camera)

    @property
    def detection_frames(self) -> list[int]:
        """Detection frames whose video frame is stored in every camera (needs ``offset``)."""
        if self.offset is None:
            raise FrameSetError(f"{self.root / 'frames.json'}: field 'offset' is not set (run the offset measurement)")
        common = set(self.video_frames[0]).intersection(*map(set, self.video_frames[1:]))
        return sorted(v - self.offset for v in common)

    def video_frame(self, detection_frame: int) -> int:
        """Video frame number showing ``detection_frame``."""
        if self.offset is None:
            raise FrameSetError(f"{self.root / 'frames.json'}: field 'offset' is not set")
        return int(detection_frame) + self.offset

    def image(self, camera: str | int, detection_frame: int) -> np.ndarray:
        """(H, W, 3) uint8 stored image of ``camera`` at ``detection_frame`` (raises if that frame is not stored)."""
        c = self.camera_index(camera)
        v = self.video_frame(detection_frame)
        if v not in self.video_frames[c]:
            raise KeyError(
                f"{self.root / self.folders[c]}: video frame {v} (detection frame {detection_frame}) is "
                f"not stored; stored video frames: {self.video_frames[c]}"
            )
        return _read_jpeg(self.root / self.folders[c] / frame_file(v))

    def video_image(self, camera: str | int, video_frame: int) -> np.ndarray:
        """(H, W, 3) uint8 stored image of ``camera`` at a video frame number."""
        c = self.camera_index(camera)
        return _read_jpeg(self.root / self.folders[c] / frame_file(video_frame))

    def background(self, camera: str | int) -> np.ndarray:
        """(H, W, 3) uint8 median background of ``camera``."""
        c = self.camera_index(camera)
        return _read_jpeg(self.root / self.folders[c] / "background.jpg")

    def to_image(self, uv) -> np.ndarray:
        """Video/calibration pixels (..., 2) -> stored-image pixels (..., 2)."""
        return to_image_pixels(uv, self.scale)

    def offset_scores(
        self,
        points: np.ndarray,
        confidences: np.ndarray,
        frames: Sequence[int],
        offsets: Sequence[int] = range(-3, 4),
        joints: Sequence[int] | None = None,
        **kwargs,
    ):
        """:func:`offset_scores` on the stored frames (see there for the arguments and the result)."""
        return offset_scores(
            lambda c, v: self.video_image(c, v),
            self.background,
            self.video_frames,
            points,
            confidences,
            frames,
            self.scale,
            offsets,
            joints,
            self.names,
            **kwargs,
        )


def write_manifest(root: PathLike, cameras: Sequence[dict], scale: float, offset: int | None, **info) -> Path:
    """Write ``frames.json`` (see the module docstring); ``info`` adds free fields (source, decoder, scores)."""
    doc = {
        "format": FRAMES_FORMAT,
        "version": 1,
        "scale": float(scale),
        "offset": offset,
        **info,
        "cameras": list(cameras),
    }
    path = Path(root) / "frames.json"
    path.write_text(json.dumps(doc, indent=1) + "\n")
    return path


def load_frames(root: PathLike) -> FrameSet:
    """Read a frame set folder.

    Raises:
        FileNotFoundError: no ``frames.json`` or a listed image is missing.
        FrameSetError: the manifest is malformed (the message names the field).
    """
    root = Path(root)
    path = root / "frames.json"
    if not path.is_file():
        raise FileNotFoundError(f"frame manifest not found: {path}")
    try:
        doc = json.loads(path.read_text())
    except json.JSONDecodeError as e:
        raise FrameSetError(f"{path}: not valid JSON ({e})") from None
    if not isinstance(doc, dict) or doc.get("format") != FRAMES_FORMAT:
        raise FrameSetError(f"{path}: field 'format' must be {FRAMES_FORMAT!r}")
    try:
        scale = float(doc["scale"])
        records = list(doc["cameras"])
    except (KeyError, TypeError, ValueError) as e:
        raise FrameSetError(f"{path}: missing or malformed field {e}") from None
    if not scale > 0:
        raise FrameSetError(f"{path}: field 'scale' must be > 0, got {scale}")
    offset = doc.get("offset")
    names, folders, frames, stored, video = [], [], [], [], []
    for i, r in enumerate(records):
        where = f"{path}, camera #{i}"
        try:
            names.append(str(r["name"]))
            folders.append(str(r["folder"]))
            frames.append([int(v) for v in r["frames"]])
            stored.append(tuple(int(x) for x in r["stored_size"]))
            video.append(tuple(int(x) for x in r["video_size"]))
        except (KeyError, TypeError, ValueError) as e:
            raise FrameSetError(f"{where}: missing or malformed field {e}") from None
        for v in frames[-1]:
            if not (root / folders[-1] / frame_file(v)).is_file():
                raise FileNotFoundError(f"{where}: listed frame missing: {root / folders[-1] / frame_file(v)}")
    if not names:
        raise FrameSetError(f"{path}: field 'cameras' is empty")
    return FrameSet(root, names, folders, frames, stored, video, scale, None if offset is None else int(offset), doc)


# ----------------------------------------------------------------------------------------------- alignment check
def foreground_mask(image: np.ndarray, background: np.ndarray, threshold: float = 40.0, grow: int = 1) -> np.ndarray:
    """Pixels that differ from the static background: the moving person (and anything else that moved).

    Args:
        image: (H, W, 3) uint8 frame.
        background: (H, W, 3) uint8 median background of the same camera.
        threshold: summed absolute RGB difference (0-765) above which a pixel is foreground.
        grow: dilate the mask by this many pixels (a square neighbourhood), forgiving small offsets at edges.

    Returns:
        (H, W) bool mask.
    """
    if image.shape != background.shape:
        raise ValueError(f"image {image.shape} and background {background.shape} differ in shape")
    mask = np.abs(image.astype(np.int16) - background.astype(np.int16)).sum(-1) > threshold
    if grow > 0:
        padded = np.pad(mask, grow)
        h, w = mask.shape
        out = np.zeros_like(mask)
        for dy in range(2 * grow + 1):
            for dx in range(2 * grow + 1):
                out |= padded[dy : dy + h, dx : dx + w]
        mask = out
    return mask


def offset_scores(
    image_of: Callable[[int, int], np.ndarray],
    background_of: Callable[[int], np.ndarray],
    video_frames: Sequence[Sequence[int]],
    points: np.ndarray,
    confidences: np.ndarray,
    frames: Sequence[int],
    scale: float,
    offsets: Sequence[int] = range(-3, 4),
    joints: Sequence[int] | None = None,
    names: Sequence[str] | None = None,
    min_confidence: float = 0.3,
    threshold: float = 40.0,
    grow: int = 1,
):
    """How often the detected keypoints fall on the moving person, for each candidate frame offset.

    Args:
        image_of: ``image_of(c, v)`` -> (H, W, 3) uint8 video frame ``v`` of camera ``c`` (at ``scale``).
        background_of: ``background_of(c)`` -> (H, W, 3) uint8 median background of camera ``c``.
        video_frames: per camera, the video frames available.
        points: (T, C, J, 2) detected keypoints in video pixels (NaN where missing).
        confidences: (T, C, J) detection confidences (0 where missing).
        frames: the T detection frame numbers of ``points``.
        scale: image pixels = video pixels resized by ``scale``.
        offsets: candidate offsets ``k`` (video frame = detection frame + ``k``).
        joints: joint indices to use (default: every joint).
        names: C camera names for the table (default ``0..C-1``).
        min_confidence: keypoints below this confidence are not used.
        threshold, grow: see :func:`foreground_mask`.

    Returns:
        DataFrame with one row per camera and offset: ``camera``, ``offset``, ``hit_rate`` (fraction of keypoints
        on the foreground), ``keypoints`` (how many were tested), plus rows with ``camera == "all"`` pooling the
        cameras.
    """
    import pandas as pd  # noqa: PLC0415

    pts = np.asarray(points, dtype=np.float64)
    conf = np.asarray(confidences, dtype=np.float64)
    T, C, J, _ = pts.shape
    if conf.shape != (T, C, J) or len(frames) != T or len(video_frames) != C:
        raise ValueError(
            f"points {pts.shape}, confidences {conf.shape}, {len(frames)} frames and "
            f"{len(video_frames)} cameras do not agree"
        )
    use = np.zeros(J, bool)
    use[list(range(J)) if joints is None else list(joints)] = True
    row_of = {int(f): i for i, f in enumerate(frames)}
    names = [str(n) for n in (names if names is not None else range(C))]
    hits: dict[tuple[int, int], list[np.ndarray]] = {}
    for c in range(C):
        bg = background_of(c)
        for v in video_frames[c]:
            rows = [(k, row_of[v - k]) for k in offsets if (v - k) in row_of]
            if not rows:
                continue
            mask = foreground_mask(image_of(c, v), bg, threshold, grow)
            h, w = mask.shape
            for k, t in rows:
                ok = use & (conf[t, c] >= min_confidence) & np.isfinite(pts[t, c]).all(-1)
                uv = np.rint(to_image_pixels(pts[t, c, ok], scale)).astype(int)
                inside = (uv[:, 0] >= 0) & (uv[:, 0] < w) & (uv[:, 1] >= 0) & (uv[:, 1] < h)
                hit = np.zeros(len(uv), bool)
                hit[inside] = mask[uv[inside, 1], uv[inside, 0]]
                hits.setdefault((c, k), []).append(hit)
    rows_out = []
    for c in [*range(C), None]:
        for k in offsets:
            parts = [h for (cc, kk), hs in hits.items() if kk == k and (c is None or cc == c) for h in hs]
            arr = np.concatenate(parts) if parts else np.zeros(0, bool)
            rows_out.append(
                {
                    "camera": "all" if c is None else names[c],
                    "offset": int(k),
                    "hit_rate": float(arr.mean()) if arr.size else float("nan"),
                    "keypoints": int(arr.size),
                }
            )
    return pd.DataFrame(rows_out)
