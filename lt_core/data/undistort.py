"""Undistorting whole images, as the paper's released preprocessing does for Human3.6M.

The released evaluation configurations read ``imageSequence-undistorted``: every frame resampled once so that the
pinhole camera ``K`` (with the distortion dropped) describes it. The released script builds, for every pixel of the
undistorted image, the distorted pixel it comes from (Human3.6M's lens model, float32 arithmetic), rounds those
positions to 1/32 pixel (OpenCV's fixed-point remap maps) and resamples with bicubic interpolation (a = -0.75,
zero outside the image). :func:`undistortion_map` and :func:`remap_bicubic` do the same, so
``Human36MDataset(..., undistorted="on_the_fly")`` needs no pre-undistorted copy of the dataset; the result matches
the released script's before its JPEG encoding to about one grey level (tests/test_undistort.py).

Pixel coordinates follow docs/CONVENTIONS.md (integer = pixel centre), as the released script's do.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from lt_core.camera import Camera
from lt_core.lens import distort_normalized

__all__ = ["undistortion_map", "remap_bicubic", "undistort_image"]

REMAP_SUBPIXELS = 32
"""Positions are rounded to 1/32 pixel, as OpenCV's fixed-point remap maps (``INTER_TAB_SIZE``) do."""


def undistortion_map(camera: Camera, width: int, height: int) -> Tensor:
    """For every pixel of the undistorted image, the distorted image's pixel it samples.

    Args:
        camera: one camera (batch shape ``()``): ``K`` of the image and its lens (``dist``, ``distortion_model``).
        width, height: image size in pixels.

    Returns:
        (H, W, 2) float32 source pixel coordinates ``(u, v)`` (float32 arithmetic, like the released script).
    """
    if camera.batch_shape != torch.Size([]):
        raise ValueError(f"undistortion_map needs one camera, got batch shape {tuple(camera.batch_shape)}")
    K = camera.K.to(torch.float32)
    fx, fy, cx, cy = K[0, 0], K[1, 1], K[0, 2], K[1, 2]
    x = (torch.arange(width, dtype=torch.float32) - cx) / fx
    y = (torch.arange(height, dtype=torch.float32) - cy) / fy
    xy = torch.stack(torch.meshgrid(x, y, indexing="xy"), -1)  # (H, W, 2) normalised coordinates of the output
    d = distort_normalized(xy.reshape(1, -1, 2), camera.dist.to(torch.float32)[None], camera.distortion_model)
    uv = d[0] * torch.stack([fx, fy]) + torch.stack([cx, cy])
    return uv.reshape(height, width, 2)


def remap_bicubic(image: Tensor, source: Tensor, subpixels: int = REMAP_SUBPIXELS) -> Tensor:
    """Resample an image at given source positions by bicubic interpolation (a = -0.75, zero outside).

    Args:
        image: (3, H_in, W_in) uint8 or float image.
        source: (H, W, 2) source pixel coordinates ``(u, v)``.
        subpixels: positions are rounded to ``1 / subpixels`` pixel first (0: no rounding).

    Returns:
        (3, H, W) image of ``image``'s dtype (uint8 results rounded to nearest and clipped).
    """
    if image.dim() != 3:
        raise ValueError(f"image must have shape (3, H, W), got {tuple(image.shape)}")
    if source.dim() != 3 or source.shape[-1] != 2:
        raise ValueError(f"source must have shape (H, W, 2), got {tuple(source.shape)}")
    _, h_in, w_in = image.shape
    pos = source.to(torch.float64)
    if subpixels:
        pos = torch.round(pos * subpixels) / subpixels  # round half to even, as OpenCV's cvRound
    scale = pos.new_tensor([2.0 / max(w_in - 1, 1), 2.0 / max(h_in - 1, 1)])
    grid = (pos * scale - 1.0).to(torch.float32)[None]  # align_corners=True: -1 and 1 are the corner pixels' centres
    out = F.grid_sample(image[None].to(torch.float32), grid, mode="bicubic", padding_mode="zeros", align_corners=True)[
        0
    ]
    if image.dtype == torch.uint8:
        return out.round().clamp(0, 255).to(torch.uint8)
    return out.to(image.dtype)


def undistort_image(image: Tensor, camera: Camera, source: Tensor | None = None) -> Tensor:
    """The undistorted image: (3, H, W) -> (3, H, W), described by ``camera`` without its distortion.

    Args:
        image: (3, H, W) uint8 or float image seen through ``camera``'s lens.
        camera: one camera (batch shape ``()``).
        source: a map from :func:`undistortion_map` for this camera and size, to reuse it across frames.
    """
    _, h, w = image.shape
    if source is None:
        source = undistortion_map(camera, w, h)
    elif tuple(source.shape[:2]) != (h, w):
        raise ValueError(f"undistortion map of shape {tuple(source.shape[:2])} does not fit an image of {h} x {w}")
    return remap_bicubic(image, source)
