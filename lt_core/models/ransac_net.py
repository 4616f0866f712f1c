"""RANSAC triangulation baseline: backbone heatmaps -> hard argmax (sub-pixel) -> RANSAC over view pairs.

The paper's baseline triangulates the per-view maxima of the heatmaps robustly: random view pairs propose a 3D
point, views reprojecting within ``threshold`` pixels are inliers, and the largest inlier set is triangulated
and refined. Nothing here is differentiable with respect to the 2D locations, so this model is evaluated with a
backbone trained elsewhere (e.g. the algebraic model's, loaded with ``load_state_dict(..., strict=False)`` or
through :func:`lt_core.models.official.load_official_state_dict` with ``strict=False``).

RANSAC runs in **image** pixels (the threshold keeps the paper's meaning, 15 px on 384 px crops): heatmap maxima
are mapped with ``u_img = (u_hm + 0.5) * W / w - 0.5`` and the image cameras' projection matrices are used.

With ``convention="official"`` the model is the released code's baseline: integer heatmap maxima times the stride
(``u_img = u_hm W / w``), and :func:`lt_core.ops.ransac_official.triangulate_ransac_official` (10 random pairs
drawn by Python's generator, 15 px on half the distance, Huber least-squares refinement) with float32 matrices.
"""

from __future__ import annotations

import random
from dataclasses import replace

import torch
from torch import Tensor, nn

from lt_core.camera import Camera
from lt_core.conventions import check_convention
from lt_core.models.backbone import BackboneConfig, PoseResNet
from lt_core.models.common import check_camera_convention, check_multiview_inputs, heatmap_to_image_pixels
from lt_core.ops.grid import autocast_disabled
from lt_core.ops.ransac import triangulate_ransac
from lt_core.ops.ransac_official import OFFICIAL_RANSAC_ITERATIONS, triangulate_ransac_official
from lt_core.ops.soft_argmax import hard_argmax_2d

__all__ = ["RANSACTriangulationNet"]


class RANSACTriangulationNet(nn.Module):
    """Hard-argmax 2D detections triangulated by RANSAC (no learned confidences).

    Args:
        backbone_config: Backbone architecture (confidence heads are turned off).
        threshold: Inlier reprojection threshold in image pixels (15 in the paper; the official convention
            compares it with half the pixel distance, as the released code does).
        n_iters: Random pair hypotheses per joint (``None``: 100, all pairs being tried when there are fewer;
            10 random pairs with the official convention).
        refine: Refine the winning inlier set by minimising the reprojection error (Gauss-Newton; Huber least
            squares with the official convention).
        subpixel: Parabolic sub-pixel refinement of the heatmap maxima (``None``: on, off with the official
            convention).
        convention: ``"centres"`` (the project's RANSAC) or ``"official"`` (the released code's; module
            docstring).

    Attributes:
        backbone: :class:`PoseResNet`.
    """

    def __init__(
        self,
        backbone_config: BackboneConfig | None = None,
        threshold: float = 15.0,
        n_iters: int | None = None,
        refine: bool = True,
        subpixel: bool | None = None,
        convention: str = "centres",
    ) -> None:
        super().__init__()
        config = backbone_config if backbone_config is not None else BackboneConfig.paper()
        self.backbone = PoseResNet(replace(config, alg_confidences=False, vol_confidences=False))
        self.convention = check_convention(convention)
        self.threshold = float(threshold)
        self._n_iters = None if n_iters is None else int(n_iters)
        self.refine = bool(refine)
        self._subpixel = None if subpixel is None else bool(subpixel)

    @property
    def n_iters(self) -> int:
        """Hypotheses per joint: as given, else the convention's default (100, or the released code's 10)."""
        if self._n_iters is not None:
            return self._n_iters
        return OFFICIAL_RANSAC_ITERATIONS if self.convention == "official" else 100

    @n_iters.setter
    def n_iters(self, value: int) -> None:
        self._n_iters = int(value)

    @property
    def subpixel(self) -> bool:
        """Sub-pixel refinement of the maxima: as given, else on (off with the official convention)."""
        return self._subpixel if self._subpixel is not None else self.convention != "official"

    @subpixel.setter
    def subpixel(self, value: bool) -> None:
        self._subpixel = bool(value)

    def extra_repr(self) -> str:
        return (
            f"threshold={self.threshold}, n_iters={self.n_iters}, refine={self.refine}, subpixel={self.subpixel}, "
            f"convention={self.convention!r}"
        )

    def forward(
        self,
        images: Tensor,
        cameras: Camera,
        views_valid: Tensor | None = None,
        generator: torch.Generator | None = None,
        rng: random.Random | int | None = None,
    ) -> dict[str, Tensor]:
        """Detect and robustly triangulate the joints of a batch of multi-view samples.

        Args:
            images: (B, C, 3, H, W) network-ready images, C >= 2.
            cameras: :class:`Camera` with batch shape (B, C) describing the images.
            views_valid: optional (B, C) bool; missing views are never used.
            generator: CPU random generator for reproducible hypotheses (the project's RANSAC).
            rng: Python generator or seed of the official RANSAC (``None``: Python's global generator, as the
                released code).

        Returns:
            dict with ``joints_3d`` (B, J, 3) world mm, ``joints_2d`` (B, C, J, 2) image pixels, ``heatmaps``
            (B, C, J, h, w), ``peaks`` (B, C, J) heatmap maxima, ``inliers`` (B, C, J) bool views used.
        """
        B, C = check_multiview_inputs(images, cameras, views_valid)
        check_camera_convention(cameras, self.convention, type(self).__name__)
        if C < 2:
            raise ValueError(f"RANSAC triangulation needs at least 2 views, got C={C}")
        H, W = images.shape[-2:]
        heatmaps = self.backbone(images.reshape(B * C, *images.shape[2:])).heatmaps
        J, h, w = heatmaps.shape[1:]
        with autocast_disabled(images.device):
            coords, peaks = hard_argmax_2d(heatmaps.float(), refine=self.subpixel)
            joints_2d = heatmap_to_image_pixels(coords, (h, w), (H, W), self.convention).reshape(B, C, J, 2)
            valid = None
            if views_valid is not None:
                valid = views_valid.to(device=images.device, dtype=torch.bool)[..., None].expand(B, C, J)
            if self.convention == "official":
                joints_3d, inliers = triangulate_ransac_official(
                    joints_2d.detach(),
                    cameras.projection.to(torch.float32),
                    valid=valid,
                    n_iters=self.n_iters,
                    threshold=self.threshold,
                    refine=self.refine,
                    rng=rng,
                )
                joints_3d, inliers = joints_3d.to(images.device), inliers.to(images.device)
            else:
                joints_3d, inliers = triangulate_ransac(
                    joints_2d.detach(),
                    cameras.projection,
                    valid=valid,
                    threshold=self.threshold,
                    n_iters=self.n_iters,
                    refine=self.refine,
                    generator=generator,
                )
        return {
            "joints_3d": joints_3d.to(joints_2d.dtype),
            "joints_2d": joints_2d,
            "heatmaps": heatmaps.reshape(B, C, J, h, w),
            "peaks": peaks.reshape(B, C, J),
            "inliers": inliers,
        }
