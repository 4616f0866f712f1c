"""Re-execute the committed notebooks in place so their stored outputs are fresh and reproducible.

Usage::

    python scripts/build_notebooks.py [--size full|smoke] [--only 01,03] [--timeout 1200]

Each ``notebooks/NN_*.ipynb`` is run top to bottom in a fresh ``python3`` kernel (working directory
``notebooks/``), headless (``LT_HEADLESS=1``: static pictures instead of sliders) and with
``LT_NOTEBOOK_SIZE=<size>``; the figures and tables the notebook writes go to a temporary folder, not to
``results/``. The outputs are then normalised (execution counts 1, 2, ...; no timing metadata) and the notebook is
written back, recording the size in ``metadata.lt_core.executed_size``. Outputs that contain a machine path (the
repository's absolute path or the home folder) make the script fail, as they would make the committed notebook
depend on this machine.

This is how the committed outputs are produced; ``python -m lt_core.reproduce`` is how results are produced.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import nbformat  # noqa: E402
from nbclient import NotebookClient  # noqa: E402

from lt_core.reproduce import discover_notebooks, select_notebooks  # noqa: E402


def _machine_paths() -> list[str]:
    paths = {str(ROOT)}
    home = os.path.expanduser("~")
    if home not in ("/", "") and len(home) > 1:
        paths.add(home.rstrip("/") + "/")
    paths.add(tempfile.gettempdir().rstrip("/") + "/")
    return sorted(paths)


def _output_texts(nb: nbformat.NotebookNode) -> list[tuple[int, str]]:
    found = []
    for i, cell in enumerate(nb.cells):
        for out in cell.get("outputs", []):
            if "text" in out:
                found.append((i, str(out["text"])))
            for mime, value in out.get("data", {}).items():
                if mime in ("text/plain", "text/markdown") or (mime == "text/html" and len(str(value)) < 200_000):
                    found.append((i, str(value)))
            if out.get("output_type") == "error":
                found.append((i, "\n".join(out.get("traceback", []))))
    return found


def normalise(nb: nbformat.NotebookNode, size: str) -> nbformat.NotebookNode:
    """Sequential execution counts, no per-cell timing metadata, the executed size recorded."""
    count = 0
    for cell in nb.cells:
        cell.metadata.pop("execution", None)
        if cell.cell_type != "code":
            continue
        count += 1
        cell.execution_count = count
        for out in cell.get("outputs", []):
            if "execution_count" in out:
                out["execution_count"] = count
    nb.metadata.setdefault("lt_core", {})["executed_size"] = size
    nb.metadata.pop("papermill", None)
    return nb


def execute(path: Path, size: str, timeout: int) -> float:
    """Execute one notebook in place; returns the seconds it took."""
    nb = nbformat.read(path, as_version=4)
    with tempfile.TemporaryDirectory(prefix="lt_build_") as tmp:
        env = {"LT_NOTEBOOK_SIZE": size, "LT_HEADLESS": "1", "LT_RESULTS_DIR": tmp}
        saved = {k: os.environ.get(k) for k in [*env, "MPLBACKEND"]}
        os.environ.update(env)
        os.environ.pop("MPLBACKEND", None)  # the kernel must keep its inline backend
        try:
            client = NotebookClient(
                nb,
                timeout=timeout,
                kernel_name="python3",
                record_timing=False,
                resources={"metadata": {"path": str(path.parent)}},
            )
            start = time.perf_counter()
            client.execute()
            seconds = time.perf_counter() - start
        finally:
            for k, v in saved.items():
                if v is None:
                    os.environ.pop(k, None)
                else:
                    os.environ[k] = v
    normalise(nb, size)
    leaks = [(i, p) for i, text in _output_texts(nb) for p in _machine_paths() if p in text]
    if leaks:
        cells = sorted({i for i, _ in leaks})
        raise SystemExit(
            f"{path.name}: outputs of cells {cells} contain machine paths ({leaks[0][1]}); "
            "print paths relative to OUT_DIR or the notebooks folder"
        )
    nbformat.write(nb, path)
    return seconds


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", default="full", choices=["smoke", "full"])
    ap.add_argument("--only", default=None, help="comma-separated notebook numbers, e.g. 01,03")
    ap.add_argument("--timeout", type=int, default=1200, help="per-cell timeout in seconds")
    args = ap.parse_args(argv)
    notebooks = select_notebooks(discover_notebooks(ROOT / "notebooks"), args.only)
    for path in notebooks:
        print(f"{path.name} ({args.size}) ...", flush=True)
        seconds = execute(path, args.size, args.timeout)
        size_mb = path.stat().st_size / 1e6
        print(f"    {seconds:.1f} s, {size_mb:.1f} MB", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
