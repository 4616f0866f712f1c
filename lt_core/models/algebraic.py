"""Algebraic triangulation network: 2D heatmaps -> soft-argmax -> confidence-weighted DLT.

For ``B`` samples of ``C`` views the backbone runs once on the ``B * C`` images; each heatmap is turned into a
2D point by a softmax with inverse temperature ``beta`` followed by the expected coordinate (soft-argmax), and
the ``C`` points of each joint are triangulated by the DLT whose rows are weighted by the learned per-view,
per-joint confidences (normalised over views, as in the paper). Everything is differentiable, so the 3D loss
trains the backbone and the confidence head end to end.

Pixel rules follow the model's ``convention`` (:mod:`lt_core.conventions`). ``"centres"`` (the default): the
image cameras are resized to the heatmap resolution with :meth:`~lt_core.camera.Camera.resize`, the normalised DLT
runs on heatmap pixels directly, and ``joints_2d`` is reported in image pixels, ``u_img = (u_hm + 0.5) W / w -
0.5``. ``"official"`` (the paper's released code and checkpoints): ``u_img = u_hm W / w``, and the raw weighted DLT
is solved by SVD on those image pixels with the image projections, in the heatmaps' precision. The cameras must
carry the model's convention (a model refuses the other one rather than mixing them).

Lens distortion is ignored by the DLT (projection matrices ``K [R | t]``): feed undistorted crops, or cameras
whose ``dist`` is zero.
"""

from __future__ import annotations

from dataclasses import replace

import torch
from torch import Tensor, nn

from lt_core.camera import Camera
from lt_core.checks import normalize_sum
from lt_core.conventions import check_convention, rules
from lt_core.models.backbone import BackboneConfig, PoseResNet
from lt_core.models.common import (
    check_camera_convention,
    check_multiview_inputs,
    heatmap_cameras,
    heatmap_to_image_pixels,
)
from lt_core.ops.grid import autocast_disabled
from lt_core.ops.soft_argmax import soft_argmax_2d
from lt_core.ops.triangulation import triangulate

__all__ = [
    "AlgebraicTriangulationNet",
    "heatmap_to_image_pixels",
    "heatmap_cameras",
    "check_multiview_inputs",
    "check_camera_convention",
]  # the helpers live in lt_core.models.common


class AlgebraicTriangulationNet(nn.Module):
    """Backbone heatmaps, soft-argmax and confidence-weighted algebraic triangulation.

    Args:
        backbone_config: Backbone architecture; ``alg_confidences`` is set from ``use_confidences`` and
            ``vol_confidences`` is turned off, so at paper scale the state dict matches the released
            ``algebraic_human36m_alg`` checkpoint name for name.
        use_confidences: Learn per-view, per-joint confidences (the paper's algebraic model); ``False`` gives
            the unweighted DLT baseline (all weights 1).
        beta: Inverse temperature of the 2D soft-argmax (100 in the paper).
        heatmap_softmax: ``True``: softmax of ``beta * heatmap`` (the paper). ``False``: the heatmaps, clamped
            at 0, are normalised by their sum (``beta`` unused).
        confidence_eps: Added to the normalised confidences of the valid views (the released code adds 1e-5) so
            that no usable view has weight exactly 0.
        convention: pixel rules, ``"centres"`` or ``"official"`` (module docstring; the released checkpoints
            need ``"official"``).

    Attributes:
        backbone: :class:`PoseResNet`.
    """

    def __init__(
        self,
        backbone_config: BackboneConfig | None = None,
        use_confidences: bool = True,
        beta: float = 100.0,
        heatmap_softmax: bool = True,
        confidence_eps: float = 1e-5,
        convention: str = "centres",
    ) -> None:
        super().__init__()
        self.convention = check_convention(convention)
        config = backbone_config if backbone_config is not None else BackboneConfig.paper()
        config = replace(config, alg_confidences=bool(use_confidences), vol_confidences=False)
        self.backbone = PoseResNet(config)
        self.use_confidences = bool(use_confidences)
        self.beta = float(beta)
        self.heatmap_softmax = bool(heatmap_softmax)
        self.confidence_eps = float(confidence_eps)

    @property
    def num_joints(self) -> int:
        """Number of joints ``J``."""
        return self.backbone.config.num_joints

    def extra_repr(self) -> str:
        return (
            f"use_confidences={self.use_confidences}, beta={self.beta}, "
            f"heatmap_softmax={self.heatmap_softmax}, convention={self.convention!r}"
        )

    def _points_2d(self, heatmaps: Tensor) -> Tensor:
        """(N, J, h, w) heatmaps -> (N, J, 2) heatmap pixels, computed in float32 or better."""
        hm = heatmaps if heatmaps.dtype in (torch.float32, torch.float64) else heatmaps.float()
        if self.heatmap_softmax:
            return soft_argmax_2d(hm, self.beta)
        h, w = hm.shape[-2:]
        p = hm.clamp_min(0)
        p = normalize_sum(p, (-2, -1))
        xs = torch.arange(w, dtype=p.dtype, device=p.device)
        ys = torch.arange(h, dtype=p.dtype, device=p.device)
        return torch.stack([(p.sum(-2) * xs).sum(-1), (p.sum(-1) * ys).sum(-1)], -1)

    def normalize_confidences(self, raw: Tensor, valid: Tensor) -> Tensor:
        """Normalise confidences over views.

        Args:
            raw: (B, C, J) non-negative confidences.
            valid: (B, C) bool views to use.

        Returns:
            (B, C, J) weights: ``raw / sum over valid views + eps`` on valid views, 0 on missing ones.
        """
        m = valid[..., None].to(raw.dtype)
        w = raw * m
        w = normalize_sum(w, 1)
        return (w + self.confidence_eps) * m

    def forward(self, images: Tensor, cameras: Camera, views_valid: Tensor | None = None) -> dict[str, Tensor]:
        """Triangulate the joints of a batch of multi-view samples.

        Args:
            images: (B, C, 3, H, W) network-ready images (H, W multiples of 32; >= 128 with confidences).
            cameras: :class:`Camera` with batch shape (B, C) describing the images (pixels of the crops).
            views_valid: optional (B, C) bool; missing views get weight 0 (each sample needs >= 2 valid views).
                A missing view gives the result of the same views without it (the released code's dataset leaves
                missing views out).

        Returns:
            dict with ``joints_3d`` (B, J, 3) world mm, ``joints_2d`` (B, C, J, 2) image pixels, ``heatmaps``
            (B, C, J, h, w) raw backbone heatmaps, ``confidences`` (B, C, J) the DLT weights (normalised over
            views; ones when confidences are disabled; 0 for missing views).

        Raises:
            ValueError: bad shapes, or fewer than 2 views.
            lt_core.ops.triangulation.TriangulationError: a sample has fewer than 2 valid views.
        """
        B, C = check_multiview_inputs(images, cameras, views_valid)
        check_camera_convention(cameras, self.convention, type(self).__name__)
        if C < 2:
            raise ValueError(
                f"algebraic triangulation needs at least 2 views, got C={C}; use the volumetric model for a single view"
            )
        H, W = images.shape[-2:]
        out = self.backbone(images.reshape(B * C, *images.shape[2:]))
        h, w = out.heatmaps.shape[-2:]
        J = out.heatmaps.shape[1]
        heatmaps = out.heatmaps.reshape(B, C, J, h, w)
        valid = (
            torch.ones(B, C, dtype=torch.bool, device=images.device)
            if views_valid is None
            else views_valid.to(device=images.device, dtype=torch.bool)
        )
        with autocast_disabled(images.device):
            points = self._points_2d(out.heatmaps).reshape(B, C, J, 2)
            if self.use_confidences:
                raw = out.alg_confidences.reshape(B, C, J)
                weights = self.normalize_confidences(raw.to(torch.promote_types(raw.dtype, torch.float32)), valid)
            elif self.convention == "official":  # ones, normalised like confidences (1 / C + 1e-5)
                weights = self.normalize_confidences(valid[..., None].to(points.dtype).expand(B, C, J), valid)
            else:
                weights = valid[..., None].to(points.dtype).expand(B, C, J)
            joints_2d = heatmap_to_image_pixels(points, (h, w), (H, W), self.convention)
            if rules(self.convention).normalized_dlt:
                projections = heatmap_cameras(cameras, (h, w), (H, W)).projection
                joints_3d = triangulate(points, projections, weights.to(points.dtype))
            else:  # the released code: raw DLT on image pixels, in the heatmaps' precision
                joints_3d = triangulate(
                    joints_2d,
                    cameras.projection.to(points.dtype),
                    weights.to(points.dtype),
                    normalize=False,
                    precision="native",
                )
        return {"joints_3d": joints_3d, "joints_2d": joints_2d, "heatmaps": heatmaps, "confidences": weights}
