"""lt_core.train.methods: checkpoints found and loaded by method, and every method run over the same samples."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from lt_core.paper import compare_with_paper
from lt_core.train.methods import (
    CheckpointInfo,
    checkpoints_table,
    describe_dataset,
    embedded_eval_dataset,
    evaluate_methods,
    find_checkpoints,
    load_method_model,
    model_on_backbone,
    pick_checkpoint,
    pooled_evaluation,
    ransac_from_algebraic,
    with_official_preprocessing,
)

MEASURED = "embedded-h36m-rig"


def _tiny_checkpoint(path, model: str, rig: str = "human36m", step: int = 3, **model_options):
    from lt_core.train.checkpoint import atomic_save
    from lt_core.train.config import TrainConfig
    from lt_core.train.factory import build_model

    cfg = TrainConfig(
        name=path.stem,
        model=model,
        model_options=model_options,
        dataset_options={"rig": rig},
        image_size=(128, 128),
        v2v="tiny",
        backbone="tiny",
    )
    torch.manual_seed(step)
    net = build_model(cfg)
    atomic_save(
        {"format": "lt_core.train/1-export", "model": net.state_dict(), "config": cfg.to_dict(), "step": step}, path
    )
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


def test_model_on_backbone_builds_another_type_and_refuses_a_foreign_backbone(tmp_path):
    net = _tiny_checkpoint(tmp_path / "ransac.pt", "ransac")
    alg = model_on_backbone(tmp_path / "ransac.pt", "algebraic", {"use_confidences": False, "beta": 20.0})
    assert type(alg).__name__ == "AlgebraicTriangulationNet" and not alg.training
    assert alg.beta == 20.0
    mine, theirs = alg.backbone.state_dict(), net.backbone.state_dict()
    assert all(torch.equal(mine[k], theirs[k]) for k in theirs)
    wider = {"backbone_options": {"deconv_channels": 40}}  # deconvolution weights of other shapes
    with pytest.raises(ValueError, match="ransac.pt: the backbone of the algebraic model could not be filled"):
        model_on_backbone(tmp_path / "ransac.pt", "algebraic", {"use_confidences": False, **wider})


def test_volumetric_aggregation_names_the_method(tmp_path):
    _tiny_checkpoint(tmp_path / "vol_sum.pt", "volumetric", volume_size=16, aggregation="sum")
    (info,) = find_checkpoints(tmp_path)
    assert isinstance(info, CheckpointInfo) and info.method == "volumetric_sum" and info.rig == "human36m"


def test_embedded_eval_dataset_is_fixed_and_described():
    ds = embedded_eval_dataset(
        "dome",
        image_size=(96, 96),
        views=4,
        frames_per_clip=3,
        options={"load_images": False, "clips": ["01_01"], "placement": "center"},
    )
    held_out = ["131_03", "05_06", "salsa_14", "salsa_29", "martial_07", "indian_06"]
    assert len(ds) == 18 and ds.clips == held_out  # the held-out clips, whatever the options say
    assert not ds.random_views and ds.num_views == 4 and ds.out_size == (96, 96) and ds.placement == "center"
    a, b = ds[1], ds[1]
    assert torch.equal(a["joints_3d"], b["joints_3d"]) and a["cameras"].names == b["cameras"].names
    text = describe_dataset(ds)
    assert "embedded-dome" in text and "131_03" in text and "4 views" in text and "18 frames" in text
    one = embedded_eval_dataset("human36m", views=[2], frames_per_clip=1, options={"load_images": False})
    assert one.view_indices == [2] and "1 view per frame" in describe_dataset(one)
    two = embedded_eval_dataset("human36m", frames_per_clip=1, split="val", options={"load_images": False})
    assert two.clips == held_out[:2] and len(two) == 2


# ---------------------------------------------------------------------------------------------- running the methods
def test_official_wrapper_feeds_the_preprocessed_images():
    from lt_core.models import AlgebraicTriangulationNet, BackboneConfig, preprocess_like_official

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
    _tiny_checkpoint(tmp_path / "alg.pt", "algebraic")
    _tiny_checkpoint(tmp_path / "vol.pt", "volumetric", volume_size=16, cuboid_side=2000.0)
    models = {
        "volumetric": load_method_model(tmp_path / "vol.pt", "volumetric"),
        "algebraic": load_method_model(tmp_path / "alg.pt", "algebraic"),
        "ransac": load_method_model(tmp_path / "alg.pt", "ransac"),
        "algebraic_noconf": None,
    }
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

    path = tmp_path / "human36m_alg.pth"
    torch.save(synthetic_official_state_dict("algebraic_human36m_alg", prefix="module."), path)
    model = load_method_model(path, "algebraic")
    assert type(model).__name__ == "_OfficialInput" and not model.training
    assert model.model.backbone.config.depth == 152


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
