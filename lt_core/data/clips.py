"""The embedded clip sets and their joints: which clips train and which are held out, read once per process.

The clips are real CMU motion capture retargeted to Human3.6M-17 (:func:`lt_core.data.retarget.load_clip`):
``data/mocap_cmu`` (5 training and 2 held-out clips) and ``data/mocap_cmu_daz`` (43 clips on the Daz/Poser figure,
:mod:`lt_core.data.mocap_daz`). :class:`lt_core.data.synthetic.SyntheticMultiViewDataset` renders them.

**Split by clip** (validation motions are never seen in training):

* train: ``01_01`` (forward jumps), ``02_01`` (walk), ``11_01`` (kick), ``131_01``, ``131_02`` (walks);
* val: ``131_03`` (hop) and ``05_06`` (modern dance) -- an unseen style of locomotion of a training subject and an
  unseen subject with the most varied poses. ``01_01_bvh`` (the BVH copy of ``01_01``) is never used.

**Extended clip sets** (``split="train_ext"`` / ``"val_ext"`` / ``"all_ext"``, :func:`clip_set`): the above plus the
43 CMU clips of ``data/mocap_cmu_daz`` (salsa, martial arts, Indian dance; :mod:`lt_core.data.mocap_daz`):

* val_ext: ``131_03``, ``05_06`` and one held-out clip of each new family (:data:`DAZ_VAL_CLIPS`): the salsa pair
  ``salsa_14`` + ``salsa_29`` (both dancers of one capture, so no trial is half seen; ``salsa_29`` has back-bending
  dips), ``martial_07`` (kicks: a knee above the pelvis in 17 % of its frames) and ``indian_06`` (arms above the
  head in 21 % of its frames). Each is the most varied clip (pair) of its family -- the largest spread of
  pelvis-centred, heading-aligned poses (:func:`lt_core.data.mocap_daz.clip_quality`: 53.6 and 69.8 mm, 78.1 mm,
  75.0 mm) -- among those without a data defect (no jump between frames, no ankle under the floor, no upside-down
  head); :func:`lt_core.data.mocap_daz.pick_held_out` applies that rule;
* train_ext: the five training clips and every other clip of ``data/mocap_cmu_daz`` except ``salsa_06`` and
  ``salsa_07`` (:data:`DAZ_EXCLUDED_CLIPS`), whose head is upside down (rotated 150-180 degrees from the chest) in
  all 883 frames and in 369 of 1032 frames: a defect of the source files, shipped but not used.

``"train"``, ``"val"`` and ``"all"`` are the seven original clips; the committed checkpoints train on ``"train_ext"``
and are evaluated on ``"val_ext"`` (``scripts/train_embedded.py``).
"""

from __future__ import annotations

import math

import numpy as np
from torch import Tensor

__all__ = [
    "TRAIN_CLIPS",
    "VAL_CLIPS",
    "DAZ_VAL_CLIPS",
    "DAZ_EXCLUDED_CLIPS",
    "CLIP_SETS",
    "clip_set",
    "clip_info",
    "load_joints",
    "place_joints",
]

TRAIN_CLIPS: tuple[str, ...] = ("01_01", "02_01", "11_01", "131_01", "131_02")
VAL_CLIPS: tuple[str, ...] = ("131_03", "05_06")
DAZ_VAL_CLIPS: tuple[str, ...] = ("salsa_14", "salsa_29", "martial_07", "indian_06")
"""Held-out clips of ``data/mocap_cmu_daz``, one per family (the salsa pair counts as one); see the module docstring."""
DAZ_EXCLUDED_CLIPS: tuple[str, ...] = ("salsa_06", "salsa_07")
"""Clips of ``data/mocap_cmu_daz`` in no clip set (upside-down head, see the module docstring)."""
CLIP_SETS: tuple[str, ...] = ("train", "val", "all", "train_ext", "val_ext", "all_ext")
"""Names accepted by :func:`clip_set` and the dataset's ``split``."""


def clip_set(name: str) -> tuple[str, ...]:
    """The clip ids of a named set (see the module docstring).

    Args:
        name: one of :data:`CLIP_SETS`.

    Returns:
        Clip ids in a fixed order (the ``_ext`` sets read ``data/mocap_cmu_daz/clips.tsv``).
    """
    if name not in CLIP_SETS:
        raise ValueError(f"split must be one of {CLIP_SETS}, got {name!r}")
    if name == "train":
        return TRAIN_CLIPS
    if name == "val":
        return VAL_CLIPS
    if name == "all":
        return TRAIN_CLIPS + VAL_CLIPS
    from lt_core.data.mocap_daz import list_daz_clips

    daz = [c["id"] for c in list_daz_clips()]
    missing = sorted(set(DAZ_VAL_CLIPS + DAZ_EXCLUDED_CLIPS) - set(daz))
    if missing:
        raise ValueError(f"clips {missing} are not in data/mocap_cmu_daz/clips.tsv")
    train = TRAIN_CLIPS + tuple(c for c in daz if c not in DAZ_VAL_CLIPS + DAZ_EXCLUDED_CLIPS)
    val = VAL_CLIPS + DAZ_VAL_CLIPS
    return {"train_ext": train, "val_ext": val, "all_ext": train + val}[name]


def clip_info() -> dict[str, dict]:
    """Id -> description row of every embedded clip found (``clips.tsv`` of ``data/mocap_cmu`` and
    ``data/mocap_cmu_daz``); a missing folder contributes nothing."""
    info: dict[str, dict] = {}
    try:
        from lt_core.data.mocap_daz import list_daz_clips

        info.update({c["id"]: c for c in list_daz_clips()})
    except (ImportError, FileNotFoundError):
        pass
    try:
        from lt_core.data.retarget import list_embedded_clips

        info.update({c["id"]: c for c in list_embedded_clips()})
    except (ImportError, FileNotFoundError):
        pass
    return info


_CLIP_CACHE: dict[tuple[str, float | None], tuple[np.ndarray, dict]] = {}


def load_joints(clip: str, fps: float | None) -> tuple[np.ndarray, dict]:
    """Joints (T, 17, 3) float32 mm and meta of an embedded clip, memoised per process."""
    key = (clip, fps)
    if key not in _CLIP_CACHE:
        from lt_core.data.retarget import load_clip

        _CLIP_CACHE[key] = load_clip(clip, fps=fps)
    return _CLIP_CACHE[key]


def place_joints(joints: Tensor, yaw: float, xy: tuple[float, float]) -> Tensor:
    """Rotate a pose about the vertical axis through its pelvis and move the pelvis to ``xy`` (heights kept).

    Args:
        joints: (17, 3) world mm.
        yaw: rotation angle in radians (counter-clockwise seen from above).
        xy: target pelvis position on the floor, mm.

    Returns:
        (17, 3) world mm.
    """
    c, s = math.cos(yaw), math.sin(yaw)
    rot = joints.new_tensor([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])
    pelvis = joints[6].clone()
    pelvis[2] = 0.0
    out = (joints - pelvis) @ rot.T
    return out + joints.new_tensor([xy[0], xy[1], 0.0])
