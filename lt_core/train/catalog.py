"""Catalogue of trained checkpoints on disk: what each file is, and which one to use per method.

This module only looks at files (building no model): :func:`find_checkpoints` walks folders for trainer
checkpoints and describes each by the configuration saved in it (:class:`CheckpointInfo`: method key, training
dataset and rig, views, input size in pixels, optimizer steps, pixel convention); :func:`pick_checkpoint` picks the
longest-trained one of a method (optionally of a rig and view count); :func:`checkpoints_table` lists them with the
display names of :data:`METHOD_NAMES`. Loading and running the models is :mod:`lt_core.train.methods`'s job.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from lt_core.train.checkpoint import load_checkpoint

__all__ = ["METHOD_NAMES", "CheckpointInfo", "find_checkpoints", "pick_checkpoint", "checkpoints_table"]

METHOD_NAMES: dict[str, str] = {
    "ransac": "RANSAC (hard-argmax 2D points)",
    "algebraic": "Algebraic (learned confidences)",
    "algebraic_noconf": "Algebraic (no confidences)",
    "volumetric": "Volumetric (softmax aggregation)",
    "volumetric_sum": "Volumetric (sum aggregation)",
    "volumetric_conf": "Volumetric (confidence aggregation)",
}
"""Display names of the method keys used in every table."""


@dataclass
class CheckpointInfo:
    """A trained checkpoint found on disk, described by the configuration saved in it.

    Attributes:
        path: the ``.pt`` file.
        model: ``"algebraic"``, ``"volumetric"`` or ``"ransac"``.
        method: method key (:data:`METHOD_NAMES`): ``algebraic`` / ``algebraic_noconf`` / ``volumetric`` /
            ``volumetric_sum`` / ``volumetric_conf``.
        dataset: the training dataset (``"synthetic"``, ``"human36m"``, ``"panoptic"``).
        rig: the embedded rig it was trained on (``"human36m"``, ``"dome"``, ``"custom"``), or the dataset name.
        views: views per training sample (``None``: all of the rig's).
        image_size: (W, H) network input.
        step: optimizer steps trained.
        config: the saved configuration (a dict).
    """

    @property
    def convention(self) -> str:
        """Pixel convention it was trained with (``"centres"`` for checkpoints written before it was recorded)."""
        return str(self.config.get("convention", "centres"))

    path: Path
    model: str
    method: str
    dataset: str
    rig: str
    views: int | None
    image_size: tuple[int, int]
    step: int
    config: dict[str, Any] = field(repr=False)


def _rig_of(cfg: Mapping[str, Any]) -> str:
    dataset = cfg.get("dataset", "synthetic")
    if dataset != "synthetic":
        return str(dataset)
    rig = str((cfg.get("dataset_options") or {}).get("rig", "human36m"))
    return {"h36m": "human36m", "human36m_like": "human36m", "panoptic": "dome", "panoptic_like_dome": "dome"}.get(
        rig, rig if rig in ("human36m", "dome") else "custom"
    )


def _method_of(cfg: Mapping[str, Any]) -> str:
    model = cfg.get("model", "algebraic")
    opts = cfg.get("model_options") or {}
    if model == "algebraic":
        return "algebraic" if opts.get("use_confidences", True) else "algebraic_noconf"
    if model == "volumetric":
        agg = opts.get("aggregation", opts.get("volume_aggregation", "softmax"))
        return "volumetric" if agg == "softmax" else f"volumetric_{agg}"
    return str(model)


def _preference(path: Path) -> int:
    """Within one folder: exported / named checkpoints first, then best.pt, last.pt, the kept last.prev.pt."""
    return {"best.pt": 1, "last.pt": 2, "last.prev.pt": 3}.get(path.name, 0)


def find_checkpoints(*folders: str | Path) -> list[CheckpointInfo]:
    """Trainer checkpoints (``lt_core.train`` format, with their config) under the given folders.

    Per folder holding several files, an exported/named checkpoint is preferred to ``best.pt``, and ``best.pt``
    to ``last.pt``; files that are not trainer checkpoints are skipped. Missing folders are ignored.

    Returns:
        One :class:`CheckpointInfo` per checkpoint, sorted by path.
    """
    found: list[CheckpointInfo] = []
    for folder in folders:
        if folder is None or not Path(folder).is_dir():
            continue
        by_dir: dict[Path, list[Path]] = {}
        for p in sorted(Path(folder).rglob("*.pt")):
            by_dir.setdefault(p.parent, []).append(p)
        for _folder, files in sorted(by_dir.items()):
            named = [p for p in files if _preference(p) == 0]
            chosen = named if named else sorted(files, key=_preference)[:1]
            for p in chosen:
                try:
                    ckpt = load_checkpoint(p)
                except Exception:  # noqa: BLE001 - not a checkpoint we can read
                    continue
                cfg = ckpt.get("config") if isinstance(ckpt, dict) else None
                if not isinstance(cfg, dict) or "model" not in ckpt:
                    continue
                size = tuple(int(v) for v in cfg.get("image_size", (128, 128)))
                found.append(
                    CheckpointInfo(
                        path=p,
                        model=str(cfg.get("model")),
                        method=_method_of(cfg),
                        dataset=str(cfg.get("dataset", "synthetic")),
                        rig=_rig_of(cfg),
                        views=cfg.get("views"),
                        image_size=size,  # type: ignore[arg-type]
                        step=int(ckpt.get("step", ckpt.get("train_steps", 0))),
                        config=cfg,
                    )
                )
    return sorted(found, key=lambda c: str(c.path))


def pick_checkpoint(
    checkpoints: Sequence[CheckpointInfo], method: str, rig: str | None = None, views: int | None | str = "any"
) -> CheckpointInfo | None:
    """The checkpoint of a method (and rig, and training view count when given) trained longest, or ``None``.

    Args:
        checkpoints: from :func:`find_checkpoints`.
        method: method key (``"algebraic"``, ``"volumetric"``, ...).
        rig: training rig (``"human36m"``, ``"dome"``) or ``None`` for any.
        views: ``"any"``; ``1`` for single-view models; ``"multi"`` for models not trained on one view.
    """
    pool = [c for c in checkpoints if c.method == method and (rig is None or c.rig == rig)]
    if views == "multi":
        pool = [c for c in pool if c.views != 1]
    elif views != "any":
        pool = [c for c in pool if c.views == views]
    return max(pool, key=lambda c: (c.step, str(c.path))) if pool else None


def checkpoints_table(checkpoints: Sequence[CheckpointInfo], root: str | Path | None = None) -> pd.DataFrame:
    """What was found: ``checkpoint, method, trained on, views, image size, steps, pixel convention`` (paths
    relative to ``root``)."""
    rows = []
    for c in checkpoints:
        try:
            shown = c.path.relative_to(Path(root)).as_posix() if root is not None else c.path.name
        except ValueError:
            shown = c.path.name
        rows.append(
            {
                "checkpoint": shown,
                "method": METHOD_NAMES.get(c.method, c.method),
                "trained on": c.rig,
                "views": "all" if c.views is None else c.views,
                "image size": f"{c.image_size[0]} x {c.image_size[1]}",
                "steps": c.step,
                "pixel convention": c.convention,
            }
        )
    return pd.DataFrame(
        rows, columns=["checkpoint", "method", "trained on", "views", "image size", "steps", "pixel convention"]
    )
