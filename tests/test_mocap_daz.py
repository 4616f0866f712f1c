"""The CMU clips of ``data/mocap_cmu_daz``: the clip table, the shipped joints, their rebuild, clip sets, per-clip
evaluation tables."""

from __future__ import annotations

import lzma
import shutil
import zipfile
from pathlib import Path

import numpy as np
import pytest

from lt_core.data.mocap_daz import (
    ARCHIVE,
    FAMILIES,
    build_archive,
    clip_quality,
    daz_dir,
    list_daz_clips,
    load_daz_clip,
    pick_held_out,
    read_archive,
    read_manifest,
)
from lt_core.data.motion import MotionFormatError
from lt_core.data.retarget import H36M_JOINTS, load_clip
from lt_core.data.synthetic import (
    DAZ_EXCLUDED_CLIPS,
    DAZ_VAL_CLIPS,
    TRAIN_CLIPS,
    VAL_CLIPS,
    SyntheticMultiViewDataset,
    clip_set,
)
from lt_core.paths import data_dir
from lt_core.train.evaluate import Predictions, clip_family, per_clip_table

FIXTURES = Path(__file__).parent / "fixtures" / "mocap_cmu_daz"
J = {name: i for i, name in enumerate(H36M_JOINTS)}
CLIPS = {c["id"]: c for c in list_daz_clips()}
RIGID = [
    ("RHip", "RKnee"),
    ("RKnee", "RAnkle"),
    ("LHip", "LKnee"),
    ("LKnee", "LAnkle"),
    ("RShoulder", "RElbow"),
    ("RElbow", "RWrist"),
    ("LShoulder", "LElbow"),
    ("LElbow", "LWrist"),
    ("Neck", "Head"),
]


def test_clip_table():
    assert len(CLIPS) == 43
    families = [c["family"] for c in CLIPS.values()]
    assert [families.count(f) for f in FAMILIES] == [28, 8, 7]
    for cid, c in CLIPS.items():
        assert c["unit"] == "cm" and c["header_fps"] == 120.0 and c["description"].startswith(cid)
        assert c["fps"] == (60.0 if c["family"] == "salsa" else 120.0)
        assert (c["partner"] is not None) == (c["family"] == "salsa")
        if c["partner"]:
            assert CLIPS[c["partner"]]["partner"] == cid
    root = daz_dir()
    for name in ("PROVENANCE.txt", "README.md", "LICENSE_Auto_Conditioned_RNN_motion"):
        assert (root / name).is_file()
    assert "NSF EIA-0196217" in (root / "PROVENANCE.txt").read_text()


def test_clip_table_errors(tmp_path):
    text = (daz_dir() / "clips.tsv").read_text()
    bad = tmp_path / "clips.tsv"
    bad.write_text(text.replace("\tmartial\tmartial/03.bvh", "\tkarate\tmartial/03.bvh"))
    with pytest.raises(MotionFormatError, match=r"clips.tsv, line \d+: clip 'martial_03': family must be one of"):
        list_daz_clips(bad)
    bad.write_text(
        text.replace(
            "salsa_02\tsalsa\tsalsa/02.bvh\tsalsa-a\t120\t60", "salsa_02\tsalsa\tsalsa/02.bvh\tsalsa-a\t120\tsixty"
        )
    )
    with pytest.raises(MotionFormatError, match="clip 'salsa_02': header_fps and fps must be numbers"):
        list_daz_clips(bad)
    bad.write_text(text.replace("\tunit\t", "\tunits\t"))
    with pytest.raises(MotionFormatError, match=r"lacks columns \['unit'\]"):
        list_daz_clips(bad)


def test_shipped_joints_match_the_manifest():
    stored, manifest = read_archive(), read_manifest()
    assert set(stored) == set(CLIPS) == set(manifest["clips"]) and manifest["fps"] == 30.0
    for cid, arr in stored.items():
        info = manifest["clips"][cid]
        assert arr.dtype == np.int16 and arr.shape == (info["frames"], 17, 3)
        assert info["dropped_lead_in_frames"] == 8 and info["unit"] == "cm" and len(info["sha256"]) == 64
        step = 4 if info["fps"] == 120.0 else 2  # 30 Hz = every 4th frame of 120 Hz, every 2nd of 60 Hz
        assert info["frames"] == (info["source_frames"] - 8 - 1) // step + 1
    assert sum(a.shape[0] for a in stored.values()) == 36327
    assert (daz_dir() / ARCHIVE).stat().st_size < 3.5e6


@pytest.mark.parametrize("family", FAMILIES)
def test_shipped_skeletons_are_upright_and_rigid(family):
    """Every clip of a family: rigid bones keep their length (1 mm rounding), the figure stands on the floor, head
    up (except the two clips left out of every clip set), and its left side is the performer's left."""
    for cid in (c for c, row in CLIPS.items() if row["family"] == family):
        joints, meta = load_daz_clip(cid)
        assert joints.dtype == np.float32 and meta["fps"] == 30.0 and meta["family"] == family
        for a, b in RIGID:
            length = np.linalg.norm(joints[:, J[a]] - joints[:, J[b]], axis=-1)
            assert length.std() < 1.0 and 150 < length.mean() < 460, (cid, a, b, length.mean())
        z = joints[..., 2]
        lowest_ankle = z[:, [J["RAnkle"], J["LAnkle"]]].min(axis=1)
        assert 500 < np.median(z[:, J["Pelvis"]]) < 900 and 20 < np.median(lowest_ankle) < 120, cid
        assert np.mean(lowest_ankle < 0) < 0.05  # the floor at the 5th percentile of the lowest foot point
        head_up = np.median(z[:, J["Head"]] - z[:, J["Neck"]])
        assert (head_up < 0) == (cid == "salsa_06"), cid
        if cid not in DAZ_EXCLUDED_CLIPS:
            left = joints[:, J["LShoulder"]] - joints[:, J["RShoulder"]]
            up = joints[:, J["Thorax"]] - joints[:, J["Pelvis"]]
            forward = joints[:, J["Neck"]] - joints[:, J["Thorax"]]
            assert np.mean((np.cross(left, up) * forward).sum(-1) > 0) > 0.9, cid


def test_load_clip_reads_the_shipped_ids():
    joints, meta = load_clip("martial_07")
    stored = read_archive()["martial_07"]
    np.testing.assert_array_equal(joints, stored.astype(np.float32))
    assert meta["format"] == "npz" and meta["capture_fps"] == 120.0 and meta["fps"] == 30.0
    j60, meta60 = load_clip("martial_07", fps=60)
    assert meta60["fps"] == 60.0 and j60.shape[0] == 2 * stored.shape[0] - 1
    np.testing.assert_array_equal(j60[::2], joints)
    with pytest.raises(KeyError, match="no clip 'salsa_99'"):
        load_daz_clip("salsa_99")


def test_rebuild_of_one_clip_equals_the_shipped_data(tmp_path):
    """salsa/10.bvh (fixture, unchanged source file) rebuilt by the shipped command's code: same array bytes, same
    manifest entry (the source's SHA-256 included)."""
    source = tmp_path / "source" / "salsa"
    source.mkdir(parents=True)
    (source / "10.bvh").write_bytes(lzma.decompress((FIXTURES / "salsa_10.bvh.xz").read_bytes()))
    out = tmp_path / "out"
    out.mkdir()
    shutil.copy(daz_dir() / "clips.tsv", out / "clips.tsv")
    npz, js = build_archive(tmp_path / "source", out, clips=["salsa_10"])
    with zipfile.ZipFile(npz) as new, zipfile.ZipFile(daz_dir() / ARCHIVE) as old:
        assert new.namelist() == ["salsa_10.npy"]
        assert new.read("salsa_10.npy") == old.read("salsa_10.npy")
        assert new.getinfo("salsa_10.npy").CRC == old.getinfo("salsa_10.npy").CRC
    assert read_manifest(js)["clips"]["salsa_10"] == read_manifest()["clips"]["salsa_10"]
    with pytest.raises(MotionFormatError, match="source file not found"):
        build_archive(tmp_path / "source", out, clips=["salsa_25"])
    with pytest.raises(ValueError, match=r"clips \['salsa_99'\] are not in"):
        build_archive(tmp_path / "source", out, clips=["salsa_99"])


def test_build_checks_the_stated_facts(tmp_path):
    source = tmp_path / "source" / "salsa"
    source.mkdir(parents=True)
    (source / "10.bvh").write_bytes(lzma.decompress((FIXTURES / "salsa_10.bvh.xz").read_bytes()))
    table = (daz_dir() / "clips.tsv").read_text()
    row = next(ln for ln in table.splitlines() if ln.startswith("salsa_10\t"))
    for field, wrong, message in (
        (6, "mm", "the body size says the unit is 'cm', the clip table says 'mm'"),
        (4, "60", "header says 120 Hz, the clip table 60 Hz"),
    ):
        cols = row.split("\t")
        cols[field] = wrong
        (tmp_path / "clips.tsv").write_text(table.replace(row, "\t".join(cols)))
        with pytest.raises(MotionFormatError, match=message):
            build_archive(tmp_path / "source", tmp_path, clips=["salsa_10"])


# ------------------------------------------------------------------------------------------------------------------
# Clip sets
# ------------------------------------------------------------------------------------------------------------------


def test_clip_sets():
    assert clip_set("train") == TRAIN_CLIPS and clip_set("val") == VAL_CLIPS  # unchanged defaults
    train, val = set(clip_set("train_ext")), set(clip_set("val_ext"))
    assert not train & val and set(TRAIN_CLIPS) <= train and {"131_03", "05_06"} <= val
    assert {CLIPS[c]["family"] for c in DAZ_VAL_CLIPS} == set(FAMILIES)
    for c in DAZ_VAL_CLIPS:
        assert CLIPS[c]["partner"] is None or CLIPS[c]["partner"] in val  # a salsa pair is held out whole
    assert not set(DAZ_EXCLUDED_CLIPS) & (train | val)
    assert train | val | set(DAZ_EXCLUDED_CLIPS) == set(TRAIN_CLIPS) | set(VAL_CLIPS) | set(CLIPS)
    assert set(clip_set("all_ext")) == train | val
    with pytest.raises(ValueError, match="split must be one of"):
        clip_set("test")


def test_held_out_clips_follow_the_rule():
    picked = pick_held_out()
    assert sorted(c for ids in picked.values() for c in ids) == sorted(DAZ_VAL_CLIPS)
    for cid in DAZ_EXCLUDED_CLIPS:
        assert clip_quality(load_daz_clip(cid)[0])["head_upside_down"] > 300


def test_dataset_with_extended_sets():
    val = SyntheticMultiViewDataset("val_ext", load_images=False, max_frames_per_clip=3)
    assert [c for c, _ in val.index] == [c for c in clip_set("val_ext") for _ in range(3)]
    s = val[6]
    assert s["meta"]["clip"] == "salsa_14" and s["meta"]["action"].startswith("salsa_14 salsa")
    assert s["meta"]["subject"].startswith("cmusalsa-a") and not val.random_views
    train = SyntheticMultiViewDataset("train_ext", load_images=False, max_frames_per_clip=1)
    assert train.random_views and len(train) == len(clip_set("train_ext"))
    assert (
        train.config_key() != SyntheticMultiViewDataset("train", load_images=False, max_frames_per_clip=1).config_key()
    )
    from lt_core.train.methods import embedded_eval_dataset  # how the held-out tables select the extended set

    evaluation = embedded_eval_dataset("human36m", split="val_ext", frames_per_clip=2)
    assert evaluation.clips == list(clip_set("val_ext")) and len(evaluation) == 2 * len(clip_set("val_ext"))


# ------------------------------------------------------------------------------------------------------------------
# Per-clip evaluation
# ------------------------------------------------------------------------------------------------------------------


def test_per_clip_table():
    rng = np.random.default_rng(0)
    clips = ["131_03"] * 2 + ["salsa_14"] * 4 + ["salsa_29"] * 1 + ["indian_06"] * 3
    gt = rng.normal(0, 300, (len(clips), 17, 3)).astype(np.float32)
    pred = gt.copy()
    shift = {"131_03": 10.0, "salsa_14": 0.0, "salsa_29": 0.0, "indian_06": 0.0}
    for i, c in enumerate(clips):
        pred[i] += np.float32([shift[c], 0, 0])  # a rigid shift: absolute error only
        if c == "salsa_14":
            pred[i, J["RWrist"]] += np.float32([0, 34.0, 0])  # one joint off by 34 mm: 2 mm per joint
        if c == "salsa_29":
            pred[i, J["LWrist"]] += np.float32([0, 0, 68.0])
    meta = [{"clip": c, "subject": "s", "action": c, "frame": i} for i, c in enumerate(clips)]
    table = per_clip_table(Predictions(pred, gt, np.ones((len(clips), 17), bool), meta))
    assert list(table.index) == [
        "131_03",
        "salsa_14",
        "salsa_29",
        "indian_06",
        "family: salsa",
        "mean of clips",
        "pooled",
    ]
    assert table.loc["131_03", "family"] == "cmu" and table.loc["indian_06", "family"] == "indian"
    np.testing.assert_allclose(table.loc["131_03", ["mpjpe_abs", "mpjpe_rel"]].astype(float), [10.0, 0.0], atol=1e-4)
    np.testing.assert_allclose(table.loc["salsa_14", ["mpjpe_abs", "mpjpe_rel"]].astype(float), [2.0, 2.0], atol=1e-4)
    np.testing.assert_allclose(table.loc["salsa_29", "mpjpe_rel"], 4.0, atol=1e-4)
    np.testing.assert_allclose(table.loc["family: salsa", "mpjpe_rel"], (4 * 2.0 + 4.0) / 5, atol=1e-4)
    np.testing.assert_allclose(table.loc["mean of clips", "mpjpe_abs"], (10 + 2 + 4 + 0) / 4, atol=1e-4)
    np.testing.assert_allclose(table.loc["pooled", "mpjpe_abs"], (2 * 10 + 4 * 2 + 4) / 10, atol=1e-4)
    assert table.loc["pooled", "frames"] == 10 and table.loc["salsa_14", "frames"] == 4
    assert clip_family("martial_07") == "martial" and clip_family("05_06") == "cmu"
    with pytest.raises(ValueError, match="have no 'clip' in their meta"):
        per_clip_table(Predictions(pred, gt, np.ones((len(clips), 17), bool), [{"subject": "s"}] * len(clips)))


def test_data_dir_is_the_project():
    assert daz_dir().resolve().is_relative_to(data_dir().resolve())
