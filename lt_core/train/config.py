"""Training configuration: one flat dataclass, serialisable to a plain JSON dict.

Learning rates default to the paper's (docs/FORMATS.md, "The paper's released checkpoints"): Adam, algebraic
``1e-5`` for every parameter; volumetric ``1e-4`` for the backbone and ``1e-3`` for the heads (``process_features``
and ``volume_net``). Small CPU models trained from scratch need larger rates; set ``lr_backbone`` / ``lr_heads``.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from lt_core.conventions import check_convention
from lt_core.data.textio import read_text

__all__ = ["TrainConfig", "PAPER_LR", "load_config", "parse_override"]

PAPER_LR: dict[str, tuple[float, float]] = {
    "algebraic": (1e-5, 1e-5),
    "ransac": (1e-5, 1e-5),
    "volumetric": (1e-4, 1e-3),
}
"""Paper learning rates per model kind: (backbone, heads)."""

MODEL_KINDS = ("algebraic", "volumetric", "ransac")
LR_SCHEDULES = ("constant", "cosine")


@dataclass
class TrainConfig:
    """Everything a training run needs; ``to_dict``/``from_dict`` round-trip through JSON.

    Attributes:
        name: run name (default output folder ``runs/<name>``).
        model: ``"algebraic"``, ``"volumetric"``, ``"ransac"`` or ``"package.module:factory"`` (a callable taking
            the config and returning an ``nn.Module``).
        backbone: backbone size, ``"tiny"`` or ``"paper"``.
        v2v: V2V size for volumetric models, ``"tiny"`` or ``"paper"``.
        model_options: extra keyword arguments for the model constructor (e.g. ``use_confidences``,
            ``aggregation``, ``volume_size``, ``cuboid_side``; unknown keys raise).
        init_from: optional checkpoint whose model weights initialise the model (non-strict: shared names load).
        dataset: ``"synthetic"``, ``"human36m"``, ``"panoptic"`` or ``"package.module:factory"`` (a callable
            ``factory(config, split) -> Dataset``).
        dataset_options: keyword arguments for the dataset constructor (root path, rig, clips, ...).
        train_split / val_split: split names passed to the dataset factory (``val_split=None``: no validation).
        image_size: ``(W, H)`` network input size in pixels.
        views: number of views per sample (``None``: all the dataset provides).
        batch_size: samples per optimizer step *per process*.
        epochs: passes over the training set.
        max_steps: stop after this many optimizer steps in total (``None``: run all epochs).
        lr_backbone: Adam learning rate of the backbone (``None``: the paper's for ``model``).
        lr_heads: learning rate of everything else (volumetric ``process_features`` + ``volume_net``;
            ``None``: the paper's).
        weight_decay: Adam weight decay.
        grad_clip: max global gradient norm (``None`` or 0: no clipping).
        lr_schedule: learning-rate schedule over the run's optimizer steps: ``"constant"`` or ``"cosine"`` (half a
            cosine from each group's rate down to ``lr_final_factor`` times it at the last step).
        warmup_steps: linear warm-up from ``1 / warmup_steps`` of the rate over this many first steps (any schedule).
        lr_final_factor: the cosine schedule's last rate as a fraction of the initial one.
        loss: loss name for ``lt_core.losses.model_loss`` (``None``: the model kind's default), or one of the
            training package's own: ``"keypoints_2d"``, ``"heatmap_2d"`` (2D pretraining), ``"l1_cm"``.
        loss_options: keyword arguments of the loss (``model_loss``: ``scale``, ``ce_weight``;
            ``heatmap_2d``: ``sigma``, ``weight``, ``keypoints_weight``).
        seed: seed of every random generator (python, numpy, torch, CUDA) and of the data order.
        device: ``"cpu"``, ``"cuda"``, ``"cuda:1"`` or ``"auto"`` (CUDA when available).
        amp: mixed precision: ``"auto"`` (on when the device is CUDA), ``True`` or ``False``.
        num_workers: DataLoader worker processes.
        out_dir: output folder (``None``: ``runs/<name>``).
        log_every: write a CSV row every this many steps.
        checkpoint_every: save ``last.pt`` every this many steps (0: only at the end of each epoch / run).
        val_every: validate every this many epochs (0: never).
        val_every_steps: also validate every this many optimizer steps (0: only by epochs), for learning curves
            of short runs.
        val_max_samples: validate on at most this many samples (``None``: all).
        root_source: volumetric cuboid centre at validation, ``"gt"`` (GT pelvis) or a checkpoint path of an
            algebraic model whose predicted pelvis is used.
        sync_bn: convert BatchNorm to SyncBatchNorm under DDP (gradients then equal the combined-batch ones).
        progress: tqdm bars: ``None`` = only when stderr is a TTY.
        resume: ``None`` (start fresh), ``"auto"`` (resume from ``out_dir/last.pt`` if present, else from the
            kept ``last.prev.pt`` when ``last.pt`` is damaged) or a path.
        allow_config_change: resume even when the checkpoint was written under other settings (seed, learning
            rates, model...); by default that is refused, as it would silently mix two runs.
        deterministic: ask torch for deterministic algorithms (slower on CUDA).
        convention: pixel convention of the model and the dataset's cameras (:mod:`lt_core.conventions`):
            ``"centres"`` or ``"official"``; ``None`` resolves to ``"official"`` for the paper's configuration
            (``backbone="paper"``) and ``"centres"`` otherwise. Checkpoints record the resolved value; those
            written before the field existed load as ``"centres"`` (:meth:`from_saved`).
    """

    name: str = "run"
    model: str = "algebraic"
    backbone: str = "tiny"
    v2v: str = "tiny"
    model_options: dict[str, Any] = field(default_factory=dict)
    init_from: str | None = None
    dataset: str = "synthetic"
    dataset_options: dict[str, Any] = field(default_factory=dict)
    train_split: str = "train"
    val_split: str | None = "val"
    image_size: tuple[int, int] = (128, 128)
    views: int | None = None
    batch_size: int = 4
    epochs: int = 1
    max_steps: int | None = None
    lr_backbone: float | None = None
    lr_heads: float | None = None
    weight_decay: float = 0.0
    grad_clip: float | None = None
    lr_schedule: str = "constant"
    warmup_steps: int = 0
    lr_final_factor: float = 0.0
    loss: str | None = None
    loss_options: dict[str, Any] = field(default_factory=dict)
    seed: int = 0
    device: str = "auto"
    amp: bool | str = "auto"
    num_workers: int = 0
    out_dir: str | None = None
    log_every: int = 1
    checkpoint_every: int = 0
    val_every: int = 1
    val_every_steps: int = 0
    val_max_samples: int | None = None
    root_source: str = "gt"
    sync_bn: bool = False
    progress: bool | None = None
    resume: str | None = None
    allow_config_change: bool = False
    deterministic: bool = False
    convention: str | None = None

    def __post_init__(self) -> None:
        if self.convention is None:
            self.convention = "official" if self.backbone == "paper" else "centres"
        self.convention = check_convention(self.convention)
        if "convention" in self.model_options:
            raise ValueError("set the pixel convention with TrainConfig.convention, not model_options['convention']")
        self.image_size = tuple(int(v) for v in self.image_size)  # type: ignore[assignment]
        if len(self.image_size) != 2:
            raise ValueError(f"image_size must be (W, H), got {self.image_size}")
        if ":" not in self.model and self.model not in MODEL_KINDS:
            raise ValueError(f"model must be one of {MODEL_KINDS} or 'module:factory', got {self.model!r}")
        if self.backbone not in ("tiny", "paper") or self.v2v not in ("tiny", "paper"):
            raise ValueError(f"backbone / v2v must be 'tiny' or 'paper', got {self.backbone!r} / {self.v2v!r}")
        if self.batch_size < 1 or self.epochs < 0:
            raise ValueError("batch_size must be >= 1 and epochs >= 0")
        if self.val_every_steps < 0:
            raise ValueError(f"val_every_steps must be >= 0, got {self.val_every_steps}")
        if self.lr_schedule not in LR_SCHEDULES:
            raise ValueError(f"lr_schedule must be one of {LR_SCHEDULES}, got {self.lr_schedule!r}")
        if self.warmup_steps < 0 or not 0.0 <= self.lr_final_factor <= 1.0:
            raise ValueError(
                f"warmup_steps must be >= 0 and lr_final_factor in [0, 1], got {self.warmup_steps} and "
                f"{self.lr_final_factor}"
            )
        if self.amp not in ("auto", True, False):
            raise ValueError(f"amp must be 'auto', true or false, got {self.amp!r}")

    # ------------------------------------------------------------------ derived values
    @property
    def kind(self) -> str:
        """Model kind used for defaults (``"custom"`` for a ``module:factory`` model)."""
        return self.model if self.model in MODEL_KINDS else "custom"

    @property
    def learning_rates(self) -> tuple[float, float]:
        """Resolved ``(backbone, heads)`` learning rates."""
        paper = PAPER_LR.get(self.kind, PAPER_LR["algebraic"])
        return (
            self.lr_backbone if self.lr_backbone is not None else paper[0],
            self.lr_heads if self.lr_heads is not None else paper[1],
        )

    def lr_factor(self, step: int, total_steps: int) -> float:
        """Multiplier of every group's initial learning rate for the optimizer step taken after ``step`` steps.

        Args:
            step: steps already taken (0 for the first update).
            total_steps: steps of the whole run.

        Returns:
            ``min(1, (step + 1) / warmup_steps)`` times 1 (``"constant"``) or, for ``"cosine"``,
            ``f + (1 - f) (1 + cos(pi s / S)) / 2`` with ``f = lr_final_factor``, ``s = step + 1 - warmup_steps``
            and ``S = total_steps - warmup_steps`` (``f`` at the last step, decaying from the first step after the
            warm-up).
        """
        warm = min(1.0, (step + 1) / self.warmup_steps) if self.warmup_steps else 1.0
        if self.lr_schedule == "constant":
            return warm
        span = max(1, total_steps - self.warmup_steps)
        progress = min(1.0, max(0.0, (step + 1 - self.warmup_steps) / span))
        f = self.lr_final_factor
        return warm * (f + (1.0 - f) * 0.5 * (1.0 + math.cos(math.pi * progress)))

    @property
    def run_dir(self) -> Path:
        """Output folder of the run."""
        return Path(self.out_dir) if self.out_dir else Path("runs") / self.name

    # ------------------------------------------------------------------ serialisation
    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-compatible dict (tuples become lists)."""
        d = asdict(self)
        d["image_size"] = list(self.image_size)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> TrainConfig:
        """Build from a dict; unknown keys raise ``KeyError`` naming them and listing the valid ones."""
        names = {f.name for f in fields(cls)}
        unknown = sorted(set(d) - names)
        if unknown:
            raise KeyError(f"unknown TrainConfig keys {unknown}; valid keys are {sorted(names)}")
        return cls(**d)

    @classmethod
    def from_saved(cls, d: dict[str, Any]) -> TrainConfig:
        """Build from the config stored in a checkpoint or manifest; one written before the ``convention`` field
        existed was trained with the project's ``"centres"`` rules."""
        return cls.from_dict({"convention": "centres", **d})

    def to_json(self, path: str | Path | None = None) -> str:
        """JSON text of :meth:`to_dict`, also written to ``path`` when given."""
        text = json.dumps(self.to_dict(), indent=2, sort_keys=True)
        if path is not None:
            Path(path).write_text(text + "\n")
        return text

    def updated(self, **changes: Any) -> TrainConfig:
        """A copy with some fields changed."""
        return replace(self, **changes)


def parse_override(item: str) -> tuple[str, Any]:
    """Parse a ``key=value`` command-line override; the value is JSON when it parses, else a string.

    ``model_options.use_confidences=false`` sets one key inside a dict field.
    """
    if "=" not in item:
        raise ValueError(f"override must look like key=value, got {item!r}")
    key, raw = item.split("=", 1)
    try:
        value = json.loads(raw)
    except json.JSONDecodeError:
        value = raw
    return key.strip(), value


class ConfigError(ValueError):
    """A config file that is not a JSON object of TrainConfig fields; the message names the file."""


def _read_config(path: Path) -> dict[str, Any]:
    try:
        d = json.loads(read_text(path, ConfigError, "config file"))
    except json.JSONDecodeError as e:
        raise ConfigError(f"{path}: not valid JSON ({e.msg} at line {e.lineno}, column {e.colno})") from None
    except RecursionError:
        raise ConfigError(f"{path}: JSON nested too deeply") from None
    if not isinstance(d, dict):
        raise ConfigError(f"{path}: must hold a JSON object of TrainConfig fields, got {type(d).__name__}")
    return d


def load_config(path: str | Path | None = None, overrides: list[str] | None = None) -> TrainConfig:
    """Load a JSON config file (or the defaults) and apply ``key=value`` overrides.

    Args:
        path: JSON file holding a (possibly partial) :class:`TrainConfig` dict; ``None`` for the defaults.
        overrides: ``["epochs=2", "model_options.use_confidences=false", ...]``.
    """
    d: dict[str, Any] = _read_config(Path(path)) if path else {}
    for item in overrides or []:
        key, value = parse_override(item)
        if "." in key:
            outer, inner = key.split(".", 1)
            d.setdefault(outer, {})
            d[outer] = {**d[outer], inner: value}
        else:
            d[key] = value
    if not path:
        return TrainConfig.from_dict(d)
    try:
        return TrainConfig.from_dict(d)
    except (KeyError, ValueError, TypeError) as e:
        raise ConfigError(f"{path}: {e.args[0] if e.args else e}") from e
