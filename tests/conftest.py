"""Shared fixtures: small synthetic rigs and points (no data files needed)."""

from __future__ import annotations

import math
import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # before torch loads OpenMP: see lt_core/__init__.py

import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

os.environ.setdefault("MPLBACKEND", "Agg")

from lt_core.camera import Camera, stack_cameras  # noqa: E402
from lt_core.render.renderer import torch_threads  # noqa: E402


def ring_rig(n: int, radius: float = 5000.0, dtype: torch.dtype = torch.float64, seed: int = 0) -> Camera:
    """n cameras on a ring around the origin at varied heights, looking at (0, 0, 900) mm."""
    g = torch.Generator().manual_seed(seed)
    cams = []
    for i in range(n):
        a = 2 * math.pi * i / n + 0.1 * float(torch.rand((), generator=g))
        h = 1200.0 + 800.0 * float(torch.rand((), generator=g))
        focal = 1000.0 + 400.0 * float(torch.rand((), generator=g))
        cams.append(
            Camera.look_at([radius * math.cos(a), radius * math.sin(a), h], [0.0, 0.0, 900.0], focal=focal, dtype=dtype)
        )
    return stack_cameras(cams)


def random_points(b: int, j: int, dtype: torch.dtype = torch.float64, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(b, j, 3, generator=g, dtype=dtype) * 400 + torch.tensor([0.0, 0.0, 900.0], dtype=dtype)


def standing_pose_mm() -> torch.Tensor:
    """(17, 3) float64 Human3.6M-17 joints of a person standing at the origin, arms out, in mm (Z up; drawn by
    hand for drawing and scene tests, not taken from data)."""
    return torch.tensor(
        [
            [-150, 0, 80],
            [-150, 0, 500],
            [-120, 0, 930],
            [120, 0, 930],
            [150, 0, 500],
            [150, 0, 80],
            [0, 0, 930],
            [0, 0, 1150],
            [0, 0, 1400],
            [0, 0, 1700],
            [-300, 0, 900],
            [-300, 0, 1150],
            [-200, 0, 1400],
            [200, 0, 1400],
            [300, 0, 1150],
            [300, 0, 900],
            [0, 0, 1550],
        ],
        dtype=torch.float64,
    )


@pytest.fixture
def one_thread():
    """One torch thread for the test (restored after): small tensors and tiny models run fastest and reproducibly
    on one thread, even on a loaded machine. Modules use it with ``pytestmark = pytest.mark.usefixtures(...)``."""
    with torch_threads(1):
        yield


@pytest.fixture
def rig4() -> Camera:
    return ring_rig(4)


def project_panoptic_cm(cam: dict, X_cm: np.ndarray) -> np.ndarray:
    """Independent numpy reference of CMU Panoptic's own projection: a calibration-JSON camera dict (``K``, ``R``,
    ``t``, ``distCoef``), (N, 3) points in its centimetre world frame -> (N, 2) pixels (OpenCV distortion)."""
    R, t, K, d = (np.asarray(cam[k], dtype=float) for k in ("R", "t", "K", "distCoef"))
    Xc = X_cm @ R.T + t.reshape(3)
    x, y = Xc[:, 0] / Xc[:, 2], Xc[:, 1] / Xc[:, 2]
    r2 = x * x + y * y
    rad = 1 + d[0] * r2 + d[1] * r2**2 + d[4] * r2**3
    xd = x * rad + 2 * d[2] * x * y + d[3] * (r2 + 2 * x * x)
    yd = y * rad + d[2] * (r2 + 2 * y * y) + 2 * d[3] * x * y
    return np.stack([K[0, 0] * xd + K[0, 1] * yd + K[0, 2], K[1, 1] * yd + K[1, 2]], -1)
