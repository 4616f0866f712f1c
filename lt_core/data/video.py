"""Decode videos into a stored frame set (see :mod:`lt_core.data.frames`). Needs the optional ``video`` extra.

The decoder is PyAV (``pip install -e ".[video]"``): its wheels carry FFmpeg's libraries (H.264, VP9, ...), so
nothing else has to be installed, and it hands each decoded frame over as a NumPy array with its presentation
time, which lets us check that frames come out complete and in order (frame numbers here are 0-based positions
in presentation order). Only ``scripts/extract_frames.py`` decodes; notebooks and tests read the stored JPEGs.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from lt_core.data.frames import FrameSet, frame_file, load_frames, write_manifest

__all__ = ["VideoError", "require_av", "decode_video", "downscale", "median_background", "extract_frames"]

PathLike = str | Path


class VideoError(ValueError):
    """A video that cannot be used (missing stream, frames out of order, sizes that disagree)."""


def require_av():
    """Import PyAV, or explain how to install it."""
    try:
        import av  # noqa: PLC0415 (optional dependency)
    except ImportError as e:
        raise ImportError(
            'decoding videos needs the optional package PyAV: pip install -e ".[video]" '
            "(the notebooks and tests read the stored JPEG frames and need no decoder)"
        ) from e
    return av


def downscale(image: np.ndarray, scale: float) -> np.ndarray:
    """Shrink an (H, W, 3) uint8 image by ``scale = 1 / n`` (integer ``n``) with a box filter.

    Each output pixel is the mean of an ``n x n`` block, so pixel ``u`` maps to ``(u + 0.5) * scale - 0.5``
    exactly. A trailing partial block (odd sizes) is averaged over the pixels it has.
    """
    from PIL import Image  # noqa: PLC0415

    n = round(1.0 / scale)
    if n < 1 or abs(n * scale - 1.0) > 1e-9:
        raise ValueError(f"scale must be 1/n for an integer n >= 1, got {scale}")
    if n == 1:
        return image
    return np.asarray(Image.fromarray(image).reduce(n))


def decode_video(path: PathLike, scale: float = 1.0) -> np.ndarray:
    """Decode every frame of a video's first video stream.

    Args:
        path: the video file.
        scale: downscale each frame by this factor (see :func:`downscale`).

    Returns:
        (N, H, W, 3) uint8 RGB frames in presentation order.

    Raises:
        FileNotFoundError: no such file.
        VideoError: no video stream, or presentation times that go backwards or repeat.
    """
    av = require_av()
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"video not found: {p}")
    frames, times = [], []
    with av.open(str(p)) as container:
        if not container.streams.video:
            raise VideoError(f"{p}: no video stream")
        for frame in container.decode(video=0):
            frames.append(downscale(frame.to_ndarray(format="rgb24"), scale))
            times.append(frame.pts)
    if not frames:
        raise VideoError(f"{p}: no frame could be decoded")
    t = np.array([np.nan if x is None else x for x in times], dtype=float)
    if np.isfinite(t).all() and (np.diff(t) <= 0).any():
        bad = int(np.argmax(np.diff(t) <= 0)) + 1
        raise VideoError(f"{p}: presentation time of frame {bad} does not increase ({t[bad - 1]} -> {t[bad]})")
    return np.stack(frames)


def median_background(frames: np.ndarray) -> np.ndarray:
    """(N, H, W, 3) uint8 -> (H, W, 3) uint8 per-pixel median: the static scene when the person moves."""
    return np.median(frames, axis=0).round().astype(np.uint8)


def extract_frames(
    videos: Mapping[str, PathLike],
    out: PathLike,
    frames: Sequence[int],
    scale: float = 0.5,
    quality: int = 75,
    offset: int | None = None,
    **info,
) -> tuple[FrameSet, dict[str, np.ndarray]]:
    """Decode videos and store some of their frames, downscaled, as JPEG, with backgrounds and a manifest.

    Args:
        videos: camera name (as in the calibration) -> video file; the sub-folder is the video's stem.
        out: output folder (created; existing files of the same names are overwritten).
        frames: video frame numbers (0-based) to store, the same for every camera.
        scale: downscale factor ``1 / n``.
        quality: JPEG quality (1-95).
        offset: video frame = detection frame + ``offset``, if known (else measured later and set with
            :func:`lt_core.data.frames.write_manifest`).
        **info: free fields for the manifest (source, decoder, ...).

    Returns:
        ``(frame_set, decoded)``: the written :class:`FrameSet` and, per camera name, every decoded frame at
        ``scale`` (for measurements that need them all, such as the offset check).
    """
    from PIL import Image  # noqa: PLC0415

    av = require_av()
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    records, decoded = [], {}
    for name, path in videos.items():
        video = decode_video(path, scale)
        n = len(video)
        missing = [f for f in frames if not 0 <= f < n]
        if missing:
            raise VideoError(f"{path}: has {n} frames, cannot store frames {missing}")
        folder = Path(path).stem
        (out / folder).mkdir(exist_ok=True)
        for f in frames:
            Image.fromarray(video[f]).save(out / folder / frame_file(f), quality=quality)
        Image.fromarray(median_background(video)).save(out / folder / "background.jpg", quality=90)
        with av.open(str(path)) as container:
            stream = container.streams.video[0]
            size = [int(stream.codec_context.width), int(stream.codec_context.height)]
            codec = stream.codec_context.name
        records.append(
            {
                "name": name,
                "folder": folder,
                "video": Path(path).name,
                "codec": codec,
                "video_frames": n,
                "video_size": size,
                "stored_size": [video.shape[2], video.shape[1]],
                "frames": [int(f) for f in frames],
            }
        )
        decoded[name] = video
    write_manifest(out, records, scale, offset, decoder=f"PyAV {av.__version__}", jpeg_quality=quality, **info)
    return load_frames(out), decoded
