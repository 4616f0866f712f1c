"""lt_core.paper: the paper's numbers as data, and tables that put them beside numbers measured by an evaluation."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from lt_core.metrics import evaluate_predictions
from lt_core.paper import (
    CITATION,
    PAPER_TABLES,
    cameras_table,
    compare_with_paper,
    measured_value,
    paper_numbers,
    paper_table,
    transfer_table,
)

MEASURED = "embedded-h36m-rig"


def _poses(n: int = 12, seed: int = 0) -> np.ndarray:
    g = np.random.default_rng(seed)
    return (g.normal(size=(n, 17, 3)) * 300 + np.array([0.0, 0.0, 900.0])).astype(np.float64)


def _meta(n: int) -> list[dict]:
    return [
        {
            "subject": "cmu131-0",
            "action": "131_03 hop" if i < n // 2 else "05_06 dance",
            "frame": i,
            "dataset": MEASURED,
        }
        for i in range(n)
    ]


def _evaluation(pred: np.ndarray, gt: np.ndarray, exclude_damaged: bool = False):
    return evaluate_predictions(pred, gt, _meta(len(gt)), exclude_damaged=exclude_damaged)


# ---------------------------------------------------------------------------------------------- the paper's numbers
def test_paper_numbers_are_the_reported_ones():
    rel, ab = paper_table("h36m_relative"), paper_table("h36m_absolute")
    assert [(n.method, n.mpjpe_mm) for n in rel.numbers] == [
        ("ransac", 27.4),
        ("algebraic", 22.6),
        ("volumetric", 20.8),
    ]
    assert [n.mpjpe_mm for n in ab.numbers] == [22.8, 19.2, 17.7] and ab.exclude_damaged
    assert paper_table("h36m_single_view").value("volumetric") == 49.9
    assert paper_table("h36m_single_view").views == 1
    pan = paper_table("panoptic_4cams")
    assert [pan.value(m) for m in ("ransac", "algebraic", "volumetric")] == [39.5, 21.3, 13.7]
    assert pan.dataset == "CMU Panoptic" and pan.views == 4
    # plots and unrecorded experiments carry no numbers at all
    assert paper_table("cameras").numbers == () and paper_table("transfer").numbers == ()
    assert math.isnan(rel.value("volumetric_sum"))


def test_every_table_cites_its_source_and_dataset():
    for key, t in PAPER_TABLES.items():
        assert t.key == key and t.source and t.dataset and t.metrics and t.title
    assert PAPER_TABLES["h36m_relative"].source.startswith("Table 1")
    assert PAPER_TABLES["h36m_absolute"].source.startswith("Table 2")
    assert PAPER_TABLES["panoptic_4cams"].source.startswith("Table 3")
    long = paper_numbers()
    assert len(long) == 3 + 3 + 1 + 3 and set(long["dataset"]) == {"Human3.6M", "CMU Panoptic"}
    with pytest.raises(KeyError, match="known"):
        paper_table("table 9")


# ---------------------------------------------------------------------------------------------- comparison tables
def test_perfect_predictions_give_zeros_beside_the_paper():
    gt = _poses()
    evals = {m: _evaluation(gt.copy(), gt) for m in ("ransac", "algebraic", "volumetric")}
    table = compare_with_paper("h36m_relative", evals, MEASURED)
    df = table.frame
    assert list(df["method"]) == [
        "RANSAC (hard-argmax 2D points)",
        "Algebraic (learned confidences)",
        "Volumetric (softmax aggregation)",
    ]
    paper_col, (meas_col,) = table.paper_column(), table.measured_columns()
    assert "Human3.6M" in paper_col and MEASURED in meas_col  # both datasets named in the headers
    assert df[paper_col].tolist() == [27.4, 22.6, 20.8]
    assert np.allclose(df[meas_col].to_numpy(), 0.0)
    assert all(s.endswith("12 frames") for s in df["measured from"])
    # the caption names both datasets, the paper's table and the paper
    assert "Human3.6M" in table.caption and MEASURED in table.caption and "Table 1" in table.caption
    assert CITATION in table.caption


def test_measured_column_is_read_from_the_evaluation():
    gt = _poses()
    shifted = gt + np.array([30.0, 40.0, 0.0])  # every joint 50 mm off, the same offset: relative error 0
    noisy = gt + np.random.default_rng(1).normal(size=gt.shape) * 10
    evals = {"algebraic": _evaluation(shifted, gt), "volumetric": _evaluation(noisy, gt)}
    rel = compare_with_paper("h36m_relative", evals, MEASURED).frame.set_index("method")
    ab = compare_with_paper(
        "h36m_absolute",
        {k: _evaluation(v, gt, True) for k, v in (("algebraic", shifted), ("volumetric", noisy))},
        MEASURED,
    )
    abf = ab.frame.set_index("method")
    rel_col = [c for c in rel.columns if c.startswith("measured")][0]
    abs_col = ab.measured_columns()[0]
    assert rel.loc["Algebraic (learned confidences)", rel_col] == pytest.approx(0.0, abs=1e-9)
    assert abf.loc["Algebraic (learned confidences)", abs_col] == pytest.approx(50.0)
    assert rel.loc["Volumetric (softmax aggregation)", rel_col] == pytest.approx(
        evals["volumetric"].summary["mpjpe_rel"]
    )
    assert "absolute" in abs_col and "damaged" in ab.caption


def test_missing_methods_are_nan_and_say_why():
    gt = _poses()
    table = compare_with_paper(
        "h36m_relative",
        {"volumetric": _evaluation(gt, gt), "algebraic": None},
        MEASURED,
        sources={"volumetric": "checkpoint vol.pt"},
    )
    df = table.frame.set_index("method")
    meas = table.measured_columns()[0]
    assert math.isnan(df.loc["RANSAC (hard-argmax 2D points)", meas])
    assert math.isnan(df.loc["Algebraic (learned confidences)", meas])
    assert df.loc["RANSAC (hard-argmax 2D points)", "measured from"].startswith("not measured")
    assert df.loc["Volumetric (softmax aggregation)", "measured from"] == "checkpoint vol.pt, 12 frames"


def test_extra_methods_are_appended_without_paper_numbers():
    gt = _poses()
    table = compare_with_paper("h36m_relative", {"algebraic_noconf": _evaluation(gt, gt)}, MEASURED)
    df = table.frame
    assert df["method"].tolist()[-1] == "Algebraic (no confidences)"
    assert math.isnan(df[table.paper_column()].iloc[-1])


def test_numbers_typed_in_are_refused():
    with pytest.raises(TypeError, match="Evaluation"):
        compare_with_paper("h36m_relative", {"volumetric": 20.8}, MEASURED)  # type: ignore[dict-item]
    with pytest.raises(TypeError):
        measured_value(pd.DataFrame(), "mpjpe_rel")  # type: ignore[arg-type]
    assert math.isnan(measured_value(None, "mpjpe_rel"))


def test_panoptic_table_has_both_measured_variants():
    gt = _poses()
    table = compare_with_paper(
        "panoptic_4cams", {m: _evaluation(gt, gt) for m in ("ransac", "algebraic", "volumetric")}, "embedded-dome"
    )
    assert len(table.measured_columns()) == 2
    assert "CMU Panoptic" in table.caption and "embedded-dome" in table.caption and "Table 3" in table.caption
    assert table.frame[table.paper_column()].tolist() == [39.5, 21.3, 13.7]


def test_cameras_table_marks_the_papers_four_camera_points():
    gt = _poses()
    evals = {"algebraic": {2: _evaluation(gt + 5, gt), 4: _evaluation(gt, gt)}, "volumetric": {1: None, 4: None}}
    table = cameras_table(evals, "embedded-dome", metric="mpjpe_abs")
    df = table.frame
    paper_col, meas_col = table.paper_column(), table.measured_columns()[0]
    alg = df[df["method"] == "Algebraic (learned confidences)"].set_index("cameras")
    assert alg.loc[4, paper_col] == 21.3 and math.isnan(alg.loc[2, paper_col])
    assert alg.loc[2, meas_col] == pytest.approx(5 * math.sqrt(3)) and alg.loc[4, meas_col] == 0.0
    vol = df[df["method"] == "Volumetric (softmax aggregation)"].set_index("cameras")
    assert vol.loc[4, paper_col] == 13.7 and math.isnan(vol.loc[4, meas_col]) and vol.loc[1, "frames"] == 0
    assert "CMU Panoptic" in table.caption and "embedded-dome" in table.caption


def test_transfer_table():
    gt = _poses()
    rows = [
        ("volumetric", "embedded dome rig", "embedded Human3.6M-like rig", _evaluation(gt, gt)),
        ("algebraic", "embedded Human3.6M-like rig", "embedded dome rig", None),
    ]
    table = transfer_table(rows)
    df = table.frame
    assert df["trained on"].tolist() == ["embedded dome rig", "embedded Human3.6M-like rig"]
    assert df[table.measured_columns()[0]].iloc[0] == 0.0 and math.isnan(df[table.measured_columns()[0]].iloc[1])
    assert df[table.paper_column()].isna().all()
    assert "Panoptic" in table.caption and "Human3.6M" in table.caption


def test_real_human36m_path_on_a_fixture(tmp_path):
    from test_human36m import make_fixture
    from test_methods import _tiny_checkpoint

    from lt_core.data.human36m import Human36MDataset
    from lt_core.train.methods import evaluate_methods, load_method_model

    make_fixture(tmp_path / "h36m")
    ds = Human36MDataset(tmp_path / "h36m", split="val", image_size=128, undistorted=True)
    _tiny_checkpoint(tmp_path / "alg.pt", "algebraic")
    preds, _ = evaluate_methods(ds, {"algebraic": load_method_model(tmp_path / "alg.pt", "algebraic")}, cache=False)
    ev = preds["algebraic"].evaluate(exclude_damaged=True)
    assert ev.summary["frames_abs"] < ev.summary["frames"]  # the fixture holds a damaged scene
    table = compare_with_paper("h36m_absolute", {"algebraic": ev}, "Human3.6M (fixture)")
    assert "Human3.6M (fixture)" in table.measured_columns()[0]
    assert table.frame["measured from"].iloc[1].endswith(f"{ev.summary['frames_abs']} frames")


def test_long_dataset_description_goes_to_the_caption_only():
    gt = _poses()
    long = f"{MEASURED} (real CMU motion capture, held-out clips 131_03, 05_06, 12 frames)"
    table = compare_with_paper("h36m_relative", {"algebraic": _evaluation(gt, gt)}, MEASURED, description=long)
    assert long in table.caption and table.caption.count(MEASURED) == 1
    assert table.measured_columns() == [f"measured: {MEASURED}, relative MPJPE (mm)"]
