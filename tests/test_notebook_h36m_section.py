"""Notebook 03's real-Human3.6M section, run on files in the exact formats (the committed notebook runs it without
files, where it must skip with instructions)."""

from __future__ import annotations

import math
from pathlib import Path

import nbformat
import pytest
from h36m_fixtures import write_baseline, write_videopose3d

from lt_core.notebook_utils import NotebookResults

NOTEBOOK = Path(__file__).resolve().parents[1] / "notebooks" / "03_algebraic_triangulation.ipynb"


def _section() -> str:
    nb = nbformat.read(NOTEBOOK, as_version=4)
    cells = [c for c in nb.cells if "h36m-detections" in c.metadata.get("tags", [])]
    assert len(cells) == 1, "notebook 03 has one cell tagged 'h36m-detections'"
    params = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])][0].source
    for name in ("H36M_BASELINE_DIR", "H36M_VP3D_3D", "H36M_VP3D_2D", "H36M_SUBJECTS", "H36M_FRAME_STEP"):
        assert f"\n{name} = " in params, name
    return cells[0].source


def _run(tmp_path: Path, **params) -> dict:
    ns = {
        "Path": Path,
        "results": NotebookResults(tmp_path / "results", "03_algebraic_triangulation"),
        "H36M_BASELINE_DIR": None,
        "H36M_VP3D_3D": None,
        "H36M_VP3D_2D": None,
        "H36M_SUBJECTS": ["S9", "S11"],
        "H36M_FRAME_STEP": 1,
        **params,
    }
    exec(compile(_section(), "notebook-03-section-8", "exec"), ns)  # noqa: S102 (the notebook's own code)
    return ns


def test_section_skips_with_instructions_without_files(tmp_path, capsys):
    ns = _run(tmp_path)
    out = capsys.readouterr().out
    assert "Section 8 skipped" in out and "data_2d_h36m_<detector>.npz" in out and "lt-triangulation[h36m]" in out
    assert ns["h36m_tables"] == {}


def test_section_runs_all_methods_on_both_file_sets(tmp_path, capsys):
    pytest.importorskip("h5py")
    layout = {"S9": {"Greeting": 5, "Walking 1": 4}, "S11": {"Directions": 4}}
    write_baseline(tmp_path / "h36m", layout, noise_px=3.0, skip={("S11", "Directions", 0)})
    write_videopose3d(tmp_path, layout, {"cpn_ft_h36m_dbb": "h36m"}, noise_px=3.0)
    ns = _run(
        tmp_path,
        H36M_BASELINE_DIR=str(tmp_path / "h36m"),
        H36M_VP3D_3D=str(tmp_path / "data_3d_h36m.npz"),
        H36M_VP3D_2D=str(tmp_path / "data_2d_h36m_cpn_ft_h36m_dbb.npz"),
    )
    out = capsys.readouterr().out
    assert set(ns["h36m_tables"]) == {"3d-pose-baseline, Stacked Hourglass", "VideoPose3D, cpn_ft_h36m_dbb"}
    for label, table in ns["h36m_tables"].items():
        assert list(table.index) == ["DLT", "RANSAC", "exhaustive"]
        assert (table["frames"] == 13).all() and (table["frames abs"] == 8).all()  # S9 Greeting is damaged
        assert (table["NaN in scored joints"] == 0).all()
        for col in ("MPJPE abs (mm)", "MPJPE rel (mm)", "PA-MPJPE (mm)"):
            assert all(0 < v < 40 and math.isfinite(v) for v in table[col]), (label, col)
    assert "S11 Directions: camera 54138969 has no detections" in out
    assert "27.4 mm relative, 22.8 mm absolute" in out
    saved = sorted(p.name for p in (tmp_path / "results").rglob("h36m_*.md"))
    assert saved == ["h36m_3d_pose_baseline__stacked_hourglass.md", "h36m_videopose3d__cpn_ft_h36m_dbb.md"]
