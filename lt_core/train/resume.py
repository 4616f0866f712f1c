"""Exact resumption of training runs: what a checkpoint holds and how a run continues from it.

A trainer checkpoint (format :data:`CHECKPOINT_FORMAT`) stores the model, optimizer and GradScaler states, every
random generator's state (one per rank under DDP), the position in the run (step, epoch, batch within the epoch),
the best validation relative MPJPE (mm) so far, the last validation metrics and the config. A run resumed from it
takes the same steps as an uninterrupted run, provided nothing that changes results differs: only the fields in
:data:`RESUME_FREE_KEYS` may change on resume, any other change raises :class:`ConfigChangedError`.

Two guards keep the saved state consistent: :func:`_defer_sigint` holds Ctrl-C back while the optimizer updates,
and :func:`_isolated_rng` runs a block (validation) without moving the generators.

:class:`CheckpointMixin` carries the checkpoint methods of :class:`lt_core.train.loop.Trainer`.
"""

from __future__ import annotations

import contextlib
import math
import signal
import threading
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch

from lt_core.train.checkpoint import CheckpointError, atomic_save, load_checkpoint, rng_state, set_rng_state
from lt_core.train.distributed import barrier

__all__ = ["CHECKPOINT_FORMAT", "RESUME_FREE_KEYS", "ConfigChangedError", "CheckpointMixin"]

CHECKPOINT_FORMAT = "lt_core.train/1"

RESUME_FREE_KEYS = frozenset(
    {
        "name",
        "out_dir",
        "resume",
        "epochs",
        "max_steps",
        "progress",
        "num_workers",
        "log_every",
        "checkpoint_every",
        "val_every",
        "val_max_samples",
        "device",
        "allow_config_change",
    }
)
"""Config fields a resumed run may change (where and how long it runs, logging); any other change is refused."""


class ConfigChangedError(ValueError):
    """Resuming a checkpoint under a config that differs in a field that changes results (seed, learning rate...)."""


@contextlib.contextmanager
def _defer_sigint() -> Iterator[None]:
    """Delay Ctrl-C until the block ends (only possible in the main thread; elsewhere a no-op)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    received: list[Any] = []
    previous = signal.getsignal(signal.SIGINT)
    try:
        signal.signal(signal.SIGINT, lambda sig, frame: received.append(sig))
    except (ValueError, TypeError):  # pragma: no cover - e.g. embedded interpreters
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
        if received:
            raise KeyboardInterrupt


@contextlib.contextmanager
def _isolated_rng() -> Iterator[None]:
    """Run a block without disturbing the python / numpy / torch (CPU and CUDA) generators."""
    state = rng_state()
    try:
        yield
    finally:
        set_rng_state(state)


class CheckpointMixin:
    """Checkpoint methods of :class:`~lt_core.train.loop.Trainer`: state, save, load, resume, export.

    The host class provides ``cfg`` (:class:`~lt_core.train.config.TrainConfig`), ``env``, ``device``, ``is_main``,
    ``run_dir``, ``raw_model``, ``optimizer``, ``scaler``, ``logger``, ``version``, ``step``, ``epoch``,
    ``batch_in_epoch``, ``best`` (mm), ``last_val`` and ``_step_rng`` (generator states at the start of the step in
    flight, or ``None``).
    """

    def state_dict(self, collective: bool = True) -> dict[str, Any]:
        """Everything needed to continue the run exactly.

        Args:
            collective: under DDP gather every rank's generator states (all ranks must call); ``False`` stores this
                rank's only (used when interrupted).
        """
        rng = rng_state() if self._step_rng is None else self._step_rng
        rngs = [rng]
        if self.env.distributed and collective:
            import torch.distributed as dist

            rngs = [None] * self.env.world_size
            dist.all_gather_object(rngs, rng)
        return {
            "format": CHECKPOINT_FORMAT,
            "model": self.raw_model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "scaler": self.scaler.state_dict(),
            "rng": rngs,
            "step": self.step,
            "epoch": self.epoch,
            "batch_in_epoch": self.batch_in_epoch,
            "best": self.best,
            "last_val": self.last_val,
            "config": self.cfg.to_dict(),
            "convention": self.cfg.convention,
            "world_size": self.env.world_size,
            "code_version": self.version,
            "torch_version": torch.__version__,
        }

    def _resume(self, candidates: list[Path]) -> None:
        """Load the first readable checkpoint of ``candidates`` (``last.pt``, then ``last.prev.pt``)."""
        failures = []
        for c in candidates:
            try:
                self.load_checkpoint(c)
            except CheckpointError as e:
                failures.append(str(e))
                continue
            if failures:
                warnings.warn(f"resumed from {c} because {failures[0]}", RuntimeWarning, stacklevel=3)
            return
        if failures:
            raise CheckpointError("no checkpoint to resume from: " + "; ".join(failures))

    def _check_resume_config(self, path: str | Path, saved: dict[str, Any]) -> None:
        """Refuse to continue a run under settings that change its results (seed, learning rates, model...)."""
        if self.cfg.allow_config_change:
            return
        now = self.cfg.to_dict()
        changed = [k for k in sorted(set(saved) & set(now)) if k not in RESUME_FREE_KEYS and saved[k] != now[k]]
        if changed:
            diff = ", ".join(f"{k}: {saved[k]!r} -> {now[k]!r}" for k in changed)
            raise ConfigChangedError(
                f"{path} was written with other settings ({diff}); resuming would mix two runs. "
                "Start a fresh run (another name or out_dir), or set allow_config_change=true "
                "to continue anyway"
            )

    def save_checkpoint(self, path: str | Path | None = None) -> Path | None:
        """Write the checkpoint atomically (rank 0 only; every rank must call it under DDP).

        Args:
            path: destination (default ``run_dir/last.pt``).

        Returns:
            The path written on rank 0, ``None`` elsewhere.
        """
        state = self.state_dict()
        path = Path(path) if path is not None else self.run_dir / "last.pt"
        out = atomic_save(state, path, keep_previous=path.name == "last.pt") if self.is_main else None
        barrier(self.env)
        return out

    def load_checkpoint(self, path: str | Path) -> None:
        """Restore a checkpoint written by :meth:`save_checkpoint` and drop log rows written after it."""
        ckpt = load_checkpoint(path, map_location=self.device)
        if ckpt.get("format") != CHECKPOINT_FORMAT:
            raise ValueError(f"{path} is not a trainer checkpoint (format {ckpt.get('format')!r})")
        missing = [
            k for k in ("model", "optimizer", "scaler", "rng", "step", "epoch", "batch_in_epoch") if k not in ckpt
        ]
        if missing:
            raise CheckpointError(f"{path} is an incomplete trainer checkpoint: no {missing}")
        self._check_resume_config(path, ckpt.get("config", {}))
        self.raw_model.load_state_dict(ckpt["model"])
        self.optimizer.load_state_dict(ckpt["optimizer"])
        self.scaler.load_state_dict(ckpt["scaler"])
        self.step, self.epoch, self.batch_in_epoch = ckpt["step"], ckpt["epoch"], ckpt["batch_in_epoch"]
        self.best, self.last_val = ckpt.get("best", math.inf), ckpt.get("last_val", {})
        rngs = ckpt["rng"]
        set_rng_state(rngs[self.env.rank] if len(rngs) == self.env.world_size else rngs[0])
        self.logger.truncate_after(self.step)

    def export(self, path: str | Path, metrics: dict[str, Any] | None = None) -> Path | None:
        """Write a slim checkpoint (model weights, config, code version, metrics; no optimizer) on rank 0."""
        if not self.is_main:
            return None
        return atomic_save(
            {
                "format": CHECKPOINT_FORMAT + "-export",
                "model": self.raw_model.state_dict(),
                "config": self.cfg.to_dict(),
                "convention": self.cfg.convention,
                "step": self.step,
                "epoch": self.epoch,
                "metrics": metrics if metrics is not None else self.last_val,
                "code_version": self.version,
                "torch_version": torch.__version__,
            },
            path,
        )
