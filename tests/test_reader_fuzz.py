"""Fuzzing every text reader: truncated, empty, binary, UTF-16, corrupted and malformed files.

Each reader gets a valid file, then deterministic mutations of it. A reader may accept a mutation (many edits
leave a valid file) but may only fail with one of the project's own exceptions whose message names the file:
never a bare ``UnicodeDecodeError``, ``ValueError`` from ``float()``, ``KeyError`` or ``IndexError``.
"""

from __future__ import annotations

import json
import random
import re
import shutil
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from test_calibration_formats import anipose_toml, easymocap_files, rig
from test_motion import TINY_AMC, TINY_ASF, TINY_BVH

from lt_core.data.calibration import (
    load_panoptic_calibration,
    load_rig_json,
    load_toml_calibration,
    save_panoptic_calibration,
    save_rig_json,
)
from lt_core.data.calibration_formats import load_anipose_calibration, load_easymocap_cameras
from lt_core.data.motion import MotionFormatError, read_asf_amc, read_bvh
from lt_core.data.opencv_yaml import read_opencv_yaml
from lt_core.data.panoptic import PanopticFormatError, read_panoptic_bodies
from lt_core.data.pose2sim import Pose2SimFormatError, read_openpose_json, read_trc
from lt_core.data.videopose3d import VIDEOPOSE3D_CAMERAS_PATH, videopose3d_cameras
from lt_core.train.config import TrainConfig, load_config

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "data" / "pose2sim_balancing"
NUMBER = re.compile(rb"-?\d+\.?\d*(?:[eE][-+]?\d+)?")


def mutations(data: bytes, seed: int) -> list[tuple[str, bytes]]:
    """Deterministic damaged versions of ``data``."""
    rng = random.Random(seed)
    out = [
        ("empty", b""),
        ("utf16", data.decode("utf-8").encode("utf-16")),
        ("binary", rng.randbytes(300)),
        ("nul bytes", data[: len(data) // 2] + b"\x00" * 64),
    ]
    for k in range(6):
        out.append((f"truncated {k}", data[: rng.randrange(1, max(2, len(data)))]))
    for k in range(5):
        pos = rng.randrange(len(data))
        out.append((f"byte {k}", data[:pos] + bytes([rng.randrange(256)]) + data[pos + 1 :]))
    numbers = list(NUMBER.finditer(data))
    for k in range(7):
        if not numbers:
            break
        m = rng.choice(numbers)
        junk = rng.choice([b"abc", b"", b"1e999", b"nan", b"--1", b"0x1f", b"[1, 2]", b'"7"', b"1.5"])
        out.append((f"number {k}", data[: m.start()] + junk + data[m.end() :]))
    lines = data.splitlines(keepends=True)
    for k in range(4):
        i = rng.randrange(len(lines))
        out.append((f"line dropped {k}", b"".join(lines[:i] + lines[i + 1 :])))
    i = rng.randrange(len(lines))
    out.append(("line doubled", b"".join(lines[: i + 1] + lines[i:])))
    return out


def _openpose(folder: Path) -> Path:
    people = [{"person_id": [-1], "pose_keypoints_2d": [float(v) for v in np.arange(75) * 1.5]}]
    p = folder / "frame_000001.json"
    p.write_text(json.dumps({"version": 1.3, "people": people}))
    return p


def _panoptic_bodies(folder: Path) -> Path:
    p = folder / "body3DScene_00000001.json"
    p.write_text(
        json.dumps(
            {
                "version": 0.7,
                "univTime": 1.0,
                "fpsType": "hd_29_97",
                "bodies": [{"id": 0, "joints19": [float(v) for v in np.linspace(-50, 150, 76)]}],
            }
        )
    )
    return p


def _write(folder: Path, name: str, text: str) -> Path:
    p = folder / name
    p.write_text(text)
    return p


def _copy(src: Path, folder: Path) -> Path:
    return Path(shutil.copy(src, folder / src.name))


def _trc_head(folder: Path) -> Path:
    """The shipped TRC cut to 12 frames (header updated): small enough to fuzz often."""
    lines = (DATA / "pose-3d" / "S00_P00_T01_BalancingTrial_0-100.trc").read_text().splitlines()
    keys, values = lines[1].split("\t"), lines[2].split("\t")
    values = [("12" if k.strip() in ("NumFrames", "OrigNumFrames") else v) for k, v in zip(keys, values)]
    lines[2] = "\t".join(values)
    return _write(folder, "cut.trc", "\n".join(lines[: 5 + 12]) + "\n")


# reader name -> (make a valid file in a folder, read it); the reader is called with the file to fuzz
CASES: dict[str, tuple[Callable[[Path], Path], Callable[[Path], object]]] = {
    "TRC": (_trc_head, read_trc),
    "OpenPose JSON": (_openpose, read_openpose_json),
    "Panoptic bodies JSON": (_panoptic_bodies, read_panoptic_bodies),
    "Panoptic calibration JSON": (
        lambda d: save_panoptic_calibration(d / "calibration.json", rig(2)),
        load_panoptic_calibration,
    ),
    "rig JSON": (lambda d: save_rig_json(d / "rig.json", rig(2)), load_rig_json),
    "Pose2Sim TOML": (lambda d: _copy(DATA / "calibration" / "Calib_qualisys.toml", d), load_toml_calibration),
    "anipose TOML": (
        lambda d: _write(d, "calibration.toml", anipose_toml(rig(2), ["cam_a", "cam_b"])),
        load_anipose_calibration,
    ),
    "OpenCV YAML": (lambda d: easymocap_files(d, rig(2))[0], read_opencv_yaml),
    "EasyMocap intri.yml": (
        lambda d: easymocap_files(d, rig(2))[0],
        lambda p: load_easymocap_cameras(p, p.parent / "extri.yml"),
    ),
    "EasyMocap extri.yml": (
        lambda d: easymocap_files(d, rig(2))[1],
        lambda p: load_easymocap_cameras(p.parent / "intri.yml", p),
    ),
    "BVH": (lambda d: _write(d, "tiny.bvh", TINY_BVH), read_bvh),
    "ASF": (
        lambda d: (_write(d, "t.amc", TINY_AMC), _write(d, "t.asf", TINY_ASF))[1],
        lambda p: read_asf_amc(p.parent / "t.amc", p),
    ),
    "AMC": (
        lambda d: (_write(d, "t.asf", TINY_ASF), _write(d, "t.amc", TINY_AMC))[1],
        lambda p: read_asf_amc(p, p.parent / "t.asf"),
    ),
    "VideoPose3D camera JSON": (lambda d: _copy(VIDEOPOSE3D_CAMERAS_PATH, d), lambda p: videopose3d_cameras("S9", p)),
    "train config JSON": (
        lambda d: _write(d, "config.json", TrainConfig(model="algebraic", epochs=2).to_json()),
        load_config,
    ),
}


@pytest.mark.parametrize("name", list(CASES))
def test_reader_fails_only_with_its_own_errors_naming_the_file(name, tmp_path):
    make, read = CASES[name]
    path = make(tmp_path)
    read(path)  # the valid file reads
    original = path.read_bytes()
    seed = sum(map(ord, name))
    accepted = 0
    for label, data in mutations(original, seed):
        path.write_bytes(data)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                read(path)
            accepted += 1
        except Exception as e:  # noqa: BLE001 - the point of the test
            assert type(e).__module__.startswith("lt_core.") or isinstance(e, NotImplementedError), (
                f"{name}, {label}: foreign {type(e).__name__}: {e}"
            )
            assert path.name in str(e), f"{name}, {label}: message does not name the file: {e}"
    assert accepted < len(mutations(original, seed))  # damage was noticed at least once


def test_trc_truncated_and_non_numbers_are_named(tmp_path):
    path = _trc_head(tmp_path)
    lines = path.read_text().splitlines()
    path.write_text("\n".join(lines[:-4]) + "\n")  # 4 frames lost at the end
    with pytest.raises(Pose2SimFormatError, match=r"cut\.trc: header says NumFrames = 12 but the file holds 8"):
        read_trc(path)
    cells = lines[7].split("\t")
    cells[4] = "1,25"
    path.write_text("\n".join(lines[:7] + ["\t".join(cells)] + lines[8:]) + "\n")
    with pytest.raises(Pose2SimFormatError, match=r"cut\.trc: line 8, column 5: '1,25' is not a number"):
        read_trc(path)


def test_utf16_and_binary_files_are_named_with_a_hint(tmp_path):
    path = _openpose(tmp_path)
    path.write_bytes(path.read_text().encode("utf-16"))
    with pytest.raises(Pose2SimFormatError, match=r"frame_000001\.json: OpenPose JSON is not UTF-8 text .*UTF-16"):
        read_openpose_json(path)
    toml = _copy(DATA / "calibration" / "Calib_qualisys.toml", tmp_path)
    toml.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(range(256)))
    with pytest.raises(Exception, match=r"Calib_qualisys\.toml: TOML calibration is not UTF-8 text .*binary"):
        load_toml_calibration(toml)


def test_panoptic_body_id_must_be_an_integer(tmp_path):
    path = _panoptic_bodies(tmp_path)
    doc = json.loads(path.read_text())
    doc["bodies"][0]["id"] = "seven"
    path.write_text(json.dumps(doc))
    with pytest.raises(PanopticFormatError, match=r"body 0 field 'id' must be an integer, got 'seven'"):
        read_panoptic_bodies(path)


def test_empty_asf_is_blamed_on_the_asf(tmp_path):
    amc, asf = _write(tmp_path, "t.amc", TINY_AMC), _write(tmp_path, "t.asf", "")
    with pytest.raises(MotionFormatError, match=r"t\.asf: not an ASF skeleton"):
        read_asf_amc(amc, asf)
