"""The paper's reported numbers as data, and the tables that put them beside numbers measured now.

Iskakov, Burkov, Lempitsky, Malkov, *Learnable Triangulation of Human Pose*, ICCV 2019 (arXiv 1905.05754). The values
below are transcribed from the paper's Section 4 (MPJPE in millimetres); each :class:`PaperTable` names the table of
the paper it comes from. Experiments the paper reports only as a plot (MPJPE against the number of cameras) or
without a number recorded here (transfer between datasets without finetuning) carry no values: nothing is read off
a figure.

Measured numbers never come from this module's constants: :func:`compare_with_paper`, :func:`cameras_table` and
:func:`transfer_table` take :class:`lt_core.metrics.Evaluation` objects (the result of evaluating predictions with
the reference protocol) and read the metric from them. A method the paper reports but nothing was measured for gets
NaN and a ``measured from`` entry saying why.

Finding, loading and running the trained models whose evaluations fill these tables is the job of
:mod:`lt_core.train.methods` and :mod:`lt_core.train.catalog`; this module only imports the display names of the
methods (:data:`lt_core.train.catalog.METHOD_NAMES`), so importing it does not load the models.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd

from lt_core.metrics import Evaluation
from lt_core.train.catalog import METHOD_NAMES

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
]

CITATION = "Iskakov, Burkov, Lempitsky, Malkov. Learnable Triangulation of Human Pose. ICCV 2019"
"""How the tables cite the paper."""


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

PAPER_TABLES: dict[str, PaperTable] = {
    t.key: t
    for t in (
        PaperTable(
            key="h36m_relative",
            title="Multi-view 3D pose, MPJPE relative to the pelvis",
            source="Table 1 (multi-view methods, average over actions)",
            dataset="Human3.6M",
            split=_H36M_SPLIT,
            views=4,
            metrics=("mpjpe_rel",),
            metric_label="MPJPE relative to the pelvis (mm)",
            numbers=(PaperNumber("ransac", 27.4), PaperNumber("algebraic", 22.6), PaperNumber("volumetric", 20.8)),
        ),
        PaperTable(
            key="h36m_absolute",
            title="Multi-view 3D pose, absolute MPJPE (scenes with damaged ground truth filtered out)",
            source="Table 2 (absolute positions, filtered scenes)",
            dataset="Human3.6M",
            split=_H36M_SPLIT + "; S9 Greeting-2, SittingDown-2, Waiting-1 excluded",
            views=4,
            metrics=("mpjpe_abs",),
            metric_label="absolute MPJPE (mm), no root alignment",
            numbers=(PaperNumber("ransac", 22.8), PaperNumber("algebraic", 19.2), PaperNumber("volumetric", 17.7)),
            exclude_damaged=True,
        ),
        PaperTable(
            key="h36m_single_view",
            title="Single-view 3D pose with the volumetric model, MPJPE relative to the pelvis",
            source="Table 1 (monocular methods)",
            dataset="Human3.6M",
            split="validation subjects S9 and S11, one camera per frame",
            views=1,
            metrics=("mpjpe_rel",),
            metric_label="MPJPE relative to the pelvis (mm)",
            numbers=(PaperNumber("volumetric", 49.9),),
            note="With one view the cuboid centre cannot be triangulated; the measured column centres it on the "
            "ground-truth pelvis.",
        ),
        PaperTable(
            key="panoptic_4cams",
            title="Multi-view 3D pose with 4 cameras, MPJPE",
            source="Table 3 (CMU Panoptic, 4 cameras)",
            dataset="CMU Panoptic",
            split="the paper's Panoptic evaluation sequences, 4 HD cameras",
            views=4,
            metrics=("mpjpe_rel", "mpjpe_abs"),
            metric_label="MPJPE (mm)",
            numbers=(PaperNumber("ransac", 39.5), PaperNumber("algebraic", 21.3), PaperNumber("volumetric", 13.7)),
            note="The numbers of the paper's Table 3 are transcribed as MPJPE, without whether they are "
            "root-relative, so both measured variants are shown.",
        ),
        PaperTable(
            key="cameras",
            title="MPJPE against the number of cameras",
            source="figure: MPJPE vs number of cameras (CMU Panoptic)",
            dataset="CMU Panoptic",
            split="the paper's Panoptic evaluation sequences",
            views=None,
            metrics=("mpjpe_rel",),
            metric_label="MPJPE (mm)",
            note="The paper shows this as a plot; its values are not transcribed here. The 4-camera points of "
            "Table 3 are the only reported numbers on this curve.",
        ),
        PaperTable(
            key="transfer",
            title="Transfer between camera rigs without finetuning",
            source="transfer experiment (trained on CMU Panoptic, tested on Human3.6M)",
            dataset="CMU Panoptic -> Human3.6M",
            split="Human3.6M validation subjects",
            views=4,
            metrics=("mpjpe_rel",),
            metric_label="MPJPE relative to the pelvis (mm)",
            note="The paper reports no number for this experiment that is transcribed here (it demonstrates the "
            "transfer, Section 4 and its conclusion); the paper column is empty.",
        ),
    )
}
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
            rows.append(
                {
                    "table": t.key,
                    "source": t.source,
                    "dataset": t.dataset,
                    "views": t.views,
                    "metric": t.metric_label,
                    "method": METHOD_NAMES.get(n.method, n.method),
                    "mpjpe_mm": n.mpjpe_mm,
                }
            )
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
        raise TypeError(
            f"measured values must come from an lt_core.metrics.Evaluation, got {type(evaluation).__name__}"
        )
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


def compare_with_paper(
    key: str,
    evaluations: Mapping[str, Evaluation | None],
    measured_dataset: str,
    sources: Mapping[str, str] | None = None,
    extra_caption: str = "",
    missing: str = "not measured: no trained checkpoint",
    description: str | None = None,
) -> ComparisonTable:
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
    caption = (
        f"{table.title}. Paper: {table.dataset} ({table.split}), {table.source} of {CITATION}; metric "
        f"{table.metric_label}. Measured now: {_described(measured_dataset, description)}."
    )
    return ComparisonTable(key, _join(caption, table.note, extra_caption), frame, table)


def _described(name: str, description: str | None) -> str:
    return description if description and name in description else (f"{name}, {description}" if description else name)


def _join(*parts: str) -> str:
    return " ".join(p.strip() for p in parts if p and p.strip())


def cameras_table(
    evaluations: Mapping[str, Mapping[int, Evaluation | None]],
    measured_dataset: str,
    metric: str = "mpjpe_rel",
    extra_caption: str = "",
    description: str | None = None,
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
            rows.append(
                {
                    "method": METHOD_NAMES.get(m, m),
                    "cameras": int(cams),
                    paper_col: four.value(m) if cams == four.views else math.nan,
                    meas_col: measured_value(ev, metric),
                    "frames": _frames(ev, metric),
                }
            )
    frame = pd.DataFrame(rows, columns=["method", "cameras", paper_col, meas_col, "frames"])
    caption = (
        f"{table.title}. Paper: {table.dataset}, {table.source} of {CITATION}. {table.note} "
        f"Measured now: {_described(measured_dataset, description)}."
    )
    return ComparisonTable(table.key, _join(caption, extra_caption), frame, table)


def transfer_table(
    evaluations: Sequence[tuple[str, str, str, Evaluation | None]], metric: str = "mpjpe_rel", extra_caption: str = ""
) -> ComparisonTable:
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
    rows = [
        {
            "method": METHOD_NAMES.get(m, m),
            "trained on": train,
            "tested on": test,
            f"paper: {table.dataset} (mm)": math.nan,
            meas_col: measured_value(ev, metric),
            "frames": _frames(ev, metric),
        }
        for m, train, test, ev in evaluations
    ]
    frame = pd.DataFrame(
        rows, columns=["method", "trained on", "tested on", f"paper: {table.dataset} (mm)", meas_col, "frames"]
    )
    tested = sorted({r[2] for r in evaluations})
    caption = (
        f"{table.title}. Paper: {table.dataset}, {table.source} of {CITATION}. {table.note} "
        f"Measured now on: {'; '.join(tested) if tested else 'nothing (no checkpoints)'}."
    )
    return ComparisonTable(table.key, _join(caption, extra_caption), frame, table)
