"""Volumetric triangulation network: features -> cuboid unprojection -> V2V -> 3D soft-argmax.

Per sample, a cube of side ``cuboid_side`` mm (2500 in the paper) with ``volume_size ** 3`` voxels (64^3) is
centred on ``root`` (the pelvis: ground truth in training, the algebraic model's estimate at test time). The
backbone's deconvolution features (256 channels at paper scale) are reduced to 32 channels by a 1x1 convolution
(``process_features``), unprojected into the cube from every view and aggregated over views (``"softmax"`` in the
released model, also ``"sum"`` and ``"conf"``, the latter weighting views by a learned per-view confidence). The
V2V network turns the volume into one score volume per joint, and the 3D soft-argmax (multiplier ``beta``, 1 in
the paper) over the voxel centres gives joint positions in world millimetres.

In training mode the cube is rotated about the vertical (world ``z``) axis by a random angle per sample
(``rotate_train``), drawn from torch's global CPU generator (``torch.manual_seed`` makes it reproducible).

Works with any number of views, one included. Geometry (grid, projection, soft-argmax) runs in float32 or
better with autocast disabled; the backbone and V2V follow the ambient autocast.

Pixel rules follow the model's ``convention`` (:mod:`lt_core.conventions`): with ``"official"`` (the paper's
released checkpoints) the heatmap cameras are resized without the half-pixel term, their projection matrices are
used in float32 without lens distortion, and the unprojection samples and aggregates as the released code does.
The cameras must carry the model's convention.
"""

from __future__ import annotations

import math
from dataclasses import replace

import torch
from torch import Tensor, nn

from lt_core.camera import Camera
from lt_core.checks import normalize_sum
from lt_core.conventions import check_convention
from lt_core.models.backbone import BackboneConfig, PoseResNet
from lt_core.models.common import check_camera_convention, check_multiview_inputs, heatmap_cameras
from lt_core.models.v2v import V2VConfig, V2VModel
from lt_core.ops.grid import autocast_disabled, make_cuboid_grid
from lt_core.ops.soft_argmax import soft_argmax_3d
from lt_core.ops.unprojection import AGGREGATIONS, Aggregation, unproject_features

__all__ = ["VolumetricTriangulationNet"]


class VolumetricTriangulationNet(nn.Module):
    """Learnable volumetric triangulation (backbone, feature unprojection, V2V, 3D soft-argmax).

    Args:
        backbone_config: Backbone architecture; ``alg_confidences`` is turned off and ``vol_confidences`` is on
            exactly when ``aggregation == "conf"``, so at paper scale with ``"softmax"`` the state dict matches
            the released ``volumetric_human36m_vol_softmax`` checkpoint name for name.
        v2v_config: V2V architecture (default :meth:`V2VConfig.paper` with ``out_channels = J``); its
            ``in_channels`` is the output width of ``process_features`` (32 in the paper).
        volume_size: Voxels per cube side ``D`` (64); a multiple of ``2 ** v2v_config.levels``.
        cuboid_side: Cube side in mm (2500); voxels are spaced ``cuboid_side / (D - 1)``.
        aggregation: ``"softmax"``, ``"sum"`` or ``"conf"`` view aggregation.
        beta: Multiplier of the V2V output before the 3D softmax (1 in the paper).
        rotate_train: Random rotation of the cube about the vertical axis in training mode.
        convention: pixel rules, ``"centres"`` or ``"official"`` (module docstring; the released checkpoint
            needs ``"official"``).

    Attributes:
        backbone: :class:`PoseResNet`.
        process_features: ``nn.Sequential(nn.Conv2d(deconv_channels, in_channels, 1))``.
        volume_net: :class:`V2VModel`.
    """

    def __init__(
        self,
        backbone_config: BackboneConfig | None = None,
        v2v_config: V2VConfig | None = None,
        volume_size: int = 64,
        cuboid_side: float = 2500.0,
        aggregation: Aggregation = "softmax",
        beta: float = 1.0,
        rotate_train: bool = True,
        convention: str = "centres",
    ) -> None:
        super().__init__()
        self.convention = check_convention(convention)
        if aggregation not in AGGREGATIONS:
            raise ValueError(f"aggregation must be one of {AGGREGATIONS}, got {aggregation!r}")
        config = backbone_config if backbone_config is not None else BackboneConfig.paper()
        config = replace(config, alg_confidences=False, vol_confidences=aggregation == "conf")
        v2v = v2v_config if v2v_config is not None else V2VConfig.paper(out_channels=config.num_joints)
        if v2v.out_channels != config.num_joints:
            raise ValueError(
                f"V2V out_channels ({v2v.out_channels}) must equal the number of joints ({config.num_joints})"
            )
        step = 2**v2v.levels
        if volume_size < step or volume_size % step:
            raise ValueError(
                f"volume_size must be a positive multiple of 2**levels = {step} for this V2V, got {volume_size}"
            )
        if not cuboid_side > 0:
            raise ValueError(f"cuboid_side must be positive (mm), got {cuboid_side}")
        self.backbone = PoseResNet(config)
        self.process_features = nn.Sequential(nn.Conv2d(config.deconv_channels, v2v.in_channels, 1))
        self.volume_net = V2VModel(v2v)
        self.volume_size = int(volume_size)
        self.cuboid_side = float(cuboid_side)
        self.aggregation = aggregation
        self.beta = float(beta)
        self.rotate_train = bool(rotate_train)

    @property
    def num_joints(self) -> int:
        """Number of joints ``J``."""
        return self.backbone.config.num_joints

    def extra_repr(self) -> str:
        return (
            f"volume_size={self.volume_size}, cuboid_side={self.cuboid_side}, aggregation={self.aggregation!r}, "
            f"beta={self.beta}, rotate_train={self.rotate_train}, convention={self.convention!r}"
        )

    def sample_rotation(self, batch_size: int, device: torch.device) -> Tensor:
        """(B,) cube rotations in radians: uniform in [0, 2 pi) in training mode with ``rotate_train``, else 0.

        Drawn on torch's global CPU generator so that ``torch.manual_seed`` reproduces them on any device.
        """
        if self.training and self.rotate_train:
            return (torch.rand(batch_size) * (2 * math.pi)).to(device)
        return torch.zeros(batch_size, device=device)

    def forward(
        self,
        images: Tensor,
        cameras: Camera,
        root: Tensor,
        views_valid: Tensor | None = None,
        rotation: Tensor | None = None,
    ) -> dict[str, Tensor]:
        """Estimate the joints of a batch of samples seen by one or more views.

        Args:
            images: (B, C, 3, H, W) network-ready images (H, W multiples of 32), C >= 1.
            cameras: :class:`Camera` with batch shape (B, C) describing the images.
            root: (B, 3) cube centres in world mm (pelvis); no gradient flows into it.
            views_valid: optional (B, C) bool; missing views contribute nothing.
            rotation: optional (B,) cube rotations about world ``z`` in radians, overriding the random training
                rotation (and the zero rotation in evaluation).

        Returns:
            dict with ``joints_3d`` (B, J, 3) world mm; ``volumes`` (B, J, D, D, D) the 3D softmax probabilities
            (sum 1 per joint); ``volume_logits`` (B, J, D, D, D) ``beta`` times the V2V output, whose softmax is
            ``volumes``; ``grid`` (B, D, D, D, 3) voxel centres in world mm; ``rotation`` (B,) radians;
            ``heatmaps`` (B, C, J, h, w) backbone heatmaps; and, with ``"conf"`` aggregation, ``vol_confidences``
            (B, C) per-view weights normalised over the valid views.
        """
        B, C = check_multiview_inputs(images, cameras, views_valid)
        check_camera_convention(cameras, self.convention, type(self).__name__)
        if root.shape != (B, 3):
            raise ValueError(f"root must have shape ({B}, 3) (world mm), got {tuple(root.shape)}")
        H, W = images.shape[-2:]
        out = self.backbone(images.reshape(B * C, *images.shape[2:]))
        J, h, w = out.heatmaps.shape[1:]
        features = self.process_features(out.features)
        features = features.reshape(B, C, *features.shape[1:])
        valid = None if views_valid is None else views_valid.to(device=images.device, dtype=torch.bool)
        result: dict[str, Tensor] = {"heatmaps": out.heatmaps.reshape(B, C, J, h, w)}
        confidences = None
        if self.aggregation == "conf":
            raw = out.vol_confidences.float().reshape(B, C)
            keep = torch.ones_like(raw) if valid is None else valid.to(raw.dtype)
            confidences = raw * keep
            confidences = normalize_sum(confidences, 1)
            result["vol_confidences"] = confidences
        theta = self.sample_rotation(B, images.device) if rotation is None else rotation.to(images.device)
        with autocast_disabled(images.device):
            grid = make_cuboid_grid(root.detach(), self.cuboid_side, self.volume_size, theta)
            hm_cameras = heatmap_cameras(cameras, (h, w), (H, W))
            if self.convention == "official":  # float32 pinhole matrices, as the released code
                hm_cameras = hm_cameras.projection.to(torch.float32)
            volumes = unproject_features(
                features, hm_cameras, grid, self.aggregation, confidences, valid, convention=self.convention
            )
        scores = self.volume_net(volumes)
        with autocast_disabled(images.device):
            logits = scores.float() * self.beta
            joints_3d, probs = soft_argmax_3d(logits, 1.0, grid[:, None], return_probs=True)
        result.update(joints_3d=joints_3d, volumes=probs, volume_logits=logits, grid=grid, rotation=theta)
        return result
