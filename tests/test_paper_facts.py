"""lt_core.paper_facts: training time, data and model size of the measured models beside the paper's."""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import pytest
import torch

from lt_core.data.synthetic import SyntheticMultiViewDataset
from lt_core.models import synthetic_official_state_dict
from lt_core.paper_facts import PAPER_SETUP, paper_parameters, training_caption, training_facts, training_table

CHECKPOINTS = Path(__file__).resolve().parents[1] / "data" / "checkpoints"


def _released_parameters(name: str) -> int:
    return sum(
        v.numel() for k, v in synthetic_official_state_dict(name).items() if "running" not in k and "batches" not in k
    )


def test_paper_parameters_match_the_released_checkpoints_layout():
    assert paper_parameters("algebraic") == _released_parameters("algebraic_human36m_alg")
    assert paper_parameters("volumetric") == _released_parameters("volumetric_human36m_vol_softmax")
    assert paper_parameters("algebraic_noconf") < paper_parameters("algebraic")  # no confidence head
    with pytest.raises(ValueError, match="unknown method 'v2v'"):
        paper_parameters("v2v")


def test_facts_of_the_committed_checkpoints_come_from_their_manifests(tmp_path):
    from lt_core.data.synthetic import clip_set

    vol = json.loads((CHECKPOINTS / "embedded_vol_softmax.json").read_text())
    alg = json.loads((CHECKPOINTS / "embedded_alg_conf.json").read_text())
    ransac = json.loads((CHECKPOINTS / "embedded_ransac.json").read_text())
    f = training_facts(CHECKPOINTS / "embedded_vol_softmax.pt")
    assert f.method == "volumetric" and f.steps == vol["train_steps"] and f.parameters == vol["parameters"]
    assert f.stage_s == vol["train_s"] and f.backbone_s == ransac["train_s"]  # the 2D stage the RANSAC export records
    # the whole chain: rendering, the 2D stage, the algebraic stage its backbone comes from, its own stage
    assert vol["pipeline"] == ["2d", "alg_conf", "vol_softmax"]
    assert f.total_s == vol["pipeline_s"] >= vol["train_s"] + alg["train_s"] + ransac["train_s"]
    state = torch.load(CHECKPOINTS / "embedded_vol_softmax.pt", map_location="cpu", weights_only=False)["model"]
    assert f.parameters == sum(v.numel() for k, v in state.items() if "running" not in k and "batches" not in k)
    data = vol["train_data"]
    assert (f.frames, f.clips, f.views) == (data["frames"], data["clips"], 4)
    assert f.clips == len(clip_set(data["split"])) and f.frames * 4 == data["images"]
    assert (f.image_size, f.volume_size) == (128, vol["config"]["model_options"]["volume_size"])
    r = training_facts(CHECKPOINTS / "embedded_ransac.pt")
    assert r.method == "ransac" and r.stage_s == 0.0 and r.total_s == ransac["pipeline_s"] and r.volume_size == 0
    assert math.isnan(r.cuboid_side)
    # a manifest without the recorded data (older versions): the training set is rebuilt from the configuration
    old = {k: v for k, v in vol.items() if k not in ("pipeline", "pipeline_s", "train_data")}
    (tmp_path / "old.json").write_text(json.dumps(old))
    ds = SyntheticMultiViewDataset(old["config"]["train_split"], **old["config"]["dataset_options"])
    f_old = training_facts(tmp_path / "old.pt")
    assert (f_old.frames, f_old.clips) == (len(ds), len(ds.clips)) and math.isnan(f_old.total_s)


def test_table_and_caption_put_the_paper_beside_the_measured_models():
    picks = {
        "algebraic": CHECKPOINTS / "embedded_alg_conf.pt",
        "volumetric": CHECKPOINTS / "embedded_vol_softmax.pt",
        "ransac": None,
    }
    table = training_table(picks)
    assert list(table["method"]) == ["algebraic", "volumetric"]
    assert list(table["paper: crop (px)"]) == [PAPER_SETUP["image_size"]] * 2
    assert table.loc[1, "paper: volume"] == "64^3 over 2.5 m" and table.loc[0, "volume"] == "-"
    assert table.loc[1, "paper: parameters"] == paper_parameters("volumetric")
    caption = training_caption(picks)
    minutes = round(training_facts(picks["volumetric"]).total_s / 60)
    assert f"trained {minutes} min at most on a 2-core CPU (volumetric" in caption
    assert "16^3 voxels over 2.2 m" in caption and "64^3 voxels over 2.5 m" in caption and "ResNet-152" in caption
    assert training_caption({"volumetric": None}) == ""


def test_missing_manifest_and_foreign_data_are_named(tmp_path):
    shutil.copy(CHECKPOINTS / "embedded_alg_conf.pt", tmp_path / "alone.pt")
    with pytest.raises(FileNotFoundError, match="no manifest alone.json beside"):
        training_facts(tmp_path / "alone.pt")
    manifest = json.loads((CHECKPOINTS / "embedded_alg_conf.json").read_text())
    manifest["config"]["dataset"] = "human36m"
    (tmp_path / "alone.json").write_text(json.dumps(manifest))
    with pytest.raises(ValueError, match="alone.pt: trained on 'human36m'"):
        training_facts(tmp_path / "alone.pt")
    del manifest["parameters"]
    (tmp_path / "alone.json").write_text(json.dumps(manifest))
    with pytest.raises(KeyError, match="has no 'parameters'"):
        training_facts(tmp_path / "alone.pt")
