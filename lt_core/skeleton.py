"""Joint sets (Human3.6M-17, CMU Panoptic coco19, OpenPose BODY_25B), bones for drawing, and mappings.

A :class:`Skeleton` names its joints, lists its bones (pairs of joint indices) and tells which side each joint is
on, so drawings can colour left and right differently. :func:`convert_joints` maps joint arrays between sets,
averaging several source joints where a target joint has no direct counterpart and marking joints that cannot be
mapped as invalid.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

__all__ = ["Skeleton", "H36M17", "COCO19", "BODY25B", "SKELETONS", "get_skeleton", "joint_mapping", "convert_joints"]


@dataclass(frozen=True)
class Skeleton:
    """A named joint set.

    Attributes:
        name: identifier (``"h36m17"``, ``"coco19"``, ``"body25b"``).
        joints: joint names in index order.
        bones: pairs ``(parent, child)`` of joint indices, for drawing and bone-length statistics.
        root: index of the root joint (pelvis for Human3.6M-17).
    """

    name: str
    joints: tuple[str, ...]
    bones: tuple[tuple[int, int], ...]
    root: int

    @property
    def num_joints(self) -> int:
        return len(self.joints)

    def index(self, joint: str) -> int:
        """Index of a joint by name (raises ``KeyError`` listing the valid names)."""
        try:
            return self.joints.index(joint)
        except ValueError:
            raise KeyError(f"{self.name} has no joint {joint!r}; joints are {list(self.joints)}") from None

    def side(self, joint: int | str) -> str:
        """``"left"``, ``"right"`` or ``"center"`` for a joint index or name."""
        name = self.joints[joint] if isinstance(joint, int) else joint
        if name.startswith(("L", "left")) and not name.startswith("Low"):
            return "left"
        if name.startswith(("R", "right")):
            return "right"
        return "center"

    def bone_sides(self) -> list[str]:
        """Side of each bone: a bone is left/right when its child joint is."""
        return [self.side(child) if self.side(child) != "center" else self.side(parent) for parent, child in self.bones]

    def bone_lengths(self, joints: Tensor) -> Tensor:
        """Lengths of every bone.

        Args:
            joints: (..., J, 3) positions in mm.

        Returns:
            (..., n_bones) lengths in mm.
        """
        if joints.shape[-2] != self.num_joints:
            raise ValueError(f"{self.name} expects {self.num_joints} joints, got shape {tuple(joints.shape)}")
        a = torch.tensor([p for p, _ in self.bones], device=joints.device)
        b = torch.tensor([c for _, c in self.bones], device=joints.device)
        return (joints[..., a, :] - joints[..., b, :]).norm(dim=-1)


H36M17 = Skeleton(
    name="h36m17",
    joints=(
        "RAnkle",
        "RKnee",
        "RHip",
        "LHip",
        "LKnee",
        "LAnkle",
        "Pelvis",
        "Spine",
        "Thorax",
        "Head",
        "RWrist",
        "RElbow",
        "RShoulder",
        "LShoulder",
        "LElbow",
        "LWrist",
        "Neck",
    ),
    bones=(
        (6, 2),
        (2, 1),
        (1, 0),
        (6, 3),
        (3, 4),
        (4, 5),
        (6, 7),
        (7, 8),
        (8, 16),
        (16, 9),
        (8, 12),
        (12, 11),
        (11, 10),
        (8, 13),
        (13, 14),
        (14, 15),
    ),
    root=6,
)
"""Human3.6M 17 joints in the order of the paper's code (pelvis = 6; joint 16 is the neck/nose point)."""

COCO19 = Skeleton(
    name="coco19",
    joints=(
        "Neck",
        "Nose",
        "BodyCenter",
        "LShoulder",
        "LElbow",
        "LWrist",
        "LHip",
        "LKnee",
        "LAnkle",
        "RShoulder",
        "RElbow",
        "RWrist",
        "RHip",
        "RKnee",
        "RAnkle",
        "REye",
        "LEye",
        "REar",
        "LEar",
    ),
    bones=(
        (0, 1),
        (0, 2),
        (0, 3),
        (3, 4),
        (4, 5),
        (2, 6),
        (6, 7),
        (7, 8),
        (0, 9),
        (9, 10),
        (10, 11),
        (2, 12),
        (12, 13),
        (13, 14),
        (1, 15),
        (1, 16),
        (15, 17),
        (16, 18),
    ),
    root=2,
)
"""CMU Panoptic ``joints19`` order."""

BODY25B = Skeleton(
    name="body25b",
    joints=(
        "Nose",
        "LEye",
        "REye",
        "LEar",
        "REar",
        "LShoulder",
        "RShoulder",
        "LElbow",
        "RElbow",
        "LWrist",
        "RWrist",
        "LHip",
        "RHip",
        "LKnee",
        "RKnee",
        "LAnkle",
        "RAnkle",
        "Neck",
        "Head",
        "LBigToe",
        "LSmallToe",
        "LHeel",
        "RBigToe",
        "RSmallToe",
        "RHeel",
    ),
    bones=(
        (17, 0),
        (0, 1),
        (0, 2),
        (1, 3),
        (2, 4),
        (17, 18),
        (17, 5),
        (17, 6),
        (5, 7),
        (7, 9),
        (6, 8),
        (8, 10),
        (5, 11),
        (6, 12),
        (11, 12),
        (11, 13),
        (13, 15),
        (12, 14),
        (14, 16),
        (15, 19),
        (15, 20),
        (15, 21),
        (16, 22),
        (16, 23),
        (16, 24),
    ),
    root=17,
)
"""OpenPose BODY_25B order (used by the Pose2Sim demo)."""

SKELETONS = {s.name: s for s in (H36M17, COCO19, BODY25B)}

# target joint -> source joint names whose mean gives it (an empty tuple: no counterpart)
_TO_H36M: dict[str, dict[str, tuple[str, ...]]] = {
    "coco19": {
        "RAnkle": ("RAnkle",),
        "RKnee": ("RKnee",),
        "RHip": ("RHip",),
        "LHip": ("LHip",),
        "LKnee": ("LKnee",),
        "LAnkle": ("LAnkle",),
        "Pelvis": ("BodyCenter",),
        "Spine": ("BodyCenter", "Neck"),
        "Thorax": ("Neck",),
        "Head": ("REar", "LEar"),
        "RWrist": ("RWrist",),
        "RElbow": ("RElbow",),
        "RShoulder": ("RShoulder",),
        "LShoulder": ("LShoulder",),
        "LElbow": ("LElbow",),
        "LWrist": ("LWrist",),
        "Neck": ("Nose",),
    },
    "body25b": {
        "RAnkle": ("RAnkle",),
        "RKnee": ("RKnee",),
        "RHip": ("RHip",),
        "LHip": ("LHip",),
        "LKnee": ("LKnee",),
        "LAnkle": ("LAnkle",),
        "Pelvis": ("RHip", "LHip"),
        "Spine": ("RHip", "LHip", "Neck"),
        "Thorax": ("Neck",),
        "Head": ("Head",),
        "RWrist": ("RWrist",),
        "RElbow": ("RElbow",),
        "RShoulder": ("RShoulder",),
        "LShoulder": ("LShoulder",),
        "LElbow": ("LElbow",),
        "LWrist": ("LWrist",),
        "Neck": ("Nose",),
    },
}


def get_skeleton(name: str) -> Skeleton:
    """Look a skeleton up by name (``"h36m17"``, ``"coco19"``, ``"body25b"``)."""
    try:
        return SKELETONS[name]
    except KeyError:
        raise KeyError(f"unknown skeleton {name!r}; known: {sorted(SKELETONS)}") from None


def joint_mapping(source: str | Skeleton, target: str | Skeleton = "h36m17") -> Tensor:
    """Averaging matrix that converts joints of ``source`` into ``target``.

    Args:
        source: source skeleton or its name.
        target: target skeleton or its name.

    Returns:
        (J_target, J_source) matrix ``A``; ``A @ joints`` gives target joints. Rows of joints without a
        counterpart are all zero.

    Notes:
        The Spine of Human3.6M sits between pelvis and thorax; from coco19 it is approximated by the mean of
        BodyCenter and Neck, from BODY_25B by the mean of the hips and the neck. These are approximations that
        cost a few centimetres on that joint: evaluate cross-dataset numbers on the directly mapped joints.
    """
    src = get_skeleton(source) if isinstance(source, str) else source
    dst = get_skeleton(target) if isinstance(target, str) else target
    A = torch.zeros(dst.num_joints, src.num_joints, dtype=torch.float64)
    if src.name == dst.name:
        return torch.eye(src.num_joints, dtype=torch.float64)
    if dst.name == "h36m17" and src.name in _TO_H36M:
        table = _TO_H36M[src.name]
    else:
        table = {n: (n,) for n in dst.joints if n in src.joints}
    for t_name, s_names in table.items():
        for s in s_names:
            A[dst.index(t_name), src.index(s)] = 1.0 / len(s_names)
    return A


def convert_joints(
    joints: Tensor, source: str | Skeleton, target: str | Skeleton = "h36m17", valid: Tensor | None = None
) -> tuple[Tensor, Tensor]:
    """Map joint arrays between skeletons.

    Args:
        joints: (..., J_source, D) positions (D = 2 or 3).
        source: source skeleton or name.
        target: target skeleton or name.
        valid: (..., J_source) boolean validity of the source joints (``None``: all valid).

    Returns:
        ``(converted, valid)`` with shapes (..., J_target, D) and (..., J_target). A target joint is valid when it
        has a counterpart and every source joint it averages is valid; invalid joints are set to NaN.
    """
    A = joint_mapping(source, target).to(joints.dtype if joints.is_floating_point() else torch.float64)
    A = A.to(joints.device)
    if joints.shape[-2] != A.shape[1]:
        raise ValueError(f"expected {A.shape[1]} source joints, got shape {tuple(joints.shape)}")
    if valid is None:
        valid = torch.ones(joints.shape[:-1], dtype=torch.bool, device=joints.device)
    src = torch.where(valid[..., None], joints, torch.zeros_like(joints))
    out = A @ src
    used = (A > 0).to(torch.float64)
    n_missing = (~valid).to(torch.float64) @ used.T.to(valid.device)
    ok = (n_missing == 0) & (used.sum(1).to(valid.device) > 0)
    out = torch.where(ok[..., None], out, torch.full_like(out, float("nan")))
    return out, ok
