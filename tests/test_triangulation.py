import pytest
import torch
from conftest import random_points, ring_rig
from torch.autograd import gradcheck

from lt_core.ops.ransac import triangulate_best_subset, triangulate_ransac
from lt_core.ops.triangulation import (
    TriangulationError,
    UnderdeterminedWarning,
    adjugate4,
    reprojection_error,
    triangulate,
    triangulate_reference,
)


def _setup(C, B=3, J=5, seed=0, noise=0.0):
    rig = ring_rig(C, seed=seed).expand(B, C)
    X = random_points(B, J, seed=seed)
    uv = rig.project(X[:, None])
    if noise:
        uv = uv + noise * torch.randn(uv.shape, generator=torch.Generator().manual_seed(seed + 1), dtype=uv.dtype)
    return rig.projection, X, uv


def test_adjugate_matches_inverse_times_determinant():
    m = torch.randn(20, 4, 4, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    ref = torch.linalg.inv(m) * torch.linalg.det(m)[:, None, None]
    assert torch.allclose(adjugate4(m.reshape(20, 16).T).T.reshape(20, 4, 4), ref, atol=1e-12)


@pytest.mark.parametrize("C", [2, 3, 4, 8, 16, 32])
def test_project_then_triangulate_recovers_points(C):
    P, X, uv = _setup(C, B=4, J=17)
    Y = triangulate(uv, P)
    assert Y.shape == X.shape and Y.dtype == torch.float64
    assert (Y - X).abs().max() < 1e-4  # millimetres


def test_float32_inputs_stay_accurate():
    P, X, uv = _setup(4, B=8, J=17)
    Y = triangulate(uv.float(), P.float())
    assert Y.dtype == torch.float32
    assert (Y.double() - X).norm(dim=-1).max() < 0.5  # limited by float32 pixel quantisation only
    Yn = triangulate(uv.float(), P.float(), precision="native")
    assert (Yn.double() - X).norm(dim=-1).max() < 2.0


def test_matches_float64_svd_reference_with_noise_and_weights():
    P, X, uv = _setup(5, B=2, J=6, noise=3.0)
    w = torch.rand(2, 5, 6, generator=torch.Generator().manual_seed(4), dtype=torch.float64) + 0.05
    fast = triangulate(uv, P, w)
    ref = triangulate_reference(uv, P, w)
    assert (fast - ref).abs().max() < 1e-7
    assert (fast - X).norm(dim=-1).mean() > 0.1  # the noise really moved the answer


def test_arbitrary_leading_dimensions():
    P, X, uv = _setup(3, B=6, J=4)
    Y = triangulate(uv.reshape(2, 3, 3, 4, 2), P.reshape(2, 3, 3, 3, 4))
    assert Y.shape == (2, 3, 4, 3)
    assert torch.allclose(Y.reshape(6, 4, 3), X, atol=1e-6)


def test_weights_downweight_an_outlier_view():
    P, X, uv = _setup(4, B=2, J=10)
    corrupted = uv.clone()
    corrupted[:, 3] += 40.0  # view 3 is off by 40 px
    w = torch.ones(2, 4, 10, dtype=torch.float64)
    plain = (triangulate(corrupted, P, w) - X).norm(dim=-1).mean()
    w[:, 3] = 1e-3
    weighted = (triangulate(corrupted, P, w) - X).norm(dim=-1).mean()
    assert plain > 10.0
    assert weighted < plain / 20
    w[:, 3] = 0.0
    assert (triangulate(corrupted, P, w) - X).abs().max() < 1e-4


def test_missing_views_may_be_nan_when_weight_is_zero():
    P, X, uv = _setup(4, B=1, J=3)
    uv = uv.clone()
    uv[0, 1, 2] = float("nan")
    w = torch.ones(1, 4, 3, dtype=torch.float64)
    w[0, 1, 2] = 0
    Y = triangulate(uv, P, w)
    assert torch.isfinite(Y).all() and (Y - X).abs().max() < 1e-4


def test_gradcheck_points_weights_projections():
    P, X, uv = _setup(3, B=1, J=2, noise=1.0)
    uv = uv.clone().requires_grad_(True)
    w = (torch.rand(1, 3, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(2)) + 0.5).requires_grad_(
        True
    )
    P = P.clone().requires_grad_(True)
    assert gradcheck(lambda a, b, c: triangulate(a, c, b), (uv, w, P), eps=1e-6, atol=1e-5)


def test_gradients_finite_when_views_coincide_or_weights_tiny():
    rig = ring_rig(2)
    # two identical cameras: the ray is known, the depth is not
    P = torch.stack([rig.projection[0], rig.projection[0]])[None]
    X = random_points(1, 3)
    uv = (rig[0].project(X))[:, None].expand(1, 2, 3, 2).clone().requires_grad_(True)
    w = torch.ones(1, 2, 3, dtype=torch.float64, requires_grad=True)
    with pytest.raises(TriangulationError, match="single camera centre"):
        triangulate(uv, P, w)  # no baseline: refused unless single-centre points are allowed
    with pytest.warns(UnderdeterminedWarning, match="arbitrary depth"):
        Y = triangulate(uv, P, w, min_views=1)
    Y.sum().backward()
    assert torch.isfinite(Y).all()
    assert torch.isfinite(uv.grad).all() and torch.isfinite(w.grad).all()
    # tiny weights on all but two views
    P4, X4, uv4 = _setup(4, B=1, J=3)
    uv4 = uv4.clone().requires_grad_(True)
    w4 = (
        torch.tensor([1.0, 1e-12, 1e-12, 1.0], dtype=torch.float64)[None, :, None]
        .expand(1, 4, 3)
        .clone()
        .requires_grad_(True)
    )
    Y4 = triangulate(uv4, P4, w4)
    Y4.sum().backward()
    assert torch.isfinite(uv4.grad).all() and torch.isfinite(w4.grad).all()
    assert (Y4 - X4).abs().max() < 1e-3


def test_svd_backward_would_be_nan_where_ours_is_finite():
    """The reason for the adjugate route: SVD's backward divides by differences of singular values."""
    rig = ring_rig(2)
    P = torch.stack([rig.projection[0], rig.projection[0]])
    X = random_points(1, 1)[0]
    uv = rig[0].project(X)[0]
    uv2 = torch.stack([uv, uv]).requires_grad_(True)
    A = torch.cat([uv2[:, :1] * P[:, 2] - P[:, 0], uv2[:, 1:] * P[:, 2] - P[:, 1]])
    _, _, vh = torch.linalg.svd(A)
    (vh[-1, :3] / vh[-1, 3]).sum().backward()
    svd_grad = uv2.grad.abs().max()
    uv3 = torch.stack([uv, uv])[None, :, None].clone().requires_grad_(True)
    with pytest.warns(UnderdeterminedWarning):
        triangulate(uv3, P[None], min_views=1).sum().backward()
    assert torch.isfinite(uv3.grad).all()
    assert not torch.isfinite(svd_grad) or svd_grad > 1e12  # SVD: NaN or astronomically large
    assert uv3.grad.abs().max() < 1e9


def test_clear_errors_for_bad_input():
    P, X, uv = _setup(3, B=1, J=2)
    with pytest.raises(TriangulationError, match=r"\(\.\.\., C, J, 2\)"):
        triangulate(uv[..., :1], P)
    with pytest.raises(TriangulationError, match="disagree"):
        triangulate(uv, P[:, :2])
    with pytest.raises(TriangulationError, match="weights must have shape"):
        triangulate(uv, P, torch.ones(1, 3, 5))
    bad = uv.clone()
    bad[0, 0, 1, 0] = float("nan")
    with pytest.raises(TriangulationError, match="NaN or inf in a usable view.*view 0, joint 1"):
        triangulate(bad, P)
    with pytest.raises(TriangulationError, match="projection matrices contain NaN"):
        triangulate(uv, P * float("nan"))
    w = torch.ones(1, 3, 2, dtype=torch.float64)
    w[0, 1:, 0] = 0
    with pytest.raises(TriangulationError, match="fewer than 2 usable views"):
        triangulate(uv, P, w)
    out = triangulate(uv, P, w, on_insufficient="nan")
    assert torch.isnan(out[0, 0]).all() and torch.isfinite(out[0, 1]).all()
    with pytest.raises(TriangulationError, match="non-negative"):
        triangulate(uv, P, -w)
    degenerate = P.clone()
    degenerate[0, 2, :, :3] = 0  # a camera that maps everything to one direction
    degenerate[0, 2, 2, 3] = 1
    with pytest.raises(TriangulationError, match="degenerate camera.*view 2"):
        triangulate(uv, degenerate)


def test_reprojection_error_zero_for_exact_points():
    P, X, uv = _setup(4, B=2, J=3)
    assert reprojection_error(X, uv, P).max() < 1e-6


def test_ransac_rejects_a_corrupted_view():
    P, X, uv = _setup(5, B=4, J=17, noise=1.0)
    corrupted = uv.clone()
    corrupted[:, 2] += torch.tensor([120.0, -90.0], dtype=torch.float64)
    naive = (triangulate(corrupted, P) - X).norm(dim=-1).mean()
    Y, inliers = triangulate_ransac(corrupted, P, generator=torch.Generator().manual_seed(0))
    err = (Y - X).norm(dim=-1)
    assert naive > 30
    assert err.mean() < 5 and err.max() < 20
    assert not inliers[:, 2].any() and inliers[:, [0, 1, 3, 4]].all()


def test_ransac_random_pairs_for_large_rigs_is_reproducible():
    P, X, uv = _setup(12, B=2, J=6, noise=0.5)
    corrupted = uv.clone()
    corrupted[:, 5] += 200.0
    a, ia = triangulate_ransac(corrupted, P, n_iters=20, generator=torch.Generator().manual_seed(3))
    b, ib = triangulate_ransac(corrupted, P, n_iters=20, generator=torch.Generator().manual_seed(3))
    assert torch.equal(a, b) and torch.equal(ia, ib)
    assert (a - X).norm(dim=-1).max() < 10
    assert not ia[:, 5].any()


def test_best_subset_matches_ransac_on_single_outlier_and_errors():
    P, X, uv = _setup(4, B=2, J=8, noise=0.5)
    corrupted = uv.clone()
    corrupted[:, 1] -= 80.0
    Y, used = triangulate_best_subset(corrupted, P)
    assert (Y - X).norm(dim=-1).max() < 10
    assert not used[:, 1].any() and used[:, [0, 2, 3]].all()
    with pytest.raises(TriangulationError, match="limited to"):
        triangulate_best_subset(*_setup(13, B=1, J=1)[2:], _setup(13, B=1, J=1)[0])
    with pytest.raises(TriangulationError, match="at least 2 views"):
        triangulate_ransac(uv[:, :1], P[:, :1])
