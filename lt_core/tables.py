"""Markdown tables: the one writer of every table the project prints or saves (notebooks, scripts, reports).

Kept apart from :mod:`lt_core.notebook_utils` (which re-exports it) so that command-line tools such as
``python -m lt_core.reproduce`` can write tables without importing torch.
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["markdown_table"]


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
