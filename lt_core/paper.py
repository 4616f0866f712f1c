"""The paper's reported numbers as data, and the tables that put them beside numbers measured now.

Iskakov, Burkov, Lempitsky, Malkov, *Learnable Triangulation of Human Pose*, ICCV 2019. The values below are the
ones the project's design records (MPJPE in millimetres); each :class:`PaperTable` names the table of the paper it
comes from. Experiments the paper reports only as a plot (MPJPE against the number of cameras) or without a number
recorded here (transfer between datasets without finetuning) carry no values: nothing is read off a figure.

Measured numbers never come from this module's constants: :func:`compare_with_paper`, :func:`cameras_table` and
:func:`transfer_table` take :class:`lt_core.metrics.Evaluation` objects (the result of evaluating predictions with
the reference protocol) and read the metric from them. A method the paper reports but nothing was measured for gets
NaN and a ``measured from`` entry saying why.

Notebook 06 finds the trained checkpoints with :func:`find_checkpoints` / :func:`pick_checkpoint`, builds the
held-out datasets with :func:`embedded_eval_dataset` and the RANSAC baseline from an algebraic checkpoint with
:func:`ransac_from_algebraic`.
"""

from __future__ import annotations

import inspect
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

import numpy as np
import pandas as pd
import torch
from torch.utils.data import Dataset

from lt_core.metrics import Evaluation

__all__ = [
    "CITATION",
    "METHOD_NAMES",
    "PaperNumber",
    "PaperTable",
    "PAPER_TABLES",
    "paper_table",
    "paper_numbers",
    "measured_value",
    "ComparisonTable",
    "compare_with_paper",
    "cameras_table",
    "transfer_table",
    "CheckpointInfo",
    "find_checkpoints",
    "pick_checkpoint",
    "checkpoints_table",
    "embedded_eval_dataset",
    "describe_dataset",
    "common_convention",
    "ransac_from_algebraic",
    "with_official_preprocessing",
    "load_method_model",
    "evaluate_methods",
    "pooled_evaluation",
    "PAPER_SETUP",
    "training_facts",
    "training_table",
    "training_caption",
    "paper_parameters",
]

CITATION = "Iskakov, Burkov, Lempitsky, Malkov. Learnable Triangulation of Human Pose. ICCV 2019"
"""How the tables cite the paper."""

METHOD_NAMES: dict[str, str] = {
    "ransac": "RANSAC (hard-argmax 2D points)",
    "algebraic": "Algebraic (learned confidences)",
    "algebraic_noconf": "Algebraic (no confidences)",
    "volumetric": "Volumetric (softmax aggregation)",
    "volumetric_sum": "Volumetric (sum aggregation)",
    "volumetric_conf": "Volumetric (confidence aggregation)",
}
"""Display names of the method keys used in every table."""


# ------------------------------------------------------------------------------------------------ the paper's numbers
@dataclass(frozen=True)
class PaperNumber:
    """One reported number.

    Attributes:
        method: method key (see :data:`METHOD_NAMES`).
        mpjpe_mm: the reported MPJPE in mm.
    """

    method: str
    mpjpe_mm: float


@dataclass(frozen=True)
class PaperTable:
    """One table (or figure) of the paper.

    Attributes:
        key: identifier (``"h36m_relative"``, ...); also the file stem of the comparison table.
        title: what the table measures, in words.
        source: where it is in the paper (``"Table 1"``, ``"figure: MPJPE vs number of cameras"``).
        dataset: the paper's dataset (``"Human3.6M"``, ``"CMU Panoptic"``).
        split: which part of it was evaluated.
        views: cameras per frame in the paper's setting (``None``: varies).
        metrics: :class:`~lt_core.metrics.Evaluation` summary keys measured for the comparison (``"mpjpe_rel"``,
            ``"mpjpe_abs"``); the first is the one the paper's number corresponds to when that is known.
        metric_label: the paper's metric in words.
        numbers: the reported values (empty for plots and unrecorded experiments).
        exclude_damaged: the protocol leaves the damaged Human3.6M scenes out of the absolute error.
        note: caveats (which column is comparable, what is not recorded).
    """

    key: str
    title: str
    source: str
    dataset: str
    split: str
    views: int | None
    metrics: tuple[str, ...]
    metric_label: str
    numbers: tuple[PaperNumber, ...] = ()
    exclude_damaged: bool = False
    note: str = ""

    def value(self, method: str) -> float:
        """The reported MPJPE of a method (NaN when the paper's table has no such row here)."""
        for n in self.numbers:
            if n.method == method:
                return n.mpjpe_mm
        return math.nan

    @property
    def methods(self) -> list[str]:
        """Method keys with a reported number, in the paper's row order."""
        return [n.method for n in self.numbers]


_H36M_SPLIT = "validation subjects S9 and S11, every 5th frame, 4 cameras"

PAPER_TABLES: dict[str, PaperTable] = {t.key: t for t in (
    PaperTable(
        key="h36m_relative",
        title="Multi-view 3D pose, MPJPE relative to the pelvis",
        source="Table 1 (multi-view methods, average over actions)",
        dataset="Human3.6M", split=_H36M_SPLIT, views=4,
        metrics=("mpjpe_rel",), metric_label="MPJPE relative to the pelvis (mm)",
        numbers=(PaperNumber("ransac", 27.4), PaperNumber("algebraic", 22.6), PaperNumber("volumetric", 20.8)),
    ),
    PaperTable(
        key="h36m_absolute",
        title="Multi-view 3D pose, absolute MPJPE (scenes with damaged ground truth filtered out)",
        source="Table 2 (absolute positions, filtered scenes)",
        dataset="Human3.6M", split=_H36M_SPLIT + "; S9 Greeting-2, SittingDown-2, Waiting-1 excluded", views=4,
        metrics=("mpjpe_abs",), metric_label="absolute MPJPE (mm), no root alignment",
        numbers=(PaperNumber("ransac", 22.8), PaperNumber("algebraic", 19.2), PaperNumber("volumetric", 17.7)),
        exclude_damaged=True,
    ),
    PaperTable(
        key="h36m_single_view",
        title="Single-view 3D pose with the volumetric model, MPJPE relative to the pelvis",
        source="Table 1 (monocular methods)",
        dataset="Human3.6M", split="validation subjects S9 and S11, one camera per frame", views=1,
        metrics=("mpjpe_rel",), metric_label="MPJPE relative to the pelvis (mm)",
        numbers=(PaperNumber("volumetric", 49.9),),
        note="With one view the cuboid centre cannot be triangulated; the measured column centres it on the "
             "ground-truth pelvis.",
    ),
    PaperTable(
        key="panoptic_4cams",
        title="Multi-view 3D pose with 4 cameras, MPJPE",
        source="Table 3 (CMU Panoptic, 4 cameras)",
        dataset="CMU Panoptic", split="the paper's Panoptic evaluation sequences, 4 HD cameras", views=4,
        metrics=("mpjpe_rel", "mpjpe_abs"), metric_label="MPJPE (mm)",
        numbers=(PaperNumber("ransac", 39.5), PaperNumber("algebraic", 21.3), PaperNumber("volumetric", 13.7)),
        note="The design records the paper's Panoptic numbers as MPJPE without saying whether they are "
             "root-relative, so both measured variants are shown.",
    ),
    PaperTable(
        key="cameras",
        title="MPJPE against the number of cameras",
        source="figure: MPJPE vs number of cameras (CMU Panoptic)",
        dataset="CMU Panoptic", split="the paper's Panoptic evaluation sequences", views=None,
        metrics=("mpjpe_rel",), metric_label="MPJPE (mm)",
        note="The paper shows this as a plot; its values are not transcribed here. The 4-camera points of "
             "Table 3 are the only reported numbers on this curve.",
    ),
    PaperTable(
        key="transfer",
        title="Transfer between camera rigs without finetuning",
        source="transfer experiment (trained on CMU Panoptic, tested on Human3.6M)",
        dataset="CMU Panoptic -> Human3.6M", split="Human3.6M validation subjects", views=4,
        metrics=("mpjpe_rel",), metric_label="MPJPE relative to the pelvis (mm)",
        note="No number for this experiment is recorded in the project's design; the paper column is empty.",
    ),
)}
"""Every table and figure of the paper that notebook 06 reproduces, by key."""


def paper_table(key: str) -> PaperTable:
    """The :class:`PaperTable` with this key (``KeyError`` listing the keys otherwise)."""
    if key not in PAPER_TABLES:
        raise KeyError(f"unknown paper table {key!r}; known: {sorted(PAPER_TABLES)}")
    return PAPER_TABLES[key]


def paper_numbers() -> pd.DataFrame:
    """All reported numbers as one long table: ``table, source, dataset, views, metric, method, mpjpe_mm``."""
    rows = []
    for t in PAPER_TABLES.values():
        for n in t.numbers:
            rows.append({"table": t.key, "source": t.source, "dataset": t.dataset, "views": t.views,
                         "metric": t.metric_label, "method": METHOD_NAMES.get(n.method, n.method),
                         "mpjpe_mm": n.mpjpe_mm})
    return pd.DataFrame(rows)


# ------------------------------------------------------------------------------------------------ comparison tables
METRIC_LABELS = {"mpjpe_rel": "relative MPJPE", "mpjpe_abs": "absolute MPJPE", "pa_mpjpe": "PA-MPJPE"}


def measured_value(evaluation: Evaluation | None, metric: str) -> float:
    """``evaluation.summary[metric]`` (mm), or NaN when nothing was evaluated.

    Raises:
        TypeError: ``evaluation`` is not an :class:`~lt_core.metrics.Evaluation` (numbers typed in by hand are
            refused: the measured column only holds what an evaluation computed).
        KeyError: unknown metric.
    """
    if evaluation is None:
        return math.nan
    if not isinstance(evaluation, Evaluation):
        raise TypeError(f"measured values must come from an lt_core.metrics.Evaluation, got "
                        f"{type(evaluation).__name__}")
    if metric not in evaluation.summary:
        raise KeyError(f"metric {metric!r} not in the evaluation summary {sorted(evaluation.summary)}")
    return float(evaluation.summary[metric])


def _frames(evaluation: Evaluation | None, metric: str) -> int:
    if evaluation is None:
        return 0
    key = "frames_abs" if metric == "mpjpe_abs" else "frames"
    return int(evaluation.summary.get(key, evaluation.summary.get("frames", 0)))


@dataclass
class ComparisonTable:
    """A table ready to print and save: the paper's numbers beside measured ones.

    Attributes:
        name: file stem (``results/tables/06_paper_tables/<name>.csv``).
        caption: one paragraph naming the paper's dataset and source and the measured dataset.
        frame: the table.
        paper: the paper's table it reproduces.
    """

    name: str
    caption: str
    frame: pd.DataFrame
    paper: PaperTable

    def paper_column(self) -> str:
        """Name of the paper's column."""
        return next(c for c in self.frame.columns if c.startswith("paper"))

    def measured_columns(self) -> list[str]:
        """Names of the measured columns."""
        return [c for c in self.frame.columns if c.startswith("measured") and c.endswith("(mm)")]


def _source_text(source: str | None, evaluation: Evaluation | None, metric: str, missing: str) -> str:
    if evaluation is None:
        return missing
    frames = _frames(evaluation, metric)
    return f"{source}, {frames} frames" if source else f"{frames} frames"


def compare_with_paper(key: str, evaluations: Mapping[str, Evaluation | None], measured_dataset: str,
                       sources: Mapping[str, str] | None = None, extra_caption: str = "",
                       missing: str = "not measured: no trained checkpoint",
                       description: str | None = None) -> ComparisonTable:
    """The paper's table ``key`` beside the same table measured now.

    Args:
        key: a key of :data:`PAPER_TABLES` with reported numbers.
        evaluations: method key -> the :class:`~lt_core.metrics.Evaluation` of that method's predictions on the
            measured dataset (``None``: not measured). Methods the paper does not report are appended below its
            rows (their paper cell is NaN).
        measured_dataset: the measured dataset's name; it is named in the column headers and the caption.
        sources: method key -> where the measured number comes from (checkpoint, cuboid centre, ...).
        extra_caption: appended to the caption (e.g. how many views, which frames).
        missing: the ``measured from`` text of methods with no evaluation.
        description: the measured dataset in more words for the caption (default: ``measured_dataset``).

    Returns:
        A :class:`ComparisonTable` with columns ``method``, ``paper: <dataset> (mm)``, one
        ``measured: <dataset>, <metric> (mm)`` per metric of the paper's table, and ``measured from``.
    """
    table = paper_table(key)
    methods = table.methods + [m for m in evaluations if m not in table.methods]
    paper_col = f"paper: {table.dataset} (mm)"
    rows = []
    for m in methods:
        ev = evaluations.get(m)
        row: dict[str, Any] = {"method": METHOD_NAMES.get(m, m), paper_col: table.value(m)}
        for metric in table.metrics:
            label = METRIC_LABELS.get(metric, metric)
            row[f"measured: {measured_dataset}, {label} (mm)"] = measured_value(ev, metric)
        row["measured from"] = _source_text((sources or {}).get(m), ev, table.metrics[0], missing)
        rows.append(row)
    frame = pd.DataFrame(rows)
    caption = (f"{table.title}. Paper: {table.dataset} ({table.split}), {table.source} of {CITATION}; metric "
               f"{table.metric_label}. Measured now: {_described(measured_dataset, description)}.")
    return ComparisonTable(key, _join(caption, table.note, extra_caption), frame, table)


def _described(name: str, description: str | None) -> str:
    return description if description and name in description else (f"{name}, {description}" if description
                                                                     else name)


def _join(*parts: str) -> str:
    return " ".join(p.strip() for p in parts if p and p.strip())


def cameras_table(evaluations: Mapping[str, Mapping[int, Evaluation | None]], measured_dataset: str,
                  metric: str = "mpjpe_rel", extra_caption: str = "", description: str | None = None
                  ) -> ComparisonTable:
    """MPJPE against the number of cameras, measured, with the paper's reported points beside them.

    Args:
        evaluations: method key -> {number of cameras -> Evaluation}.
        measured_dataset: the measured dataset's name (column header and caption).
        metric: the Evaluation summary key to report.
        extra_caption: appended to the caption.
        description: the measured dataset in more words for the caption.

    Returns:
        A long table ``method, cameras, paper: CMU Panoptic (mm), measured: <dataset>, <metric> (mm), frames``;
        the paper column holds the Table 3 values at 4 cameras (the only reported numbers on the curve) and NaN
        elsewhere.
    """
    table = paper_table("cameras")
    four = paper_table("panoptic_4cams")
    paper_col = f"paper: {table.dataset} (mm)"
    meas_col = f"measured: {measured_dataset}, {METRIC_LABELS.get(metric, metric)} (mm)"
    rows = []
    for m, per_count in evaluations.items():
        for cams in sorted(per_count):
            ev = per_count[cams]
            rows.append({"method": METHOD_NAMES.get(m, m), "cameras": int(cams),
                         paper_col: four.value(m) if cams == four.views else math.nan,
                         meas_col: measured_value(ev, metric), "frames": _frames(ev, metric)})
    frame = pd.DataFrame(rows, columns=["method", "cameras", paper_col, meas_col, "frames"])
    caption = (f"{table.title}. Paper: {table.dataset}, {table.source} of {CITATION}. {table.note} "
               f"Measured now: {_described(measured_dataset, description)}.")
    return ComparisonTable(table.key, _join(caption, extra_caption), frame, table)


def transfer_table(evaluations: Sequence[tuple[str, str, str, Evaluation | None]], metric: str = "mpjpe_rel",
                   extra_caption: str = "") -> ComparisonTable:
    """Models trained on one rig, evaluated on another without finetuning (and on their own, for reference).

    Args:
        evaluations: ``(method key, trained on, tested on, Evaluation)`` rows; the datasets in words.
        metric: the Evaluation summary key to report.
        extra_caption: appended to the caption.

    Returns:
        Columns ``method, trained on, tested on, paper (mm), measured, <metric> (mm), frames``; the paper column is
        empty (see :data:`PAPER_TABLES` ``["transfer"]``).
    """
    table = paper_table("transfer")
    meas_col = f"measured, {METRIC_LABELS.get(metric, metric)} (mm)"
    rows = [{"method": METHOD_NAMES.get(m, m), "trained on": train, "tested on": test,
             f"paper: {table.dataset} (mm)": math.nan, meas_col: measured_value(ev, metric),
             "frames": _frames(ev, metric)} for m, train, test, ev in evaluations]
    frame = pd.DataFrame(rows, columns=["method", "trained on", "tested on", f"paper: {table.dataset} (mm)",
                                        meas_col, "frames"])
    tested = sorted({r[2] for r in evaluations})
    caption = (f"{table.title}. Paper: {table.dataset}, {table.source} of {CITATION}. {table.note} "
               f"Measured now on: {'; '.join(tested) if tested else 'nothing (no checkpoints)'}.")
    return ComparisonTable(table.key, _join(caption, extra_caption), frame, table)


# ------------------------------------------------------------------------------------------------ checkpoints
@dataclass
class CheckpointInfo:
    """A trained checkpoint found on disk, described by the configuration saved in it.

    Attributes:
        path: the ``.pt`` file.
        model: ``"algebraic"``, ``"volumetric"`` or ``"ransac"``.
        method: method key (:data:`METHOD_NAMES`): ``algebraic`` / ``algebraic_noconf`` / ``volumetric`` /
            ``volumetric_sum`` / ``volumetric_conf``.
        dataset: the training dataset (``"synthetic"``, ``"human36m"``, ``"panoptic"``).
        rig: the embedded rig it was trained on (``"human36m"``, ``"dome"``, ``"custom"``), or the dataset name.
        views: views per training sample (``None``: all of the rig's).
        image_size: (W, H) network input.
        step: optimizer steps trained.
        config: the saved configuration (a dict).
    """

    @property
    def convention(self) -> str:
        """Pixel convention it was trained with (``"centres"`` for checkpoints written before it was recorded)."""
        return str(self.config.get("convention", "centres"))

    path: Path
    model: str
    method: str
    dataset: str
    rig: str
    views: int | None
    image_size: tuple[int, int]
    step: int
    config: dict[str, Any] = field(repr=False)


def _rig_of(cfg: Mapping[str, Any]) -> str:
    dataset = cfg.get("dataset", "synthetic")
    if dataset != "synthetic":
        return str(dataset)
    rig = str((cfg.get("dataset_options") or {}).get("rig", "human36m"))
    return {"h36m": "human36m", "human36m_like": "human36m", "panoptic": "dome",
            "panoptic_like_dome": "dome"}.get(rig, rig if rig in ("human36m", "dome") else "custom")


def _method_of(cfg: Mapping[str, Any]) -> str:
    model = cfg.get("model", "algebraic")
    opts = cfg.get("model_options") or {}
    if model == "algebraic":
        return "algebraic" if opts.get("use_confidences", True) else "algebraic_noconf"
    if model == "volumetric":
        agg = opts.get("aggregation", opts.get("volume_aggregation", "softmax"))
        return "volumetric" if agg == "softmax" else f"volumetric_{agg}"
    return str(model)


def _preference(path: Path) -> int:
    """Within one folder: exported / named checkpoints first, then best.pt, then last.pt."""
    return {"best.pt": 1, "last.pt": 2}.get(path.name, 0)


def find_checkpoints(*folders: str | Path) -> list[CheckpointInfo]:
    """Trainer checkpoints (``lt_core.train`` format, with their config) under the given folders.

    Per folder holding several files, an exported/named checkpoint is preferred to ``best.pt``, and ``best.pt``
    to ``last.pt``; files that are not trainer checkpoints are skipped. Missing folders are ignored.

    Returns:
        One :class:`CheckpointInfo` per checkpoint, sorted by path.
    """
    from lt_core.train.checkpoint import load_checkpoint

    found: list[CheckpointInfo] = []
    for folder in folders:
        if folder is None or not Path(folder).is_dir():
            continue
        by_dir: dict[Path, list[Path]] = {}
        for p in sorted(Path(folder).rglob("*.pt")):
            by_dir.setdefault(p.parent, []).append(p)
        for directory, files in sorted(by_dir.items()):
            named = [p for p in files if _preference(p) == 0]
            chosen = named if named else sorted(files, key=_preference)[:1]
            for p in chosen:
                try:
                    ckpt = load_checkpoint(p)
                except Exception:  # noqa: BLE001 - not a checkpoint we can read
                    continue
                cfg = ckpt.get("config") if isinstance(ckpt, dict) else None
                if not isinstance(cfg, dict) or "model" not in ckpt:
                    continue
                size = tuple(int(v) for v in cfg.get("image_size", (128, 128)))
                found.append(CheckpointInfo(path=p, model=str(cfg.get("model")), method=_method_of(cfg),
                                            dataset=str(cfg.get("dataset", "synthetic")), rig=_rig_of(cfg),
                                            views=cfg.get("views"), image_size=size,  # type: ignore[arg-type]
                                            step=int(ckpt.get("step", ckpt.get("train_steps", 0))), config=cfg))
    return sorted(found, key=lambda c: str(c.path))


def pick_checkpoint(checkpoints: Sequence[CheckpointInfo], method: str, rig: str | None = None,
                    views: int | None | str = "any") -> CheckpointInfo | None:
    """The checkpoint of a method (and rig, and training view count when given) trained longest, or ``None``.

    Args:
        checkpoints: from :func:`find_checkpoints`.
        method: method key (``"algebraic"``, ``"volumetric"``, ...).
        rig: training rig (``"human36m"``, ``"dome"``) or ``None`` for any.
        views: ``"any"``; ``1`` for single-view models; ``"multi"`` for models not trained on one view.
    """
    pool = [c for c in checkpoints if c.method == method and (rig is None or c.rig == rig)]
    if views == "multi":
        pool = [c for c in pool if c.views != 1]
    elif views != "any":
        pool = [c for c in pool if c.views == views]
    return max(pool, key=lambda c: (c.step, str(c.path))) if pool else None


def checkpoints_table(checkpoints: Sequence[CheckpointInfo], root: str | Path | None = None) -> pd.DataFrame:
    """What was found: ``checkpoint, method, trained on, views, image size, steps, pixel convention`` (paths
    relative to ``root``)."""
    rows = []
    for c in checkpoints:
        try:
            shown = c.path.relative_to(Path(root)).as_posix() if root is not None else c.path.name
        except ValueError:
            shown = c.path.name
        rows.append({"checkpoint": shown, "method": METHOD_NAMES.get(c.method, c.method), "trained on": c.rig,
                     "views": "all" if c.views is None else c.views,
                     "image size": f"{c.image_size[0]} x {c.image_size[1]}", "steps": c.step,
                     "pixel convention": c.convention})
    return pd.DataFrame(rows, columns=["checkpoint", "method", "trained on", "views", "image size", "steps",
                                       "pixel convention"])


# ------------------------------------------------------------------------------------------------ evaluation data
def embedded_eval_dataset(rig: str, image_size: int | tuple[int, int] = 128, views: int | Sequence[int] | None = None,
                          frames_per_clip: int | None = 60, split: str = "val_ext", seed: int = 0,
                          options: Mapping[str, Any] | None = None, convention: str = "centres"):
    """Held-out embedded samples for evaluation: the validation clips through a rig, fixed views, fixed frames.

    Args:
        rig: ``"human36m"`` or ``"dome"`` (or a rig accepted by the dataset).
        image_size: crop side in pixels (use the checkpoint's).
        views: number of cameras (evenly spread over the rig), explicit camera indices, or ``None`` for all.
        frames_per_clip: frames kept per validation clip, evenly spread (``None``: every frame at 30 fps).
        split: ``"val_ext"`` (the default: 131_03, 05_06 and one held-out clip or salsa pair of each family of
            ``data/mocap_cmu_daz``, never seen in training; the committed checkpoints are evaluated on it by
            ``scripts/train_embedded.py`` with 125 frames per clip, the same samples as notebook 06's main tables) or
            ``"val"`` (131_03 and 05_06 only).
        seed: dataset seed (placement, subjects, scenes).
        options: other dataset options (e.g. a checkpoint's ``dataset_options``); rig, split, views and frames
            given here win.
        convention: pixel convention of the cameras (:mod:`lt_core.conventions`): the evaluated checkpoints'.

    Returns:
        A :class:`lt_core.data.synthetic.SyntheticMultiViewDataset` with ``random_views=False``.
    """
    from lt_core.data.synthetic import SyntheticMultiViewDataset

    opts: dict[str, Any] = {k: v for k, v in dict(options or {}).items()
                            if k not in ("clips", "cache_dir", "max_frames_per_clip", "num_views", "view_indices",
                                         "random_views", "split", "rig", "image_size", "seed")}
    if isinstance(image_size, (tuple, list)):
        image_size = int(image_size[0]) if image_size[0] == image_size[1] else tuple(int(v) for v in image_size)
    opts.update(split=split, rig=rig, image_size=image_size, max_frames_per_clip=frames_per_clip,
                random_views=False, seed=seed, convention=convention)
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
            dataset.rig_name, "a custom rig")
        views = dataset.num_views
        return (f"{name} (real CMU motion capture, held-out clips {', '.join(dataset.clips)}, rendered through "
                f"{rig}, {views} view{'s' if views != 1 else ''} per frame, {n} frames{_convention_note(dataset)})")
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
            getattr(item, "path", type(inner).__name__))
    if len(found) > 1:
        raise ValueError(f"these checkpoints/models use different pixel conventions: {found}; evaluate each group on "
                         "a dataset of its own convention")
    return next(iter(found), "centres")


def _convention_note(dataset: Any) -> str:
    convention = getattr(dataset, "convention", None)
    return f", {convention!r} pixel convention" if convention else ""


def ransac_from_algebraic(checkpoint: CheckpointInfo | str | Path, threshold: float | None = None):
    """The paper's RANSAC baseline on the backbone of a trained algebraic checkpoint.

    The backbone weights are copied (non-strictly: the confidence head has no place in the RANSAC model); the
    2D estimate is the hard argmax with sub-pixel refinement, triangulated by RANSAC with ``threshold`` pixels
    (default: the paper's 15 px on 384 px crops, scaled to the checkpoint's input width).

    Returns:
        :class:`lt_core.models.RANSACTriangulationNet` in eval mode.
    """
    from lt_core.train.checkpoint import load_checkpoint
    from lt_core.train.config import TrainConfig
    from lt_core.train.factory import build_model, init_from_checkpoint

    path = checkpoint.path if isinstance(checkpoint, CheckpointInfo) else Path(checkpoint)
    cfg_dict = dict(load_checkpoint(path)["config"])
    opts = {k: v for k, v in (cfg_dict.get("model_options") or {}).items() if k == "backbone_options"}
    if threshold is None:
        threshold = 15.0 * float(cfg_dict.get("image_size", (384, 384))[0]) / 384.0
    opts["threshold"] = float(threshold)
    cfg = TrainConfig.from_saved({**cfg_dict, "model": "ransac", "model_options": opts, "init_from": None})
    model = build_model(cfg)
    missing, _ = init_from_checkpoint(model, str(path))
    backbone_missing = [k for k in missing if k.startswith("backbone.")]
    if backbone_missing:
        raise ValueError(f"{path.name}: the backbone of the RANSAC model could not be filled, missing "
                         f"{backbone_missing[:5]}")
    return model.eval()


# ------------------------------------------------------------------------------------------------ models and runs
class _OfficialInput(torch.nn.Module):
    """Feeds a released model what its training code fed it (see :func:`with_official_preprocessing`)."""

    def __init__(self, model: torch.nn.Module) -> None:
        super().__init__()
        self.model = model
        self._takes_root = "root" in inspect.signature(model.forward).parameters

    def forward(self, images: torch.Tensor, cameras: Any, root: torch.Tensor | None = None,
                views_valid: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        from lt_core.models.official import preprocess_like_official

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


def load_method_model(path: str | Path, method: str, device: str | torch.device = "cpu",
                      ransac_threshold: float | None = None) -> torch.nn.Module:
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
    from lt_core.models import (AlgebraicTriangulationNet, BackboneConfig, RANSACTriangulationNet, V2VConfig,
                                VolumetricTriangulationNet, load_official_state_dict)
    from lt_core.train.checkpoint import load_checkpoint
    from lt_core.train.evaluate import load_trained_model

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
        model = RANSACTriangulationNet(BackboneConfig.paper(), convention="official",
                                       threshold=15.0 if ransac_threshold is None else ransac_threshold)
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


def evaluate_methods(dataset: Dataset, models: Mapping[str, torch.nn.Module | None], device: str | torch.device = "cpu",
                     batch_size: int = 4, root_from: str | None = "algebraic", cache: bool = True,
                     max_samples: int | None = None) -> tuple[dict[str, Any], dict[str, str]]:
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
    from lt_core.train.evaluate import predict

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
    from lt_core.metrics import evaluate_predictions

    preds = list(predictions)
    return evaluate_predictions(np.concatenate([p.joints_3d for p in preds]), np.concatenate([p.gt for p in preds]),
                                [m for p in preds for m in p.meta], np.concatenate([p.valid for p in preds]),
                                exclude_damaged=exclude_damaged)


from lt_core.paper_facts import (  # noqa: E402,F401  (re-exported)
    PAPER_SETUP, paper_parameters, training_caption, training_facts, training_table)
