"""How the measured models were trained, beside how the paper's were: training time, data and model size.

The embedded reproduction's errors are several times the paper's. This module puts numbers on the difference for
captions and tables (notebook 06): what each checkpoint's manifest (``data/checkpoints/<name>.json``, written by
``scripts/train_embedded.py``) records about its training -- seconds per stage, optimizer steps, parameters, input
and volume size -- and the training set its configuration describes, beside the paper's configuration. The
paper-scale parameter counts are counted from the models themselves (:meth:`lt_core.models.BackboneConfig.paper`,
:meth:`lt_core.models.V2VConfig.paper`: the released checkpoints' layout), built on the ``meta`` device (no memory,
no weights).
"""

from __future__ import annotations

import functools
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import torch

from lt_core.data.synthetic import SyntheticMultiViewDataset
from lt_core.models import AlgebraicTriangulationNet, BackboneConfig, V2VConfig, VolumetricTriangulationNet

__all__ = ["PAPER_SETUP", "TrainingFacts", "training_facts", "paper_parameters", "training_table", "training_caption"]

PAPER_SETUP: dict[str, Any] = {
    "backbone": "ResNet-152 backbone pretrained on 2D human pose",
    "image_size": 384,
    "volume_size": 64,
    "cuboid_side": 2500.0,
    "data": "real Human3.6M images of the five training subjects (S1, S5, S6, S7, S8), 4 cameras",
}
"""The paper's configuration (Iskakov et al., ICCV 2019, Section 4, and its released configs): crop side (px),
voxels per side, cuboid side (mm), training data."""


@dataclass(frozen=True)
class TrainingFacts:
    """What one checkpoint's manifest and configuration say about its training.

    Attributes:
        checkpoint: file name.
        method: method key (``"ransac"``, ``"algebraic"``, ``"algebraic_noconf"``, ``"volumetric"``).
        stage_s: seconds of the checkpoint's own training stage (NaN when not recorded; 0 for RANSAC, which trains
            nothing beyond its backbone).
        backbone_s: seconds of the 2D backbone stage it starts from (NaN when not found).
        steps: optimizer steps of its own stage (of the backbone stage for RANSAC).
        clips: training clips.
        frames: training frames (multi-view samples at the configured frame rate).
        views: views per training frame.
        image_size: crop side in pixels.
        parameters: parameters of the model.
        volume_size: voxels per cuboid side (0 for models without a volume).
        cuboid_side: cuboid side in mm (NaN without a volume).
        pipeline_s: seconds of the whole pipeline that produced it, as recorded by ``scripts/train_embedded.py``
            (rendering and every stage it builds on; NaN in older manifests, where :attr:`total_s` adds the
            backbone and own stages instead).
    """

    checkpoint: str
    method: str
    stage_s: float
    backbone_s: float
    steps: int
    clips: int
    frames: int
    views: int
    image_size: int
    parameters: int
    volume_size: int
    cuboid_side: float
    pipeline_s: float = float("nan")

    @property
    def total_s(self) -> float:
        """Seconds of every stage the model builds on: the recorded pipeline, else backbone stage + its own."""
        if not math.isnan(self.pipeline_s):
            return self.pipeline_s
        return self.backbone_s + (0.0 if math.isnan(self.stage_s) else self.stage_s)


def _manifest(path: Path) -> dict[str, Any]:
    manifest = path.with_suffix(".json")
    if not manifest.is_file():
        raise FileNotFoundError(f"no manifest {manifest.name} beside {path}: training facts are read from it")
    data = json.loads(manifest.read_text())
    for key in ("config", "parameters"):
        if key not in data:
            raise KeyError(f"{manifest}: the manifest has no {key!r}")
    return data


def _backbone_seconds(path: Path, stage: str | None) -> float:
    """Seconds of the 2D stage ``stage`` (e.g. ``"embedded_2d"``), read from the manifest beside ``path`` that
    exported it (the RANSAC checkpoint records ``backbone_from`` and the 2D stage's time)."""
    if not stage:
        return float("nan")
    for other in sorted(path.parent.glob("*.json")):
        data = json.loads(other.read_text())
        if data.get("backbone_from") == stage:
            return float(data.get("train_s", float("nan")))
    return float("nan")


@functools.cache
def _training_set(split: str, options: str) -> tuple[int, int, int]:
    ds = SyntheticMultiViewDataset(split, **json.loads(options))
    return len(ds.clips), len(ds), int(ds.num_views)


def training_facts(checkpoint: Any) -> TrainingFacts:
    """Read what a checkpoint's manifest and configuration say about its training.

    Args:
        checkpoint: a :class:`lt_core.train.methods.CheckpointInfo` or the path of an exported ``.pt`` trained on
            the embedded data (``dataset="synthetic"``).

    Raises:
        FileNotFoundError: no manifest beside the checkpoint (names the missing file).
        KeyError: the manifest lacks ``config`` or ``parameters``.
        ValueError: the checkpoint was not trained on the embedded data.
    """
    path = Path(getattr(checkpoint, "path", checkpoint))
    m = _manifest(path)
    cfg = m["config"]
    if cfg.get("dataset", "synthetic") != "synthetic":
        raise ValueError(f"{path.name}: trained on {cfg.get('dataset')!r}; training facts cover the embedded data")
    opts = cfg.get("model_options") or {}
    model = str(cfg.get("model", "algebraic"))
    method = {"algebraic": "algebraic" if opts.get("use_confidences", True) else "algebraic_noconf"}.get(model, model)
    if model == "ransac":  # exported beside its backbone stage: that stage is its training
        stage_s, backbone_s = 0.0, float(m.get("train_s", float("nan")))
    else:
        stage_s, backbone_s = float(m.get("train_s", float("nan"))), _backbone_seconds(path, m.get("init_from"))
        pipeline = list(m.get("pipeline") or [])
        if math.isnan(backbone_s) and "2d" in pipeline and path.stem.endswith(f"_{pipeline[-1]}"):
            # recorded as a chain of stages (2d -> alg_conf -> vol_softmax): the 2D stage of the same rig prefix
            backbone_s = _backbone_seconds(path, f"{path.stem[: -len(pipeline[-1]) - 1]}_2d")
    data = m.get("train_data")
    if data and all(k in data for k in ("clips", "frames", "views_per_frame")):  # recorded by the training script
        clips, frames, views = int(data["clips"]), int(data["frames"]), int(data["views_per_frame"])
    else:  # older manifests: rebuild the training set from the configuration
        data_opts = {k: v for k, v in (cfg.get("dataset_options") or {}).items() if k not in ("cache_dir",)}
        split, options = str(cfg.get("train_split", "train")), json.dumps(data_opts, sort_keys=True)
        clips, frames, views = _training_set(split, options)
    volumetric = model == "volumetric"
    return TrainingFacts(
        checkpoint=path.name,
        method=method,
        stage_s=stage_s,
        backbone_s=backbone_s,
        steps=int(m.get("train_steps", 0)),
        clips=clips,
        frames=frames,
        views=views,
        image_size=int(cfg.get("image_size", [0])[0]),
        parameters=int(m["parameters"]),
        volume_size=int(opts.get("volume_size", 64)) if volumetric else 0,
        cuboid_side=float(opts.get("cuboid_side", 2500.0)) if volumetric else float("nan"),
        pipeline_s=float(m.get("pipeline_s", float("nan"))),
    )


@functools.cache
def paper_parameters(method: str) -> int:
    """Parameters of the paper-scale model of a method (ResNet-152 backbone; the paper's V2V for volumetric),
    counted on the ``meta`` device.

    Raises:
        ValueError: an unknown method key.
    """
    if method not in ("ransac", "algebraic", "algebraic_noconf", "volumetric"):
        raise ValueError(f"unknown method {method!r}; known: ransac, algebraic, algebraic_noconf, volumetric")
    with torch.device("meta"):
        if method == "volumetric":
            model: torch.nn.Module = VolumetricTriangulationNet(BackboneConfig.paper(), V2VConfig.paper())
        else:
            model = AlgebraicTriangulationNet(BackboneConfig.paper(), use_confidences=method == "algebraic")
    return sum(p.numel() for p in model.parameters())


def _minutes(seconds: float) -> str:
    return "not recorded" if math.isnan(seconds) else f"{seconds / 60:.0f} min"


def _volume(size: int, side: float) -> str:
    return f"{size}^3 over {side / 1000:.2g} m" if size else "-"


def training_table(checkpoints: Mapping[str, Any]) -> pd.DataFrame:
    """One row per method: the measured checkpoint's training time, data and size beside the paper's.

    Args:
        checkpoints: method key -> :class:`~lt_core.train.methods.CheckpointInfo` or ``.pt`` path (``None`` entries
            are skipped).

    Returns:
        Columns ``method, checkpoint, training time, training data, crop (px), volume, parameters, paper: crop (px),
        paper: volume, paper: parameters``.
    """
    rows = []
    for method, ckpt in checkpoints.items():
        if ckpt is None:
            continue
        f = training_facts(ckpt)
        own = f", its own {f.steps} steps {_minutes(f.stage_s)}" if f.method != "ransac" else ""
        before = "rendering and earlier stages" if not math.isnan(f.pipeline_s) else "2D backbone"
        paper_volume = _volume(PAPER_SETUP["volume_size"], PAPER_SETUP["cuboid_side"]) if f.volume_size else "-"
        rows.append(
            {
                "method": method,
                "checkpoint": f.checkpoint,
                "training time": f"{_minutes(f.total_s)} ({before} {_minutes(f.total_s - (f.stage_s if own else 0))}"
                f"{own})",
                "training data": f"{f.frames:,} frames x {f.views} views of {f.clips} motion clips (rendered)",
                "crop (px)": f.image_size,
                "volume": _volume(f.volume_size, f.cuboid_side),
                "parameters": f.parameters,
                "paper: crop (px)": PAPER_SETUP["image_size"],
                "paper: volume": paper_volume,
                "paper: parameters": paper_parameters(f.method),
            }
        )
    return pd.DataFrame(rows)


def training_caption(checkpoints: Mapping[str, Any], device: str = "a 2-core CPU") -> str:
    """A caption sentence: how long, on what and how big the measured models are, beside the paper's setup.

    Args:
        checkpoints: method key -> :class:`~lt_core.train.methods.CheckpointInfo` or ``.pt`` path (``None`` entries
            are skipped).
        device: where the checkpoints were trained, in words.

    Returns:
        For example ``"Measured models: trained 23 min at most on a 2-core CPU (volumetric, 2D backbone stage
        included) on 1,485 rendered frames x 4 views of 5 motion clips, 128 px crops, 16^3 voxels over 2.2 m,
        0.8-1.4 M parameters. The paper: ResNet-152 ..., 384 px crops, 64^3 voxels over 2.5 m, 69-81 M parameters,
        trained on real Human3.6M images ..."``; empty when there are no checkpoints.
    """
    facts = [training_facts(c) for c in checkpoints.values() if c is not None]
    if not facts:
        return ""
    longest = max(facts, key=lambda f: f.total_s if not math.isnan(f.total_s) else -1.0)
    vol = next((f for f in facts if f.volume_size), None)
    ours = [f.parameters for f in facts]
    paper = [paper_parameters(f.method) for f in facts]
    volume = f", {vol.volume_size}^3 voxels over {vol.cuboid_side / 1000:.2g} m" if vol else ""
    size, side = PAPER_SETUP["volume_size"], PAPER_SETUP["cuboid_side"]
    paper_volume = f", {size}^3 voxels over {side / 1000:.2g} m" if vol else ""
    included = "rendering and every stage it builds on" if not math.isnan(longest.pipeline_s) else "2D backbone stage"
    return (
        f"Measured models: trained {_minutes(longest.total_s)} at most on {device} ({longest.method}, {included} "
        f"included) on {longest.frames:,} rendered frames x {longest.views} views of {longest.clips} motion "
        f"clips, {longest.image_size} px crops{volume}, {min(ours) / 1e6:.1f}-{max(ours) / 1e6:.1f} M parameters. "
        f"The paper: {PAPER_SETUP['backbone']}, {PAPER_SETUP['image_size']} px crops{paper_volume}, "
        f"{min(paper) / 1e6:.0f}-{max(paper) / 1e6:.0f} M parameters, trained on {PAPER_SETUP['data']}."
    )
