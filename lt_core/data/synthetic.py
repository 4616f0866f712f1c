"""The embedded default dataset: real CMU motion capture, rendered as capsule bodies through a camera rig.

Each item is one frame of an embedded clip (``data/mocap_cmu``, retargeted to Human3.6M-17 by
:func:`lt_core.data.retarget.load_clip`), placed in the capture area, worn by a synthetic subject
(:class:`~lt_core.render.BodyStyle`) in a random scene (:class:`~lt_core.render.SceneStyle`) and rendered through a
rig (:mod:`lt_core.data.rigs`) into square person crops, in the one sample format (:mod:`lt_core.data.sample`).

**Clips**: which clips train and which are held out (``split``: ``"train"``, ``"val"``, ``"train_ext"``,
``"val_ext"``, ...) is :mod:`lt_core.data.clips`.

**Determinism**: everything random about an item (placement, subject, scene, noise, view subset) is drawn from a
generator seeded by ``(seed, clip, frame)``, so an item is identical whatever the order of access, the number of
workers, the frame stride or the other clips selected.

**Rendering** goes straight into the crop (the crop cameras of :func:`lt_core.render.crop_to_person`), which is
what cropping the full 1000 x 1000 (or 1920 x 1080) frame and resizing would show, point-sampled, at a fraction of
the cost; crop areas outside the full frame are black, as in the paper's crops.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor
from torch.utils.data import Dataset

from lt_core.camera import Camera
from lt_core.conventions import check_convention
from lt_core.data.augment import (
    CROP_JITTER_KEYS,
    TILT_CLEARANCE,
    check_crop_jitter,
    jitter_boxes,
    pivot_pose,
    roll_crop_cameras,
    tilt_pose,
)
from lt_core.data.clips import (
    CLIP_SETS,
    DAZ_EXCLUDED_CLIPS,
    DAZ_VAL_CLIPS,
    TRAIN_CLIPS,
    VAL_CLIPS,
    clip_info,
    clip_set,
    load_joints,
    place_joints,
)
from lt_core.data.rigs import load_rig
from lt_core.data.sample import collate_samples
from lt_core.render import BodyStyle, SceneStyle, crop_region, crop_to_person, render, seed_from
from lt_core.render.raycast import NEAR

__all__ = [
    "TRAIN_CLIPS",
    "VAL_CLIPS",
    "DAZ_VAL_CLIPS",
    "DAZ_EXCLUDED_CLIPS",
    "CLIP_SETS",
    "clip_set",
    "SyntheticMultiViewDataset",
    "collate_samples",
    "place_joints",
    "load_joints",
    "jitter_boxes",
    "roll_crop_cameras",
    "CROP_JITTER_KEYS",
    "tilt_pose",
    "TILT_CLEARANCE",
]


def _pose_option(name: str, value: tuple[float, float] | None) -> tuple[float, float] | None:
    """Validate a ``(probability, max_degrees)`` pose augmentation option; ``None`` when it does nothing."""
    if value is None:
        return None
    if len(value) != 2 or not 0 <= value[0] <= 1 or not value[1] >= 0:
        raise ValueError(f"{name} must be (probability in [0, 1], max degrees >= 0), got {value!r}")
    return (float(value[0]), float(value[1])) if value[0] and value[1] else None


class SyntheticMultiViewDataset(Dataset):
    """Multi-view renders of the embedded motion capture clips.

    Args:
        split: ``"train"``, ``"val"``, ``"all"``, or the extended sets ``"train_ext"``, ``"val_ext"``,
            ``"all_ext"`` (:func:`clip_set`, see the module docstring); ignored when ``clips`` is given.
        clips: explicit clip ids (e.g. ``["02_01"]``).
        rig: ``"human36m"``, ``"dome"``, a rig JSON path, or a :class:`Camera` of batch shape (C,) (full frames,
            ``image_size`` set).
        num_views: views per sample (default: every camera of the rig).
        image_size: crop side in pixels, or (W, H).
        fps: frame rate the clips are resampled to (``None``: the capture rate, 120 Hz; the clips of
            ``data/mocap_cmu_daz`` are shipped at 30 Hz, which ``None`` keeps).
        frame_stride: keep every ``frame_stride``-th frame after resampling.
        max_frames_per_clip: keep at most this many frames of each clip (after the stride), evenly spread.
        random_views: draw ``num_views`` cameras at random per item (default: ``True`` for ``"train"`` and
            ``"train_ext"``); otherwise the same evenly spread subset for every item.
        view_indices: explicit camera indices (overrides ``num_views`` / ``random_views``).
        subjects_per_clip: number of synthetic subjects (body styles) per clip; each frame is worn by one of them.
        placement: ``"random"`` (random yaw, pelvis uniformly in a disc of ``placement_radius`` around the capture
            centre), ``"center"`` (pelvis at the centre, orientation as captured) or ``"original"`` (as captured).
        placement_radius: disc radius in mm (default 1000 for the Human3.6M-like rig, 500 for the dome).
        margin: crop box enlargement (see :func:`lt_core.render.person_boxes`).
        supersample: anti-aliasing factor of the renderer (``s x s`` rays per pixel).
        seed: dataset seed; items are a function of ``(seed, clip, frame)``.
        cache_dir: optional folder for rendered samples (read when present, written otherwise).
        load_images: render images (``False``: labels and cameras only, much faster).
        render_threads: torch threads while rendering on CPU (default 1: fastest per process; use DataLoader
            workers for parallelism; ``None`` leaves torch's setting).
        convention: pixel convention of the returned cameras (:mod:`lt_core.conventions`). Images are always
            rendered through the exact crop cameras (``"centres"``); with ``"official"`` the returned cameras are
            what the released code's crop and resize rules make of the same box, as for a real dataset.
        crop_jitter: render-time augmentation of every view's crop (training data; ``None``: the tight boxes), a
            dict with any of ``scale`` (the box side is multiplied by ``exp(u)``, ``u`` uniform in
            ``[-scale, scale]``), ``shift`` (the box centre moves by up to this fraction of its side along each axis)
            and ``roll`` (the crop camera turns about its optical axis by up to this many degrees; the person's
            image rotates about the crop centre, :func:`roll_crop_cameras`). Drawn per view from ``(seed, clip,
            frame)``; the returned cameras are the jittered ones, so labels stay exact. Rolled views are rendered
            without the black area outside the full frame.
        pose_tilt: render-time pose augmentation ``(probability, max_degrees)``: with that probability an item's
            pose is turned about a random horizontal axis through its pelvis by up to ``max_degrees`` and lifted
            until every joint is :data:`TILT_CLEARANCE` mm above the floor (:func:`tilt_pose`), so that training sees
            bodies bent over or upside down (a held-out dance has them); ``None``: poses as captured.
        pose_pivot: render-time pose augmentation ``(probability, max_degrees)``: with that probability an item's
            pose is hinged about its standing leg by up to ``max_degrees`` (:func:`pivot_pose`: trunk down, the other
            leg up, the standing foot kept on the floor); ``None``: poses as captured. Applied after ``pose_tilt``.
    """

    def __init__(
        self,
        split: str = "train",
        clips: Sequence[str] | None = None,
        rig: str | Path | Camera = "human36m",
        num_views: int | None = None,
        image_size: int | tuple[int, int] = 128,
        fps: float | None = 30.0,
        frame_stride: int = 1,
        max_frames_per_clip: int | None = None,
        random_views: bool | None = None,
        view_indices: Sequence[int] | None = None,
        subjects_per_clip: int = 2,
        placement: str = "random",
        placement_radius: float | None = None,
        margin: float = 0.2,
        supersample: int = 1,
        seed: int = 0,
        cache_dir: str | Path | None = None,
        load_images: bool = True,
        render_threads: int | None = 1,
        convention: str = "centres",
        crop_jitter: dict[str, float] | None = None,
        pose_tilt: tuple[float, float] | None = None,
        pose_pivot: tuple[float, float] | None = None,
    ) -> None:
        self.convention = check_convention(convention)
        self.crop_jitter = check_crop_jitter(crop_jitter)
        self.pose_tilt = _pose_option("pose_tilt", pose_tilt)
        self.pose_pivot = _pose_option("pose_pivot", pose_pivot)
        if clips is None:
            clips = clip_set(split)
        if placement not in ("random", "center", "original"):
            raise ValueError(f"placement must be 'random', 'center' or 'original', got {placement!r}")
        self.split = split
        self.clips = list(clips)
        self.rig_name, self.rig = self._resolve_rig(rig)
        self.dataset_name = {"human36m": "embedded-h36m-rig", "dome": "embedded-dome"}.get(
            self.rig_name, "embedded-custom-rig"
        )
        if self.rig.image_size is None:
            raise ValueError("the rig's cameras need image_size (full-frame W, H)")
        C_all = self.rig.batch_shape[0]
        self.out_size = (image_size, image_size) if isinstance(image_size, int) else tuple(image_size)
        self.num_views = int(num_views) if num_views is not None else (len(view_indices) if view_indices else C_all)
        if not 1 <= self.num_views <= C_all:
            raise ValueError(f"num_views must be in 1..{C_all} for this rig, got {num_views}")
        self.random_views = (split in ("train", "train_ext")) if random_views is None else bool(random_views)
        if view_indices is not None:
            self.view_indices = [int(i) for i in view_indices]
            self.random_views = False
        else:
            self.view_indices = (
                np.unique(np.round(np.linspace(0, C_all - 1, self.num_views)).astype(int)).tolist()
                if self.num_views < C_all
                else list(range(C_all))
            )
        self.subjects_per_clip = max(1, int(subjects_per_clip))
        self.placement = placement
        self.placement_radius = float(
            placement_radius if placement_radius is not None else (500.0 if self.rig_name == "dome" else 1000.0)
        )
        self.margin, self.supersample, self.seed = float(margin), int(supersample), int(seed)
        self.fps, self.frame_stride = fps, max(1, int(frame_stride))
        self.load_images = load_images
        self.render_threads = render_threads
        self.cache_dir = Path(cache_dir) if cache_dir is not None else None

        self._joints: dict[str, Tensor] = {}
        self._clip_meta: dict[str, dict] = {}
        index = []
        for clip in self.clips:
            joints, meta = load_joints(clip, fps)
            self._joints[clip] = torch.from_numpy(np.ascontiguousarray(joints))
            self._clip_meta[clip] = meta
            frames = np.arange(0, joints.shape[0], self.frame_stride)
            if max_frames_per_clip is not None and len(frames) > max_frames_per_clip:
                frames = frames[np.round(np.linspace(0, len(frames) - 1, max_frames_per_clip)).astype(int)]
            index += [(clip, int(f)) for f in frames]
        self.index = index
        motion = hashlib.sha1()
        for clip in self.clips:
            motion.update(self._joints[clip].numpy().tobytes())
        self._motion_digest = motion.hexdigest()
        self._clip_info = clip_info()

    # ------------------------------------------------------------------ set-up helpers
    @staticmethod
    def _resolve_rig(rig: str | Path | Camera) -> tuple[str, Camera]:
        if isinstance(rig, Camera):
            if len(rig.batch_shape) != 1:
                raise ValueError(f"a rig Camera must have batch shape (C,), got {tuple(rig.batch_shape)}")
            return "custom", rig.to(torch.float64)
        name = str(rig)
        if name in ("human36m", "h36m", "human36m_like"):
            return "human36m", load_rig("human36m")
        if name in ("dome", "panoptic", "panoptic_like_dome"):
            return "dome", load_rig("dome")
        return "custom", load_rig(name)

    def __len__(self) -> int:
        return len(self.index)

    def config_key(self) -> str:
        """Hash of everything that determines the samples (names the cache files)."""
        rig = self.rig
        parts = [
            self.dataset_name,
            self.out_size,
            self.num_views,
            self.random_views,
            self.view_indices,
            self.subjects_per_clip,
            self.placement,
            self.placement_radius,
            self.margin,
            self.supersample,
            self.seed,
            self.fps,
            self.load_images,
            rig.K.sum().item(),
            rig.R.sum().item(),
            rig.t.sum().item(),
            rig.dist.sum().item(),
            "v1",
            tuple(self.clips),
        ]
        if self.convention != "centres":  # the returned cameras depend on it
            parts.append(self.convention)
        if rig.distortion_model != "opencv":
            parts.append(rig.distortion_model)
        if self.crop_jitter:
            parts.append(("crop_jitter", sorted(self.crop_jitter.items())))
        if self.pose_tilt:
            parts.append(("pose_tilt", self.pose_tilt))
        if self.pose_pivot:
            parts.append(("pose_pivot", self.pose_pivot))
        parts.append(("motion", self._motion_digest))  # a changed joint mapping or rebuilt clip is a new key
        return hashlib.sha1(repr(parts).encode()).hexdigest()[:16]

    # ------------------------------------------------------------------ items
    def item_setup(self, index: int) -> dict[str, Any]:
        """Everything an item is made of, before rendering: placed joints, cameras, styles, view indices.

        Returns:
            dict with ``joints`` (17, 3) mm, ``views`` (list of rig indices), ``body`` (BodyStyle), ``scene``
            (SceneStyle), ``subject`` (str), ``clip``, ``frame``, ``noise_seed``.
        """
        clip, frame = self.index[index]
        g = torch.Generator().manual_seed(seed_from(self.seed, clip, frame, "item"))
        joints = self._joints[clip][frame].clone()
        if self.placement == "random":
            yaw = float(torch.rand((), generator=g)) * 2 * math.pi
            r = self.placement_radius * math.sqrt(float(torch.rand((), generator=g)))
            phi = float(torch.rand((), generator=g)) * 2 * math.pi
            joints = place_joints(joints, yaw, (r * math.cos(phi), r * math.sin(phi)))
        elif self.placement == "center":
            joints = place_joints(joints, 0.0, (0.0, 0.0))
        if self.pose_tilt:
            joints = tilt_pose(joints, *self.pose_tilt, seed=seed_from(self.seed, clip, frame, "tilt"))
        if self.pose_pivot:
            joints = pivot_pose(joints, *self.pose_pivot, seed=seed_from(self.seed, clip, frame, "pivot"))
        k = int(torch.randint(self.subjects_per_clip, (), generator=g))
        cmu_subject = self._clip_info.get(clip, {}).get("subject") or clip.split("_")[0]
        subject = f"cmu{cmu_subject}-{k}"
        body = BodyStyle.from_seed(seed_from(self.seed, "subject", clip, k))
        scene = SceneStyle.from_seed(seed_from(self.seed, clip, frame, "scene"))
        C_all = self.rig.batch_shape[0]
        if self.random_views:
            views = sorted(torch.randperm(C_all, generator=g)[: self.num_views].tolist())
        else:
            views = list(self.view_indices)
        return {
            "joints": joints,
            "views": views,
            "body": body,
            "scene": scene,
            "subject": subject,
            "clip": clip,
            "frame": frame,
            "noise_seed": seed_from(self.seed, clip, frame, "noise"),
        }

    def __getitem__(self, index: int) -> dict[str, Any]:
        if not 0 <= index < len(self):
            raise IndexError(f"index {index} out of range for {len(self)} items")
        path = None
        if self.cache_dir is not None:
            path = self.cache_dir / f"{self.config_key()}_{index:07d}.pt"
            if path.is_file():
                return _from_cache(torch.load(path, weights_only=True))
        sample = self._make(index)
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(".tmp")
            torch.save(_to_cache(sample), tmp)
            tmp.replace(path)
        return sample

    def _make(self, index: int) -> dict[str, Any]:
        s = self.item_setup(index)
        joints, views, body = s["joints"], s["views"], s["body"]
        full = self.rig[views]
        names = [self.rig.names[i] for i in views] if self.rig.names else [f"cam_{i}" for i in views]
        cams, boxes = crop_to_person(joints, full, self.out_size, body, margin=self.margin)
        roll = None
        if self.crop_jitter:
            boxes, roll = jitter_boxes(boxes, self.crop_jitter, seed_from(self.seed, s["clip"], s["frame"], "crop"))
            cams = full.to(torch.float64).crop_and_resize(boxes, self.out_size)
            if roll is not None:
                cams = roll_crop_cameras(cams, roll)
        # a view is valid when the person is in front of the camera and at least half of the joints are in frame
        uv = full.project(joints.double()[None].expand(len(views), 17, 3))
        depth = full.depth(joints.double()[None].expand(len(views), 17, 3))
        size = full.image_size[:, None, :]
        inside = ((uv >= -0.5) & (uv <= size - 0.5)).all(-1)
        views_valid = (depth > NEAR).all(-1) & (inside.float().mean(-1) >= 0.5)
        sample: dict[str, Any] = {}
        meta = {
            "dataset": self.dataset_name,
            "subject": s["subject"],
            "action": self._clip_info.get(s["clip"], {}).get("description", s["clip"]),
            "clip": s["clip"],
            "frame": s["frame"],
            "index": int(index),
            "camera_names": names,
            "bbox_ltrb": boxes.float(),
        }
        if self.load_images:
            region = crop_region(boxes, full.image_size, self.out_size) if roll is None else None
            out = render(
                joints,
                cams,
                body,
                s["scene"],
                self.out_size,
                supersample=self.supersample,
                valid_region=region,
                noise_seed=s["noise_seed"],
                num_threads=self.render_threads,
            )
            sample["images"] = out.images
            meta["joints_visible"] = out.joints_visible
        if self.convention != "centres":  # the same box under the convention's crop and resize rules
            cams = full.with_convention(self.convention).crop_and_resize(boxes, self.out_size)
        cams = cams.to(torch.float32)
        cams.names = names
        sample.update(
            {
                "cameras": cams,
                "joints_3d": joints.float(),
                "joints_valid": torch.ones(17, dtype=torch.bool),
                "views_valid": views_valid,
                "meta": meta,
            }
        )
        return sample


def _to_cache(sample: dict[str, Any]) -> dict[str, Any]:
    c = sample["cameras"]
    out = {k: v for k, v in sample.items() if k != "cameras"}
    out["cameras"] = {
        "K": c.K,
        "R": c.R,
        "t": c.t,
        "dist": c.dist,
        "image_size": c.image_size,
        "names": c.names,
        "convention": c.convention,
        "distortion_model": c.distortion_model,
    }
    return out


def _from_cache(d: dict[str, Any]) -> dict[str, Any]:
    c = d["cameras"]
    d["cameras"] = Camera(
        c["K"],
        c["R"],
        c["t"],
        c["dist"],
        c["image_size"],
        c["names"],
        c.get("convention", "centres"),
        c.get("distortion_model", "opencv"),
    )
    return d
