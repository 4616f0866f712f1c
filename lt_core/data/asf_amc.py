"""Acclaim ASF/AMC motion files (the CMU database's own format) into :class:`~lt_core.data.kinematics.Motion`.

A bone's ``axis a b c XYZ`` gives ``C``, its ``dof`` rotations give ``L``; the bone's world rotation is
``M = M_parent @ C @ L @ C^-1`` and it ends at ``start + M @ (direction * length)``. Each bone becomes a joint at
the bone's start; leaf bones get an extra ``<bone>_end`` joint at their tip. Units: ``25.4 / length`` mm per unit
(``:units length``). More conventions in :mod:`lt_core.data.motion`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from lt_core.data.kinematics import Motion, MotionFormatError, euler_to_matrix, foreign_errors, motion_error
from lt_core.data.textio import read_text

__all__ = ["read_asf_amc", "parse_asf", "parse_amc", "AsfSkeleton", "AsfBone"]


_ASF_DOFS = ("tx", "ty", "tz", "rx", "ry", "rz", "l")


@dataclass
class AsfBone:
    """One ``:bonedata`` entry of an ASF file.

    Attributes:
        name: bone name.
        direction: (3,) unit direction of the bone in the rest pose, world axes.
        length: bone length in file units.
        axis: (3,) angles of the bone's local frame ``C`` in radians, for the letters of ``axis_order``.
        axis_order: rotation order of ``axis`` (e.g. ``"XYZ"``: X applied first).
        dof: animated channels in AMC order, from ``tx ty tz rx ry rz l``.
        line: line of the bone's ``begin`` (for messages).
    """

    name: str
    direction: np.ndarray
    length: float
    axis: np.ndarray
    axis_order: str
    dof: list[str]
    line: int


@dataclass
class AsfSkeleton:
    """The content of an ASF file.

    Attributes:
        bones: bones by name, in file order.
        parent: parent bone name of every bone (``"root"`` for the root's children).
        root_order: AMC value order of the root, e.g. ``["tx", "ty", "tz", "rx", "ry", "rz"]``.
        root_axis: rotation order of ``root_orientation`` (e.g. ``"XYZ"``).
        root_position: (3,) rest position of the root, file units.
        root_orientation: (3,) rest orientation angles in radians for the letters of ``root_axis``.
        length_scale: ``:units length`` (CMU: 0.45, file lengths are inches times 0.45).
        angle_unit: ``"deg"`` or ``"rad"`` (``:units angle``).
        source: the file read.
    """

    bones: dict[str, AsfBone]
    parent: dict[str, str]
    root_order: list[str]
    root_axis: str
    root_position: np.ndarray
    root_orientation: np.ndarray
    length_scale: float
    angle_unit: str
    source: str

    @property
    def unit_mm(self) -> float:
        """Millimetres per file unit: ``25.4 / length_scale`` (inches scaled by ``:units length``)."""
        return 25.4 / self.length_scale

    def joint_order(self) -> list[str]:
        """Bone names in depth-first order from the root (parents before children)."""
        children: dict[str, list[str]] = {}
        for bone in self.bones:  # keep file order among siblings
            children.setdefault(self.parent[bone], []).append(bone)
        order: list[str] = []
        stack = list(reversed(children.get("root", [])))
        while stack:
            b = stack.pop()
            order.append(b)
            stack.extend(reversed(children.get(b, [])))
        return order


def _floats(parts: Sequence[str], n: int, what: str, source: str, ln: int) -> np.ndarray:
    if len(parts) != n:
        raise MotionFormatError(f"{what} needs {n} numbers, got {len(parts)}: {' '.join(parts)!r}", source, ln)
    try:
        return np.array([float(p) for p in parts], dtype=np.float64)
    except ValueError:
        raise MotionFormatError(f"{what} has a non-number: {' '.join(parts)!r}", source, ln) from None


def parse_asf(text: str, source: str = "<text>") -> AsfSkeleton:
    """Parse ASF skeleton text.

    Args:
        text: the ASF content.
        source: file name used in error messages.

    Returns:
        The :class:`AsfSkeleton` (angles converted to radians).

    Raises:
        MotionFormatError: unknown section or keyword, missing bone fields, bad hierarchy.
    """
    lines = text.splitlines()
    if not any(line.split("#", 1)[0].strip().startswith(":") for line in lines):
        raise MotionFormatError(
            "not an ASF skeleton: no ':' section (':root', ':bonedata', ...); the file is empty "
            "or holds something else",
            source,
        )
    section = ""
    units = {"length": 1.0, "angle": "deg", "mass": 1.0}
    root: dict[str, tuple[list[str], int]] = {}
    raw_bones: list[dict] = []
    current: dict | None = None
    hierarchy: list[tuple[list[str], int]] = []
    in_hierarchy_block = False

    for idx, raw in enumerate(lines):
        ln = idx + 1
        s = raw.split("#", 1)[0].strip()
        if not s:
            continue
        parts = s.split()
        if s.startswith(":"):
            if current is not None:
                raise MotionFormatError(f"bone {current.get('name', '?')!r} has no 'end'", source, current["line"])
            section = parts[0][1:].lower()
            if section not in ("version", "name", "units", "documentation", "root", "bonedata", "hierarchy", "skin"):
                raise MotionFormatError(f"unknown ASF section {parts[0]!r}", source, ln)
            continue
        if section == "units":
            if len(parts) != 2:
                raise MotionFormatError(f"bad :units line {s!r}", source, ln)
            key = parts[0].lower()
            if key not in units:
                continue  # other units (e.g. time) do not affect positions
            if key == "angle":
                if parts[1].lower() not in ("deg", "rad"):
                    raise MotionFormatError(f"angle unit must be deg or rad, got {parts[1]!r}", source, ln)
                units[key] = parts[1].lower()
            else:
                units[key] = float(_floats(parts[1:], 1, f":units {key}", source, ln)[0])
        elif section == "root":
            key = parts[0].lower()
            if key not in ("order", "axis", "position", "orientation"):
                raise MotionFormatError(f"unknown :root keyword {parts[0]!r}", source, ln)
            root[key] = (parts[1:], ln)
        elif section == "bonedata":
            key = parts[0].lower()
            if key == "begin":
                current = {"line": ln}
            elif current is None:
                raise MotionFormatError(f"{parts[0]!r} outside a begin/end bone block", source, ln)
            elif key == "end":
                raw_bones.append(current)
                current = None
            elif key in ("id", "name", "direction", "length", "axis", "dof", "bodymass", "cofmass"):
                current[key] = (parts[1:], ln)
            elif key == "limits" or s.startswith("("):
                pass  # joint limits are not used
            else:
                raise MotionFormatError(f"unknown bone keyword {parts[0]!r}", source, ln)
        elif section == "hierarchy":
            if parts[0].lower() == "begin":
                in_hierarchy_block = True
            elif parts[0].lower() == "end":
                in_hierarchy_block = False
            elif in_hierarchy_block:
                hierarchy.append((parts, ln))
            else:
                raise MotionFormatError(f"hierarchy line outside begin/end: {s!r}", source, ln)
        # version, name, documentation, skin: free text, ignored
    if current is not None:
        raise MotionFormatError(f"bone {current.get('name', '?')!r} has no 'end'", source, current["line"])
    if units["length"] <= 0:
        raise MotionFormatError(f":units length must be > 0, got {units['length']}", source)

    to_rad = (math.pi / 180.0) if units["angle"] == "deg" else 1.0

    # root
    order_parts, order_ln = root.get("order", (["TX", "TY", "TZ", "RX", "RY", "RZ"], 0))
    root_order = [p.lower() for p in order_parts]
    bad = [p for p in root_order if p not in _ASF_DOFS[:6]]
    if bad or len(set(root_order)) != len(root_order):
        raise MotionFormatError(f"bad :root order {' '.join(order_parts)!r}", source, order_ln or None)
    axis_parts, axis_ln = root.get("axis", (["XYZ"], 0))
    root_axis = axis_parts[0].upper() if axis_parts else ""
    if sorted(root_axis) != ["X", "Y", "Z"]:
        raise MotionFormatError(f"bad :root axis {' '.join(axis_parts)!r}", source, axis_ln or None)
    pos_parts, pos_ln = root.get("position", (["0", "0", "0"], 0))
    ori_parts, ori_ln = root.get("orientation", (["0", "0", "0"], 0))
    root_position = _floats(pos_parts, 3, ":root position", source, pos_ln)
    root_orientation = _floats(ori_parts, 3, ":root orientation", source, ori_ln) * to_rad

    # bones
    bones: dict[str, AsfBone] = {}
    for rb in raw_bones:
        for key in ("name", "direction", "length"):
            if key not in rb:
                raise MotionFormatError(f"bone block lacks '{key}'", source, rb["line"])
        name_parts, name_ln = rb["name"]
        if len(name_parts) != 1:
            raise MotionFormatError(f"bad bone name {' '.join(name_parts)!r}", source, name_ln)
        name = name_parts[0]
        if name in bones or name == "root":
            raise MotionFormatError(f"duplicate bone name {name!r}", source, name_ln)
        direction = _floats(rb["direction"][0], 3, f"bone {name!r} direction", source, rb["direction"][1])
        norm = float(np.linalg.norm(direction))
        if norm > 0:
            direction = direction / norm
        length = float(_floats(rb["length"][0], 1, f"bone {name!r} length", source, rb["length"][1])[0])
        axis_order, axis = "XYZ", np.zeros(3)
        if "axis" in rb:
            a_parts, a_ln = rb["axis"]
            if len(a_parts) != 4 or sorted(a_parts[3].upper()) != ["X", "Y", "Z"]:
                raise MotionFormatError(f"bone {name!r}: axis needs 3 angles and an order like XYZ", source, a_ln)
            axis = _floats(a_parts[:3], 3, f"bone {name!r} axis", source, a_ln) * to_rad
            axis_order = a_parts[3].upper()
        dof: list[str] = []
        if "dof" in rb:
            d_parts, d_ln = rb["dof"]
            dof = [d.lower() for d in d_parts]
            bad = [d for d in dof if d not in _ASF_DOFS]
            if bad or len(set(dof)) != len(dof):
                raise MotionFormatError(f"bone {name!r}: bad dof {' '.join(d_parts)!r}", source, d_ln)
        bones[name] = AsfBone(name, direction, length, axis, axis_order, dof, rb["line"])

    parent: dict[str, str] = {}
    for parts, ln in hierarchy:
        p = parts[0]
        if p != "root" and p not in bones:
            raise MotionFormatError(f"hierarchy names unknown bone {p!r}", source, ln)
        for c in parts[1:]:
            if c not in bones:
                raise MotionFormatError(f"hierarchy names unknown bone {c!r}", source, ln)
            if c in parent:
                raise MotionFormatError(f"bone {c!r} has two parents", source, ln)
            parent[c] = p
    orphans = [b for b in bones if b not in parent]
    if orphans:
        raise MotionFormatError(f"bones not attached in :hierarchy: {orphans}", source)
    skel = AsfSkeleton(
        bones, parent, root_order, root_axis, root_position, root_orientation, units["length"], units["angle"], source
    )
    reachable = skel.joint_order()
    if len(reachable) != len(bones):
        loop = sorted(set(bones) - set(reachable))
        raise MotionFormatError(f"bones not connected to the root (cycle?): {loop}", source)
    return skel


def _asf_matrix(angles: np.ndarray, order: str) -> np.ndarray:
    """Acclaim rotation: angles (..., K) for the letters of ``order``, the first letter applied first."""
    return euler_to_matrix(angles[..., ::-1], order[::-1])


def parse_amc(
    text: str, skeleton: AsfSkeleton, source: str = "<text>"
) -> tuple[dict[str, np.ndarray], np.ndarray, str | None]:
    """Parse AMC motion text against a skeleton.

    Args:
        text: the AMC content.
        skeleton: the parsed ASF.
        source: file name used in error messages.

    Returns:
        ``(values, frame_numbers, angle_unit)``: per bone (and ``"root"``) an array (T, n_dof) of raw values in file
        order; (T,) frame numbers; ``"deg"``/``"rad"`` if the header says ``:DEGREES``/``:RADIANS``, else ``None``.

    Raises:
        MotionFormatError: unknown bone, wrong number of values, a frame missing a bone, no frames.
    """
    n_dof = {name: len(b.dof) for name, b in skeleton.bones.items() if b.dof}
    n_dof["root"] = len(skeleton.root_order)
    rows: dict[str, list[list[str]]] = {name: [] for name in n_dof}
    row_lines: dict[str, list[int]] = {name: [] for name in n_dof}
    frame_numbers: list[int] = []
    frame_lines: list[int] = []
    angle_unit: str | None = None
    seen: set[str] = set()

    def close_frame() -> None:
        if frame_numbers and len(seen) != len(n_dof):
            missing = sorted(set(n_dof) - seen)
            raise MotionFormatError(f"frame {frame_numbers[-1]} lacks bones {missing}", source, frame_lines[-1])

    for idx, raw in enumerate(text.splitlines()):
        parts = raw.split()
        if not parts or parts[0].startswith("#"):
            continue
        head = parts[0]
        if head.startswith(":"):
            if frame_numbers:
                raise MotionFormatError(f"header keyword {head!r} after the first frame", source, idx + 1)
            if head.upper() == ":DEGREES":
                angle_unit = "deg"
            elif head.upper() == ":RADIANS":
                angle_unit = "rad"
            continue
        if len(parts) == 1 and head.isdigit():
            close_frame()
            frame_numbers.append(int(head))
            frame_lines.append(idx + 1)
            seen = set()
            continue
        if not frame_numbers:
            raise MotionFormatError(f"data before the first frame number: {raw.strip()!r}", source, idx + 1)
        if head not in n_dof:
            hint = "it has no dof in" if head in skeleton.bones else "no such bone in"
            raise MotionFormatError(f"unknown joint {head!r} ({hint} the skeleton {skeleton.source})", source, idx + 1)
        if head in seen:
            raise MotionFormatError(f"joint {head!r} twice in frame {frame_numbers[-1]}", source, idx + 1)
        if len(parts) - 1 != n_dof[head]:
            raise MotionFormatError(
                f"joint {head!r} has {len(parts) - 1} values, the ASF declares {n_dof[head]} dof", source, idx + 1
            )
        rows[head].append(parts[1:])
        row_lines[head].append(idx + 1)
        seen.add(head)
    if not frame_numbers:
        raise MotionFormatError("no frames", source)
    close_frame()
    values: dict[str, np.ndarray] = {}
    for name, r in rows.items():
        try:
            values[name] = np.array(r, dtype=np.float64).reshape(len(frame_numbers), n_dof[name])
        except ValueError:
            for parts, ln in zip(r, row_lines[name]):
                _floats(parts, len(parts), f"joint {name!r}", source, ln)
            raise
    return values, np.asarray(frame_numbers, dtype=np.int64), angle_unit


def read_asf_amc(
    amc_path: str | Path, asf_path: str | Path, fps: float = 120.0, unit_mm: float | None = None
) -> Motion:
    """Read an Acclaim skeleton (ASF) and motion (AMC).

    Args:
        amc_path: the ``.amc`` motion.
        asf_path: the ``.asf`` skeleton it was captured with.
        fps: frame rate (AMC files do not store it; CMU captures are 120 Hz).
        unit_mm: millimetres per file unit; default ``25.4 / (:units length)`` (CMU: 56.444).

    Returns:
        The :class:`Motion` (``format="amc"``): joint ``"root"``, one joint per bone at the bone's start, and
        ``<bone>_end`` joints at the tips of leaf bones.

    Raises:
        MotionFormatError: missing or malformed files, unknown joints in the AMC, wrong value counts.
    """
    amc_path, asf_path = Path(amc_path), Path(asf_path)
    for p in (asf_path, amc_path):
        if not p.is_file():
            raise MotionFormatError("file not found", p)
    with foreign_errors(asf_path):
        skel = parse_asf(read_text(asf_path, motion_error(asf_path), "ASF skeleton"), source=str(asf_path))
    with foreign_errors(amc_path):
        values, _, amc_angle = parse_amc(
            read_text(amc_path, motion_error(amc_path), "AMC motion"), skel, source=str(amc_path)
        )
    return _asf_motion(skel, values, fps, unit_mm, amc_angle, str(amc_path))


def _asf_motion(
    skel: AsfSkeleton,
    values: dict[str, np.ndarray],
    fps: float,
    unit_mm: float | None,
    amc_angle: str | None,
    source: str,
) -> Motion:
    """Build the joint tree and per-frame local transforms of an ASF/AMC pair."""
    to_rad = (math.pi / 180.0) if (amc_angle or skel.angle_unit) == "deg" else 1.0
    order = skel.joint_order()
    leaves = [b for b in order if not any(skel.parent[c] == b for c in skel.bones)]
    names = ["root"] + order
    parents = [-1] + [names.index(skel.parent[b]) for b in order]
    for leaf in leaves:  # tip joints of leaf bones, appended after all bones (parents still come first)
        names.append(f"{leaf}_end")
        parents.append(names.index(leaf))
    n = len(names)
    t_frames = next(iter(values.values())).shape[0]
    vec = {b.name: b.direction * b.length for b in skel.bones.values()}

    offsets = np.zeros((n, 3))
    for j in range(1, n):
        par = names[parents[j]]
        offsets[j] = vec.get(par, np.zeros(3))
    offsets[0] = skel.root_position
    rotations = np.broadcast_to(np.eye(3), (t_frames, n, 3, 3)).copy()
    translations = np.broadcast_to(offsets, (t_frames, n, 3)).copy()

    # root: translation channels replace position; rotation O L O^-1 with L in :root order
    root_vals = values["root"]
    rot_letters = "".join(c[1] for c in skel.root_order if c.startswith("r"))
    rot_cols = [k for k, c in enumerate(skel.root_order) if c.startswith("r")]
    for k, c in enumerate(skel.root_order):
        if c.startswith("t"):
            translations[:, 0, "xyz".index(c[1])] = root_vals[:, k]
    o_mat = _asf_matrix(skel.root_orientation, skel.root_axis)
    l_mat = _asf_matrix(root_vals[:, rot_cols] * to_rad, rot_letters)
    rotations[:, 0] = o_mat @ l_mat @ o_mat.T

    channel_names = [f"root:{c.upper()}" for c in skel.root_order]
    channel_cols = [root_vals]
    for b in order:
        bone = skel.bones[b]
        if not bone.dof:
            continue
        vals = values[b]
        channel_names += [f"{b}:{d}" for d in bone.dof]
        channel_cols.append(vals)
        j = names.index(b)
        c_mat = _asf_matrix(bone.axis, bone.axis_order)
        r_cols = [k for k, d in enumerate(bone.dof) if d.startswith("r")]
        if r_cols:
            letters = "".join(bone.dof[k][1] for k in r_cols)
            rotations[:, j] = c_mat @ _asf_matrix(vals[:, r_cols] * to_rad, letters) @ c_mat.T
        t_cols = [k for k, d in enumerate(bone.dof) if d.startswith("t")]
        if t_cols or "l" in bone.dof:
            tip = np.broadcast_to(vec[b], (t_frames, 3)).copy()
            if "l" in bone.dof:
                tip += vals[:, [bone.dof.index("l")]] * bone.direction
            if t_cols:
                local = np.zeros((t_frames, 3))
                for k in t_cols:
                    local[:, "xyz".index(bone.dof[k][1])] = vals[:, k]
                tip += local @ c_mat.T
            for c in (k for k in range(n) if parents[k] == j):
                translations[:, c] = tip
    return Motion(
        names=names,
        parents=np.asarray(parents, dtype=np.int64),
        offsets=offsets,
        rotations=rotations,
        translations=translations,
        fps=float(fps),
        channels=np.concatenate(channel_cols, axis=1),
        channel_names=channel_names,
        unit_mm=float(unit_mm) if unit_mm is not None else skel.unit_mm,
        up_axis="y",
        source=source,
        format="amc",
    )
