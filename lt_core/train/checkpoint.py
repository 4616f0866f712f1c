"""Atomic checkpoint files and random-generator state capture.

:func:`atomic_save` writes to a temporary file in the destination folder, flushes it to disk and renames it over
the destination with :func:`os.replace`, so a reader (or a resumed run) sees either the old file or the complete
new one, never a partial file, even when the process dies during the write.
"""

from __future__ import annotations

import os
import random
import tempfile
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch

__all__ = ["atomic_save", "atomic_write_text", "rng_state", "set_rng_state", "seed_everything", "load_checkpoint",
           "strip_module_prefix"]


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _atomic_write(path: str | Path, write: Callable[[Any], None], mode: str = "wb") -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp creates 0600; give the usual permissions
        with os.fdopen(fd, mode) as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    return path


def atomic_save(obj: Any, path: str | Path) -> Path:
    """``torch.save`` ``obj`` to ``path`` atomically (temporary file + ``os.replace``).

    Args:
        obj: anything ``torch.save`` accepts.
        path: destination; its folder is created if needed.

    Returns:
        The destination path. On any exception the destination is untouched and no temporary file remains.
    """
    return _atomic_write(path, lambda f: torch.save(obj, f))


def atomic_write_text(text: str, path: str | Path) -> Path:
    """Write a text file atomically (used for ``manifest.json``)."""
    return _atomic_write(path, lambda f: f.write(text), mode="w")


def rng_state() -> dict[str, Any]:
    """States of the python, numpy, torch CPU and (when present) every CUDA generator."""
    state: dict[str, Any] = {"python": random.getstate(), "numpy": np.random.get_state(),
                             "torch": torch.get_rng_state()}
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
        return {k[len("module."):]: v for k, v in state_dict.items()}
    return state_dict


def load_checkpoint(path: str | Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Load a checkpoint written by the trainer (or by :func:`atomic_save`).

    The file holds python and numpy RNG states, so it is loaded with ``weights_only=False``: only load files you
    trust.
    """
    ckpt = torch.load(Path(path), map_location=map_location, weights_only=False)
    if isinstance(ckpt, dict) and "model" in ckpt:
        ckpt["model"] = strip_module_prefix(ckpt["model"])
    return ckpt
