"""Builders from a :class:`~lt_core.train.config.TrainConfig`: model, datasets, loss, optimizer parameter groups.

Models and datasets are imported lazily, so the training machinery (and its tests with stand-in modules) works
without them. Anything can be replaced by a ``"package.module:callable"`` string in the config.
"""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor, nn
from torch.utils.data import Dataset

from lt_core.checks import weighted_mean
from lt_core.conventions import resize_coordinate
from lt_core.train.config import TrainConfig

__all__ = [
    "resolve_callable",
    "build_model",
    "build_dataset",
    "build_loss",
    "keypoints_2d_loss",
    "heatmap_2d_loss",
    "heatmap_targets",
    "param_groups",
    "forward_model",
    "DEFAULT_LOSS",
]

DEFAULT_LOSS = {"algebraic": "algebraic", "ransac": "ransac", "volumetric": "volumetric", "custom": "l1_cm"}
"""Loss name per model kind given to ``lt_core.losses.model_loss`` when the config names none."""

HEAD_MODULES = ("process_features", "volume_net")
"""Top-level submodules trained with the heads' learning rate (volumetric)."""


def resolve_callable(spec: str) -> Callable[..., Any]:
    """Import ``"package.module:attribute"`` and return the attribute."""
    module, _, attr = spec.partition(":")
    if not module or not attr:
        raise ValueError(f"expected 'package.module:callable', got {spec!r}")
    obj: Any = importlib.import_module(module)
    for part in attr.split("."):
        obj = getattr(obj, part)
    return obj


def _backbone_config(cfg: TrainConfig, **overrides: Any):
    from lt_core.models.backbone import BackboneConfig

    return getattr(BackboneConfig, cfg.backbone)(**overrides)


def _v2v_config(cfg: TrainConfig, **overrides: Any):
    from lt_core.models.v2v import V2VConfig

    return getattr(V2VConfig, cfg.v2v)(**overrides)


MODELS: dict[str, str] = {
    "algebraic": "lt_core.models.algebraic:AlgebraicTriangulationNet",
    "volumetric": "lt_core.models.volumetric:VolumetricTriangulationNet",
    "ransac": "lt_core.models.ransac_net:RANSACTriangulationNet",
}
"""Model kinds and their classes (``TrainConfig.model``); any other model is a ``"package.module:factory"``."""

DATASETS: dict[str, str] = {
    "synthetic": "lt_core.data.synthetic:SyntheticMultiViewDataset",
    "human36m": "lt_core.data.human36m:Human36MDataset",
    "panoptic": "lt_core.data.panoptic:PanopticDataset",
}
"""Dataset names and their classes (``TrainConfig.dataset``); any other dataset is a ``"package.module:factory"``."""


def _parameters(fn: Callable[..., Any]) -> tuple[set[str], bool]:
    """Keyword parameters of ``fn`` (without ``self``) and whether it takes ``**kwargs``."""
    params = inspect.signature(fn).parameters
    names = {n for n, p in params.items() if n != "self" and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)}
    return names, any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())


def check_options(fn: Callable[..., Any], options: dict[str, Any], what: str) -> None:
    """Raise ``ValueError`` when ``options`` holds a keyword ``fn`` does not take, listing the ones it accepts.

    Args:
        fn: the constructor the options are for.
        options: the user's options (``model_options`` / ``dataset_options``).
        what: where they come from, for the message (``"model_options of 'volumetric'"``).
    """
    names, anything = _parameters(fn)
    unknown = sorted(set(options) - names)
    if unknown and not anything:
        raise ValueError(f"unknown {what}: {unknown}; accepted: {sorted(names)}")


def _supported(fn: Callable[..., Any], kwargs: dict[str, Any]) -> dict[str, Any]:
    """The factory's own keywords that ``fn`` takes (a dataset without views has no ``num_views``)."""
    names, anything = _parameters(fn)
    return kwargs if anything else {k: v for k, v in kwargs.items() if k in names}


def build_model(cfg: TrainConfig) -> nn.Module:
    """The network named by ``cfg.model`` with ``cfg.backbone`` / ``cfg.v2v`` sizes and ``cfg.model_options``.

    Args:
        cfg: the run configuration. ``model_options`` are passed to the model's constructor; for the built-in
            kinds the keys ``backbone_options`` / ``v2v_options`` (dicts) override fields of the backbone / V2V
            configurations. An option the constructor does not take raises ``ValueError`` listing the accepted
            ones (``{"volume_aggregation": "sum"}`` is not silently ignored: the volumetric model's option is
            ``aggregation``).

    Returns:
        An ``nn.Module`` whose ``forward(images, cameras, [root], views_valid=None)`` returns a dict with
        ``joints_3d`` (B, J, 3) mm.
    """
    if cfg.kind == "custom":
        return resolve_callable(cfg.model)(cfg)
    opts = dict(cfg.model_options)
    backbone_opts = opts.pop("backbone_options", {})
    v2v_opts = opts.pop("v2v_options", {})
    cls = resolve_callable(MODELS[cfg.model])
    check_options(cls.__init__, opts, f"model_options of {cfg.model!r}")
    kwargs: dict[str, Any] = {"backbone_config": _backbone_config(cfg, **backbone_opts), "convention": cfg.convention}
    if cfg.model == "volumetric":
        kwargs["v2v_config"] = _v2v_config(cfg, **v2v_opts)
    elif v2v_opts:
        raise ValueError(f"model_options['v2v_options'] is for volumetric models, not {cfg.model!r}")
    return cls(**kwargs, **opts)


def build_dataset(cfg: TrainConfig, split: str) -> Dataset:
    """The dataset named by ``cfg.dataset`` for ``split``, in the one sample format.

    ``"synthetic"`` builds :mod:`lt_core.data.synthetic`'s dataset, ``"human36m"`` / ``"panoptic"`` the readers of
    real data (``dataset_options`` must give their ``root``); ``"module:factory"`` calls ``factory(cfg, split)``.
    ``split``, ``cfg.convention``, ``cfg.image_size`` and ``cfg.views`` are passed when the constructor takes them;
    a ``dataset_options`` key it does not take raises ``ValueError`` listing the accepted ones.
    """
    if ":" in cfg.dataset:
        return resolve_callable(cfg.dataset)(cfg, split)
    if cfg.dataset not in DATASETS:
        raise ValueError(f"unknown dataset {cfg.dataset!r}; use one of {sorted(DATASETS)} or 'module:factory'")
    cls = resolve_callable(DATASETS[cfg.dataset])
    check_options(cls.__init__, cfg.dataset_options, f"dataset_options of {cfg.dataset!r}")
    own: dict[str, Any] = {"split": split, "convention": cfg.convention}
    w, h = cfg.image_size
    own["image_size"] = w if w == h else (w, h)
    if cfg.views is not None:
        own["num_views"] = cfg.views
    own = {k: v for k, v in _supported(cls.__init__, own).items() if k not in cfg.dataset_options}
    return cls(**own, **cfg.dataset_options)


def _fallback_loss(output: dict[str, Tensor], batch: dict[str, Any]) -> Tensor:
    """Mean L1 distance in cm over valid joints (used when ``lt_core.losses`` is absent)."""
    pred, gt = output["joints_3d"], batch["joints_3d"].to(output["joints_3d"].dtype)
    valid = batch.get("joints_valid")
    err = (pred - gt).abs().sum(-1) / 10.0
    if valid is None:
        return err.mean()
    w = valid.to(err.dtype)
    return weighted_mean(err, w)


def _projection_mask(uv: Tensor, depth: Tensor, batch: dict[str, Any], size: tuple[int, int]) -> Tensor:
    """(B, C, J) joints usable for 2D supervision: valid joint, valid view, in front of and inside the image."""
    h, w = size
    mask = (depth > 0) & (uv[..., 0] > -0.5) & (uv[..., 0] < w - 0.5) & (uv[..., 1] > -0.5) & (uv[..., 1] < h - 0.5)
    if batch.get("joints_valid") is not None:
        mask &= batch["joints_valid"].bool()[:, None, :]
    if batch.get("views_valid") is not None:
        mask &= batch["views_valid"].bool()[:, :, None]
    return mask


def _projected_gt(batch: dict[str, Any], views: int) -> tuple[Tensor, Tensor]:
    """(B, C, J, 2) ground-truth pixels in every view and the (B, C, J) mask of usable ones."""
    X = batch["joints_3d"].float()[:, None].expand(-1, views, -1, -1)
    cams = batch["cameras"].to(torch.float32)
    uv = cams.project(X)
    return uv, _projection_mask(uv, cams.depth(X), batch, tuple(batch["images"].shape[-2:]))


def keypoints_2d_loss(output: dict[str, Tensor], batch: dict[str, Any]) -> Tensor:
    """2D loss on the soft-argmax keypoints: mean L1 distance in image pixels between the model's ``joints_2d``
    (B, C, J, 2) and the ground-truth joints projected by the batch cameras, over valid joints of valid views whose
    projection falls inside the image.

    Note: heatmaps trained only through the soft-argmax need not peak at the joint (their hard argmax can be far
    off); use :func:`heatmap_2d_loss` for a backbone that the RANSAC baseline will read.
    """
    pred = output["joints_2d"].float()
    gt, mask = _projected_gt(batch, pred.shape[1])
    err = (pred - gt).abs().sum(-1)
    m = mask.to(err.dtype)
    return weighted_mean(err, m)


def heatmap_targets(uv: Tensor, size: tuple[int, int], sigma: float) -> Tensor:
    """Gaussian heatmaps with peak 1 centred on sub-pixel positions.

    Args:
        uv: (..., 2) heatmap-pixel coordinates (integer = pixel centre).
        size: ``(h, w)`` of the heatmaps.
        sigma: standard deviation in heatmap pixels.

    Returns:
        (..., h, w) targets.
    """
    h, w = size
    xs = torch.arange(w, dtype=uv.dtype, device=uv.device)
    ys = torch.arange(h, dtype=uv.dtype, device=uv.device)
    gx = torch.exp(-((xs - uv[..., 0:1]) ** 2) / (2 * sigma**2))  # (..., w)
    gy = torch.exp(-((ys - uv[..., 1:2]) ** 2) / (2 * sigma**2))  # (..., h)
    return gy[..., :, None] * gx[..., None, :]


def heatmap_2d_loss(
    output: dict[str, Tensor],
    batch: dict[str, Any],
    sigma: float = 1.0,
    weight: float = 1000.0,
    keypoints_weight: float = 0.0,
) -> Tensor:
    """Classic 2D pose pretraining: ``weight`` x MSE between the raw heatmaps and Gaussians (peak 1, ``sigma``
    heatmap pixels) at the ground-truth joints projected into each view.

    Averages over heatmap pixels of valid joints of valid views whose projection falls inside the image. Heatmaps
    trained this way peak at the joints, so both the hard argmax (RANSAC baseline) and the soft-argmax of the
    algebraic model can read them; the paper's backbone was pretrained on 2D keypoints like this.

    Args:
        output: model output with ``heatmaps`` (B, C, J, h, w).
        batch: collated batch (``images`` (B, C, 3, H, W), ``cameras`` (B, C), ``joints_3d`` (B, J, 3) mm, ...).
        sigma: Gaussian standard deviation in heatmap pixels.
        weight: multiplier (keeps the loss near 1).
        keypoints_weight: add this times :func:`keypoints_2d_loss` (soft-argmax L1 in pixels) when the output has
            ``joints_2d``, so that the soft-argmax reading is accurate too.
    """
    hm = output["heatmaps"].float()
    B, C, J, h, w = hm.shape
    H, W = batch["images"].shape[-2:]
    uv, mask = _projected_gt(batch, C)
    uv_hm = resize_coordinate(uv, uv.new_tensor([w / W, h / H]), batch["cameras"].convention)
    err = (hm - heatmap_targets(uv_hm, (h, w), sigma)).pow(2).mean((-1, -2))  # (B, C, J)
    m = mask.to(err.dtype)
    loss = weighted_mean(err, m, scale=weight)
    if keypoints_weight and "joints_2d" in output:
        loss = loss + keypoints_weight * keypoints_2d_loss(output, batch)
    return loss


def build_loss(cfg: TrainConfig) -> Callable[[dict[str, Tensor], dict[str, Any]], tuple[Tensor, dict[str, float]]]:
    """``loss_fn(output, batch) -> (scalar loss, {name: float})`` for the config's loss.

    Uses ``lt_core.losses.model_loss(name, output, batch)`` (the name is ``cfg.loss`` or the model kind's default);
    its result may be a tensor, a ``(loss, parts)`` tuple or a dict with a ``"loss"`` / ``"total"`` entry.
    ``"l1_cm"`` (always available, also the fallback without ``lt_core.losses``) is the mean L1 joint error in cm;
    ``"keypoints_2d"`` (:func:`keypoints_2d_loss`, soft-argmax L1 in pixels) and ``"heatmap_2d"``
    (:func:`heatmap_2d_loss`, Gaussian heatmap MSE) pretrain the backbone in 2D;
    ``"package.module:callable"`` calls ``callable(output, batch)``.
    """
    name = cfg.loss or DEFAULT_LOSS[cfg.kind]
    opts = dict(cfg.loss_options)
    if name == "keypoints_2d":
        return lambda output, batch: _split_loss(keypoints_2d_loss(output, batch, **opts))
    if name == "heatmap_2d":
        return lambda output, batch: _split_loss(heatmap_2d_loss(output, batch, **opts))
    if ":" in name:
        fn = resolve_callable(name)
        return lambda output, batch: _split_loss(fn(output, batch, **opts))
    try:
        from lt_core.losses import model_loss
    except ImportError:
        model_loss = None
    if model_loss is None or name == "l1_cm":
        return lambda output, batch: _split_loss(_fallback_loss(output, batch))
    return lambda output, batch: _split_loss(model_loss(name, output, batch, **opts))


def _split_loss(result: Any) -> tuple[Tensor, dict[str, float]]:
    if isinstance(result, Tensor):
        return result, {}
    if isinstance(result, tuple):
        loss, parts = result[0], (result[1] if len(result) > 1 else {})
    elif isinstance(result, dict):
        key = "loss" if "loss" in result else "total"
        loss, parts = result[key], {k: v for k, v in result.items() if k != key}
    else:
        loss, parts = getattr(result, "loss", result.total), dict(getattr(result, "parts", {}))
    return loss, {
        k: float(v.detach()) if isinstance(v, Tensor) else float(v)
        for k, v in parts.items()
        if isinstance(v, (Tensor, float, int)) and (not isinstance(v, Tensor) or v.numel() == 1)
    }


def param_groups(model: nn.Module, cfg: TrainConfig) -> list[dict[str, Any]]:
    """Adam parameter groups with the paper's per-group learning rates.

    ``backbone.*`` gets ``lr_backbone``; everything else (``process_features``, ``volume_net``, any other head)
    gets ``lr_heads``. Frozen parameters are left out; empty groups are dropped.
    """
    lr_backbone, lr_heads = cfg.learning_rates
    backbone, heads = [], []
    for name, p in model.named_parameters():
        if not p.requires_grad:
            continue
        (backbone if name.split(".", 1)[0] == "backbone" else heads).append(p)
    groups = [
        {"name": "backbone", "params": backbone, "lr": lr_backbone},
        {"name": "heads", "params": heads, "lr": lr_heads},
    ]
    return [g for g in groups if g["params"]]


def _forward_params(model: nn.Module) -> set[str]:
    inner = model.module if hasattr(model, "module") and isinstance(model.module, nn.Module) else model
    return set(inspect.signature(inner.forward).parameters)


def forward_model(model: nn.Module, batch: dict[str, Any], root: Tensor | None = None) -> dict[str, Tensor]:
    """Call a model on a collated batch.

    Args:
        model: a model (or its DDP wrapper) with ``forward(images, cameras, [root], views_valid=None)``.
        batch: collated batch on the model's device.
        root: (B, 3) cuboid centres in world mm for models taking ``root`` (default: the GT pelvis, joint 6).

    Returns:
        The model's output dict (``joints_3d`` (B, J, 3) mm, ...).
    """
    params = _forward_params(model)
    kwargs: dict[str, Any] = {}
    if "views_valid" in params and "views_valid" in batch:
        kwargs["views_valid"] = batch["views_valid"]
    if "root" in params:
        kwargs["root"] = root if root is not None else batch["joints_3d"][:, 6]
    out = model(batch["images"], batch["cameras"], **kwargs)
    if isinstance(out, Tensor):
        out = {"joints_3d": out}
    return out


def count_trainable(model: nn.Module) -> int:
    """Number of trainable parameter elements."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def init_from_checkpoint(model: nn.Module, path: str) -> tuple[list[str], list[str]]:
    """Load matching weights from a checkpoint (trainer checkpoint or bare state dict), non-strictly.

    Returns:
        ``(missing, unexpected)`` key lists, as ``load_state_dict(strict=False)`` reports them; tensors whose
        shapes differ are skipped and reported as missing.
    """
    from lt_core.train.checkpoint import load_checkpoint

    ckpt = load_checkpoint(path)
    state = ckpt["model"] if isinstance(ckpt, dict) and "model" in ckpt else ckpt
    own = model.state_dict()
    usable = {k: v for k, v in state.items() if k in own and own[k].shape == v.shape}
    result = model.load_state_dict(usable, strict=False)
    return list(result.missing_keys), [k for k in state if k not in own]


__all__ += ["count_trainable", "init_from_checkpoint"]
