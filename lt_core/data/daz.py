"""Daz/Poser BVH skeletons: recognise them, check them, and give them a head top.

The Daz/Poser skeleton (as in the CMU clips of ``data/mocap_cmu_daz``) is rooted at ``hip`` and names its joints
``abdomen, chest, neck, head, leftEye, rightEye``, ``rCollar, rShldr, rForeArm, rHand`` (and fingers),
``rButtock, rThigh, rShin, rFoot``, mirrored with an ``l`` prefix. Lengths are in centimetres. Its Human3.6M-17
mapping (the alternatives of :data:`lt_core.data.retarget.DEFAULT_MAPPING` that match these names):

============  ==========================================================================================
Human3.6M     Daz/Poser source
============  ==========================================================================================
Pelvis        ``(rThigh + lThigh) / 2``, the midpoint of the hips (the root ``hip`` lies 26-28 mm below it)
R/LHip        ``rThigh`` (the femur's head; ``rButtock`` is a short offset joint above it)
R/LKnee       ``rShin``
R/LAnkle      ``rFoot``
Spine         ``(abdomen + chest) / 2``: 239 mm above the pelvis in the rest pose, 0.46 of the way to the
              thorax (median over salsa_01; the ASF/AMC clips of ``data/mocap_cmu``: 0.61)
Thorax        ``neck`` (base of the neck)
Neck/Nose     ``head / 2 + (leftEye + rightEye) / 4``: on the head, 40 mm above and 40 mm in front of the head
              joint, 123 mm from the thorax in the rest pose (the CMU clips: 132-152 mm)
Head          ``head_top`` (added here, see below)
R/LShoulder   ``rShldr``; R/LElbow ``rForeArm``; R/LWrist ``rHand``
============  ==========================================================================================

The skeleton has no head end site (the eyes carry one-unit dummy end sites), and no affine combination of the head's
points (head joint, eyes) reaches the top of the skull: they all lie in one plane through the eyes. So
:func:`add_head_top` appends a joint ``head_top`` to ``head``, :data:`HEAD_TOP_MM` (195 mm) up along the head's
rest-pose vertical axis: the eyes sit 80 mm above the head joint and the vertex of an adult head about 115 mm above
the eyes (half of a 230 mm chin-vertex head height). It moves rigidly with the head. The rest pose is then 1.64 m
from toe tip to head top, and the Neck/Nose-to-Head bone 160 mm long (the CMU clips: 137-153 mm).

**Lead-in**: frame 0 of these files is the rest pose (a T-pose, found by
:func:`lt_core.data.restpose.detect_rest_frames`), and the next :data:`BLEND_FRAMES` = 7 frames are not captured
motion either: the conversion eases from the T-pose into the first real pose (every joint angle rises over frames
1-5, overshoots and settles by frame 8). All 43 files show the same pattern: the mean joint displacement out of each
of frames 0-4 is 1.3 to 146 times the clip's median step, and the step out of frame 8 is back within the clip's
own range (at most 0.66 times its 99th percentile). :func:`lt_core.data.retarget.load_clip` drops the rest frame
and these 7 frames of a Daz/Poser skeleton (8 frames: 67 ms at 120 Hz, 133 ms at 60 Hz).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

import numpy as np

from lt_core.data.motion import Motion, MotionFormatError

__all__ = [
    "DAZ_JOINTS",
    "HEAD_TOP_MM",
    "HEAD_TOP_NAME",
    "BLEND_FRAMES",
    "is_daz_skeleton",
    "check_daz_skeleton",
    "add_head_top",
]

DAZ_JOINTS: tuple[str, ...] = (
    "hip",
    "abdomen",
    "chest",
    "neck",
    "head",
    "leftEye",
    "rightEye",
    "rShldr",
    "rForeArm",
    "rHand",
    "lShldr",
    "lForeArm",
    "lHand",
    "rThigh",
    "rShin",
    "rFoot",
    "lThigh",
    "lShin",
    "lFoot",
)
"""Joints of a Daz/Poser skeleton that the Human3.6M-17 mapping uses."""

HEAD_TOP_MM: float = 195.0
"""Height of the added head top above the head joint, along the head's rest-pose vertical axis (mm)."""

BLEND_FRAMES: int = 7
"""Frames after the rest frame that ease from the rest pose into the motion (dropped with it, see the module
docstring)."""

HEAD_TOP_NAME = "head_top"
"""Name of the added joint (normalised to ``"headtop"``, one of the Human3.6M ``Head`` alternatives)."""

_SIGNATURE = ("hip", "abdomen", "chest", "rShldr", "lShldr", "rThigh", "lThigh")


def is_daz_skeleton(names: Sequence[str]) -> bool:
    """Whether joint names look like a Daz/Poser skeleton: root ``hip`` and most of ``abdomen, chest, rShldr, lShldr,
    rThigh, lThigh`` (so that a damaged one is recognised, then reported by :func:`check_daz_skeleton`)."""
    if not names or names[0] != "hip":
        return False
    present = set(names)
    return sum(n in present for n in _SIGNATURE[1:]) >= 4


def check_daz_skeleton(motion: Motion) -> None:
    """Check that a Daz/Poser skeleton has every joint its Human3.6M-17 mapping needs.

    Raises:
        MotionFormatError: naming the file and every missing joint.
    """
    missing = [n for n in DAZ_JOINTS if n not in motion.names]
    if missing:
        raise MotionFormatError(
            f"Daz/Poser skeleton (root 'hip') cannot be mapped to Human3.6M-17: missing joints {missing}; "
            f"joints are {motion.names}",
            motion.source,
        )


def add_head_top(motion: Motion, height_mm: float = HEAD_TOP_MM) -> Motion:
    """Append the joint ``head_top`` to a Daz/Poser skeleton's ``head`` (see the module docstring).

    Args:
        motion: a Daz/Poser motion whose ``unit_mm`` is already right (detected or stated).
        height_mm: distance above the head joint in mm, along the file's up axis in the rest pose.

    Returns:
        A new :class:`Motion` with one more joint (no channels; its frames follow the head rigidly). A motion that
        already has ``head_top`` is returned unchanged.

    Raises:
        MotionFormatError: no ``head`` joint, or a rest pose that is not upright (head not above the hip).
    """
    if HEAD_TOP_NAME in motion.names:
        return motion
    if "head" not in motion.names:
        raise MotionFormatError(f"no 'head' joint to put the head top on; joints are {motion.names}", motion.source)
    head = motion.names.index("head")
    up = "xyz".index(motion.up_axis.lower())
    rest = motion.rest_positions()
    if rest[head, up] <= rest[0, up]:
        raise MotionFormatError(
            f"the rest pose is not upright along {motion.up_axis!r} (head at "
            f"{rest[head, up]:.4g}, root at {rest[0, up]:.4g}): cannot place the head top",
            motion.source,
        )
    offset = np.zeros(3)
    offset[up] = height_mm / motion.unit_mm
    t = motion.n_frames
    return replace(
        motion,
        names=[*motion.names, HEAD_TOP_NAME],
        parents=np.append(motion.parents, head),
        offsets=np.vstack([motion.offsets, offset]),
        rotations=np.concatenate([motion.rotations, np.broadcast_to(np.eye(3), (t, 1, 3, 3))], axis=1),
        translations=np.concatenate([motion.translations, np.broadcast_to(offset, (t, 1, 3))], axis=1),
        _cache={},
    )
