"""Compatibility with the paper's released checkpoints and image preprocessing.

The released ``.pth`` files are plain state dicts of the full models (``backbone.*``, and for the volumetric
model ``process_features.0.*`` and ``volume_net.*``), possibly with the ``module.`` prefix of
DistributedDataParallel. Our modules reproduce the released names at paper scale, so loading is a strict
name-for-name copy after removing that prefix; :func:`load_official_state_dict` checks everything first and
raises :class:`OfficialCheckpointError` listing missing keys, unexpected keys and shape mismatches.

``data/reference/official_state_dict_shapes.json`` lists the released names and shapes (no weights);
:func:`synthetic_official_state_dict` turns it into a state dict of random tensors for tests and docs.

The original pipeline feeds **BGR** images normalised with the ImageNet **RGB** mean/std (the channel order
is swapped but the statistics are not); :func:`preprocess_like_official` reproduces that.
"""

from __future__ import annotations

import json
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from lt_core.paths import REPO_ROOT

__all__ = [
    "OFFICIAL_MODEL_NAMES",
    "OFFICIAL_SHAPES_PATH",
    "IMAGENET_MEAN",
    "IMAGENET_STD",
    "OFFICIAL_IMAGE_SIZE",
    "OfficialCheckpointError",
    "LoadReport",
    "official_shapes",
    "synthetic_official_state_dict",
    "strip_module_prefix",
    "unwrap_checkpoint",
    "compare_state_dict",
    "load_official_state_dict",
    "load_official_checkpoint",
    "preprocess_like_official",
    "unpreprocess_like_official",
]

OFFICIAL_MODEL_NAMES = ("algebraic_human36m_alg", "volumetric_human36m_vol_softmax")
"""Released checkpoints described by the shapes file."""

OFFICIAL_SHAPES_PATH = REPO_ROOT / "data" / "reference" / "official_state_dict_shapes.json"
"""Names and shapes of the released state dicts (``{model_name: {key: shape}}``)."""

IMAGENET_MEAN = (0.485, 0.456, 0.406)
"""ImageNet mean in RGB order, applied unchanged to the BGR channels (as the original code does)."""

IMAGENET_STD = (0.229, 0.224, 0.225)
"""ImageNet std in RGB order, applied unchanged to the BGR channels (as the original code does)."""

OFFICIAL_IMAGE_SIZE = 384
"""Side of the square crops the released models were trained on (heatmaps are 96 x 96)."""

_MAX_LISTED = 20


class OfficialCheckpointError(RuntimeError):
    """A state dict does not match the model: lists missing / unexpected keys and shape mismatches."""


@dataclass
class LoadReport:
    """What :func:`load_official_state_dict` did.

    Attributes:
        loaded: Keys copied into the model.
        missing: Model keys absent from the checkpoint (left untouched).
        unexpected: Checkpoint keys the model does not have (ignored).
        mismatched: ``(key, checkpoint shape, model shape)`` for keys present in both with different shapes.
        stripped_prefix: Whether a ``module.`` prefix was removed.
    """

    loaded: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    unexpected: list[str] = field(default_factory=list)
    mismatched: list[tuple[str, tuple[int, ...], tuple[int, ...]]] = field(default_factory=list)
    stripped_prefix: bool = False

    @property
    def ok(self) -> bool:
        """True when every key matched in name and shape."""
        return not (self.missing or self.unexpected or self.mismatched)

    def describe(self) -> str:
        """Human-readable summary listing (up to 20 of) each kind of problem."""
        lines = [f"{len(self.loaded)} tensors match in name and shape"]

        def listing(title: str, items: list[str]) -> None:
            if items:
                lines.append(f"{len(items)} {title}:")
                lines.extend(f"  {s}" for s in items[:_MAX_LISTED])
                if len(items) > _MAX_LISTED:
                    lines.append(f"  ... and {len(items) - _MAX_LISTED} more")

        listing(
            "shape mismatches (checkpoint vs model)",
            [f"{k}: checkpoint {list(a)} vs model {list(b)}" for k, a, b in self.mismatched],
        )
        listing("missing keys (in the model, not in the checkpoint)", self.missing)
        listing("unexpected keys (in the checkpoint, not in the model)", self.unexpected)
        return "\n".join(lines)


@lru_cache(maxsize=4)
def _read_shapes(path: str) -> dict[str, dict[str, tuple[int, ...]]]:
    with open(path, encoding="utf-8") as f:
        raw = json.load(f)
    return {name: {k: tuple(int(s) for s in shape) for k, shape in entries.items()} for name, entries in raw.items()}


def official_shapes(name: str, path: str | Path | None = None) -> OrderedDict[str, tuple[int, ...]]:
    """Names and shapes of a released state dict.

    Args:
        name: One of :data:`OFFICIAL_MODEL_NAMES`.
        path: Shapes file; defaults to :data:`OFFICIAL_SHAPES_PATH`.

    Returns:
        Ordered ``{key: shape}`` without the ``module.`` prefix (``()`` for ``num_batches_tracked``).
    """
    table = _read_shapes(str(path if path is not None else OFFICIAL_SHAPES_PATH))
    if name not in table:
        raise KeyError(f"unknown official model {name!r}; available: {sorted(table)}")
    return OrderedDict(table[name])


def synthetic_official_state_dict(
    name: str, *, prefix: str = "", seed: int = 0, path: str | Path | None = None
) -> OrderedDict[str, Tensor]:
    """A state dict with the exact released names and shapes, filled with random values.

    Weights are N(0, 1 / fan_in), biases and running means small, BN scales and running variances
    near 1, ``num_batches_tracked`` an int64 scalar, so a model loaded with it runs without overflow.

    Args:
        name: One of :data:`OFFICIAL_MODEL_NAMES`.
        prefix: Prepended to every key (``"module."`` mimics a DistributedDataParallel checkpoint).
        seed: Seed of the CPU generator.
        path: Shapes file; defaults to :data:`OFFICIAL_SHAPES_PATH`.

    Returns:
        Ordered ``{prefix + key: CPU tensor}``.
    """
    gen = torch.Generator().manual_seed(seed)
    out: OrderedDict[str, Tensor] = OrderedDict()
    for key, shape in official_shapes(name, path).items():
        leaf = key.rsplit(".", 1)[-1]
        if leaf == "num_batches_tracked":
            t = torch.tensor(1000, dtype=torch.long)
        elif leaf == "running_var":
            t = 0.5 + torch.rand(shape, generator=gen)
        elif leaf == "running_mean" or leaf == "bias":
            t = 0.01 * torch.randn(shape, generator=gen)
        elif len(shape) == 1:  # BatchNorm scale
            t = 1.0 + 0.1 * torch.randn(shape, generator=gen)
        else:
            fan_in = int(np.prod(shape[1:]))
            t = torch.randn(shape, generator=gen) / fan_in**0.5
        out[prefix + key] = t
    return out


def strip_module_prefix(state_dict: Mapping[str, Any], prefix: str = "module.") -> OrderedDict[str, Any]:
    """Remove a leading ``prefix`` (DistributedDataParallel's ``module.``) from every key that has it.

    Args:
        state_dict: ``{key: tensor}``.
        prefix: Prefix to remove.

    Returns:
        New ordered dict; keys without the prefix are kept as they are.
    """
    return OrderedDict((k[len(prefix) :] if k.startswith(prefix) else k, v) for k, v in state_dict.items())


def unwrap_checkpoint(obj: Any) -> Mapping[str, Any]:
    """Return the state dict inside a loaded checkpoint object.

    Accepts a bare state dict, or a dict holding one under ``"state_dict"`` or ``"model"``.

    Args:
        obj: Result of ``torch.load``.

    Returns:
        ``{key: tensor}``.
    """
    if isinstance(obj, Mapping):
        for wrapper in ("state_dict", "model"):
            inner = obj.get(wrapper)
            if isinstance(inner, Mapping) and all(isinstance(v, Tensor) for v in inner.values()):
                return inner
        return obj
    raise TypeError(f"expected a state dict (mapping of tensors), got {type(obj).__name__}")


def compare_state_dict(model: nn.Module, state_dict: Mapping[str, Tensor]) -> LoadReport:
    """Compare checkpoint names and shapes with a model's, without loading anything.

    Args:
        model: Target module.
        state_dict: ``{key: tensor}`` already stripped of any prefix.

    Returns:
        :class:`LoadReport` whose ``loaded`` lists the keys that would be loaded.
    """
    own = model.state_dict()
    report = LoadReport()
    for key, value in state_dict.items():
        if key not in own:
            report.unexpected.append(key)
            continue
        ckpt_shape, model_shape = tuple(value.shape), tuple(own[key].shape)
        if ckpt_shape != model_shape:
            report.mismatched.append((key, ckpt_shape, model_shape))
        else:
            report.loaded.append(key)
    report.missing = [k for k in own if k not in state_dict]
    return report


def load_official_state_dict(
    model: nn.Module, state_dict: Mapping[str, Any], strict: bool = True, select_prefix: str = ""
) -> LoadReport:
    """Load a released (or synthetic) state dict into our modules.

    Steps: unwrap ``{"state_dict": ...}``, strip a leading ``module.``, optionally keep only the keys under
    ``select_prefix`` (and remove it, e.g. ``"backbone."`` to load a bare :class:`PoseResNet`), compare names
    and shapes with ``model.state_dict()``, then copy (dtype and device follow the model).

    The released networks learned the released code's pixel rules, so a model with a ``convention`` attribute
    (the triangulation networks) is switched to ``"official"`` (:mod:`lt_core.conventions`); feed it cameras of
    that convention (e.g. ``Human36MDataset(..., convention="official")``).

    Args:
        model: A module with the released attribute names, e.g. a container with ``backbone``,
            ``process_features`` and ``volume_net``.
        state_dict: The checkpoint's state dict (tensors on any device).
        strict: Raise on missing or unexpected keys. Shape mismatches always raise.
        select_prefix: Load only keys starting with this prefix, with the prefix removed.

    Returns:
        :class:`LoadReport`.

    Raises:
        OfficialCheckpointError: On shape mismatches, or (``strict``) missing / unexpected keys; the message
            names every offending key (first 20 of each kind).
    """
    state_dict = unwrap_checkpoint(state_dict)
    stripped = any(k.startswith("module.") for k in state_dict)
    state_dict = strip_module_prefix(state_dict)
    if select_prefix:
        state_dict = OrderedDict(
            (k[len(select_prefix) :], v) for k, v in state_dict.items() if k.startswith(select_prefix)
        )
    report = compare_state_dict(model, state_dict)
    report.stripped_prefix = stripped
    if report.mismatched or (strict and not report.ok):
        raise OfficialCheckpointError(
            f"checkpoint does not match {type(model).__name__} (strict={strict}):\n{report.describe()}"
        )
    model.load_state_dict(OrderedDict((k, state_dict[k]) for k in report.loaded), strict=False)
    if hasattr(model, "convention"):
        model.convention = "official"
    return report


def load_official_checkpoint(
    model: nn.Module, path: str | Path, strict: bool = True, select_prefix: str = ""
) -> LoadReport:
    """Read a released ``.pth`` file on the CPU and load it with :func:`load_official_state_dict`.

    Args:
        model: Target module (any device).
        path: Checkpoint file.
        strict: See :func:`load_official_state_dict`.
        select_prefix: See :func:`load_official_state_dict`.

    Returns:
        :class:`LoadReport`.
    """
    obj = torch.load(str(path), map_location="cpu", weights_only=True)
    return load_official_state_dict(model, obj, strict=strict, select_prefix=select_prefix)


def _as_float_tensor(images: Tensor | np.ndarray, max_value: float | None) -> tuple[Tensor, bool]:
    """Convert to float32 in [0, 1]; returns the tensor and whether the input had an integer dtype."""
    t = torch.from_numpy(np.ascontiguousarray(images)) if isinstance(images, np.ndarray) else images
    is_int = not (t.is_floating_point() or t.is_complex())
    scale = max_value if max_value is not None else (255.0 if is_int else 1.0)
    return t.to(torch.float32) / scale, is_int


def preprocess_like_official(
    images: Tensor | np.ndarray,
    size: int | None = OFFICIAL_IMAGE_SIZE,
    *,
    layout: str = "auto",
    max_value: float | None = None,
) -> Tensor:
    """RGB images -> network input exactly as the original pipeline builds it.

    Resizes (bilinear, like ``cv2.INTER_LINEAR``; integer images are rounded back to integers as ``cv2`` does
    on ``uint8``), swaps RGB -> BGR, divides by ``max_value`` and normalises each channel with the ImageNet
    **RGB** mean/std in that order: output channel 0 (blue) uses mean 0.485 / std 0.229. Cropping the squared
    box is the caller's job; update the camera with ``Camera.crop`` / ``Camera.resize`` accordingly.

    Args:
        images: RGB images, ``(..., 3, H, W)`` or ``(..., H, W, 3)``; ``uint8`` (0..255) or float.
        size: Output side (384 for the released models); ``None`` keeps ``H x W``.
        layout: ``"chw"``, ``"hwc"`` or ``"auto"`` (``hwc`` when the last dim is 3 and dim -3 is not).
        max_value: Value of full intensity; default 255 for integer dtypes and 1.0 for floats.

    Returns:
        ``(..., 3, size, size)`` float32 BGR normalised images on the input's device.
    """
    x, is_int = _as_float_tensor(images, max_value)
    if layout == "auto":
        layout = "hwc" if x.shape[-1] == 3 and (x.dim() < 3 or x.shape[-3] != 3) else "chw"
    if layout == "hwc":
        x = x.movedim(-1, -3)
    elif layout != "chw":
        raise ValueError(f"layout must be 'chw', 'hwc' or 'auto', got {layout!r}")
    if x.dim() < 3 or x.shape[-3] != 3:
        raise ValueError(f"expected 3-channel RGB images, got shape {tuple(x.shape)} (layout {layout})")
    lead = x.shape[:-3]
    x = x.reshape(-1, *x.shape[-3:])
    if size is not None and tuple(x.shape[-2:]) != (size, size):
        x = nn.functional.interpolate(x, size=(size, size), mode="bilinear", align_corners=False)
        if is_int:
            levels = 255.0 if max_value is None else float(max_value)
            x = torch.round(x * levels).clamp_(0, levels) / levels
    x = x.flip(-3)  # RGB -> BGR
    mean = torch.tensor(IMAGENET_MEAN, dtype=x.dtype, device=x.device).view(1, 3, 1, 1)
    std = torch.tensor(IMAGENET_STD, dtype=x.dtype, device=x.device).view(1, 3, 1, 1)
    x = (x - mean) / std
    return x.reshape(*lead, *x.shape[-3:])


def unpreprocess_like_official(images: Tensor) -> Tensor:
    """Invert :func:`preprocess_like_official` for display.

    Args:
        images: ``(..., 3, H, W)`` BGR normalised network input.

    Returns:
        ``(..., 3, H, W)`` RGB float images in [0, 1] (clamped).
    """
    shape = (3, 1, 1)
    mean = torch.tensor(IMAGENET_MEAN, dtype=images.dtype, device=images.device).view(shape)
    std = torch.tensor(IMAGENET_STD, dtype=images.dtype, device=images.device).view(shape)
    return (images * std + mean).flip(-3).clamp(0, 1)
