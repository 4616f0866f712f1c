"""Render-time augmentation of the embedded data: crop jitter (scale, shift, roll of each view's crop camera) and
pose tilt (bodies bent over or upside down).

Both act before rendering (:class:`lt_core.data.synthetic.SyntheticMultiViewDataset` options ``crop_jitter`` and
``pose_tilt``), so images and labels stay exact: the crop cameras returned with an item are the ones it was rendered
through, and a tilted pose is the pose that was rendered.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from lt_core.camera import Camera

__all__ = ["CROP_JITTER_KEYS", "TILT_CLEARANCE", "check_crop_jitter", "jitter_boxes", "roll_crop_cameras", "tilt_pose"]


TILT_CLEARANCE = 150.0
"""Height (mm) of the lowest joint of a tilted pose above the floor (:func:`tilt_pose`): the body's capsules, up to
112 mm thick, stay above it."""


def tilt_pose(joints: Tensor, probability: float, max_degrees: float, seed: int) -> Tensor:
    """With ``probability``, turn a pose about a random horizontal axis through its pelvis by an angle uniform in
    ``[0, max_degrees]``, then lift it so that its lowest joint is :data:`TILT_CLEARANCE` mm above the floor.

    Args:
        joints: (17, 3) world mm, Z up.
        probability: chance of tilting.
        max_degrees: largest angle.
        seed: seed of the draws (the same seed gives the same tilt).

    Returns:
        (17, 3) world mm (the input unchanged when not tilted).
    """
    g = torch.Generator().manual_seed(int(seed))
    draw, angle, phi = torch.rand(3, generator=g, dtype=torch.float64).tolist()
    if draw >= probability or max_degrees == 0:
        return joints
    a = math.radians(angle * max_degrees)
    axis = torch.tensor([math.cos(2 * math.pi * phi), math.sin(2 * math.pi * phi), 0.0], dtype=torch.float64)
    k = torch.tensor(
        [[0.0, -axis[2], axis[1]], [axis[2], 0.0, -axis[0]], [-axis[1], axis[0], 0.0]], dtype=torch.float64
    )
    rot = torch.eye(3, dtype=torch.float64) + math.sin(a) * k + (1 - math.cos(a)) * (k @ k)  # Rodrigues
    x = joints.double()
    pelvis = x[6]
    out = (x - pelvis) @ rot.T + pelvis
    out[:, 2] += max(0.0, TILT_CLEARANCE - float(out[:, 2].min()))
    return out.to(joints.dtype)


CROP_JITTER_KEYS = ("scale", "shift", "roll")
"""Keys of the dataset's ``crop_jitter`` option."""


def check_crop_jitter(jitter: dict[str, float] | None) -> dict[str, float]:
    """Validate a ``crop_jitter`` option: known keys only, finite amplitudes >= 0; zero amplitudes dropped."""
    if not jitter:
        return {}
    unknown = sorted(set(jitter) - set(CROP_JITTER_KEYS))
    if unknown:
        raise ValueError(f"crop_jitter: unknown keys {unknown}; use {CROP_JITTER_KEYS}")
    out = {k: float(v) for k, v in jitter.items() if float(v) != 0.0}
    bad = {k: v for k, v in out.items() if v < 0 or not math.isfinite(v)}
    if bad:
        raise ValueError(f"crop_jitter amplitudes must be finite and >= 0, got {bad}")
    return out


def jitter_boxes(boxes: Tensor, jitter: dict[str, float], seed: int) -> tuple[Tensor, Tensor | None]:
    """Randomly scaled and shifted crop boxes, and roll angles, one draw per view.

    Args:
        boxes: (C, 4) square boxes ``(left, top, right, bottom)``, full-frame pixel-corner units.
        jitter: amplitudes ``scale`` (log of the side factor), ``shift`` (fraction of the side), ``roll`` (degrees).
        seed: seed of the draw.

    Returns:
        ``(boxes (C, 4) float64, roll (C,) radians or None when jitter has no roll)``.
    """
    g = torch.Generator().manual_seed(int(seed))
    C = boxes.shape[0]
    u = lambda: 2.0 * torch.rand(C, generator=g, dtype=torch.float64) - 1.0  # noqa: E731
    boxes = boxes.double()
    centre = 0.5 * (boxes[:, :2] + boxes[:, 2:])
    side = boxes[:, 2:] - boxes[:, :2]
    scale, shift, roll = u(), torch.stack([u(), u()], -1), u()  # always drawn: one amplitude never moves another
    side = side * torch.exp(jitter.get("scale", 0.0) * scale)[:, None]
    centre = centre + jitter.get("shift", 0.0) * shift * side
    out = torch.cat([centre - 0.5 * side, centre + 0.5 * side], -1)
    return out, (torch.deg2rad(jitter["roll"] * roll) if jitter.get("roll") else None)


def roll_crop_cameras(cameras: Camera, angles: Tensor) -> Camera:
    """Crop cameras turned about their optical axes: the image rotates by ``angles`` about the crop centre.

    With ``R' = R_z R``, ``t' = R_z t`` (``R_z`` the rotation by the angle about the camera's z axis) and the
    principal point ``p' = c + Rot(p - c)`` (``c`` the crop centre, pixel-centre coordinates), a point that
    projected to ``u`` projects to ``c + Rot(u - c)`` when ``fx = fy`` (to within ``|fx - fy| / fx`` otherwise).
    Either way the returned camera is a valid pinhole camera and images rendered through it match its projections.

    Args:
        cameras: (C,) crop cameras with ``image_size``.
        angles: (C,) radians (counter-clockwise in the image as displayed with v pointing down: clockwise).

    Returns:
        The rolled cameras (same dtype, convention and lens).
    """
    a = angles.to(cameras.dtype)
    c, s = torch.cos(a), torch.sin(a)
    zero, one = torch.zeros_like(a), torch.ones_like(a)
    rz = torch.stack(
        [torch.stack([c, -s, zero], -1), torch.stack([s, c, zero], -1), torch.stack([zero, zero, one], -1)], -2
    )  # (C, 3, 3)
    centre = 0.5 * (cameras.image_size - 1.0)  # (C, 2), pixel centres at integers
    K = cameras.K.clone()
    p = K[..., :2, 2] - centre
    K[..., 0, 2] = centre[..., 0] + c * p[..., 0] - s * p[..., 1]
    K[..., 1, 2] = centre[..., 1] + s * p[..., 0] + c * p[..., 1]
    return Camera(
        K,
        rz @ cameras.R,
        (rz @ cameras.t[..., None])[..., 0],
        cameras.dist,
        cameras.image_size,
        cameras.names,
        cameras.convention,
        cameras.distortion_model,
    )
