"""Human3.6M in the preprocessed layout of the paper's code, as a torch Dataset of the one sample format.

Layout (facts in ``docs/FORMATS.md``)::

    <root>/processed/<S>/<Action-n>/imageSequence[-undistorted]/<camera>/img_%06d.jpg   (frame_idx + 1)
    <labels>  = human36m-multiview-labels-GTbboxes.npy  (default <root>/extra/...)

The labels are a pickled dict: ``subject_names``, ``camera_names``, ``action_names``, ``cameras`` (structured,
(n_subjects, n_cameras): ``R``, ``t`` (3, 1) mm, ``K``, ``dist``) and ``table`` (structured, one row per frame:
``subject_idx``, ``action_idx``, ``frame_idx``, ``keypoints`` (17, 3) world mm, ``bbox_by_camera_tlbr``
(n_cameras, 4) top, left, bottom, right; all zeros = view missing).

**The sample format** (a dict, shared by every dataset of ``lt_core.data``):

* ``images``: (C, 3, H, W) float32 RGB in [0, 1] (absent with ``load_images=False``);
* ``cameras``: :class:`~lt_core.camera.Camera` with batch shape (C,), float32, describing the returned crops
  (the squared ground-truth box resized to ``image_size``) whether or not images are loaded;
* ``joints_3d``: (J, 3) float32 world mm (Z-up); ``joints_valid``: (J,) bool;
* ``views_valid``: (C,) bool (a missing view has a zero image and a placeholder camera);
* ``meta``: dict with ``dataset``, ``subject``, ``action``, ``frame``, ``index``, ``camera_names``,
  ``bbox_ltrb`` (C, 4) crop boxes in full-frame pixels.

:func:`collate_samples` batches samples: tensors stacked, cameras stacked into batch shape (B, C), ``meta`` a list.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor
from torch.utils.data import Dataset

from lt_core.camera import Camera
from lt_core.conventions import check_convention, scale_box
from lt_core.data.h36m_cameras import h36m_cameras_from_labels
from lt_core.data.resize_area import resize_area
from lt_core.data.sample import collate_samples  # the one collate of the sample format; re-exported here
from lt_core.data.undistort import undistort_image, undistortion_map

__all__ = [
    "H36M_TRAIN_SUBJECTS",
    "H36M_VAL_SUBJECTS",
    "H36M_DAMAGED_SCENES",
    "Human36MFormatError",
    "load_h36m_labels",
    "square_bbox",
    "load_image_crop",
    "Human36MDataset",
    "collate_samples",
]

PathLike = str | Path

H36M_TRAIN_SUBJECTS: tuple[str, ...] = ("S1", "S5", "S6", "S7", "S8")
H36M_VAL_SUBJECTS: tuple[str, ...] = ("S9", "S11")
H36M_DAMAGED_SCENES: frozenset[tuple[str, str]] = frozenset(
    {("S9", "Greeting-2"), ("S9", "SittingDown-2"), ("S9", "Waiting-1")}
)
"""Scenes excluded from the paper's absolute-MPJPE table (their ground truth is misaligned)."""

_LABEL_KEYS = ("subject_names", "camera_names", "action_names", "cameras", "table")
_TABLE_FIELDS = ("subject_idx", "action_idx", "frame_idx", "keypoints", "bbox_by_camera_tlbr")


class Human36MFormatError(ValueError):
    """Malformed Human3.6M labels; the message names the file and the field."""


def load_h36m_labels(path: PathLike) -> dict[str, Any]:
    """Load and check the preprocessed labels ``.npy`` (a pickled dict).

    Args:
        path: ``human36m-multiview-labels-GTbboxes.npy``.

    Returns:
        The dict with ``subject_names``, ``camera_names``, ``action_names`` as lists of str, ``cameras`` and
        ``table`` as structured numpy arrays.
    """
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"Human3.6M labels not found: {p}")
    try:
        labels = np.load(p, allow_pickle=True).item()
    except Exception as e:  # noqa: BLE001 (np.load raises many kinds for a corrupt file)
        raise Human36MFormatError(f"{p}: cannot read as a pickled dict ({type(e).__name__}: {e})") from None
    if not isinstance(labels, dict):
        raise Human36MFormatError(f"{p}: expected a dict, got {type(labels).__name__}")
    missing = [k for k in _LABEL_KEYS if k not in labels]
    if missing:
        raise Human36MFormatError(f"{p}: missing fields {missing}")
    table = labels["table"]
    names = getattr(getattr(table, "dtype", None), "names", None) or ()
    lacking = [f for f in _TABLE_FIELDS if f not in names]
    if lacking:
        raise Human36MFormatError(f"{p}: field 'table' lacks columns {lacking}")
    n_cams = len(labels["camera_names"])
    if table.dtype["keypoints"].shape != (17, 3):
        raise Human36MFormatError(
            f"{p}: table column 'keypoints' must be (17, 3), got {table.dtype['keypoints'].shape}"
        )
    if table.dtype["bbox_by_camera_tlbr"].shape != (n_cams, 4):
        raise Human36MFormatError(
            f"{p}: table column 'bbox_by_camera_tlbr' must be ({n_cams}, 4), got "
            f"{table.dtype['bbox_by_camera_tlbr'].shape}"
        )
    cams = labels["cameras"]
    if getattr(cams, "shape", None) != (len(labels["subject_names"]), n_cams):
        raise Human36MFormatError(
            f"{p}: field 'cameras' must have shape (n_subjects, n_cameras) = "
            f"({len(labels['subject_names'])}, {n_cams}), got {getattr(cams, 'shape', None)}"
        )
    for key in ("subject_names", "camera_names", "action_names"):
        labels[key] = [str(x) for x in labels[key]]
    return labels


def square_bbox(ltrb: Sequence[int], scale: float = 1.0, convention: str = "centres") -> tuple[int, int, int, int]:
    """Square box around a box, as the paper's preprocessing does (integer arithmetic, longer side kept), then
    scaled about its centre (:func:`lt_core.conventions.scale_box`).

    Args:
        ltrb: (left, top, right, bottom) pixels, right/bottom exclusive.
        scale: enlarge the square about its centre by this factor.
        convention: how the scaled side is made an integer: ``"centres"`` rounds it and keeps the centre within
            half a pixel; ``"official"`` truncates it about the integer centre, as the released dataset does.

    Returns:
        (left, top, right, bottom) of a square box (may extend outside the image).
    """
    left, top, right, bottom = (int(v) for v in ltrb)
    w, h = right - left, bottom - top
    if w > h:
        cy = (top + bottom) // 2
        top = cy - w // 2
        bottom = top + w
    else:
        cx = (left + right) // 2
        left = cx - h // 2
        right = left + h
    return scale_box((left, top, right, bottom), scale, convention)


def load_image_crop(
    path: PathLike,
    box_ltrb: Sequence[int],
    size: tuple[int, int],
    undistort: Callable[[Tensor], Tensor] | None = None,
    resample: str = "bilinear",
) -> Tensor:
    """Read an image, crop a box (zero padding outside the image) and resize it.

    Pixel centres map as ``u -> (u - left + 0.5) * s - 0.5``, matching :meth:`Camera.crop_and_resize` in the
    ``"centres"`` convention (what the image shows; the ``"official"`` convention's cameras are off by the half-pixel
    terms, as the released code's are).

    Args:
        path: image file (JPEG/PNG).
        box_ltrb: (left, top, right, bottom) pixels, right/bottom exclusive.
        size: output (W, H).
        undistort: optional function applied to the whole (3, H, W) uint8 RGB image before cropping (e.g.
            :func:`lt_core.data.undistort.undistort_image` with the image's camera).
        resample: ``"bilinear"`` (PIL) or ``"area"``: OpenCV's ``INTER_AREA``, which the released dataset uses
            (:func:`lt_core.data.resize_area.resize_area`, bit for bit).

    Returns:
        (3, H, W) float32 RGB in [0, 1].
    """
    from PIL import Image  # noqa: PLC0415 (PIL ships with matplotlib)

    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"image not found: {p}")
    with Image.open(p) as im:
        rgb = im.convert("RGB")
        if undistort is not None:
            full = torch.from_numpy(np.asarray(rgb).copy()).permute(2, 0, 1)
            rgb = Image.fromarray(undistort(full).permute(1, 2, 0).numpy())
        crop = rgb.crop(tuple(int(v) for v in box_ltrb))
        if resample == "area":
            pixels = torch.from_numpy(np.asarray(crop).copy()).permute(2, 0, 1)
            return resize_area(pixels, tuple(int(v) for v in size)).to(torch.float32) / 255.0
        if resample != "bilinear":
            raise ValueError(f"resample must be 'bilinear' or 'area', got {resample!r}")
        crop = crop.resize(tuple(int(v) for v in size), Image.BILINEAR)
        arr = np.asarray(crop, dtype=np.float32) / 255.0
    return torch.from_numpy(arr.copy()).permute(2, 0, 1)


def _out_size(image_size: int | Sequence[int]) -> tuple[int, int]:
    """``384`` -> ``(384, 384)``; ``(W, H)`` stays."""
    if isinstance(image_size, (int, np.integer)):
        return int(image_size), int(image_size)
    w, h = (int(v) for v in image_size)
    return w, h


def _placeholder_box(camera: Camera) -> tuple[int, int, int, int]:
    """Square crop box for a missing view (the image's centred square); only used to keep a valid camera."""
    if camera.image_size is None:
        return 0, 0, 1000, 1000
    w, h = (int(round(float(v))) for v in camera.image_size)
    side = min(w, h)
    return (w - side) // 2, (h - side) // 2, (w - side) // 2 + side, (h - side) // 2 + side


class Human36MDataset(Dataset):
    """Multi-view Human3.6M frames in the paper's preprocessed layout.

    Args:
        root: dataset root holding ``processed/`` (images are only needed with ``load_images=True``).
        labels_path: the labels ``.npy`` (default ``<root>/extra/human36m-multiview-labels-GTbboxes.npy``).
        split: ``"train"`` (S1, S5, S6, S7, S8), ``"val"`` (S9, S11) or ``"all"`` (those present in the labels);
            ignored if ``subjects``.
        subjects: explicit subject names (each must be in the labels).
        image_size: side of the square crops in pixels (384 in the paper), or (W, H) to resize the square
            crop to another shape.
        load_images: read and crop images; ``False`` gives label-only samples (no ``images`` key).
        undistorted: ``False``: the original images and cameras with Human3.6M's lens. ``True`` (or
            ``"files"``): read ``imageSequence-undistorted`` (written by the released code's undistortion script, as
            its evaluation configurations use) and return pinhole cameras. ``"on_the_fly"``: read the original
            images and undistort each one as that script does (:mod:`lt_core.data.undistort`), no copy needed.
        exclude_damaged: drop the damaged scenes S9 Greeting-2, SittingDown-2, Waiting-1.
        frame_step: keep every ``frame_step``-th row of the (already every-5th-frame) table.
        bbox_scale: enlarge the squared ground-truth box by this factor.
        cameras: camera names to use (default: all four, in label order).
        actions: action names (``"Directions-1"``) or base actions (``"Directions"``) to keep.
        convention: pixel convention of the returned cameras (:mod:`lt_core.conventions`): ``"centres"`` (the
            default) or ``"official"``, the released code's (crop ``c - left``, resize ``c s`` computed in float32
            as it does, boxes scaled by truncating the side); models of the released checkpoints need it.
        resample: how crops are resized: ``"bilinear"``, ``"area"`` (OpenCV's ``INTER_AREA``, the released
            dataset's, bit for bit) or ``None``: ``"area"`` with the official convention, else ``"bilinear"``.

    Each item is one frame in the sample format described in the module docstring. A view missing from a scene
    (all-zero box) is returned as a zero image with ``views_valid`` False and a placeholder camera; the released
    code's dataset leaves such a view out, and every model of :mod:`lt_core.models` gives the same result either
    way (a missing view takes no part in triangulation, unprojection or the softmax over views).
    """

    dataset_name = "human36m"

    def __init__(
        self,
        root: PathLike,
        labels_path: PathLike | None = None,
        split: str = "train",
        subjects: Sequence[str] | None = None,
        image_size: int | tuple[int, int] = 384,
        load_images: bool = True,
        undistorted: bool | str = False,
        exclude_damaged: bool = False,
        frame_step: int = 1,
        bbox_scale: float = 1.0,
        cameras: Sequence[str] | None = None,
        actions: Sequence[str] | None = None,
        convention: str = "centres",
        resample: str | None = None,
    ) -> None:
        self.convention = check_convention(convention)
        self.resample = resample if resample is not None else ("area" if self.convention == "official" else "bilinear")
        if self.resample not in ("bilinear", "area"):
            raise ValueError(f"resample must be 'bilinear', 'area' or None, got {resample!r}")
        self.root = Path(root)
        self.labels_path = (
            Path(labels_path)
            if labels_path is not None
            else self.root / "extra" / "human36m-multiview-labels-GTbboxes.npy"
        )
        self.labels = load_h36m_labels(self.labels_path)
        self.out_size = _out_size(image_size)
        self.load_images = load_images
        modes = {False: "none", "none": "none", True: "files", "files": "files", "on_the_fly": "on_the_fly"}
        if undistorted not in modes:
            raise ValueError(f"undistorted must be False, True/'files' or 'on_the_fly', got {undistorted!r}")
        self.undistort_mode = modes[undistorted]
        self.undistorted = self.undistort_mode != "none"
        self._undistortion_maps: dict[tuple[int, int, int, int], Tensor] = {}
        self.bbox_scale = float(bbox_scale)
        names = self.labels["subject_names"]
        if subjects is None:
            if split not in ("train", "val", "all"):
                raise ValueError(f"split must be 'train', 'val' or 'all', got {split!r}")
            subjects = {"train": H36M_TRAIN_SUBJECTS, "val": H36M_VAL_SUBJECTS, "all": tuple(names)}[split]
            subjects = [s for s in subjects if s in names]  # a split keeps the subjects the labels hold
        unknown = [s for s in subjects if s not in names]
        if unknown:
            raise ValueError(f"{self.labels_path}: unknown subjects {unknown}; labels hold {names}")
        self.subjects = list(subjects)
        all_cams = self.labels["camera_names"]
        cam_sel = list(cameras) if cameras is not None else list(all_cams)
        bad = [c for c in cam_sel if c not in all_cams]
        if bad:
            raise ValueError(f"{self.labels_path}: unknown cameras {bad}; labels hold {all_cams}")
        self.camera_indices = [all_cams.index(c) for c in cam_sel]
        self.camera_names = cam_sel

        table = self.labels["table"]
        actions_all = self.labels["action_names"]
        keep = np.isin(table["subject_idx"], [names.index(s) for s in self.subjects])
        if actions is not None:
            wanted = set(actions)
            ok_action = np.array([a in wanted or a.rsplit("-", 1)[0] in wanted for a in actions_all])
            keep &= ok_action[table["action_idx"]]
        if exclude_damaged:
            for s, a in H36M_DAMAGED_SCENES:
                if s in names and a in actions_all:
                    keep &= ~((table["subject_idx"] == names.index(s)) & (table["action_idx"] == actions_all.index(a)))
        self.table = table[keep][:: max(1, int(frame_step))]

        self._cameras: dict[int, Camera] = {}
        for s in np.unique(self.table["subject_idx"]).tolist():
            self.subject_cameras(self.labels["subject_names"][int(s)])

    def __len__(self) -> int:
        return len(self.table)

    def subject_cameras(self, subject: str) -> Camera:
        """Full-frame cameras (C,) float64 of a subject (no crop), names set."""
        s = self.labels["subject_names"].index(subject)
        if s not in self._cameras:
            cam = h36m_cameras_from_labels(self.labels, s)[self.camera_indices].with_convention(self.convention)
            self._cameras[s] = replace(cam, dist=None) if self.undistorted else cam
        return self._cameras[s]

    def _undistorter(self, subject_idx: int, camera_idx: int) -> Callable[[Tensor], Tensor]:
        """Undistorts a whole image of this subject's camera, with its remap grid computed once per image size."""
        lens = h36m_cameras_from_labels(self.labels, subject_idx)[camera_idx]

        def undistort(image: Tensor) -> Tensor:
            key = (subject_idx, camera_idx, image.shape[1], image.shape[2])
            if key not in self._undistortion_maps:
                self._undistortion_maps[key] = undistortion_map(lens, image.shape[2], image.shape[1])
            return undistort_image(image, lens, self._undistortion_maps[key])

        return undistort

    def image_path(self, subject: str, action: str, camera: str, frame_idx: int) -> Path:
        """Path of one image: ``processed/<S>/<Action-n>/imageSequence[-undistorted]/<cam>/img_%06d.jpg``."""
        seq = "imageSequence-undistorted" if self.undistort_mode == "files" else "imageSequence"
        return self.root / "processed" / subject / action / seq / camera / f"img_{frame_idx + 1:06d}.jpg"

    def __getitem__(self, index: int) -> dict[str, Any]:
        row = self.table[index]
        s, a, f = int(row["subject_idx"]), int(row["action_idx"]), int(row["frame_idx"])
        subject, action = self.labels["subject_names"][s], self.labels["action_names"][a]
        full = self._cameras[s]
        size = self.out_size
        boxes, valid, images = [], [], []
        for k, ci in enumerate(self.camera_indices):
            top, left, bottom, right = (int(v) for v in row["bbox_by_camera_tlbr"][ci])
            ok = (bottom - top) > 0 and (right - left) > 0
            box = (
                square_bbox((left, top, right, bottom), self.bbox_scale, self.convention)
                if ok
                else _placeholder_box(full[k])
            )
            boxes.append(box)
            valid.append(ok)
            if self.load_images:
                undistort = self._undistorter(s, ci) if self.undistort_mode == "on_the_fly" else None
                images.append(
                    load_image_crop(
                        self.image_path(subject, action, self.camera_names[k], f), box, size, undistort, self.resample
                    )
                    if ok
                    else torch.zeros(3, *size[::-1])
                )
        box_t = torch.tensor(boxes, dtype=torch.float64)
        if self.convention == "official":  # the released dataset's float32 arithmetic (labels hold float32)
            cams = full.to(torch.float32).crop_and_resize(box_t.float(), size)
        else:
            cams = full.crop_and_resize(box_t, size).to(torch.float32)
        cams.names = list(self.camera_names)
        sample: dict[str, Any] = {
            "cameras": cams,
            "joints_3d": torch.as_tensor(np.asarray(row["keypoints"], dtype=np.float32)),
            "joints_valid": torch.ones(17, dtype=torch.bool),
            "views_valid": torch.tensor(valid, dtype=torch.bool),
            "meta": {
                "dataset": self.dataset_name,
                "subject": subject,
                "action": action,
                "frame": f,
                "index": int(index),
                "camera_names": list(self.camera_names),
                "bbox_ltrb": box_t.long(),
            },
        }
        if self.load_images:
            sample["images"] = torch.stack(images)
        return sample
