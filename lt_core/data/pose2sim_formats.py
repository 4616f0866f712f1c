"""Pose2Sim's file formats: OpenPose JSON detections and TRC marker trajectories (read and write).

Formats (facts checked on the files):

* OpenPose JSON: ``{"people": [{"pose_keypoints_2d": [x, y, c] * 25, ...}, ...]}``; ``(0, 0, 0)`` marks a
  missing keypoint. Pixels are those of the distorted image.
* TRC: tab-separated; line 3 holds ``DataRate ... NumFrames NumMarkers Units ...`` values, line 4 the marker names
  (each followed by two empty cells), line 5 the ``X1 Y1 Z1 ...`` labels, then ``frame, time, x, y, z, ...``.
  Pose2Sim writes OpenSim's Y-up frame in metres; our Z-up world is ``(x, y, z)_ours = (z, x, y)_trc`` (a cyclic
  permutation, a proper rotation). TRC frame ``k`` (1-based) is detection frame ``k - 1``.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from lt_core.data.textio import load_json, names_file, read_text
from lt_core.skeleton import BODY25B

__all__ = [
    "Pose2SimFormatError",
    "TRC_TO_ZUP",
    "read_openpose_json",
    "openpose_frame_files",
    "read_openpose_folders",
    "TRCData",
    "read_trc",
    "write_trc",
]

PathLike = str | Path
NUM_JOINTS = BODY25B.num_joints

TRC_TO_ZUP = np.array([[0.0, 0.0, 1.0], [1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])
"""Rotation (det +1) from a Pose2Sim TRC's Y-up frame to our Z-up world: ``X_ours = TRC_TO_ZUP @ X_trc``."""


class Pose2SimFormatError(ValueError):
    """Malformed OpenPose JSON or TRC content; the message names the file and the field."""


# ------------------------------------------------------------------------------------------------------ OpenPose
@names_file(Pose2SimFormatError)
def read_openpose_json(path: PathLike, num_joints: int = NUM_JOINTS) -> np.ndarray:
    """Read the body keypoints of every person in one OpenPose JSON file.

    Args:
        path: the ``*.json`` file.
        num_joints: keypoints per person (25 for BODY_25B).

    Returns:
        (P, num_joints, 3) float64 array of ``(x, y, confidence)`` in pixels; missing keypoints are ``(0, 0, 0)``.
        ``P`` may be 0.
    """
    p = Path(path)
    doc = load_json(p, Pose2SimFormatError, "OpenPose JSON")
    if not isinstance(doc, dict) or not isinstance(doc.get("people"), list):
        raise Pose2SimFormatError(f"{p}: missing list field 'people'")
    out = np.zeros((len(doc["people"]), num_joints, 3))
    for i, person in enumerate(doc["people"]):
        kp = person.get("pose_keypoints_2d") if isinstance(person, dict) else None
        if kp is None:
            raise Pose2SimFormatError(f"{p}: person {i} lacks field 'pose_keypoints_2d'")
        try:
            a = np.asarray(kp, dtype=np.float64)
        except (TypeError, ValueError):
            raise Pose2SimFormatError(f"{p}: person {i} field 'pose_keypoints_2d' is not numeric") from None
        if a.size != 3 * num_joints:
            raise Pose2SimFormatError(
                f"{p}: person {i} field 'pose_keypoints_2d' has {a.size} numbers, expected {3 * num_joints} "
                f"({num_joints} keypoints x (x, y, c))"
            )
        out[i] = a.reshape(num_joints, 3)
    return out


def openpose_frame_files(folder: PathLike) -> dict[int, Path]:
    """Map frame number -> JSON file for one camera folder (the frame number is the last integer in the name)."""
    d = Path(folder)
    if not d.is_dir():
        raise FileNotFoundError(f"OpenPose folder not found: {d}")
    out: dict[int, Path] = {}
    for f in sorted(d.glob("*.json")):
        nums = re.findall(r"\d+", f.stem)
        if not nums:
            raise Pose2SimFormatError(f"{f}: no frame number in the file name")
        out[int(nums[-1])] = f
    if not out:
        raise Pose2SimFormatError(f"{d}: no *.json files")
    return out


def read_openpose_folders(
    folders: Sequence[PathLike], frames: Sequence[int] | None = None, num_joints: int = NUM_JOINTS
) -> tuple[np.ndarray, np.ndarray, list[int]]:
    """Read OpenPose detections of C cameras over T frames.

    Args:
        folders: one folder of per-frame JSON files per camera.
        frames: frame numbers to read; ``None``: every frame present in any camera (a camera lacking a frame
            contributes no people).
        num_joints: keypoints per person.

    Returns:
        ``(people, counts, frames)``: (T, C, P_max, num_joints, 3) float64 keypoints ``(x, y, c)`` padded with
        zeros, (T, C) number of people per frame and camera, and the T frame numbers.
    """
    files = [openpose_frame_files(f) for f in folders]
    if frames is None:
        frames = sorted(set().union(*[set(f) for f in files]))
    frames = list(frames)
    raw = [
        [read_openpose_json(fc[t], num_joints) if t in fc else np.zeros((0, num_joints, 3)) for fc in files]
        for t in frames
    ]
    counts = np.array([[len(r) for r in row] for row in raw], dtype=np.int64).reshape(len(frames), len(files))
    pmax = max(1, int(counts.max()) if counts.size else 1)
    people = np.zeros((len(frames), len(files), pmax, num_joints, 3))
    for t, row in enumerate(raw):
        for c, r in enumerate(row):
            people[t, c, : len(r)] = r
    return people, counts, frames


# ----------------------------------------------------------------------------------------------------------- TRC
@dataclass
class TRCData:
    """Markers of a TRC file in our convention.

    Attributes:
        marker_names: M marker names from the header.
        frames: (T,) frame numbers as written (1-based in Pose2Sim files).
        times: (T,) seconds.
        markers: (T, M, 3) float64 positions in mm (Z-up world unless read with ``z_up=False``); NaN where empty.
        rate: data rate in Hz.
    """

    marker_names: list[str]
    frames: np.ndarray
    times: np.ndarray
    markers: np.ndarray
    rate: float

    def marker(self, name: str) -> np.ndarray:
        """(T, 3) trajectory of one marker (mm)."""
        if name not in self.marker_names:
            raise KeyError(f"no marker {name!r}; markers are {self.marker_names}")
        return self.markers[:, self.marker_names.index(name)]


@names_file(Pose2SimFormatError)
def read_trc(path: PathLike, z_up: bool = True) -> TRCData:
    """Read a TRC marker file (as written by Pose2Sim / OpenSim).

    Args:
        path: the ``.trc`` file.
        z_up: rotate OpenSim's Y-up frame into our Z-up world (``(x, y, z)_ours = (z, x, y)_trc``).

    Returns:
        :class:`TRCData` in millimetres.
    """
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"TRC file not found: {p}")
    lines = read_text(p, Pose2SimFormatError, "TRC file").splitlines()
    if len(lines) < 5 or not lines[0].startswith("PathFileType"):
        raise Pose2SimFormatError(f"{p}: not a TRC file (first line must start with 'PathFileType')")
    keys, values = lines[1].split("\t"), lines[2].split("\t")
    header = dict(zip([k.strip() for k in keys], [v.strip() for v in values]))
    units = header.get("Units", "m")
    scale = {"m": 1000.0, "mm": 1.0, "cm": 10.0}.get(units)
    if scale is None:
        raise Pose2SimFormatError(f"{p}: unknown field 'Units' = {units!r} (expected m, cm or mm)")
    names_row = lines[3].split("\t")
    if len(names_row) < 3 or names_row[0].strip() != "Frame#":
        raise Pose2SimFormatError(f"{p}: line 4 must start with 'Frame#' and list the marker names")
    names = [n.strip() for n in names_row[2:] if n.strip()]
    try:
        n_markers = int(header.get("NumMarkers", len(names)))
        rate = float(header.get("DataRate", "nan"))
    except ValueError:
        raise Pose2SimFormatError(f"{p}: fields 'NumMarkers'/'DataRate' are not numbers") from None
    if n_markers != len(names):
        raise Pose2SimFormatError(f"{p}: header says NumMarkers = {n_markers} but line 4 names {len(names)} markers")
    rows = []
    for i, line in enumerate(lines[5:], start=6):
        if not line.strip():
            continue
        cells = line.split("\t")
        vals = []
        for k, c in enumerate(cells[: 2 + 3 * n_markers]):
            try:
                vals.append(float(c) if c.strip() else np.nan)
            except ValueError:
                raise Pose2SimFormatError(
                    f"{p}: line {i}, column {k + 1}: {c.strip()[:30]!r} is not a number"
                ) from None
        if len(vals) < 2 + 3 * n_markers:
            vals += [np.nan] * (2 + 3 * n_markers - len(vals))
        if np.isnan(vals[0]):
            raise Pose2SimFormatError(f"{p}: line {i} has no frame number")
        rows.append(vals)
    if not rows:
        raise Pose2SimFormatError(f"{p}: no data rows")
    if "NumFrames" in header:
        try:
            n_frames = int(header["NumFrames"])
        except ValueError:
            raise Pose2SimFormatError(f"{p}: field 'NumFrames' = {header['NumFrames']!r} is not an integer") from None
        if n_frames != len(rows):
            raise Pose2SimFormatError(
                f"{p}: header says NumFrames = {n_frames} but the file holds {len(rows)} data "
                "rows (truncated or edited file)"
            )
    data = np.asarray(rows)
    xyz = data[:, 2:].reshape(len(data), n_markers, 3) * scale
    if z_up:
        xyz = xyz @ TRC_TO_ZUP.T
    return TRCData(names, data[:, 0].astype(np.int64), data[:, 1], xyz, rate)


def write_trc(
    path: PathLike,
    markers: np.ndarray,
    marker_names: Sequence[str],
    rate: float,
    frames: Sequence[int] | None = None,
    z_up: bool = True,
    units: str = "m",
) -> Path:
    """Write markers as a TRC file in Pose2Sim's layout (readable by :func:`read_trc`, OpenSim and Pose2Sim).

    Args:
        path: the ``.trc`` file to write.
        markers: (T, M, 3) positions in mm (our Z-up world unless ``z_up=False``); NaN is written as empty cells.
        marker_names: M names (no tabs).
        rate: frames per second (``DataRate``); times are ``frame / rate``.
        frames: T frame numbers to write (default ``1..T``; Pose2Sim numbers from 1).
        z_up: rotate our Z-up world into OpenSim's Y-up frame (``(x, y, z)_trc = (y, z, x)_ours``).
        units: ``"m"`` (Pose2Sim's choice) or ``"mm"``.

    Returns:
        The written path.
    """
    X = np.asarray(markers, dtype=np.float64)
    if X.ndim != 3 or X.shape[-1] != 3:
        raise ValueError(f"markers must have shape (T, M, 3), got {X.shape}")
    T, M, _ = X.shape
    names = [str(n) for n in marker_names]
    if len(names) != M or any("\t" in n or not n for n in names):
        raise ValueError(f"need {M} non-empty marker names without tabs, got {names}")
    if not rate > 0:
        raise ValueError(f"rate must be > 0 frames per second, got {rate}")
    scale = {"m": 1e-3, "mm": 1.0}.get(units)
    if scale is None:
        raise ValueError(f"units must be 'm' or 'mm', got {units!r}")
    numbers = list(range(1, T + 1)) if frames is None else [int(f) for f in frames]
    if len(numbers) != T:
        raise ValueError(f"{len(numbers)} frame numbers for {T} frames")
    if z_up:
        X = X @ TRC_TO_ZUP  # inverse rotation: X_trc = TRC_TO_ZUP^T X_ours
    X = X * scale
    p = Path(path)
    lines = [
        f"PathFileType\t4\t(X/Y/Z)\t{p.name}",
        "DataRate\tCameraRate\tNumFrames\tNumMarkers\tUnits\tOrigDataRate\tOrigDataStartFrame\tOrigNumFrames",
        f"{rate:g}\t{rate:g}\t{T}\t{M}\t{units}\t{rate:g}\t{numbers[0] if numbers else 1}\t{T}",
        "Frame#\tTime\t" + "\t\t\t".join(names) + "\t\t",
        "\t\t" + "\t".join(f"{a}{k + 1}" for k in range(M) for a in "XYZ"),
    ]
    for n, row in zip(numbers, X):
        cells = ["" if not np.isfinite(v) else repr(float(v)) for v in row.reshape(-1)]
        lines.append(f"{n}\t{n / rate!r}\t" + "\t".join(cells))
    p.write_text("\n".join(lines) + "\n")
    return p


# ----------------------------------------------------------------------------------------------------- selection
