"""Person crops like the paper's pipeline: a square box around the projected body per view, then resize.

The paper crops each full frame to a square box around the person and resizes it (to 384 x 384 there). Here the
crop is usually *rendered directly*: :func:`crop_to_person` returns the cameras of the cropped-and-resized images
(:meth:`Camera.crop_and_resize`), and rendering with those cameras draws exactly what cropping and resizing the
full image would show (point-sampled at the crop's pixel centres), at a fraction of the cost of a full 1000 x 1000
render. Parts of a box outside the original image are black in the paper's crops; :func:`crop_region` gives that
area so the renderer can blacken it too.

Box convention (that of :meth:`Camera.crop_and_resize`): ``(left, top, right, bottom)`` in pixel-corner units, i.e.
pixel-centre coordinates plus 0.5; a box ``(0, 0, W, H)`` is the whole image.
"""

from __future__ import annotations

import torch
from torch import Tensor

from lt_core.camera import Camera
from lt_core.render.body import CAPSULES, BodyStyle, body_points

__all__ = ["person_boxes", "crop_to_person", "crop_region", "body_point_radii"]

_HEAD = [c[0] for c in CAPSULES].index("head")


def body_point_radii(radii: Tensor) -> Tensor:
    """Radius of the body around each body point: the largest radius of the capsules ending there.

    Args:
        radii: (..., K) capsule radii in mm.

    Returns:
        (..., 26) radii in mm (0 for points no capsule ends at).
    """
    n_points = 1 + max(max(c[1], c[2]) for c in CAPSULES)
    out = radii.new_zeros(*radii.shape[:-1], n_points)
    for k, (_, a, b, _, _) in enumerate(CAPSULES):
        for p in (a, b):
            out[..., p] = torch.maximum(out[..., p], radii[..., k])
    return out


def person_boxes(
    joints: Tensor,
    cameras: Camera,
    body: BodyStyle | None = None,
    margin: float = 0.2,
    square: bool = True,
    min_size: float = 16.0,
) -> Tensor:
    """Bounding box of the rendered body in every view, enlarged and made square.

    The box encloses every body point's projection grown by the projected radius of the body there
    (``f r / z``), i.e. the drawn silhouette, not just the joint centres.

    Args:
        joints: (..., 17, 3) world mm.
        cameras: cameras of batch shape (..., C) or (C,) (broadcast over the joints' leading dimensions).
        body: build of the subject (radii); :meth:`BodyStyle.default` when ``None``.
        margin: the box side is ``(1 + margin)`` times the longer side of the tight box.
        square: make the box square (the paper's crops are).
        min_size: smallest side in pixels.

    Returns:
        (..., C, 4) boxes ``(left, top, right, bottom)`` in pixel-corner units (float64).
    """
    body = BodyStyle.default() if body is None else body
    lead = joints.shape[:-2]
    radii = body.radii.to(joints.device).double().expand(*lead, body.radii.shape[-1])
    pts = body_points(joints.double(), radii[..., _HEAD])  # (..., P, 3)
    pr = body_point_radii(radii)  # (..., P)
    cams = cameras.to(device=joints.device, dtype=torch.float64)
    pts_v = pts[..., None, :, :]  # (..., 1, P, 3) against (..., C)
    uv = cams.project(pts_v)  # (..., C, P, 2)
    z = cams.depth(pts_v).clamp_min(1.0)  # (..., C, P)
    f = 0.5 * (cams.K[..., 0, 0] + cams.K[..., 1, 1])  # (..., C)
    pad = f[..., None] * pr[..., None, :] / z  # (..., C, P)
    lo = (uv - pad[..., None]).amin(-2)
    hi = (uv + pad[..., None]).amax(-2)
    centre = 0.5 * (lo + hi) + 0.5  # corner units
    size = (hi - lo) * (1 + margin)
    if square:
        size = size.amax(-1, keepdim=True).expand_as(size)
    size = size.clamp_min(min_size)
    return torch.cat([centre - 0.5 * size, centre + 0.5 * size], -1)


def crop_to_person(
    joints: Tensor,
    cameras: Camera,
    out_size: tuple[int, int] | int = 128,
    body: BodyStyle | None = None,
    margin: float = 0.2,
) -> tuple[Camera, Tensor]:
    """Cameras of square person crops resized to ``out_size``.

    Args:
        joints: (..., 17, 3) world mm.
        cameras: (..., C) or (C,) full-frame cameras.
        out_size: (W, H) of the crops, or one int for square crops.
        body: subject build (sets how far the silhouette extends beyond the joints).
        margin: relative enlargement of the tight box (see :func:`person_boxes`).

    Returns:
        ``(cropped, boxes)``: cameras of batch shape (..., C) whose ``image_size`` is ``out_size``, and the
        (..., C, 4) boxes in full-frame pixel-corner units.
    """
    w, h = (out_size, out_size) if isinstance(out_size, int) else out_size
    boxes = person_boxes(joints, cameras, body, margin=margin, square=(w == h))
    if w != h:  # keep the aspect ratio of the output: widen or heighten the box
        c = 0.5 * (boxes[..., :2] + boxes[..., 2:])
        side = boxes[..., 2:] - boxes[..., :2]
        s = torch.maximum(side[..., 0] / w, side[..., 1] / h)
        half = 0.5 * torch.stack([s * w, s * h], -1)
        boxes = torch.cat([c - half, c + half], -1)
    lead = boxes.shape[:-1]
    cams = cameras.to(device=joints.device, dtype=torch.float64)
    if cams.batch_shape != lead:
        cams = cams.expand(*lead)
    return cams.crop_and_resize(boxes, (w, h)), boxes


def crop_region(boxes: Tensor, full_size: Tensor, out_size: tuple[int, int]) -> Tensor:
    """Where the original image lies inside each crop.

    Args:
        boxes: (..., 4) crop boxes ``(left, top, right, bottom)``, full-frame pixel-corner units.
        full_size: (..., 2) or (2,) full image ``(W, H)``.
        out_size: crop ``(W, H)``.

    Returns:
        (..., 4) ``(x0, y0, x1, y1)`` in crop pixel coordinates (pixel-centre convention): crop pixels whose centre
        lies outside this rectangle show no part of the original image (black in a real crop).
    """
    full = torch.as_tensor(full_size, dtype=boxes.dtype, device=boxes.device)
    sx = out_size[0] / (boxes[..., 2] - boxes[..., 0])
    sy = out_size[1] / (boxes[..., 3] - boxes[..., 1])
    x0 = -boxes[..., 0] * sx - 0.5
    y0 = -boxes[..., 1] * sy - 0.5
    x1 = (full[..., 0] - boxes[..., 0]) * sx - 0.5
    y1 = (full[..., 1] - boxes[..., 1]) * sy - 0.5
    return torch.stack([x0, y0, x1, y1], -1)
