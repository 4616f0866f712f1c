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
      OUT_DIR = os.environ.get("LT_RESULTS_DIR", "../results/interactive")

  plus dataset paths where relevant (relative to ``notebooks/``, whatever the kernel's working directory);
* right after it, one cell tagged ``check-parameters`` that validates every parameter with the ``check_*``
  functions below before any work is done (a wrong path or a malformed number fails there, naming the parameter),
  and replaces relative paths by paths resolved from the repository's ``notebooks/`` folder;
* ``OUT_DIR``: :mod:`lt_core.reproduce` passes the repository's ``results/``; a notebook run by hand (JupyterLab,
  papermill without ``-p OUT_DIR``) writes under ``results/interactive/``, which git ignores, so interactive runs
  never rewrite the committed tables;
* imports from ``lt_core`` instead of redefining library code; calls :func:`check_size`, :func:`seed_everything`
  and ``lt_core.viz.setup_plotly()``; writes figures and tables through :class:`NotebookResults`;
* a ``smoke`` run takes about 30 s on 2 cores, a ``full`` run a few minutes;
* cells whose first line is ``# NBVAL_CHECK_OUTPUT`` print only deterministic, size-independent checks (they are
  compared by nbval against the committed outputs); nothing printed shows timings, memory addresses or machine paths;
* sliders go through ``lt_core.viz.slider_or_grid`` (static pictures when headless);
* a link to the paper (arXiv 1905.05754) naming the section, equation or table each step implements; 3-6
  exercises whose check cells call :func:`lt_core.exercises.check` (reference solutions in
  ``notebooks/solutions/NN_name.py``);
* the last Markdown cell is a "What we saw" summary followed by "What you should now be able to explain";
* the committed file is executed top to bottom by ``scripts/build_notebooks.py`` (full size unless that takes too
  long; ``metadata.lt_core.executed_size`` records the size).
"""

from __future__ import annotations

import os
import random
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from lt_core.tables import markdown_table

__all__ = [
    "SIZES",
    "SIZE_ENV",
    "RESULTS_ENV",
    "REPO_ROOT",
    "INTERACTIVE_OUT_DIR",
    "ParameterError",
    "default_size",
    "default_out_dir",
    "notebooks_dir",
    "resolve_path",
    "repo_relative",
    "check_size",
    "check_common",
    "check_dir",
    "check_file",
    "check_paths",
    "check_int",
    "check_choice",
    "check_strings",
    "check_device",
    "seed_everything",
    "markdown_table",
    "NotebookResults",
]

REPO_ROOT = Path(__file__).resolve().parents[1]
"""The folder holding this ``lt_core`` (the repository checkout for an editable install)."""

INTERACTIVE_OUT_DIR = "../results/interactive"
"""Default ``OUT_DIR`` of a notebook run by hand (relative to ``notebooks/``; ignored by git)."""

SIZES = ("smoke", "full")
"""Run sizes: ``smoke`` (seconds, for tests) and ``full`` (the numbers reported)."""

SIZE_ENV = "LT_NOTEBOOK_SIZE"
"""Environment variable giving a notebook's default ``SIZE`` (the tests set ``smoke``)."""

RESULTS_ENV = "LT_RESULTS_DIR"
"""Environment variable giving a notebook's default ``OUT_DIR`` (the tests point it to a temporary folder)."""


def default_size(fallback: str = "full") -> str:
    """``$LT_NOTEBOOK_SIZE`` if set, else ``fallback``; validated by :func:`check_size`."""
    return check_size(os.environ.get(SIZE_ENV, fallback))


def default_out_dir(fallback: str = INTERACTIVE_OUT_DIR) -> str:
    """``$LT_RESULTS_DIR`` if set, else ``fallback`` (relative to the notebooks folder)."""
    return os.environ.get(RESULTS_ENV, fallback)


class ParameterError(ValueError):
    """A notebook parameter has a value the notebook cannot use; the message names the parameter."""


def notebooks_dir() -> Path:
    """The repository's ``notebooks/`` folder, which relative parameter paths are relative to.

    Falls back to the current directory when ``lt_core`` is not used from a checkout (no ``notebooks/`` beside it).
    """
    folder = REPO_ROOT / "notebooks"
    return folder if folder.is_dir() else Path.cwd()


def resolve_path(value: str | os.PathLike) -> Path:
    """An absolute path for a parameter path: ``~`` expanded, relative paths taken from :func:`notebooks_dir`.

    So ``"../data/checkpoints"`` means the repository's ``data/checkpoints`` whether the kernel runs in
    ``notebooks/`` (JupyterLab, ``papermill --cwd notebooks``) or anywhere else.
    """
    path = Path(os.path.expanduser(os.fspath(value)))
    return (path if path.is_absolute() else notebooks_dir() / path).resolve()


def repo_relative(path: str | os.PathLike) -> str:
    """``path`` relative to the repository (for messages and outputs without machine paths), else its name."""
    p = Path(path).resolve()
    try:
        return p.relative_to(REPO_ROOT).as_posix() or "."
    except ValueError:
        return f"<outside the repository>/{p.name}"


def _where(value: Any, path: Path) -> str:
    if Path(os.path.expanduser(os.fspath(value))).is_absolute():
        return repr(os.fspath(value))
    return f"{os.fspath(value)!r} (relative to notebooks/: {repo_relative(path)})"


def _is_pathlike(value: Any) -> bool:
    return isinstance(value, (str, os.PathLike)) and str(value).strip() != ""


def check_size(size: str) -> str:
    """Return ``size`` if it is ``"smoke"`` or ``"full"``, else raise :class:`ParameterError`."""
    if size not in SIZES:
        raise ParameterError(f"SIZE must be one of {SIZES}, got {size!r}")
    return size


def check_int(name: str, value: Any, minimum: int | None = None, maximum: int | None = None) -> int:
    """An integer parameter (``5`` or ``5.0``; not ``True``, ``"5"`` or ``2.5``) within ``[minimum, maximum]``.

    Raises:
        ParameterError: naming the parameter, the value and what is expected.
    """
    ok = isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_))
    if isinstance(value, (float, np.floating)) and float(value).is_integer():
        ok, value = True, int(value)
    if not ok:
        raise ParameterError(f"{name} must be an integer, got {value!r} ({type(value).__name__})")
    value = int(value)
    if (minimum is not None and value < minimum) or (maximum is not None and value > maximum):
        lo = "-inf" if minimum is None else minimum
        hi = "inf" if maximum is None else maximum
        raise ParameterError(f"{name} must be an integer in [{lo}, {hi}], got {value}")
    return value


def check_common(size: str, seed: Any, out_dir: str | os.PathLike) -> tuple[str, int, Path]:
    """Check the three parameters every notebook has; returns ``(SIZE, SEED, OUT_DIR)`` with ``OUT_DIR`` resolved
    and created (an existing file there is an error)."""
    size = check_size(size)
    seed = check_int("SEED", seed, minimum=0)
    if not _is_pathlike(out_dir):
        raise ParameterError(f"OUT_DIR must be a folder path, got {out_dir!r}")
    out = resolve_path(out_dir)
    if out.exists() and not out.is_dir():
        raise ParameterError(f"OUT_DIR {_where(out_dir, out)} is a file, not a folder")
    out.mkdir(parents=True, exist_ok=True)
    return size, seed, out


def check_dir(
    name: str, value: Any, optional: bool = False, contains: Iterable[str] = (), hint: str = ""
) -> Path | None:
    """A folder parameter that must exist (and hold the entries ``contains``); ``None`` allowed when ``optional``.

    Returns:
        The resolved folder (see :func:`resolve_path`), or ``None``.

    Raises:
        ParameterError: naming the parameter, the value, the resolved path and what is missing (plus ``hint``).
    """
    tail = f" {hint}" if hint else ""
    if value is None and optional:
        return None
    if not _is_pathlike(value):
        raise ParameterError(f"{name} must be a folder path{' or None' if optional else ''}, got {value!r}.{tail}")
    path = resolve_path(value)
    if not path.is_dir():
        what = "is a file, not a folder" if path.exists() else "does not exist"
        raise ParameterError(f"{name} {_where(value, path)} {what}.{tail}")
    missing = [c for c in contains if not (path / c).exists()]
    if missing:
        raise ParameterError(f"{name} {_where(value, path)} does not hold {', '.join(missing)}.{tail}")
    return path


def check_file(
    name: str, value: Any, optional: bool = False, suffixes: Sequence[str] = (), hint: str = ""
) -> Path | None:
    """A file parameter that must exist (with one of ``suffixes`` if given); ``None`` allowed when ``optional``.

    Raises:
        ParameterError: naming the parameter, the value and the resolved path.
    """
    tail = f" {hint}" if hint else ""
    if value is None and optional:
        return None
    if not _is_pathlike(value):
        raise ParameterError(f"{name} must be a file path{' or None' if optional else ''}, got {value!r}.{tail}")
    path = resolve_path(value)
    if not path.is_file():
        what = "is a folder, not a file" if path.is_dir() else "does not exist"
        raise ParameterError(f"{name} {_where(value, path)} {what}.{tail}")
    if suffixes and not any(path.name.endswith(sfx) for sfx in suffixes):
        raise ParameterError(f"{name} {_where(value, path)} must end with {' or '.join(suffixes)}.{tail}")
    return path


def check_paths(
    name: str, value: Any, keys: Sequence[str], optional: bool = True, required: Sequence[str] = ()
) -> dict[str, Path] | None:
    """A mapping parameter ``{key: file}`` (e.g. checkpoint paths per method): known keys, existing files.

    Args:
        name: the parameter's name.
        value: ``None`` (allowed when ``optional``) or a mapping.
        keys: the allowed keys.
        optional: allow ``None``.
        required: keys that must be present.

    Returns:
        ``{key: resolved path}`` or ``None``.
    """
    if value is None and optional:
        return None
    if not isinstance(value, Mapping) or not value:
        raise ParameterError(f"{name} must be a non-empty mapping {{{', '.join(keys)}: path}}, got {value!r}")
    unknown = [k for k in value if k not in keys]
    if unknown:
        raise ParameterError(f"{name} has unknown keys {unknown}; allowed: {list(keys)}")
    missing = [k for k in required if k not in value]
    if missing:
        raise ParameterError(f"{name} lacks the keys {missing} (given: {list(value)})")
    return {k: check_file(f"{name}[{k!r}]", v) for k, v in value.items()}  # type: ignore[misc]


def check_device(name: str, value: Any) -> str:
    """A torch device name: ``"cpu"``, ``"cuda"``, ``"cuda:N"`` or ``"auto"``; CUDA ones only where CUDA is available.

    Raises:
        ParameterError: a malformed name, or CUDA requested on a machine without it.
    """
    text = str(value)
    if not (text in ("cpu", "cuda", "auto") or (text.startswith("cuda:") and text[5:].isdigit())):
        raise ParameterError(f"{name} must be 'cpu', 'cuda', 'cuda:N' or 'auto', got {value!r}")
    if text.startswith("cuda") and not torch.cuda.is_available():
        raise ParameterError(f"{name}={text!r}, but CUDA is not available on this machine; use {name}='cpu'")
    if text.startswith("cuda:") and int(text[5:]) >= torch.cuda.device_count():
        raise ParameterError(f"{name}={text!r}, but this machine has {torch.cuda.device_count()} CUDA device(s)")
    return text


def check_choice(name: str, value: Any, choices: Iterable[Any]) -> Any:
    """``value`` if it is one of ``choices``, else :class:`ParameterError` listing them."""
    options = list(choices)
    if value not in options:
        shown = options if len(options) <= 12 else options[:12] + ["..."]
        raise ParameterError(f"{name} must be one of {shown}, got {value!r}")
    return value


def check_strings(
    name: str, value: Any, allowed: Iterable[str] | None = None, optional: bool = False
) -> list[str] | None:
    """A non-empty list of strings (each in ``allowed`` when given); ``None`` allowed when ``optional``."""
    if value is None and optional:
        return None
    if (
        isinstance(value, str)
        or not isinstance(value, (list, tuple))
        or not value
        or not all(isinstance(v, str) for v in value)
    ):
        raise ParameterError(f"{name} must be a non-empty list of strings, got {value!r}")
    if allowed is not None:
        options = list(allowed)
        bad = [v for v in value if v not in options]
        if bad:
            raise ParameterError(f"{name}: unknown values {bad}; allowed: {options}")
    return list(value)


def seed_everything(seed: int) -> torch.Generator:
    """Seed Python, NumPy and torch; return a torch generator seeded with ``seed`` for explicit use."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    return torch.Generator().manual_seed(seed)


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
            from lt_core.viz.offline import save_html

            path = save_html(fig, self._path("figures", name, ".html"))
        else:
            raise TypeError(f"save_figure expects a matplotlib or plotly figure, got {type(fig).__name__}")
        return self._record(path)

    def save_table(
        self, df: Any, name: str, caption: str, floatfmt: str = ".2f", index: bool = False
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
