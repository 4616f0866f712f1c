"""How the measured models were trained, beside how the paper's were: training time, data, model size.

The embedded reproduction's errors are several times the paper's. These helpers put numbers on why, for captions
and tables (notebook 06): the training time, training data (clips, rendered frames and crops) and model size
(parameters, crop side, voxels) that each checkpoint's manifest records (``data/checkpoints/<name>.json``, written by
``scripts/train_embedded.py``), beside the paper's configuration. The paper-scale parameter counts are counted from
the models themselves (:meth:`lt_core.models.BackboneConfig.paper`, :meth:`lt_core.models.V2VConfig.paper`, the
released checkpoints' layout), built on the ``meta`` device (no memory, no weights).
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

import pandas as pd
import torch

__all__ = ["PAPER_SETUP", "TrainingFacts", "training_facts", "paper_parameters", "training_table",
           "training_caption"]

PAPER_SETUP: dict[str, Any] = {
    "backbone": "ResNet-152 pose backbone, pretrained on 2D human pose",
    "image_size": 384,
    "volume_size": 64,
    "cuboid_side": 2500.0,
    "data": "real Human3.6M images of the five training subjects (S1, S5, S6, S7, S8), 4 cameras",
}
"""The paper's configuration (Iskakov et al., ICCV 2019; the released configs): crop side (px), voxels per side,
cuboid side (mm), training data."""

_METHOD_MODEL = {"ransac": "ransac", "algebraic": "algebraic", "algebraic_noconf": "algebraic",
                 "volumetric": "volumetric"}


@dataclass(frozen=True)
class TrainingFacts:
    """What one checkpoint's manifest says about its training.

    Attributes:
        checkpoint: file name.
        method: method key (``"ransac"``, ``"algebraic"``, ``"algebraic_noconf"``, ``"volumetric"``).
        train_s: seconds of the checkpoint's own stage (NaN when not recorded).
        pipeline_s: seconds of every stage it builds on, rendering included (NaN when not recorded).
        steps: optimizer steps of its own stage.
        threads: torch CPU threads it trained with (0 when not recorded).
        clips: training clips.
        frames: rendered training frames (multi-view samples).
        images: rendered training crops (frames x views).
        image_size: crop side in pixels.
        parameters: trainable parameters.
        volume_size: voxels per cuboid side (0 for models without a volume).
        cuboid_side: cuboid side in mm (NaN without a volume).
    """

    checkpoint: str
    method: str
    train_s: float
    pipeline_s: float
    steps: int
    threads: int
    clips: int
    frames: int
    images: int
    image_size: int
    parameters: int
    volume_size: int
    cuboid_side: float


def training_facts(checkpoint: Any) -> TrainingFacts:
    """Read the manifest beside a checkpoint (``<name>.json``).

    Args:
        checkpoint: a :class:`lt_core.paper.CheckpointInfo` or the path of an exported ``.pt``.

    Raises:
        FileNotFoundError: no manifest beside the checkpoint (name of the missing file).
        KeyError: the manifest lacks ``config`` or ``parameters``.
    """
    path = Path(getattr(checkpoint, "path", checkpoint))
    manifest_path = path.with_suffix(".json")
    if not manifest_path.is_file():
        raise FileNotFoundError(f"no manifest {manifest_path.name} beside {path}: training facts are read from it")
    m = json.loads(manifest_path.read_text())
    for key in ("config", "parameters"):
        if key not in m:
            raise KeyError(f"{manifest_path}: manifest has no {key!r}")
    cfg = m["config"]
    opts = cfg.get("model_options") or {}
    data = m.get("train_data") or {}
    model = cfg.get("model", "algebraic")
    method = {"algebraic": "algebraic" if opts.get("use_confidences", True) else "algebraic_noconf",
              "volumetric": "volumetric"}.get(model, str(model))
    nan = float("nan")
    return TrainingFacts(
        checkpoint=path.name, method=method, train_s=float(m.get("train_s", nan)),
        pipeline_s=float(m.get("pipeline_s", m.get("train_s", nan))), steps=int(m.get("train_steps", 0)),
        threads=int(m.get("threads", 0)), clips=int(data.get("clips", 0)), frames=int(data.get("frames", 0)),
        images=int(data.get("images", 0)), image_size=int(cfg.get("image_size", [0])[0]),
        parameters=int(m["parameters"]),
        volume_size=int(opts.get("volume_size", 64)) if model == "volumetric" else 0,
        cuboid_side=float(opts.get("cuboid_side", 2500.0)) if model == "volumetric" else nan)


@functools.lru_cache(maxsize=None)
def paper_parameters(method: str) -> int:
    """Parameters of the paper-scale model of a method (ResNet-152 backbone; V2V 32-64-128 for volumetric),
    counted on the ``meta`` device."""
    from lt_core.models import AlgebraicTriangulationNet, BackboneConfig, V2VConfig, VolumetricTriangulationNet

    if method not in _METHOD_MODEL:
        raise ValueError(f"unknown method {method!r}; known: {sorted(_METHOD_MODEL)}")
    with torch.device("meta"):
        if method == "volumetric":
            model: torch.nn.Module = VolumetricTriangulationNet(BackboneConfig.paper(), V2VConfig.paper())
        else:
            model = AlgebraicTriangulationNet(BackboneConfig.paper(), use_confidences=method == "algebraic")
    return sum(p.numel() for p in model.parameters())


def _duration(seconds: float) -> str:
    if seconds != seconds:  # NaN
        return "not recorded"
    return f"{seconds / 60:.0f} min" if seconds >= 90 else f"{seconds:.0f} s"


def training_table(checkpoints: Mapping[str, Any]) -> pd.DataFrame:
    """One row per method: the measured checkpoint's training time, data and size beside the paper's.

    Args:
        checkpoints: method key -> :class:`~lt_core.paper.CheckpointInfo` or ``.pt`` path (``None`` skipped).

    Returns:
        Columns ``method, checkpoint, training time (this run), training data, crop (px), volume, parameters,
        paper: crop (px), paper: volume, paper: parameters``.
    """
    rows = []
    for method, ckpt in checkpoints.items():
        if ckpt is None:
            continue
        f = training_facts(ckpt)
        volume = f"{f.volume_size}^3 over {f.cuboid_side / 1000:.2g} m" if f.volume_size else "-"
        paper_volume = (f"{PAPER_SETUP['volume_size']}^3 over {PAPER_SETUP['cuboid_side'] / 1000:.2g} m"
                        if method == "volumetric" else "-")
        rows.append({"method": method, "checkpoint": f.checkpoint,
                     "training time (this run)": f"{_duration(f.pipeline_s)} ({f.steps} steps in its own stage)",
                     "training data": f"{f.frames} rendered frames ({f.images} crops) of {f.clips} clips",
                     "crop (px)": f.image_size, "volume": volume, "parameters": f.parameters,
                     "paper: crop (px)": PAPER_SETUP["image_size"], "paper: volume": paper_volume,
                     "paper: parameters": paper_parameters(method if method in _METHOD_MODEL else "algebraic")})
    return pd.DataFrame(rows)


def training_caption(checkpoints: Mapping[str, Any], device: str = "a 2-core CPU") -> str:
    """One sentence per measured method for a caption: how long, on what, how big -- beside the paper's setup.

    Args:
        checkpoints: method key -> :class:`~lt_core.paper.CheckpointInfo` or ``.pt`` path (``None`` skipped).
        device: where the checkpoints were trained, in words.

    Returns:
        Text such as ``"Training of the measured models: volumetric 95 min (every stage it builds on, rendering
        included; a 2-core CPU, 1 torch thread), 14,000 rendered frames (56,000 crops) of 42 motion clips, 128 px
        crops, 16^3 voxels over 2.2 m, 1,393,474 parameters; ... Paper: ResNet-152 ..., 384 px crops, 64^3 voxels
        over 2.5 m, parameters 80,588,050 (volumetric); trained on real Human3.6M images of ..."``; empty without
        checkpoints.
    """
    parts, paper = [], []
    for method, ckpt in checkpoints.items():
        if ckpt is None:
            continue
        f = training_facts(ckpt)
        threads = f", {f.threads} torch thread{'s' if f.threads > 1 else ''}" if f.threads else ""
        volume = f", {f.volume_size}^3 voxels over {f.cuboid_side / 1000:.2g} m" if f.volume_size else ""
        parts.append(f"{method} {_duration(f.pipeline_s)} (every stage it builds on, rendering included; {device}"
                     f"{threads}), {f.frames:,} rendered frames ({f.images:,} crops) of {f.clips} motion clips, "
                     f"{f.image_size} px crops{volume}, {f.parameters:,} parameters")
        paper.append(f"{paper_parameters(method if method in _METHOD_MODEL else 'algebraic'):,} ({method})")
    if not parts:
        return ""
    return ("Training of the measured models: " + "; ".join(parts) + ". Paper: " + PAPER_SETUP["backbone"] +
            f", {PAPER_SETUP['image_size']} px crops, {PAPER_SETUP['volume_size']}^3 voxels over "
            f"{PAPER_SETUP['cuboid_side'] / 1000:.2g} m, parameters " + ", ".join(paper) + "; trained on "
            + PAPER_SETUP["data"] + ".")
