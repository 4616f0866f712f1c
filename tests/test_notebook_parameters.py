"""Notebook parameters are checked in the first cells, relative paths resolve from the repository, interactive runs
write outside the committed results.

Two layers:

* every notebook (later ones included), in-process and fast: the ``parameters`` cell and the ``check-parameters``
  cell after it are executed with a wrong value for each path parameter (any string default starting with ``../``)
  and for each integer parameter named ``*_STEP`` (0 and ``"5"``); each must raise ``ParameterError`` naming the
  parameter. The defaults must pass from any working directory;
* notebook 06 through papermill, as a user runs it: a wrong ``H36M_ROOT`` or a malformed ``H36M_FRAME_STEP`` stops
  the notebook in its check cell (cell 2, before any evaluation); run from the repository root (no ``--cwd``) the
  default ``CHECKPOINT_DIR`` still resolves to the repository's ``data/checkpoints``; a folder without checkpoints
  is refused instead of producing tables that say "not measured";
* notebook 07 through papermill, pointed at a user's own rig: a missing ``CALIBRATION`` or a ``DETECTIONS`` folder
  without camera folders stops it in its check cell.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from lt_core import notebook_utils as nbu
from lt_core.reproduce import discover_notebooks

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = discover_notebooks(ROOT / "notebooks")
IDS = [p.stem for p in NOTEBOOKS]
NB06 = ROOT / "notebooks" / "06_paper_tables.ipynb"
NB07 = ROOT / "notebooks" / "07_your_own_cameras.ipynb"


def _first_cells(path: Path) -> tuple[str, str]:
    nb = nbformat.read(path, as_version=4)
    k = next(i for i, c in enumerate(nb.cells) if "parameters" in c.metadata.get("tags", []))
    return nb.cells[k].source, nb.cells[k + 1].source


def _run_checks(path: Path, out_dir: Path, **overrides) -> dict:
    """Execute the parameters cell, the overrides (as papermill injects them) and the check cell."""
    params, checks = _first_cells(path)
    ns: dict = {}
    exec(compile(params, f"{path.name}:parameters", "exec"), ns)
    ns.update({"OUT_DIR": str(out_dir), **overrides})
    exec(compile(checks, f"{path.name}:check-parameters", "exec"), ns)
    return ns


def _defaults(path: Path) -> dict:
    ns: dict = {}
    exec(compile(_first_cells(path)[0], path.name, "exec"), ns)
    return {k: v for k, v in ns.items() if k.isupper()}


@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_defaults_pass_from_any_directory(path: Path, tmp_path: Path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # not notebooks/: relative paths must still resolve from the repository
    ns = _run_checks(path, tmp_path / "out")
    for name, value in _defaults(path).items():
        if isinstance(value, str) and value.startswith("../") and name != "OUT_DIR":
            assert isinstance(ns[name], Path) and ns[name].exists(), name
            assert ns[name].resolve().is_relative_to(ROOT), f"{name} resolved outside the repository: {ns[name]}"
    assert ns["OUT_DIR"] == (tmp_path / "out").resolve() and ns["OUT_DIR"].is_dir()


@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_wrong_parameters_fail_in_the_check_cell(path: Path, tmp_path: Path):
    defaults = _defaults(path)
    wrong = {
        name: "../no/such/path"
        for name, v in defaults.items()
        if isinstance(v, str) and v.startswith("../") and name != "OUT_DIR"
    }
    wrong.update({name: bad for name, v in defaults.items() if name.endswith("_STEP") for bad in (0,)})
    assert wrong or path.name.startswith("02_"), f"{path.name} has no path or step parameter to test"
    for name, value in wrong.items():
        with pytest.raises(nbu.ParameterError, match=name):
            _run_checks(path, tmp_path / "out", **{name: value})
    for name in (n for n in defaults if n.endswith("_STEP")):
        with pytest.raises(nbu.ParameterError, match=rf"{name} must be an integer, got '5'"):
            _run_checks(path, tmp_path / "out", **{name: "5"})
    with pytest.raises(nbu.ParameterError, match="SIZE must be one of"):
        _run_checks(path, tmp_path / "out", SIZE="medium")
    with pytest.raises(nbu.ParameterError, match="SEED must be an integer"):
        _run_checks(path, tmp_path / "out", SEED=1.5)


def test_interactive_runs_write_outside_the_committed_results(monkeypatch):
    monkeypatch.delenv(nbu.RESULTS_ENV, raising=False)
    for path in NOTEBOOKS:
        out = nbu.resolve_path(_defaults(path)["OUT_DIR"])
        assert out == (ROOT / "results" / "interactive").resolve(), path.name
    monkeypatch.setenv(nbu.RESULTS_ENV, "/somewhere/else")
    assert nbu.default_out_dir() == "/somewhere/else"
    if (ROOT / ".git").exists():
        probe = "results/interactive/tables/01_camera_geometry/rigs.csv"
        proc = subprocess.run(["git", "check-ignore", "-q", probe], cwd=ROOT)
        assert proc.returncode == 0, f"{probe} is not ignored by git: interactive runs would dirty the repository"


def test_parameter_checks_name_the_parameter(tmp_path: Path):
    (tmp_path / "a.toml").write_text("x = 1\n")
    assert nbu.check_file("CAL", tmp_path / "a.toml", suffixes=(".toml",)) == tmp_path / "a.toml"
    with pytest.raises(nbu.ParameterError, match=r"CAL .* must end with \.npz"):
        nbu.check_file("CAL", tmp_path / "a.toml", suffixes=(".npz",))
    with pytest.raises(nbu.ParameterError, match="ROOT .* is a file, not a folder"):
        nbu.check_dir("ROOT", tmp_path / "a.toml")
    with pytest.raises(nbu.ParameterError, match="ROOT .* does not hold processed"):
        nbu.check_dir("ROOT", tmp_path, contains=("processed",))
    assert nbu.check_dir("ROOT", None, optional=True) is None
    with pytest.raises(nbu.ParameterError, match="ROOT must be a folder path, got None"):
        nbu.check_dir("ROOT", None)
    assert [nbu.check_int("N", v, minimum=1) for v in (3, 3.0)] == [3, 3]
    for bad in (True, "3", 2.5, None):
        with pytest.raises(nbu.ParameterError, match="N must be an integer"):
            nbu.check_int("N", bad)
    with pytest.raises(nbu.ParameterError, match=r"N must be an integer in \[1, 10\], got 11"):
        nbu.check_int("N", 11, minimum=1, maximum=10)
    with pytest.raises(nbu.ParameterError, match=r"CKPT has unknown keys \['algebriac'\]"):
        nbu.check_paths("CKPT", {"algebriac": tmp_path / "a.toml"}, keys=("algebraic",))
    with pytest.raises(nbu.ParameterError, match=r"CKPT\['algebraic'\] .* does not exist"):
        nbu.check_paths("CKPT", {"algebraic": tmp_path / "missing.pth"}, keys=("algebraic",))
    with pytest.raises(nbu.ParameterError, match="must be a non-empty list of strings"):
        nbu.check_strings("SUBJECTS", "S9")
    with pytest.raises(nbu.ParameterError, match=r"unknown values \['S99'\]"):
        nbu.check_strings("SUBJECTS", ["S9", "S99"], allowed=["S9", "S11"])
    with pytest.raises(nbu.ParameterError, match="DEVICE must be 'cpu'"):
        nbu.check_device("DEVICE", "gpu")
    assert nbu.check_device("DEVICE", "cpu") == "cpu"
    assert nbu.repo_relative(ROOT / "data" / "checkpoints") == "data/checkpoints"
    assert nbu.resolve_path("../data") == (ROOT / "data").resolve()


# ------------------------------------------------------------------------------------------------ papermill, 06
def _papermill(tmp_path: Path, notebook: Path, cwd: Path, parameters: dict):
    import papermill as pm

    env_before = dict(os.environ)
    os.environ.update({"LT_NOTEBOOK_SIZE": "smoke", "LT_HEADLESS": "1", "LT_RESULTS_DIR": str(tmp_path / "results")})
    os.environ.pop("MPLBACKEND", None)
    try:
        return pm.execute_notebook(
            str(notebook),
            str(tmp_path / "executed.ipynb"),
            parameters=parameters,
            kernel_name="python3",
            cwd=str(cwd),
            progress_bar=False,
            execution_timeout=300,
        )
    finally:
        os.environ.clear()
        os.environ.update(env_before)


def _failure(tmp_path: Path, parameters: dict, cwd: Path = ROOT / "notebooks", notebook: Path = NB06):
    from papermill.exceptions import PapermillExecutionError

    with pytest.raises(PapermillExecutionError) as info:
        _papermill(tmp_path, notebook, cwd, parameters)
    executed = nbformat.read(tmp_path / "executed.ipynb", as_version=4)
    ran = [c for c in executed.cells if c.cell_type == "code" and c.get("execution_count")]
    failed = next(c for c in executed.cells if any(o.get("output_type") == "error" for o in c.get("outputs", [])))
    return info.value, failed, ran


@pytest.mark.slow
def test_06_wrong_h36m_root_fails_before_any_evaluation(tmp_path: Path):
    err, failed, ran = _failure(tmp_path, {"H36M_ROOT": str(tmp_path / "no_h36m_here")})
    assert err.ename == "ParameterError" and "H36M_ROOT" in err.evalue and "does not exist" in err.evalue
    assert "check-parameters" in failed.metadata.get("tags", [])
    assert len(ran) <= 3, f"{len(ran)} cells ran before the error: parameters are checked too late"


@pytest.mark.slow
def test_06_malformed_frame_step_fails_in_the_check_cell(tmp_path: Path):
    for bad in ("5", 0):
        err, failed, _ = _failure(tmp_path, {"H36M_FRAME_STEP": bad})
        assert err.ename == "ParameterError" and "H36M_FRAME_STEP" in err.evalue
        assert "check-parameters" in failed.metadata.get("tags", [])


@pytest.mark.slow
def test_06_from_the_repository_root(tmp_path: Path):
    """No --cwd: the kernel runs in the repository root, the default paths still find the checkpoints."""
    nb = nbformat.read(NB06, as_version=4)
    k = next(i for i, c in enumerate(nb.cells) if "check-parameters" in c.metadata.get("tags", []))
    nb.cells = nb.cells[: k + 1] + [
        nbformat.v4.new_code_cell(
            "import os\nprint('cwd is the repository root:', os.path.samefile(os.getcwd(), REPO))\n"
            "print('CHECKPOINT_DIR ->', repo_relative(CHECKPOINT_DIR), len(list(CHECKPOINT_DIR.glob('*.pt'))) > 0)"
        )
    ]
    nb.cells[k + 1].source = f"REPO = {str(ROOT)!r}\n" + nb.cells[k + 1].source
    head = tmp_path / "06_head.ipynb"
    nbformat.write(nb, head)
    out = _papermill(tmp_path, head, ROOT, {})
    text = "".join(o.get("text", "") for c in out.cells for o in c.get("outputs", []))
    assert "cwd is the repository root: True" in text and "CHECKPOINT_DIR -> data/checkpoints True" in text
    empty = tmp_path / "no_checkpoints"
    empty.mkdir()
    err, failed, _ = _failure(tmp_path, {"CHECKPOINT_DIR": str(empty)}, cwd=ROOT)
    assert err.ename == "ParameterError" and "holds no checkpoints" in err.evalue
    assert "check-parameters" in failed.metadata.get("tags", [])


@pytest.mark.slow
def test_07_own_rig_paths_fail_before_any_work(tmp_path: Path):
    """07 pointed at a user's own rig: a calibration that is not there, or detections without camera folders, stop
    the notebook in its check cell, naming the parameter, before anything is read or triangulated."""
    err, failed, ran = _failure(tmp_path, {"CALIBRATION": str(tmp_path / "my_rig.toml")}, notebook=NB07)
    assert err.ename == "ParameterError" and "CALIBRATION" in err.evalue and "does not exist" in err.evalue
    assert "check-parameters" in failed.metadata.get("tags", [])
    assert len(ran) <= 3, f"{len(ran)} cells ran before the error: parameters are checked too late"
    flat = tmp_path / "pose"
    flat.mkdir()
    (flat / "trial_000000000000_keypoints.json").write_text('{"people": []}')
    err, failed, ran = _failure(tmp_path, {"DETECTIONS": str(flat)}, cwd=ROOT, notebook=NB07)
    assert err.ename == "ParameterError" and "DETECTIONS" in err.evalue and "holds no camera folders" in err.evalue
    assert "check-parameters" in failed.metadata.get("tags", []) and len(ran) <= 3


def test_papermill_cli_reports_the_parameter(tmp_path: Path):
    """The README's command line: papermill exits non-zero and names the parameter."""
    env = {**os.environ, "LT_RESULTS_DIR": str(tmp_path / "results"), "LT_NOTEBOOK_SIZE": "smoke"}
    env.pop("MPLBACKEND", None)
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "papermill",
            str(NB06),
            str(tmp_path / "o.ipynb"),
            "-p",
            "H36M_FRAME_STEP",
            "0",
            "--kernel",
            "python3",
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode != 0
    assert "ParameterError" in proc.stderr and "H36M_FRAME_STEP must be an integer in [1, inf], got 0" in proc.stderr
