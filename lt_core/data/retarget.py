"""Retarget motion capture clips to Human3.6M-17 joints, resample them, and load the embedded CMU clips.

Which source joints make each Human3.6M joint is decided by :mod:`lt_core.data.joint_mapping`
(:data:`DEFAULT_MAPPING`, :func:`resolve_mapping`, :func:`normalize_joint_name`; re-exported here);
:func:`retarget_to_h36m` applies that mapping to every frame of a motion and :func:`load_clip` reads a file or an
embedded clip and does the rest (rest frames, unit, frame rate).

**Units**: :func:`retarget_to_h36m` checks that the motion's unit makes a human-sized leg and raises
:class:`lt_core.data.units.UnitError` otherwise; :func:`load_clip` detects the unit of a BVH file from the body's
size unless it is stated (:mod:`lt_core.data.units`).

The output is in millimetres in the project's world frame (Z up, see ``docs/CONVENTIONS.md``), with the **floor at
z = 0**: the whole clip is shifted vertically so that the lowest point of the feet (the source joints mapped to the
ankles and everything below them: toes, toe tips) over the entire clip is at ``z = 0``. Horizontal positions are
kept as captured.

Note on the CMU BVH conversions shipped in ``data/mocap_cmu`` (``01_01.bvh``, ``02_01``, ``05_06``, ``131_*``): they
drop the ASF's ``thorax`` bone (their ``Neck``/``lowerneck`` joint sits at the top of the upper back), so the whole
upper body is one thorax length (~117 mm for subject 01) lower than in the original ASF/AMC, and Spine-Thorax is
only ~58 mm. Lower body and Spine are the same points in both formats; prefer the ASF/AMC clips where available.
"""

from __future__ import annotations

import csv
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path

import numpy as np

from lt_core.data.daz import BLEND_FRAMES, add_head_top, check_daz_skeleton, is_daz_skeleton
from lt_core.data.joint_mapping import (
    DEFAULT_MAPPING,
    H36M_BONES,
    H36M_JOINTS,
    Alternative,
    RetargetError,
    normalize_joint_name,
    resolve_mapping,
)
from lt_core.data.motion import Motion, MotionFormatError, read_asf_amc, read_bvh
from lt_core.data.restpose import detect_rest_frames
from lt_core.data.units import check_unit, detect_unit, leg_joints_from_mapping, parse_unit
from lt_core.paths import data_dir

__all__ = [
    "H36M_JOINTS",
    "H36M_BONES",
    "DEFAULT_MAPPING",
    "RetargetError",
    "normalize_joint_name",
    "resolve_mapping",
    "retarget_to_h36m",
    "resample",
    "has_rest_frame",
    "find_asf",
    "load_clip",
    "data_dir",
    "list_embedded_clips",
]


def retarget_to_h36m(
    motion: Motion, mapping: Mapping[str, Alternative] | None = None, floor: bool = True, floor_quantile: float = 0.0
) -> tuple[np.ndarray, dict]:
    """Human3.6M-17 joints of every frame of a motion.

    Args:
        motion: a parsed BVH or ASF/AMC motion.
        mapping: optional per-joint overrides, see :func:`resolve_mapping`.
        floor: shift vertically so that the lowest foot point of the clip (source joints mapped to the ankles and
            all joints below them) is at ``z = 0``.
        floor_quantile: with ``floor``, put ``z = 0`` at this quantile over frames of each frame's lowest foot point
            instead of their minimum (0): feet may then be below the floor in that fraction of the frames, so that
            a few frames with a foot through the floor do not lift the whole clip.

    Returns:
        ``(joints, info)``: joints (T, 17, 3) float64 in mm, world frame (Z up); ``info`` has ``"mapping"``
        (``{h36m_joint: {source_name: weight}}``) and ``"floor_offset_mm"`` (the height subtracted, mm).

    Raises:
        RetargetError: joints that cannot be mapped (the message names the file and the joints).
        MotionFormatError: a Daz/Poser skeleton that lacks joints its mapping needs.
        UnitError: ``motion.unit_mm`` makes the legs shorter than 300 or longer than 1400 mm.
    """
    if is_daz_skeleton(motion.names):
        check_daz_skeleton(motion)
        motion = add_head_top(motion)
    resolved = _resolve(motion, mapping)
    check_unit(motion, leg_joints_from_mapping(resolved), motion.unit_mm)
    weights = np.zeros((len(H36M_JOINTS), motion.n_joints))
    for j, joint in enumerate(H36M_JOINTS):
        for i, w in resolved[joint].items():
            weights[j, i] = w
    positions = motion.positions_mm()  # (T, N, 3)
    joints = np.einsum("jn,tnc->tjc", weights, positions)
    floor_offset = 0.0
    if floor:
        feet: set[int] = set()
        for joint in ("RAnkle", "LAnkle"):
            for i, w in resolved[joint].items():
                if w > 0:
                    feet.update(motion.descendants(i))
        lowest = positions[:, sorted(feet), 2].min(axis=1)  # (T,)
        floor_offset = float(lowest.min() if floor_quantile <= 0 else np.quantile(lowest, floor_quantile))
        joints[..., 2] -= floor_offset
    info = {
        "mapping": {j: {motion.names[i]: w for i, w in resolved[j].items()} for j in H36M_JOINTS},
        "floor_offset_mm": floor_offset,
    }
    return joints, info


def _resolve(motion: Motion, mapping: Mapping[str, Alternative] | None) -> dict[str, dict[int, float]]:
    """:func:`resolve_mapping` for a motion, naming its file in the error."""
    try:
        return resolve_mapping(motion.names, mapping, motion.offsets, motion.parents)
    except RetargetError as err:
        raise RetargetError(f"{motion.source}: {err}") from None


def resample(x: np.ndarray, fps_in: float, fps_out: float) -> np.ndarray:
    """Resample a sequence in time by linear interpolation.

    Output frame ``k`` is at time ``k / fps_out`` (the first frames coincide); the output stops at the last
    instant covered by the input, so it has ``floor((T - 1) * fps_out / fps_in) + 1`` frames.

    Args:
        x: (T, ...) samples at ``fps_in`` (e.g. joints (T, 17, 3) in mm).
        fps_in: input frame rate in Hz.
        fps_out: output frame rate in Hz (e.g. 50 for Human3.6M).

    Returns:
        (T', ...) float64 samples at ``fps_out``.
    """
    x = np.asarray(x, dtype=np.float64)
    if fps_in <= 0 or fps_out <= 0:
        raise ValueError(f"frame rates must be positive, got {fps_in} and {fps_out}")
    n_in = x.shape[0]
    if n_in == 0:
        return x.copy()
    n_out = int(np.floor((n_in - 1) * fps_out / fps_in + 1e-9)) + 1
    t = np.arange(n_out) * (fps_in / fps_out)
    i0 = np.minimum(np.floor(t + 1e-9).astype(np.int64), n_in - 1)
    i1 = np.minimum(i0 + 1, n_in - 1)
    w = (t - i0).clip(0.0, 1.0).reshape((n_out,) + (1,) * (x.ndim - 1))
    return x[i0] * (1.0 - w) + x[i1] * w


def has_rest_frame(motion: Motion) -> bool:
    """Whether frame 0 is a rest pose prepended by a BVH conversion rather than captured data.

    Some CMU BVH conversions (e.g. ``01_01.bvh``) start with a frame whose joint angles are all whole degrees
    (the skeleton's reference pose) at the root position of frame 1. Detected as: BVH, at least 2 frames, every
    rotation channel of frame 0 an integer, some differ from frame 1, root position channels equal to frame 1.
    """
    if motion.format != "bvh" or motion.n_frames < 2:
        return False
    rot = np.array(["rotation" in c for c in motion.channel_names])
    root_pos = np.array([c.startswith(f"{motion.names[0]}:") and "position" in c for c in motion.channel_names])
    f0, f1 = motion.channels[0], motion.channels[1]
    if not rot.any() or not np.allclose(f0[rot], np.round(f0[rot]), rtol=0, atol=1e-9):
        return False
    return bool(np.allclose(f0[root_pos], f1[root_pos]) and not np.allclose(f0[rot], f1[rot]))


def find_asf(amc_path: str | Path) -> Path:
    """Find the ASF skeleton of an AMC file in the same folder.

    Tries ``<stem>.asf``, then ``<subject>.asf`` for CMU names ``<subject>_<trial>.amc``, then the folder's only
    ``.asf``.

    Raises:
        MotionFormatError: none (or several ambiguous ones) found.
    """
    amc = Path(amc_path)
    candidates = [amc.with_suffix(".asf"), amc.with_name(amc.stem.split("_")[0] + ".asf")]
    for c in candidates:
        if c.is_file():
            return c
    found = sorted(amc.parent.glob("*.asf"))
    if len(found) == 1:
        return found[0]
    raise MotionFormatError(
        f"no skeleton found beside it (tried {[c.name for c in candidates]}, "
        f"folder has {[f.name for f in found]}); pass asf_path",
        amc,
    )


def list_embedded_clips() -> list[dict]:
    """The motion capture clips shipped in ``data/mocap_cmu`` (listed in its ``clips.tsv``).

    Returns:
        One dict per clip: ``id`` (e.g. ``"01_01"``, ``"01_01_bvh"``), ``subject`` (CMU subject number),
        ``description`` (e.g. ``"01_01 playground - forward jumps, turn around"``), ``format`` (``"amc"`` or
        ``"bvh"``), ``path`` (Path of the motion file), ``skeleton`` (Path of the ASF, or ``None``), ``fps``.
    """
    root = data_dir() / "mocap_cmu"
    index = root / "clips.tsv"
    if not index.is_file():
        raise FileNotFoundError(f"{index} not found (set LT_DATA_DIR to the folder holding mocap_cmu/)")
    clips = []
    with index.open(newline="", encoding="utf-8") as f:
        for row in csv.DictReader((ln for ln in f if not ln.startswith("#")), delimiter="\t"):
            clips.append(
                {
                    "id": row["id"],
                    "subject": row["subject"],
                    "description": f"{row['id'].split('_bvh')[0]} {row['description']}",
                    "format": row["format"],
                    "path": root / row["path"],
                    "skeleton": root / row["skeleton"] if row["skeleton"] else None,
                    "fps": float(row["fps"]),
                }
            )
    return clips


def _embedded(clip_id: str) -> dict | None:
    try:
        return next((c for c in list_embedded_clips() if c["id"] == clip_id), None)
    except FileNotFoundError:
        return None


def load_clip(
    path: str | Path,
    fps: float | None = None,
    *,
    asf_path: str | Path | None = None,
    mapping: Mapping[str, Alternative] | None = None,
    drop_rest_frame: bool | None = None,
    source_fps: float | None = None,
    unit_mm: float | str | None = None,
    floor_quantile: float = 0.0,
) -> tuple[np.ndarray, dict]:
    """Load a motion capture clip as Human3.6M-17 joints in millimetres, floor at z = 0.

    Args:
        path: a ``.bvh`` or ``.amc`` file, or the id of an embedded clip (see :func:`list_embedded_clips`; the
            clips of ``data/mocap_cmu_daz`` load from their shipped joints,
            :func:`lt_core.data.mocap_daz.load_daz_clip`).
        fps: output frame rate in Hz (linear interpolation, :func:`resample`); ``None`` keeps the source rate.
        asf_path: skeleton of an ``.amc`` (default: found beside it, :func:`find_asf`).
        mapping: per-joint overrides of :data:`DEFAULT_MAPPING` (see :func:`resolve_mapping`).
        drop_rest_frame: drop a prepended rest-pose frame 0 (``None``: drop the leading rest-pose frames that
            :func:`has_rest_frame` or :func:`lt_core.data.restpose.detect_rest_frames` finds, and on a Daz/Poser
            skeleton the :data:`lt_core.data.daz.BLEND_FRAMES` frames that ease out of it).
        source_fps: capture rate in Hz: of an ``.amc`` (default 120 Hz, CMU's), or for a BVH whose ``Frame Time`` is
            wrong, replacing it (``meta["header_fps"]`` keeps the header's rate).
        unit_mm: the file's length unit, a name (``"cm"``, ``"m"``, ``"in"``, ``"cmu"``, ...) or millimetres per
            unit, checked against the body size; default: detected from the body size for BVH
            (:func:`lt_core.data.units.detect_unit`), ``25.4 / (:units length)`` for ASF.
        floor_quantile: where the floor goes, see :func:`retarget_to_h36m` (0: under the lowest foot point).

    Returns:
        ``(joints, meta)``: joints (T, 17, 3) float32 mm in :data:`H36M_JOINTS` order, world frame (Z up);
        ``meta`` holds ``source``, ``format``, ``source_fps``, ``fps``, ``n_frames``, ``source_n_frames``,
        ``joint_names``, ``mapping`` ({h36m_joint: {source_joint: weight}}), ``floor_offset_mm``, ``unit_mm``,
        ``dropped_rest_frame``, ``dropped_rest_frames`` (count, blend frames included), ``skeleton`` (ASF path or
        ``None``), and for BVH ``header_fps``, ``unit`` (name) and ``unit_detected``.

    Raises:
        MotionFormatError: missing/malformed files, unknown extension.
        RetargetError: the skeleton lacks joints needed for Human3.6M-17 (the file and the joints are named).
        UnitError: the unit cannot be detected, or the stated one contradicts the body size.
    """
    p = Path(path)
    if not p.is_file() and p.suffix == "":
        clip = _embedded(str(path))
        if clip is not None:
            p = clip["path"]
            asf_path = asf_path if asf_path is not None else clip["skeleton"]
        else:
            from lt_core.data.mocap_daz import find_daz_clip, load_daz_clip

            if find_daz_clip(str(path)) is not None:
                return load_daz_clip(str(path), fps=fps)
    ext = p.suffix.lower()
    skeleton = None
    bvh_meta: dict = {}
    if ext == ".bvh":
        motion = read_bvh(p)
        if is_daz_skeleton(motion.names):
            check_daz_skeleton(motion)
        legs = leg_joints_from_mapping(_resolve(motion, mapping))
        unit = detect_unit(motion, legs) if unit_mm is None else check_unit(motion, legs, unit_mm)
        bvh_meta = {"header_fps": motion.fps, "unit": unit.unit, "unit_detected": not unit.stated}
        motion = replace(motion, unit_mm=unit.unit_mm, fps=float(source_fps or motion.fps))
    elif ext == ".amc":
        if not p.is_file():
            raise MotionFormatError("file not found", p)
        skeleton = Path(asf_path) if asf_path is not None else find_asf(p)
        motion = read_asf_amc(
            p, skeleton, fps=source_fps or 120.0, unit_mm=None if unit_mm is None else parse_unit(unit_mm)
        )
    elif ext == ".asf":
        raise MotionFormatError("an .asf holds only the skeleton; pass the .amc motion (and asf_path)", p)
    else:
        raise MotionFormatError(f"unknown motion file type {p.suffix!r} (expected .bvh or .amc)", p)
    source_n_frames = motion.n_frames
    if drop_rest_frame is None:
        n_rest = 1 if has_rest_frame(motion) else detect_rest_frames(motion).count
        if n_rest and is_daz_skeleton(motion.names):  # the conversion's ease out of the rest pose
            n_rest += BLEND_FRAMES
    else:
        n_rest = int(bool(drop_rest_frame))
    dropped = n_rest > 0
    if dropped:
        motion = motion.select_frames(slice(n_rest, None))
    joints, info = retarget_to_h36m(motion, mapping, floor_quantile=floor_quantile)
    out_fps = motion.fps
    if fps is not None and abs(fps - motion.fps) > 1e-9:
        joints = resample(joints, motion.fps, fps)
        out_fps = float(fps)
    meta = {
        "source": str(p),
        "format": motion.format,
        "source_fps": motion.fps,
        "fps": out_fps,
        "n_frames": int(joints.shape[0]),
        "source_n_frames": source_n_frames,
        "joint_names": list(H36M_JOINTS),
        "mapping": info["mapping"],
        "floor_offset_mm": info["floor_offset_mm"],
        "unit_mm": motion.unit_mm,
        "dropped_rest_frame": dropped,
        "dropped_rest_frames": n_rest,
        "skeleton": None if skeleton is None else str(skeleton),
        **bvh_meta,
    }
    return joints.astype(np.float32), meta
