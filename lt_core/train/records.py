"""What a run leaves behind besides checkpoints: CSV metric logs, optional TensorBoard, ``manifest.json``.

CSV rows are appended and flushed one at a time, so a run that dies keeps every row written so far. When a run
resumes from a checkpoint taken at step ``s``, rows after ``s`` (written after that checkpoint by the interrupted
run) are dropped first, so the log reads as one uninterrupted run.
"""

from __future__ import annotations

import csv
import datetime as _dt
import json
import math
import platform
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

from lt_core.paths import code_version
from lt_core.train.checkpoint import atomic_write_text

__all__ = [
    "CsvLogger",
    "MetricLogger",
    "code_version",
    "write_manifest",
    "read_manifest",
]  # code_version: lt_core.paths


class CsvLogger:
    """Append rows of scalars to a CSV file; new keys extend the header (the file is rewritten once).

    Args:
        path: CSV file (created with its folder).
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.fields: list[str] = []
        if self.path.exists() and self.path.stat().st_size > 0:
            with self.path.open(newline="") as f:
                self.fields = next(csv.reader(f), [])

    def _rows(self) -> list[dict[str, str]]:
        if not self.path.exists():
            return []
        with self.path.open(newline="") as f:
            return list(csv.DictReader(f))

    def _rewrite(self, rows: list[dict[str, Any]]) -> None:
        import io

        buf = io.StringIO()
        w = csv.DictWriter(buf, fieldnames=self.fields, extrasaction="ignore")
        w.writeheader()
        w.writerows(rows)
        atomic_write_text(buf.getvalue(), self.path)

    def log(self, row: Mapping[str, Any]) -> None:
        """Append one row (values: numbers or strings; tensors are converted with ``.item()``)."""
        row = {k: _scalar(v) for k, v in row.items()}
        new = [k for k in row if k not in self.fields]
        if new:
            old = self._rows()
            self.fields = self.fields + new
            self._rewrite(old)
        with self.path.open("a", newline="") as f:
            csv.DictWriter(f, fieldnames=self.fields, extrasaction="ignore").writerow(row)

    def truncate_after(self, step: int, key: str = "step") -> None:
        """Drop rows whose ``key`` column is greater than ``step`` (used when resuming)."""
        if not self.path.exists() or not self.fields:
            return
        rows = [r for r in self._rows() if r.get(key) in (None, "") or float(r[key]) <= step]
        self._rewrite(rows)


def _scalar(v: Any) -> Any:
    if isinstance(v, torch.Tensor):
        return v.detach().item()
    return v


class MetricLogger:
    """Train and validation logs of one run: ``train.csv``, ``val.csv`` and TensorBoard events if installed.

    Args:
        run_dir: the run folder.
        enabled: ``False`` makes every call a no-op (non-zero ranks under DDP).
        tensorboard: write TensorBoard events when ``torch.utils.tensorboard`` imports.
    """

    def __init__(self, run_dir: str | Path, enabled: bool = True, tensorboard: bool = True) -> None:
        self.enabled = enabled
        self.run_dir = Path(run_dir)
        self.train = CsvLogger(self.run_dir / "train.csv") if enabled else None
        self.val = CsvLogger(self.run_dir / "val.csv") if enabled else None
        self.tb = None
        if enabled and tensorboard:
            try:
                from torch.utils.tensorboard import SummaryWriter  # optional dependency

                self.tb = SummaryWriter(str(self.run_dir / "tensorboard"))
            except Exception:
                self.tb = None

    def log(self, split: str, row: Mapping[str, Any]) -> None:
        """Write a row to ``<split>.csv`` (and TensorBoard as ``<split>/<key>`` at ``row['step']``)."""
        if not self.enabled:
            return
        (self.train if split == "train" else self.val).log(row)
        if self.tb is not None:
            step = int(row.get("step", 0))
            for k, v in row.items():
                v = _scalar(v)
                if k not in ("step", "epoch") and isinstance(v, (int, float)) and math.isfinite(v):
                    self.tb.add_scalar(f"{split}/{k}", v, step)
            self.tb.flush()

    def truncate_after(self, step: int) -> None:
        """Forget rows logged after ``step`` (resuming from a checkpoint taken at ``step``)."""
        if self.enabled:
            self.train.truncate_after(step)
            self.val.truncate_after(step)

    def close(self) -> None:
        if self.tb is not None:
            self.tb.close()


def write_manifest(
    path: str | Path,
    config: Mapping[str, Any],
    *,
    device: str,
    status: str,
    metrics: Mapping[str, Any] | None = None,
    extra: Mapping[str, Any] | None = None,
    version: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Write ``manifest.json`` (atomically) describing a run.

    Args:
        path: destination file.
        config: the run's config dict.
        device: device the run used (``"cpu"``, ``"cuda:0"``).
        status: ``"running"``, ``"finished"``, ``"interrupted"`` or ``"failed: <error>"``.
        metrics: latest / final metrics.
        extra: anything else (step, epoch, world size, timings).
        version: result of :func:`code_version` (computed when ``None``).

    Returns:
        The manifest dict.
    """
    manifest = {
        "config": dict(config),
        "seed": config.get("seed"),
        "code_version": dict(version) if version is not None else code_version(),
        "torch_version": torch.__version__,
        "python_version": sys.version.split()[0],
        "platform": platform.platform(),
        "device": device,
        "cuda": torch.version.cuda if torch.cuda.is_available() else None,
        "status": status,
        "updated": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "metrics": {k: _scalar(v) for k, v in (metrics or {}).items()},
        **(dict(extra) if extra else {}),
    }
    atomic_write_text(json.dumps(manifest, indent=2, default=str) + "\n", path)
    return manifest


def read_manifest(path: str | Path) -> dict[str, Any]:
    """Read a ``manifest.json``."""
    return json.loads(Path(path).read_text())
