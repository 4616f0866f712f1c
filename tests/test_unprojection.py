"""Tests of the batched feature unprojection and the cuboid grid."""

from __future__ import annotations

import math

import pytest
import torch

from lt_core.camera import Camera, stack_cameras
from lt_core.ops._gather import GatherTaps, _transpose_into, _transposer
from lt_core.ops.soft_argmax import soft_argmax_3d
from lt_core.ops.unprojection import (
    AGGREGATIONS,
    BACKENDS,
    fused_available,
    make_cuboid_grid,
    project_grid,
    unproject_features,
    unproject_features_loop,
)


def make_rig(B: int, C: int, size: int = 16, dtype: torch.dtype = torch.float64, dist: bool = False) -> Camera:
    """(B, C) cameras on a ring around the origin, resized to ``size`` x ``size`` feature maps."""
    rigs = []
    for b in range(B):
        cams = []
        for c in range(C):
            a = 2 * math.pi * c / C + 0.3 * b
            cam = Camera.look_at(
                (3000 * math.cos(a), 3000 * math.sin(a), 1300.0 + 100 * c),
                (0.0, 0.0, 900.0),
                focal=900.0,
                image_size=(1000, 1000),
            )
            if dist:
                cam.dist = torch.tensor([-0.05, 0.01, 1e-3, -1e-3, 0.0], dtype=cam.dtype)
            cams.append(cam.resize(size / 1000.0))
        rigs.append(stack_cameras(cams))
    return stack_cameras(rigs).to(dtype=dtype)


def problem(B=2, C=3, Fc=4, size=16, D=8, side=2500.0, dtype=torch.float64, seed=0, dist=False):
    gen = torch.Generator().manual_seed(seed)
    cams = make_rig(B, C, size, dtype, dist)
    features = torch.randn(B, C, Fc, size, size, generator=gen, dtype=dtype)
    centre = torch.tensor([[0.0, 0.0, 900.0]], dtype=dtype) + 50 * torch.randn(B, 3, generator=gen, dtype=dtype)
    grid = make_cuboid_grid(centre, side, D, rotation_z=torch.rand(B, generator=gen, dtype=dtype) * 6.28)
    conf = torch.rand(B, C, generator=gen, dtype=dtype) + 0.1
    return features, cams, grid, conf


def hard_problem(B=2, Fc=3, D=7, dtype=torch.float64, seed=1):
    """4 views per sample on 16 x 12 maps (non-square): 3 on a ring (the cube sticks out of their maps) and one
    standing inside the cube looking outwards (part of the cube lies behind that camera)."""
    gen = torch.Generator().manual_seed(seed)
    scale = 16 / 1000.0  # 1000 x 750 images -> 16 x 12 maps
    rigs = []
    for b in range(B):
        cams = []
        for c in range(3):
            a = 2 * math.pi * c / 3 + 0.4 * b
            eye = (2600 * math.cos(a), 2600 * math.sin(a), 1200.0 + 80 * c)
            cams.append(Camera.look_at(eye, (0.0, 0.0, 900.0), focal=900.0, image_size=(1000, 750)).resize(scale))
        inner = Camera.look_at(
            (300.0 * (b + 1), -200.0, 950.0), (3000.0, 800.0 * b, 1000.0), focal=500.0, image_size=(1000, 750)
        )
        cams.append(inner.resize(scale))
        rigs.append(stack_cameras(cams))
    cams = stack_cameras(rigs).to(dtype=dtype)
    features = torch.randn(B, 4, Fc, 12, 16, generator=gen, dtype=dtype)
    centre = torch.tensor([[0.0, 0.0, 900.0]], dtype=dtype) + 40 * torch.randn(B, 3, generator=gen, dtype=dtype)
    grid = make_cuboid_grid(centre, 2200.0, D, rotation_z=torch.rand(B, generator=gen, dtype=dtype) * 6.28)
    conf = torch.rand(B, 4, generator=gen, dtype=dtype) + 0.1
    return features, cams, grid, conf


# ---------------------------------------------------------------- grid


def test_grid_layout_spacing_and_axes():
    centre = torch.tensor([[100.0, -200.0, 900.0]])
    grid = make_cuboid_grid(centre, side=2500.0, D=64)
    assert grid.shape == (1, 64, 64, 64, 3) and grid.dtype == torch.float32
    step = 2500.0 / 63
    torch.testing.assert_close(grid[0, 1, 0, 0] - grid[0, 0, 0, 0], torch.tensor([step, 0.0, 0.0]))
    torch.testing.assert_close(grid[0, 0, 1, 0] - grid[0, 0, 0, 0], torch.tensor([0.0, step, 0.0]))
    torch.testing.assert_close(grid[0, 0, 0, 1] - grid[0, 0, 0, 0], torch.tensor([0.0, 0.0, step]))
    torch.testing.assert_close(grid[0, 0, 0, 0], centre[0] - 1250.0)
    torch.testing.assert_close(grid[0, -1, -1, -1], centre[0] + 1250.0)
    torch.testing.assert_close(grid[0].reshape(-1, 3).mean(0), centre[0])


def test_grid_rotation_about_vertical_axis():
    centre = torch.tensor([[0.0, 0.0, 900.0], [10.0, 20.0, 30.0]], dtype=torch.float64)
    grid = make_cuboid_grid(centre, side=1000.0, D=5, rotation_z=torch.tensor([math.pi / 2, 0.0], dtype=torch.float64))
    # first axis (x) turns into +y, z unchanged, centre fixed
    axis0 = grid[0, 1, 0, 0] - grid[0, 0, 0, 0]
    torch.testing.assert_close(axis0, torch.tensor([0.0, 250.0, 0.0], dtype=torch.float64))
    torch.testing.assert_close(grid[0, 2, 2, 2], centre[0])
    torch.testing.assert_close(
        grid[0, 0, 0, 1] - grid[0, 0, 0, 0], torch.tensor([0.0, 0.0, 250.0], dtype=torch.float64)
    )
    torch.testing.assert_close(grid[1], make_cuboid_grid(centre[1:], 1000.0, 5)[0])


def test_soft_argmax_3d_with_grid_returns_mm():
    grid = make_cuboid_grid(torch.tensor([[0.0, 0.0, 900.0]]), side=2500.0, D=16, rotation_z=torch.tensor([0.7]))
    logits = torch.full((1, 1, 16, 16, 16), -1e4)
    logits[0, 0, 3, 11, 7] = 0.0
    out = soft_argmax_3d(logits, 1.0, grid[:, None])
    torch.testing.assert_close(out[0, 0], grid[0, 3, 11, 7])


def test_grid_errors():
    with pytest.raises(ValueError):
        make_cuboid_grid(torch.zeros(3), 100.0, 4)
    with pytest.raises(ValueError):
        make_cuboid_grid(torch.zeros(1, 3), 100.0, 1)
    with pytest.raises(ValueError):
        make_cuboid_grid(torch.zeros(2, 3), 100.0, 4, rotation_z=torch.zeros(3))


# ---------------------------------------------------------------- backends == loop reference

SAMPLERS = ("fused", "gather", "grid_sample")
DEFAULT_CPU = "fused" if fused_available() else "gather"


def test_fused_backend_is_installed():
    """numba is a dependency: the compiled backend is what "auto" uses on the CPU."""
    assert fused_available()


@pytest.mark.parametrize("aggregation", AGGREGATIONS)
def test_backends_match_loop_reference(aggregation):
    features, cams, grid, conf = problem()
    valid = torch.tensor([[True, False, True], [True, True, True]])
    for views_valid in (None, valid):
        slow = unproject_features_loop(features, cams, grid, aggregation, conf, views_valid)
        for backend in SAMPLERS:
            fast, vis = unproject_features(
                features, cams, grid, aggregation, conf, views_valid, return_visibility=True, backend=backend
            )
            assert fast.shape == (2, 4, 8, 8, 8) and fast.dtype == torch.float64
            torch.testing.assert_close(fast, slow, atol=1e-10, rtol=1e-10)
            # the problem exercises partially seen voxels and the missing view
            assert 0 < vis.double().mean() < 1
            if views_valid is not None:
                assert not vis[0, 1].any()


@pytest.mark.parametrize("aggregation", AGGREGATIONS)
def test_backends_match_with_views_out_of_the_map_and_a_camera_inside_the_cube(aggregation):
    features, cams, grid, conf = hard_problem()
    valid = torch.tensor([[True, True, False, True], [True, True, True, True]])
    for views_valid in (None, valid):
        slow = unproject_features_loop(features, cams, grid, aggregation, conf, views_valid)
        outs, masks = [], []
        for backend in SAMPLERS:
            out, vis = unproject_features(
                features, cams, grid, aggregation, conf, views_valid, return_visibility=True, backend=backend
            )
            torch.testing.assert_close(out, slow, atol=1e-10, rtol=1e-10)
            outs.append(out)
            masks.append(vis)
        assert all(torch.equal(masks[0], m) for m in masks[1:])
        vis = masks[0]
        _, depth = project_grid(cams, grid.reshape(2, -1, 3))
        behind = (depth <= 0).reshape(vis.shape)
        assert behind[:, 3].any() and not (vis & behind).any()  # the inner camera: voxels behind it are hidden
        assert vis[:, 3].any() and (0.3 < vis[:, :3].double().mean() < 0.95)  # partly out of the maps
        unseen = ~vis.any(1)
        assert unseen.any() and (outs[0].permute(1, 0, 2, 3, 4)[:, unseen] == 0).all()
        # "auto" is the fused backend on the CPU
        assert torch.equal(
            unproject_features(features, cams, grid, aggregation, conf, views_valid), outs[SAMPLERS.index(DEFAULT_CPU)]
        )
        # float32: loose agreement with the float64 reference for every implementation
        f32 = (features.float(), cams.to(dtype=torch.float32), grid.float(), conf.float())
        for out in [unproject_features(*f32[:3], aggregation, f32[3], views_valid, backend=b) for b in SAMPLERS] + [
            unproject_features_loop(*f32[:3], aggregation, f32[3], views_valid)
        ]:
            assert out.dtype == torch.float32
            torch.testing.assert_close(out.double(), slow, atol=1e-4, rtol=1e-4)


@pytest.mark.parametrize("aggregation", AGGREGATIONS)
@pytest.mark.parametrize("backend", SAMPLERS)
def test_float32_chunked_projection_matrices_and_distortion(aggregation, backend):
    features, cams, grid, conf = problem(dtype=torch.float32)
    ref = unproject_features(
        features.double(), cams.to(dtype=torch.float64), grid.double(), aggregation, conf.double(), backend=backend
    )
    full = unproject_features(features, cams, grid, aggregation, conf, backend=backend)
    assert full.dtype == torch.float32
    torch.testing.assert_close(full.double(), ref, atol=1e-4, rtol=1e-4)
    # chunks change the float32 rounding of the projection slightly (matrix products of another shape)
    chunked = unproject_features(features, cams, grid, aggregation, conf, chunk_voxels=37, backend=backend)
    torch.testing.assert_close(chunked, full, atol=2e-5, rtol=2e-5)
    via_matrices = unproject_features(features, cams.projection, grid, aggregation, conf, backend=backend)
    torch.testing.assert_close(via_matrices, full, atol=1e-4, rtol=1e-4)
    # float32 features with float64 geometry: projected in float64, sampled in float32
    mixed = unproject_features(
        features, cams.to(dtype=torch.float64), grid.double(), aggregation, conf, backend=backend
    )
    assert mixed.dtype == torch.float32
    torch.testing.assert_close(mixed.double(), ref, atol=1e-5, rtol=1e-5)
    # lens distortion goes through the general projection path; both implementations agree
    f64, dcams, g64, c64 = problem(dist=True)
    valid = torch.tensor([[True, True, False], [True, True, True]])
    for views_valid in (None, valid):
        torch.testing.assert_close(
            unproject_features(f64, dcams, g64, aggregation, c64, views_valid, chunk_voxels=100, backend=backend),
            unproject_features_loop(f64, dcams, g64, aggregation, c64, views_valid),
            atol=1e-10,
            rtol=1e-10,
        )


@pytest.mark.parametrize("backend", SAMPLERS)
def test_autocast_half_features_give_float32_volume(backend):
    features, cams, grid, conf = problem(dtype=torch.float32)
    cams32 = cams.to(dtype=torch.float32)
    for aggregation in AGGREGATIONS:
        ref = unproject_features(features, cams32, grid, aggregation, conf, backend=backend)
        half = features.bfloat16().requires_grad_(True)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            out = unproject_features(half, cams32, grid, aggregation, conf, backend=backend)
            out.square().sum().backward()
        assert out.dtype == torch.float32
        torch.testing.assert_close(out, ref, atol=0.05, rtol=0.05)
        assert half.grad.dtype == torch.bfloat16 and torch.isfinite(half.grad.float()).all()
        assert half.grad.abs().sum() > 0


def test_with_and_without_autograd_agree_and_gradients_match_across_backends():
    features, cams, grid, conf = hard_problem(B=1, D=5)
    weights = torch.randn(1, 3, 5, 5, 5, dtype=torch.float64)
    for aggregation in AGGREGATIONS:
        grads = []
        for backend in SAMPLERS:
            f = features.clone().requires_grad_(True)
            c = conf.clone().requires_grad_(True)
            out = unproject_features(f, cams, grid, aggregation, c, backend=backend, chunk_voxels=40)
            with torch.no_grad():
                torch.testing.assert_close(
                    out, unproject_features(features, cams, grid, aggregation, conf, backend=backend, chunk_voxels=40)
                )
            (out * weights).sum().backward()
            grads.append((f.grad, c.grad))
        for other in grads[1:]:
            torch.testing.assert_close(grads[0][0], other[0], atol=1e-10, rtol=1e-10)
            if aggregation == "conf":
                torch.testing.assert_close(grads[0][1], other[1], atol=1e-10, rtol=1e-10)
        assert grads[0][0].abs().sum() > 0
        if aggregation == "conf":
            assert grads[0][1].abs().sum() > 0


def test_backend_choice():
    features, cams, grid, conf = problem(B=1)
    assert set(SAMPLERS) < set(BACKENDS)
    with pytest.raises(ValueError, match="backend"):
        unproject_features(features, cams, grid, backend="cuda")
    # "auto" keeps the gradient w.r.t. the grid by switching to grid_sample
    g = grid.clone().requires_grad_(True)
    f = features.clone().requires_grad_(True)
    unproject_features(f, cams, g, "softmax").sum().backward()
    assert g.grad is not None and g.grad.abs().sum() > 0
    # the fused and gather backends treat the geometry as constant
    for backend in ("fused", "gather"):
        g.grad = f.grad = None
        unproject_features(f, cams, g, "softmax", backend=backend).sum().backward()
        assert g.grad is None and f.grad is not None


def test_gather_rows_are_exact_beyond_float32_integers():
    """Tap rows of maps whose table has more than 2^24 rows are computed in float64."""
    h = w = 4200
    P = torch.tensor([[[[1.0, 0.0, 0.0, 0.0], [0.0, 1.0, 0.0, 0.0], [0.0, 0.0, 0.0, 1.0]]]])  # u = x, v = y
    pts = torch.tensor([[[4190.25, 4195.75, 0.0], [3.5, 4170.5, 0.0], [-2.0, 5.0, 0.0]]])
    taps = GatherTaps(P, pts, None, h, w, torch.float32, 3)
    rows, wts, visible = taps(0, 0, 3, False)
    assert visible[0].tolist() == [True, True, False]
    W2 = w + 2
    for i, (u, v) in enumerate([(4190.25, 4195.75), (3.5, 4170.5)]):
        top_left = 2 + (math.floor(v) + 1) * W2 + math.floor(u) + 1
        assert top_left > 2**24
        assert rows[i].tolist() == [top_left, top_left + 1, top_left + W2, top_left + W2 + 1]
        a, b = u - math.floor(u), v - math.floor(v)
        torch.testing.assert_close(wts[i], torch.tensor([(1 - a) * (1 - b), a * (1 - b), (1 - a) * b, a * b]))
    assert rows[2].tolist() == [0, 1, W2, W2 + 1] and wts[2].tolist() == [1.0, 0.0, 0.0, 0.0]


def test_gather_taps_of_degenerate_projections_are_hidden():
    """Points on the camera plane (z = 0, with 0/0 = NaN or +-inf pixels) and behind it read the sentinel rows."""
    h = w = 8
    P = torch.tensor([[[[1.0, 0.0, 0.0, 0.0], [0.0, 1.0, 0.0, 0.0], [0.0, 0.0, 1.0, 0.0]]]])  # u = x/z, v = y/z
    pts = torch.tensor(
        [[[0.0, 0.0, 0.0], [5.0, 5.0, 0.0], [-1.0, -1.0, -1.0], [2.5, 3.5, 1.0], [7.5, 7.5, 1.0], [7.6, 3.0, 1.0]]]
    )
    taps = GatherTaps(P, pts, None, h, w, torch.float32, 6)
    rows, wts, visible = taps(0, 0, 6, False)
    assert visible[0].tolist() == [0.0, 0.0, 0.0, 1.0, 1.0, 0.0]
    W2 = w + 2
    for i in (0, 1, 2, 5):
        assert rows[i].tolist() == [0, 1, W2, W2 + 1] and wts[i].tolist() == [1.0, 0.0, 0.0, 0.0]
    rows_softmax = taps(0, 0, 6, True)[0].clone()  # the only view of an unseen voxel reads the zero rows
    for i in (0, 1, 2, 5):
        assert rows_softmax[i].tolist() == [1, 2, W2 + 1, W2 + 2]
    rows, wts, visible = taps(0, 0, 6, False)
    top_left = 2 + (3 + 1) * W2 + 2 + 1  # u = 2.5, v = 3.5
    assert rows[3].tolist() == [top_left, top_left + 1, top_left + W2, top_left + W2 + 1]
    torch.testing.assert_close(wts[3], torch.full((4,), 0.25))


def test_transpose_into_is_an_exact_scaled_transposition():
    for Fc, scale in ((32, 1.0), (12, math.log(2.0)), (7, 1.0), (6, 0.5)):
        r = torch.randn(50, Fc, dtype=torch.float64)
        for exact_gemm in (True, False):
            out = torch.zeros(Fc, 80, dtype=torch.float64)
            eye = _transposer(Fc, scale, exact_gemm, r)
            assert (eye is None) == (not exact_gemm or Fc % 4 != 0)
            _transpose_into(out[:, 10:60], r, scale, eye)  # rows of the target are strided
            assert torch.equal(out[:, 10:60], r.t() * scale)
            assert not out[:, :10].any() and not out[:, 60:].any()


@pytest.mark.parametrize("backend", ("fused", "gather"))
def test_softmax_of_large_features_matches_the_loop(backend):
    """Features too large for the gather backend's base-2 softmax without a max shift (|x| log2(e) > 100 in
    float32, > 1000 in float64) go through torch.softmax there; the fused backend always subtracts the maximum.
    Both agree with the loop."""
    features, cams, grid, conf = hard_problem()
    valid = torch.tensor([[True, True, False, True], [True, True, True, True]])
    for dtype, scale in ((torch.float64, 1.0), (torch.float64, 300.0), (torch.float32, 1.0), (torch.float32, 40.0)):
        f = (features * scale).to(dtype)
        ref = unproject_features_loop(f.double(), cams, grid, "softmax", views_valid=valid)
        out = unproject_features(f, cams.to(dtype=dtype), grid.to(dtype), "softmax", views_valid=valid, backend=backend)
        tol = 1e-10 if dtype == torch.float64 else 1e-4
        torch.testing.assert_close(out.double(), ref, atol=tol * scale, rtol=tol)
    assert (features * 300.0).abs().max() * math.log2(math.e) > 1000  # the float64 max-shifted path ran


@pytest.mark.parametrize("aggregation", AGGREGATIONS)
@pytest.mark.parametrize("backend", ("fused", "gather"))
def test_non_finite_features_keep_channels_apart(aggregation, backend):
    """A NaN or an infinite feature only reaches the voxels and the channel that read it, as in the loop (no
    transposition trick mixes channels then)."""
    features, cams, grid, conf = problem(Fc=8)
    for bad in (math.nan, math.inf):
        f = features.clone()
        f[0, 1, 3, 5:9, 6:10] = bad
        ref = unproject_features_loop(f, cams, grid, aggregation, conf)
        out = unproject_features(f, cams, grid, aggregation, conf, backend=backend)
        assert not torch.isfinite(ref[0, 3]).all()
        torch.testing.assert_close(out, ref, atol=1e-10, rtol=1e-10, equal_nan=True)


# ---------------------------------------------------------------- geometry


def gaussian_blob(centre_uv: torch.Tensor, size: int, sigma: float = 1.0) -> torch.Tensor:
    """(size, size) Gaussian evaluated at pixel centres (integer coordinates)."""
    u = torch.arange(size, dtype=centre_uv.dtype)
    gu = torch.exp(-((u - centre_uv[0]) ** 2) / (2 * sigma**2))
    gv = torch.exp(-((u - centre_uv[1]) ** 2) / (2 * sigma**2))
    return gv[:, None] * gu[None, :]


@pytest.mark.parametrize("aggregation", AGGREGATIONS)
def test_blob_at_projection_lands_in_the_right_voxel(aggregation):
    size, D = 48, 16
    cams = make_rig(1, 4, size)
    grid = make_cuboid_grid(
        torch.tensor([[0.0, 0.0, 900.0]], dtype=torch.float64), side=1500.0, D=D, rotation_z=torch.tensor([0.3])
    )
    target = (5, 9, 6)
    X = grid[0, target[0], target[1], target[2]]
    uv, _ = project_grid(cams, X.reshape(1, 1, 3))  # (1, C, 1, 2)
    features = torch.stack([gaussian_blob(uv[0, c, 0], size) for c in range(4)])[None, :, None]  # (1, 4, 1, s, s)
    vol = unproject_features(features, cams, grid, aggregation, torch.ones(1, 4, dtype=torch.float64))
    idx = torch.unravel_index(vol[0, 0].argmax(), (D, D, D))
    assert tuple(int(i) for i in idx) == target
    est = soft_argmax_3d(vol[:, :1] * 200.0, 1.0, grid[:, None])[0, 0]
    assert (est - X).norm() < 1500.0 / (D - 1) / 2


def test_single_view_samples_the_bilinear_value_at_the_projection():
    size = 12
    cams = make_rig(1, 1, size)
    grid = make_cuboid_grid(torch.tensor([[0.0, 0.0, 900.0]], dtype=torch.float64), side=600.0, D=4)
    features = torch.randn(1, 1, 2, size, size, dtype=torch.float64)
    vol = unproject_features(features, cams, grid, "sum")
    uv, _ = project_grid(cams, grid.reshape(1, -1, 3))
    for n in (0, 21, 63):
        u, v = (float(x) for x in uv[0, 0, n])
        u0, v0 = math.floor(u), math.floor(v)
        a, b = u - u0, v - v0
        m = features[0, 0]
        expect = (
            (1 - a) * (1 - b) * m[:, v0, u0]
            + a * (1 - b) * m[:, v0, u0 + 1]
            + (1 - a) * b * m[:, v0 + 1, u0]
            + a * b * m[:, v0 + 1, u0 + 1]
        )
        torch.testing.assert_close(vol[0].reshape(2, -1)[:, n], expect)


def test_voxels_behind_the_camera_or_outside_the_map_are_zero():
    size = 16
    cams = make_rig(1, 1, size)
    centre = cams.center[0, 0]  # cube around the camera itself: half of it lies behind
    grid = make_cuboid_grid(centre[None], side=4000.0, D=8)
    features = torch.ones(1, 1, 1, size, size, dtype=torch.float64)
    vol, vis = unproject_features(features, cams, grid, "sum", return_visibility=True)
    uv, depth = project_grid(cams, grid.reshape(1, -1, 3))
    u, v, z = uv[0, 0, :, 0], uv[0, 0, :, 1], depth[0, 0]
    inside = (z > 0) & (u >= -0.5) & (u <= size - 0.5) & (v >= -0.5) & (v <= size - 0.5)
    assert torch.equal(vis.reshape(-1), inside)
    assert (z <= 0).any() and inside.any() and (~inside & (z > 0)).any()
    assert (vol.reshape(-1)[~inside] == 0).all()
    assert (vol.reshape(-1)[inside] > 0).all()


def test_aggregation_semantics_on_constant_maps():
    B, C, size = 1, 3, 16
    cams = make_rig(B, C, size)
    grid = make_cuboid_grid(torch.tensor([[0.0, 0.0, 900.0]], dtype=torch.float64), side=300.0, D=4)
    values = torch.tensor([0.5, -1.0, 2.0], dtype=torch.float64)
    features = values.reshape(1, C, 1, 1, 1).expand(B, C, 1, size, size).contiguous()
    conf = torch.tensor([[1.0, 2.0, 5.0]], dtype=torch.float64)
    out = {a: unproject_features(features, cams, grid, a, conf) for a in AGGREGATIONS}
    assert torch.allclose(out["sum"], values.sum())
    assert torch.allclose(out["conf"], (values * conf[0]).sum() / conf.sum())
    assert torch.allclose(out["softmax"], (torch.softmax(values, 0) * values).sum())
    # a missing view drops out of every aggregation
    valid = torch.tensor([[True, True, False]])
    keep = values[:2]
    assert torch.allclose(unproject_features(features, cams, grid, "sum", views_valid=valid), keep.sum())
    assert torch.allclose(
        unproject_features(features, cams, grid, "conf", conf, valid), (keep * conf[0, :2]).sum() / conf[0, :2].sum()
    )
    assert torch.allclose(
        unproject_features(features, cams, grid, "softmax", views_valid=valid), (torch.softmax(keep, 0) * keep).sum()
    )


def test_voxels_no_view_sees_are_zero_not_nan():
    features, cams, grid, conf = problem(B=1)
    far = grid + torch.tensor([50000.0, 0.0, 0.0], dtype=grid.dtype)
    for a in AGGREGATIONS:
        vol = unproject_features(features, cams, far, a, conf)
        assert torch.equal(vol, torch.zeros_like(vol))


@pytest.mark.parametrize("aggregation", AGGREGATIONS)
@pytest.mark.parametrize("backend", SAMPLERS)
def test_gradcheck_wrt_features(aggregation, backend):
    features, cams, grid, conf = problem(B=1, C=2, Fc=2, size=5, D=3, side=1500.0)
    features.requires_grad_(True)

    def fn(f):
        return unproject_features(f, cams, grid, aggregation, conf, backend=backend)

    assert torch.autograd.gradcheck(fn, (features,), eps=1e-6, atol=1e-6)


@pytest.mark.parametrize("aggregation", AGGREGATIONS)
@pytest.mark.parametrize("backend", ("fused", "gather"))
def test_gradcheck_hidden_views_and_confidences(aggregation, backend):
    """Views partly out of the maps, a camera inside the cube, a missing view and voxels no view sees."""
    features, cams, grid, conf = hard_problem(B=1, Fc=1, D=4)
    valid = torch.tensor([[True, False, True, True]])
    features.requires_grad_(True)
    conf.requires_grad_(aggregation == "conf")

    def fn(f, c):
        return unproject_features(f, cams, grid, aggregation, c, valid, chunk_voxels=20, backend=backend)

    assert torch.autograd.gradcheck(fn, (features, conf), eps=1e-6, atol=1e-6, fast_mode=True)


def test_input_errors():
    features, cams, grid, conf = problem()
    with pytest.raises(ValueError, match="aggregation"):
        unproject_features(features, cams, grid, "max")
    with pytest.raises(ValueError, match="confidences"):
        unproject_features(features, cams, grid, "conf")
    with pytest.raises(ValueError, match="cameras"):
        unproject_features(features, cams[:, :2], grid)
    with pytest.raises(ValueError, match="features"):
        unproject_features(features[0], cams, grid)
    with pytest.raises(ValueError, match="grid"):
        unproject_features(features, cams, grid[:1])
    with pytest.raises(ValueError, match="chunk_voxels"):
        unproject_features(features, cams, grid, chunk_voxels=0)


# ---------------------------------------------------------------- fused backend


@pytest.mark.parametrize("Fc", [1, 16, 21, 35])
@pytest.mark.parametrize("D", [5, 8])
def test_fused_channel_and_voxel_counts_off_the_vector_width(Fc, D):
    """Channel counts below, at and between multiples of the vector width, and grids whose voxel count is or is
    not a multiple of it (edges transposed element by element, full tiles by the vector code)."""
    features, cams, grid, conf = problem(B=2, C=3, Fc=Fc, size=12, D=D)
    valid = torch.tensor([[True, True, False], [True, True, True]])
    for aggregation in AGGREGATIONS:
        ref = unproject_features_loop(features, cams, grid, aggregation, conf, valid)
        out = unproject_features(features, cams, grid, aggregation, conf, valid, backend="fused")
        torch.testing.assert_close(out, ref, atol=1e-10, rtol=1e-10)
        out32 = unproject_features(
            features.float(),
            cams.to(dtype=torch.float32),
            grid.float(),
            aggregation,
            conf.float(),
            valid,
            backend="fused",
        )
        torch.testing.assert_close(out32.double(), ref, atol=1e-4, rtol=1e-4)


def test_fused_threads_and_tasks_give_the_same_volume_and_gradients():
    """Tasks split over voxel ranges and threads compute each voxel the same way: results are bitwise equal."""
    features, cams, grid, conf = problem(B=3, C=4, Fc=20, size=16, D=9, dtype=torch.float32)
    cams = cams.to(dtype=torch.float32)
    weights = torch.randn(3, 20, 9, 9, 9)
    threads = torch.get_num_threads()
    try:
        results = []
        for n_threads, chunk in ((1, None), (2, None), (2, 100), (3, 64)):
            torch.set_num_threads(n_threads)
            per_aggregation = []
            for aggregation in AGGREGATIONS:
                f = features.clone().requires_grad_(True)
                c = conf.clone().requires_grad_(True)
                out, vis = unproject_features(
                    f, cams, grid, aggregation, c, return_visibility=True, chunk_voxels=chunk, backend="fused"
                )
                (out * weights).sum().backward()
                per_aggregation.append((out.detach(), vis, f.grad, c.grad))
            results.append(per_aggregation)
    finally:
        torch.set_num_threads(threads)
    for other in results[1:]:
        for (out, vis, gf, gc), (out2, vis2, gf2, gc2) in zip(results[0], other):
            assert torch.equal(out, out2) and torch.equal(vis, vis2)
            torch.testing.assert_close(gf2, gf, atol=1e-6, rtol=1e-5)  # gradient tables summed in another order
            if gc is not None:
                torch.testing.assert_close(gc2, gc, atol=1e-5, rtol=1e-5)


def test_fused_degenerate_projections_are_hidden_and_volume_is_contiguous():
    """Points on the camera plane (z = 0: 0/0 or x/0 pixels), behind it, or just outside the map read nothing."""
    h = w = 8
    P = torch.tensor(
        [[[[1.0, 0.0, 0.0, 0.0], [0.0, 1.0, 0.0, 0.0], [0.0, 0.0, 1.0, 0.0]]]], dtype=torch.float64
    )  # u = x/z, v = y/z
    pts = torch.tensor(
        [
            [0.0, 0.0, 0.0],
            [5.0, 5.0, 0.0],
            [-1.0, -1.0, -1.0],
            [2.5, 3.5, 1.0],
            [7.5, 7.5, 1.0],
            [7.6, 3.0, 1.0],
            [-0.5, -0.5, 1.0],
            [-0.6, 0.0, 1.0],
        ],
        dtype=torch.float64,
    )
    grid = pts.reshape(1, 2, 2, 2, 3)
    features = torch.randn(1, 1, 3, h, w, dtype=torch.float64)
    out, vis = unproject_features(features, P, grid, "sum", return_visibility=True, backend="fused")
    assert out.is_contiguous() and out.shape == (1, 3, 2, 2, 2)
    assert vis.reshape(-1).tolist() == [False, False, False, True, True, False, True, False]
    flat = out.reshape(3, -1)
    assert (flat[:, ~vis.reshape(-1)] == 0).all()
    m = features[0, 0]
    torch.testing.assert_close(flat[:, 3], 0.25 * (m[:, 3, 2] + m[:, 3, 3] + m[:, 4, 2] + m[:, 4, 3]))
    torch.testing.assert_close(flat[:, 4], m[:, 7, 7] / 4)  # the corner: three of the four taps in the padding
    torch.testing.assert_close(flat[:, 6], m[:, 0, 0] / 4)
    ref = unproject_features_loop(features, P, grid, "sum")
    torch.testing.assert_close(out, ref, atol=1e-12, rtol=1e-12)


def test_fused_kernels_record_the_intrinsics_they_were_compiled_with():
    """numba caches the kernels keyed by their own file: editing the intrinsics must also edit the kernels' file."""
    import hashlib
    from pathlib import Path

    from lt_core.ops import _fused_kernels

    simd = Path(_fused_kernels.__file__).with_name("_simd.py").read_bytes()
    digest = hashlib.sha256(simd).hexdigest()
    assert digest.startswith(_fused_kernels.SIMD_SOURCE_SHA256) and len(_fused_kernels.SIMD_SOURCE_SHA256) >= 16, (
        f"lt_core/ops/_simd.py changed: set SIMD_SOURCE_SHA256 = {digest[:16]!r} in _fused_kernels.py"
    )


def test_fused_backend_errors_and_fallback_without_numba(monkeypatch):
    import lt_core.ops.unprojection as unprojection

    features, cams, grid, conf = problem(B=1)
    with pytest.raises(ValueError, match="CPU"):
        unproject_features(features.to("meta"), cams, grid, "sum", backend="fused")
    gather = unproject_features(features, cams, grid, "softmax", backend="gather")
    monkeypatch.setattr(unprojection, "_FUSED", False)  # as if numba were not installed
    assert not fused_available()
    with pytest.raises(RuntimeError, match="numba"):
        unproject_features(features, cams, grid, "sum", backend="fused")
    assert torch.equal(unproject_features(features, cams, grid, "softmax"), gather)  # "auto" falls back to gather
