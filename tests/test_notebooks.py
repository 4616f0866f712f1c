"""The notebooks: structure of the committed files, an nbval run of each in smoke size, and lt_core.reproduce.

Design (also in README/notebooks): the committed notebooks are executed (outputs stored, normally at full size;
``metadata.lt_core.executed_size`` says which). ``test_notebook_smoke`` re-runs each one with nbval in *lax* mode
and ``LT_NOTEBOOK_SIZE=smoke``: every cell must run without error, and only the cells marked
``# NBVAL_CHECK_OUTPUT`` are compared with the stored outputs. Those cells print deterministic, size-independent
checks, so outputs stored at full size match a smoke run. Figures and tables go to a temporary ``LT_RESULTS_DIR``;
``LT_HEADLESS=1`` gives static pictures instead of sliders.

Equivalent command line for one notebook::

    LT_NOTEBOOK_SIZE=smoke LT_HEADLESS=1 LT_RESULTS_DIR=/tmp/lt python -m pytest --nbval-lax --nbval-current-env \\
        --nbval-sanitize-with tests/nbval_sanitize.cfg -p no:cacheprovider notebooks/01_camera_geometry.ipynb
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from lt_core.reproduce import discover_notebooks, reproduce, select_notebooks

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK_DIR = ROOT / "notebooks"
NOTEBOOKS = discover_notebooks(NOTEBOOK_DIR) if NOTEBOOK_DIR.is_dir() else []
IDS = [p.stem for p in NOTEBOOKS]
SANITIZE = ROOT / "tests" / "nbval_sanitize.cfg"


def _plotlyjs() -> str:
    from plotly.offline import get_plotlyjs

    return get_plotlyjs()


def _outputs_text(nb: nbformat.NotebookNode) -> str:
    """All output text of a notebook with the embedded plotly.js bundle removed."""
    bundle = _plotlyjs()
    parts = []
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            parts.append(str(out.get("text", "")))
            for mime, value in out.get("data", {}).items():
                if mime.startswith("text/") or mime.endswith("json"):
                    parts.append(str(value).replace(bundle, ""))
    return "\n".join(parts)


def _parameters_cell(nb: nbformat.NotebookNode) -> nbformat.NotebookNode:
    cells = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
    assert len(cells) == 1, "exactly one cell must be tagged 'parameters' (papermill)"
    return cells[0]


def test_notebooks_present():
    names = [p.name for p in NOTEBOOKS]
    for required in (
        "01_camera_geometry.ipynb",
        "02_soft_argmax.ipynb",
        "03_algebraic_triangulation.ipynb",
        "07_your_own_cameras.ipynb",
    ):
        assert required in names


@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_notebook_structure(path: Path):
    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    assert nb.metadata.kernelspec.name == "python3"
    params = _parameters_cell(nb).source
    for name in ("SIZE", "SEED", "OUT_DIR"):
        assert re.search(rf"^{name}\s*=", params, re.M), f"parameters cell must define {name}"
    assert 'os.environ.get("LT_NOTEBOOK_SIZE"' in params and 'os.environ.get("LT_RESULTS_DIR"' in params
    code = "\n".join(c.source for c in nb.cells if c.cell_type == "code")
    assert "lt_core" in code
    assert "# NBVAL_CHECK_OUTPUT" in code, "at least one cell must hold size-independent checks"
    last_md = [c for c in nb.cells if c.cell_type == "markdown"][-1].source
    assert "What we saw" in last_md, "each notebook ends with a 'What we saw' summary"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_committed_notebook_is_executed_and_clean(path: Path):
    nb = nbformat.read(path, as_version=4)
    code_cells = [c for c in nb.cells if c.cell_type == "code"]
    assert all(c.execution_count is not None for c in code_cells), "commit the notebook executed"
    assert [c.execution_count for c in code_cells] == list(range(1, len(code_cells) + 1)), (
        "execute top to bottom in a fresh kernel (scripts/build_notebooks.py)"
    )
    assert nb.metadata.get("lt_core", {}).get("executed_size") in ("smoke", "full")
    for c in code_cells:
        assert not any(o.output_type == "error" for o in c.outputs), f"error output in cell:\n{c.source[:200]}"
        for o in c.outputs:
            if o.output_type == "stream" and o.name == "stderr":
                raise AssertionError(f"stderr output (warning?) in cell:\n{c.source[:200]}\n{o.text[:500]}")
    text = _outputs_text(nb)
    assert "cdn.plot.ly" not in text and "notebook_connected" not in text
    assert not re.search(r"<script[^>]*\bsrc\s*=\s*[\"']https?:", text), "outputs must not load scripts from the web"
    for machine_path in {str(ROOT), "/home/", "/root/", "/tmp/"}:
        assert machine_path not in text, f"output contains a machine path: {machine_path}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_notebook_smoke(path: Path, tmp_path: Path):
    """nbval, lax mode, smoke size: the whole notebook runs; checked cells match the stored outputs."""
    env = dict(os.environ)
    env.pop("MPLBACKEND", None)  # keep the kernel's inline backend
    env.update(
        {
            "LT_NOTEBOOK_SIZE": "smoke",
            "LT_HEADLESS": "1",
            "LT_RESULTS_DIR": str(tmp_path / "results"),
            "PYTHONHASHSEED": "0",
        }
    )
    cmd = [
        sys.executable,
        "-m",
        "pytest",
        "-q",
        "--nbval-lax",
        "--nbval-current-env",
        "--nbval-sanitize-with",
        str(SANITIZE),
        "--nbval-cell-timeout",
        "600",
        "-p",
        "no:cacheprovider",
        "-o",
        "addopts=",
        str(path),
    ]
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, f"nbval failed for {path.name}:\n{proc.stdout[-6000:]}\n{proc.stderr[-2000:]}"


# ---------------------------------------------------------------------------------------------------------- reproduce
def _tiny_notebook(path: Path, body: str) -> None:
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    params = nbformat.v4.new_code_cell('SIZE = "full"\nSEED = 0\nOUT_DIR = "../results"')
    params.metadata["tags"] = ["parameters"]
    nb.cells = [params, nbformat.v4.new_code_cell(body)]
    nbformat.write(nb, path)


def test_select_notebooks(tmp_path: Path):
    for name in ("01_a.ipynb", "02_b.ipynb", "10_c.ipynb", "notes.ipynb"):
        (tmp_path / name).write_text("{}")
    found = discover_notebooks(tmp_path)
    assert [p.name for p in found] == ["01_a.ipynb", "02_b.ipynb", "10_c.ipynb"]
    assert [p.name for p in select_notebooks(found, "10,1")] == ["01_a.ipynb", "10_c.ipynb"]
    assert select_notebooks(found, None) == found
    with pytest.raises(SystemExit, match="no notebook numbered 07"):
        select_notebooks(found, "01,07")


def test_reproduce_runs_collects_and_stops_on_failure(tmp_path: Path):
    nbs = tmp_path / "notebooks"
    nbs.mkdir()
    _tiny_notebook(
        nbs / "01_ok.ipynb",
        (
            "import pandas as pd, matplotlib.pyplot as plt\n"
            "from lt_core.notebook_utils import NotebookResults\n"
            "res = NotebookResults(OUT_DIR, '01_ok')\n"
            "res.save_table(pd.DataFrame({'size': [SIZE], 'seed': [SEED]}), 'params', 'The parameters seen')\n"
            "fig, ax = plt.subplots(); res.save_figure(fig, 'empty')\n"
            "import os; assert os.environ.get('LT_HEADLESS') == '1'\n"
        ),
    )
    _tiny_notebook(nbs / "02_broken.ipynb", "raise RuntimeError('deliberate failure for the test')")
    _tiny_notebook(nbs / "03_never.ipynb", "print('not reached')")
    out = tmp_path / "out"
    lines: list[str] = []
    runs = reproduce("smoke", None, out, seed=7, notebooks_dir=nbs, echo=lines.append)
    assert [r.status for r in runs] == ["ok", "failed", "skipped"]
    assert "RuntimeError: deliberate failure for the test" in runs[1].error
    assert (out / "notebooks" / "01_ok.ipynb").is_file() and (out / "notebooks" / "02_broken.ipynb").is_file()
    assert runs[0].tables == ["tables/01_ok/params.csv", "tables/01_ok/params.md"]
    assert runs[0].figures == ["figures/01_ok/empty.png"]
    report = (out / "REPRODUCTION.md").read_text()
    assert "| smoke | 7 |" in report  # the injected parameters reached the notebook
    assert "size: `smoke`; seed: `7`" in report and "code version: `" in report
    assert "| 01_ok | ok |" in report and "| 02_broken | failed |" in report and "| 03_never | skipped |" in report
    assert "**02_broken failed**" in report
    assert any("FAILED" in line and "deliberate failure" in line for line in lines)
    executed = nbformat.read(out / "notebooks" / "01_ok.ipynb", as_version=4)
    injected = [c for c in executed.cells if "injected-parameters" in c.metadata.get("tags", [])]
    assert injected and 'OUT_DIR = "../out"' in injected[0].source


def test_reproduce_cli_only_unknown(tmp_path: Path):
    proc = subprocess.run(
        [sys.executable, "-m", "lt_core.reproduce", "--size", "smoke", "--only", "99", "--out", str(tmp_path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode != 0 and "no notebook numbered 99" in proc.stderr
