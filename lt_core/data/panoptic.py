"""CMU Panoptic (panoptic-toolbox layout) as a torch Dataset of the one sample format.

Layout of a sequence folder (facts in ``docs/FORMATS.md``)::

    <root>/<seq>/calibration_<seq>.json
    <root>/<seq>/hdPose3d_stage1_coco19/body3DScene_%08d.json   {"bodies": [{"id", "joints19": [x, y, z, c] * 19}]}
    <root>/<seq>/hdImgs/<cam>/<cam>_%08d.jpg                       (cam = "00_03", ...)

Conversions into our convention (``docs/CONVENTIONS.md``):

* centimetres -> millimetres (joints and camera translations);
* Panoptic's world has ``y`` pointing down (floor near ``y = 0``). We rotate it by the proper rotation
  :data:`~lt_core.data.calibration.PANOPTIC_TO_ZUP` ``Q`` (det +1): ``(x, y, z)_ours = (x, z, -y)_panoptic``, so up
  is ``+z`` and the floor stays at ``z = 0``. Cameras follow with ``R' = R Q^T`` (``t`` unchanged), so every pixel
  projection is unchanged;
* ``c = -1`` (below ``min_confidence``) marks an invalid joint; joints are mapped from coco19 to the Human3.6M-17
  set with :func:`lt_core.skeleton.convert_joints` (a target joint is valid when all its sources are).

Crops: Panoptic has no ground-truth boxes, so each view's box is the square around the projected valid joints,
enlarged by ``bbox_scale``. A view is valid when every valid joint is in front of the camera, the box centre lies
inside the image and (with images) the image file exists.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset

from lt_core.camera import Camera
from lt_core.conventions import check_convention
from lt_core.data.calibration import PANOPTIC_TO_ZUP, load_panoptic_calibration
from lt_core.data.human36m import _out_size, _placeholder_box, load_image_crop, square_bbox
from lt_core.data.textio import load_json, names_file
from lt_core.skeleton import convert_joints

__all__ = ["PanopticFormatError", "read_panoptic_bodies", "panoptic_to_zup", "PanopticDataset"]

PathLike = str | Path


class PanopticFormatError(ValueError):
    """Malformed Panoptic pose JSON; the message names the file and the field."""


@names_file(PanopticFormatError)
def read_panoptic_bodies(path: PathLike) -> list[tuple[int, np.ndarray]]:
    """Read the bodies of one ``body3DScene_%08d.json``.

    Args:
        path: the JSON file.

    Returns:
        A list of ``(id, joints)`` with joints a (19, 4) float64 array ``(x, y, z, c)`` in Panoptic's units and
        frame (cm, y down).
    """
    p = Path(path)
    doc = load_json(p, PanopticFormatError, "Panoptic pose file")
    bodies = doc.get("bodies") if isinstance(doc, dict) else None
    if not isinstance(bodies, list):
        raise PanopticFormatError(f"{p}: missing list field 'bodies'")
    out = []
    for i, b in enumerate(bodies):
        if not isinstance(b, dict) or "joints19" not in b:
            raise PanopticFormatError(f"{p}: body {i} lacks field 'joints19'")
        try:
            j = np.asarray(b["joints19"], dtype=np.float64)
        except (TypeError, ValueError):
            raise PanopticFormatError(f"{p}: body {i} field 'joints19' is not numeric") from None
        if j.size != 19 * 4:
            raise PanopticFormatError(f"{p}: body {i} field 'joints19' has {j.size} numbers, expected 76 (19 x 4)")
        body_id = b.get("id", i)
        if isinstance(body_id, bool) or not isinstance(body_id, (int, float)) or body_id != int(body_id):
            raise PanopticFormatError(f"{p}: body {i} field 'id' must be an integer, got {body_id!r}")
        out.append((int(body_id), j.reshape(19, 4)))
    return out


def panoptic_to_zup(points_cm: np.ndarray | torch.Tensor) -> torch.Tensor:
    """Convert Panoptic world points (..., 3) in cm (y down) into our world (..., 3) in mm (Z up)."""
    x = torch.as_tensor(points_cm, dtype=torch.float64)
    return 10.0 * x @ PANOPTIC_TO_ZUP.T


class PanopticDataset(Dataset):
    """Multi-view CMU Panoptic frames.

    Args:
        root: folder holding the sequence folders.
        sequences: one sequence name (``"171204_pose1"``) or several.
        cameras: HD camera names (``["00_03", "00_06", ...]``) or a count of HD cameras (the first in the
            calibration file's order).
        image_size: side of the square crops (pixels), or (W, H).
        load_images: read and crop images; ``False`` gives label-only samples.
        person: body ``id`` to take, or ``None`` (default) for every body: a frame with several people gives one
            item per person (the sample format holds one skeleton), in the file's body order.
        skeleton: ``"h36m17"`` (default, via :func:`convert_joints`) or ``"coco19"`` (native joints).
        min_confidence: joints with ``c`` below this are invalid (``c = -1`` marks missing joints).
        bbox_scale: enlargement of the square around the projected joints.
        frame_step: keep every ``frame_step``-th pose file.
        convention: pixel convention of the returned cameras (:mod:`lt_core.conventions`), ``"centres"`` or
            ``"official"``.

    Each item is one (sequence, frame, person) in the sample format of :mod:`lt_core.data.human36m`; ``meta`` holds
    ``dataset`` = ``"panoptic"``, ``subject`` (the body id as str), ``action`` and ``sequence`` (the sequence),
    ``frame``, ``person_id``, ``camera_names``, ``bbox_ltrb``.
    """

    dataset_name = "panoptic"

    def __init__(
        self,
        root: PathLike,
        sequences: str | Sequence[str],
        cameras: Sequence[str] | int = 4,
        image_size: int | tuple[int, int] = 384,
        load_images: bool = True,
        person: int | None = None,
        skeleton: str = "h36m17",
        min_confidence: float = 0.0,
        bbox_scale: float = 1.2,
        frame_step: int = 1,
        convention: str = "centres",
    ) -> None:
        self.convention = check_convention(convention)
        self.root = Path(root)
        if not self.root.is_dir():
            raise FileNotFoundError(f"Panoptic root not found: {self.root}")
        self.sequences = [sequences] if isinstance(sequences, str) else list(sequences)
        self.out_size = _out_size(image_size)
        self.load_images = load_images
        self.person = person
        if skeleton not in ("h36m17", "coco19"):
            raise ValueError(f"skeleton must be 'h36m17' or 'coco19', got {skeleton!r}")
        self.skeleton = skeleton
        self.min_confidence = float(min_confidence)
        self.bbox_scale = float(bbox_scale)
        self._cameras: dict[str, Camera] = {}
        self.items: list[tuple[str, int, int, np.ndarray]] = []  # (sequence, frame, body id, joints19 (19, 4))
        for seq in self.sequences:
            folder = self.root / seq
            calib = folder / f"calibration_{seq}.json"
            if isinstance(cameras, int):
                cam = load_panoptic_calibration(calib, camera_type="hd", count=cameras, z_up=True)
            else:
                cam = load_panoptic_calibration(calib, names=list(cameras), z_up=True)
            self._cameras[seq] = cam
            pose_dir = folder / "hdPose3d_stage1_coco19"
            if not pose_dir.is_dir():
                raise FileNotFoundError(f"Panoptic pose folder not found: {pose_dir}")
            files = sorted(pose_dir.glob("body3DScene_*.json"))[:: max(1, int(frame_step))]
            for f in files:
                try:
                    frame = int(f.stem.split("_")[-1])
                except ValueError:
                    raise PanopticFormatError(f"{f}: no frame number in the file name") from None
                bodies = read_panoptic_bodies(f)
                chosen = [b for b in bodies if person is None or b[0] == person]
                for pid, joints in chosen:
                    self.items.append((seq, frame, pid, joints))
        self.camera_names = {seq: list(cam.names) for seq, cam in self._cameras.items()}

    def __len__(self) -> int:
        return len(self.items)

    def sequence_cameras(self, sequence: str) -> Camera:
        """Full-frame cameras (C,) float64 of a sequence in our Z-up world (mm), names set."""
        return self._cameras[sequence]

    def image_path(self, sequence: str, camera: str, frame: int) -> Path:
        """``<root>/<seq>/hdImgs/<cam>/<cam>_%08d.jpg``."""
        return self.root / sequence / "hdImgs" / camera / f"{camera}_{frame:08d}.jpg"

    def __getitem__(self, index: int) -> dict[str, Any]:
        seq, frame, pid, raw = self.items[index]
        full = self._cameras[seq]
        names = self.camera_names[seq]
        coco = panoptic_to_zup(raw[:, :3])  # (19, 3) mm
        valid19 = torch.as_tensor(raw[:, 3] >= self.min_confidence)
        if self.skeleton == "h36m17":
            joints, valid = convert_joints(coco, "coco19", "h36m17", valid19)
        else:
            joints, valid = coco, valid19
        joints = torch.where(valid[:, None], joints, torch.zeros_like(joints))
        size = self.out_size
        boxes, views_valid, images = [], [], []
        pts = coco[valid19]
        for k, cam_name in enumerate(names):
            cam = full[k]
            ok = bool(pts.shape[0] > 0)
            box = (0, 0, 1, 1)
            if ok:
                uv = cam.project(pts)
                ok = bool((cam.depth(pts) > 0).all())
                (u0, v0), (u1, v1) = uv.min(0).values.tolist(), uv.max(0).values.tolist()
                box = square_bbox(
                    (math.floor(u0), math.floor(v0), math.ceil(u1) + 1, math.ceil(v1) + 1), self.bbox_scale
                )
                if cam.image_size is not None:
                    cx, cy = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
                    w, h = (float(v) for v in cam.image_size)
                    ok = ok and 0 <= cx < w and 0 <= cy < h
            if box[2] - box[0] < 2:
                ok = False
            if not ok:
                box = _placeholder_box(cam)
            path = self.image_path(seq, cam_name, frame)
            if self.load_images:
                ok = ok and path.is_file()
                images.append(load_image_crop(path, box, size) if ok else torch.zeros(3, *size[::-1]))
            boxes.append(box)
            views_valid.append(ok)
        box_t = torch.tensor(boxes, dtype=torch.float64)
        cams = full.with_convention(self.convention).crop_and_resize(box_t, size).to(torch.float32)
        cams.names = list(names)
        sample: dict[str, Any] = {
            "cameras": cams,
            "joints_3d": joints.to(torch.float32),
            "joints_valid": valid,
            "views_valid": torch.tensor(views_valid, dtype=torch.bool),
            "meta": {
                "dataset": self.dataset_name,
                "subject": str(pid),
                "action": seq,
                "sequence": seq,
                "frame": frame,
                "person_id": pid,
                "index": int(index),
                "camera_names": list(names),
                "bbox_ltrb": box_t.long(),
            },
        }
        if self.load_images:
            sample["images"] = torch.stack(images)
        return sample
