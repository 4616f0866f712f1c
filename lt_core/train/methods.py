"""Trained models by method: finding checkpoints on disk, loading them, and running them over the same samples.

Notebooks 04-06 and the table scripts ask three questions of a folder of checkpoints, answered here:

* which checkpoints are there, and what was each trained for? Answered by :mod:`lt_core.train.catalog`
  (:func:`find_checkpoints`, :class:`CheckpointInfo`, :func:`pick_checkpoint`, :func:`checkpoints_table`,
  :data:`METHOD_NAMES`; re-exported here).
* how is a method's model built from a file? :func:`load_method_model` takes a trainer checkpoint or a released
  state dict of the paper (official pixel convention, :func:`with_official_preprocessing`);
  :func:`ransac_from_algebraic` builds the paper's RANSAC baseline on an algebraic model's backbone.
* what do they predict on the same samples? :func:`embedded_eval_dataset` builds the held-out embedded samples,
  :func:`evaluate_methods` runs every model over them (volumetric cuboids centred on the algebraic model's pelvis,
  the paper's test-time protocol) and :func:`pooled_evaluation` pools prediction sets.

The paper's own numbers and the comparison tables live in :mod:`lt_core.paper`; nothing here imports it.
"""

from __future__ import annotations

import inspect
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset

from lt_core.data.synthetic import SyntheticMultiViewDataset
from lt_core.metrics import Evaluation, evaluate_predictions
from lt_core.models import (
    AlgebraicTriangulationNet,
    BackboneConfig,
    RANSACTriangulationNet,
    V2VConfig,
    VolumetricTriangulationNet,
    load_official_state_dict,
)
from lt_core.models.official import preprocess_like_official
from lt_core.train.catalog import (
    METHOD_NAMES,
    CheckpointInfo,
    checkpoints_table,
    find_checkpoints,
    pick_checkpoint,
)
from lt_core.train.checkpoint import load_checkpoint
from lt_core.train.config import TrainConfig
from lt_core.train.evaluate import load_trained_model, predict
from lt_core.train.factory import build_model, init_from_checkpoint

__all__ = [
    "METHOD_NAMES",
    "CheckpointInfo",
    "find_checkpoints",
    "pick_checkpoint",
    "checkpoints_table",
    "embedded_eval_dataset",
    "describe_dataset",
    "common_convention",
    "model_on_backbone",
    "ransac_from_algebraic",
    "with_official_preprocessing",
    "load_method_model",
    "evaluate_methods",
    "pooled_evaluation",
]


# ------------------------------------------------------------------------------------------------ evaluation data
def embedded_eval_dataset(
    rig: str,
    image_size: int | tuple[int, int] = 128,
    views: int | Sequence[int] | None = None,
    frames_per_clip: int | None = 60,
    split: str = "val_ext",
    seed: int = 0,
    options: Mapping[str, Any] | None = None,
    convention: str = "centres",
):
    """Held-out embedded samples for evaluation: the validation clips through a rig, fixed views, fixed frames.

    Args:
        rig: ``"human36m"`` or ``"dome"`` (or a rig accepted by the dataset).
        image_size: crop side in pixels (use the checkpoint's).
        views: number of cameras (evenly spread over the rig), explicit camera indices, or ``None`` for all.
        frames_per_clip: frames kept per validation clip, evenly spread (``None``: every frame at 30 fps).
        split: held-out clip set, never seen in training: ``"val_ext"`` (the default: 131_03, 05_06 and one clip or
            salsa pair of each family of ``data/mocap_cmu_daz``; ``scripts/train_embedded.py`` and notebook 06
            evaluate the committed checkpoints on it) or ``"val"`` (131_03 and 05_06 only).
        seed: dataset seed (placement, subjects, scenes).
        options: other dataset options (e.g. a checkpoint's ``dataset_options``); rig, split, views and frames
            given here win.
        convention: pixel convention of the cameras (:mod:`lt_core.conventions`): the evaluated checkpoints'.

    Returns:
        A :class:`lt_core.data.synthetic.SyntheticMultiViewDataset` with ``random_views=False``.
    """
    opts: dict[str, Any] = {
        k: v
        for k, v in dict(options or {}).items()
        if k
        not in (
            "clips",
            "cache_dir",
            "max_frames_per_clip",
            "num_views",
            "view_indices",
            "random_views",
            "split",
            "rig",
            "image_size",
            "seed",
        )
    }
    if isinstance(image_size, (tuple, list)):
        image_size = int(image_size[0]) if image_size[0] == image_size[1] else tuple(int(v) for v in image_size)
    opts.update(
        split=split,
        rig=rig,
        image_size=image_size,
        max_frames_per_clip=frames_per_clip,
        random_views=False,
        seed=seed,
        convention=convention,
    )
    if isinstance(views, int):
        opts["num_views"] = views
    elif views is not None:
        opts["view_indices"] = [int(v) for v in views]
    params = inspect.signature(SyntheticMultiViewDataset.__init__).parameters
    return SyntheticMultiViewDataset(**{k: v for k, v in opts.items() if k in params})


def describe_dataset(dataset: Any) -> str:
    """The dataset in words for captions: name, clips, rig, views, frames."""
    name = getattr(dataset, "dataset_name", type(dataset).__name__)
    n = len(dataset)
    if hasattr(dataset, "clips") and hasattr(dataset, "rig_name"):
        rig = {"human36m": "the 4-camera Human3.6M-like rig", "dome": "the 31-camera Panoptic-like dome"}.get(
            dataset.rig_name, "a custom rig"
        )
        views = dataset.num_views
        return (
            f"{name} (real CMU motion capture, held-out clips {', '.join(dataset.clips)}, rendered through "
            f"{rig}, {views} view{'s' if views != 1 else ''} per frame, {n} frames{_convention_note(dataset)})"
        )
    return f"{name} ({n} frames{_convention_note(dataset)})"


def common_convention(items: Iterable[Any]) -> str:
    """The one pixel convention of checkpoints (:class:`CheckpointInfo`) or models (``None`` entries skipped), which
    a dataset evaluating them all must use; ``"centres"`` when there are none.

    Raises:
        ValueError: the items were trained with different conventions (evaluate them on separate datasets).
    """
    found = {}
    for item in items:
        if item is None:
            continue
        inner = getattr(item, "model", item)  # models wrapped by with_official_preprocessing
        found.setdefault(str(getattr(inner, "convention", "centres")), []).append(
            getattr(item, "path", type(inner).__name__)
        )
    if len(found) > 1:
        raise ValueError(
            f"these checkpoints/models use different pixel conventions: {found}; evaluate each group on "
            "a dataset of its own convention"
        )
    return next(iter(found), "centres")


def _convention_note(dataset: Any) -> str:
    convention = getattr(dataset, "convention", None)
    return f", {convention!r} pixel convention" if convention else ""


def model_on_backbone(checkpoint: CheckpointInfo | str | Path, model: str, options: dict[str, Any]) -> torch.nn.Module:
    """A model of another type (``model``: a :class:`TrainConfig` model name) on the backbone of a checkpoint.

    The checkpoint's saved config is kept except for the model type and options (its backbone options are carried
    over); the weights are copied non-strictly (heads the checkpoint lacks keep their initial values), and a
    backbone weight the checkpoint does not fill is an error.

    Args:
        checkpoint: a trained or exported checkpoint with its config.
        model: model type to build, e.g. ``"ransac"`` or ``"algebraic"``.
        options: model options besides the backbone's.

    Returns:
        The model in eval mode.

    Raises:
        ValueError: naming the checkpoint and the first missing backbone weights.
    """
    path = checkpoint.path if isinstance(checkpoint, CheckpointInfo) else Path(checkpoint)
    saved = dict(load_checkpoint(path, require=("config",))["config"])
    opts = {k: v for k, v in (saved.get("model_options") or {}).items() if k == "backbone_options"}
    cfg = TrainConfig.from_saved({**saved, "model": model, "model_options": {**opts, **options}, "init_from": None})
    net = build_model(cfg)
    missing, _ = init_from_checkpoint(net, str(path))
    backbone_missing = [k for k in missing if k.startswith("backbone.")]
    if backbone_missing:
        raise ValueError(
            f"{path.name}: the backbone of the {model} model could not be filled, missing {backbone_missing[:5]}"
        )
    return net.eval()


def ransac_from_algebraic(checkpoint: CheckpointInfo | str | Path, threshold: float | None = None) -> torch.nn.Module:
    """The paper's RANSAC baseline on the backbone of a trained algebraic checkpoint.

    The backbone weights are copied (non-strictly: the confidence head has no place in the RANSAC model); the
    2D estimate is the hard argmax with sub-pixel refinement, triangulated by RANSAC with ``threshold`` pixels
    (default: the paper's 15 px on 384 px crops, scaled to the checkpoint's input width).

    Returns:
        :class:`lt_core.models.RANSACTriangulationNet` in eval mode.
    """
    if threshold is None:
        path = checkpoint.path if isinstance(checkpoint, CheckpointInfo) else Path(checkpoint)
        size = load_checkpoint(path, require=("config",))["config"].get("image_size", (384, 384))
        threshold = 15.0 * float(size[0]) / 384.0
    return model_on_backbone(checkpoint, "ransac", {"threshold": float(threshold)})


# ------------------------------------------------------------------------------------------------ models and runs
class _OfficialInput(torch.nn.Module):
    """Feeds a released model what its training code fed it (see :func:`with_official_preprocessing`)."""

    def __init__(self, model: torch.nn.Module) -> None:
        super().__init__()
        self.model = model
        self._takes_root = "root" in inspect.signature(model.forward).parameters

    def forward(
        self,
        images: torch.Tensor,
        cameras: Any,
        root: torch.Tensor | None = None,
        views_valid: torch.Tensor | None = None,
    ) -> dict[str, torch.Tensor]:
        x = preprocess_like_official(images, size=None, layout="chw", max_value=1.0)
        if self._takes_root:
            return self.model(x, cameras, root, views_valid=views_valid)
        return self.model(x, cameras, views_valid=views_valid)


def with_official_preprocessing(model: torch.nn.Module) -> torch.nn.Module:
    """Wrap a model so that it takes RGB images in [0, 1] (the sample format) and sees them as the released models
    were trained: BGR, normalised with the ImageNet RGB statistics (:func:`lt_core.models.preprocess_like_official`,
    without resizing: the datasets already crop at the network's size)."""
    return _OfficialInput(model)


def _is_trainer_checkpoint(obj: Any) -> bool:
    return isinstance(obj, Mapping) and isinstance(obj.get("config"), Mapping) and "model" in obj


def load_method_model(
    path: str | Path, method: str, device: str | torch.device = "cpu", ransac_threshold: float | None = None
) -> torch.nn.Module:
    """The model of a method from a checkpoint file, in eval mode.

    Args:
        path: a trainer checkpoint (``lt_core.train`` format, with its config) or a released state dict of the
            paper (``algebraic_human36m_alg`` / ``volumetric_human36m_vol_softmax``, ``module.`` prefix allowed),
            which is loaded strictly into the paper-scale model with the ``"official"`` pixel convention (its
            cameras must carry it too: build the dataset with ``convention="official"``) and wrapped by
            :func:`with_official_preprocessing`.
        method: ``"algebraic"``, ``"algebraic_noconf"``, ``"volumetric"`` or ``"ransac"``. For ``"ransac"`` the
            file may be an exported RANSAC checkpoint or an algebraic one (its backbone is used).
        device: where to put the model.
        ransac_threshold: RANSAC inlier threshold in pixels (default: the checkpoint's, else 15 px scaled from
            384 px crops to the model's input size).
    """
    path = Path(path)
    obj = load_checkpoint(path)
    if _is_trainer_checkpoint(obj):
        if method == "ransac" and obj["config"].get("model") != "ransac":
            model = ransac_from_algebraic(path, ransac_threshold)
        else:
            model = load_trained_model(path, device)
            if method == "ransac" and ransac_threshold is not None:
                model.threshold = float(ransac_threshold)
        return model.to(device).eval()
    if method in ("algebraic", "algebraic_noconf"):
        model = AlgebraicTriangulationNet(BackboneConfig.paper(), convention="official")
        load_official_state_dict(model, obj, strict=True)
    elif method == "volumetric":
        model = VolumetricTriangulationNet(BackboneConfig.paper(), V2VConfig.paper(), convention="official")
        load_official_state_dict(model, obj, strict=True)
    elif method == "ransac":
        model = RANSACTriangulationNet(
            BackboneConfig.paper(),
            convention="official",
            threshold=15.0 if ransac_threshold is None else ransac_threshold,
        )
        load_official_state_dict(model, obj, strict=False)  # the algebraic checkpoint's confidence head is unused
    else:
        raise ValueError(f"unknown method {method!r}")
    return with_official_preprocessing(model).to(device).eval()


class _Memo(Dataset):
    """Keeps every item of a dataset after its first use (rendering the embedded data once per table)."""

    def __init__(self, dataset: Dataset) -> None:
        self.dataset = dataset
        self.items: dict[int, Any] = {}

    def __len__(self) -> int:
        return len(self.dataset)  # type: ignore[arg-type]

    def __getitem__(self, index: int) -> Any:
        if index not in self.items:
            self.items[index] = self.dataset[index]
        return self.items[index]


def evaluate_methods(
    dataset: Dataset,
    models: Mapping[str, torch.nn.Module | None],
    device: str | torch.device = "cpu",
    batch_size: int = 4,
    root_from: str | None = "algebraic",
    cache: bool = True,
    max_samples: int | None = None,
) -> tuple[dict[str, Any], dict[str, str]]:
    """Run every model over the same samples and return their predictions.

    Volumetric models (those whose ``forward`` takes ``root``) get their cuboid centred on the pelvis predicted by
    ``models[root_from]`` on the same frames -- the paper's test-time protocol -- when that model is present and the
    samples have at least two views; otherwise on the ground-truth pelvis.

    Args:
        dataset: samples in the one sample format.
        models: method key -> model (``None`` entries are skipped).
        device: where to compute.
        batch_size: samples per forward pass.
        root_from: method whose predicted pelvis centres the volumetric cuboids (``None``: ground truth).
        cache: keep rendered / loaded samples in memory between models (for small embedded sets).
        max_samples: use only the first samples.

    Returns:
        ``(predictions, notes)``: method -> :class:`lt_core.train.evaluate.Predictions`, and method -> how its
        cuboid was centred (volumetric methods only).
    """
    data: Dataset = _Memo(dataset) if cache else dataset
    first = data[0]
    views = int(first["views_valid"].shape[0])
    preds: dict[str, Any] = {}
    notes: dict[str, str] = {}

    def takes_root(m: torch.nn.Module) -> bool:
        inner = getattr(m, "model", m)
        return "root" in inspect.signature(inner.forward).parameters

    order = sorted((k for k, m in models.items() if m is not None), key=lambda k: takes_root(models[k]))
    for key in order:
        model = models[key]
        root: Any = "gt"
        if takes_root(model):
            if root_from is not None and root_from in preds and views >= 2:
                root = preds[root_from]
                notes[key] = f"cuboid centred on the pelvis predicted by the {root_from} model"
            else:
                notes[key] = "cuboid centred on the ground-truth pelvis"
        preds[key] = predict(model, data, device=device, batch_size=batch_size, root=root, max_samples=max_samples)
    return preds, notes


def pooled_evaluation(predictions: Sequence[Any], exclude_damaged: bool = False) -> Evaluation:
    """One :class:`~lt_core.metrics.Evaluation` of several prediction sets pooled frame by frame (e.g. every
    single camera of a rig evaluated separately)."""
    preds = list(predictions)
    return evaluate_predictions(
        np.concatenate([p.joints_3d for p in preds]),
        np.concatenate([p.gt for p in preds]),
        [m for p in preds for m in p.meta],
        np.concatenate([p.valid for p in preds]),
        exclude_damaged=exclude_damaged,
    )
