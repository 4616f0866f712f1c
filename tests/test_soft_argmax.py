import pytest
import torch
from torch.autograd import gradcheck

from lt_core.ops.soft_argmax import hard_argmax_2d, soft_argmax_2d, soft_argmax_3d


def gaussian_2d(h, w, u, v, sigma=1.5):
    ys, xs = torch.meshgrid(torch.arange(h, dtype=torch.float64), torch.arange(w, dtype=torch.float64), indexing="ij")
    return torch.exp(-((xs - u) ** 2 + (ys - v) ** 2) / (2 * sigma**2))


def test_soft_argmax_2d_finds_subpixel_peak():
    hm = torch.log(gaussian_2d(32, 40, 17.3, 9.6) + 1e-30)[None, None]
    uv = soft_argmax_2d(hm, beta=1.0)
    assert uv.shape == (1, 1, 2)
    assert torch.allclose(uv[0, 0], torch.tensor([17.3, 9.6], dtype=torch.float64), atol=1e-3)


def test_soft_argmax_low_beta_is_biased_towards_centre_at_borders():
    hm = gaussian_2d(32, 32, 2.0, 2.0)[None]
    sharp = soft_argmax_2d(hm, beta=200.0)[0]
    blurry = soft_argmax_2d(hm, beta=1.0)[0]
    assert torch.allclose(sharp, torch.tensor([2.0, 2.0], dtype=torch.float64), atol=1e-2)
    assert (blurry > 5.0).all()  # pulled towards (15.5, 15.5)


def test_soft_argmax_2d_gradcheck():
    hm = torch.randn(2, 3, 5, 6, dtype=torch.float64, requires_grad=True)
    assert gradcheck(lambda x: soft_argmax_2d(x, beta=3.0), (hm,))


def test_soft_argmax_3d_index_and_grid_and_gradcheck():
    D = 8
    vol = torch.full((1, 1, D, D, D), -1e4, dtype=torch.float64)
    vol[0, 0, 5, 2, 6] = 0.0  # (z=5, y=2, x=6)
    xyz = soft_argmax_3d(vol, beta=1.0)
    assert torch.allclose(xyz[0, 0], torch.tensor([6.0, 2.0, 5.0], dtype=torch.float64))
    grid = torch.randn(1, 1, D, D, D, 3, dtype=torch.float64)
    assert torch.allclose(soft_argmax_3d(vol, 1.0, grid)[0, 0], grid[0, 0, 5, 2, 6])
    v = torch.randn(1, 2, 3, 3, 3, dtype=torch.float64, requires_grad=True)
    assert gradcheck(lambda x: soft_argmax_3d(x, beta=2.0), (v,))
    with pytest.raises(ValueError, match="grid must have shape"):
        soft_argmax_3d(vol, 1.0, grid[..., :2])


def test_hard_argmax_subpixel_refinement():
    hm = torch.log(gaussian_2d(24, 24, 10.3, 14.8, sigma=2.0))[None]  # log-Gaussian is an exact parabola
    coarse, _ = hard_argmax_2d(hm, refine=False)
    fine, peak = hard_argmax_2d(hm)
    assert torch.equal(coarse[0], torch.tensor([10.0, 15.0], dtype=torch.float64))
    assert torch.allclose(fine[0], torch.tensor([10.3, 14.8], dtype=torch.float64), atol=1e-6)
    # border peaks keep the integer location
    border = torch.log(gaussian_2d(8, 8, 0.0, 7.0) + 1e-30)[None]
    assert torch.equal(hard_argmax_2d(border)[0][0], torch.tensor([0.0, 7.0], dtype=torch.float64))


def test_bad_heatmaps_raise():
    with pytest.raises(ValueError, match=r"\(\.\.\., H, W\)"):
        soft_argmax_2d(torch.zeros(5))
    with pytest.raises(TypeError, match="floating point"):
        soft_argmax_2d(torch.zeros(2, 3, 3, dtype=torch.long))
