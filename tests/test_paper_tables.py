"""lt_core.paper: the paper's numbers as data, and tables that put them beside numbers measured by an evaluation."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import torch

from lt_core.metrics import evaluate_predictions
from lt_core.paper import (
    CITATION,
    PAPER_TABLES,
    CheckpointInfo,
    cameras_table,
    checkpoints_table,
    compare_with_paper,
    describe_dataset,
    embedded_eval_dataset,
    find_checkpoints,
    measured_value,
    paper_numbers,
    paper_table,
    pick_checkpoint,
    ransac_from_algebraic,
    transfer_table,
)

MEASURED = "embedded-h36m-rig"


def _poses(n: int = 12, seed: int = 0) -> np.ndarray:
    g = np.random.default_rng(seed)
    return (g.normal(size=(n, 17, 3)) * 300 + np.array([0.0, 0.0, 900.0])).astype(np.float64)


def _meta(n: int) -> list[dict]:
    return [{"subject": "cmu131-0", "action": "131_03 hop" if i < n // 2 else "05_06 dance", "frame": i,
             "dataset": MEASURED} for i in range(n)]


def _evaluation(pred: np.ndarray, gt: np.ndarray, exclude_damaged: bool = False):
    return evaluate_predictions(pred, gt, _meta(len(gt)), exclude_damaged=exclude_damaged)


# ---------------------------------------------------------------------------------------------- the paper's numbers
def test_paper_numbers_are_the_reported_ones():
    rel, ab = paper_table("h36m_relative"), paper_table("h36m_absolute")
    assert [(n.method, n.mpjpe_mm) for n in rel.numbers] == [("ransac", 27.4), ("algebraic", 22.6),
                                                             ("volumetric", 20.8)]
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
    assert list(df["method"]) == ["RANSAC (hard-argmax 2D points)", "Algebraic (learned confidences)",
                                  "Volumetric (softmax aggregation)"]
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
    ab = compare_with_paper("h36m_absolute", {k: _evaluation(v, gt, True) for k, v in
                                              (("algebraic", shifted), ("volumetric", noisy))}, MEASURED)
    abf = ab.frame.set_index("method")
    rel_col = [c for c in rel.columns if c.startswith("measured")][0]
    abs_col = ab.measured_columns()[0]
    assert rel.loc["Algebraic (learned confidences)", rel_col] == pytest.approx(0.0, abs=1e-9)
    assert abf.loc["Algebraic (learned confidences)", abs_col] == pytest.approx(50.0)
    assert rel.loc["Volumetric (softmax aggregation)", rel_col] == pytest.approx(evals["volumetric"].summary["mpjpe_rel"])
    assert "absolute" in abs_col and "damaged" in ab.caption


def test_missing_methods_are_nan_and_say_why():
    gt = _poses()
    table = compare_with_paper("h36m_relative", {"volumetric": _evaluation(gt, gt), "algebraic": None}, MEASURED,
                               sources={"volumetric": "checkpoint vol.pt"})
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
    table = compare_with_paper("panoptic_4cams", {m: _evaluation(gt, gt) for m in ("ransac", "algebraic",
                                                                                  "volumetric")}, "embedded-dome")
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
    rows = [("volumetric", "embedded dome rig", "embedded Human3.6M-like rig", _evaluation(gt, gt)),
            ("algebraic", "embedded Human3.6M-like rig", "embedded dome rig", None)]
    table = transfer_table(rows)
    df = table.frame
    assert df["trained on"].tolist() == ["embedded dome rig", "embedded Human3.6M-like rig"]
    assert df[table.measured_columns()[0]].iloc[0] == 0.0 and math.isnan(df[table.measured_columns()[0]].iloc[1])
    assert df[table.paper_column()].isna().all()
    assert "Panoptic" in table.caption and "Human3.6M" in table.caption


# ---------------------------------------------------------------------------------------------- checkpoints
def _tiny_checkpoint(path, model: str, rig: str = "human36m", step: int = 3, **model_options):
    from lt_core.train.checkpoint import atomic_save
    from lt_core.train.config import TrainConfig
    from lt_core.train.factory import build_model

    cfg = TrainConfig(name=path.stem, model=model, model_options=model_options, dataset_options={"rig": rig},
                      image_size=(128, 128), v2v="tiny", backbone="tiny")
    torch.manual_seed(step)
    net = build_model(cfg)
    atomic_save({"format": "lt_core.train/1-export", "model": net.state_dict(), "config": cfg.to_dict(),
                 "step": step}, path)
    return net


def test_find_and_pick_checkpoints(tmp_path):
    (tmp_path / "runs" / "a").mkdir(parents=True)
    _tiny_checkpoint(tmp_path / "runs" / "a" / "last.pt", "algebraic", step=5)
    _tiny_checkpoint(tmp_path / "runs" / "a" / "best.pt", "algebraic", step=4)
    _tiny_checkpoint(tmp_path / "alg_dome.pt", "algebraic", rig="dome", step=7)
    _tiny_checkpoint(tmp_path / "alg_noconf.pt", "algebraic", use_confidences=False, step=2)
    (tmp_path / "notes.pt").write_bytes(b"not a checkpoint")
    found = find_checkpoints(tmp_path, tmp_path / "missing")
    names = sorted(c.path.name for c in found)
    assert names == ["alg_dome.pt", "alg_noconf.pt", "best.pt"]  # best.pt preferred to last.pt in its folder
    assert pick_checkpoint(found, "algebraic", "human36m").path.name == "best.pt"
    assert pick_checkpoint(found, "algebraic", "dome").step == 7
    assert pick_checkpoint(found, "algebraic_noconf").path.name == "alg_noconf.pt"
    assert pick_checkpoint(found, "volumetric") is None
    assert pick_checkpoint(found, "algebraic", views=1) is None
    table = checkpoints_table(found, tmp_path)
    assert "runs/a/best.pt" in table["checkpoint"].tolist() and str(tmp_path) not in table.to_string()


def test_ransac_baseline_reuses_the_algebraic_backbone(tmp_path):
    net = _tiny_checkpoint(tmp_path / "alg.pt", "algebraic")
    ransac = ransac_from_algebraic(find_checkpoints(tmp_path)[0], threshold=10.0)
    assert ransac.threshold == 10.0 and not ransac.training
    mine, theirs = ransac.backbone.state_dict(), net.backbone.state_dict()
    assert set(mine) < set(theirs)  # no confidence head
    assert all(torch.equal(mine[k], theirs[k]) for k in mine)


def test_volumetric_aggregation_names_the_method(tmp_path):
    _tiny_checkpoint(tmp_path / "vol_sum.pt", "volumetric", volume_size=16, aggregation="sum")
    (info,) = find_checkpoints(tmp_path)
    assert isinstance(info, CheckpointInfo) and info.method == "volumetric_sum" and info.rig == "human36m"


def test_embedded_eval_dataset_is_fixed_and_described():
    ds = embedded_eval_dataset("dome", image_size=(96, 96), views=4, frames_per_clip=3,
                               options={"load_images": False, "clips": ["01_01"], "placement": "center"})
    held_out = ["131_03", "05_06", "salsa_14", "salsa_29", "martial_07", "indian_06"]
    assert len(ds) == 18 and ds.clips == held_out  # the held-out clips (val_ext), whatever the options say
    assert not ds.random_views and ds.num_views == 4 and ds.out_size == (96, 96) and ds.placement == "center"
    a, b = ds[1], ds[1]
    assert torch.equal(a["joints_3d"], b["joints_3d"]) and a["cameras"].names == b["cameras"].names
    text = describe_dataset(ds)
    assert "embedded-dome" in text and "131_03, 05_06, salsa_14" in text and "4 views" in text and "18 frames" in text
    two = embedded_eval_dataset("dome", frames_per_clip=3, split="val", options={"load_images": False})
    assert two.clips == ["131_03", "05_06"] and len(two) == 6
    one = embedded_eval_dataset("human36m", views=[2], frames_per_clip=1, options={"load_images": False})
    assert one.view_indices == [2] and "1 view per frame" in describe_dataset(one)


# ---------------------------------------------------------------------------------------------- running the methods
def test_official_wrapper_feeds_the_preprocessed_images():
    from lt_core.models import AlgebraicTriangulationNet, BackboneConfig, preprocess_like_official
    from lt_core.paper import with_official_preprocessing

    torch.manual_seed(0)
    net = AlgebraicTriangulationNet(BackboneConfig.tiny()).eval()
    ds = embedded_eval_dataset("human36m", frames_per_clip=1)
    from lt_core.data.sample import collate_samples

    b = collate_samples([ds[0]])
    with torch.no_grad():
        wrapped = with_official_preprocessing(net)(b["images"], b["cameras"], b["joints_3d"][:, 6])["joints_3d"]
        direct = net(preprocess_like_official(b["images"], size=None), b["cameras"])["joints_3d"]
    assert torch.allclose(wrapped, direct)


def test_evaluate_methods_centres_the_cuboid_on_the_algebraic_pelvis(tmp_path):
    from lt_core.paper import evaluate_methods, load_method_model, pooled_evaluation

    _tiny_checkpoint(tmp_path / "alg.pt", "algebraic")
    _tiny_checkpoint(tmp_path / "vol.pt", "volumetric", volume_size=16, cuboid_side=2000.0)
    models = {"volumetric": load_method_model(tmp_path / "vol.pt", "volumetric"),
              "algebraic": load_method_model(tmp_path / "alg.pt", "algebraic"),
              "ransac": load_method_model(tmp_path / "alg.pt", "ransac"), "algebraic_noconf": None}
    assert models["ransac"].threshold == pytest.approx(5.0)  # 15 px on 384 px crops, at 128 px
    ds = embedded_eval_dataset("human36m", frames_per_clip=1)
    preds, notes = evaluate_methods(ds, models)
    assert set(preds) == {"algebraic", "ransac", "volumetric"} and "algebraic_noconf" not in preds
    assert notes == {"volumetric": "cuboid centred on the pelvis predicted by the algebraic model"}
    from lt_core.train.evaluate import predict

    again = predict(models["volumetric"], ds, root=preds["algebraic"])
    assert np.allclose(again.joints_3d, preds["volumetric"].joints_3d, atol=1e-4)
    _, notes_gt = evaluate_methods(ds, {"volumetric": models["volumetric"]}, root_from=None)
    assert notes_gt["volumetric"] == "cuboid centred on the ground-truth pelvis"
    pooled = pooled_evaluation([preds["algebraic"], preds["ransac"]])
    assert pooled.summary["frames"] == 2 * len(ds)
    table = compare_with_paper("h36m_relative", {k: p.evaluate() for k, p in preds.items()}, MEASURED)
    meas = table.measured_columns()[0]
    got = table.frame.set_index("method")[meas]
    assert got["Volumetric (softmax aggregation)"] == pytest.approx(preds["volumetric"].evaluate().summary["mpjpe_rel"])


def test_released_state_dict_loads_strictly_and_is_wrapped(tmp_path):
    from lt_core.models import synthetic_official_state_dict
    from lt_core.paper import load_method_model

    path = tmp_path / "human36m_alg.pth"
    torch.save(synthetic_official_state_dict("algebraic_human36m_alg", prefix="module."), path)
    model = load_method_model(path, "algebraic")
    assert type(model).__name__ == "_OfficialInput" and not model.training
    assert model.model.backbone.config.depth == 152


def test_real_human36m_path_on_a_fixture(tmp_path):
    from test_human36m import make_fixture

    from lt_core.data.human36m import Human36MDataset
    from lt_core.paper import evaluate_methods, load_method_model

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


def test_exported_checkpoints_report_their_training_steps(tmp_path):
    # scripts/train_embedded.py exports "train_steps" (no "step"): the tables must still name the schedule
    from lt_core.train.checkpoint import atomic_save

    _tiny_checkpoint(tmp_path / "alg.pt", "algebraic")
    ckpt = torch.load(tmp_path / "alg.pt", weights_only=False)
    del ckpt["step"]
    ckpt["train_steps"] = 2400
    atomic_save(ckpt, tmp_path / "alg.pt")
    (info,) = find_checkpoints(tmp_path)
    assert info.step == 2400
