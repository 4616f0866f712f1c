"""Detect rest-pose frames that a conversion put in front of the captured motion.

Some BVH exports start with the skeleton's rest (bind) pose -- a T-pose with every joint angle near zero -- before the
first captured frame: the Daz/Poser files of ``data/mocap_cmu_daz`` all do, and CMU's own BVH conversions sometimes
prepend a reference frame (:func:`lt_core.data.retarget.has_rest_frame`). Such a frame is not motion: kept, it puts
one T-pose per clip into a training set and an impossible jump into its first frame.

A leading frame is a rest frame when both hold:

1. **its pose is the skeleton's rest pose**: with the root's rotation and translation removed, its joints lie within
   ``tol`` (default 3 %) of the rest pose's height from the rest positions, on average over the joints
   (:func:`rest_pose_distance`);
2. **the motion jumps after it**: the mean joint displacement (root motion included) from the last such frame to
   the next is more than ``jump`` (default 10) times the clip's median frame-to-frame displacement (the median, not
   a high percentile, so that the few large steps of a conversion's ease-in or a short clip do not hide the jump).
   A real capture that starts in a T-pose moves out of it smoothly and is kept. The rest block is the shortest run
   of near-rest leading frames that ends in such a jump.

In the 43 Daz/Poser files the first frame is 0.7-1.6 % of the rest pose's height (1.0-2.4 cm of 153 cm; its
fingers are bent by up to 10 degrees) from the rest pose, and the jump out of it, with the root's motion, is 15 to
226 times the clip's median step. The frames after it ease out of the rest pose (2.3 % and more away from it, see
:mod:`lt_core.data.daz`); no other clip of the project starts within 4 % of its rest pose.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from lt_core.data.motion import Motion, forward_kinematics

__all__ = ["RestFrames", "rest_pose_distance", "detect_rest_frames"]


@dataclass(frozen=True)
class RestFrames:
    """Result of :func:`detect_rest_frames`.

    Attributes:
        count: number of leading rest frames to drop (0 when none).
        distance: (K,) distance of the first K frames from the rest pose, as a fraction of the rest pose's height.
        jump_ratio: displacement into the first moving frame divided by the clip's median frame-to-frame
            displacement (NaN when no leading frame is near the rest pose).
        reason: one sentence saying what was found.
    """

    count: int
    distance: np.ndarray
    jump_ratio: float
    reason: str


def _rest_height(motion: Motion) -> float:
    rest = motion.rest_positions()
    axis = "xyz".index(motion.up_axis.lower())
    return float(np.ptp(rest[:, axis]))


def rest_pose_distance(motion: Motion, frames: slice | np.ndarray | None = None) -> np.ndarray:
    """How far frames are from the skeleton's rest pose, with the root's own motion removed.

    Args:
        motion: the parsed motion.
        frames: which frames (default: all).

    Returns:
        (K,) mean over joints of ``|p_j - rest_j|``, both with the root at the origin and the root rotation removed,
        as a fraction of the rest pose's vertical extent (dimensionless).
    """
    sel = slice(None) if frames is None else frames
    rot = motion.rotations[sel].copy()
    trans = motion.translations[sel].copy()
    rot[:, 0] = np.eye(3)
    trans[:, 0] = 0.0
    pos = forward_kinematics(motion.parents, rot, trans)[1]
    rest = motion.rest_positions()
    rest = rest - rest[0]
    return np.linalg.norm(pos - rest[None], axis=-1).mean(axis=1) / max(_rest_height(motion), 1e-12)


def detect_rest_frames(motion: Motion, tol: float = 0.03, jump: float = 10.0, max_frames: int = 10) -> RestFrames:
    """Count the leading rest-pose frames of a motion (see the module docstring).

    Args:
        motion: the parsed motion (needs at least 3 frames to judge; fewer give ``count=0``).
        tol: largest distance from the rest pose, as a fraction of the rest pose's height.
        jump: how many times the median frame-to-frame displacement the step out of the last rest frame must
            exceed.
        max_frames: look at most at this many leading frames.

    Returns:
        :class:`RestFrames`.
    """
    n_look = min(max_frames + 1, motion.n_frames)
    dist = rest_pose_distance(motion, slice(0, n_look))
    if motion.n_frames < 3:
        return RestFrames(0, dist, float("nan"), "fewer than 3 frames: not judged")
    near = 0
    while near < len(dist) and dist[near] <= tol:
        near += 1
    if near == 0:
        return RestFrames(0, dist, float("nan"), f"frame 0 is {dist[0]:.1%} of the body height from the rest pose")
    if near >= motion.n_frames - 2:
        return RestFrames(
            0, dist, float("nan"), "(nearly) every frame is near the rest pose: a still clip, nothing dropped"
        )
    pos = motion.forward_kinematics()
    steps = np.linalg.norm(np.diff(pos, axis=0), axis=-1).mean(axis=1)  # (T-1,) mean joint displacement
    typical = max(float(np.median(steps[near:])), 1e-12)
    # the rest block is the shortest run of near-rest frames that the motion jumps out of
    for count in range(1, near + 1):
        ratio = float(steps[count - 1] / typical)
        if ratio > jump:
            return RestFrames(
                count,
                dist,
                ratio,
                f"{count} leading rest-pose frame(s) ({dist[:count].max():.1%} of "
                f"the body height from it), then a jump of {ratio:.1f} x the median "
                "step",
            )
    return RestFrames(
        0,
        dist,
        float(steps[near - 1] / typical),
        f"frames 0-{near - 1} are near the rest pose but the motion leaves them smoothly: captured, kept",
    )
