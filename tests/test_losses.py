"""Tests of the paper's losses against hand-computed values."""

from __future__ import annotations

import itertools
import math

import pytest
import torch

from lt_core.losses import (
    l1_loss,
    model_loss,
    nearest_voxel,
    smooth_mse_loss,
    volumetric_ce_loss,
)
from lt_core.ops.unprojection import make_cuboid_grid


def pair(errors_mm: list[list[float]]) -> tuple[torch.Tensor, torch.Tensor]:
    """Targets at zero and predictions offset by the given per-coordinate errors, (1, J, 3)."""
    pred = torch.tensor([errors_mm], dtype=torch.float64)
    return pred, torch.zeros_like(pred)


def test_smooth_mse_hand_values_in_cm():
    # joint 0: errors 100 mm, 0, -50 mm -> 10 cm, 0, -5 cm -> squared 100, 0, 25 (below 400: kept)
    # joint 1: 300 mm -> 30 cm -> 900 > 400 -> 900**0.1 * 400**0.9; 200 mm -> 400 exactly (kept); 0
    pred, target = pair([[100.0, 0.0, -50.0], [300.0, 200.0, 0.0]])
    expected = (100 + 0 + 25 + 900**0.1 * 400**0.9 + 400 + 0) / 6
    assert smooth_mse_loss(pred, target).item() == pytest.approx(expected, rel=1e-12)
    # invalid joints are ignored, and the mean runs over valid joints only
    valid = torch.tensor([[True, False]])
    assert smooth_mse_loss(pred, target, valid).item() == pytest.approx(125 / 3, rel=1e-12)
    # millimetre units with scale=1: 100 mm -> 10000 > 400
    one = smooth_mse_loss(pred[:, :1], target[:, :1], scale=1.0)
    assert one.item() == pytest.approx((10000**0.1 * 400**0.9 + 0 + 2500**0.1 * 400**0.9) / 3, rel=1e-12)


def test_smooth_mse_is_continuous_and_has_finite_gradients():
    below = smooth_mse_loss(*pair([[200.0 - 1e-7, 0.0, 0.0]]))
    above = smooth_mse_loss(*pair([[200.0 + 1e-7, 0.0, 0.0]]))
    assert abs(below.item() - above.item()) < 1e-6
    pred = torch.tensor([[[0.0, 0.0, 0.0], [500.0, -3.0, 0.0]]], requires_grad=True)
    smooth_mse_loss(pred, torch.zeros(1, 2, 3)).backward()
    assert torch.isfinite(pred.grad).all()
    # above the threshold the gradient is much smaller than the plain MSE's
    d = 50.0**2
    expected = 0.1 * d**-0.9 * 400**0.9 * 2 * 50.0 * 0.1 / 6
    assert pred.grad[0, 1, 0].item() == pytest.approx(expected, rel=1e-5)


def test_l1_hand_values():
    pred, target = pair([[10.0, -20.0, 30.0], [100.0, 0.0, 0.0]])
    assert l1_loss(pred, target).item() == pytest.approx((1 + 2 + 3 + 10) / 6, rel=1e-12)
    assert l1_loss(pred, target, torch.tensor([[False, True]])).item() == pytest.approx(10 / 3, rel=1e-12)
    assert l1_loss(pred, target, scale=1.0).item() == pytest.approx(160 / 6, rel=1e-12)
    # no valid joint: zero, not NaN
    assert l1_loss(pred, target, torch.zeros(1, 2, dtype=torch.bool)).item() == 0.0


def test_nearest_voxel_matches_brute_force_on_rotated_grids():
    gen = torch.Generator().manual_seed(0)
    centre = torch.tensor([[0.0, 0.0, 900.0], [300.0, -100.0, 800.0]])
    grid = make_cuboid_grid(centre, side=1000.0, D=9, rotation_z=torch.tensor([0.0, 0.9]))
    points = centre[:, None] + 900.0 * (torch.rand(2, 40, 3, generator=gen) * 2 - 1)  # some outside the cube
    idx = nearest_voxel(grid, points)
    flat = grid.reshape(2, -1, 3)
    brute = torch.cdist(points.double(), flat.double()).argmin(-1)
    torch.testing.assert_close(idx, torch.stack(torch.unravel_index(brute, (9, 9, 9)), -1))


def test_volumetric_ce_hand_values():
    D = 4
    grid = make_cuboid_grid(torch.zeros(1, 3), side=300.0, D=D)  # voxels every 100 mm from -150 to 150
    target = torch.tensor([[[-150.0, -50.0, 50.0], [149.0, 149.0, -149.0]]])  # voxels (0, 1, 2) and (3, 3, 0)
    probs = torch.full((1, 2, D, D, D), 0.5 / (D**3 - 1))
    probs[0, 0, 0, 1, 2] = 0.5
    probs[0, 1, 3, 3, 0] = 0.25
    expected = (-math.log(0.5 + 1e-6) - math.log(0.25 + 1e-6)) / 2
    assert volumetric_ce_loss(probs, grid, target).item() == pytest.approx(expected, rel=1e-6)
    only_second = volumetric_ce_loss(probs, grid, target, torch.tensor([[False, True]]))
    assert only_second.item() == pytest.approx(-math.log(0.25 + 1e-6), rel=1e-6)
    logits = torch.randn(1, 2, D, D, D)
    from_logits = volumetric_ce_loss(logits, grid, target, from_logits=True)
    p = torch.softmax(logits.reshape(1, 2, -1), -1).reshape(logits.shape)
    expected = -(torch.log(p[0, 0, 0, 1, 2]) + torch.log(p[0, 1, 3, 3, 0])) / 2
    assert from_logits.item() == pytest.approx(expected.item(), rel=1e-5)


def test_model_loss_combines_terms():
    gen = torch.Generator().manual_seed(1)
    B, J, D = 2, 3, 4
    target = 100 * torch.randn(B, J, 3, generator=gen)
    pred = target + 30 * torch.randn(B, J, 3, generator=gen)
    valid = torch.tensor([[True, True, False], [True, False, True]])
    batch = {"joints_3d": target, "joints_valid": valid}
    alg = model_loss("algebraic", {"joints_3d": pred}, batch)
    assert alg["loss"].item() == pytest.approx(smooth_mse_loss(pred, target, valid).item())
    grid = make_cuboid_grid(torch.zeros(B, 3), 600.0, D)
    volumes = torch.softmax(torch.randn(B, J, D**3, generator=gen), -1).reshape(B, J, D, D, D)
    vol = model_loss("volumetric", {"joints_3d": pred, "volumes": volumes, "grid": grid}, batch)
    l1 = l1_loss(pred, target, valid)
    ce = volumetric_ce_loss(volumes, grid, target, valid)
    assert vol["loss"].item() == pytest.approx((l1 + 0.01 * ce).item())
    assert vol["l1"].item() == pytest.approx(l1.item()) and vol["ce"].item() == pytest.approx(ce.item())
    with pytest.raises(ValueError, match="RANSAC"):
        model_loss("ransac", {"joints_3d": pred}, batch)
    with pytest.raises(ValueError, match="unknown"):
        model_loss("nope", {"joints_3d": pred}, batch)


def test_losses_accept_half_precision_and_check_shapes():
    pred, target = pair([[100.0, 0.0, -50.0], [300.0, 200.0, 0.0]])
    half = smooth_mse_loss(pred.bfloat16(), target.bfloat16())
    assert half.dtype == torch.float32
    assert half.item() == pytest.approx(smooth_mse_loss(pred, target).item(), rel=1e-2)
    with pytest.raises(ValueError):
        l1_loss(pred, target[:, :1])
    with pytest.raises(ValueError):
        smooth_mse_loss(pred, target, torch.ones(2, 2))


@pytest.mark.parametrize("i,j,k", list(itertools.product([0, 3], [1], [2, 3])))
def test_nearest_voxel_of_voxel_centres_is_itself(i, j, k):
    grid = make_cuboid_grid(torch.tensor([[5.0, 6.0, 7.0]]), 300.0, 4, rotation_z=torch.tensor([2.0]))
    idx = nearest_voxel(grid, grid[:, i, j, k][:, None])
    assert idx.tolist() == [[[i, j, k]]]
