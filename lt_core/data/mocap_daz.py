"""The CMU clips on a Daz/Poser skeleton shipped in ``data/mocap_cmu_daz``: clip table, rebuild, loading.

The 43 source BVH files (112 MB: salsa, martial arts, Indian dance; see ``data/mocap_cmu_daz/PROVENANCE.txt``) are
not shipped. What is shipped is what the project uses of them, the Human3.6M-17 joints:

* ``clips.tsv`` -- one row per clip, the facts **stated** about it: ``id``, ``family`` (salsa / martial / indian),
  ``file`` (path in the source folder), ``subject`` (performer label), ``header_fps`` (the rate its header
  states), ``fps`` (the capture rate used: 60 Hz for salsa, whose headers wrongly say 120), ``unit`` (``cm``),
  ``partner`` (the other dancer of a salsa pair) and ``description``;
* ``joints_h36m17_30hz.npz`` -- for every clip, an int16 array (T, 17, 3) of Human3.6M-17 joints in whole
  millimetres (world frame, Z up, floor at z = 0) at 30 Hz, made by :func:`lt_core.data.retarget.load_clip`
  (unit detected from the body size and checked against the table, rest frame and blend-in dropped, head top
  added, floor at the 5th percentile of the lowest foot point, :data:`FLOOR_QUANTILE`; resampled from the stated
  capture rate: every 4th frame of 120 Hz, every 2nd of 60 Hz). Rounding to 1 mm moves a joint by at most 0.87 mm;
* ``joints_h36m17_30hz.json`` -- the build manifest: per clip the source file's SHA-256, its frame counts, what was
  dropped, the detected unit and leg length, the floor offset.

:func:`build_archive` rebuilds both files from the source folder, byte for byte (``python
scripts/build_mocap_daz.py <folder>``); :func:`load_daz_clip` reads a clip back as float32 millimetres, and
:func:`lt_core.data.retarget.load_clip` does so for these ids too.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import zipfile
from collections.abc import Iterable
from pathlib import Path

import numpy as np

from lt_core.data.motion import MotionFormatError

__all__ = [
    "OUT_FPS",
    "FLOOR_QUANTILE",
    "ARCHIVE",
    "FAMILIES",
    "daz_dir",
    "list_daz_clips",
    "find_daz_clip",
    "build_clip",
    "build_archive",
    "read_archive",
    "read_manifest",
    "load_daz_clip",
    "clip_quality",
    "pick_held_out",
]

OUT_FPS: float = 30.0
"""Frame rate of the shipped joints (Hz)."""

FLOOR_QUANTILE: float = 0.05
"""The floor of a clip is at the 5th percentile of each frame's lowest foot point (not the minimum): retargeting onto
a figure whose legs are not the performer's pushes a foot through the floor in a few frames (``indian/07.bvh``,
frames 262-422: the right foot 10-16 cm under while the left stands), which would otherwise lift the whole clip."""

ARCHIVE = "joints_h36m17_30hz.npz"
"""File name of the shipped joints in :func:`daz_dir` (the manifest has the same stem, ``.json``)."""

FAMILIES: tuple[str, ...] = ("salsa", "martial", "indian")
"""Motion families of the clips."""

_COLUMNS = ("id", "family", "file", "subject", "header_fps", "fps", "unit", "partner", "description")
_ZIP_DATE = (1980, 1, 1, 0, 0, 0)
_ARCHIVE_CACHE: dict[str, dict[str, np.ndarray]] = {}


def daz_dir() -> Path:
    """``data/mocap_cmu_daz`` of the project (follows ``$LT_DATA_DIR``, see :func:`lt_core.paths.data_dir`)."""
    from lt_core.paths import data_dir

    return data_dir() / "mocap_cmu_daz"


def list_daz_clips(table: str | Path | None = None) -> list[dict]:
    """The clips of ``clips.tsv``.

    Args:
        table: the table (default: ``daz_dir() / "clips.tsv"``).

    Returns:
        One dict per clip with the table's columns; ``header_fps`` and ``fps`` as floats, ``partner`` ``None`` when
        empty, ``description`` prefixed with the id (as :func:`lt_core.data.retarget.list_embedded_clips` does).

    Raises:
        FileNotFoundError: no table.
        MotionFormatError: a missing column, an unknown family, a bad rate or a duplicate id (file and line named).
    """
    path = Path(table) if table is not None else daz_dir() / "clips.tsv"
    if not path.is_file():
        raise FileNotFoundError(f"{path} not found (set LT_DATA_DIR to the folder holding mocap_cmu_daz/)")
    rows: list[dict] = []
    with path.open(newline="", encoding="utf-8") as f:
        lines = [(i + 1, ln) for i, ln in enumerate(f) if not ln.startswith("#") and ln.strip()]
    reader = csv.DictReader((ln for _, ln in lines), delimiter="\t")
    missing = [c for c in _COLUMNS if c not in (reader.fieldnames or [])]
    if missing:
        raise MotionFormatError(f"clip table lacks columns {missing}", path)
    for (line, _), row in zip(lines[1:], reader):
        if row["family"] not in FAMILIES:
            raise MotionFormatError(
                f"clip {row['id']!r}: family must be one of {FAMILIES}, got {row['family']!r}", path, line
            )
        try:
            header_fps, fps = float(row["header_fps"]), float(row["fps"])
        except ValueError:
            raise MotionFormatError(f"clip {row['id']!r}: header_fps and fps must be numbers", path, line) from None
        if any(r["id"] == row["id"] for r in rows):
            raise MotionFormatError(f"duplicate clip id {row['id']!r}", path, line)
        rows.append(
            {
                **{k: row[k] for k in _COLUMNS},
                "header_fps": header_fps,
                "fps": fps,
                "partner": row["partner"] or None,
                "description": f"{row['id']} {row['description']}",
            }
        )
    return rows


def find_daz_clip(clip_id: str) -> dict | None:
    """The table row of a clip id, or ``None`` (also when the table is absent)."""
    try:
        return next((c for c in list_daz_clips() if c["id"] == clip_id), None)
    except FileNotFoundError:
        return None


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def build_clip(bvh: str | Path, row: dict) -> tuple[np.ndarray, dict]:
    """Retarget one source BVH as the archive stores it.

    Args:
        bvh: the source file.
        row: its :func:`list_daz_clips` row (stated unit, header rate and capture rate).

    Returns:
        ``(joints, info)``: (T, 17, 3) int16 millimetres at :data:`OUT_FPS`, and the manifest entry.

    Raises:
        MotionFormatError: the header's rate or the detected unit is not the one the table states, the file has no
            rest frame, or a coordinate does not fit int16 (file named).
    """
    from lt_core.data.retarget import load_clip

    bvh = Path(bvh)
    joints, meta = load_clip(bvh, fps=OUT_FPS, source_fps=row["fps"], floor_quantile=FLOOR_QUANTILE)
    if abs(meta["header_fps"] - row["header_fps"]) > 1e-6:
        raise MotionFormatError(f"header says {meta['header_fps']:g} Hz, the clip table {row['header_fps']:g} Hz", bvh)
    if meta["unit"] != row["unit"]:
        raise MotionFormatError(
            f"the body size says the unit is {meta['unit']!r}, the clip table says {row['unit']!r}", bvh
        )
    if not meta["dropped_rest_frame"]:
        raise MotionFormatError("no rest-pose frame found at the start (every Daz/Poser source file has one)", bvh)
    mm = np.round(joints.astype(np.float64))
    if np.abs(mm).max() > np.iinfo(np.int16).max:
        raise MotionFormatError(f"a joint is {np.abs(mm).max():.0f} mm from the origin: does not fit int16", bvh)
    info = {
        "file": row["file"],
        "sha256": _sha256(bvh),
        "header_fps": meta["header_fps"],
        "fps": meta["source_fps"],
        "unit": meta["unit"],
        "unit_mm": meta["unit_mm"],
        "source_frames": meta["source_n_frames"],
        "dropped_lead_in_frames": meta["dropped_rest_frames"],
        "frames": int(mm.shape[0]),
        "floor_offset_mm": round(float(meta["floor_offset_mm"]), 3),
    }
    return mm.astype(np.int16), info


def _write_npz(path: Path, arrays: dict[str, np.ndarray]) -> None:
    """An ``.npz`` with fixed member dates and order, so that equal arrays give equal bytes."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, arr in arrays.items():
            member = io.BytesIO()
            np.lib.format.write_array(member, np.ascontiguousarray(arr), allow_pickle=False)
            info = zipfile.ZipInfo(f"{name}.npy", date_time=_ZIP_DATE)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            zf.writestr(info, member.getvalue(), compresslevel=9)
    path.write_bytes(buf.getvalue())


def build_archive(
    source: str | Path, out_dir: str | Path | None = None, clips: Iterable[str] | None = None, progress: bool = False
) -> tuple[Path, Path]:
    """Rebuild the shipped joints and their manifest from the source BVH folder.

    Args:
        source: the folder holding ``salsa/``, ``martial/``, ``indian/`` (the table's ``file`` paths).
        out_dir: where to write (default: :func:`daz_dir`); the table is read from there too.
        clips: only these ids (default: every row of the table).
        progress: show a progress bar.

    Returns:
        Paths of the ``.npz`` and the ``.json`` manifest written.

    Raises:
        MotionFormatError: a source file is missing or disagrees with the table (see :func:`build_clip`).
    """
    from tqdm.auto import tqdm

    out = Path(out_dir) if out_dir is not None else daz_dir()
    rows = list_daz_clips(out / "clips.tsv")
    if clips is not None:
        wanted = list(clips)
        unknown = sorted(set(wanted) - {r["id"] for r in rows})
        if unknown:
            raise ValueError(f"clips {unknown} are not in {out / 'clips.tsv'}")
        rows = [r for r in rows if r["id"] in wanted]
    arrays: dict[str, np.ndarray] = {}
    manifest: dict = {
        "format": "Human3.6M-17 joints, int16 mm, world Z up, floor at z = 0",
        "fps": OUT_FPS,
        "clips": {},
    }
    for row in tqdm(rows, desc="retarget", disable=not progress):
        src = Path(source) / row["file"]
        if not src.is_file():
            raise MotionFormatError("source file not found", src)
        arrays[row["id"]], manifest["clips"][row["id"]] = build_clip(src, row)
    npz = out / ARCHIVE
    _write_npz(npz, arrays)
    js = npz.with_suffix(".json")
    js.write_text(json.dumps(manifest, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    _ARCHIVE_CACHE.pop(str(npz.resolve()), None)
    return npz, js


def read_archive(path: str | Path | None = None) -> dict[str, np.ndarray]:
    """Every clip of the shipped archive, int16 mm (T, 17, 3), memoised per process."""
    p = Path(path) if path is not None else daz_dir() / ARCHIVE
    key = str(p.resolve())
    if key not in _ARCHIVE_CACHE:
        if not p.is_file():
            raise FileNotFoundError(f"{p} not found (rebuild it with scripts/build_mocap_daz.py)")
        with np.load(p, allow_pickle=False) as z:
            _ARCHIVE_CACHE[key] = {k: z[k] for k in z.files}
    return _ARCHIVE_CACHE[key]


def read_manifest(path: str | Path | None = None) -> dict:
    """The build manifest (``joints_h36m17_30hz.json``)."""
    p = Path(path) if path is not None else (daz_dir() / ARCHIVE).with_suffix(".json")
    return json.loads(p.read_text(encoding="utf-8"))


def load_daz_clip(clip_id: str, fps: float | None = None) -> tuple[np.ndarray, dict]:
    """A shipped clip as Human3.6M-17 joints in millimetres.

    Args:
        clip_id: a ``clips.tsv`` id, e.g. ``"salsa_01"``.
        fps: output rate (``None`` or 30: as shipped; otherwise linear interpolation from 30 Hz, which cannot
            restore motion faster than 15 Hz).

    Returns:
        ``(joints, meta)`` like :func:`lt_core.data.retarget.load_clip`: (T, 17, 3) float32 mm and a meta dict with
        ``source``, ``format`` (``"npz"``), ``source_fps`` (30), ``capture_fps``, ``fps``, ``n_frames``,
        ``source_n_frames``, ``joint_names``, ``family``, ``subject``, ``partner``, ``description``.

    Raises:
        KeyError: unknown id.
    """
    from lt_core.data.retarget import H36M_JOINTS, resample

    row = find_daz_clip(clip_id)
    if row is None:
        raise KeyError(f"no clip {clip_id!r} in {daz_dir() / 'clips.tsv'}")
    stored = read_archive()
    if clip_id not in stored:
        raise KeyError(f"clip {clip_id!r} is in clips.tsv but not in {daz_dir() / ARCHIVE}: rebuild it")
    joints = stored[clip_id].astype(np.float32)
    out_fps = OUT_FPS
    if fps is not None and abs(fps - OUT_FPS) > 1e-9:
        joints = resample(joints, OUT_FPS, fps).astype(np.float32)
        out_fps = float(fps)
    meta = {
        "source": str(daz_dir() / ARCHIVE) + f":{clip_id}",
        "format": "npz",
        "source_fps": OUT_FPS,
        "capture_fps": row["fps"],
        "fps": out_fps,
        "n_frames": int(joints.shape[0]),
        "source_n_frames": int(stored[clip_id].shape[0]),
        "joint_names": list(H36M_JOINTS),
        "family": row["family"],
        "subject": row["subject"],
        "partner": row["partner"],
        "description": row["description"],
        "unit_mm": 1.0,
        "dropped_rest_frame": False,
    }
    return joints, meta


def clip_quality(joints: np.ndarray, fps: float = OUT_FPS) -> dict:
    """Checks of a clip of Human3.6M-17 joints that reveal defects of the source data.

    Args:
        joints: (T, 17, 3) mm, world frame (Z up, floor at z = 0).
        fps: their frame rate.

    Returns:
        ``jumps``: frame-to-frame steps whose mean joint displacement exceeds 3 times the clip's 99th percentile
        step (a marker swap or solver jump, not motion); ``ankles_below_floor``: frames with an ankle under
        ``z = 0``; ``head_upside_down``: frames where the head (neck/nose point to head top) is turned more than
        120 degrees from the torso's up direction (pelvis to thorax); ``spread_mm``: the variety of poses, the mean
        over joints of the standard deviation of pelvis-centred joints after turning every frame to face one way
        (hips along x); ``seconds``: duration.
    """
    j = np.asarray(joints, dtype=np.float64)
    steps = np.linalg.norm(np.diff(j, axis=0), axis=-1).mean(axis=1)
    jumps = int((steps > 3.0 * np.percentile(steps, 99)).sum()) if len(steps) else 0
    up = j[:, 8] - j[:, 6]
    head = j[:, 9] - j[:, 16]
    cos = (up * head).sum(-1) / (np.linalg.norm(up, axis=-1) * np.linalg.norm(head, axis=-1) + 1e-12)
    centred = j - j[:, 6:7]
    hips = centred[:, 3] - centred[:, 2]
    yaw = np.arctan2(hips[:, 1], hips[:, 0])
    c, s = np.cos(-yaw)[:, None], np.sin(-yaw)[:, None]
    aligned = np.stack(
        [c * centred[..., 0] - s * centred[..., 1], s * centred[..., 0] + c * centred[..., 1], centred[..., 2]], axis=-1
    )
    return {
        "jumps": jumps,
        "ankles_below_floor": int((j[:, [0, 5], 2].min(axis=1) < 0).sum()),
        "head_upside_down": int((cos < -0.5).sum()),
        "spread_mm": round(float(aligned.std(axis=0).mean()), 1),
        "seconds": round(len(j) / fps, 1),
    }


def pick_held_out() -> dict[str, tuple[str, ...]]:
    """The held-out evaluation clips by rule: per family, the clip with the most varied poses (largest
    ``spread_mm`` of :func:`clip_quality`) among those without defects (no jump, no ankle below the floor, no
    upside-down head); for salsa, the pair of partner clips with the largest mean spread among pairs whose two
    clips are both without defects (a pair is one capture, so both are held out).

    Returns:
        ``{family: clip ids}`` for the families of :data:`FAMILIES`.
    """
    rows = {r["id"]: r for r in list_daz_clips()}
    quality = {cid: clip_quality(load_daz_clip(cid)[0]) for cid in rows}
    clean = {
        cid
        for cid, q in quality.items()
        if q["jumps"] == 0 and q["ankles_below_floor"] == 0 and q["head_upside_down"] == 0
    }
    picked: dict[str, tuple[str, ...]] = {}
    for family in FAMILIES:
        groups = {tuple(sorted({cid, rows[cid]["partner"] or cid})) for cid in rows if rows[cid]["family"] == family}
        groups = {g for g in groups if all(c in clean for c in g)}
        if groups:
            picked[family] = max(sorted(groups), key=lambda g: np.mean([quality[c]["spread_mm"] for c in g]))
    return picked
