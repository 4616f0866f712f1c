"""Shared fixtures: small synthetic rigs and points (no data files needed)."""

from __future__ import annotations

import math
import os

import pytest
import torch

os.environ.setdefault("MPLBACKEND", "Agg")

from lt_core.camera import Camera, stack_cameras  # noqa: E402


def ring_rig(n: int, radius: float = 5000.0, dtype: torch.dtype = torch.float64, seed: int = 0) -> Camera:
    """n cameras on a ring around the origin at varied heights, looking at (0, 0, 900) mm."""
    g = torch.Generator().manual_seed(seed)
    cams = []
    for i in range(n):
        a = 2 * math.pi * i / n + 0.1 * float(torch.rand((), generator=g))
        h = 1200.0 + 800.0 * float(torch.rand((), generator=g))
        focal = 1000.0 + 400.0 * float(torch.rand((), generator=g))
        cams.append(Camera.look_at([radius * math.cos(a), radius * math.sin(a), h], [0.0, 0.0, 900.0],
                                   focal=focal, dtype=dtype))
    return stack_cameras(cams)


def random_points(b: int, j: int, dtype: torch.dtype = torch.float64, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(b, j, 3, generator=g, dtype=dtype) * 400 + torch.tensor([0.0, 0.0, 900.0], dtype=dtype)


@pytest.fixture
def rig4() -> Camera:
    return ring_rig(4)
