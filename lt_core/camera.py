"""Pinhole cameras with lens distortion (OpenCV's or Human3.6M's model), batched over leading dimensions.

One convention (docs/CONVENTIONS.md): ``X_cam = R @ X_world + t`` in millimetres, the camera looks along ``+z``,
pixel ``(u, v) = (column, row)`` with integer coordinates at pixel centres. A camera also carries the pixel
convention its intrinsics were derived with (:mod:`lt_core.conventions`): ``"centres"`` (the default) or
``"official"``, the paper's released code, whose resize drops the half-pixel term. It decides how
:meth:`Camera.resize` moves the principal point.

A :class:`Camera` holds tensors with any number of leading batch dimensions: ``K`` of shape ``(3, 3)`` is one
camera, ``(C, 3, 3)`` a rig of ``C`` cameras, ``(B, C, 3, 3)`` one rig per sample. Every method broadcasts over
those dimensions and is differentiable with respect to the camera parameters and the points.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace

import torch
from torch import Tensor

from lt_core.checks import check_shape
from lt_core.conventions import check_convention, resize_coordinate
from lt_core.lens import DISTORTION_MODELS, distort_normalized, undistort_fixed_point, undistort_normalized
from lt_core.rotation import is_rotation, rodrigues_to_matrix

__all__ = ["Camera", "CameraError", "distort_normalized", "stack_cameras"]


class CameraError(ValueError):
    """Raised for malformed or degenerate camera parameters."""


def _as_tensor(x, dtype=None, device=None) -> Tensor:
    if isinstance(x, Tensor):
        return x.to(dtype=dtype or x.dtype, device=device or x.device)
    return torch.as_tensor(x, dtype=dtype or torch.float64, device=device)


@dataclass
class Camera:
    """A batch of pinhole cameras with (k1, k2, p1, p2, k3) lens distortion.

    Attributes:
        K: (..., 3, 3) intrinsics in pixels.
        R: (..., 3, 3) world-to-camera rotation.
        t: (..., 3) world-to-camera translation in millimetres.
        dist: (..., 5) distortion ``k1, k2, p1, p2, k3`` (zeros for an ideal pinhole).
        image_size: (..., 2) image width and height in pixels, or ``None`` when unknown.
        names: optional camera names (flat list in row-major batch order).
        convention: pixel convention of ``K`` (:mod:`lt_core.conventions`): ``"centres"`` or ``"official"``.
            Full-frame calibrations are the same in both; they differ once an image has been resized.
        distortion_model: how ``dist`` bends rays: ``"opencv"`` (default) or ``"h36m"`` (the Human3.6M
            calibration's tangential terms); formulas in :mod:`lt_core.lens`. One model for the whole batch.
    """

    K: Tensor
    R: Tensor
    t: Tensor
    dist: Tensor | None = None
    image_size: Tensor | None = None
    names: list[str] | None = field(default=None, compare=False)
    convention: str = "centres"
    distortion_model: str = "opencv"

    def __post_init__(self) -> None:
        self.convention = check_convention(self.convention)
        self.K = _as_tensor(self.K)
        dtype, device = self.K.dtype, self.K.device
        self.R = _as_tensor(self.R, dtype, device)
        self.t = _as_tensor(self.t, dtype, device)
        if self.t.shape[-2:] == (3, 1):
            self.t = self.t[..., 0]
        batch = self.K.shape[:-2]
        if self.K.shape[-2:] != (3, 3):
            raise CameraError(f"K must have shape (..., 3, 3), got {tuple(self.K.shape)}")
        if self.R.shape != batch + (3, 3):
            raise CameraError(f"R must have shape {tuple(batch) + (3, 3)} to match K, got {tuple(self.R.shape)}")
        if self.t.shape != batch + (3,):
            raise CameraError(f"t must have shape {tuple(batch) + (3,)} (millimetres), got {tuple(self.t.shape)}")
        if self.dist is None:
            self.dist = torch.zeros(*batch, 5, dtype=dtype, device=device)
        else:
            d = _as_tensor(self.dist, dtype, device)
            if d.shape[-1] < 5:  # pad k1,k2,p1,p2 -> k1,k2,p1,p2,0
                d = torch.cat([d, d.new_zeros(*d.shape[:-1], 5 - d.shape[-1])], -1)
            if d.shape[-1] != 5:
                raise CameraError(f"dist must hold k1,k2,p1,p2[,k3] (4 or 5 values), got {tuple(d.shape)}")
            self.dist = d.expand(*batch, 5) if d.shape[:-1] != batch else d
        if self.image_size is not None:
            s = _as_tensor(self.image_size, dtype, device)
            self.image_size = s.expand(*batch, 2) if s.shape[:-1] != batch else s
        for name, x in (("K", self.K), ("R", self.R), ("t", self.t), ("dist", self.dist)):
            if not torch.isfinite(x).all():
                raise CameraError(f"camera {name} contains NaN or inf")
        if self.distortion_model not in DISTORTION_MODELS:
            raise CameraError(f"distortion_model must be one of {DISTORTION_MODELS}, got {self.distortion_model!r}")
        # a zero focal length or K[2, 2] makes K singular: no pixel maps back to a ray (validate() checks more)
        singular = (self.K[..., 0, 0] == 0) | (self.K[..., 1, 1] == 0) | (self.K[..., 2, 2] == 0)
        if bool(singular.any()):
            idx = tuple(int(i) for i in singular.nonzero()[0]) if singular.dim() else ()
            where = f" (camera {list(idx)})" if idx else ""
            raise CameraError(
                f"camera K is singular{where}: fx, fy and K[2, 2] must be non-zero, got "
                f"fx={float(self.K[idx + (0, 0)]):g}, fy={float(self.K[idx + (1, 1)]):g}, "
                f"K[2, 2]={float(self.K[idx + (2, 2)]):g}"
            )

    # ------------------------------------------------------------------ construction
    @classmethod
    def from_rodrigues(
        cls, K, rvec, t, dist=None, image_size=None, names=None, distortion_model: str = "opencv"
    ) -> Camera:
        """Build cameras from OpenCV ``rvec`` (..., 3) axis-angle rotations; ``t`` in millimetres."""
        rvec = _as_tensor(rvec)
        return cls(
            K=K,
            R=rodrigues_to_matrix(rvec),
            t=t,
            dist=dist,
            image_size=image_size,
            names=names,
            distortion_model=distortion_model,
        )

    @classmethod
    def look_at(
        cls,
        eye,
        target,
        up=(0.0, 0.0, 1.0),
        focal: float = 1145.0,
        image_size=(1000, 1000),
        principal=None,
        dtype: torch.dtype = torch.float64,
    ) -> Camera:
        """Build one camera at ``eye`` looking at ``target`` (both (3,) world mm) with ``up`` as the world up.

        Args:
            eye: (3,) camera centre in world millimetres.
            target: (3,) point on the optical axis.
            up: (3,) world up direction; the image ``v`` axis points against it.
            focal: focal length in pixels (square pixels).
            image_size: (W, H) pixels.
            principal: (cx, cy) pixels; the image centre ``((W-1)/2, (H-1)/2)`` when ``None``.
        """
        eye_t, target_t, up_t = (torch.as_tensor(v, dtype=dtype) for v in (eye, target, up))
        z = target_t - eye_t
        if z.norm() < 1e-9:
            raise CameraError("look_at: eye and target coincide")
        z = z / z.norm()
        x = torch.linalg.cross(z, up_t)
        if x.norm() < 1e-9:
            raise CameraError("look_at: viewing direction is parallel to the up vector")
        x = x / x.norm()
        y = torch.linalg.cross(z, x)
        R = torch.stack([x, y, z])
        w, h = image_size
        cx, cy = principal if principal is not None else ((w - 1) / 2, (h - 1) / 2)
        K = torch.tensor([[focal, 0, cx], [0, focal, cy], [0, 0, 1]], dtype=dtype)
        return cls(K=K, R=R, t=-R @ eye_t, image_size=torch.tensor([w, h], dtype=dtype))

    # ------------------------------------------------------------------ basic properties
    @property
    def batch_shape(self) -> torch.Size:
        """Leading batch dimensions."""
        return self.K.shape[:-2]

    @property
    def dtype(self) -> torch.dtype:
        return self.K.dtype

    @property
    def device(self) -> torch.device:
        return self.K.device

    @property
    def extrinsics(self) -> Tensor:
        """(..., 3, 4) world-to-camera ``[R | t]`` (mm)."""
        return torch.cat([self.R, self.t[..., None]], -1)

    @property
    def projection(self) -> Tensor:
        """(..., 3, 4) projection matrix ``K [R | t]`` mapping homogeneous world mm to homogeneous pixels."""
        return self.K @ self.extrinsics

    @property
    def center(self) -> Tensor:
        """(..., 3) camera centre ``-R^T t`` in world millimetres."""
        return -(self.R.transpose(-1, -2) @ self.t[..., None])[..., 0]

    @property
    def has_distortion(self) -> bool:
        return bool((self.dist != 0).any())

    def to(self, *args, **kwargs) -> Camera:
        """Move/cast every tensor (same arguments as :meth:`torch.Tensor.to`)."""
        conv = lambda x: None if x is None else x.to(*args, **kwargs)  # noqa: E731
        return Camera(
            conv(self.K),
            conv(self.R),
            conv(self.t),
            conv(self.dist),
            conv(self.image_size),
            self.names,
            convention=self.convention,
            distortion_model=self.distortion_model,
        )

    def __getitem__(self, idx) -> Camera:
        """Index the batch dimensions like a tensor (``cams[0]``, ``cams[:, [0, 2]]``)."""

        def pick(x: Tensor | None, tail: int) -> Tensor | None:
            if x is None:
                return None
            return x[idx] if not isinstance(idx, tuple) else x[idx + (slice(None),) * tail]

        names = None
        if self.names is not None and len(self.batch_shape) == 1:
            order = torch.arange(len(self.names))[idx]
            names = [self.names[i] for i in order.reshape(-1).tolist()]
        return Camera(
            pick(self.K, 2),
            pick(self.R, 2),
            pick(self.t, 1),
            pick(self.dist, 1),
            pick(self.image_size, 1),
            names,
            convention=self.convention,
            distortion_model=self.distortion_model,
        )

    def __len__(self) -> int:
        if not self.batch_shape:
            raise TypeError("a single camera has no length")
        return self.batch_shape[0]

    def expand(self, *shape: int) -> Camera:
        """Broadcast to a larger batch shape (e.g. a (C,) rig to (B, C))."""
        shape = tuple(shape)
        ex = lambda x, tail: None if x is None else x.expand(*shape, *x.shape[-tail:])  # noqa: E731
        return Camera(
            ex(self.K, 2),
            ex(self.R, 2),
            ex(self.t, 1),
            ex(self.dist, 1),
            ex(self.image_size, 1),
            self.names,
            convention=self.convention,
            distortion_model=self.distortion_model,
        )

    def with_convention(self, convention: str) -> Camera:
        """The same cameras labelled with another pixel convention (no number changes).

        A relabel is right for cameras of images that were never resized (full-frame calibrations, crops, or
        renders made directly at their size); after a resize the two conventions' intrinsics differ by
        ``0.5 s - 0.5`` px, so resize again from the full-frame camera instead.
        """
        return replace(self, convention=check_convention(convention))

    def validate(self, atol: float = 1e-4) -> Camera:
        """Check for degenerate cameras; raise :class:`CameraError` naming the problem, else return self.

        Checks: ``R`` is a proper rotation, focal lengths are positive, ``K[2] = (0, 0, 1)``.
        """
        if not bool(is_rotation(self.R.detach(), atol=atol).all()):
            raise CameraError("camera R is not a rotation matrix (orthonormal with det +1)")
        f = torch.stack([self.K[..., 0, 0], self.K[..., 1, 1]], -1)
        if not bool((f > 0).all()):
            raise CameraError(f"camera focal lengths must be positive pixels, got min {f.min().item():.4g}")
        last = self.K[..., 2, :]
        ref = torch.tensor([0.0, 0.0, 1.0], dtype=self.dtype, device=self.device)
        if not bool(((last - ref).abs() < 1e-6).all()):
            raise CameraError("camera K must have last row (0, 0, 1)")
        return self

    # ------------------------------------------------------------------ frames
    def world_to_camera(self, X: Tensor) -> Tensor:
        """Transform world points to camera coordinates.

        Args:
            X: (..., N, 3) world points in mm; leading dims broadcast with the camera batch.

        Returns:
            (..., N, 3) camera-frame points in mm.
        """
        check_shape(X, ("N", 3), "X")
        return X @ self.R.transpose(-1, -2) + self.t[..., None, :]

    def camera_to_world(self, Xc: Tensor) -> Tensor:
        """Inverse of :meth:`world_to_camera`: (..., N, 3) camera mm -> (..., N, 3) world mm."""
        check_shape(Xc, ("N", 3), "Xc")
        return (Xc - self.t[..., None, :]) @ self.R

    # ------------------------------------------------------------------ distortion
    def distort_normalized(self, xy: Tensor) -> Tensor:
        """Apply the lens distortion (``distortion_model``) to normalized image coordinates (..., N, 2)."""
        return distort_normalized(xy, self.dist, self.distortion_model)

    def undistort_normalized(self, xy_d: Tensor, iterations: int | None = None) -> Tensor:
        """Invert :meth:`distort_normalized`: (..., N, 2) -> (..., N, 2).

        Args:
            xy_d: (..., N, 2) distorted normalized coordinates.
            iterations: ``None`` (default) solves exactly by Newton's method (:func:`lt_core.lens.undistort_normalized`;
                NaN where the lens has no inverse); an integer runs that many of OpenCV's fixed-point iterations
                instead (``undistortPoints``; approximate, kept for comparison).
        """
        if iterations is None:
            return undistort_normalized(xy_d, self.dist, self.distortion_model)
        return undistort_fixed_point(xy_d, self.dist, self.distortion_model, iterations)

    def _pixels_to_normalized(self, uv: Tensor) -> Tensor:
        fx, fy = self.K[..., 0, 0, None], self.K[..., 1, 1, None]
        cx, cy, s = self.K[..., 0, 2, None], self.K[..., 1, 2, None], self.K[..., 0, 1, None]
        y = (uv[..., 1] - cy) / fy
        x = (uv[..., 0] - cx - s * y) / fx
        return torch.stack([x, y], -1)

    def _normalized_to_pixels(self, xy: Tensor) -> Tensor:
        fx, fy = self.K[..., 0, 0, None], self.K[..., 1, 1, None]
        cx, cy, s = self.K[..., 0, 2, None], self.K[..., 1, 2, None], self.K[..., 0, 1, None]
        return torch.stack([fx * xy[..., 0] + s * xy[..., 1] + cx, fy * xy[..., 1] + cy], -1)

    def undistort_points(self, uv: Tensor, iterations: int | None = None) -> Tensor:
        """Remove lens distortion from pixel coordinates.

        Args:
            uv: (..., N, 2) distorted pixels.
            iterations: ``None``: exact (Newton, to machine precision); an integer: that many OpenCV fixed-point
                iterations (see :meth:`undistort_normalized`).

        Returns:
            (..., N, 2) pixels an ideal pinhole camera with the same ``K`` would observe.
        """
        check_shape(uv, ("N", 2), "uv")
        if not self.has_distortion:
            return uv
        return self._normalized_to_pixels(self.undistort_normalized(self._pixels_to_normalized(uv), iterations))

    def distort_points(self, uv: Tensor) -> Tensor:
        """Add lens distortion to ideal pinhole pixels (..., N, 2) -> (..., N, 2)."""
        check_shape(uv, ("N", 2), "uv")
        return self._normalized_to_pixels(self.distort_normalized(self._pixels_to_normalized(uv)))

    # ------------------------------------------------------------------ projection
    def project(self, X: Tensor, distort: bool = True, eps: float = 1e-9) -> Tensor:
        """Project world points to pixels.

        Args:
            X: (..., N, 3) world points in mm; leading dims broadcast with the camera batch.
            distort: apply the lens distortion (``False`` gives the ideal pinhole projection).
            eps: smallest depth magnitude used in the division (mm).

        Returns:
            (..., N, 2) pixel coordinates ``(u, v)``. Points behind the camera project to meaningless pixels;
            use :meth:`depth` to mask them.
        """
        Xc = self.world_to_camera(X)
        z = Xc[..., 2:]
        z = torch.where(z.abs() < eps, torch.full_like(z, eps), z)
        xy = Xc[..., :2] / z
        if distort and self.has_distortion:
            xy = self.distort_normalized(xy)
        return self._normalized_to_pixels(xy)

    def depth(self, X: Tensor) -> Tensor:
        """(..., N, 3) world mm -> (..., N) depth along the optical axis in mm (negative = behind)."""
        return self.world_to_camera(X)[..., 2]

    # ------------------------------------------------------------------ image operations
    def crop(self, left, top) -> Camera:
        """Camera of the image cropped with its top-left corner pixel at ``(left, top)``.

        Args:
            left, top: floats or tensors broadcastable to the batch shape, pixels.
        """
        K = self.K.clone()
        K[..., 0, 2] = K[..., 0, 2] - _as_tensor(left, self.dtype, self.device)
        K[..., 1, 2] = K[..., 1, 2] - _as_tensor(top, self.dtype, self.device)
        return replace(self, K=K, image_size=None)

    def resize(self, scale_x, scale_y=None) -> Camera:
        """Camera of the image resized by ``scale_x`` horizontally and ``scale_y`` vertically.

        The principal point moves by the camera's convention (:func:`lt_core.conventions.resize_coordinate`):
        ``"centres"``: pixel centres map as ``u -> (u + 0.5) * s - 0.5``; ``"official"``: ``u -> u * s``.
        """
        scale_y = scale_x if scale_y is None else scale_y
        sx = _as_tensor(scale_x, self.dtype, self.device)
        sy = _as_tensor(scale_y, self.dtype, self.device)
        K = self.K.clone()
        K[..., 0, 0] = K[..., 0, 0] * sx
        K[..., 0, 1] = K[..., 0, 1] * sx
        K[..., 0, 2] = resize_coordinate(K[..., 0, 2], sx, self.convention)
        K[..., 1, 1] = K[..., 1, 1] * sy
        K[..., 1, 2] = resize_coordinate(K[..., 1, 2], sy, self.convention)
        size = None
        if self.image_size is not None:
            size = self.image_size * torch.stack([sx, sy], -1) if sx.dim() else self.image_size * torch.stack([sx, sy])
        return replace(self, K=K, image_size=size)

    def crop_and_resize(self, box_ltrb, out_size: tuple[int, int]) -> Camera:
        """Camera after cropping ``box_ltrb`` = (..., 4) (left, top, right, bottom) pixels, exclusive right/bottom
        edges in pixel-corner units, and resizing the crop to ``out_size`` = (W, H) (by the camera's
        convention, see :meth:`resize`)."""
        box = _as_tensor(box_ltrb, self.dtype, self.device)
        w, h = out_size
        cam = self.crop(box[..., 0], box[..., 1])
        # true divisions (``w / tensor`` would multiply by a rounded reciprocal)
        sx = torch.div(torch.tensor(float(w), dtype=self.dtype, device=self.device), box[..., 2] - box[..., 0])
        sy = torch.div(torch.tensor(float(h), dtype=self.dtype, device=self.device), box[..., 3] - box[..., 1])
        cam = cam.resize(sx, sy)
        cam.image_size = torch.tensor([w, h], dtype=self.dtype, device=self.device).expand(*self.batch_shape, 2)
        return cam


def stack_cameras(cameras: Sequence[Camera] | Iterable[Camera], dim: int = 0) -> Camera:
    """Stack cameras with equal batch shapes along a new dimension ``dim`` (e.g. C single cameras -> a (C,) rig)."""
    cams = list(cameras)
    if not cams:
        raise CameraError("stack_cameras needs at least one camera")
    sizes = [c.image_size for c in cams]
    size = torch.stack(sizes, dim) if all(s is not None for s in sizes) else None
    models = sorted({c.distortion_model for c in cams})
    if len(models) > 1:
        raise CameraError(f"stack_cameras: cameras use different distortion models {models}; convert them first")
    names = None
    if all(c.names is not None for c in cams):
        names = [n for c in cams for n in c.names]
    elif all(c.names is None for c in cams):
        names = None
    conventions = sorted({c.convention for c in cams})
    if len(conventions) > 1:
        raise CameraError(
            f"stack_cameras: cameras of different pixel conventions {conventions} cannot be stacked; "
            "build them all with one convention (lt_core.conventions)"
        )
    d = dim if dim >= 0 else dim - 2
    return Camera(
        torch.stack([c.K for c in cams], d),
        torch.stack([c.R for c in cams], d),
        torch.stack([c.t for c in cams], d if dim >= 0 else dim - 1),
        torch.stack([c.dist for c in cams], d if dim >= 0 else dim - 1),
        size if dim >= 0 else (None if size is None else torch.stack(sizes, dim - 1)),
        names,
        convention=conventions[0],
        distortion_model=models[0],
    )
