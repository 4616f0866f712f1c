"""Run a model over a dataset and evaluate it with the reference protocol
(:func:`lt_core.metrics.evaluate_predictions`).

For volumetric models the cuboid centre (``root``, world mm) comes from the ground-truth pelvis (``root="gt"``), from
an algebraic model run on the same batch (``root=<nn.Module>``, the paper's test-time set-up), or from earlier
predictions (a :class:`Predictions` or an (N, 3) / (N, J, 3) array in dataset order).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import Tensor, nn
from torch.utils.data import DataLoader, Dataset, Subset

from lt_core.metrics import ROOT_JOINT, Evaluation, evaluate_predictions
from lt_core.train.batching import collate, move_batch
from lt_core.train.factory import forward_model

__all__ = ["Predictions", "predict", "evaluate_model", "load_trained_model", "clip_family", "per_clip_table"]


@dataclass
class Predictions:
    """Predictions of a model over a dataset, in dataset order.

    Attributes:
        joints_3d: (N, J, 3) predicted joints, world mm.
        gt: (N, J, 3) ground truth, world mm.
        valid: (N, J) bool joint validity of the ground truth.
        meta: N per-frame dicts (``subject``, ``action``, ``frame``, ``dataset``, ...).
        extras: other per-frame outputs stacked over the dataset (e.g. ``confidences``), numpy arrays.
    """

    joints_3d: np.ndarray
    gt: np.ndarray
    valid: np.ndarray
    meta: list[dict[str, Any]]
    extras: dict[str, np.ndarray] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.joints_3d)

    def evaluate(self, exclude_damaged: bool = False) -> Evaluation:
        """Reference-protocol tables of these predictions."""
        return evaluate_predictions(self.joints_3d, self.gt, self.meta, self.valid, exclude_damaged=exclude_damaged)

    def save(self, path: str | Path) -> None:
        """Save to an ``.npz`` (meta as an object array)."""
        np.savez_compressed(
            path,
            joints_3d=self.joints_3d,
            gt=self.gt,
            valid=self.valid,
            meta=np.array(self.meta, dtype=object),
            **{f"extra_{k}": v for k, v in self.extras.items()},
        )

    @classmethod
    def load(cls, path: str | Path) -> Predictions:
        """Read what :meth:`save` wrote."""
        z = np.load(path, allow_pickle=True)
        extras = {k[len("extra_") :]: z[k] for k in z.files if k.startswith("extra_")}
        return cls(z["joints_3d"], z["gt"], z["valid"], list(z["meta"]), extras)


def _meta_rows(meta: Any, n: int) -> list[dict[str, Any]]:
    if meta is None:
        return [{} for _ in range(n)]
    if isinstance(meta, dict):  # dict of lists
        return [{k: (v[i] if isinstance(v, (list, tuple)) else v) for k, v in meta.items()} for i in range(n)]
    rows = []
    for m in meta:
        rows.append({k: (v.tolist() if isinstance(v, Tensor) else v) for k, v in m.items()})
    return rows


def _roots_from(root: Any, start: int, batch: dict[str, Any], device: torch.device) -> Tensor | None:
    """(B, 3) cuboid centres for one batch, or ``None`` for models that take no root."""
    b = batch["joints_3d"].shape[0]
    if isinstance(root, str):
        if root != "gt":
            raise ValueError(f"root must be 'gt', a model, Predictions or an array, got {root!r}")
        return batch["joints_3d"][:, ROOT_JOINT]
    if isinstance(root, Predictions):
        root = root.joints_3d
    arr = torch.as_tensor(np.asarray(root)[start : start + b], dtype=batch["joints_3d"].dtype, device=device)
    return arr[:, ROOT_JOINT] if arr.dim() == 3 else arr


@torch.no_grad()
def predict(
    model: nn.Module,
    data: Dataset | DataLoader,
    device: str | torch.device = "cpu",
    batch_size: int = 4,
    root: str | nn.Module | Predictions | np.ndarray = "gt",
    max_samples: int | None = None,
    num_workers: int = 0,
    amp: bool = False,
    progress: bool = False,
    keep: Sequence[str] = ("confidences",),
) -> Predictions:
    """Run ``model`` (in eval mode) over a dataset.

    Args:
        model: network with ``forward(images, cameras, [root], views_valid=None) -> {"joints_3d": (B, J, 3)}``.
        data: a dataset in the sample format (batched here with :func:`~lt_core.train.batching.collate`, in order)
            or a ready DataLoader.
        device: where to compute.
        batch_size: samples per forward pass (ignored for a DataLoader).
        root: cuboid centres for models taking ``root``: ``"gt"`` (GT pelvis), an algebraic model (its predicted
            pelvis on the same batch), or earlier predictions / an array in dataset order.
        max_samples: use only the first ``max_samples`` samples.
        num_workers: DataLoader workers.
        amp: autocast to float16 on CUDA.
        progress: show a tqdm bar.
        keep: extra per-frame output keys to collect when the model returns them (e.g. ``"confidences"``).

    Returns:
        :class:`Predictions` (numpy, float32 joints) in dataset order. The model's train/eval mode is restored.
    """
    device = torch.device(device)
    if isinstance(data, DataLoader):
        loader = data
    else:
        if max_samples is not None and max_samples < len(data):  # type: ignore[arg-type]
            data = Subset(data, range(max_samples))
        loader = DataLoader(data, batch_size=batch_size, shuffle=False, num_workers=num_workers, collate_fn=collate)
    was_training = model.training
    model.eval()
    root_model = root if isinstance(root, nn.Module) else None
    if root_model is not None:
        root_training = root_model.training
        root_model.eval()
    preds, gts, valids, metas, extras = [], [], [], [], {k: [] for k in keep}
    seen = 0
    try:
        from tqdm.auto import tqdm

        it: Iterable = tqdm(loader, desc="predict", disable=not progress, leave=False)
        for batch in it:
            batch = move_batch(batch, device)
            b = batch["joints_3d"].shape[0]
            with torch.autocast(device_type=device.type, dtype=torch.float16, enabled=amp and device.type == "cuda"):
                if root_model is not None:
                    r = forward_model(root_model, batch)["joints_3d"][:, ROOT_JOINT]
                else:
                    r = _roots_from(root, seen, batch, device)
                out = forward_model(model, batch, root=r)
            preds.append(out["joints_3d"].float().cpu())
            gts.append(batch["joints_3d"].float().cpu())
            jv = batch.get("joints_valid")
            valids.append(jv.cpu().bool() if jv is not None else torch.ones(gts[-1].shape[:2], dtype=torch.bool))
            metas.extend(_meta_rows(batch.get("meta"), b))
            for k in keep:
                if k in out and isinstance(out[k], Tensor) and out[k].shape[:1] == (b,):
                    extras[k].append(out[k].float().cpu())
            seen += b
    finally:
        model.train(was_training)
        if root_model is not None:
            root_model.train(root_training)
    if not preds:
        raise ValueError("predict: the dataset is empty")
    return Predictions(
        torch.cat(preds).numpy(),
        torch.cat(gts).numpy(),
        torch.cat(valids).numpy(),
        metas,
        {k: torch.cat(v).numpy() for k, v in extras.items() if v},
    )


def evaluate_model(
    model: nn.Module, data: Dataset | DataLoader, exclude_damaged: bool = False, **predict_kwargs: Any
) -> tuple[Predictions, Evaluation]:
    """:func:`predict` then :func:`~lt_core.metrics.evaluate_predictions`.

    Returns:
        ``(predictions, evaluation)``; ``evaluation.per_action`` has columns ``mpjpe_abs``, ``mpjpe_rel``,
        ``pa_mpjpe``, ``frames``, ``frames_abs`` (mm).
    """
    preds = predict(model, data, **predict_kwargs)
    return preds, preds.evaluate(exclude_damaged=exclude_damaged)


def load_trained_model(path: str | Path, device: str | torch.device = "cpu", **config_changes: Any) -> nn.Module:
    """Rebuild a model from a trainer checkpoint (its saved config) and load its weights strictly.

    Args:
        path: ``.pt`` written by the trainer (full or exported).
        device: where to put the model.
        **config_changes: config fields to override before building (rarely needed).

    Returns:
        The model in eval mode.
    """
    from lt_core.train.checkpoint import load_checkpoint
    from lt_core.train.config import TrainConfig
    from lt_core.train.factory import build_model

    ckpt = load_checkpoint(path, require=("model", "config"))
    cfg = TrainConfig.from_saved({**ckpt["config"], **config_changes})
    model = build_model(cfg)
    model.load_state_dict(ckpt["model"], strict=True)
    return model.to(device).eval()


def clip_family(clip: str) -> str:
    """Motion family of an embedded clip: ``salsa`` / ``martial`` / ``indian`` for the clips of
    ``data/mocap_cmu_daz``, ``cmu`` for those of ``data/mocap_cmu`` (and any other id)."""
    from lt_core.data.mocap_daz import find_daz_clip

    row = find_daz_clip(clip)
    return row["family"] if row is not None else "cmu"


def per_clip_table(
    predictions: Predictions, family: Callable[[str], str] | None = clip_family, exclude_damaged: bool = False
) -> pd.DataFrame:
    """Errors per clip, per family and pooled, from predictions whose per-frame meta names the clip.

    Args:
        predictions: a :class:`Predictions` whose ``meta`` rows have ``"clip"`` (the embedded datasets' samples do).
        family: clip id -> family name (default :func:`clip_family`); ``None``: no family rows.
        exclude_damaged: passed to the evaluation (Human3.6M damaged scenes; no effect on embedded clips).

    Returns:
        A DataFrame indexed by clip id (in order of appearance), then ``"family: <name>"`` rows (frames of a family
        pooled; only families with more than one clip), ``"mean of clips"`` (unweighted mean of the clip rows) and
        ``"pooled"`` (every frame, the evaluation's ``Average``); columns ``family``, ``frames``, ``mpjpe_abs``,
        ``mpjpe_rel``, ``pa_mpjpe`` (mm).

    Raises:
        ValueError: a frame's meta has no ``"clip"``.
    """
    missing = [i for i, m in enumerate(predictions.meta) if "clip" not in m]
    if missing:
        raise ValueError(f"per_clip_table: {len(missing)} frames have no 'clip' in their meta (first: {missing[0]})")
    frames = predictions.evaluate(exclude_damaged=exclude_damaged).frames.copy()
    frames["clip"] = [str(m["clip"]) for m in predictions.meta]
    frames["family"] = [family(c) if family is not None else "" for c in frames["clip"]]
    cols = ["mpjpe_abs", "mpjpe_rel", "pa_mpjpe"]

    def summary(df: pd.DataFrame, fam: str) -> dict[str, Any]:
        return {
            "family": fam,
            "frames": len(df),
            "mpjpe_abs": df["abs"].mean(),
            "mpjpe_rel": df["rel"].mean(),
            "pa_mpjpe": df["pa"].mean(),
        }

    order = list(dict.fromkeys(frames["clip"]))
    rows = {c: summary(frames[frames["clip"] == c], frames.loc[frames["clip"] == c, "family"].iloc[0]) for c in order}
    clip_rows = pd.DataFrame.from_dict(rows, orient="index")
    extra: dict[str, dict[str, Any]] = {}
    if family is not None:
        for fam in dict.fromkeys(frames["family"]):
            if (clip_rows["family"] == fam).sum() > 1:
                extra[f"family: {fam}"] = summary(frames[frames["family"] == fam], fam)
    mean = {"family": "", "frames": int(clip_rows["frames"].sum()), **clip_rows[cols].mean().to_dict()}
    extra["mean of clips"] = mean
    extra["pooled"] = summary(frames, "")
    out = pd.concat([clip_rows, pd.DataFrame.from_dict(extra, orient="index")])
    out.index.name = "clip"
    return out[["family", "frames", *cols]]
