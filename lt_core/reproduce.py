"""Run the notebook suite headless and collect what it measured: ``python -m lt_core.reproduce``.

Usage::

    python -m lt_core.reproduce --size full|smoke [--only 01,03] [--out results] [--seed 0]

Every notebook ``notebooks/NN_*.ipynb`` is executed in order with papermill (kernel ``python3``, working directory
``notebooks/``) with the parameters ``SIZE``, ``SEED`` and ``OUT_DIR``; the executed copies go to
``<out>/notebooks/``. The notebooks write their figures (PNG, standalone offline HTML) and tables (CSV, Markdown)
under ``<out>/figures/<notebook>/`` and ``<out>/tables/<notebook>/`` (see :mod:`lt_core.notebook_utils`). After
each notebook ``<out>/REPRODUCTION.md`` is (re)written: what ran, the size, the seed, durations, the code version
(git commit) and every table. A failing notebook stops the run with a message naming the cell and the error; what
earlier notebooks produced is kept, and the partially executed notebook shows where it stopped.
"""

from __future__ import annotations

import argparse
import functools
import os
import platform
import re
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import pandas as pd

from lt_core.paths import REPO_ROOT, code_version_text
from lt_core.tables import markdown_table

__all__ = ["NotebookRun", "discover_notebooks", "select_notebooks", "run_notebook", "write_report", "reproduce", "main"]

PACKAGE_ROOT = REPO_ROOT  # the repository (lt_core.paths)
NOTEBOOK_PATTERN = re.compile(r"^(\d\d)_[\w-]+\.ipynb$")


@dataclass
class NotebookRun:
    """The outcome of one notebook.

    Attributes:
        name: notebook stem (``01_camera_geometry``).
        status: ``"ok"``, ``"failed"`` or ``"skipped"``.
        seconds: wall-clock duration (0 when skipped).
        executed: path of the executed notebook, relative to the output folder (``None`` when skipped).
        error: one-line description of the failure.
        figures: figure files (relative to the output folder).
        tables: table files (relative to the output folder).
    """

    name: str
    status: str
    seconds: float = 0.0
    executed: str | None = None
    error: str | None = None
    figures: list[str] = field(default_factory=list)
    tables: list[str] = field(default_factory=list)


def discover_notebooks(folder: Path) -> list[Path]:
    """Notebooks named ``NN_name.ipynb`` in ``folder``, in number order."""
    found = [p for p in Path(folder).iterdir() if NOTEBOOK_PATTERN.match(p.name)]
    return sorted(found, key=lambda p: p.name)


def select_notebooks(notebooks: Sequence[Path], only: str | None) -> list[Path]:
    """Keep the notebooks whose numbers are listed in ``only`` (``"01,03"``; ``None`` keeps all).

    Raises:
        SystemExit: a requested number matches no notebook.
    """
    if not only:
        return list(notebooks)
    wanted = [w.strip() for w in only.split(",") if w.strip()]
    numbers = {NOTEBOOK_PATTERN.match(p.name).group(1): p for p in notebooks}
    unknown = [w for w in wanted if w.zfill(2) not in numbers]
    if unknown:
        raise SystemExit(
            f"--only {only}: no notebook numbered {', '.join(unknown)}; available: {', '.join(sorted(numbers))}"
        )
    return [numbers[w.zfill(2)] for w in sorted(set(wanted), key=lambda w: w.zfill(2))]


def _relative(path: Path, start: Path) -> str:
    try:
        return os.path.relpath(path, start)
    except ValueError:  # different drives (Windows)
        return str(path)


def _collect(out: Path, kind: str, name: str) -> list[str]:
    folder = out / kind / name
    if not folder.is_dir():
        return []
    return sorted(p.relative_to(out).as_posix() for p in folder.rglob("*") if p.is_file())


def _error_line(exc: BaseException) -> str:
    cell = getattr(exc, "exec_count", None)
    ename = getattr(exc, "ename", None)
    evalue = getattr(exc, "evalue", None)
    if ename:
        where = f"cell [{cell}]" if cell is not None else "a cell"
        return f"{where} raised {ename}: {str(evalue).strip().splitlines()[0] if evalue else ''}".strip()
    return f"{type(exc).__name__}: {str(exc).strip().splitlines()[0] if str(exc).strip() else ''}"


def run_notebook(
    src: Path, dst: Path, parameters: dict, kernel: str = "python3", timeout: int | None = 1800
) -> tuple[float, BaseException | None]:
    """Execute one notebook with papermill.

    Args:
        src: the notebook.
        dst: where the executed copy is written (also on failure, up to the failing cell).
        parameters: values injected after the cell tagged ``parameters``.
        kernel: Jupyter kernel name.
        timeout: per-cell timeout in seconds.

    Returns:
        ``(seconds, error)``; ``error`` is ``None`` on success.
    """
    try:
        import papermill as pm
    except ImportError as exc:  # pragma: no cover - papermill is in the notebooks extra
        raise SystemExit("papermill is not installed: pip install -e '.[notebooks]'") from exc
    dst.parent.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    try:
        pm.execute_notebook(
            str(src),
            str(dst),
            parameters=parameters,
            kernel_name=kernel,
            cwd=str(src.parent),
            progress_bar=False,
            log_output=False,
            execution_timeout=timeout,
        )
    except Exception as exc:  # noqa: BLE001 - any failure is reported, earlier results are kept
        return time.perf_counter() - start, exc
    return time.perf_counter() - start, None


def _software() -> str:
    parts = [f"Python {platform.python_version()}"]
    for mod in ("torch", "numpy", "pandas", "matplotlib", "plotly", "papermill"):
        try:
            parts.append(f"{mod} {__import__(mod).__version__}")
        except Exception:  # noqa: BLE001 - a missing module is simply not listed
            pass
    return ", ".join(parts)


def write_report(
    out: Path, runs: Sequence[NotebookRun], size: str, seed: int, command: str, started: datetime, version: str
) -> Path:
    """Write ``<out>/REPRODUCTION.md`` for the runs so far."""
    total = sum(r.seconds for r in runs)
    lines = [
        "# Reproduction run",
        "",
        f"- command: `{command}`",
        f"- size: `{size}`; seed: `{seed}` (every notebook seeds Python, NumPy and torch with it)",
        f"- code version: `{version}`",
        f"- started: {started.strftime('%Y-%m-%d %H:%M:%S UTC')}; notebook time: {total:.0f} s",
        f"- software: {_software()}",
        f"- machine: {platform.system()} {platform.machine()}, {os.cpu_count()} CPU cores",
        "",
    ]
    rows = [
        {
            "notebook": r.name,
            "status": r.status,
            "duration (s)": float(r.seconds),
            "executed notebook": f"[{r.executed}]({r.executed})" if r.executed else "-",
            "figures": len(r.figures),
            "tables": len([t for t in r.tables if t.endswith(".csv")]),
        }
        for r in runs
    ]
    columns = ["notebook", "status", "duration (s)", "executed notebook", "figures", "tables"]
    lines += markdown_table(pd.DataFrame(rows, columns=columns), ".1f").split("\n")
    failed = [r for r in runs if r.status == "failed"]
    for r in failed:
        lines += ["", f"**{r.name} failed**: {r.error}. The executed notebook shows the cell that failed."]
    lines += ["", "## Tables", ""]
    any_table = False
    for r in runs:
        for t in r.tables:
            if t.endswith(".md"):
                any_table = True
                body = (out / t).read_text(encoding="utf-8").strip()
                lines += [f"### {r.name}: `{Path(t).stem}`", "", body, "", f"(CSV: [{t[:-3]}.csv]({t[:-3]}.csv))", ""]
    if not any_table:
        lines += ["(no tables written)", ""]
    lines += ["## Figures", ""]
    any_fig = False
    for r in runs:
        if r.figures:
            any_fig = True
            lines.append(f"- {r.name}: " + ", ".join(f"[{Path(f).name}]({f})" for f in r.figures))
    if not any_fig:
        lines.append("(no figures written)")
    lines.append("")
    path = out / "REPRODUCTION.md"
    path.write_text("\n".join(lines), encoding="utf-8")
    return path


def reproduce(
    size: str = "full",
    only: str | None = None,
    out: Path = Path("results"),
    seed: int = 0,
    notebooks_dir: Path | None = None,
    kernel: str = "python3",
    keep_going: bool = False,
    timeout: int | None = 1800,
    command: str | None = None,
    echo: Callable[[str], None] | None = None,
) -> list[NotebookRun]:
    """Run the notebooks and write the report (see the module docstring).

    Args:
        size: ``"smoke"`` or ``"full"``.
        only: notebook numbers to run (``"01,03"``), or ``None`` for all.
        out: output folder.
        seed: the ``SEED`` parameter.
        notebooks_dir: folder of the notebooks (default: ``notebooks/`` beside the package).
        kernel: Jupyter kernel name.
        keep_going: run the remaining notebooks after a failure.
        timeout: per-cell timeout in seconds.
        command: the command line recorded in the report.
        echo: progress printer (default: ``print`` with flushing).

    Returns:
        One :class:`NotebookRun` per selected notebook.
    """
    echo = echo or functools.partial(print, flush=True)
    if size not in ("smoke", "full"):
        raise SystemExit(f"--size must be smoke or full, got {size!r}")
    nb_dir = Path(notebooks_dir) if notebooks_dir is not None else PACKAGE_ROOT / "notebooks"
    if not nb_dir.is_dir():
        raise SystemExit(f"notebooks folder not found: {nb_dir}")
    selected = select_notebooks(discover_notebooks(nb_dir), only)
    if not selected:
        raise SystemExit(f"no notebooks NN_*.ipynb in {nb_dir}")
    out = Path(out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    started = datetime.now(timezone.utc)
    version = code_version_text()
    command = command or f"python -m lt_core.reproduce --size {size}" + (f" --only {only}" if only else "")
    # headless: static pictures instead of widgets; the kernel must keep its inline matplotlib backend
    saved_env = {k: os.environ.get(k) for k in ("LT_HEADLESS", "MPLBACKEND")}
    os.environ["LT_HEADLESS"] = "1"
    os.environ.pop("MPLBACKEND", None)
    runs: list[NotebookRun] = [NotebookRun(p.stem, "skipped") for p in selected]
    stop = False
    try:
        for k, src in enumerate(selected):
            if stop:
                break
            name = src.stem
            dst = out / "notebooks" / src.name
            params = {"SIZE": size, "SEED": seed, "OUT_DIR": _relative(out, nb_dir).replace(os.sep, "/")}
            echo(f"[{k + 1}/{len(selected)}] {name} ({size}) ...")
            seconds, error = run_notebook(src, dst, params, kernel, timeout)
            run = runs[k]
            run.seconds = seconds
            run.executed = dst.relative_to(out).as_posix() if dst.exists() else None
            run.figures = _collect(out, "figures", name)
            run.tables = _collect(out, "tables", name)
            if error is None:
                run.status = "ok"
                echo(
                    f"    done in {seconds:.1f} s: {len(run.figures)} figure files, "
                    f"{len([t for t in run.tables if t.endswith('.csv')])} tables"
                )
            else:
                run.status = "failed"
                run.error = _error_line(error)
                echo(f"    FAILED after {seconds:.1f} s: {name}: {run.error}")
                echo(f"    the executed notebook up to the failure: {dst}")
                stop = not keep_going
            write_report(out, runs, size, seed, command, started, version)
    finally:
        for key, value in saved_env.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
    report = write_report(out, runs, size, seed, command, started, version)
    echo("")
    echo(f"report:             {report}")
    echo(f"executed notebooks: {out / 'notebooks'}")
    echo(f"figures:            {out / 'figures'}")
    echo(f"tables:             {out / 'tables'}")
    failed = [r for r in runs if r.status == "failed"]
    if failed:
        skipped = [r.name for r in runs if r.status == "skipped"]
        echo(
            f"{len(failed)} notebook(s) failed: {', '.join(r.name for r in failed)}"
            + (f"; not run: {', '.join(skipped)}" if skipped else "")
            + "; results of the notebooks that ran are kept."
        )
    return runs


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point (``lt-reproduce`` / ``python -m lt_core.reproduce``); returns the exit status."""
    ap = argparse.ArgumentParser(prog="python -m lt_core.reproduce", description=__doc__.splitlines()[0])
    ap.add_argument(
        "--size",
        default="full",
        choices=["smoke", "full"],
        help="smoke: seconds per notebook; full: the reported numbers (minutes)",
    )
    ap.add_argument("--only", default=None, help="comma-separated notebook numbers, e.g. 01,03")
    ap.add_argument("--out", type=Path, default=Path("results"), help="output folder (default: results)")
    ap.add_argument("--seed", type=int, default=0, help="SEED parameter of every notebook")
    ap.add_argument("--notebooks", type=Path, default=None, help="notebooks folder (default: the repository's)")
    ap.add_argument("--kernel", default="python3", help="Jupyter kernel name")
    ap.add_argument("--timeout", type=int, default=1800, help="per-cell timeout in seconds")
    ap.add_argument("--keep-going", action="store_true", help="run the remaining notebooks after a failure")
    args = ap.parse_args(argv)
    command = "python -m lt_core.reproduce " + " ".join(sys.argv[1:] if argv is None else list(argv))
    runs = reproduce(
        args.size,
        args.only,
        args.out,
        args.seed,
        args.notebooks,
        args.kernel,
        args.keep_going,
        args.timeout,
        command.strip(),
    )
    return 1 if any(r.status == "failed" for r in runs) else 0


if __name__ == "__main__":
    sys.exit(main())
