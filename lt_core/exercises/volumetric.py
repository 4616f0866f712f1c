"""Exercises of notebook 04 (volumetric triangulation): the cuboid, unprojecting one view with ``grid_sample``, the
softmax aggregation, the 3D soft-argmax."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

from lt_core.camera import Camera, stack_cameras
from lt_core.exercises import ExerciseFailed, call, close, register
from lt_core.ops.soft_argmax import soft_argmax_3d
from lt_core.ops.unprojection import make_cuboid_grid, unproject_features


def _heatmap_camera(seed: int, size: int = 24) -> Camera:
    """A camera of a ``size`` x ``size`` feature map looking at the capture area from 3-5 m."""
    g = torch.Generator().manual_seed(seed)
    angle = float(torch.rand((), generator=g)) * 6.283
    radius = 3000.0 + 2000.0 * float(torch.rand((), generator=g))
    eye = torch.tensor(
        [radius * torch.cos(torch.tensor(angle)), radius * torch.sin(torch.tensor(angle)), 1500.0], dtype=torch.float64
    )
    full = Camera.look_at(eye, [0.0, 0.0, 900.0], focal=1100.0, image_size=(1000, 1000))
    return full.resize(size / 1000)


@register("04.1", "the cuboid of voxel centres", paper="Sec. 3, volumetric approach: the L x L x L box")
def _cuboid(answer: Callable[..., Any]) -> str:
    for root, side, D in (
        ((0.0, 0.0, 900.0), 2500.0, 8),
        ((-694.1, 258.8, 1016.0), 2200.0, 5),
        ((10.0, -20.0, 30.0), 1000.0, 3),
    ):
        r = torch.tensor(root, dtype=torch.float64)
        got = call(answer, r.clone(), side, D)
        close(
            got,
            make_cuboid_grid(r[None], side, D)[0],
            f"root {root}, side {side:g} mm, D = {D}",
            atol=1e-9,
            rtol=0,
            unit="mm",
        )
    return "Your (D, D, D, 3) grid matches make_cuboid_grid: first index along x, then y, then z; corners on the faces."


@register("04.2", "unproject one view with grid_sample", paper="Sec. 3, Eq. (7)")
def _unproject(answer: Callable[..., Any]) -> str:
    g = torch.Generator().manual_seed(4)
    for k in range(3):
        cam = _heatmap_camera(k, size=24)
        feats = torch.rand(5, 24, 24, generator=g, dtype=torch.float64)
        centre = torch.tensor([0.0, 0.0, 900.0], dtype=torch.float64) + 300 * torch.randn(
            3, generator=g, dtype=torch.float64
        )
        grid = make_cuboid_grid(centre[None], 3000.0, 12)[0]  # wider than the view: some voxels fall outside
        want = unproject_features(feats[None, None], cam.expand(1, 1), grid[None], "sum")[0]
        got = call(answer, feats.clone(), cam.projection.clone(), grid.clone())
        close(
            got,
            want,
            f"camera {k}: 5 channels of 24 x 24, a 12^3 grid of 3 m (voxels outside the map included)",
            atol=1e-9,
            rtol=0,
        )
    return (
        "Your volume matches lt_core's unproject_features for one view, including the voxels outside the map or "
        "behind the camera (0)."
    )


@register("04.3", "softmax aggregation over views", paper="Sec. 3, Eq. (10)-(11)")
def _softmax(answer: Callable[..., Any]) -> str:
    g = torch.Generator().manual_seed(5)
    C, D = 4, 8
    cams = [_heatmap_camera(10 + c, size=16) for c in range(C)]
    rig = stack_cameras(cams).expand(1, C)
    feats = 3.0 * torch.rand(1, C, 3, 16, 16, generator=g, dtype=torch.float64)
    grid = make_cuboid_grid(torch.tensor([[0.0, 0.0, 900.0]], dtype=torch.float64), 800.0, D)
    eye = torch.eye(C, dtype=torch.bool)
    per_view = torch.cat(
        [unproject_features(feats, rig, grid, "sum", views_valid=eye[c : c + 1]) for c in range(C)]
    )  # (C, 3, D, D, D)
    want, seen = unproject_features(feats, rig, grid, "softmax", return_visibility=True)
    everywhere = seen[0].all(0)  # voxels every view sees
    got = torch.as_tensor(call(answer, per_view.clone()))
    if got.shape != want[0].shape:
        raise ExerciseFailed(f"expected a volume of shape {tuple(want[0].shape)}, got {tuple(got.shape)}")
    close(
        got[:, everywhere],
        want[0][:, everywhere],
        f"{C} views, 3 channels, the {int(everywhere.sum())} voxels of an {D}^3 grid that every view sees",
        atol=1e-9,
        rtol=0,
    )
    return "Per voxel and channel your weights softmax_c(V_c) reproduce the released model's aggregation."


@register("04.4", "the 3D soft-argmax", paper="Sec. 3, Eq. (13)-(14)")
def _soft_argmax_3d(answer: Callable[..., Any]) -> str:
    g = torch.Generator().manual_seed(6)
    grid = make_cuboid_grid(torch.tensor([[-300.0, 200.0, 950.0]], dtype=torch.float64), 2000.0, 10)[0]
    scores = torch.randn(17, 10, 10, 10, generator=g, dtype=torch.float64) * 2
    for beta in (0.5, 1.0, 4.0):
        got = call(answer, scores.clone(), grid.clone(), beta)
        close(
            got,
            soft_argmax_3d(scores, beta, grid[None].expand(17, 10, 10, 10, 3)),
            f"17 random score volumes on a 10^3 grid, beta = {beta:g}",
            atol=1e-8,
            rtol=0,
            unit="mm",
        )
    return "Your expected positions match lt_core.ops.soft_argmax_3d in world millimetres."
