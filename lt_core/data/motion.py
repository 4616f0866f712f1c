"""Motion capture readers (BVH, Acclaim ASF/AMC) and vectorized forward kinematics: one import for all three.

The code lives in :mod:`lt_core.data.kinematics` (shared), :mod:`lt_core.data.bvh` and :mod:`lt_core.data.asf_amc`;
this module documents the conventions they share and re-exports them.

Both formats are read into one :class:`Motion`: a tree of ``N`` joints, each with a rest offset from its parent,
and per-frame local rotations and translations. Forward kinematics composes them over the tree::

    R_global[j] = R_global[parent] @ R_local[j]
    p_global[j] = p_global[parent] + R_global[parent] @ t_local[j]

for all ``T`` frames at once (a Python loop runs over joints only).

Conventions:

* **Rotations are active and right-handed**, acting on column vectors: ``Rz(90 deg) @ (1, 0, 0) = (0, 1, 0)``.
* **BVH**: ``CHANNELS ... Zrotation Yrotation Xrotation`` means ``R_local = Rz @ Ry @ Rx`` (the listed order is the
  order of the matrix product). A joint's position channels *replace* the matching components of its ``OFFSET``
  (the usual reading: root ``OFFSET`` is the rest position, ``Xposition`` the animated one); translation is applied
  before the joint's own rotation. ``End Site`` blocks become joints named ``<parent>_end`` without channels.
* **ASF/AMC** (Acclaim): a bone's ``axis a b c XYZ`` gives ``C``, its ``dof`` rotations give ``L``; both are applied
  in the listed order (``XYZ``: X first, so ``C = Rz @ Ry @ Rx``; ``dof rx rz``: ``L = Rz @ Rx``). The bone's
  world rotation is ``M = M_parent @ C @ L @ C^-1`` and the bone ends at ``start + M @ (direction * length)``.
  Each bone becomes a joint placed at the bone's *start* (like BVH: ``lfemur`` is the hip, ``ltibia`` the knee);
  leaf bones get an extra ``<bone>_end`` joint at their tip. The root uses ``C = orientation`` (in ``axis`` order)
  and ``L`` from the AMC rotation values in ``:root order`` order; AMC root translations replace ``position``.
  Bone ``tx ty tz`` dofs shift the bone's tip in the bone's local (``C``) axes, ``l`` lengthens it.

Units: positions come out in the file's units. ``Motion.unit_mm`` says how many millimetres one unit is: CMU files use
1 unit = 1/0.45 inch = 56.444 mm (:data:`CMU_MM_PER_UNIT`); for ASF it is derived from ``:units length``
(``25.4 / length`` mm, the CMU/Acclaim convention of inches scaled by ``length``). :meth:`Motion.positions_mm` returns
millimetres in the project's Z-up world frame: ``(x, y, z)_world = (x, -z, y)_file`` for Y-up files.
"""

from lt_core.data.asf_amc import AsfBone, AsfSkeleton, parse_amc, parse_asf, read_asf_amc
from lt_core.data.bvh import parse_bvh, read_bvh
from lt_core.data.kinematics import (
    CMU_MM_PER_UNIT,
    Y_UP_TO_WORLD,
    Motion,
    MotionFormatError,
    axis_rotation,
    euler_to_matrix,
    forward_kinematics,
    to_world_mm,
)

__all__ = [
    "CMU_MM_PER_UNIT",
    "Y_UP_TO_WORLD",
    "MotionFormatError",
    "Motion",
    "axis_rotation",
    "euler_to_matrix",
    "forward_kinematics",
    "to_world_mm",
    "read_bvh",
    "parse_bvh",
    "read_asf_amc",
    "parse_asf",
    "parse_amc",
    "AsfSkeleton",
    "AsfBone",
]
