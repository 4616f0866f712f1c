"""One training loop for the algebraic, volumetric and RANSAC-backbone models.

:class:`Trainer` runs Adam with per-group learning rates, mixed precision with a GradScaler on CUDA, gradient
clipping, tqdm bars, CSV (and TensorBoard) logs, validation with the reference metrics every epoch, atomic
checkpoints and a ``manifest.json``. It works in one process or under ``torchrun`` (DDP; rank 0 writes files).

Exact resumption: a checkpoint holds the model, optimizer, scaler, every random generator's state (per rank), the
step, epoch and position in the epoch, and the config. The data order depends only on ``(seed, epoch)`` and the
dataset's own randomness only on ``(seed, epoch, index)`` (:mod:`lt_core.train.batching`); validation runs with
forked generators. So a run resumed from the checkpoint of step ``N`` takes the same steps ``N + 1, N + 2, ...`` as
an uninterrupted run (bit for bit on CPU). The checkpoint contents and the resume checks are in
:mod:`lt_core.train.resume`.

Failure: rows of ``train.csv`` / ``val.csv`` are flushed as they are written; ``Ctrl-C`` (KeyboardInterrupt)
saves ``last.pt`` at the last completed step (the optimizer update itself is shielded from SIGINT) and marks the
manifest ``interrupted``; any other exception leaves the last checkpoint as it was and marks the manifest
``failed``.

Files of a run (``config.run_dir``)::

    manifest.json   config, seed, code version, torch version, device, status, metrics
    train.csv       step, epoch, loss (+ parts), lr per group, grad_norm, samples_per_s, ...
    val.csv         step, epoch, mpjpe_abs, mpjpe_rel, pa_mpjpe, frames
    last.pt         latest checkpoint (resume from it); best.pt lowest validation relative MPJPE
"""

from __future__ import annotations

import math
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn
from torch.utils.data import DataLoader, Dataset

from lt_core.train.batching import SeededDataset, SkipSampler, batch_size_of, collate, move_batch
from lt_core.train.checkpoint import (
    atomic_save,
    checkpoint_candidates,
    clean_stale_temp_files,
    rng_state,
    seed_everything,
)
from lt_core.train.config import TrainConfig
from lt_core.train.distributed import (
    DistEnv,
    all_reduce_mean,
    broadcast_object,
    make_sampler,
    resolve_device,
    unwrap_model,
    wrap_model,
)
from lt_core.train.factory import (
    build_dataset,
    build_loss,
    build_model,
    forward_model,
    init_from_checkpoint,
    param_groups,
)
from lt_core.train.records import MetricLogger, code_version, write_manifest
from lt_core.train.resume import (
    CHECKPOINT_FORMAT,
    RESUME_FREE_KEYS,
    CheckpointMixin,
    ConfigChangedError,
    _defer_sigint,
    _isolated_rng,
)

__all__ = ["Trainer", "train", "CHECKPOINT_FORMAT", "ConfigChangedError", "RESUME_FREE_KEYS"]

LossFn = Callable[[dict[str, Tensor], dict[str, Any]], tuple[Tensor, dict[str, float]]]


class Trainer(CheckpointMixin):
    """Train a model described by a :class:`TrainConfig`.

    Args:
        config: the run configuration.
        model: the network (built from the config when ``None``). Seeding happens before building it, so the
            initial weights depend only on ``config.seed``.
        train_dataset: training samples in the sample format (built from the config when ``None``).
        val_dataset: validation samples (built from ``config.val_split`` when ``None`` and the split is set;
            pass ``False`` for no validation).
        loss_fn: ``loss_fn(output, batch) -> (loss, parts)`` (from the config when ``None``).
        env: distributed environment (single process on ``config.device`` when ``None``).
        root_model: algebraic model giving the cuboid centre for volumetric validation (else ``config.root_source``).
    """

    def __init__(
        self,
        config: TrainConfig,
        model: nn.Module | None = None,
        train_dataset: Dataset | None = None,
        val_dataset: Dataset | None | bool = None,
        loss_fn: LossFn | None = None,
        env: DistEnv | None = None,
        root_model: nn.Module | None = None,
    ) -> None:
        if config.kind == "ransac" and config.epochs > 0 and config.max_steps != 0:
            raise ValueError(
                "the RANSAC baseline has no trainable loss (hard argmax): train its backbone with "
                "model='algebraic' (loss 'keypoints_2d' or 'algebraic'), then evaluate "
                "model='ransac' with init_from=<that checkpoint>"
            )
        self.cfg = config
        self.env = env if env is not None else DistEnv(device=resolve_device(config.device))
        self.device = self.env.device
        self.is_main = self.env.is_main
        if config.deterministic:
            torch.use_deterministic_algorithms(True, warn_only=True)
        seed_everything(config.seed)
        model = model if model is not None else build_model(config)
        if config.init_from:
            init_from_checkpoint(model, config.init_from)
        self.model = wrap_model(model, self.env, sync_bn=config.sync_bn)
        self.raw_model = unwrap_model(self.model)
        self.optimizer = torch.optim.Adam(param_groups(self.raw_model, config), weight_decay=config.weight_decay)
        for group in self.optimizer.param_groups:  # the schedule scales these (saved with the optimizer state)
            group["initial_lr"] = group["lr"]
        self.use_amp = (self.device.type == "cuda") if config.amp == "auto" else bool(config.amp)
        if self.use_amp and self.device.type != "cuda":
            raise ValueError("amp=True needs a CUDA device (mixed precision is float16 autocast + GradScaler)")
        self.scaler = torch.amp.GradScaler("cuda", enabled=self.use_amp)
        self.loss_fn = loss_fn if loss_fn is not None else build_loss(config)

        train_ds = train_dataset if train_dataset is not None else build_dataset(config, config.train_split)
        self.train_dataset = SeededDataset(train_ds, config.seed)
        if val_dataset is False:
            val_ds = None
        elif val_dataset is None and config.val_split:
            val_ds = build_dataset(config, config.val_split)
        else:
            val_ds = val_dataset or None
        self.val_dataset = SeededDataset(val_ds, config.seed + 1) if val_ds is not None else None
        self.sampler = make_sampler(self.train_dataset, self.env, shuffle=True, seed=config.seed)
        self.steps_per_epoch = len(self.sampler) // config.batch_size
        if self.steps_per_epoch == 0:
            raise ValueError(
                f"the training set gives {len(self.sampler)} samples per process, fewer than "
                f"batch_size={config.batch_size}: no full batch; lower batch_size"
            )
        self.root_model = root_model
        if self.root_model is None and config.root_source not in ("gt", ""):
            from lt_core.train.evaluate import load_trained_model

            self.root_model = load_trained_model(config.root_source, self.device)

        self.step = 0
        self.epoch = 0
        self.batch_in_epoch = 0
        self.best: float = math.inf
        self.last_val: dict[str, float] = {}
        self.last_train: dict[str, float] = {}
        self._step_rng: dict[str, Any] | None = None  # generator states at the start of the step in flight
        self.run_dir = config.run_dir
        self.logger = MetricLogger(self.run_dir, enabled=self.is_main)
        self.version = code_version() if self.is_main else {}
        self._started = time.time()
        if self.is_main:
            clean_stale_temp_files(self.run_dir)  # left by a process killed while writing a checkpoint
        if config.resume:
            path = self.run_dir / "last.pt" if config.resume == "auto" else Path(config.resume)
            candidates = checkpoint_candidates(path)
            if not candidates and config.resume != "auto":
                raise FileNotFoundError(f"resume checkpoint {path} does not exist")
            self._resume(candidates)

    # ------------------------------------------------------------------ properties
    @property
    def total_steps(self) -> int:
        """Optimizer steps the run will take (``epochs * steps_per_epoch`` capped by ``max_steps``)."""
        total = self.cfg.epochs * self.steps_per_epoch
        return min(total, self.cfg.max_steps) if self.cfg.max_steps is not None else total

    @property
    def done(self) -> bool:
        return self.step >= self.total_steps

    # ------------------------------------------------------------------ data
    def _loader(self) -> DataLoader:
        """DataLoader of the current epoch starting after the batches it has already consumed."""
        self.sampler.set_epoch(self.epoch)
        self.train_dataset.set_epoch(self.epoch)
        sampler = SkipSampler(self.sampler, self.batch_in_epoch * self.cfg.batch_size)
        gen = torch.Generator().manual_seed(self.cfg.seed * 1000003 + self.epoch)  # keeps the global RNG untouched
        return DataLoader(
            self.train_dataset,
            batch_size=self.cfg.batch_size,
            sampler=sampler,
            drop_last=True,
            num_workers=self.cfg.num_workers,
            collate_fn=collate,
            generator=gen,
            pin_memory=self.device.type == "cuda",
        )

    # ------------------------------------------------------------------ one step
    def compute_loss(self, batch: dict[str, Any]) -> tuple[Tensor, dict[str, float], dict[str, Tensor]]:
        """Forward (under autocast when AMP is on) and loss of one batch already on the device.

        Returns:
            ``(loss, parts, output)``.
        """
        with torch.autocast(device_type=self.device.type, dtype=torch.float16, enabled=self.use_amp):
            output = forward_model(self.model, batch)
            loss, parts = self.loss_fn(output, batch)
        return loss.float(), parts, output

    def backward(self, batch: dict[str, Any]) -> tuple[Tensor, dict[str, float]]:
        """Zero the gradients, then forward, loss and (scaled) backward of one batch (moved to the device here).

        Under DDP the gradients are averaged over processes, so they equal those of the combined batch when the
        loss is a mean over samples (and BatchNorm is synchronised or absent).
        """
        self.model.train()
        batch = move_batch(batch, self.device, non_blocking=True)
        self.optimizer.zero_grad(set_to_none=True)
        loss, parts, _ = self.compute_loss(batch)
        self.scaler.scale(loss).backward()
        return loss.detach(), parts

    def _clip_and_norm(self) -> float:
        self.scaler.unscale_(self.optimizer)
        params = [p for g in self.optimizer.param_groups for p in g["params"] if p.grad is not None]
        if not params:
            return 0.0
        max_norm = self.cfg.grad_clip if self.cfg.grad_clip else math.inf
        return float(torch.nn.utils.clip_grad_norm_(params, max_norm))

    def train_step(self, batch: dict[str, Any]) -> dict[str, float]:
        """One optimizer step on a collated batch; returns the logged scalars.

        A non-finite loss skips the update (the AMP scaler also skips steps with overflowing gradients).
        """
        t0 = time.perf_counter()
        self._step_rng = rng_state()
        factor = self.cfg.lr_factor(self.step, self.total_steps)
        for group in self.optimizer.param_groups:  # (checkpoints written before schedules existed lack initial_lr)
            group["lr"] = group.setdefault("initial_lr", group["lr"]) * factor
        loss, parts = self.backward(batch)
        grad_norm = self._clip_and_norm()
        finite = bool(torch.isfinite(loss)) and math.isfinite(grad_norm)
        with _defer_sigint():
            if finite or self.use_amp:
                self.scaler.step(self.optimizer)
                self.scaler.update()
            self.step += 1
            self.batch_in_epoch += 1
            self._step_rng = None
        dt = time.perf_counter() - t0
        b = batch_size_of(batch) * self.env.world_size
        loss_value = all_reduce_mean(loss, self.env)
        row = {
            "step": self.step,
            "epoch": self.epoch,
            "loss": loss_value,
            **parts,
            "grad_norm": grad_norm,
            "skipped": int(not finite),
            "samples_per_s": b / max(dt, 1e-9),
            "step_time_s": dt,
        }
        for g in self.optimizer.param_groups:
            row[f"lr_{g.get('name', 'group')}"] = g["lr"]
        if self.use_amp:
            row["amp_scale"] = float(self.scaler.get_scale())
        return row

    # ------------------------------------------------------------------ validation
    def validate(self) -> dict[str, float]:
        """Reference metrics on the validation set (rank 0 computes; generators are left untouched).

        Returns:
            ``{"mpjpe_abs", "mpjpe_rel", "pa_mpjpe", "frames", "frames_abs"}`` (mm), empty without a validation set.
        """
        if self.val_dataset is None:
            return {}
        summary: dict[str, float] = {}
        if self.is_main:
            from lt_core.train.evaluate import predict

            with _isolated_rng():
                preds = predict(
                    self.raw_model,
                    self.val_dataset,
                    device=self.device,
                    batch_size=self.cfg.batch_size,
                    root=self.root_model if self.root_model is not None else "gt",
                    max_samples=self.cfg.val_max_samples,
                    amp=self.use_amp,
                    progress=self._progress_enabled(),
                )
            summary = preds.evaluate().summary
            self.logger.log("val", {"step": self.step, "epoch": self.epoch, **summary})
        summary = broadcast_object(summary, self.env)  # every rank takes the same decisions (best.pt)
        self.last_val = summary
        self._validated_at = self.step
        return summary

    def _validate_once(self) -> dict[str, float]:
        """:meth:`validate`, unless this step was already validated (then its result)."""
        return self.last_val if getattr(self, "_validated_at", None) == self.step else self.validate()

    # ------------------------------------------------------------------ manifest / progress
    def write_manifest(self, status: str) -> None:
        """(Re)write ``manifest.json`` with the current status and metrics (rank 0)."""
        if not self.is_main:
            return
        metrics = {
            **{f"train_{k}": v for k, v in self.last_train.items() if k in ("loss",)},
            **{f"val_{k}": v for k, v in self.last_val.items()},
        }
        write_manifest(
            self.run_dir / "manifest.json",
            self.cfg.to_dict(),
            device=str(self.device),
            status=status,
            metrics=metrics,
            version=self.version,
            extra={
                "step": self.step,
                "epoch": self.epoch,
                "total_steps": self.total_steps,
                "steps_per_epoch": self.steps_per_epoch,
                "world_size": self.env.world_size,
                "amp": self.use_amp,
                "elapsed_s": round(time.time() - self._started, 3),
                "best_val_mpjpe_rel": None if math.isinf(self.best) else self.best,
                "parameters": sum(p.numel() for p in self.raw_model.parameters()),
            },
        )

    def _progress_enabled(self) -> bool:
        if not self.is_main:
            return False
        return sys.stderr.isatty() if self.cfg.progress is None else bool(self.cfg.progress)

    # ------------------------------------------------------------------ the loop
    def _end_epoch(self) -> None:
        """Validate when due, move to the next epoch and save ``last.pt`` (and ``best.pt`` when improved)."""
        val_due = self.cfg.val_every and (self.epoch + 1) % self.cfg.val_every == 0
        summary = self._validate_once() if (val_due or self.done) else {}
        self.epoch += 1
        self.batch_in_epoch = 0
        self._keep_best(summary)
        self.save_checkpoint()
        self.write_manifest("running")

    def _keep_best(self, summary: dict[str, float]) -> None:
        """Save ``best.pt`` when ``summary`` improves the best relative MPJPE."""
        rel = summary.get("mpjpe_rel", math.inf)
        if rel < self.best:
            self.best = rel
            self.save_checkpoint(self.run_dir / "best.pt")

    def fit(self) -> dict[str, Any]:
        """Train until ``epochs`` / ``max_steps``, validating every ``val_every`` epochs.

        Returns:
            ``{"step", "epoch", "train_loss", "val": {...}, "status"}``.
        """
        from tqdm.auto import tqdm

        self.write_manifest("running")
        cfg = self.cfg
        bar = tqdm(
            total=self.total_steps,
            initial=self.step,
            desc=cfg.name,
            disable=not self._progress_enabled(),
            dynamic_ncols=True,
        )
        status = "finished"
        try:
            while not self.done and self.epoch < cfg.epochs:
                if self.batch_in_epoch < self.steps_per_epoch:
                    for batch in self._loader():
                        row = self.train_step(batch)
                        self.last_train = row
                        if self.step % max(1, cfg.log_every) == 0 or self.done:
                            self.logger.log("train", row)
                        bar.update(1)
                        bar.set_postfix(epoch=self.epoch, loss=f"{row['loss']:.4g}")
                        if self.done or self.batch_in_epoch >= self.steps_per_epoch:
                            break
                        if cfg.checkpoint_every and self.step % cfg.checkpoint_every == 0:
                            self.save_checkpoint()
                        if cfg.val_every_steps and self.step % cfg.val_every_steps == 0:
                            self._keep_best(self.validate())
                if self.batch_in_epoch >= self.steps_per_epoch:
                    self._end_epoch()
                elif self.done:  # max_steps reached inside an epoch
                    if cfg.val_every or cfg.val_every_steps:
                        summary = self._validate_once()
                        self.best = min(self.best, summary.get("mpjpe_rel", math.inf))
                    self.save_checkpoint()
        except KeyboardInterrupt:
            status = "interrupted"
            if self.is_main:  # no collectives here: other ranks may be anywhere
                atomic_save(self.state_dict(collective=False), self.run_dir / "last.pt", keep_previous=True)
            self.write_manifest(status)
            raise
        except BaseException as exc:
            status = f"failed: {type(exc).__name__}: {exc}"
            self.write_manifest(status)
            raise
        finally:
            bar.close()
            self.logger.close()
        self.write_manifest(status)
        return {
            "step": self.step,
            "epoch": self.epoch,
            "train_loss": self.last_train.get("loss"),
            "val": dict(self.last_val),
            "status": status,
        }


def train(config: TrainConfig, **kwargs: Any) -> Trainer:
    """Build a :class:`Trainer` for ``config`` (keyword arguments as for the class), fit it and return it."""
    trainer = Trainer(config, **kwargs)
    trainer.fit()
    return trainer
