"""Daz/Poser BVH skeletons: reading, units, rest frames, mapping to Human3.6M-17, errors.

Fixtures: ``tests/fixtures/mocap_cmu_daz`` (see its PROVENANCE.txt): the first 24 frames of one of the 43 source
files, byte for byte, and BVH text generated here in the same dialect (its HIERARCHY, our own frames).
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from lt_core.data.daz import BLEND_FRAMES, HEAD_TOP_MM, add_head_top, check_daz_skeleton, is_daz_skeleton
from lt_core.data.motion import CMU_MM_PER_UNIT, MotionFormatError, parse_bvh, read_bvh
from lt_core.data.restpose import detect_rest_frames, rest_pose_distance
from lt_core.data.retarget import H36M_JOINTS, RetargetError, list_embedded_clips, load_clip, retarget_to_h36m
from lt_core.data.units import (
    UnitError,
    check_unit,
    detect_unit,
    leg_joints_from_mapping,
    leg_length,
    parse_unit,
    unit_name,
)

FIXTURES = Path(__file__).parent / "fixtures" / "mocap_cmu_daz"
EXCERPT = FIXTURES / "salsa_01_first24.bvh"
J = {name: i for i, name in enumerate(H36M_JOINTS)}


def _header() -> str:
    """The excerpt's HIERARCHY and MOTION keyword (CRLF line ends as in the source)."""
    text = EXCERPT.read_bytes().decode()
    return text[: text.index("Frames:")]


def _daz_text(frames: list[np.ndarray], frame_time: float = 0.00833333) -> str:
    """BVH text in the Daz dialect with the given channel rows (132 values each)."""
    lines = [" ".join(f"{v:g}" for v in row) for row in frames]
    return _header() + f"Frames:\t{len(frames)}\r\nFrame Time:\t{frame_time}\r\n" + "\n".join(lines) + "\n"


def _channel(motion, name: str) -> int:
    return motion.channel_names.index(name)


@pytest.fixture(scope="module")
def excerpt():
    return read_bvh(EXCERPT)


# ------------------------------------------------------------------------------------------------------------------
# Reading the dialect, mapping, exact positions
# ------------------------------------------------------------------------------------------------------------------


def test_excerpt_is_read_unchanged(excerpt):
    raw = EXCERPT.read_bytes()
    assert b"\r\n" in raw and b"\n-" in raw  # mixed CRLF / LF line ends, as in the source files
    assert excerpt.n_frames == 24 and excerpt.fps == 120.0 and excerpt.n_joints == 57
    assert len(excerpt.channel_names) == 132 and excerpt.channel_names[3:6] == [
        "hip:Zrotation",
        "hip:Yrotation",
        "hip:Xrotation",
    ]
    assert is_daz_skeleton(excerpt.names)
    assert not any(is_daz_skeleton(read_bvh(c["path"]).names) for c in list_embedded_clips() if c["format"] == "bvh")
    np.testing.assert_allclose(excerpt.channels[0, :3], [-71.6924, 85.1887, 0.966493])


def test_daz_names_map_to_h36m(excerpt):
    joints, info = retarget_to_h36m(replace(excerpt, unit_mm=10.0))
    m = info["mapping"]
    assert m["RShoulder"] == {"rShldr": 1.0} and m["LElbow"] == {"lForeArm": 1.0} and m["RWrist"] == {"rHand": 1.0}
    assert m["RHip"] == {"rThigh": 1.0} and m["LKnee"] == {"lShin": 1.0} and m["RAnkle"] == {"rFoot": 1.0}
    assert m["Pelvis"] == {"rThigh": 0.5, "lThigh": 0.5} and m["Thorax"] == {"neck": 1.0}  # mid-hips, not the root
    assert m["Spine"] == {"abdomen": 0.5, "chest": 0.5}
    assert m["Neck"] == {"head": 0.5, "leftEye": 0.25, "rightEye": 0.25}
    assert m["Head"] == {"head_top": 1.0}
    assert joints.shape == (24, 17, 3)


def test_retargeted_positions_by_hand():
    """Root at (10, 90, -5) cm and no rotation: every joint is the root plus the HIERARCHY offsets (typed in from
    the file); then the right shoulder turned +90 degrees about Z hangs the arm straight down."""
    base = np.zeros(132)
    base[:3] = [10.0, 90.0, -5.0]
    down = base.copy()
    m0 = parse_bvh(_daz_text([base]), unit_mm=10.0)
    down[_channel(m0, "rShldr:Zrotation")] = 90.0
    motion = parse_bvh(_daz_text([base, down]), source="generated.bvh", unit_mm=10.0)
    joints, _ = retarget_to_h36m(motion, floor=False)

    def world(x, y, z):  # file cm, Y up -> world mm, Z up
        return np.array([x, -z, y]) * 10.0

    root = np.array([10.0, 90.0, -5.0])
    r_hip = root + [-8.77824, 4.35084, 1.2192] + [0, -1.70687, -2.19456]
    l_hip = root + [8.77824, 4.35084, 1.2192] + [0, -1.70687, -2.19456]
    chest = root + [0, 20.6881, -0.73152] + [0, 11.7043, -0.48768]
    r_shoulder = chest + [-2.68224, 19.2634, -4.8768] + [-8.77824, -1.95073, 1.46304]
    head = chest + [0, 22.1894, -2.19456] + [-0.24384, 7.07133, 1.2192]
    nose = head + 0.25 * np.array([4.14528, 8.04674, 8.04672]) + 0.25 * np.array([-3.6576, 8.04674, 8.04672])
    expected = {
        "Pelvis": (r_hip + l_hip) / 2,  # 2.6 cm above and 1 cm behind the root "hip"
        "RHip": r_hip,
        "LHip": l_hip,
        "RShoulder": r_shoulder,
        "Neck": nose,
        "RKnee": r_hip + [0, -36.8199, 0.73152],
        "Head": head + [0, HEAD_TOP_MM / 10.0, 0],
        "Spine": root + [0, 20.6881, -0.73152] + 0.5 * np.array([0, 11.7043, -0.48768]),
        "RElbow": r_shoulder + [-28.1742, -1.7115, 0.48768],
    }
    for name, p in expected.items():
        np.testing.assert_allclose(joints[0, J[name]], world(*p), atol=1e-6, err_msg=name)
    # frame 1: Rz(90 deg) (x, y, z) -> (-y, x, z): the forearm offset (-28.17, -1.71, 0.49) points down
    np.testing.assert_allclose(joints[1, J["RElbow"]], world(*(r_shoulder + [1.7115, -28.1742, 0.48768])), atol=1e-6)
    np.testing.assert_allclose(
        joints[1, J["RWrist"]] - joints[1, J["RElbow"]], world(-0.773209, -22.5879, 7.07136), atol=1e-6
    )
    np.testing.assert_allclose(joints[1, J["LElbow"]], joints[0, J["LElbow"]], atol=1e-9)  # other side untouched


def test_left_and_right_are_the_performers(excerpt):
    """The figure faces -y (file +z: the eyes are in front of the head): its left side must be at +x, so
    (left x up) points forward, towards the nose point."""
    joints, _ = load_clip(EXCERPT, drop_rest_frame=False)
    left = joints[:, J["LShoulder"]] - joints[:, J["RShoulder"]]
    up = joints[:, J["Thorax"]] - joints[:, J["Pelvis"]]
    forward = joints[:, J["Neck"]] - joints[:, J["Thorax"]]
    forward -= (forward * up).sum(-1, keepdims=True) * up / (up * up).sum(-1, keepdims=True)
    assert ((np.cross(left, up) * forward).sum(-1) > 0).all()
    assert joints[0, J["LShoulder"], 0] > joints[0, J["RShoulder"], 0]
    assert joints[0, J["Neck"], 1] < joints[0, J["Head"], 1]  # the nose point is in front (-y) of the head top


# ------------------------------------------------------------------------------------------------------------------
# Units
# ------------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name, mm",
    [("cm", 10.0), ("Centimetres", 10.0), ("m", 1000.0), ("inch", 25.4), ("cmu", CMU_MM_PER_UNIT), (2.5, 2.5)],
)
def test_parse_unit(name, mm):
    assert parse_unit(name) == pytest.approx(mm)


def test_parse_unit_errors():
    with pytest.raises(ValueError, match="unknown length unit 'furlong'"):
        parse_unit("furlong")
    with pytest.raises(ValueError, match="positive"):
        parse_unit(-1.0)
    assert unit_name(10.0) == "cm" and unit_name(CMU_MM_PER_UNIT) == "cmu" and unit_name(7.0) == "custom"


@pytest.mark.parametrize(
    "scale, unit", [(1.0, "cm"), (10.0, "mm"), (0.01, "m"), (1 / 2.54, "in"), (10.0 / CMU_MM_PER_UNIT, "cmu")]
)
def test_unit_detected_from_leg_length(excerpt, scale, unit):
    """The same skeleton written in other units is recognised from its leg length (822 mm)."""
    legs = {
        "R": tuple(excerpt.index(n) for n in ("rThigh", "rShin", "rFoot")),
        "L": tuple(excerpt.index(n) for n in ("lThigh", "lShin", "lFoot")),
    }
    scaled = replace(excerpt, offsets=excerpt.offsets * scale, _cache={})
    found = detect_unit(scaled, legs)
    assert found.unit == unit and not found.stated
    assert found.leg_length_mm == pytest.approx(822.0, abs=1.0)  # 36.82 + 45.4 cm: thigh + shin of the figure
    assert leg_length(scaled, legs) == pytest.approx(82.233 * scale, rel=1e-4)


def test_unit_detection_errors_and_stated_units(excerpt, tmp_path):
    legs = {
        "R": tuple(excerpt.index(n) for n in ("rThigh", "rShin", "rFoot")),
        "L": tuple(excerpt.index(n) for n in ("lThigh", "lShin", "lFoot")),
    }
    tiny = replace(excerpt, offsets=excerpt.offsets / 16.0, _cache={})  # a 5.1-unit leg: no unit makes it a person
    with pytest.raises(UnitError) as err:
        detect_unit(tiny, legs)
    msg = str(err.value)
    assert str(EXCERPT) in msg and "5.14 file units" in msg and "state the unit" in msg and "cm: 51 mm" in msg
    assert check_unit(excerpt, legs, "cm").stated
    with pytest.raises(
        UnitError,
        match=r"stated unit 'cmu' \(56.4444 mm\) makes the rest-pose leg 4642 mm long.*"
        r"points to 'cm'",
    ):
        check_unit(excerpt, legs, "cmu")
    # load_clip: detected by default, a stated unit checked; read_bvh's CMU default is refused when retargeting
    _, meta = load_clip(EXCERPT)
    assert meta["unit"] == "cm" and meta["unit_detected"] and meta["unit_mm"] == 10.0
    _, meta = load_clip(EXCERPT, unit_mm=10)
    assert meta["unit"] == "cm" and not meta["unit_detected"]
    with pytest.raises(UnitError, match="stated unit 'm'"):
        load_clip(EXCERPT, unit_mm="m")
    with pytest.raises(UnitError, match=str(EXCERPT).replace("\\", "\\\\") + ".*4642 mm"):
        retarget_to_h36m(read_bvh(EXCERPT))
    np.testing.assert_array_equal(
        leg_joints_from_mapping(
            {
                "RHip": {3: 0.2, 4: 0.8},
                "RKnee": {5: 1.0},
                "RAnkle": {6: 1.0},
                "LHip": {7: 1.0},
                "LKnee": {8: 1.0},
                "LAnkle": {9: 1.0},
            }
        )["R"],
        (4, 5, 6),
    )


def test_cmu_clips_detect_the_cmu_unit():
    for c in list_embedded_clips():
        if c["format"] == "bvh":
            _, meta = load_clip(c["path"])
            assert meta["unit"] == "cmu" and meta["unit_mm"] == CMU_MM_PER_UNIT, c["id"]


# ------------------------------------------------------------------------------------------------------------------
# Rest frame, blend-in, frame rate
# ------------------------------------------------------------------------------------------------------------------


def test_rest_frame_detected_and_dropped(excerpt):
    found = detect_rest_frames(excerpt)
    assert found.count == 1 and found.jump_ratio > 10 and "1 leading rest-pose frame" in found.reason
    assert found.distance[0] < 0.02 < found.distance[1]  # frame 0: 0.7 % of the body height from the rest pose
    joints, meta = load_clip(EXCERPT)
    assert meta["dropped_rest_frame"] and meta["dropped_rest_frames"] == 1 + BLEND_FRAMES == 8
    assert meta["source_n_frames"] == 24 and joints.shape == (16, 17, 3)
    kept, _ = load_clip(EXCERPT, drop_rest_frame=False)
    assert kept.shape[0] == 24
    np.testing.assert_allclose(joints - joints[:, :1], (kept - kept[:, :1])[8:], atol=1e-3)
    # the frames dropped are the rest pose and the ease out of it: the step out of frame 8 is ordinary
    steps = np.linalg.norm(np.diff(kept, axis=0), axis=-1).mean(-1)
    assert steps[:5].min() > 3 * np.median(steps[8:]) and steps[8] < 2 * np.median(steps[8:])


def test_rest_frame_not_found_where_there_is_none(excerpt):
    for c in list_embedded_clips():
        if c["format"] == "bvh":
            assert detect_rest_frames(read_bvh(c["path"])).count == 0, c["id"]
    # a capture that starts in the rest pose and leaves it smoothly (no jump) is kept
    target = excerpt.channels[8]  # the first captured pose, reached from the rest pose over 40 even steps
    ramp = [np.r_[target[:3], target[3:] * (k / 40)] for k in range(41)]
    motion = parse_bvh(_daz_text(ramp))
    found = detect_rest_frames(motion)
    assert found.count == 0 and "smoothly" in found.reason
    assert rest_pose_distance(motion)[0] < 0.01
    still = parse_bvh(_daz_text([ramp[0]] * 5))
    assert detect_rest_frames(still).count == 0 and "still clip" in detect_rest_frames(still).reason
    assert "fewer than 3" in detect_rest_frames(still.select_frames(slice(0, 2))).reason


def test_stated_frame_rate_replaces_the_header():
    joints60, meta = load_clip(EXCERPT, source_fps=60)
    assert meta["header_fps"] == 120.0 and meta["source_fps"] == 60.0 and meta["fps"] == 60.0
    joints30, meta30 = load_clip(EXCERPT, fps=30, source_fps=60)
    assert meta30["fps"] == 30.0 and joints30.shape[0] == 8
    np.testing.assert_array_equal(joints30, joints60[::2])  # 60 -> 30 Hz keeps every other frame exactly
    _, meta120 = load_clip(EXCERPT)
    assert meta120["source_fps"] == 120.0 == meta120["header_fps"]


# ------------------------------------------------------------------------------------------------------------------
# Skeletons that cannot be mapped
# ------------------------------------------------------------------------------------------------------------------


def test_daz_skeleton_missing_joints_named(tmp_path):
    text = (
        _daz_text([np.zeros(132)] * 3).replace("JOINT rShldr", "JOINT rUpperArm").replace("JOINT lFoot", "JOINT lToes")
    )
    path = tmp_path / "broken_daz.bvh"
    path.write_text(text)
    with pytest.raises(MotionFormatError) as err:
        load_clip(path)
    msg = str(err.value)
    assert msg.startswith(str(path)) and "Daz/Poser skeleton" in msg and "['rShldr', 'lFoot']" in msg
    with pytest.raises(MotionFormatError, match="missing joints"):
        check_daz_skeleton(read_bvh(path))
    no_head = replace(read_bvh(EXCERPT), names=[n if n != "head" else "skull" for n in read_bvh(EXCERPT).names])
    with pytest.raises(MotionFormatError, match="no 'head' joint"):
        add_head_top(no_head)


def test_unknown_skeleton_error_names_file_and_joints(tmp_path):
    text = _daz_text([np.zeros(132)] * 3).replace("ROOT hip", "ROOT torso").replace("JOINT rThigh", "JOINT rLegA")
    path = tmp_path / "strange.bvh"
    path.write_text(text)
    with pytest.raises(RetargetError) as err:
        load_clip(path)
    msg = str(err.value)
    assert msg.startswith(str(path)) and "could not map Human3.6M joints ['RHip', 'Pelvis']" in msg
    joints, meta = load_clip(path, mapping={"RHip": "rLegA", "Pelvis": "torso"})  # fixed by naming them
    assert meta["mapping"]["RHip"] == {"rLegA": 1.0} and joints.shape[1:] == (17, 3)
