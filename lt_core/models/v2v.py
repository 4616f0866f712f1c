"""V2V encoder-decoder 3D CNN (the volumetric model's ``volume_net``).

Structure (names as in the released checkpoint):

- ``front_layers``: Basic3D(in -> 16, 7x7x7), Res3D(16 -> c0), Res3D(c0 -> c0) x 2.
- ``encoder_decoder``: for each level ``i = 1..L``: ``skip_res{i}`` Res3D on the level's input,
  ``encoder_pool{i}`` max-pool 2, ``encoder_res{i}`` Res3D(c_{i-1} -> c_i); ``mid_res`` Res3D(c_L -> c_L);
  then for ``i = L..1``: ``decoder_res{i}`` Res3D(c_i -> c_i), ``decoder_upsample{i}`` ConvTranspose3d
  (2, stride 2) + BN + ReLU (c_i -> c_{i-1}), plus the skip.
- ``back_layers``: Res3D(c0 -> c0), Basic3D(c0 -> c0, 1x1x1) x 2; ``output_layer`` Conv3d(c0 -> J, 1x1x1).

The paper uses ``L = 5`` levels with channels ``c = (32, 64, 128, 128, 128, 128)``, so the volume side ``D`` must
be a multiple of ``2 ** L`` (64 in the paper). :meth:`V2VConfig.tiny` gives a 3-level, narrow CPU version.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace

from torch import Tensor, nn

__all__ = ["Basic3DBlock", "Res3DBlock", "Upsample3DBlock", "V2VConfig", "EncoderDecoder", "V2VModel"]


class Basic3DBlock(nn.Module):
    """Conv3d (same padding) -> BatchNorm3d -> ReLU, stored as ``block.{0,1,2}``.

    Args:
        in_channels: Input channels.
        out_channels: Output channels.
        kernel_size: Odd cubic kernel size.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int) -> None:
        super().__init__()
        self.block = nn.Sequential(
            nn.Conv3d(in_channels, out_channels, kernel_size, stride=1, padding=(kernel_size - 1) // 2),
            nn.BatchNorm3d(out_channels),
            nn.ReLU(inplace=True),
        )

    def forward(self, x: Tensor) -> Tensor:
        """(B, in, D, D, D) -> (B, out, D, D, D)."""
        return self.block(x)


class Res3DBlock(nn.Module):
    """Residual block: two 3x3x3 conv+BN (``res_branch``), identity or 1x1x1 conv+BN (``skip_con``), ReLU.

    Args:
        in_channels: Input channels.
        out_channels: Output channels; a projection ``skip_con`` is built when they differ.
    """

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.res_branch = nn.Sequential(
            nn.Conv3d(in_channels, out_channels, 3, stride=1, padding=1),
            nn.BatchNorm3d(out_channels),
            nn.ReLU(inplace=True),
            nn.Conv3d(out_channels, out_channels, 3, stride=1, padding=1),
            nn.BatchNorm3d(out_channels),
        )
        if in_channels == out_channels:
            self.skip_con = nn.Sequential()
        else:
            self.skip_con = nn.Sequential(
                nn.Conv3d(in_channels, out_channels, 1, stride=1, padding=0),
                nn.BatchNorm3d(out_channels),
            )

    def forward(self, x: Tensor) -> Tensor:
        """(B, in, D, D, D) -> (B, out, D, D, D)."""
        return nn.functional.relu(self.res_branch(x) + self.skip_con(x))


class Upsample3DBlock(nn.Module):
    """ConvTranspose3d (kernel 2, stride 2) -> BatchNorm3d -> ReLU, stored as ``block.{0,1,2}``.

    Args:
        in_channels: Input channels.
        out_channels: Output channels.
    """

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.block = nn.Sequential(
            nn.ConvTranspose3d(in_channels, out_channels, kernel_size=2, stride=2, padding=0, output_padding=0),
            nn.BatchNorm3d(out_channels),
            nn.ReLU(inplace=True),
        )

    def forward(self, x: Tensor) -> Tensor:
        """(B, in, D, D, D) -> (B, out, 2D, 2D, 2D)."""
        return self.block(x)


@dataclass(frozen=True)
class V2VConfig:
    """Configuration of :class:`V2VModel`.

    Attributes:
        in_channels: Channels of the input volume (32 in the paper: features 256 -> 32 by a 1x1 conv).
        out_channels: Output channels, one volume per joint ``J``.
        channels: ``(c0, c1, ..., cL)``: c0 is the width at full resolution, ``c_i`` after ``i`` poolings;
            ``L = len(channels) - 1`` pooling levels.
        front_channels: Output channels of the first (7x7x7) convolution.
        front_kernel: Kernel size of the first convolution (odd).
    """

    in_channels: int = 32
    out_channels: int = 17
    channels: tuple[int, ...] = (32, 64, 128, 128, 128, 128)
    front_channels: int = 16
    front_kernel: int = 7

    def __post_init__(self) -> None:
        object.__setattr__(self, "channels", tuple(int(c) for c in self.channels))
        if len(self.channels) < 2:
            raise ValueError("channels needs at least two entries (one pooling level)")
        if self.front_kernel % 2 != 1:
            raise ValueError(f"front_kernel must be odd, got {self.front_kernel}")

    @property
    def levels(self) -> int:
        """Number of pooling levels ``L``; the volume side must be a multiple of ``2 ** L``."""
        return len(self.channels) - 1

    @classmethod
    def paper(cls, **overrides) -> V2VConfig:
        """The released model's V2V: 32 -> 17 channels, 5 levels, channels 32-64-128-128-128-128."""
        return replace(cls(), **overrides)

    @classmethod
    def tiny(cls, **overrides) -> V2VConfig:
        """A CPU-sized V2V: 32 -> 17 channels, 3 levels, channels 8-16-16-16, front 8 channels, kernel 3."""
        return replace(
            cls(in_channels=32, out_channels=17, channels=(8, 16, 16, 16), front_channels=8, front_kernel=3),
            **overrides,
        )

    def to_dict(self) -> dict:
        """Plain-dict form."""
        return asdict(self)


class EncoderDecoder(nn.Module):
    """Hourglass with ``L`` max-pool levels and additive skip connections.

    Args:
        channels: ``(c0, ..., cL)`` as in :class:`V2VConfig`.
    """

    def __init__(self, channels: tuple[int, ...]) -> None:
        super().__init__()
        self.levels = len(channels) - 1
        c = channels
        for i in range(1, self.levels + 1):
            setattr(self, f"encoder_pool{i}", nn.MaxPool3d(kernel_size=2, stride=2))
            setattr(self, f"encoder_res{i}", Res3DBlock(c[i - 1], c[i]))
        self.mid_res = Res3DBlock(c[-1], c[-1])
        for i in range(self.levels, 0, -1):
            setattr(self, f"decoder_res{i}", Res3DBlock(c[i], c[i]))
            setattr(self, f"decoder_upsample{i}", Upsample3DBlock(c[i], c[i - 1]))
        for i in range(1, self.levels + 1):
            setattr(self, f"skip_res{i}", Res3DBlock(c[i - 1], c[i - 1]))

    def forward(self, x: Tensor) -> Tensor:
        """(B, c0, D, D, D) -> (B, c0, D, D, D); D must be a multiple of ``2 ** L``."""
        skips = []
        for i in range(1, self.levels + 1):
            skips.append(getattr(self, f"skip_res{i}")(x))
            x = getattr(self, f"encoder_res{i}")(getattr(self, f"encoder_pool{i}")(x))
        x = self.mid_res(x)
        for i in range(self.levels, 0, -1):
            x = getattr(self, f"decoder_upsample{i}")(getattr(self, f"decoder_res{i}")(x))
            x = x + skips[i - 1]
        return x


class V2VModel(nn.Module):
    """V2V network: front layers, encoder-decoder, back layers, 1x1x1 output layer.

    Args:
        config: Architecture; :meth:`V2VConfig.paper` reproduces the released ``volume_net`` names and shapes.
    """

    def __init__(self, config: V2VConfig | None = None) -> None:
        super().__init__()
        config = config if config is not None else V2VConfig.paper()
        self.config = config
        c0 = config.channels[0]
        self.front_layers = nn.Sequential(
            Basic3DBlock(config.in_channels, config.front_channels, config.front_kernel),
            Res3DBlock(config.front_channels, c0),
            Res3DBlock(c0, c0),
            Res3DBlock(c0, c0),
        )
        self.encoder_decoder = EncoderDecoder(config.channels)
        self.back_layers = nn.Sequential(
            Res3DBlock(c0, c0),
            Basic3DBlock(c0, c0, 1),
            Basic3DBlock(c0, c0, 1),
        )
        self.output_layer = nn.Conv3d(c0, config.out_channels, kernel_size=1, stride=1, padding=0)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Xavier-normal (transposed) convolutions with zero bias; BatchNorm to identity."""
        for m in self.modules():
            if isinstance(m, (nn.Conv3d, nn.ConvTranspose3d)):
                nn.init.xavier_normal_(m.weight)
                nn.init.zeros_(m.bias)
            elif isinstance(m, nn.BatchNorm3d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)

    def forward(self, volumes: Tensor) -> Tensor:
        """Process feature volumes.

        Args:
            volumes: ``(B, in_channels, D, D, D)``, ``D`` a multiple of ``2 ** levels``.

        Returns:
            ``(B, out_channels, D, D, D)`` per-joint volumes (raw scores, no softmax).
        """
        if volumes.dim() != 5 or volumes.shape[1] != self.config.in_channels:
            raise ValueError(f"expected (B, {self.config.in_channels}, D, D, D), got {tuple(volumes.shape)}")
        step = 2**self.config.levels
        if any(s % step for s in volumes.shape[2:]):
            raise ValueError(f"volume sides {tuple(volumes.shape[2:])} must be multiples of {step}")
        x = self.front_layers(volumes)
        x = self.encoder_decoder(x)
        x = self.back_layers(x)
        return self.output_layer(x)
