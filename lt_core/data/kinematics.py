"""What every motion capture reader shares: the :class:`Motion` container, rotations and vectorised forward
kinematics, units and the Y-up to Z-up change, and :class:`MotionFormatError` (conventions: :mod:`lt_core.data.motion`).

Forward kinematics composes per-frame local rotations and translations over the joint tree::

    R_global[j] = R_global[parent] @ R_local[j]
    p_global[j] = p_global[parent] + R_global[parent] @ t_local[j]

for all ``T`` frames at once (a Python loop runs over joints only).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

__all__ = [
    "CMU_MM_PER_UNIT",
    "Y_UP_TO_WORLD",
    "MotionFormatError",
    "Motion",
    "axis_rotation",
    "euler_to_matrix",
    "forward_kinematics",
    "to_world_mm",
    "motion_error",
    "foreign_errors",
    "snap_fps",
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


def motion_error(path: str | Path) -> Callable[[str], MotionFormatError]:
    """An error factory for :func:`lt_core.data.textio.read_text` that files the message under ``path``."""
    prefix = f"{Path(path)}: "
    return lambda msg: MotionFormatError(msg[len(prefix) :] if msg.startswith(prefix) else msg, path)


@contextmanager
def foreign_errors(path: str | Path) -> Iterator[None]:
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
        raise ValueError(
            f"need rotations (T, {len(parents)}, 3, 3) and translations (T, {len(parents)}, 3), "
            f"got {rot.shape} and {trans.shape}"
        )
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
        return (
            f"Motion({self.format}: {Path(self.source).name}, {self.n_joints} joints, {self.n_frames} frames "
            f"@ {self.fps:g} Hz, {self.unit_mm:.4g} mm/unit)"
        )


def snap_fps(fps: float) -> float:
    """Snap a frame rate computed from a rounded frame time (1 / 0.0083333) to the nearby integer."""
    r = round(fps)
    return float(r) if r > 0 and abs(fps - r) < 0.01 else fps
