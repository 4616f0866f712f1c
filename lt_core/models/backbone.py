"""PoseResNet heatmap backbone with the paper's per-view confidence heads.

The backbone is a ResNet (BasicBlock for depth 18/34, Bottleneck for 50/101/152) followed by three
transposed convolutions (4x4, stride 2, BatchNorm, ReLU) and a 1x1 ``final_layer`` producing one heatmap
per joint. The output stride is 4: a ``384 x 384`` image gives ``96 x 96`` heatmaps.

At paper scale (:meth:`BackboneConfig.paper`: depth 152, width 1, 256 deconvolution channels, 17 joints) the
module attribute names and parameter shapes are exactly those of the released checkpoints, so
``state_dict()`` keys read ``conv1.weight``, ``layer3.35.bn2.running_var``, ``deconv_layers.6.weight``,
``final_layer.bias``, ``alg_confidences.features.0.weight``, ``alg_confidences.head.4.bias``, ...

Confidence heads (both read the last ResNet stage, stride 32):

- ``alg_confidences``: conv3x3 -> BN -> maxpool2 -> ReLU -> conv3x3 -> BN -> maxpool2 -> ReLU, global average
  pooling, then an MLP (Linear, ReLU, Linear, ReLU, Linear) and a sigmoid, giving ``J`` confidences in
  ``(0, 1)`` per view. The sigmoid is what the released algebraic model was trained with; the algebraic
  triangulation normalises these over views itself.
- ``vol_confidences`` (optional, not part of the released softmax model): the same head with one output,
  a sigmoid confidence per view ``(N,)``, used by the "conf" volume aggregation.

Both heads max-pool twice by 2, so they need the stride-32 feature map to be at least ``4 x 4``: images of
at least ``128 x 128`` pixels. Image sides should be multiples of 32 for the heatmaps to be exactly
``H / 4 x W / 4``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from typing import NamedTuple

from torch import Tensor, nn

__all__ = [
    "BN_MOMENTUM",
    "BasicBlock",
    "Bottleneck",
    "RESNET_SPECS",
    "BackboneConfig",
    "BackboneOutput",
    "ConfidenceHead",
    "PoseResNet",
    "count_parameters",
]

BN_MOMENTUM = 0.1
"""BatchNorm momentum used throughout the backbone (as in the released model)."""


def _scaled(channels: int, width: float) -> int:
    """Scale a channel count by the width multiplier, keeping at least one channel."""
    return max(1, int(round(channels * width)))


def count_parameters(module: nn.Module, trainable_only: bool = False) -> int:
    """Number of scalar parameters of a module.

    Args:
        module: Any module.
        trainable_only: Count only parameters with ``requires_grad``.

    Returns:
        The total number of parameter elements (buffers excluded).
    """
    return sum(p.numel() for p in module.parameters() if p.requires_grad or not trainable_only)


class BasicBlock(nn.Module):
    """Two 3x3 convolutions with a residual connection (ResNet-18/34).

    Args:
        in_channels: Input channels.
        planes: Channels of both convolutions (``expansion = 1``).
        stride: Stride of the first convolution.
        downsample: Projection of the identity path when shapes change, or ``None``.
    """

    expansion = 1

    def __init__(self, in_channels: int, planes: int, stride: int = 1, downsample: nn.Module | None = None) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, planes, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes, momentum=BN_MOMENTUM)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride=1, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes, momentum=BN_MOMENTUM)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample

    def forward(self, x: Tensor) -> Tensor:
        """(N, in_channels, H, W) -> (N, planes, H / stride, W / stride)."""
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + identity)


class Bottleneck(nn.Module):
    """1x1 -> 3x3 (strided) -> 1x1 bottleneck with a residual connection (ResNet-50/101/152).

    Args:
        in_channels: Input channels.
        planes: Inner channels; the block outputs ``planes * 4``.
        stride: Stride of the 3x3 convolution.
        downsample: Projection of the identity path when shapes change, or ``None``.
    """

    expansion = 4

    def __init__(self, in_channels: int, planes: int, stride: int = 1, downsample: nn.Module | None = None) -> None:
        super().__init__()
        out_channels = planes * self.expansion
        self.conv1 = nn.Conv2d(in_channels, planes, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes, momentum=BN_MOMENTUM)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride=stride, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes, momentum=BN_MOMENTUM)
        self.conv3 = nn.Conv2d(planes, out_channels, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(out_channels, momentum=BN_MOMENTUM)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample

    def forward(self, x: Tensor) -> Tensor:
        """(N, in_channels, H, W) -> (N, 4 * planes, H / stride, W / stride)."""
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        return self.relu(out + identity)


RESNET_SPECS: dict[int, tuple[type[nn.Module], tuple[int, int, int, int]]] = {
    18: (BasicBlock, (2, 2, 2, 2)),
    34: (BasicBlock, (3, 4, 6, 3)),
    50: (Bottleneck, (3, 4, 6, 3)),
    101: (Bottleneck, (3, 4, 23, 3)),
    152: (Bottleneck, (3, 8, 36, 3)),
}
"""ResNet depth -> (block class, number of blocks in layer1..layer4)."""


@dataclass(frozen=True)
class BackboneConfig:
    """Configuration of :class:`PoseResNet`.

    Attributes:
        depth: ResNet depth, one of 18, 34, 50, 101, 152.
        width: Channel multiplier for the stem, the four ResNet stages and the confidence heads
            (1.0 = standard ResNet; 0.25 gives a tiny CPU model).
        deconv_channels: Channels of the three deconvolution layers; also the channels of ``features``.
        num_joints: Number of heatmaps ``J`` (and of algebraic confidences).
        alg_confidences: Build the per-joint algebraic confidence head ``alg_confidences``.
        vol_confidences: Build the per-view volumetric confidence head ``vol_confidences``.
    """

    depth: int = 152
    width: float = 1.0
    deconv_channels: int = 256
    num_joints: int = 17
    alg_confidences: bool = False
    vol_confidences: bool = False

    def __post_init__(self) -> None:
        if self.depth not in RESNET_SPECS:
            raise ValueError(f"depth must be one of {sorted(RESNET_SPECS)}, got {self.depth}")
        if not self.width > 0:
            raise ValueError(f"width must be positive, got {self.width}")
        if self.deconv_channels < 1 or self.num_joints < 1:
            raise ValueError("deconv_channels and num_joints must be >= 1")

    @classmethod
    def paper(cls, **overrides) -> BackboneConfig:
        """The released models' backbone: ResNet-152, width 1, 256 deconv channels, 17 joints.

        Args:
            **overrides: Fields to change, e.g. ``alg_confidences=True``.
        """
        return replace(cls(depth=152, width=1.0, deconv_channels=256, num_joints=17), **overrides)

    @classmethod
    def tiny(cls, **overrides) -> BackboneConfig:
        """A CPU-sized backbone: ResNet-18 at width 0.25 with 32 deconv channels (~0.8M parameters).

        Args:
            **overrides: Fields to change, e.g. ``alg_confidences=True``.
        """
        return replace(cls(depth=18, width=0.25, deconv_channels=32, num_joints=17), **overrides)

    def to_dict(self) -> dict:
        """Plain-dict form (for logging / saving next to a checkpoint)."""
        return asdict(self)


class BackboneOutput(NamedTuple):
    """Outputs of :meth:`PoseResNet.forward` (a tuple; unpacks like the original code's 4-tuple).

    Attributes:
        heatmaps: ``(N, J, H / 4, W / 4)`` raw heatmaps (no softmax applied).
        features: ``(N, deconv_channels, H / 4, W / 4)`` deconvolution output, before ``final_layer``.
        alg_confidences: ``(N, J)`` sigmoid confidences in (0, 1), or ``None`` without the head.
        vol_confidences: ``(N,)`` sigmoid per-view confidences in (0, 1), or ``None`` without the head.
    """

    heatmaps: Tensor
    features: Tensor
    alg_confidences: Tensor | None
    vol_confidences: Tensor | None


class ConfidenceHead(nn.Module):
    """Convolution + pooling + MLP head on the stride-32 ResNet features.

    ``features``: Conv3x3(in, c1) -> BN -> MaxPool(2) -> ReLU -> Conv3x3(c1, c2) -> BN -> MaxPool(2) -> ReLU;
    spatial mean; ``head``: Linear(c2, c1) -> ReLU -> Linear(c1, c2) -> ReLU -> Linear(c2, out) -> Sigmoid.
    With ``c1 = 512, c2 = 256`` this is the released model's ``alg_confidences`` head.

    Args:
        in_channels: Channels of the ResNet output (2048 for ResNet-152).
        out_features: Number of outputs per image.
        hidden1: ``c1`` above.
        hidden2: ``c2`` above.
    """

    min_input_size = 4

    def __init__(self, in_channels: int, out_features: int, hidden1: int = 512, hidden2: int = 256) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(in_channels, hidden1, 3, stride=1, padding=1),
            nn.BatchNorm2d(hidden1, momentum=BN_MOMENTUM),
            nn.MaxPool2d(2),
            nn.ReLU(inplace=True),
            nn.Conv2d(hidden1, hidden2, 3, stride=1, padding=1),
            nn.BatchNorm2d(hidden2, momentum=BN_MOMENTUM),
            nn.MaxPool2d(2),
            nn.ReLU(inplace=True),
        )
        self.head = nn.Sequential(
            nn.Linear(hidden2, hidden1),
            nn.ReLU(inplace=True),
            nn.Linear(hidden1, hidden2),
            nn.ReLU(inplace=True),
            nn.Linear(hidden2, out_features),
            nn.Sigmoid(),
        )

    def forward(self, x: Tensor) -> Tensor:
        """(N, in_channels, h, w) with h, w >= 4 -> (N, out_features) in (0, 1)."""
        if x.shape[-2] < self.min_input_size or x.shape[-1] < self.min_input_size:
            raise ValueError(
                f"confidence head needs a stride-32 feature map of at least 4x4 (images >= 128 px), "
                f"got {tuple(x.shape[-2:])}"
            )
        x = self.features(x)
        return self.head(x.flatten(2).mean(dim=-1))


class PoseResNet(nn.Module):
    """ResNet + 3 deconvolutions + 1x1 heatmap layer, with optional confidence heads.

    Args:
        config: Architecture; :meth:`BackboneConfig.paper` reproduces the released model's names and shapes.

    Attributes:
        config: The configuration.
        output_stride: 4 (heatmap pixel = 4 image pixels).
        feature_channels: Channels of ``features`` (= ``config.deconv_channels``).
    """

    output_stride = 4

    def __init__(self, config: BackboneConfig | None = None) -> None:
        super().__init__()
        config = config if config is not None else BackboneConfig.paper()
        self.config = config
        block, blocks_per_stage = RESNET_SPECS[config.depth]
        w = config.width

        stem = _scaled(64, w)
        self.conv1 = nn.Conv2d(3, stem, kernel_size=7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(stem, momentum=BN_MOMENTUM)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)

        in_channels = stem
        stages = []
        for i, (planes, n_blocks) in enumerate(zip((64, 128, 256, 512), blocks_per_stage)):
            stage, in_channels = self._make_stage(
                block, in_channels, _scaled(planes, w), n_blocks, stride=1 if i == 0 else 2
            )
            stages.append(stage)
        self.layer1, self.layer2, self.layer3, self.layer4 = stages
        self.resnet_channels = in_channels

        if config.alg_confidences:
            self.alg_confidences = ConfidenceHead(in_channels, config.num_joints, _scaled(512, w), _scaled(256, w))
        if config.vol_confidences:
            self.vol_confidences = ConfidenceHead(in_channels, 1, _scaled(512, w), _scaled(256, w))

        deconv: list[nn.Module] = []
        for _ in range(3):
            deconv += [
                nn.ConvTranspose2d(
                    in_channels,
                    config.deconv_channels,
                    kernel_size=4,
                    stride=2,
                    padding=1,
                    output_padding=0,
                    bias=False,
                ),
                nn.BatchNorm2d(config.deconv_channels, momentum=BN_MOMENTUM),
                nn.ReLU(inplace=True),
            ]
            in_channels = config.deconv_channels
        self.deconv_layers = nn.Sequential(*deconv)
        self.final_layer = nn.Conv2d(config.deconv_channels, config.num_joints, kernel_size=1)
        self.feature_channels = config.deconv_channels
        self.reset_parameters()

    @staticmethod
    def _make_stage(
        block: type[nn.Module], in_channels: int, planes: int, n_blocks: int, stride: int
    ) -> tuple[nn.Sequential, int]:
        """Build one ResNet stage; returns the stage and its output channels."""
        out_channels = planes * block.expansion
        downsample = None
        if stride != 1 or in_channels != out_channels:
            downsample = nn.Sequential(
                nn.Conv2d(in_channels, out_channels, kernel_size=1, stride=stride, bias=False),
                nn.BatchNorm2d(out_channels, momentum=BN_MOMENTUM),
            )
        layers = [block(in_channels, planes, stride, downsample)]
        layers += [block(out_channels, planes) for _ in range(1, n_blocks)]
        return nn.Sequential(*layers), out_channels

    def reset_parameters(self) -> None:
        """Random initialisation: He-normal convolutions, BN to identity, N(0, 0.001) deconvs and heatmap layer."""
        for m in self.modules():
            if isinstance(m, nn.ConvTranspose2d):
                nn.init.normal_(m.weight, std=0.001)
            elif isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
        nn.init.normal_(self.final_layer.weight, std=0.001)
        nn.init.zeros_(self.final_layer.bias)

    def forward_resnet(self, images: Tensor) -> Tensor:
        """ResNet trunk only.

        Args:
            images: ``(N, 3, H, W)`` preprocessed images.

        Returns:
            ``(N, resnet_channels, H / 32, W / 32)`` last-stage features.
        """
        x = self.maxpool(self.relu(self.bn1(self.conv1(images))))
        return self.layer4(self.layer3(self.layer2(self.layer1(x))))

    def forward(self, images: Tensor) -> BackboneOutput:
        """Heatmaps, features and (optionally) confidences for a batch of images.

        Args:
            images: ``(N, 3, H, W)`` preprocessed images (``N = B * C`` views); H, W multiples of 32
                (and >= 128 when a confidence head is built).

        Returns:
            :class:`BackboneOutput` ``(heatmaps (N, J, H/4, W/4), features (N, deconv_channels, H/4, W/4),
            alg_confidences (N, J) or None, vol_confidences (N,) or None)``.
        """
        x = self.forward_resnet(images)
        alg = self.alg_confidences(x) if hasattr(self, "alg_confidences") else None
        vol = self.vol_confidences(x).squeeze(-1) if hasattr(self, "vol_confidences") else None
        features = self.deconv_layers(x)
        heatmaps = self.final_layer(features)
        return BackboneOutput(heatmaps, features, alg, vol)
