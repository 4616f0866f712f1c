"""Pixel and sampling conventions: the project's pixel-centre rules, and the rules of the paper's released code.

Every step of the method that turns pixels into other pixels, or pixels into samples of a map, depends on what a
pixel coordinate means. Two sets of rules are supported, and this module is the one place that defines them:

``"centres"`` (the default; docs/CONVENTIONS.md)
    Integer pixel coordinates are pixel centres, a ``W``-pixel-wide image covers ``u`` in ``[-0.5, W - 0.5]``.
    Resizing by ``s`` maps ``u -> (u + 0.5) s - 0.5``; heatmap pixels map to image pixels the same way
    (``u_img = (u_hm + 0.5) W / w - 0.5``); the DLT is Hartley-normalised and solved in float64; a voxel samples a
    map only where it projects inside the map's rectangle, and the softmax over views runs over the views that see
    the voxel.

``"official"`` (what the released code of Iskakov et al. computes, so that its checkpoints give its outputs)
    Crop ``c -> c - left`` as above, but resize ``c -> c s`` with no half-pixel term (``multiview.py`` of the
    released code), so after a resize the camera is ``0.5 s - 0.5`` px away from the image content, an offset the
    released networks learned; heatmap to image ``u_img = u_hm W / w``; the weighted DLT is solved unnormalised, by
    one SVD per point, in the precision of its inputs (float32 in the models); unprojection samples the map at the
    continuous pixel index ``(u (w - 1) / h, v (h - 1) / w)`` (the released code normalises ``x`` by the map
    *height* and ``y`` by its width, then calls ``grid_sample(align_corners=True)``: identical to
    ``u (w - 1) / w`` for square maps), reads zero padding outside the map, gives 0 to voxels behind a camera, and
    lets every (valid) view take part in the softmax over views, those zeros included; a box is scaled about its
    integer centre with the new side truncated to an integer.

The cameras carry their convention (:attr:`lt_core.camera.Camera.convention`): it decides how
:meth:`~lt_core.camera.Camera.resize` moves the principal point, and the models refuse cameras of the other
convention instead of silently mixing them (the cost of mixing is about a pixel: measured in notebook 04).

Paper: Iskakov et al., "Learnable Triangulation of Human Pose", ICCV 2019, arXiv:1905.05754 (Sec. 2.1-2.2).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import torch
from torch import Tensor

__all__ = [
    "Convention",
    "CONVENTIONS",
    "DEFAULT_CONVENTION",
    "ConventionRules",
    "check_convention",
    "rules",
    "resize_coordinate",
    "heatmap_to_image",
    "sampling_transform",
    "sampling_bounds",
    "scale_box",
]

Convention = Literal["centres", "official"]
CONVENTIONS: tuple[str, ...] = ("centres", "official")
"""The supported conventions."""

DEFAULT_CONVENTION: Convention = "centres"
"""The convention of cameras and models that do not state one (and of checkpoints written before the field
existed)."""


@dataclass(frozen=True)
class ConventionRules:
    """What a convention decides, one field per rule.

    Attributes:
        name: ``"centres"`` or ``"official"``.
        resize_offset: ``o`` in the resize rule ``u -> (u + o) s - o`` (0.5 or 0).
        normalized_dlt: Hartley-normalised float64 DLT (``True``) or the raw weighted DLT solved by SVD in the
            inputs' precision (``False``).
        sample_by_other_side: sampling index ``u (w - 1) / h, v (h - 1) / w`` (the released code's; ``False``:
            the pixel coordinate itself).
        border: ``"mask"``: a voxel reads a map only inside ``[-0.5, w - 0.5] x [-0.5, h - 0.5]``;
            ``"padding"``: anywhere, with zero padding (values fade to 0 within a pixel of the border).
        softmax_views: ``"seen"``: the softmax over views runs over the views that see the voxel;
            ``"valid"``: over every valid view, a view that does not see the voxel taking part with value 0.
        box_side: ``"round"`` or ``"int"``: how a scaled box side becomes an integer.
    """

    name: str
    resize_offset: float
    normalized_dlt: bool
    sample_by_other_side: bool
    border: Literal["mask", "padding"]
    softmax_views: Literal["seen", "valid"]
    box_side: Literal["round", "int"]


_RULES = {
    "centres": ConventionRules("centres", 0.5, True, False, "mask", "seen", "round"),
    "official": ConventionRules("official", 0.0, False, True, "padding", "valid", "int"),
}


def check_convention(convention: object) -> Convention:
    """Return ``convention`` if it is a supported name, else raise ``ValueError`` listing the accepted ones."""
    if isinstance(convention, ConventionRules):
        return convention.name  # type: ignore[return-value]
    if convention not in _RULES:
        raise ValueError(f"convention must be one of {CONVENTIONS}, got {convention!r}")
    return convention  # type: ignore[return-value]


def rules(convention: str | ConventionRules) -> ConventionRules:
    """The :class:`ConventionRules` of a convention name."""
    return _RULES[check_convention(convention)]


def resize_coordinate(u: Tensor | float, scale: Tensor | float, convention: str) -> Tensor | float:
    """Where a pixel coordinate lands when its image is resized by ``scale``.

    Args:
        u: pixel coordinate(s) (or a principal point), any shape.
        scale: new size / old size along that axis, broadcastable to ``u``.
        convention: ``"centres"``: ``(u + 0.5) s - 0.5``; ``"official"``: ``u s``.

    Returns:
        The resized coordinate(s), same type as ``u``.
    """
    o = rules(convention).resize_offset
    return (u + o) * scale - o if o else u * scale


def heatmap_to_image(
    points: Tensor, heatmap_size: tuple[int, int], image_size: tuple[int, int], convention: str
) -> Tensor:
    """Map heatmap pixels to image pixels.

    Args:
        points: (..., 2) ``(u, v)`` heatmap pixels.
        heatmap_size: ``(h, w)`` of the heatmaps.
        image_size: ``(H, W)`` of the images.
        convention: ``"centres"``: ``u -> (u + 0.5) W / w - 0.5``; ``"official"``: ``u -> u W / w``.

    Returns:
        (..., 2) image pixels, same dtype as ``points``.
    """
    (h, w), (H, W) = heatmap_size, image_size
    scale = points.new_tensor([W / w, H / h])
    return resize_coordinate(points, scale, convention)


def sampling_transform(
    heatmap_size: tuple[int, int],
    convention: str,
    dtype: torch.dtype = torch.float64,
    device: torch.device | str | None = None,
) -> Tensor:
    """(3, 3) matrix from a map's pixel coordinates (as its camera projects) to the index at which it is sampled.

    The index is in the project's sampling frame (integer = pixel centre, bilinear taps at ``floor`` and
    ``floor + 1``): identity for ``"centres"``; ``diag((w - 1) / h, (h - 1) / w, 1)`` for ``"official"`` (its
    ``2 u / h - 1`` normalisation read by ``grid_sample(align_corners=True)``). Pre-multiplying a projection matrix
    by it gives a projection straight to sampling indices.

    Args:
        heatmap_size: ``(h, w)`` of the maps.
        convention: the convention.
        dtype, device: of the result.
    """
    h, w = heatmap_size
    if rules(convention).sample_by_other_side:
        diag = [(w - 1) / h, (h - 1) / w, 1.0]
    else:
        diag = [1.0, 1.0, 1.0]
    return torch.diag(torch.tensor(diag, dtype=dtype, device=device))


def sampling_bounds(
    heatmap_size: tuple[int, int], convention: str, offset: float = 0.0, dtype: torch.dtype = torch.float64
) -> tuple[float, float, float, float]:
    """Sampling indices ``(u_min, u_max, v_min, v_max)`` (inclusive) at which a voxel reads a map.

    ``"centres"``: the map's rectangle ``[-0.5, w - 0.5] x [-0.5, h - 0.5]``. ``"official"``: every index whose
    bilinear taps touch the map, ``[-1, w) x [-1, h)`` (beyond it zero padding gives exactly 0); the upper bounds
    are returned as the largest number of ``dtype`` below ``w + offset`` and ``h + offset``, so that the tap at
    ``floor + 1`` never leaves a one-pixel padding ring.

    Args:
        heatmap_size: ``(h, w)`` of the maps.
        convention: the convention.
        offset: added to every bound (1 for coordinates in a map padded by one pixel).
        dtype: the precision the bounds are compared in.
    """
    h, w = heatmap_size
    if rules(convention).border == "mask":
        return -0.5 + offset, w - 0.5 + offset, -0.5 + offset, h - 0.5 + offset
    down = torch.tensor(-math.inf, dtype=dtype)
    below = lambda x: float(torch.nextafter(torch.tensor(x + offset, dtype=dtype), down))  # noqa: E731
    return -1.0 + offset, below(w), -1.0 + offset, below(h)


def scale_box(ltrb: Sequence[int], scale: float, convention: str) -> tuple[int, int, int, int]:
    """Scale a box about its integer centre.

    Args:
        ltrb: (left, top, right, bottom) integer pixels, right/bottom exclusive.
        scale: factor (1 keeps the box).
        convention: ``"centres"``: new side ``round(side * scale)``, placed so the box centre moves by at most
            half a pixel; ``"official"``: the released code's ``scale_bbox``: centre ``(l + r) // 2``, new side
            ``int(scale * side)``, new left ``centre - side // 2``.

    Returns:
        The scaled (left, top, right, bottom), integers.
    """
    left, top, right, bottom = (int(v) for v in ltrb)
    if scale == 1.0:
        return left, top, right, bottom
    w, h = right - left, bottom - top
    if rules(convention).box_side == "int":
        cx, cy = (right + left) // 2, (bottom + top) // 2
        nw, nh = int(scale * w), int(scale * h)
        new_left, new_top = cx - nw // 2, cy - nh // 2
        return new_left, new_top, new_left + nw, new_top + nh
    cx2, cy2 = left + right, top + bottom  # twice the centre, to stay in integers
    nw, nh = int(round(w * scale)), int(round(h * scale))
    new_left, new_top = (cx2 - nw) // 2, (cy2 - nh) // 2
    return new_left, new_top, new_left + nw, new_top + nh
