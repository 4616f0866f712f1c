"""Render-time augmentation of the embedded data: crop jitter (scale, shift, roll of each view's crop camera), pose
tilt (bodies bent over or upside down) and pose pivot (the body hinged about one standing leg: a standing split).

All act before rendering (:class:`lt_core.data.synthetic.SyntheticMultiViewDataset` options ``crop_jitter``,
``pose_tilt`` and ``pose_pivot``), so images and labels stay exact: the crop cameras returned with an item are the
ones it was rendered through, and a tilted or hinged pose is the pose that was rendered.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from lt_core.camera import Camera

__all__ = [
    "CROP_JITTER_KEYS",
    "TILT_CLEARANCE",
    "check_crop_jitter",
    "jitter_boxes",
    "pivot_pose",
    "roll_crop_cameras",
    "tilt_pose",
]


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
    x = joints.double()
    pelvis = x[6]
    out = (x - pelvis) @ _horizontal_rotation(phi, a).T + pelvis
    out[:, 2] += max(0.0, TILT_CLEARANCE - float(out[:, 2].min()))
    return out.to(joints.dtype)


def _horizontal_rotation(phi: float, angle: float) -> Tensor:
    """(3, 3) float64 rotation by ``angle`` radians about the horizontal axis at azimuth ``2 pi phi`` (Rodrigues)."""
    axis = (math.cos(2 * math.pi * phi), math.sin(2 * math.pi * phi), 0.0)
    k = torch.tensor(
        [[0.0, -axis[2], axis[1]], [axis[2], 0.0, -axis[0]], [-axis[1], axis[0], 0.0]], dtype=torch.float64
    )
    return torch.eye(3, dtype=torch.float64) + math.sin(angle) * k + (1 - math.cos(angle)) * (k @ k)


PIVOT_LEGS = {"right": (2, (1, 0)), "left": (3, (4, 5))}
"""Human3.6M-17 stance legs of :func:`pivot_pose`: hip (the pivot) and the joints below it (knee, ankle)."""

_PIVOT_SHRINK = (1.0, 0.8, 0.6, 0.4, 0.2)


def pivot_pose(joints: Tensor, probability: float, max_degrees: float, seed: int) -> Tensor:
    """With ``probability``, hinge a pose about its standing leg: everything above that leg's knee turns about a
    random horizontal axis through its hip, the knee and ankle stay. Trunk goes down, the other leg goes up: the
    standing split, arabesque or penché of dance, with the standing foot still on the floor.

    The standing leg is the one with the lower ankle. The angle is uniform in ``[0, max_degrees]``; of the two
    senses of turning, the one that lifts the other hip more is taken (the other would swing the free leg into the
    standing one). When a turned joint would come closer than :data:`TILT_CLEARANCE` mm to the floor the angle is
    scaled by 0.8, 0.6, ... until none does (or the pose is left as it was). Bone lengths are unchanged.

    Args:
        joints: (17, 3) world mm, Z up, Human3.6M-17 order.
        probability: chance of hinging.
        max_degrees: largest angle.
        seed: seed of the draws (the same seed gives the same pose).

    Returns:
        (17, 3) world mm (the input unchanged when not hinged).
    """
    if joints.shape != (17, 3):
        raise ValueError(f"pivot_pose expects (17, 3) Human3.6M-17 joints, got {tuple(joints.shape)}")
    g = torch.Generator().manual_seed(int(seed))
    draw, angle, phi = torch.rand(3, generator=g, dtype=torch.float64).tolist()
    if draw >= probability or max_degrees == 0:
        return joints
    x = joints.double()
    stance, free = ("right", "left") if x[0, 2] <= x[5, 2] else ("left", "right")
    hip, below = PIVOT_LEGS[stance]
    free_hip = PIVOT_LEGS[free][0]
    moving = torch.ones(17, dtype=torch.bool)
    moving[[hip, *below]] = False
    row = int(moving[:free_hip].sum())  # the free hip's row among the moving joints
    a = math.radians(angle * max_degrees)
    for shrink in _PIVOT_SHRINK:
        turned = [(x[moving] - x[hip]) @ _horizontal_rotation(phi, s * a * shrink).T + x[hip] for s in (1.0, -1.0)]
        lifted = max(turned, key=lambda t: float(t[row, 2]))
        if float(lifted[:, 2].min()) >= TILT_CLEARANCE:
            out = x.clone()
            out[moving] = lifted
            return out.to(joints.dtype)
    return joints


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
