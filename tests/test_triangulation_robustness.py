"""Inputs that used to give silently wrong answers: weight scales, dtypes, array-likes, missing baselines, RANSAC
edge cases, undefined argmaxes, singular cameras; and the chunked / thread-limited execution."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from conftest import random_points, ring_rig
from hypothesis import given, settings
from hypothesis import strategies as st

import lt_core.ops.triangulation as tri
from lt_core.camera import Camera, CameraError
from lt_core.ops.ransac import triangulate_best_subset, triangulate_ransac
from lt_core.ops.soft_argmax import hard_argmax_2d, soft_argmax_2d, soft_argmax_3d
from lt_core.ops.triangulation import TriangulationError, UnderdeterminedWarning, project_points, triangulate


def _problem(C=4, B=2, J=5, noise=1.0, seed=0):
    g = torch.Generator().manual_seed(seed)
    rig = ring_rig(C)
    P = rig.projection.expand(B, C, 3, 4).contiguous()
    X = random_points(B, J)
    uv = project_points(X, P) + noise * torch.randn(B, C, J, 2, generator=g, dtype=torch.float64)
    w = torch.rand(B, C, J, generator=g, dtype=torch.float64) + 0.05
    return uv, P, w, X


UV, P4, W, X_TRUE = _problem()
REF = triangulate(UV, P4, W)


@settings(max_examples=40, deadline=None)
@given(exponent=st.floats(-300, 300), normalize=st.booleans())
def test_common_weight_scale_never_changes_the_answer(exponent, normalize):
    scale = 10.0**exponent
    ref = REF if normalize else triangulate(UV, P4, W, normalize=False)
    Y = triangulate(UV, P4, W * scale, normalize=normalize)
    assert torch.isfinite(Y).all()
    assert (Y - ref).abs().max() < 1e-6  # mm


@settings(max_examples=20, deadline=None)
@given(exponent=st.floats(-30, 30))
def test_common_weight_scale_in_float32_native(exponent):
    scale = 10.0**exponent
    Y = triangulate(UV.float(), P4.float(), (W * scale).float(), precision="native")
    assert Y.dtype == torch.float32
    assert (Y.double() - REF).abs().max() < 0.05  # float32 rounding only, at any scale float32 can hold


@settings(max_examples=15, deadline=None)
@given(per_point=st.lists(st.floats(-250, 250), min_size=5, max_size=5))
def test_each_point_may_have_its_own_weight_scale(per_point):
    s = torch.tensor([10.0**e for e in per_point], dtype=torch.float64)  # one scale per joint
    assert (triangulate(UV, P4, W * s) - REF).abs().max() < 1e-6


@pytest.mark.parametrize("kind", ["int64", "int32", "float32", "numpy", "list"])
def test_dtypes_and_array_likes(kind):
    uv = UV.round()
    ref = triangulate(uv, P4, W)
    if kind in ("int64", "int32"):
        Y = triangulate(uv.to(getattr(torch, kind)), P4, W)
        assert Y.dtype == torch.float64  # integer pixels give float64 mm, not rounded integers
        assert torch.equal(Y, ref)
    elif kind == "float32":
        Y = triangulate(uv.float(), P4.float(), W.float())
        assert Y.dtype == torch.float32 and (Y.double() - ref).abs().max() < 1e-3
    elif kind == "numpy":
        Y = triangulate(uv.numpy(), P4.numpy(), W.numpy())
        assert isinstance(Y, torch.Tensor) and torch.equal(Y, ref)
    else:
        Y = triangulate(uv.tolist(), P4.tolist(), W.tolist())
        assert torch.equal(Y, ref)


def test_non_numeric_inputs_are_refused_by_name():
    with pytest.raises(TriangulationError, match="points must be a tensor or an array of numbers"):
        triangulate({"u": 1}, P4)
    with pytest.raises(TriangulationError, match="weights must hold real numbers"):
        triangulate(UV, P4, W > 0)


def test_coincident_cameras_are_refused_or_nan():
    P = P4.clone()
    P[:, 1] = P[:, 0] * 2.0  # view 1: the same camera centre as view 0
    w = W.clone()
    w[0, 2:, 3] = 0  # sample 0, joint 3: only views 0 and 1 usable -> one centre
    with pytest.raises(TriangulationError, match=r"single camera centre.*sample 0, joint 3 with 2 usable"):
        triangulate(UV, P, w)
    Y = triangulate(UV, P, w, on_insufficient="nan")
    assert torch.isnan(Y[0, 3]).all()
    ok = torch.ones(2, 5, dtype=torch.bool)
    ok[0, 3] = False
    assert torch.isfinite(Y[ok]).all()  # the other points keep a baseline (views 2, 3)
    with pytest.warns(UnderdeterminedWarning, match="1 point"):
        assert torch.isfinite(triangulate(UV, P, w, min_views=1)).all()


def test_single_view_with_min_views_1_warns():
    w = W.clone()
    w[1, 1:, 0] = 0
    with pytest.warns(UnderdeterminedWarning, match=r"sample 1, joint 0 with 1 usable view\(s\).*arbitrary depth"):
        triangulate(UV, P4, w, min_views=1)
    with pytest.raises(TriangulationError, match="min_views must be >= 1"):
        triangulate(UV, P4, W, min_views=0)


def test_chunked_passes_equal_one_pass(monkeypatch):
    uv, P, w, _ = _problem(C=3, B=3, J=7, seed=1)
    whole, svd = triangulate(uv, P, w), triangulate(uv, P, w, normalize=False)
    for chunk in (1, 4, 7, 10):  # joint chunks within a sample, and groups of samples
        monkeypatch.setattr(tri, "CHUNK_POINTS", chunk)
        assert torch.allclose(triangulate(uv, P, w), whole, rtol=0, atol=1e-9)  # mm; batch-size rounding only
        assert torch.allclose(triangulate(uv, P, w, normalize=False), svd, rtol=0, atol=1e-9)
    w[2, :, 5] = 0
    monkeypatch.setattr(tri, "CHUNK_POINTS", 4)
    Y = triangulate(uv, P, w, on_insufficient="nan")
    assert torch.isnan(Y[2, 5]).all() and torch.isfinite(Y[:2]).all()


def test_thread_policy_and_restoration():
    old = torch.get_num_threads()
    assert tri.single_thread_below(100)
    with tri._threads(True):
        assert torch.get_num_threads() == 1
    assert torch.get_num_threads() == old


# ---------------------------------------------------------------------------------------------------- RANSAC
@pytest.mark.parametrize("fn", [triangulate_ransac, triangulate_best_subset])
def test_ransac_edges(fn):
    uv, P, _, X = _problem(C=4, B=2, J=3, noise=0.5)
    Pz = P.clone()
    Pz[1, 2] = 0
    with pytest.raises(TriangulationError, match="sample 1, view 2 has rank < 3"):
        fn(uv, Pz)
    for bad in (float("nan"), -1.0, 0.0, float("inf")):
        with pytest.raises(TriangulationError, match="threshold must be a positive, finite"):
            fn(uv, P, threshold=bad)
    for shape in ((0, 4, 3, 2), (2, 4, 0, 2)):
        Y, m = fn(torch.zeros(shape, dtype=torch.float64), P[: shape[0]])
        assert Y.shape == (shape[0], shape[2], 3) and m.shape == shape[:3]
    Y, _ = fn(uv.round().long(), P)
    assert Y.dtype == torch.float64 and (Y - X).norm(dim=-1).max() < 20
    with pytest.raises(TriangulationError, match="must be torch tensors"):
        fn(uv.numpy(), P)


def test_ransac_iteration_count_must_be_positive():
    uv, P, _, _ = _problem(C=4, B=1, J=2)
    for n in (0, -3):
        with pytest.raises(TriangulationError, match="n_iters must be a positive integer"):
            triangulate_ransac(uv, P, n_iters=n)


# ---------------------------------------------------------------------------------------------------- argmax
@pytest.mark.parametrize("fill", [float("nan"), float("-inf"), float("inf")])
def test_argmax_of_undefined_heatmaps_raises(fill):
    h = torch.randn(2, 3, 8, 8)
    h[1, 2] = fill
    what = {"nan": "contains NaN", "-inf": "is -inf everywhere", "inf": "contains \\+inf"}[str(fill)]
    for fn in (soft_argmax_2d, hard_argmax_2d):
        with pytest.raises(ValueError, match=rf"heatmap \(1, 2\) .*{what}"):
            fn(h)
    v = torch.randn(1, 2, 4, 4, 4)
    v[0, 1, 0, 0, 0] = float("nan")
    with pytest.raises(ValueError, match=r"heatmap \(0, 1\)"):
        soft_argmax_3d(v)
    h[1, 2] = float("-inf")
    h[1, 2, 3, 4] = 0.0  # one finite score is enough: the argmax is defined
    assert torch.allclose(soft_argmax_2d(h)[1, 2], torch.tensor([4.0, 3.0]))


# ---------------------------------------------------------------------------------------------------- cameras
def test_singular_intrinsics_are_refused_at_construction():
    cam = ring_rig(2)
    K = cam.K.clone()
    K[1, 0, 0] = 0.0
    with pytest.raises(CameraError, match=r"K is singular \(camera \[1\]\).*fx=0"):
        Camera(K, cam.R, cam.t, dist=torch.tensor([0.1, 0, 0, 0, 0], dtype=torch.float64))
    with pytest.raises(CameraError, match="singular"):
        Camera(np.zeros((3, 3)), np.eye(3), np.zeros(3))
