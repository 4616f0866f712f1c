"""lt_core.checks: one shape-check message format and divisions by sums that may be zero."""

from __future__ import annotations

import pytest
import torch

from lt_core.checks import check_shape, normalize_sum, weighted_mean


def test_check_shape_accepts_matching_trailing_dimensions():
    check_shape(torch.zeros(2, 5, 3), ("N", 3), "X")
    check_shape(torch.zeros(3, 3), (3, 3), "R")
    check_shape(torch.zeros(7, 3), (3,), "rvec")


@pytest.mark.parametrize(
    "shape, trailing, message",
    [
        ((4, 2), ("N", 3), r"X must have shape \(\.\.\., N, 3\), got \(4, 2\)"),
        ((3,), ("N", 3), r"X must have shape \(\.\.\., N, 3\), got \(3,\)"),
        ((2, 3, 4), (3, 3), r"X must have shape \(\.\.\., 3, 3\), got \(2, 3, 4\)"),
    ],
)
def test_check_shape_names_the_argument_and_both_shapes(shape, trailing, message):
    with pytest.raises(ValueError, match=message):
        check_shape(torch.zeros(shape), trailing, "X")


def test_check_shape_refuses_non_tensors():
    with pytest.raises(TypeError, match="uv must be a torch.Tensor, got list"):
        check_shape([[1.0, 2.0]], ("N", 2), "uv")


def test_camera_and_rotation_use_the_shared_message():
    from lt_core.camera import Camera
    from lt_core.rotation import rodrigues_to_matrix

    cam = Camera(K=torch.eye(3), R=torch.eye(3), t=torch.tensor([0.0, 0.0, 1000.0]))
    with pytest.raises(ValueError, match=r"X must have shape \(\.\.\., N, 3\), got \(5, 2\)"):
        cam.project(torch.zeros(5, 2))
    with pytest.raises(ValueError, match=r"rvec must have shape \(\.\.\., 3\), got \(4\,\)"):
        rodrigues_to_matrix(torch.zeros(4))


def test_normalize_sum_sums_to_one_and_keeps_zero_slices_at_zero():
    x = torch.tensor([[1.0, 3.0], [0.0, 0.0], [1e-30, 3e-30]], dtype=torch.float64)
    y = normalize_sum(x, 1)
    assert torch.equal(y[1], torch.zeros(2, dtype=torch.float64))
    torch.testing.assert_close(y[0], torch.tensor([0.25, 0.75], dtype=torch.float64))
    torch.testing.assert_close(y[2], torch.tensor([0.25, 0.75], dtype=torch.float64))  # no epsilon bias
    maps = torch.rand(2, 3, 4, 5)
    torch.testing.assert_close(normalize_sum(maps, (-2, -1)).sum((-2, -1)), torch.ones(2, 3))


def test_weighted_mean_is_the_mean_over_valid_elements():
    values = torch.tensor([1.0, 2.0, 3.0, 10.0])
    assert weighted_mean(values, torch.tensor([1.0, 1.0, 1.0, 0.0])).item() == pytest.approx(2.0)
    assert weighted_mean(values, torch.zeros(4)).item() == 0.0  # nothing valid: 0, not NaN
    assert weighted_mean(values, torch.tensor([0.0, 0.0, 1.0, 0.0])).item() == pytest.approx(3.0)
    grad = torch.ones(4, requires_grad=True)
    weighted_mean(values * grad, torch.tensor([1.0, 1.0, 0.0, 0.0])).backward()
    torch.testing.assert_close(grad.grad, torch.tensor([0.5, 1.0, 0.0, 0.0]))


def test_weighted_mean_repeats_the_replaced_expressions_bit_for_bit():
    """Training amplifies last-bit differences: the helper must keep the operation order of the code it replaced."""
    g = torch.Generator().manual_seed(0)
    for _ in range(20):
        err = torch.rand(4, 3, 17, generator=g) * torch.rand(1, generator=g) * 10
        m = (torch.rand(4, 3, 17, generator=g) > 0.3).float()
        assert torch.equal(weighted_mean(err, m, scale=1000.0), 1000.0 * (err * m).sum() / m.sum().clamp(min=1.0))
        assert torch.equal(weighted_mean(err, m), (err * m).sum() / m.sum().clamp(min=1.0))
        assert torch.equal(-weighted_mean(err, m), -(err * m).sum() / m.sum().clamp_min(1.0))
    # the other order differs in the last bit for some inputs: the test above can fail
    err = torch.rand(4093, generator=g)
    m = torch.ones(4093)
    orders_differ = [
        not torch.equal(1000.0 * (e * m).sum() / m.sum(), 1000.0 * ((e * m).sum() / m.sum()))
        for e in (err * k for k in torch.linspace(0.1, 10, 50))
    ]
    assert any(orders_differ)
