"""Motion capture readers (BVH, Acclaim ASF/AMC) and vectorized forward kinematics.

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

from __future__ import annotations

import math
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Callable, Iterator, Sequence

import numpy as np

from .textio import read_text

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

CMU_MM_PER_UNIT: float = 25.4 / 0.45
"""Millimetres per CMU mocap unit (1 unit = 1/0.45 inch = 56.444 mm)."""

Y_UP_TO_WORLD: np.ndarray = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, -1.0], [0.0, 1.0, 0.0]])
"""(3, 3) rotation taking Y-up file coordinates to the project's Z-up world: ``(x, y, z) -> (x, -z, y)``."""


class MotionFormatError(ValueError):
    """A motion file is missing, malformed or inconsistent; the message names the file and line.

    Attributes:
        path: the offending file (``None`` for in-memory text without a name).
        line: 1-based line number, or ``None`` when the problem is not tied to one line.
    """

    def __init__(self, message: str, path: str | Path | None = None, line: int | None = None) -> None:
        self.path = None if path is None else str(path)
        self.line = line
        where = self.path or "<text>"
        if line is not None:
            where = f"{where}, line {line}"
        super().__init__(f"{where}: {message}")


def _motion_error(path: str | Path) -> Callable[[str], MotionFormatError]:
    """An error factory for :func:`lt_core.data.textio.read_text` that files the message under ``path``."""
    prefix = f"{Path(path)}: "
    return lambda msg: MotionFormatError(msg[len(prefix):] if msg.startswith(prefix) else msg, path)


@contextmanager
def _foreign_errors(path: str | Path) -> Iterator[None]:
    """Re-raise any exception that is not the project's own as a :class:`MotionFormatError` naming ``path``."""
    try:
        yield
    except MotionFormatError:
        raise
    except Exception as e:  # noqa: BLE001 - re-raised with the file's name
        if type(e).__module__.startswith("lt_core.") and str(path) in str(e):
            raise
        raise MotionFormatError(f"malformed content ({type(e).__name__}: {e})", path) from e


# ----------------------------------------------------------------------------------------------------------------
# Rotations and forward kinematics
# ----------------------------------------------------------------------------------------------------------------


def axis_rotation(axis: str, angle: np.ndarray) -> np.ndarray:
    """Rotation matrices about a coordinate axis.

    Args:
        axis: ``"x"``, ``"y"`` or ``"z"`` (case-insensitive).
        angle: (...) angles in radians (right-handed, counter-clockwise looking down the axis).

    Returns:
        (..., 3, 3) float64 rotation matrices.
    """
    angle = np.asarray(angle, dtype=np.float64)
    c, s = np.cos(angle), np.sin(angle)
    one, zero = np.ones_like(angle), np.zeros_like(angle)
    a = axis.lower()
    if a == "x":
        rows = ((one, zero, zero), (zero, c, -s), (zero, s, c))
    elif a == "y":
        rows = ((c, zero, s), (zero, one, zero), (-s, zero, c))
    elif a == "z":
        rows = ((c, -s, zero), (s, c, zero), (zero, zero, one))
    else:
        raise ValueError(f"axis must be 'x', 'y' or 'z', got {axis!r}")
    return np.stack([np.stack(r, axis=-1) for r in rows], axis=-2)


def euler_to_matrix(angles: np.ndarray, axes: str) -> np.ndarray:
    """Compose per-axis rotations as a matrix product in the listed order.

    ``euler_to_matrix(a, "ZYX") = Rz(a[..., 0]) @ Ry(a[..., 1]) @ Rx(a[..., 2])`` (BVH's reading of a channel list;
    for a vector this applies the *last* axis first).

    Args:
        angles: (..., K) angles in radians, one per letter of ``axes``.
        axes: K letters from ``xyzXYZ`` (K may be 0, giving identities; letters may repeat).

    Returns:
        (..., 3, 3) float64 rotation matrices.
    """
    angles = np.asarray(angles, dtype=np.float64)
    if angles.shape[-1] != len(axes):
        raise ValueError(f"got {angles.shape[-1]} angles for axes {axes!r}")
    out = np.broadcast_to(np.eye(3), angles.shape[:-1] + (3, 3)).copy()
    for k, a in enumerate(axes):
        out = out @ axis_rotation(a, angles[..., k])
    return out


def forward_kinematics(
    parents: Sequence[int] | np.ndarray, rotations: np.ndarray, translations: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Global joint rotations and positions of a kinematic tree, vectorized over frames.

    Args:
        parents: (N,) parent index of each joint, ``-1`` for roots; parents must come before their children.
        rotations: (T, N, 3, 3) local rotations ``R_local``.
        translations: (T, N, 3) local translations ``t_local`` (from the parent joint, in the parent's frame;
            for a root, its position).

    Returns:
        ``(R_global, p_global)`` of shapes (T, N, 3, 3) and (T, N, 3), float64, positions in the units of
        ``translations``.
    """
    parents = np.asarray(parents, dtype=np.int64)
    rot = np.asarray(rotations, dtype=np.float64)
    trans = np.asarray(translations, dtype=np.float64)
    if rot.ndim != 4 or rot.shape[1:] != (len(parents), 3, 3) or trans.shape != rot.shape[:2] + (3,):
        raise ValueError(f"need rotations (T, {len(parents)}, 3, 3) and translations (T, {len(parents)}, 3), "
                         f"got {rot.shape} and {trans.shape}")
    glob_r = np.empty_like(rot)
    glob_p = np.empty_like(trans)
    for j, p in enumerate(parents):
        if p < 0:
            glob_r[:, j] = rot[:, j]
            glob_p[:, j] = trans[:, j]
        else:
            if p >= j:
                raise ValueError(f"joint {j} has parent {p}: parents must precede children")
            glob_r[:, j] = glob_r[:, p] @ rot[:, j]
            glob_p[:, j] = glob_p[:, p] + (glob_r[:, p] @ trans[:, j, :, None])[..., 0]
    return glob_r, glob_p


def to_world_mm(points: np.ndarray, unit_mm: float = CMU_MM_PER_UNIT, up_axis: str = "y") -> np.ndarray:
    """Convert file-unit points to millimetres in the project's Z-up world frame.

    Args:
        points: (..., 3) positions in file units.
        unit_mm: millimetres per file unit.
        up_axis: ``"y"`` for Y-up files (CMU): ``(x, y, z) -> (x, -z, y)``; ``"z"``: axes kept.

    Returns:
        (..., 3) float64 positions in mm.
    """
    pts = np.asarray(points, dtype=np.float64) * unit_mm
    if up_axis.lower() == "y":
        return pts @ Y_UP_TO_WORLD.T
    if up_axis.lower() == "z":
        return pts
    raise ValueError(f"up_axis must be 'y' or 'z', got {up_axis!r}")


# ----------------------------------------------------------------------------------------------------------------
# Motion
# ----------------------------------------------------------------------------------------------------------------


@dataclass(eq=False)
class Motion:
    """A skeleton animation read from a BVH or ASF/AMC file.

    Attributes:
        names: (N,) unique joint names (end sites are ``<parent>_end``).
        parents: (N,) int64 parent index, ``-1`` for the root; parents precede children.
        offsets: (N, 3) rest translation of each joint from its parent, file units (BVH: in the parent's frame;
            ASF: the parent bone's ``direction * length``, world axes of the rest pose).
        rotations: (T, N, 3, 3) local rotation of each joint per frame (ASF: ``C @ L @ C^-1`` of the joint's bone).
        translations: (T, N, 3) local translation per frame (``offsets`` unless position channels animate it).
        fps: frames per second.
        channels: (T, K) raw channel values as stored in the file (degrees or radians, file units).
        channel_names: (K,) ``"<joint>:<channel>"`` labels of ``channels`` columns (e.g. ``"Hips:Zrotation"``,
            ``"lfemur:rx"``).
        unit_mm: millimetres per file unit.
        up_axis: ``"y"`` or ``"z"``, the file's vertical axis.
        source: the file read (or ``"<text>"``).
        format: ``"bvh"`` or ``"amc"``.
    """

    names: list[str]
    parents: np.ndarray
    offsets: np.ndarray
    rotations: np.ndarray
    translations: np.ndarray
    fps: float
    channels: np.ndarray
    channel_names: list[str]
    unit_mm: float = CMU_MM_PER_UNIT
    up_axis: str = "y"
    source: str = "<text>"
    format: str = "bvh"
    _cache: dict = field(default_factory=dict, repr=False, compare=False)

    @property
    def n_frames(self) -> int:
        """Number of frames ``T``."""
        return int(self.rotations.shape[0])

    @property
    def n_joints(self) -> int:
        """Number of joints ``N`` (end sites included)."""
        return len(self.names)

    @property
    def is_end_site(self) -> np.ndarray:
        """(N,) bool: joints that have no children."""
        has_child = np.zeros(self.n_joints, dtype=bool)
        has_child[self.parents[self.parents >= 0]] = True
        return ~has_child

    def index(self, name: str) -> int:
        """Index of a joint by its exact name (``KeyError`` lists the names)."""
        try:
            return self.names.index(name)
        except ValueError:
            raise KeyError(f"{self.source}: no joint {name!r}; joints are {self.names}") from None

    def children(self, joint: int) -> list[int]:
        """Indices of the direct children of a joint."""
        return [int(j) for j in np.flatnonzero(self.parents == joint)]

    def descendants(self, joint: int) -> list[int]:
        """Indices of a joint and everything below it."""
        out = [joint]
        for j in range(joint + 1, self.n_joints):
            if self.parents[j] in out:
                out.append(j)
        return out

    def global_transforms(self) -> tuple[np.ndarray, np.ndarray]:
        """Global rotations (T, N, 3, 3) and positions (T, N, 3) in file units (cached)."""
        if "fk" not in self._cache:
            self._cache["fk"] = forward_kinematics(self.parents, self.rotations, self.translations)
        return self._cache["fk"]

    def forward_kinematics(self) -> np.ndarray:
        """Global joint positions.

        Returns:
            (T, N, 3) float64 positions in file units and the file's axes.
        """
        return self.global_transforms()[1]

    def positions_mm(self) -> np.ndarray:
        """Global joint positions in millimetres in the project's Z-up world frame.

        Returns:
            (T, N, 3) float64, ``(x, y, z)_world = (x, -z, y)_file * unit_mm`` for Y-up files.
        """
        return to_world_mm(self.forward_kinematics(), self.unit_mm, self.up_axis)

    def rest_positions(self) -> np.ndarray:
        """Joint positions with every local rotation set to identity and translations at their offsets.

        Returns:
            (N, 3) float64 in file units.
        """
        eye = np.broadcast_to(np.eye(3), (1, self.n_joints, 3, 3))
        return forward_kinematics(self.parents, eye, self.offsets[None])[1][0]

    def select_frames(self, frames: slice | np.ndarray | Sequence[int]) -> Motion:
        """A new :class:`Motion` with a subset of frames (same skeleton)."""
        return replace(
            self,
            rotations=self.rotations[frames],
            translations=self.translations[frames],
            channels=self.channels[frames],
            _cache={},
        )

    def __repr__(self) -> str:
        return (f"Motion({self.format}: {Path(self.source).name}, {self.n_joints} joints, {self.n_frames} frames "
                f"@ {self.fps:g} Hz, {self.unit_mm:.4g} mm/unit)")


def _snap_fps(fps: float) -> float:
    """Snap a frame rate computed from a rounded frame time (1 / 0.0083333) to the nearby integer."""
    r = round(fps)
    return float(r) if r > 0 and abs(fps - r) < 0.01 else fps


# ----------------------------------------------------------------------------------------------------------------
# BVH
# ----------------------------------------------------------------------------------------------------------------

_BVH_CHANNELS = {f"{a}{kind}": (a, kind) for a in "xyz" for kind in ("position", "rotation")}


def _tokens(lines: Sequence[str], start: int, stop: int) -> Iterator[tuple[str, int]]:
    """Whitespace tokens of ``lines[start:stop]`` with their 1-based line numbers (braces split off)."""
    for i in range(start, stop):
        for tok in lines[i].replace("{", " { ").replace("}", " } ").split():
            yield tok, i + 1


def read_bvh(path: str | Path, unit_mm: float = CMU_MM_PER_UNIT, up_axis: str = "y") -> Motion:
    """Read a BVH file.

    Args:
        path: the ``.bvh`` file.
        unit_mm: millimetres per file unit (BVH has no unit field; the default is CMU's 56.444 mm).
        up_axis: the file's vertical axis, ``"y"`` (CMU, most tools) or ``"z"``.

    Returns:
        The :class:`Motion` (``format="bvh"``).

    Raises:
        MotionFormatError: missing file, bad syntax, unknown channel, wrong channel count in a frame...
    """
    path = Path(path)
    if not path.is_file():
        raise MotionFormatError("file not found", path)
    text = read_text(path, _motion_error(path), "BVH file")
    with _foreign_errors(path):
        return parse_bvh(text, source=str(path), unit_mm=unit_mm, up_axis=up_axis)


def parse_bvh(text: str, source: str = "<text>", unit_mm: float = CMU_MM_PER_UNIT, up_axis: str = "y") -> Motion:
    """Parse BVH text; see :func:`read_bvh` (``source`` names the text in errors)."""
    lines = text.splitlines()
    motion_line = next((i for i, ln in enumerate(lines) if ln.strip().upper() == "MOTION"), None)
    if motion_line is None:
        raise MotionFormatError("no MOTION section", source)

    names: list[str] = []
    parents: list[int] = []
    offsets: list[list[float]] = []
    joint_channels: list[list[str]] = []
    tokens = _tokens(lines, 0, motion_line)

    def take(what: str) -> tuple[str, int]:
        try:
            return next(tokens)
        except StopIteration:
            raise MotionFormatError(f"unexpected end of HIERARCHY, expected {what}", source, motion_line + 1) from None

    def take_float(what: str) -> float:
        tok, ln = take(what)
        try:
            return float(tok)
        except ValueError:
            raise MotionFormatError(f"expected a number for {what}, got {tok!r}", source, ln) from None

    def parse_joint(parent: int, end_site: bool, ln: int) -> None:
        name_parts: list[str] = []
        tok, tok_ln = take("'{'")
        while tok != "{":
            name_parts.append(tok)
            tok, tok_ln = take("'{'")
        if end_site:
            base = f"{names[parent]}_end"
            name, k = base, 1
            while name in names:
                k += 1
                name = f"{base}{k}"
        else:
            if not name_parts:
                raise MotionFormatError("joint without a name", source, ln)
            name = " ".join(name_parts)
            if name in names:
                raise MotionFormatError(f"duplicate joint name {name!r}", source, ln)
        index = len(names)
        names.append(name)
        parents.append(parent)
        offsets.append([0.0, 0.0, 0.0])
        joint_channels.append([])
        while True:
            tok, tok_ln = take("'}'")
            key = tok.upper()
            if key == "OFFSET":
                offsets[index] = [take_float("OFFSET") for _ in range(3)]
            elif key == "CHANNELS":
                if end_site:
                    raise MotionFormatError("End Site cannot have CHANNELS", source, tok_ln)
                count_tok, count_ln = take("channel count")
                try:
                    count = int(count_tok)
                except ValueError:
                    raise MotionFormatError(f"bad channel count {count_tok!r}", source, count_ln) from None
                chans = []
                for _ in range(count):
                    ch, ch_ln = take("channel name")
                    if ch.lower() not in _BVH_CHANNELS:
                        raise MotionFormatError(
                            f"joint {name!r}: CHANNELS {count} lists {len(chans)} valid channel(s), then {ch!r} "
                            f"(expected one of Xposition..Zrotation)", source, ch_ln)
                    chans.append(ch.lower())
                if len(set(chans)) != len(chans):
                    raise MotionFormatError(f"joint {name!r} repeats a channel: {chans}", source, count_ln)
                joint_channels[index] = chans
            elif key in ("JOINT", "ROOT"):
                if end_site:
                    raise MotionFormatError("End Site cannot have children", source, tok_ln)
                parse_joint(index, False, tok_ln)
            elif key == "END":
                site, site_ln = take("'Site'")
                if site.upper() != "SITE":
                    raise MotionFormatError(f"expected 'End Site', got 'End {site}'", source, site_ln)
                parse_joint(index, True, tok_ln)
            elif tok == "}":
                return
            else:
                raise MotionFormatError(f"unexpected {tok!r} in joint {name!r}", source, tok_ln)

    first, first_ln = take("HIERARCHY")
    if first.upper() != "HIERARCHY":
        raise MotionFormatError(f"expected HIERARCHY, got {first!r}", source, first_ln)
    for tok, ln in tokens:
        if tok.upper() != "ROOT":
            raise MotionFormatError(f"expected ROOT, got {tok!r}", source, ln)
        parse_joint(-1, False, ln)
    if not names:
        raise MotionFormatError("HIERARCHY has no ROOT joint", source, first_ln)

    # --- MOTION header
    frames, frame_time = None, None
    i = motion_line + 1
    while i < len(lines) and (frames is None or frame_time is None):
        ln = lines[i].strip()
        i += 1
        if not ln:
            continue
        key, _, value = ln.partition(":")
        try:
            if key.strip().lower() == "frames":
                frames = int(value)
            elif key.strip().lower() == "frame time":
                frame_time = float(value)
            else:
                raise ValueError
        except ValueError:
            raise MotionFormatError(f"expected 'Frames: <n>' and 'Frame Time: <s>', got {ln!r}", source, i) from None
    if frames is None or frame_time is None:
        raise MotionFormatError("MOTION section lacks 'Frames:' or 'Frame Time:'", source, i)
    if frame_time <= 0 or frames < 0:
        raise MotionFormatError(f"bad Frames ({frames}) or Frame Time ({frame_time})", source, i)

    # --- frame data
    n_chan = sum(len(c) for c in joint_channels)
    rows: list[list[str]] = []
    row_lines: list[int] = []
    for k in range(i, len(lines)):
        parts = lines[k].split()
        if not parts:
            continue
        if len(parts) != n_chan:
            raise MotionFormatError(
                f"frame {len(rows)} has {len(parts)} values, the hierarchy declares {n_chan} channels", source, k + 1)
        rows.append(parts)
        row_lines.append(k + 1)
    if len(rows) != frames:
        raise MotionFormatError(f"'Frames: {frames}' but {len(rows)} frame lines follow", source, i)
    try:
        data = np.array(rows, dtype=np.float64).reshape(frames, n_chan)
    except ValueError:
        for parts, ln in zip(rows, row_lines):
            for p in parts:
                try:
                    float(p)
                except ValueError:
                    raise MotionFormatError(f"not a number: {p!r}", source, ln) from None
        raise
    if not np.all(np.isfinite(data)):
        bad = int(np.argwhere(~np.isfinite(data))[0, 0])
        raise MotionFormatError("non-finite value in frame data", source, row_lines[bad])

    # --- local transforms
    n = len(names)
    offsets_arr = np.asarray(offsets, dtype=np.float64).reshape(n, 3)
    rotations = np.broadcast_to(np.eye(3), (frames, n, 3, 3)).copy()
    translations = np.broadcast_to(offsets_arr, (frames, n, 3)).copy()
    channel_names: list[str] = []
    col = 0
    for j, chans in enumerate(joint_channels):
        rot_axes, rot_cols = "", []
        for ch in chans:
            axis, kind = _BVH_CHANNELS[ch]
            if kind == "position":
                translations[:, j, "xyz".index(axis)] = data[:, col]
            else:
                rot_axes += axis
                rot_cols.append(col)
            channel_names.append(f"{names[j]}:{axis.upper()}{kind}")
            col += 1
        if rot_axes:
            rotations[:, j] = euler_to_matrix(np.deg2rad(data[:, rot_cols]), rot_axes)

    return Motion(
        names=names,
        parents=np.asarray(parents, dtype=np.int64),
        offsets=offsets_arr,
        rotations=rotations,
        translations=translations,
        fps=_snap_fps(1.0 / frame_time),
        channels=data,
        channel_names=channel_names,
        unit_mm=unit_mm,
        up_axis=up_axis,
        source=source,
        format="bvh",
    )


# ----------------------------------------------------------------------------------------------------------------
# ASF / AMC
# ----------------------------------------------------------------------------------------------------------------

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
        raise MotionFormatError("not an ASF skeleton: no ':' section (':root', ':bonedata', ...); the file is empty "
                                "or holds something else", source)
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
            if section not in ("version", "name", "units", "documentation", "root", "bonedata", "hierarchy",
                               "skin"):
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
    skel = AsfSkeleton(bones, parent, root_order, root_axis, root_position, root_orientation,
                       units["length"], units["angle"], source)
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
                f"joint {head!r} has {len(parts) - 1} values, the ASF declares {n_dof[head]} dof", source, idx + 1)
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
    with _foreign_errors(asf_path):
        skel = parse_asf(read_text(asf_path, _motion_error(asf_path), "ASF skeleton"), source=str(asf_path))
    with _foreign_errors(amc_path):
        values, _, amc_angle = parse_amc(read_text(amc_path, _motion_error(amc_path), "AMC motion"), skel,
                                         source=str(amc_path))
    return _asf_motion(skel, values, fps, unit_mm, amc_angle, str(amc_path))


def _asf_motion(
    skel: AsfSkeleton, values: dict[str, np.ndarray], fps: float, unit_mm: float | None, amc_angle: str | None,
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
