"""Joint-name mapping from motion capture skeletons onto the Human3.6M-17 joints.

This module decides *which* source joints make each Human3.6M joint; it does not read files or move any points
(:mod:`lt_core.data.retarget` applies the result to a motion). Each Human3.6M joint is one source joint or a
weighted combination of a few (weights sum to 1: ``(a + b) / 2`` is a midpoint, ``2 * a - b`` extrapolates past
``a``). Names are compared after normalisation (:func:`normalize_joint_name`), so ``"mixamorig:LeftUpLeg"``,
``"LeftUpLeg"``, ``"Left_UpLeg"`` and ``"UpLeg.L"`` all become ``"left_upleg"`` and ``"lfemur"`` becomes
``"left_femur"``. :data:`DEFAULT_MAPPING` gives, for every Human3.6M joint, alternatives tried in order;
:func:`resolve_mapping` uses the first whose joints all exist and lists every joint it could not map.

Default mapping (first match wins; ``a + b`` means the midpoint; ``*_end`` the end site/tip of a bone):

============  =========================================================================================
Human3.6M     source joints (CMU BVH 01_01-style / CMU BVH 131-style / CMU ASF / Mixamo)
============  =========================================================================================
Pelvis        RightUpLeg + LeftUpLeg / RightHip + LeftHip / rfemur + lfemur / RightUpLeg + LeftUpLeg: the midpoint
              of the two hip joints, as Human3.6M's pelvis (5 mm from that midpoint in its released labels); the
              root (``Hips``, ``root``, ``pelvis``, an unsided ``hip``) only if no hip pair is found. CMU's
              roots lie 96-107 mm above that midpoint along the trunk and the Daz/Poser ``hip`` 26-28 mm below it,
              so taking the root would give each source its own pelvis.
R/LHip        RightUpLeg / RightHip / rfemur (start of the thigh) / RightUpLeg (also ``thigh``, ``upperleg``)
R/LKnee       RightLeg / RightKnee / rtibia / RightLeg (also ``lowerleg``, ``shin``, ``calf``)
R/LAnkle      RightFoot / RightAnkle / rfoot / RightFoot
Spine         Spine + Spine1 / Chest + Chest2 / upperback + thorax (mid back) / Spine + Spine1
Thorax        Neck / lowerneck / lowerneck / Neck (base of the neck)
Neck          Neck1 + Head / Neck + Head / upperneck + head / Neck + Head (the "Neck/Nose" point)
Head          Head_end (head top) / Head_end / head_end / HeadTop_End; if the head's end site is missing or
              has zero length: ``2 * Head - <upper neck>`` (the head bone extrapolated by its own length)
R/LShoulder   RightArm / RightShoulder / rhumerus / RightArm (also ``upperarm``)
R/LElbow      RightForeArm / RightElbow / rradius / RightForeArm (also ``lowerarm``)
R/LWrist      RightHand / RightWrist / rwrist / RightHand
============  =========================================================================================

Daz/Poser skeletons (root ``hip``, ``abdomen``, ``rShldr``, ``rThigh``, ...; ``data/mocap_cmu_daz``) map through the
same table (``abdomen + chest``, ``shldr``, the eyes for the nose point) plus a head top joint that
:func:`lt_core.data.retarget.retarget_to_h36m` adds to them (:mod:`lt_core.data.daz`).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

import numpy as np

from lt_core.skeleton import H36M17

__all__ = [
    "H36M_JOINTS",
    "H36M_BONES",
    "DEFAULT_MAPPING",
    "Alternative",
    "RetargetError",
    "normalize_joint_name",
    "resolve_mapping",
]

H36M_JOINTS: tuple[str, ...] = H36M17.joints
"""Human3.6M-17 joint names in index order (pelvis = 6; joint 16 ``"Neck"`` is the neck/nose point):
:data:`lt_core.skeleton.H36M17`'s."""

H36M_BONES: tuple[tuple[int, int], ...] = H36M17.bones
"""(parent, child) index pairs of the Human3.6M-17 skeleton (:data:`lt_core.skeleton.H36M17`'s)."""

_ALIASES = {"Neck/Nose": "Neck", "Nose": "Neck"}

# One alternative: a joint name, a tuple of names (their mean) or {name: weight} (weights sum to 1).
Alternative = str | Sequence[str] | Mapping[str, float]


def _sided(side: str, *bases: str) -> tuple[str, ...]:
    return tuple(f"{side}_{b}" for b in bases)


_HIP_BASES = ("upleg", "femur", "thigh", "upperleg", "hip")  # source names of the start of the thigh


def _limbs(side: str, prefix: str) -> dict[str, tuple[Alternative, ...]]:
    return {
        f"{prefix}Ankle": _sided(side, "ankle", "foot"),
        f"{prefix}Knee": _sided(side, "knee", "tibia", "leg", "lowerleg", "shin", "calf"),
        f"{prefix}Hip": _sided(side, *_HIP_BASES),
        f"{prefix}Wrist": _sided(side, "wrist", "hand"),
        f"{prefix}Elbow": _sided(side, "forearm", "radius", "lowerarm", "elbow"),
        f"{prefix}Shoulder": _sided(side, "arm", "humerus", "upperarm", "shoulder", "shldr"),
    }


DEFAULT_MAPPING: dict[str, tuple[Alternative, ...]] = {
    **_limbs("right", "R"),
    **_limbs("left", "L"),
    # the midpoint of the two hip joints (as in Human3.6M, where the pelvis lies 5 mm from it); the skeleton's root
    # only when the hips cannot be found (roots sit anywhere from 28 mm below to 107 mm above that midpoint)
    "Pelvis": (*((f"right_{b}", f"left_{b}") for b in _HIP_BASES), "hips", "root", "pelvis", "hip"),
    "Spine": (
        ("upperback", "thorax"),
        ("spine", "spine1"),
        ("chest", "chest2"),
        ("abdomen", "chest"),
        "spine1",
        "spine",
        "chest",
    ),
    "Thorax": ("lowerneck", "neck"),
    "Neck": (
        ("upperneck", "head"),
        ("neck1", "head"),
        {"head": 0.5, "left_eye": 0.25, "right_eye": 0.25},
        ("neck", "head"),
    ),
    "Head": (
        "headend",
        "headtopend",
        "headtop",
        {"head": 2.0, "upperneck": -1.0},
        {"head": 2.0, "neck1": -1.0},
        {"head": 2.0, "neck": -1.0},
    ),
}
"""For each Human3.6M joint, alternatives (normalised names) tried in order; see the module docstring."""

# Base names that may follow a one-letter side prefix without a separator ("lfemur", "rhand").
_SIDE_BASES = {
    "hipjoint",
    "femur",
    "tibia",
    "foot",
    "toes",
    "toe",
    "clavicle",
    "humerus",
    "radius",
    "wrist",
    "hand",
    "fingers",
    "thumb",
    "upleg",
    "arm",
    "forearm",
    "shoulder",
    "elbow",
    "knee",
    "ankle",
    "hip",
    "collar",
    "thigh",
    "shin",
    "calf",
    "upperarm",
    "lowerarm",
    "upperleg",
    "lowerleg",
}
_SIDES = {"left": "left", "l": "left", "right": "right", "r": "right"}
_WORD = re.compile(r"[A-Z]+(?=[A-Z][a-z])|[A-Z]?[a-z]+|[A-Z]+|\d+")


class RetargetError(ValueError):
    """Some Human3.6M joints could not be mapped from the source skeleton (message lists them)."""


def normalize_joint_name(name: str) -> str:
    """Normalise a joint name for matching across skeletons.

    Drops namespaces (``"mixamorig:"``), splits CamelCase and separators, lower-cases, and moves a side marker
    (``Left``/``L``/``l`` prefix, ``_L``/``.l`` suffix, or a one-letter prefix glued to a known bone name as in
    CMU's ``lfemur``) to a ``left_``/``right_`` prefix.

    Examples:
        ``"mixamorig:LeftUpLeg" -> "left_upleg"``, ``"LHipJoint" -> "left_hipjoint"``, ``"lfemur" -> "left_femur"``,
        ``"UpLeg_R" -> "right_upleg"``, ``"Neck1" -> "neck1"``, ``"Head_end" -> "headend"``,
        ``"lowerback" -> "lowerback"``.

    Args:
        name: a joint name as found in a file.

    Returns:
        The normalised name.
    """
    words = [w.lower() for w in _WORD.findall(re.split(r"[:|]", name)[-1])]
    side = ""
    if len(words) > 1 and words[0] in _SIDES:
        side, words = _SIDES[words[0]], words[1:]
    elif len(words) > 1 and words[-1] in _SIDES:
        side, words = _SIDES[words[-1]], words[:-1]
    elif len(words) == 1 and words[0][:1] in ("l", "r") and words[0][1:] in _SIDE_BASES:
        side, words = _SIDES[words[0][0]], [words[0][1:]]
    base = "".join(words)
    return f"{side}_{base}" if side else base


def _as_weights(alt: Alternative) -> dict[str, float]:
    if isinstance(alt, str):
        return {alt: 1.0}
    if isinstance(alt, Mapping):
        weights = {str(k): float(v) for k, v in alt.items()}
    else:
        names = list(alt)
        if not names or not all(isinstance(n, str) for n in names):
            raise ValueError(f"a mapping entry must be a name, names or {{name: weight}}, got {alt!r}")
        weights = {n: 1.0 / len(names) for n in names}
    if not weights or abs(sum(weights.values()) - 1.0) > 1e-6:
        raise ValueError(f"mapping weights must sum to 1, got {alt!r}")
    return weights


def resolve_mapping(
    names: Sequence[str],
    mapping: Mapping[str, Alternative] | None = None,
    offsets: np.ndarray | None = None,
    parents: Sequence[int] | None = None,
) -> dict[str, dict[int, float]]:
    """Find, for every Human3.6M joint, the source joints and weights that define it.

    Args:
        names: (N,) source joint names.
        mapping: optional overrides ``{h36m_joint: alternative}``; an alternative is a source joint name, a list of
            names (their mean) or ``{name: weight}`` (weights summing to 1). Names are matched exactly first, then
            after :func:`normalize_joint_name`. Joints not given use :data:`DEFAULT_MAPPING`. ``"Neck/Nose"`` is
            accepted for ``"Neck"``.
        offsets: (N, 3) rest offsets; with ``parents``, end sites of zero length are not used (they coincide
            with their parent, e.g. a head "tip" placed at the head joint).
        parents: (N,) parent indices.

    Returns:
        ``{h36m_joint: {source_index: weight}}`` in :data:`H36M_JOINTS` order.

    Raises:
        RetargetError: some joints could not be mapped (all of them are listed).
        ValueError: unknown Human3.6M joint names or bad weights in ``mapping``.
    """
    user = {}
    for key, alt in (mapping or {}).items():
        key = _ALIASES.get(key, key)
        if key not in H36M_JOINTS:
            raise ValueError(f"unknown Human3.6M joint {key!r} in mapping; joints are {list(H36M_JOINTS)}")
        user[key] = _as_weights(alt)
    exact = {n: i for i, n in enumerate(names)}
    normalized: dict[str, int] = {}
    for i, n in enumerate(names):
        normalized.setdefault(normalize_joint_name(n), i)
    unusable: set[int] = set()
    if offsets is not None and parents is not None:
        par = np.asarray(parents)
        is_leaf = ~np.isin(np.arange(len(names)), par[par >= 0])
        tiny = np.linalg.norm(np.asarray(offsets, dtype=np.float64), axis=-1) < 1e-9
        unusable = set(np.flatnonzero(is_leaf & tiny & (par >= 0)).tolist())

    def lookup(name: str) -> int | None:
        i = exact.get(name, normalized.get(normalize_joint_name(name)))
        return None if i is None or i in unusable else i

    resolved: dict[str, dict[int, float]] = {}
    missing: list[str] = []
    for joint in H36M_JOINTS:
        alternatives = [user[joint]] if joint in user else [_as_weights(a) for a in DEFAULT_MAPPING[joint]]
        for weights in alternatives:
            idx = {name: lookup(name) for name in weights}
            if all(i is not None for i in idx.values()):
                combined: dict[int, float] = {}
                for name, w in weights.items():
                    combined[idx[name]] = combined.get(idx[name], 0.0) + w
                resolved[joint] = combined
                break
        else:
            missing.append(joint)
    if missing:
        tried = {j: ([user[j]] if j in user else list(DEFAULT_MAPPING[j])) for j in missing}
        raise RetargetError(
            f"could not map Human3.6M joints {missing} (tried {tried}); source joints are {list(names)} "
            f"(normalised: {[normalize_joint_name(n) for n in names]}). Pass mapping={{joint: name}} for them."
        )
    return resolved
