"""What the three triangulation networks share: input checks, the pixel-convention check, heatmap cameras and the
heatmap-to-image mapping (:mod:`lt_core.conventions`)."""

from __future__ import annotations

from torch import Tensor

from lt_core.camera import Camera
from lt_core.conventions import heatmap_to_image

__all__ = ["heatmap_to_image_pixels", "heatmap_cameras", "check_multiview_inputs", "check_camera_convention"]


def heatmap_to_image_pixels(
    points: Tensor, heatmap_size: tuple[int, int], image_size: tuple[int, int], convention: str = "centres"
) -> Tensor:
    """Map heatmap pixels to image pixels (:func:`lt_core.conventions.heatmap_to_image`).

    Args:
        points: (..., 2) ``(u, v)`` heatmap pixels.
        heatmap_size: ``(h, w)`` of the heatmaps.
        image_size: ``(H, W)`` of the images.
        convention: ``"centres"``: ``u -> (u + 0.5) * W / w - 0.5``; ``"official"``: ``u -> u * W / w``.

    Returns:
        (..., 2) image pixels.
    """
    return heatmap_to_image(points, heatmap_size, image_size, convention)


def check_camera_convention(cameras: Camera, convention: str, model: str) -> None:
    """Raise ``ValueError`` when the cameras' pixel convention is not the model's (mixing them costs about a
    pixel: the heatmaps would be read against cameras off by ``0.5 s - 0.5`` px)."""
    if cameras.convention != convention:
        raise ValueError(
            f"{model} uses the {convention!r} pixel convention but the cameras carry {cameras.convention!r}; build "
            f"the dataset/cameras with convention={convention!r} (or relabel cameras that were never resized with "
            "Camera.with_convention)"
        )


def heatmap_cameras(cameras: Camera, heatmap_size: tuple[int, int], image_size: tuple[int, int]) -> Camera:
    """Image cameras resized to the heatmap resolution (``Camera.resize`` by ``w / W`` and ``h / H``)."""
    (h, w), (H, W) = heatmap_size, image_size
    return cameras.resize(w / W, h / H)


def check_multiview_inputs(images: Tensor, cameras: Camera, views_valid: Tensor | None) -> tuple[int, int]:
    """Validate ``images`` (B, C, 3, H, W), ``cameras`` (B, C) and ``views_valid`` (B, C); return (B, C)."""
    if not isinstance(images, Tensor) or images.dim() != 5 or images.shape[2] != 3:
        shape = tuple(images.shape) if isinstance(images, Tensor) else type(images).__name__
        raise ValueError(f"images must have shape (B, C, 3, H, W), got {shape}")
    B, C = images.shape[:2]
    if not isinstance(cameras, Camera):
        raise TypeError(
            f"cameras must be a lt_core.camera.Camera with batch shape (B, C), got {type(cameras).__name__}"
        )
    if tuple(cameras.batch_shape) != (B, C):
        raise ValueError(
            f"cameras must have batch shape ({B}, {C}) to match the images, got {tuple(cameras.batch_shape)}"
        )
    if views_valid is not None and tuple(views_valid.shape) != (B, C):
        raise ValueError(f"views_valid must have shape ({B}, {C}), got {tuple(views_valid.shape)}")
    return B, C
