"""Exercises of notebook 07 (your own cameras): the fundamental matrix, the confidence-weighted DLT through a real
lens, reprojection errors in the distorted image, the largest consistent set of views.

The checks build their own rig: four cameras around a subject with a wide-angle lens (``k1 = -0.25``), so an answer
that forgets to undistort is off by centimetres, not by a rounding error.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

from lt_core.camera import Camera, stack_cameras
from lt_core.exercises import ExerciseFailed, call, close, register
from lt_core.ops.epipolar import fundamental_matrix
from lt_core.ops.ransac import triangulate_best_subset
from lt_core.ops.triangulation import dlt_svd, triangulate

_F64 = torch.float64


def _rig(n: int = 4, seed: int = 0, wide: bool = True) -> Camera:
    """(n,) cameras 3-4 m from the subject on a ring at 1.6-2.1 m height, 1088 x 1920 portrait images, float64."""
    g = torch.Generator().manual_seed(seed)
    cams = []
    for i in range(n):
        a = 2 * torch.pi * i / n + 0.4 * float(torch.rand((), generator=g))
        r = 3000.0 + 1000.0 * float(torch.rand((), generator=g))
        eye = [
            r * float(torch.cos(torch.tensor(a))),
            r * float(torch.sin(torch.tensor(a))),
            1600.0 + 500.0 * float(torch.rand((), generator=g)),
        ]
        cam = Camera.look_at(
            eye, [0.0, 0.0, 1000.0], focal=900.0 + 800.0 * float(torch.rand((), generator=g)), image_size=(1088, 1920)
        )
        dist = torch.tensor([-0.25, 0.07, 0.001, -0.0008, 0.0] if wide else [-7e-4, 2e-3, 0, 0, 0], dtype=_F64)
        cams.append(Camera(K=cam.K, R=cam.R, t=cam.t, dist=dist, image_size=cam.image_size))
    return stack_cameras(cams)


def _subject(n: int, seed: int) -> torch.Tensor:
    """(n, 3) points of a standing person's size around (0, 0, 1000) mm."""
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, 3, generator=g, dtype=_F64) * torch.tensor([250.0, 250.0, 450.0], dtype=_F64) + torch.tensor(
        [0.0, 0.0, 1000.0], dtype=_F64
    )


def _observe(rig: Camera, X: torch.Tensor) -> torch.Tensor:
    """(C, n, 2) distorted pixels of (n, 3) points."""
    return rig.project(X[None].expand(rig.K.shape[0], *X.shape))


@register("07.1", "the fundamental matrix of two calibrated cameras", paper="")
def _fundamental(answer: Callable[..., Any]) -> str:
    rig = _rig(4, seed=1)
    X = _subject(12, seed=2)
    pinhole = rig.project(X[None].expand(4, 12, 3), distort=False)  # (C, n, 2) ideal pixels
    for a, b in ((0, 1), (0, 2), (3, 1), (2, 3)):
        got = torch.as_tensor(
            call(
                answer,
                rig.K[a].clone(),
                rig.R[a].clone(),
                rig.t[a].clone(),
                rig.K[b].clone(),
                rig.R[b].clone(),
                rig.t[b].clone(),
            ),
            dtype=_F64,
        )
        if got.shape != (3, 3):
            raise ExerciseFailed(f"expected a (3, 3) matrix, got shape {tuple(got.shape)}")
        want = fundamental_matrix(rig[a], rig[b])
        if not torch.isfinite(got).all() or got.norm() == 0:
            raise ExerciseFailed(f"cameras {a} -> {b}: F must be finite and non-zero")
        got_n, want_n = got / got.norm(), want / want.norm()
        if (got_n * want_n).sum() < 0:
            got_n = -got_n  # F is defined up to scale and sign
        xa = torch.cat([pinhole[a], torch.ones(12, 1, dtype=_F64)], 1)
        xb = torch.cat([pinhole[b], torch.ones(12, 1, dtype=_F64)], 1)
        lines = xa @ got.T  # (n, 3) epipolar lines of camera a's points in camera b
        dist = ((xb * lines).sum(1).abs() / lines[:, :2].norm(dim=1)).max()
        if dist > 1e-6:
            raise ExerciseFailed(
                f"cameras {a} -> {b}: the image of a point in camera {b} lies {float(dist):.3g} px "
                f"off the epipolar line F x_a of its image in camera {a} (should be 0)"
            )
        close(got_n, want_n, f"cameras {a} -> {b}, F / ||F|| (up to sign)", atol=1e-9, rtol=0)
    return (
        "On 4 camera pairs your F puts every point's image on the epipolar line of its image in the other camera, "
        "and equals lt_core.ops.epipolar.fundamental_matrix up to scale."
    )


def _weighted_dlt_refs(uv: torch.Tensor, conf: torch.Tensor, rig: Camera) -> tuple[torch.Tensor, torch.Tensor]:
    """Plain and normalised confidence-weighted DLT of one joint's (C, 2) distorted detections."""
    und = rig.undistort_points(torch.where(conf[:, None] > 0, uv, torch.zeros_like(uv))[:, None])  # (C, 1, 2)
    P = rig.projection[None]
    plain = dlt_svd(und[None], conf[None, :, None], P)[0, 0]
    normalised = triangulate(und[None], P, conf[None, :, None])[0, 0]
    return plain, normalised


@register("07.2", "the confidence-weighted DLT through a real lens", paper="Sec. 3, Eq. (4)")
def _triangulate_joint(answer: Callable[..., Any]) -> str:
    rig = _rig(4, seed=3)
    X = _subject(6, seed=4)
    uv = _observe(rig, X)  # (C, n, 2)
    g = torch.Generator().manual_seed(5)
    C = uv.shape[0]
    for i in range(X.shape[0]):
        conf = 0.3 + 0.7 * torch.rand(C, generator=g, dtype=_F64)
        got = call(answer, uv[:, i].clone(), conf.clone(), rig)
        close(
            got,
            X[i],
            f"joint {i}, exact detections on a wide-angle lens (k1 = -0.25), confidences "
            f"{[round(v, 2) for v in conf.tolist()]}: undistort first",
            atol=1e-3,
            rtol=0,
            unit="mm",
        )
        noisy = uv[:, i] + 4.0 * torch.randn(C, 2, generator=g, dtype=_F64)
        got = torch.as_tensor(call(answer, noisy.clone(), conf.clone(), rig), dtype=_F64)
        plain, normalised = _weighted_dlt_refs(noisy, conf, rig)
        if got.shape != (3,) or min((got - plain).abs().max(), (got - normalised).abs().max()) > 1e-3:
            close(
                got,
                normalised,
                f"joint {i}, 4 px of noise, confidences {[round(v, 2) for v in conf.tolist()]} "
                "(the plain and the normalised weighted DLT are both accepted)",
                atol=1e-3,
                rtol=0,
                unit="mm",
            )
    missing = _observe(rig, X[:1])[:, 0].clone()
    missing[2] = float("nan")  # camera 2 did not detect the joint: NaN pixels, confidence 0
    conf = torch.tensor([0.8, 0.6, 0.0, 0.7], dtype=_F64)
    got = call(answer, missing, conf, rig)
    close(
        got,
        X[0],
        "camera 2 has no detection (NaN pixels with confidence 0): the other three views decide",
        atol=1e-3,
        rtol=0,
        unit="mm",
    )
    return (
        "Exact detections through a wide-angle lens come back to 1e-3 mm, noisy ones as the confidence-weighted "
        "DLT of Eq. (4) on undistorted pixels, and a missing detection (NaN, confidence 0) is left out."
    )


@register("07.3", "reprojection errors in the distorted image", paper="Sec. 4: the reprojection error RANSAC scores")
def _reprojection(answer: Callable[..., Any]) -> str:
    rig = _rig(4, seed=6)
    X = _subject(25, seed=7)
    g = torch.Generator().manual_seed(8)
    uv = _observe(rig, X) + 6.0 * torch.randn(4, 25, 2, generator=g, dtype=_F64)
    uv[1, 3] = float("nan")  # missing detections
    uv[3, 10:12] = float("nan")
    X_est = X + 15.0 * torch.randn(X.shape, generator=g, dtype=_F64)
    got = torch.as_tensor(call(answer, X_est.clone(), uv.clone(), rig), dtype=_F64)
    want = (rig.project(X_est[None].expand(4, 25, 3)) - uv).norm(dim=-1)
    what = "25 joints, 4 cameras with a wide-angle lens"
    if got.shape != want.shape:
        close(got, want, what)  # reports the shapes
    if not torch.equal(got.isnan(), want.isnan()):
        raise ExerciseFailed(
            f"{what}: NaN expected exactly where a detection is missing "
            f"{want.isnan().nonzero().tolist()}, got NaN at {got.isnan().nonzero().tolist()}"
        )
    ok = ~want.isnan()
    close(got[ok], want[ok], f"{what}, the 97 detected joints", atol=1e-6, rtol=0, unit="px")
    return (
        "Your (C, J) errors are measured in the distorted image, as the notebook's tables, with NaN where nothing "
        "was detected."
    )


def _consistent_case(seed: int, C: int, outliers: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(C, 2) undistorted detections of one point with 1 px noise and ``outliers`` views shifted 80-300 px,
    (C, 3, 4) projections and the (C,) mask of the good views."""
    rig = _rig(C, seed=20 + seed, wide=False)
    g = torch.Generator().manual_seed(seed)
    X = _subject(1, seed=40 + seed)
    uv = rig.project(X[None].expand(C, 1, 3), distort=False)[:, 0]
    uv = uv + torch.randn(C, 2, generator=g, dtype=_F64)
    good = torch.ones(C, dtype=torch.bool)
    bad = torch.randperm(C, generator=g)[:outliers]
    good[bad] = False
    for c in bad.tolist():
        direction = torch.randn(2, generator=g, dtype=_F64)
        uv[c] += direction / direction.norm() * (80.0 + 220.0 * float(torch.rand((), generator=g)))
    return uv, rig.projection, good


@register("07.4", "the largest set of views that agree", paper="Sec. 4, Table 1: the RANSAC baseline")
def _consistent(answer: Callable[..., Any]) -> str:
    cases = 0
    for seed, (C, outliers) in enumerate([(4, 0), (4, 1), (4, 1), (5, 1), (5, 2), (5, 2), (6, 2), (6, 0)]):
        uv, P, good = _consistent_case(seed, C, outliers)
        _, used = triangulate_best_subset(uv[None, :, None], P[None], threshold=15.0, refine=False)
        if not torch.equal(used[0, :, 0], good):  # the scene is ambiguous for the exhaustive search: skip it
            continue
        got = torch.as_tensor(call(answer, uv.clone(), P.clone(), 15.0))
        if got.shape != (C,) or got.dtype != torch.bool:
            raise ExerciseFailed(f"return a ({C},) bool tensor, got {tuple(got.shape)} {got.dtype}")
        if not torch.equal(got, good):
            raise ExerciseFailed(
                f"{C} views, {outliers} of them shifted by 80-300 px, threshold 15 px: expected the "
                f"views {good.tolist()}, got {got.tolist()}"
            )
        cases += 1
    if cases < 6:
        raise RuntimeError(f"only {cases} unambiguous scenes for exercise 07.4")  # a broken check, not the reader
    return (
        f"On {cases} scenes (4-6 views, up to 2 shifted by 80-300 px) you keep exactly the views that agree, like "
        "lt_core.ops.ransac.triangulate_best_subset."
    )
