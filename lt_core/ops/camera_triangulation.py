"""Triangulation from calibrated cameras and *distorted* pixels (what detectors output on raw images).

:func:`~lt_core.ops.triangulation.triangulate` and the robust variants of :mod:`lt_core.ops.ransac` take projection
matrices ``K [R | t]``: an ideal pinhole. Pixels detected on real (distorted) images must first be undistorted with
the camera's lens model, or every joint moves by the distortion (several pixels near the image border). The
functions here take :class:`~lt_core.camera.Camera` objects (like aniposelib's ``CameraGroup.triangulate``) and do
that for the caller:

1. undistort the pixels exactly with each camera's ``dist`` and ``distortion_model`` (:mod:`lt_core.lens`);
2. triangulate the undistorted pixels with the cameras' projection matrices;
3. report reprojection errors in the *distorted* image, where the detections live.

Shapes: points ``(..., C, J, 2)`` pixels, weights ``(..., C, J)``, cameras with batch shape ``(C,)`` (one rig for
every sample) or ``(..., C)``; 3D points ``(..., J, 3)`` in world millimetres.
"""

from __future__ import annotations

from typing import Literal

import torch
from torch import Tensor

from lt_core.camera import Camera
from lt_core.ops.ransac import triangulate_best_subset, triangulate_ransac
from lt_core.ops.triangulation import TriangulationError, _threads, single_thread_below, triangulate

__all__ = [
    "undistort_views",
    "triangulate_cameras",
    "triangulate_cameras_ransac",
    "triangulate_cameras_best_subset",
    "reprojection_error_cameras",
]


def _check(points: Tensor, cameras: Camera) -> tuple[int, ...]:
    if not isinstance(cameras, Camera):
        raise TypeError(f"cameras must be a lt_core.camera.Camera, got {type(cameras).__name__}")
    if points.dim() < 3 or points.shape[-1] != 2:
        raise TriangulationError(f"points must have shape (..., C, J, 2) pixels, got {tuple(points.shape)}")
    batch = tuple(cameras.batch_shape)
    C = points.shape[-3]
    if not batch or batch[-1] != C:
        raise TriangulationError(
            f"cameras must have batch shape (..., {C}) to match the {C} views of points "
            f"{tuple(points.shape)}, got {batch}"
        )
    lead = tuple(points.shape[:-3])
    try:
        torch.broadcast_shapes(lead, batch[:-1])
    except RuntimeError:
        raise TriangulationError(
            f"camera batch shape {batch} does not broadcast with points {tuple(points.shape)}"
        ) from None
    return lead


def undistort_views(points: Tensor, cameras: Camera) -> Tensor:
    """Undistort detections of C views, each with its camera's lens.

    Args:
        points: (..., C, J, 2) distorted pixels (NaN allowed: missing detections stay NaN).
        cameras: batch shape (C,) or (..., C).

    Returns:
        (..., C, J, 2) pixels an ideal pinhole with the same ``K`` would see, float64 unless ``points`` is float32
        with float32 cameras (then float32).
    """
    _check(points, cameras)
    if not cameras.has_distortion:
        return points
    lead = points.shape[:-3]
    cams = cameras.expand(*lead, *cameras.batch_shape[-1:]) if len(cameras.batch_shape) < points.dim() - 2 else cameras
    return cams.undistort_points(points)


def _projections(cameras: Camera, lead: tuple[int, ...], C: int, dtype: torch.dtype) -> Tensor:
    P = cameras.projection.to(dtype)
    return P.expand(*torch.broadcast_shapes(lead, tuple(cameras.batch_shape[:-1])), C, 3, 4)


def _triangulate_cameras(
    points: Tensor,
    cameras: Camera,
    weights: Tensor | None = None,
    *,
    min_views: int = 2,
    on_insufficient: Literal["raise", "nan"] = "raise",
    precision: Literal["float64", "native"] = "float64",
    check: bool = True,
) -> Tensor:
    """Confidence-weighted DLT of distorted detections: undistort with the cameras, then triangulate.

    Args:
        points: (..., C, J, 2) pixels detected on the original (distorted) images. NaN is allowed where the
            weight is 0 (a missing detection).
        cameras: :class:`Camera` with batch shape (C,) or (..., C); their ``dist`` and ``distortion_model`` are
            applied (ideal pinholes skip the undistortion).
        weights: (..., C, J) non-negative confidences (``None``: all ones).
        min_views, on_insufficient, precision, check: as :func:`lt_core.ops.triangulation.triangulate`.

    Returns:
        (..., J, 3) points in world millimetres.

    Raises:
        TriangulationError: shapes that disagree, NaN in a usable view, too few usable views (see ``triangulate``).
    """
    lead = _check(points, cameras)
    und = undistort_views(points, cameras)
    if check:
        bad = ~torch.isfinite(und).all(-1) & torch.isfinite(points).all(-1)
        if weights is not None:
            bad = bad & (weights > 0)
        if bool(bad.any()):
            idx = [int(i) for i in bad.nonzero()[0]]
            raise TriangulationError(
                f"a detection at {idx} (..., view, joint) lies where the lens model has no "
                "inverse (outside the calibrated field of view); give it weight 0"
            )
    C = points.shape[-3]
    P = _projections(cameras, lead, C, und.dtype if und.is_floating_point() else torch.float64)
    full = torch.broadcast_shapes(lead, tuple(cameras.batch_shape[:-1]))
    und = und.expand(*full, *und.shape[-3:])
    if weights is not None:
        weights = weights.expand(*full, *weights.shape[-2:])
    return triangulate(
        und, P, weights, min_views=min_views, on_insufficient=on_insufficient, precision=precision, check=check
    )


def _flat(points: Tensor, cameras: Camera, valid: Tensor | None) -> tuple[Tensor, Tensor, Tensor | None, tuple]:
    lead = _check(points, cameras)
    und = undistort_views(points, cameras).to(torch.float64)
    C, J = points.shape[-3], points.shape[-2]
    full = torch.broadcast_shapes(lead, tuple(cameras.batch_shape[:-1]))
    B = 1
    for d in full:
        B *= d
    und = und.expand(*full, C, J, 2).reshape(B, C, J, 2)
    P = _projections(cameras, lead, C, torch.float64).reshape(B, C, 3, 4)
    if valid is not None:
        valid = valid.expand(*full, C, J).reshape(B, C, J)
    return und, P, valid, full


def _triangulate_cameras_ransac(
    points: Tensor,
    cameras: Camera,
    valid: Tensor | None = None,
    *,
    threshold: float = 15.0,
    n_iters: int = 100,
    refine: bool = True,
    generator: torch.Generator | None = None,
) -> tuple[Tensor, Tensor]:
    """RANSAC over view pairs (the paper's baseline) on distorted detections.

    Args:
        points: (..., C, J, 2) distorted pixels; NaN marks a missing detection.
        cameras: batch shape (C,) or (..., C).
        valid: optional (..., C, J) detections to consider.
        threshold: inlier threshold in (undistorted) pixels; distortion changes distances by well under 1 %
            for real lenses, so the paper's 15 px keeps its meaning.
        n_iters, refine, generator: as :func:`lt_core.ops.ransac.triangulate_ransac`.

    Returns:
        ``(joints, inliers)``: (..., J, 3) mm and (..., C, J) boolean inlier views.
    """
    und, P, valid, full = _flat(points, cameras, valid)
    X, inl = triangulate_ransac(und, P, valid, threshold=threshold, n_iters=n_iters, refine=refine, generator=generator)
    C, J = points.shape[-3], points.shape[-2]
    return X.to(points.dtype).reshape(*full, J, 3), inl.reshape(*full, C, J)


def _triangulate_cameras_best_subset(
    points: Tensor,
    cameras: Camera,
    valid: Tensor | None = None,
    *,
    threshold: float = 15.0,
    min_views: int = 2,
    max_views: int = 12,
    refine: bool = True,
) -> tuple[Tensor, Tensor]:
    """Exhaustive robust triangulation over view subsets (:func:`lt_core.ops.ransac.triangulate_best_subset`) on
    distorted detections; arguments and returns as :func:`triangulate_cameras_ransac`."""
    und, P, valid, full = _flat(points, cameras, valid)
    X, used = triangulate_best_subset(
        und, P, valid, threshold=threshold, min_views=min_views, max_views=max_views, refine=refine
    )
    C, J = points.shape[-3], points.shape[-2]
    return X.to(points.dtype).reshape(*full, J, 3), used.reshape(*full, C, J)


def reprojection_error_cameras(X: Tensor, points: Tensor, cameras: Camera) -> Tensor:
    """Pixel distance, in the distorted images, between detections and the projections of 3D points.

    Args:
        X: (..., J, 3) world mm.
        points: (..., C, J, 2) detected (distorted) pixels.
        cameras: batch shape (C,) or (..., C).

    Returns:
        (..., C, J) errors in pixels (NaN where a detection is NaN).
    """
    _check(points, cameras)
    uv = cameras.project(X[..., None, :, :].to(cameras.dtype))  # (..., C, J, 2) with lens distortion
    return (uv - points.to(uv.dtype)).norm(dim=-1)


def _points_of(points) -> int:
    n = 1
    for d in getattr(points, "shape", ())[:-1]:
        n *= int(d)
    return n


def triangulate_cameras(points: Tensor, cameras: Camera, weights: Tensor | None = None, **kwargs) -> Tensor:
    with _threads(single_thread_below(_points_of(points))):  # see single_thread_below: busy machines
        return _triangulate_cameras(points, cameras, weights, **kwargs)


def triangulate_cameras_ransac(
    points: Tensor, cameras: Camera, valid: Tensor | None = None, **kwargs
) -> tuple[Tensor, Tensor]:
    with _threads(single_thread_below(_points_of(points))):
        return _triangulate_cameras_ransac(points, cameras, valid, **kwargs)


def triangulate_cameras_best_subset(
    points: Tensor, cameras: Camera, valid: Tensor | None = None, **kwargs
) -> tuple[Tensor, Tensor]:
    with _threads(single_thread_below(_points_of(points))):
        return _triangulate_cameras_best_subset(points, cameras, valid, **kwargs)


triangulate_cameras.__doc__ = _triangulate_cameras.__doc__
triangulate_cameras_ransac.__doc__ = _triangulate_cameras_ransac.__doc__
triangulate_cameras_best_subset.__doc__ = _triangulate_cameras_best_subset.__doc__
