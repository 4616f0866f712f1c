"""The one sample format shared by every dataset of :mod:`lt_core.data`, and its collate function.

A **sample** is one multi-view frame, a dict:

* ``images``: (C, 3, H, W) float32 RGB in [0, 1] (absent when a dataset is asked for labels only);
* ``cameras``: :class:`~lt_core.camera.Camera` with batch shape (C,), describing the returned images (crop
  cameras: ``Camera.crop_and_resize`` of the full-frame cameras, ``image_size`` = (W, H) of the images), so that
  ``cameras.project(joints_3d)`` lands where the images show the joints;
* ``joints_3d``: (J, 3) float32 world millimetres (Z up, see ``docs/CONVENTIONS.md``); J = 17 (Human3.6M order);
* ``joints_valid``: (J,) bool;
* ``views_valid``: (C,) bool (an invalid view has a placeholder image/camera and must be ignored);
* ``meta``: dict with at least ``dataset`` (e.g. ``"human36m"``, ``"embedded-h36m-rig"``), ``subject``,
  ``action``, ``frame``; datasets add ``index``, ``camera_names``, ``bbox_ltrb`` (C, 4) crop boxes in full-frame
  pixels and their own extras.

:func:`collate_samples` batches B samples with equal C (and image size): tensors are stacked, cameras stacked into
batch shape (B, C), ``meta`` (and any other non-tensor entry) becomes a list of B entries.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

import torch
from torch import Tensor

from lt_core.camera import Camera, stack_cameras

__all__ = ["SAMPLE_KEYS", "REQUIRED_KEYS", "collate_samples", "check_sample"]

SAMPLE_KEYS = ("images", "cameras", "joints_3d", "joints_valid", "views_valid", "meta")
"""Keys of a sample (``images`` may be absent)."""

REQUIRED_KEYS = ("cameras", "joints_3d", "joints_valid", "views_valid", "meta")


def collate_samples(samples: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Batch samples of the one sample format.

    Args:
        samples: B dicts with ``cameras`` (C,), ``joints_3d`` (J, 3), ``joints_valid`` (J,), ``views_valid`` (C,),
            optional ``images`` (C, 3, H, W) and ``meta``.

    Returns:
        A dict with ``images`` (B, C, 3, H, W) (when present), ``cameras`` with batch shape (B, C),
        ``joints_3d`` (B, J, 3), ``joints_valid`` (B, J), ``views_valid`` (B, C), ``meta`` a list of B dicts.
        Other tensor entries are stacked, anything else is listed.

    Raises:
        ValueError: no samples, or samples that disagree on a tensor shape or on the number of cameras.
    """
    if not samples:
        raise ValueError("collate_samples needs at least one sample")
    out: dict[str, Any] = {}
    for key in samples[0]:
        values = [s[key] for s in samples]
        if isinstance(values[0], Camera):
            shapes = {tuple(v.batch_shape) for v in values}
            if len(shapes) != 1:
                raise ValueError(f"samples have different camera counts {sorted(shapes)}; cannot batch them")
            if any(v.image_size is None for v in values):
                values = [replace(v, image_size=None) for v in values]
            out[key] = stack_cameras(values)
        elif isinstance(values[0], Tensor):
            shapes = {tuple(v.shape) for v in values}
            if len(shapes) != 1:
                raise ValueError(f"samples disagree on the shape of {key!r}: {sorted(shapes)}")
            out[key] = torch.stack(values)
        else:
            out[key] = list(values)
    return out


def check_sample(sample: Mapping[str, Any]) -> None:
    """Raise ``ValueError`` naming the first way ``sample`` departs from the sample format."""
    missing = [k for k in REQUIRED_KEYS if k not in sample]
    if missing:
        raise ValueError(f"sample lacks keys {missing}")
    cams = sample["cameras"]
    if not isinstance(cams, Camera) or len(cams.batch_shape) != 1:
        raise ValueError("sample['cameras'] must be a Camera with batch shape (C,)")
    C = cams.batch_shape[0]
    j = sample["joints_3d"]
    if j.dim() != 2 or j.shape[-1] != 3:
        raise ValueError(f"joints_3d must be (J, 3), got {tuple(j.shape)}")
    if tuple(sample["joints_valid"].shape) != (j.shape[0],) or sample["joints_valid"].dtype != torch.bool:
        raise ValueError("joints_valid must be a (J,) bool tensor")
    if tuple(sample["views_valid"].shape) != (C,) or sample["views_valid"].dtype != torch.bool:
        raise ValueError("views_valid must be a (C,) bool tensor")
    if "images" in sample:
        im = sample["images"]
        if im.dim() != 4 or im.shape[0] != C or im.shape[1] != 3:
            raise ValueError(f"images must be (C, 3, H, W) with C = {C}, got {tuple(im.shape)}")
        if cams.image_size is not None:
            w, h = (int(round(float(x))) for x in cams.image_size.reshape(-1, 2)[0])
            if (w, h) != (im.shape[3], im.shape[2]):
                raise ValueError(
                    f"cameras' image_size {(w, h)} differs from the images' (W, H) {(im.shape[3], im.shape[2])}"
                )
    for key in ("dataset", "subject", "action", "frame"):
        if key not in sample["meta"]:
            raise ValueError(f"sample['meta'] lacks {key!r}")
