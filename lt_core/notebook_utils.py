"""Small helpers shared by the notebooks: parameters, seeding, and writing figures and tables under ``results/``.

Layout of what the notebooks write (collected by :mod:`lt_core.reproduce` into ``REPRODUCTION.md``)::

    <OUT_DIR>/figures/<notebook>/<name>.png     matplotlib figures
    <OUT_DIR>/figures/<notebook>/<name>.html    plotly figures, standalone and offline (plotly.js embedded)
    <OUT_DIR>/tables/<notebook>/<name>.csv      tables
    <OUT_DIR>/tables/<notebook>/<name>.md       the same tables in Markdown, with their caption

Paths printed by these helpers are relative to ``OUT_DIR`` so notebook outputs never show machine paths.

The contract every notebook ``notebooks/NN_name.ipynb`` follows (checked by ``tests/test_notebooks.py``):

* one cell tagged ``parameters`` (papermill) defining at least::

      SIZE = os.environ.get("LT_NOTEBOOK_SIZE", "full")  # "smoke" or "full"
      SEED = 0
      OUT_DIR = os.environ.get("LT_RESULTS_DIR", "../results")

  plus dataset paths where relevant (relative to ``notebooks/``);
* imports from ``lt_core`` instead of redefining library code; calls :func:`check_size`, :func:`seed_everything`
  and ``lt_core.viz.setup_plotly()``; writes figures and tables through :class:`NotebookResults`;
* a ``smoke`` run takes about 30 s on 2 cores, a ``full`` run a few minutes;
* cells whose first line is ``# NBVAL_CHECK_OUTPUT`` print only deterministic, size-independent checks (they are
  compared by nbval against the committed outputs); nothing printed shows timings, memory addresses or machine paths;
* sliders go through ``lt_core.viz.slider_or_grid`` (static pictures when headless);
* the last Markdown cell is a "What we saw" summary;
* the committed file is executed top to bottom by ``scripts/build_notebooks.py`` (full size unless that takes too
  long; ``metadata.lt_core.executed_size`` records the size).
"""

from __future__ import annotations

import os
import random
from pathlib import Path
from typing import Any

import numpy as np
import torch

__all__ = ["SIZES", "SIZE_ENV", "RESULTS_ENV", "default_size", "default_out_dir", "check_size", "seed_everything",
           "markdown_table", "NotebookResults"]

SIZES = ("smoke", "full")
"""Run sizes: ``smoke`` (seconds, for tests) and ``full`` (the numbers reported)."""

SIZE_ENV = "LT_NOTEBOOK_SIZE"
"""Environment variable giving a notebook's default ``SIZE`` (the tests set ``smoke``)."""

RESULTS_ENV = "LT_RESULTS_DIR"
"""Environment variable giving a notebook's default ``OUT_DIR`` (the tests point it to a temporary folder)."""


def default_size(fallback: str = "full") -> str:
    """``$LT_NOTEBOOK_SIZE`` if set, else ``fallback``; validated by :func:`check_size`."""
    return check_size(os.environ.get(SIZE_ENV, fallback))


def default_out_dir(fallback: str = "../results") -> str:
    """``$LT_RESULTS_DIR`` if set, else ``fallback`` (relative to the notebooks folder)."""
    return os.environ.get(RESULTS_ENV, fallback)


def check_size(size: str) -> str:
    """Return ``size`` if it is ``"smoke"`` or ``"full"``, else raise ``ValueError``."""
    if size not in SIZES:
        raise ValueError(f"SIZE must be one of {SIZES}, got {size!r}")
    return size


def seed_everything(seed: int) -> torch.Generator:
    """Seed Python, NumPy and torch; return a torch generator seeded with ``seed`` for explicit use."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    return torch.Generator().manual_seed(seed)


def _cell(value: Any, floatfmt: str) -> str:
    if isinstance(value, (float, np.floating)):
        return "nan" if not np.isfinite(value) else format(float(value), floatfmt)
    if isinstance(value, (bool, np.bool_)):
        return "yes" if value else "no"
    return str(value).replace("|", "\\|")


def markdown_table(df: Any, floatfmt: str = ".2f", index: bool = False) -> str:
    """A pandas DataFrame as a GitHub Markdown table (no extra dependency).

    Args:
        df: the table.
        floatfmt: format of float cells.
        index: include the index as the first column.
    """
    frame = df.reset_index() if index else df
    cols = [str(c).replace("|", "\\|") for c in frame.columns]
    lines = ["| " + " | ".join(cols) + " |", "|" + "|".join("---" for _ in cols) + "|"]
    for row in frame.itertuples(index=False):
        lines.append("| " + " | ".join(_cell(v, floatfmt) for v in row) + " |")
    return "\n".join(lines)


class NotebookResults:
    """Writes one notebook's figures and tables under ``OUT_DIR``.

    Args:
        out_dir: the results folder (the notebook parameter ``OUT_DIR``).
        notebook: the notebook's name, e.g. ``"01_camera_geometry"`` (sub-folder of figures/ and tables/).
    """

    def __init__(self, out_dir: str | Path, notebook: str) -> None:
        self.root = Path(out_dir)
        self.notebook = notebook
        self.written: list[str] = []

    def _path(self, kind: str, name: str, suffix: str) -> Path:
        path = self.root / kind / self.notebook / f"{name}{suffix}"
        path.parent.mkdir(parents=True, exist_ok=True)
        return path

    def _record(self, path: Path) -> str:
        rel = path.relative_to(self.root).as_posix()
        self.written.append(rel)
        return rel

    def save_figure(self, fig: Any, name: str, dpi: int = 110) -> str:
        """Save a matplotlib figure as PNG or a plotly figure as standalone offline HTML.

        Returns:
            The path relative to ``OUT_DIR`` (e.g. ``figures/01_camera_geometry/rig.png``).
        """
        if hasattr(fig, "savefig"):
            path = self._path("figures", name, ".png")
            fig.savefig(path, dpi=dpi, bbox_inches="tight", metadata={"Software": None})
        elif hasattr(fig, "to_plotly_json"):
            from .viz.offline import save_html

            path = save_html(fig, self._path("figures", name, ".html"))
        else:
            raise TypeError(f"save_figure expects a matplotlib or plotly figure, got {type(fig).__name__}")
        return self._record(path)

    def save_table(self, df: Any, name: str, caption: str, floatfmt: str = ".2f", index: bool = False
                   ) -> tuple[str, str]:
        """Save a table as CSV and as Markdown preceded by its caption.

        Args:
            df: pandas DataFrame.
            name: file stem.
            caption: one sentence naming what was measured and on which data.
            floatfmt: float format of the Markdown table (the CSV keeps full precision).
            index: keep the DataFrame index as a column.

        Returns:
            The CSV and Markdown paths relative to ``OUT_DIR``.
        """
        csv = self._path("tables", name, ".csv")
        df.to_csv(csv, index=index)
        md = self._path("tables", name, ".md")
        md.write_text(f"**{caption}**\n\n{markdown_table(df, floatfmt, index)}\n", encoding="utf-8")
        return self._record(csv), self._record(md)

    def summary(self) -> str:
        """A line listing what was written (relative paths)."""
        return f"{len(self.written)} files under OUT_DIR: " + ", ".join(self.written)

