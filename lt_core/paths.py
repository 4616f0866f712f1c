"""Where the project's files are, and which version of the code is running.

The repository holds the ``lt_core`` package beside ``data/``, ``notebooks/`` and ``results/``; every module that
needs one of those folders asks here. ``$LT_DATA_DIR`` moves the data folder (a copy elsewhere, or a test's
temporary folder).
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Mapping
from pathlib import Path
from typing import Any

__all__ = ["REPO_ROOT", "data_dir", "data_path", "code_version", "code_version_text"]

REPO_ROOT: Path = Path(__file__).resolve().parents[1]
"""The repository: the folder holding ``lt_core/``, ``data/``, ``notebooks/`` and ``results/``."""


def data_dir() -> Path:
    """The project's data folder: ``$LT_DATA_DIR`` if set, else ``data/`` of the repository."""
    env = os.environ.get("LT_DATA_DIR")
    return Path(env) if env else REPO_ROOT / "data"


def data_path(*parts: str) -> Path:
    """A path inside :func:`data_dir` (``data_path("rigs", "human36m_like.json")``)."""
    return data_dir().joinpath(*parts)


def code_version(root: Path = REPO_ROOT) -> dict[str, Any]:
    """The running code's version: ``git_commit`` and ``git_dirty`` (tracked files changed) when ``root`` is a git
    checkout, and ``package_version`` (the installed distribution's, or ``None``)."""
    info: dict[str, Any] = {}
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True, timeout=20)
        if commit.returncode == 0:
            info["git_commit"] = commit.stdout.strip()
            status = subprocess.run(
                ["git", "status", "--porcelain", "--untracked-files=no"],
                cwd=root,
                capture_output=True,
                text=True,
                timeout=20,
            )
            info["git_dirty"] = bool(status.stdout.strip()) if status.returncode == 0 else None
    except (OSError, subprocess.SubprocessError):
        pass
    try:
        from importlib.metadata import version  # noqa: PLC0415

        info["package_version"] = version("lt-triangulation")
    except Exception:  # noqa: BLE001 - not installed as a distribution
        info["package_version"] = None
    return info


def code_version_text(info: Mapping[str, Any] | None = None) -> str:
    """:func:`code_version` in words for reports: ``"<commit>"``, ``"<commit> (with uncommitted changes)"`` or
    ``"unknown (not a git checkout)"``."""
    info = code_version() if info is None else info
    commit = info.get("git_commit")
    if not commit:
        return "unknown (not a git checkout)"
    return commit + (" (with uncommitted changes)" if info.get("git_dirty") else "")
