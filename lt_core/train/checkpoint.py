"""Atomic checkpoint files, a previous-checkpoint fallback, verified loading and random-generator state capture.

:func:`atomic_save` writes to a temporary file in the destination folder, flushes it to disk and renames it over
the destination with :func:`os.replace`, so a reader (or a resumed run) sees either the old file or the complete
new one, never a partial file, even when the process dies during the write. With ``keep_previous=True`` the file it
replaces survives as ``<stem>.prev<suffix>`` (``last.pt`` -> ``last.prev.pt``): a checkpoint damaged later (a
disk error, a copy cut short) still leaves one to resume from (:func:`checkpoint_candidates`).

:func:`load_checkpoint` names the file in every failure (:class:`CheckpointError`): truncated or corrupt archives,
foreign files, missing fields. :func:`clean_stale_temp_files` removes the temporary files that a process killed
during a write leaves behind.
"""

from __future__ import annotations

import errno
import os
import random
import shutil
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

__all__ = [
    "atomic_save",
    "atomic_write_text",
    "rng_state",
    "set_rng_state",
    "seed_everything",
    "load_checkpoint",
    "strip_module_prefix",
    "CheckpointError",
    "CheckpointWriteError",
    "previous_path",
    "checkpoint_candidates",
    "clean_stale_temp_files",
]


class CheckpointError(RuntimeError):
    """A checkpoint cannot be written or read (truncated, corrupt, foreign, disk full); the message names the file."""


class CheckpointWriteError(CheckpointError, OSError):
    """Writing a checkpoint failed (disk full, read-only folder); the previous file is unchanged."""


def previous_path(path: str | Path) -> Path:
    """Where :func:`atomic_save` with ``keep_previous=True`` keeps the replaced file
    (``last.pt`` -> ``last.prev.pt``)."""
    p = Path(path)
    return p.with_name(f"{p.stem}.prev{p.suffix}")


def checkpoint_candidates(path: str | Path) -> list[Path]:
    """The checkpoint and its kept previous version, in the order to try them (existing files only)."""
    return [p for p in (Path(path), previous_path(path)) if p.is_file()]


def clean_stale_temp_files(folder: str | Path, older_than_s: float = 0.0) -> list[Path]:
    """Delete temporary files of interrupted atomic writes (``.<name>.<random>.tmp``) in ``folder``.

    Args:
        folder: a run directory.
        older_than_s: keep files modified within this many seconds (a write that may still be in progress).

    Returns:
        The deleted paths.
    """
    d = Path(folder)
    removed = []
    if not d.is_dir():
        return removed
    now = time.time()
    for f in d.glob(".*.tmp"):
        try:
            if f.is_file() and now - f.stat().st_mtime >= older_than_s:
                f.unlink()
                removed.append(f)
        except FileNotFoundError:
            pass
    return removed


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _keep_previous(path: Path) -> None:
    """Make ``previous_path(path)`` a copy of ``path`` without a moment where neither exists (hard link + rename)."""
    if not path.is_file():
        return
    prev = previous_path(path)
    fd, staged = tempfile.mkstemp(prefix=f".{prev.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    os.unlink(staged)
    try:
        os.link(path, staged)
    except OSError:  # no hard links on this file system: copy
        shutil.copy2(path, staged)
    os.replace(staged, prev)


def _write_failed(path: Path, exc: BaseException) -> CheckpointWriteError:
    try:
        free = f"{shutil.disk_usage(path.parent).free / 2**20:.0f} MiB free"
    except OSError:
        free = "free space unknown"
    full = isinstance(exc, OSError) and exc.errno == errno.ENOSPC
    hint = "the disk is full" if full else "is the disk full or the folder read-only?"
    return CheckpointWriteError(
        f"could not write {path} ({type(exc).__name__}: {exc}); {hint} ({free} in "
        f"{path.parent}). The previous file, if any, is unchanged"
    )


def _atomic_write(
    path: str | Path, write: Callable[[Any], None], mode: str = "wb", keep_previous: bool = False
) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp creates 0600; give the usual permissions
        try:
            with os.fdopen(fd, mode) as f:
                write(f)
                f.flush()
                os.fsync(f.fileno())
        except (OSError, RuntimeError) as e:  # torch reports a failed write as RuntimeError ("enforce fail")
            raise _write_failed(path, e) from e
        if keep_previous:
            _keep_previous(path)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    return path


def atomic_save(obj: Any, path: str | Path, keep_previous: bool = False) -> Path:
    """``torch.save`` ``obj`` to ``path`` atomically (temporary file + ``os.replace``).

    Args:
        obj: anything ``torch.save`` accepts.
        path: destination; its folder is created if needed.
        keep_previous: keep the file being replaced as :func:`previous_path` (``last.prev.pt``).

    Returns:
        The destination path. On any exception the destination is untouched and no temporary file remains.

    Raises:
        CheckpointWriteError: the write failed (an ``OSError`` too: disk full, read-only folder); the message names
            the file and the free space.
    """
    return _atomic_write(path, lambda f: torch.save(obj, f), keep_previous=keep_previous)


def atomic_write_text(text: str, path: str | Path) -> Path:
    """Write a text file atomically (used for ``manifest.json``)."""
    return _atomic_write(path, lambda f: f.write(text), mode="w")


def rng_state() -> dict[str, Any]:
    """States of the python, numpy, torch CPU and (when present) every CUDA generator."""
    state: dict[str, Any] = {
        "python": random.getstate(),
        "numpy": np.random.get_state(),
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    """Restore what :func:`rng_state` captured (CUDA states only when CUDA is available)."""
    random.setstate(state["python"])
    np.random.set_state(state["numpy"])
    torch.set_rng_state(state["torch"].cpu() if hasattr(state["torch"], "cpu") else state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        cuda = state["cuda"]
        if len(cuda) == torch.cuda.device_count():
            torch.cuda.set_rng_state_all([s.cpu() for s in cuda])


def seed_everything(seed: int) -> None:
    """Seed python, numpy and torch (CPU and CUDA) generators."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    if torch.cuda.is_available():
        torch.cuda.manual_seed_all(seed)


def strip_module_prefix(state_dict: dict[str, Any]) -> dict[str, Any]:
    """Remove the ``module.`` prefix that DistributedDataParallel adds to parameter names."""
    if state_dict and all(k.startswith("module.") for k in state_dict):
        return {k[len("module.") :]: v for k, v in state_dict.items()}
    return state_dict


def load_checkpoint(
    path: str | Path, map_location: str | torch.device = "cpu", require: Sequence[str] = ()
) -> dict[str, Any]:
    """Load a checkpoint written by the trainer (or by :func:`atomic_save`) and check it.

    The file holds python and numpy RNG states, so it is loaded with ``weights_only=False``: only load files you
    trust.

    Args:
        path: the ``.pt`` file.
        map_location: device for the tensors.
        require: top-level keys the checkpoint must have (e.g. ``("model", "config")``).

    Raises:
        FileNotFoundError: no such file.
        CheckpointError: the file is truncated, corrupt or not a checkpoint, or lacks a required key; the message
            names the file and says whether a previous version (``last.prev.pt``) exists to fall back to.
    """
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"checkpoint not found: {p}")
    prev = previous_path(p)
    fallback = f"; the previous checkpoint {prev} may be intact" if prev.is_file() and prev != p else ""
    try:
        ckpt = torch.load(p, map_location=map_location, weights_only=False)
    except Exception as e:  # noqa: BLE001 - EOFError, UnpicklingError, RuntimeError, OSError... all mean unreadable
        size = p.stat().st_size
        raise CheckpointError(f"{p} is truncated or corrupt ({size} bytes; {type(e).__name__}: {e}){fallback}") from e
    if not isinstance(ckpt, dict):
        raise CheckpointError(f"{p} is not a checkpoint: it holds a {type(ckpt).__name__}, not a dict{fallback}")
    missing = [k for k in require if k not in ckpt]
    if missing:
        raise CheckpointError(f"{p} lacks {missing} (keys: {sorted(ckpt)[:12]}){fallback}")
    if "model" in ckpt:
        if not isinstance(ckpt["model"], dict):
            raise CheckpointError(f"{p}: field 'model' is a {type(ckpt['model']).__name__}, not a state dict")
        ckpt["model"] = strip_module_prefix(ckpt["model"])
    return ckpt
