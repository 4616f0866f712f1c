"""BVH motion files (Biovision Hierarchy) into :class:`~lt_core.data.kinematics.Motion`.

``CHANNELS ... Zrotation Yrotation Xrotation`` means ``R_local = Rz @ Ry @ Rx`` (the listed order is the order of the
matrix product). A joint's position channels *replace* the matching components of its ``OFFSET``; translation is
applied before the joint's own rotation. ``End Site`` blocks become joints named ``<parent>_end`` without channels.
More conventions in :mod:`lt_core.data.motion`.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np

from lt_core.data.kinematics import (
    CMU_MM_PER_UNIT,
    Motion,
    MotionFormatError,
    euler_to_matrix,
    foreign_errors,
    motion_error,
    snap_fps,
)
from lt_core.data.textio import read_text

__all__ = ["read_bvh", "parse_bvh"]


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
    text = read_text(path, motion_error(path), "BVH file")
    with foreign_errors(path):
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
                            f"(expected one of Xposition..Zrotation)",
                            source,
                            ch_ln,
                        )
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
                f"frame {len(rows)} has {len(parts)} values, the hierarchy declares {n_chan} channels", source, k + 1
            )
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
        fps=snap_fps(1.0 / frame_time),
        channels=data,
        channel_names=channel_names,
        unit_mm=unit_mm,
        up_axis=up_axis,
        source=source,
        format="bvh",
    )
