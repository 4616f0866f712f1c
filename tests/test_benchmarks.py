"""The benchmark scripts run end to end on a tiny problem (their speed is not asserted: that is their output)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("extra", [[], ["--backward"]])
def test_unprojection_benchmark_times_every_backend_against_the_loop(extra):
    cmd = [
        sys.executable,
        str(ROOT / "benchmarks" / "unprojection.py"),
        "--batch",
        "2",
        "--views",
        "2",
        "--channels",
        "5",
        "--size",
        "12",
        "--voxels",
        "6",
        "--repeats",
        "1",
        "--threads",
        "1",
    ] + extra
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert result.returncode == 0, result.stderr
    rows = [line.split() for line in result.stdout.splitlines()[2:]]
    assert {(r[0], r[1]) for r in rows} == {
        (a, b) for a in ("sum", "conf", "softmax") for b in ("fused", "gather", "grid_sample")
    }
    for row in rows:
        assert float(row[-2]) < 1e-3 and row[-1] == "0"  # every backend agrees with the loop


def test_undistortion_benchmark_runs_and_every_method_is_exact():
    cmd = [
        sys.executable,
        str(ROOT / "benchmarks" / "undistortion.py"),
        "--points",
        "500",
        "--frames",
        "20",
        "--loop-frames",
        "2",
        "--repeats",
        "1",
        "--threads",
        "1",
    ]
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert result.returncode == 0, result.stderr
    rows = [line for line in result.stdout.splitlines() if line.rstrip().endswith(tuple("0123456789"))]
    names = [r[:34].strip() for r in rows]
    assert names.count("Newton, exact (numba)") == 2 and names.count("triangulate_cameras") == 2
    for row in rows:
        assert float(row.split()[-1]) < 1e-6, row  # undistortion (normalised units) and 3D (mm) errors


def test_aniposelib_comparison_runs_and_agrees():
    cmd = [
        sys.executable,
        str(ROOT / "benchmarks" / "aniposelib_comparison.py"),
        "--points",
        "300",
        "--repeats",
        "1",
        "--sizes",
        "2000",
    ]
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert result.returncode == 0, result.stderr
    rows = [line.split() for line in result.stdout.splitlines() if line.startswith(("pinhole", "distorted"))]
    assert [(r[0], r[1]) for r in rows] == [
        ("pinhole", "4"),
        ("pinhole", "31"),
        ("distorted", "4"),
        ("distorted", "31"),
    ]
    if "not installed" not in result.stdout:  # with aniposelib: both find the same points (noise-free input)
        for r in rows:
            assert float(r[5]) < 1e-3, r
    scaling = [line.split() for line in result.stdout.splitlines() if line.strip().startswith(("4 ", "31 "))]
    assert [(r[0], r[1]) for r in scaling] == [("4", "2,000"), ("31", "2,000")]
