"""Motion capture readers (BVH, ASF/AMC), forward kinematics and retargeting to Human3.6M-17."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from lt_core.data.motion import (
    CMU_MM_PER_UNIT,
    MotionFormatError,
    euler_to_matrix,
    forward_kinematics,
    parse_asf,
    parse_bvh,
    read_asf_amc,
    read_bvh,
)
from lt_core.data.retarget import (
    H36M_BONES,
    H36M_JOINTS,
    RetargetError,
    data_dir,
    has_rest_frame,
    list_embedded_clips,
    load_clip,
    normalize_joint_name,
    resample,
    resolve_mapping,
    retarget_to_h36m,
)

J = {name: i for i, name in enumerate(H36M_JOINTS)}
CLIPS = {c["id"]: c for c in list_embedded_clips()}

# Bones between points of one rigid segment (their length cannot change) and plausible adult ranges in mm.
RIGID_BONES = {
    ("RHip", "RKnee"): (350, 500),
    ("LHip", "LKnee"): (350, 500),
    ("RKnee", "RAnkle"): (330, 500),
    ("LKnee", "LAnkle"): (330, 500),
    ("Thorax", "RShoulder"): (120, 260),
    ("Thorax", "LShoulder"): (120, 260),
    ("RShoulder", "RElbow"): (220, 380),
    ("LShoulder", "LElbow"): (220, 380),
    ("RElbow", "RWrist"): (170, 320),
    ("LElbow", "LWrist"): (170, 320),
}


def _write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


@pytest.fixture(scope="module")
def clips() -> dict[str, tuple[np.ndarray, dict]]:
    """Every embedded clip loaded once at its capture rate."""
    return {cid: load_clip(c["path"], asf_path=c["skeleton"]) for cid, c in CLIPS.items()}


# ------------------------------------------------------------------------------------------------------------------
# Hand-written fixtures with known answers
# ------------------------------------------------------------------------------------------------------------------

TINY_BVH = """HIERARCHY
ROOT hips
{
  OFFSET 0 0 0
  CHANNELS 6 Xposition Yposition Zposition Zrotation Yrotation Xrotation
  JOINT arm
  {
    OFFSET 1 0 0
    CHANNELS 3 Zrotation Yrotation Xrotation
    End Site
    {
      OFFSET 0 2 0
    }
  }
}
MOTION
Frames: 2
Frame Time: 0.02
1 2 3 0 0 0 0 0 0
0 0 0 90 0 0 0 0 90
"""


def test_bvh_forward_kinematics_known_positions(tmp_path):
    m = read_bvh(_write(tmp_path, "tiny.bvh", TINY_BVH))
    assert m.names == ["hips", "arm", "arm_end"]
    assert m.parents.tolist() == [-1, 0, 1]
    assert m.fps == 50.0 and m.n_frames == 2
    assert m.channel_names[3] == "hips:Zrotation"
    p = m.forward_kinematics()
    assert p.shape == (2, 3, 3) and p.dtype == np.float64
    # frame 0: no rotation, root translated to (1, 2, 3)
    np.testing.assert_allclose(p[0], [[1, 2, 3], [2, 2, 3], [2, 4, 3]], atol=1e-12)
    # frame 1: root turned 90 deg about z moves the arm to +y; the arm's own 90 deg about x turns its tip to +z
    np.testing.assert_allclose(p[1], [[0, 0, 0], [0, 1, 0], [0, 1, 2]], atol=1e-12)
    # millimetres in the Z-up world: (x, y, z)_world = (x, -z, y)_cmu * 56.444
    np.testing.assert_allclose(m.positions_mm()[1, 2], np.array([0, -2, 1]) * CMU_MM_PER_UNIT, atol=1e-9)


@pytest.mark.parametrize(
    "order, expected", [("Zrotation Yrotation Xrotation", [0, 1, 0]), ("Xrotation Yrotation Zrotation", [0, 0, 1])]
)
def test_bvh_channel_order_matters(tmp_path, order, expected):
    # The same angles (90 deg about x and about z, 0 about y) in two channel orders.
    values = {"X": "90", "Y": "0", "Z": "90"}
    frame = " ".join(values[c[0]] for c in order.split())
    text = (
        f"HIERARCHY\nROOT r\n{{\n OFFSET 0 0 0\n CHANNELS 3 {order}\n End Site\n {{\n  OFFSET 1 0 0\n }}\n}}\n"
        f"MOTION\nFrames: 1\nFrame Time: 0.01\n{frame}\n"
    )
    p = read_bvh(_write(tmp_path, "order.bvh", text)).forward_kinematics()
    np.testing.assert_allclose(p[0, 1], expected, atol=1e-12)


def test_bvh_position_channels_replace_offset_on_any_joint(tmp_path):
    text = """HIERARCHY
ROOT r
{
  OFFSET 5 5 5
  CHANNELS 1 Yrotation
  JOINT slider
  {
    OFFSET 1 7 0
    CHANNELS 2 Xposition Zrotation
    End Site
    {
      OFFSET 1 0 0
    }
  }
}
MOTION
Frames: 1
Frame Time: 0.01
0 3 90
"""
    p = read_bvh(_write(tmp_path, "pos.bvh", text)).forward_kinematics()
    # root stays at its OFFSET (no position channel); the slider's x comes from its channel, y/z from its OFFSET
    np.testing.assert_allclose(p[0], [[5, 5, 5], [8, 12, 5], [8, 13, 5]], atol=1e-12)


TINY_ASF = """# a two-bone skeleton
:version 1.10
:name tiny
:units
  mass 1.0
  length 1.0
  angle deg
:documentation
  hand-written test skeleton
:root
   order TX TY TZ RX RY RZ
   axis XYZ
   position 0 0 0
   orientation 0 0 0
:bonedata
  begin
     id 1
     name up
     direction 0 1 0
     length 2
     axis 0 0 0 XYZ
    dof rz
    limits (-180.0 180.0)
  end
  begin
     id 2
     name side
     direction 1 0 0
     length 1
     axis 0 0 90 XYZ
    dof rx
    limits (-180.0 180.0)
  end
:hierarchy
  begin
    root up
    up side
  end
"""

TINY_AMC = """:FULLY-SPECIFIED
:DEGREES
1
root 10 0 0 0 0 0
up 0
side 0
2
root 0 0 0 0 0 0
up 90
side 0
3
root 0 0 0 0 0 0
up 0
side 90
"""


def test_asf_amc_forward_kinematics_known_positions(tmp_path):
    asf = _write(tmp_path, "tiny.asf", TINY_ASF)
    m = read_asf_amc(_write(tmp_path, "tiny_01.amc", TINY_AMC), asf, fps=30)
    assert m.names == ["root", "up", "side", "side_end"]  # a joint at each bone's start, plus the leaf's tip
    assert m.unit_mm == pytest.approx(25.4)  # :units length 1.0 -> inches
    p = m.forward_kinematics()
    np.testing.assert_allclose(p[0], [[10, 0, 0], [10, 0, 0], [10, 2, 0], [11, 2, 0]], atol=1e-12)
    # 'up' turned 90 deg about z: it points to -x, and carries 'side' along
    np.testing.assert_allclose(p[1], [[0, 0, 0], [0, 0, 0], [-2, 0, 0], [-2, 1, 0]], atol=1e-12)
    # 'side' rx = 90 about its local x axis, which its 'axis 0 0 90' turns onto world +y: C L C^-1 = Ry(90)
    np.testing.assert_allclose(p[2, 3], [0, 2, -1], atol=1e-12)


def test_asf_amc_matches_equivalent_bvh(tmp_path):
    """An ASF 'XYZ' bone is a BVH joint with 'Zrotation Yrotation Xrotation' channels."""
    rng = np.random.default_rng(0)
    angles = rng.uniform(-90, 90, size=(5, 3))
    asf = TINY_ASF.replace("dof rz", "dof rx ry rz").replace("axis 0 0 90 XYZ", "axis 0 0 0 XYZ")
    amc = ":DEGREES\n" + "".join(
        f"{i + 1}\nroot 1 2 3 0 0 0\nup {a[0]} {a[1]} {a[2]}\nside 0\n" for i, a in enumerate(angles)
    )
    m_asf = read_asf_amc(_write(tmp_path, "a.amc", amc), _write(tmp_path, "a.asf", asf))
    bvh = (
        "HIERARCHY\nROOT root\n{\n OFFSET 0 0 0\n CHANNELS 3 Xposition Yposition Zposition\n JOINT up\n {\n"
        "  OFFSET 0 0 0\n  CHANNELS 3 Zrotation Yrotation Xrotation\n  End Site\n  {\n   OFFSET 0 2 0\n  }\n }\n}\n"
        "MOTION\nFrames: 5\nFrame Time: 0.01\n" + "".join(f"1 2 3 {a[2]} {a[1]} {a[0]}\n" for a in angles)
    )
    m_bvh = read_bvh(_write(tmp_path, "a.bvh", bvh))
    np.testing.assert_allclose(
        m_asf.forward_kinematics()[:, m_asf.index("side")],
        m_bvh.forward_kinematics()[:, m_bvh.index("up_end")],
        atol=1e-9,
    )


def test_forward_kinematics_is_vectorized_composition():
    rng = np.random.default_rng(1)
    parents = [-1, 0, 1, 1]
    rot = euler_to_matrix(rng.uniform(-3, 3, size=(7, 4, 3)), "zyx")
    trans = rng.normal(size=(7, 4, 3))
    r, p = forward_kinematics(parents, rot, trans)
    for t in range(7):  # the same composition, one frame at a time
        g0, g1 = rot[t, 0], rot[t, 0] @ rot[t, 1]
        np.testing.assert_allclose(p[t, 3], trans[t, 0] + g0 @ trans[t, 1] + g1 @ trans[t, 3], atol=1e-12)
        np.testing.assert_allclose(r[t, 2], g1 @ rot[t, 2], atol=1e-12)


# ------------------------------------------------------------------------------------------------------------------
# Shipped CMU clips
# ------------------------------------------------------------------------------------------------------------------


def test_embedded_clips_are_listed_inside_the_project():
    assert {"01_01", "01_01_bvh", "02_01", "05_06", "11_01", "131_01", "131_02", "131_03"} <= set(CLIPS)
    assert CLIPS["01_01"]["description"].startswith("01_01 playground")
    root = data_dir().resolve()
    for c in CLIPS.values():
        assert c["path"].is_file() and c["path"].resolve().is_relative_to(root)
        assert c["format"] in ("bvh", "amc") and c["fps"] == 120
        assert (c["skeleton"] is not None) == (c["format"] == "amc")
    assert (root / "mocap_cmu" / "PROVENANCE.txt").is_file()


def test_data_dir_env_override(tmp_path, monkeypatch):
    (tmp_path / "mocap_cmu").mkdir()
    (tmp_path / "mocap_cmu" / "tiny.bvh").write_text(TINY_BVH)
    (tmp_path / "mocap_cmu" / "clips.tsv").write_text(
        "id\tsubject\tformat\tpath\tskeleton\tfps\tdescription\nt_01\t0\tbvh\ttiny.bvh\t\t50\ttiny test\n"
    )
    monkeypatch.setenv("LT_DATA_DIR", str(tmp_path))
    assert data_dir() == tmp_path
    [clip] = list_embedded_clips()
    assert clip["id"] == "t_01" and clip["path"] == tmp_path / "mocap_cmu" / "tiny.bvh"
    assert clip["description"] == "t_01 tiny test"


@pytest.mark.parametrize("clip_id", sorted(CLIPS))
def test_parse_each_shipped_clip(clip_id, clips):
    c = CLIPS[clip_id]
    m = read_bvh(c["path"]) if c["format"] == "bvh" else read_asf_amc(c["path"], c["skeleton"])
    header = c["path"].read_text().split("Frames:")[1].split()[0] if c["format"] == "bvh" else None
    if header is not None:
        assert m.n_frames == int(header)
    assert m.fps == 120.0 and m.unit_mm == pytest.approx(56.444, abs=1e-3)
    assert m.n_joints >= 31 and np.isfinite(m.forward_kinematics()).all()
    joints, meta = clips[clip_id]
    assert joints.dtype == np.float32 and joints.shape == (meta["n_frames"], 17, 3)
    assert meta["n_frames"] == m.n_frames - int(meta["dropped_rest_frame"])
    assert meta["joint_names"] == list(H36M_JOINTS) and set(meta["mapping"]) == set(H36M_JOINTS)


def test_bvh_and_amc_of_trial_01_01_agree(clips):
    """01_01.bvh is a conversion of 01.asf + 01_01.amc (same capture), with a rest frame prepended and the ASF's
    thorax bone left out: lower body and spine coincide, the upper body is shifted by the thorax bone."""
    bvh, meta_bvh = clips["01_01_bvh"]
    amc, meta_amc = clips["01_01"]
    assert meta_bvh["dropped_rest_frame"] and not meta_amc["dropped_rest_frame"]
    assert bvh.shape == amc.shape == (2751, 17, 3)
    assert meta_bvh["floor_offset_mm"] == pytest.approx(meta_amc["floor_offset_mm"], abs=0.1)
    diff = bvh.astype(np.float64) - amc
    lower = [J[n] for n in ("Pelvis", "RHip", "RKnee", "RAnkle", "LHip", "LKnee", "LAnkle", "Spine")]
    upper = [J[n] for n in ("Thorax", "Neck", "Head", "RShoulder", "RElbow", "RWrist", "LShoulder", "LElbow", "LWrist")]
    assert np.abs(diff[:, lower]).max() < 0.5  # mm (float32 output, 4-decimal BVH angles)
    shift = diff[:, upper]  # one rigid translation of the whole upper body per frame ...
    assert np.abs(shift - shift.mean(axis=1, keepdims=True)).max() < 0.5
    thorax_mm = 2.06488 * CMU_MM_PER_UNIT  # ... by the thorax bone of 01.asf (length 2.06488 units)
    np.testing.assert_allclose(np.linalg.norm(shift, axis=-1), thorax_mm, atol=0.5)


def test_rest_frame_detected_only_where_present():
    for cid, c in CLIPS.items():
        if c["format"] == "bvh":
            assert has_rest_frame(read_bvh(c["path"])) == (cid == "01_01_bvh")


@pytest.mark.parametrize("clip_id", sorted(CLIPS))
def test_retargeted_bone_lengths_constant_and_plausible(clip_id, clips):
    joints, _ = clips[clip_id]
    for (a, b), (lo, hi) in RIGID_BONES.items():
        length = np.linalg.norm(joints[:, J[a]] - joints[:, J[b]], axis=-1).astype(np.float64)
        assert length.std() < 1.0, (a, b)
        assert lo < length.mean() < hi, (a, b, length.mean())
    # the pelvis is the midpoint of the hips, whose distance CMU's rotating hip joints change a little (05_06: 161 +-
    # 7 mm), so it is checked for plausibility only
    hips = np.linalg.norm(joints[:, J["RHip"]] - joints[:, J["LHip"]], axis=-1)
    assert 120 < hips.mean() < 400 and hips.std() < 0.1 * hips.mean(), (hips.mean(), hips.std())
    all_bones = np.linalg.norm(joints[:, [p for p, _ in H36M_BONES]] - joints[:, [c for _, c in H36M_BONES]], axis=-1)
    assert (all_bones.min(axis=0) > 20).all()  # no collapsed bone


@pytest.mark.parametrize("clip_id", [*sorted(CLIPS), "salsa_14", "martial_07", "indian_06"])
def test_pelvis_is_the_midpoint_of_the_hips_in_every_source(clip_id, clips):
    """CMU BVH of both namings, CMU ASF/AMC and the shipped Daz/Poser clips all place the pelvis as Human3.6M does,
    between the hip joints (their roots lie from 28 mm below to 107 mm above it)."""
    joints = clips[clip_id][0] if clip_id in clips else load_clip(clip_id)[0]
    mid_hips = (joints[:, J["RHip"]] + joints[:, J["LHip"]]) / 2
    # (the Daz clips ship as whole millimetres: up to 1 mm of rounding between the three joints)
    np.testing.assert_allclose(joints[:, J["Pelvis"]], mid_hips, atol=0.05 if clip_id in clips else 1.0)


def test_pelvis_mapping_takes_the_hip_pair_else_the_root():
    resolved = resolve_mapping(
        ["Hips", "LeftUpLeg", "RightUpLeg"], {j: "Hips" for j in J if "Hip" not in j and j != "Pelvis"}
    )
    assert resolved["Pelvis"] == {2: 0.5, 1: 0.5}
    only_root = resolve_mapping(
        ["Hips", "RThighBone", "LThighBone"],
        {"RHip": "RThighBone", "LHip": "LThighBone", **{j: "Hips" for j in J if "Hip" not in j and j != "Pelvis"}},
    )
    assert only_root["Pelvis"] == {0: 1.0}  # no recognised hip pair: the root


@pytest.mark.parametrize("clip_id", sorted(CLIPS))
def test_subject_stands_on_the_floor(clip_id, clips):
    joints, meta = clips[clip_id]
    z = joints[..., 2]
    ankles = z[:, [J["RAnkle"], J["LAnkle"]]].min(axis=1)
    assert 20 < ankles.min() < 200  # ankle height above the lowest sole/toe point
    assert np.median(ankles) < 250  # some foot is near the floor most of the time
    assert 700 < np.median(z[:, J["Pelvis"]]) < 1200  # upright, Z up
    assert np.median(z[:, J["Head"]] - z[:, J["Pelvis"]]) > 400
    assert np.median(z[:, J["Head"]] - z[:, J["Neck"]]) > 50


def test_floor_is_lowest_foot_point():
    c = CLIPS["131_03"]
    m = read_bvh(c["path"])
    joints, info = retarget_to_h36m(m)
    raw, _ = retarget_to_h36m(m, floor=False)
    np.testing.assert_allclose(raw[..., 2] - joints[..., 2], info["floor_offset_mm"])
    feet = m.descendants(m.index("RightAnkle")) + m.descendants(m.index("LeftAnkle"))
    assert (m.positions_mm()[:, feet, 2] - info["floor_offset_mm"]).min() == pytest.approx(0.0, abs=1e-9)


# ------------------------------------------------------------------------------------------------------------------
# Mapping, resampling
# ------------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name, expected",
    [
        ("mixamorig:LeftUpLeg", "left_upleg"),
        ("LeftUpLeg", "left_upleg"),
        ("UpLeg_L", "left_upleg"),
        ("upleg.R", "right_upleg"),
        ("LHipJoint", "left_hipjoint"),
        ("lfemur", "left_femur"),
        ("rradius", "right_radius"),
        ("lowerback", "lowerback"),
        ("root", "root"),
        ("Neck1", "neck1"),
        ("Head_end", "headend"),
        ("mixamorig:HeadTop_End", "headtopend"),
        ("RThumb", "right_thumb"),
        ("Hips", "hips"),
        ("L_Hip", "left_hip"),
    ],
)
def test_normalize_joint_name(name, expected):
    assert normalize_joint_name(name) == expected


def test_mapping_resolves_mixamo_names():
    sides = [
        f"{s}{b}"
        for s in ("Left", "Right")
        for b in ("UpLeg", "Leg", "Foot", "ToeBase", "Shoulder", "Arm", "ForeArm", "Hand")
    ]
    names = [f"mixamorig:{n}" for n in ["Hips", "Spine", "Spine1", "Spine2", "Neck", "Head", "HeadTop_End", *sides]]
    resolved = resolve_mapping(names)
    pick = {j: sorted(names[i].split(":")[1] for i in w) for j, w in resolved.items()}
    assert pick["LHip"] == ["LeftUpLeg"] and pick["RKnee"] == ["RightLeg"] and pick["RAnkle"] == ["RightFoot"]
    assert pick["LShoulder"] == ["LeftArm"] and pick["RElbow"] == ["RightForeArm"] and pick["LWrist"] == ["LeftHand"]
    assert pick["Thorax"] == ["Neck"] and pick["Head"] == ["HeadTop_End"] and pick["Neck"] == ["Head", "Neck"]


def test_user_mapping_overrides_and_missing_joints_are_listed(tmp_path):
    c = CLIPS["01_01_bvh"]
    default, _ = load_clip(c["path"])
    custom, meta = load_clip(
        c["path"],
        mapping={"Head": "Head", "Neck/Nose": ["Neck1", "Head"], "RWrist": {"RightHand": 0.5, "RightFingerBase": 0.5}},
    )
    assert meta["mapping"]["Head"] == {"Head": 1.0}
    np.testing.assert_array_equal(custom[:, J["Neck"]], default[:, J["Neck"]])
    assert np.linalg.norm(custom[:, J["Head"]] - default[:, J["Head"]], axis=-1).min() > 50
    with pytest.raises(ValueError, match="unknown Human3.6M joint"):
        load_clip(c["path"], mapping={"Nose tip": "Head"})
    with pytest.raises(ValueError, match="sum to 1"):
        load_clip(c["path"], mapping={"Head": {"Head": 2.0}})
    with pytest.raises(RetargetError) as err:
        load_clip(_write(tmp_path, "tiny.bvh", TINY_BVH))
    for joint in ("RAnkle", "LKnee", "Thorax", "Head"):
        assert joint in str(err.value)
    assert "Pelvis" not in str(err.value).split("tried")[0]  # 'hips' maps


def test_resample_linear():
    x = np.arange(13, dtype=np.float64)[:, None] * [1.0, -2.0]  # a ramp at 120 Hz over 0.1 s
    y = resample(x, 120, 50)
    assert y.shape == (6, 2)  # 0, 20, ..., 100 ms
    np.testing.assert_allclose(y[:, 0], np.arange(6) * 120 / 50)
    np.testing.assert_allclose(resample(x, 120, 120), x)
    joints, meta = load_clip("02_01", fps=25)  # an embedded clip by its id
    assert meta["fps"] == 25 and meta["source_fps"] == 120
    assert joints.shape[0] == int((343 - 1) * 25 / 120) + 1 and joints.dtype == np.float32


# ------------------------------------------------------------------------------------------------------------------
# Errors name the file (and line)
# ------------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "old, new, message",
    [
        ("0 0 0 90 0 0 0 0 90", "0 0 0 90 0 0 0 0", "line 20.*has 8 values.*9 channels"),
        ("CHANNELS 3 Zrotation Yrotation Xrotation", "CHANNELS 3 Zrotation Yrotation", "line 10.*'End'"),
        ("Zrotation Yrotation Xrotation\n", "Zrotation Yrotation Wrotation\n", "line 5.*'Wrotation'"),
        ("Frames: 2", "Frames: 3", "'Frames: 3' but 2 frame lines"),
        ("0 0 0 90 0 0 0 0 90", "0 0 0 90 0 0 0 0 x", "line 20.*not a number"),
        ("MOTION", "MOTON", "no MOTION"),
    ],
)
def test_malformed_bvh_errors_name_file_and_line(tmp_path, old, new, message):
    assert old in TINY_BVH
    path = _write(tmp_path, "broken.bvh", TINY_BVH.replace(old, new, 1))
    with pytest.raises(MotionFormatError, match=message) as err:
        read_bvh(path)
    assert str(path) in str(err.value) and err.value.path == str(path)


def test_malformed_asf_amc_errors_name_file_and_line(tmp_path):
    asf = _write(tmp_path, "tiny.asf", TINY_ASF)
    cases = [
        (TINY_AMC.replace("side 90", "elbow 90"), "line 14.*unknown joint 'elbow'"),
        (TINY_AMC.replace("up 90", "up 90 1"), "line 9.*'up' has 2 values.*1 dof"),
        (TINY_AMC.replace("side 0\n2", "2"), "line 3.*frame 1 lacks bones \\['side'\\]"),
        ("", "no frames"),
    ]
    for text, message in cases:
        amc = _write(tmp_path, "tiny_01.amc", text)
        with pytest.raises(MotionFormatError, match=message) as err:
            read_asf_amc(amc, asf)
        assert str(amc) in str(err.value)
    bad_asf = _write(tmp_path, "bad.asf", TINY_ASF.replace("up side", "up elbow"))
    with pytest.raises(MotionFormatError, match=f"{bad_asf}, line 37.*unknown bone 'elbow'"):
        read_asf_amc(_write(tmp_path, "x.amc", TINY_AMC), bad_asf)
    with pytest.raises(MotionFormatError, match="^t.asf, line 16: bone block lacks 'length'"):
        parse_asf(TINY_ASF.replace("     length 2\n", ""), source="t.asf")


def test_missing_files_and_unknown_types(tmp_path):
    with pytest.raises(MotionFormatError, match="nope.bvh: file not found"):
        read_bvh(tmp_path / "nope.bvh")
    with pytest.raises(MotionFormatError, match="nope.asf: file not found"):
        read_asf_amc(_write(tmp_path, "a.amc", TINY_AMC), tmp_path / "nope.asf")
    (tmp_path / "sub").mkdir()
    with pytest.raises(MotionFormatError, match="lonely_01.amc: no skeleton found"):
        load_clip(_write(tmp_path / "sub", "lonely_01.amc", TINY_AMC))
    with pytest.raises(MotionFormatError, match="unknown motion file type '.c3d'"):
        load_clip(tmp_path / "clip.c3d")
    with pytest.raises(MotionFormatError, match="pass the .amc"):
        load_clip(_write(tmp_path, "tiny.asf", TINY_ASF))
    # the .asf is found beside the .amc by CMU naming (<subject>.asf for <subject>_<trial>.amc)
    _write(tmp_path, "07.asf", TINY_ASF)
    with pytest.raises(RetargetError):
        load_clip(_write(tmp_path, "07_01.amc", TINY_AMC))


def test_parse_bvh_from_text_names_source():
    with pytest.raises(MotionFormatError, match="^clip.bvh, line 1: expected HIERARCHY"):
        parse_bvh("HIERARCHIE\nMOTION\n", source="clip.bvh")


def test_asf_radians_and_length_dof(tmp_path):
    asf = TINY_ASF.replace("angle deg", "angle rad").replace("axis 0 0 90 XYZ", "axis 0 0 1.5707963267948966 XYZ")
    asf = asf.replace("dof rz", "dof rz l")
    amc = ":RADIANS\n1\nroot 0 0 0 0 0 0\nup 1.5707963267948966 1.0\nside 1.5707963267948966\n"
    m = read_asf_amc(_write(tmp_path, "r.amc", amc), _write(tmp_path, "r.asf", asf))
    # 'up' (length 2 + l = 3) turned to -x; the tip of 'side' is Rz(90) @ Ry(90) @ (1, 0, 0) = (0, 0, -1) from its start
    np.testing.assert_allclose(m.forward_kinematics()[0, 2:], [[-3, 0, 0], [-3, 0, -1]], atol=1e-12)
