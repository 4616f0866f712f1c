"""Tests of lt_core.metrics against hand-computed values."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from lt_core.metrics import (
    DAMAGED_SCENES,
    action_group,
    evaluate_predictions,
    frame_errors,
    is_damaged,
    mpjpe,
    pa_mpjpe,
    per_joint_mpjpe,
    procrustes_align,
    relative_mpjpe,
    root_relative,
)


def _rotation(axis: np.ndarray, angle: float) -> np.ndarray:
    axis = axis / np.linalg.norm(axis)
    k = np.array([[0, -axis[2], axis[1]], [axis[2], 0, -axis[0]], [-axis[1], axis[0], 0]])
    return np.eye(3) + math.sin(angle) * k + (1 - math.cos(angle)) * k @ k


@pytest.fixture
def poses() -> np.ndarray:
    return np.random.default_rng(0).normal(scale=300.0, size=(5, 17, 3))


def test_mpjpe_hand_computed():
    gt = np.zeros((1, 17, 3))
    pred = gt.copy()
    pred[0, 0] = [3.0, 4.0, 0.0]  # error 5 on one joint
    pred[0, 1] = [0.0, 0.0, 12.0]  # error 12 on another
    assert mpjpe(pred, gt) == pytest.approx(17.0 / 17)
    # Two frames, mean over frames
    gt2 = np.zeros((2, 17, 3))
    pred2 = np.zeros((2, 17, 3))
    pred2[1, :, 0] = 10.0
    assert mpjpe(pred2, gt2) == pytest.approx(5.0)


def test_relative_removes_global_shift(poses):
    shifted = poses + np.array([100.0, -50.0, 20.0])
    assert mpjpe(shifted, poses) == pytest.approx(math.sqrt(100**2 + 50**2 + 20**2))
    assert relative_mpjpe(shifted, poses) == pytest.approx(0.0, abs=1e-9)


def test_relative_keeps_zero_pelvis_in_mean():
    gt = np.zeros((1, 17, 3))
    pred = gt.copy()
    pred[0, 0] = [17.0, 0.0, 0.0]  # one non-root joint off by 17 mm
    # pelvis error is 0 and counts: (17 + 0 * 16) / 17 = 1
    assert relative_mpjpe(pred, gt) == pytest.approx(1.0)
    rel = root_relative(pred)
    assert np.allclose(rel[0, 6], 0.0)


def test_pa_mpjpe_of_similarity_copy_is_zero(poses):
    r = _rotation(np.array([0.3, -1.0, 0.5]), 1.1)
    moved = 1.7 * poses @ r.T + np.array([500.0, -200.0, 1000.0])
    assert mpjpe(moved, poses) > 100
    assert pa_mpjpe(moved, poses) == pytest.approx(0.0, abs=1e-8)
    aligned = procrustes_align(moved, poses)
    assert np.allclose(aligned, poses, atol=1e-8)


def test_pa_no_reflection_and_rigid_option():
    gt = np.random.default_rng(1).normal(size=(1, 17, 3)) * 100
    mirrored = gt * np.array([-1.0, 1.0, 1.0])  # a reflection cannot be undone by a rotation
    assert pa_mpjpe(mirrored, gt) > 1.0
    scaled = 2.0 * gt
    assert np.allclose(procrustes_align(scaled, gt), gt, atol=1e-8)
    rigid = procrustes_align(scaled, gt, scale=False)
    assert not np.allclose(rigid, gt, atol=1.0)


def test_pa_batched_torch_matches_numpy(poses):
    noisy = poses + np.random.default_rng(2).normal(scale=20.0, size=poses.shape)
    a = procrustes_align(noisy, poses)
    b = procrustes_align(torch.from_numpy(noisy), torch.from_numpy(poses))
    assert isinstance(b, torch.Tensor)
    assert np.allclose(a, b.numpy())
    for i in range(len(poses)):
        assert np.allclose(procrustes_align(noisy[i], poses[i]), a[i])
    # PA error never exceeds the error after translation-only alignment
    centred = noisy - noisy.mean(1, keepdims=True) + poses.mean(1, keepdims=True)
    assert pa_mpjpe(noisy, poses) <= mpjpe(centred, poses) + 1e-9


def test_validity_masks_joints():
    gt = np.zeros((2, 17, 3))
    pred = np.zeros((2, 17, 3))
    pred[0, 3] = [100.0, 0, 0]
    valid = np.ones((2, 17), bool)
    valid[0, 3] = False
    assert mpjpe(pred, gt, valid) == pytest.approx(0.0)
    # frame 0 has 16 valid joints; error averaged over them
    pred[0, 4] = [32.0, 0, 0]
    assert frame_errors(pred, gt, valid)[0] == pytest.approx(2.0)
    # invalid root: the relative error of that frame is undefined and skipped
    valid[1, 6] = False
    rel = frame_errors(pred, gt, valid, kind="rel")
    assert not np.isnan(rel[0]) and np.isnan(rel[1])
    pj = per_joint_mpjpe(pred, gt, valid)
    assert pj[3] == pytest.approx(0.0) and pj[4] == pytest.approx(16.0)
    # invalid joints do not influence the Procrustes fit
    pred2 = np.random.default_rng(3).normal(size=(1, 17, 3)) * 100
    gt2 = pred2.copy()
    pred2[0, 0] += 1e4
    v2 = np.ones((1, 17), bool)
    v2[0, 0] = False
    assert pa_mpjpe(pred2, gt2, v2) == pytest.approx(0.0, abs=1e-8)


def test_action_group_and_damaged():
    assert action_group("Directions-1") == "Directions"
    assert action_group("Directions-2") == "Directions"
    assert action_group("Walking 1") == "Walking"
    # the original dataset's short names fall in the preprocessed labels' groups
    assert action_group("WalkTogether") == action_group("WalkingTogether-1") == "WalkingTogether"
    assert action_group("WalkDog 1") == "WalkingDog" and action_group("Photo") == "TakingPhoto"
    assert action_group("SittingDown 1") == "SittingDown" != action_group("Sitting 1")
    assert ("S9", "Greeting-2") in DAMAGED_SCENES
    assert is_damaged("S9", "SittingDown-2") and is_damaged("S9", "Waiting-1", "human36m")
    assert not is_damaged("S9", "Waiting-2") and not is_damaged("S11", "Greeting-2")
    assert not is_damaged("S9", "Waiting-1", dataset="synthetic")


def test_damaged_scenes_in_both_namings():
    """The paper's preprocessing renamed the scenes (action_to_una_dinosauria): S9 Greeting -> Greeting-2,
    SittingDown 1 -> SittingDown-2, Waiting 1 -> Waiting-1. Both spellings must be recognised."""
    for preprocessed, original in (
        ("Greeting-2", "Greeting"),
        ("SittingDown-2", "SittingDown 1"),
        ("Waiting-1", "Waiting 1"),
    ):
        assert is_damaged("S9", preprocessed) and is_damaged("S9", original, "human36m")
        assert is_damaged(9, original) and is_damaged("9", preprocessed)
        assert not is_damaged("S11", original) and not is_damaged("S9", original, "panoptic")
    assert is_damaged("S9", "SittingDown_1") and is_damaged("S9", "Waiting_1")  # 3d-pose-baseline file names
    # the undamaged trials of the same actions, in the original naming
    for fine in ("Greeting 1", "SittingDown", "Waiting", "Greeting-1", "SittingDown-1", "Waiting-2"):
        assert not is_damaged("S9", fine), fine
    # the absolute table leaves them out whatever the naming
    gt = np.zeros((4, 17, 3))
    pred = gt + np.array([10.0, 0.0, 0.0])
    meta = {"subject": ["S9"] * 4, "action": ["Greeting", "Greeting 1", "Waiting 1", "Waiting"], "frame": [0] * 4}
    ev = evaluate_predictions(pred, gt, meta, exclude_damaged=True)
    assert ev.frames["damaged"].tolist() == [True, False, True, False]
    assert ev.summary["frames_abs"] == 2 and ev.summary["frames"] == 4


def _table_case():
    # 4 frames: Directions-1 (err 10), Directions-2 (err 20), Waiting-1 of S9 (damaged, err 30 abs), Walking-1 (40)
    n = 4
    gt = np.zeros((n, 17, 3))
    pred = np.zeros((n, 17, 3))
    for i, e in enumerate([10.0, 20.0, 30.0, 40.0]):
        pred[i, :, 0] = e  # global shift: abs error e, relative error 0
    pred[3, 0, 1] = 17.0  # Walking: one joint off by 17 -> relative error 1, abs error (16*40+sqrt(40^2+17^2))/17
    meta = {
        "subject": ["S9", "S9", "S9", "S11"],
        "action": ["Directions-1", "Directions-2", "Waiting-1", "Walking-1"],
        "frame": [0, 5, 10, 15],
        "dataset": ["human36m"] * 4,
    }
    return pred, gt, meta


def test_evaluate_predictions_tables():
    pred, gt, meta = _table_case()
    ev = evaluate_predictions(pred, gt, meta)
    tab = ev.per_action
    assert list(tab.columns) == ["mpjpe_abs", "mpjpe_rel", "pa_mpjpe", "frames", "frames_abs"]
    assert list(tab.index) == ["Directions", "Waiting", "Walking", "Average"]
    assert tab.loc["Directions", "mpjpe_abs"] == pytest.approx(15.0)  # trials pooled over frames
    assert tab.loc["Directions", "frames"] == 2
    walking_abs = (16 * 40 + math.hypot(40, 17)) / 17
    assert tab.loc["Walking", "mpjpe_abs"] == pytest.approx(walking_abs)
    assert tab.loc["Walking", "mpjpe_rel"] == pytest.approx(1.0)
    # 'Average' = mean over frames, not over actions
    assert tab.loc["Average", "mpjpe_abs"] == pytest.approx((10 + 20 + 30 + walking_abs) / 4)
    assert tab.loc["Average", "mpjpe_rel"] == pytest.approx(0.25)
    assert ev.summary["mpjpe_abs"] == pytest.approx(tab.loc["Average", "mpjpe_abs"])
    assert list(ev.per_subject.index) == ["S11", "S9", "Average"]
    assert ev.per_subject.loc["S9", "mpjpe_abs"] == pytest.approx(20.0)
    assert list(ev.per_joint.columns) == ["mpjpe_abs", "mpjpe_rel", "pa_mpjpe"]
    assert len(ev.per_joint) == 17 and ev.per_joint.iloc[6]["mpjpe_rel"] == 0.0
    assert set(["subject", "action", "action_group", "frame", "damaged", "abs", "rel", "pa"]) <= set(ev.frames.columns)
    row = ev.action_row("mpjpe_abs")
    assert list(row.columns) == ["Directions", "Waiting", "Walking", "Average"]


def test_evaluate_predictions_damaged_filter_only_on_absolute():
    pred, gt, meta = _table_case()
    ev = evaluate_predictions(pred, gt, meta, exclude_damaged=True)
    tab = ev.per_action
    walking_abs = (16 * 40 + math.hypot(40, 17)) / 17
    assert tab.loc["Average", "mpjpe_abs"] == pytest.approx((10 + 20 + walking_abs) / 3)
    assert tab.loc["Average", "frames_abs"] == 3 and tab.loc["Average", "frames"] == 4
    assert np.isnan(tab.loc["Waiting", "mpjpe_abs"])
    assert tab.loc["Average", "mpjpe_rel"] == pytest.approx(0.25)  # relative keeps every frame
    assert bool(ev.frames["damaged"].iloc[2]) and ev.exclude_damaged


def test_evaluate_predictions_meta_as_list_of_dicts_and_validity():
    pred, gt, meta = _table_case()
    rows = [dict(zip(meta, vals)) for vals in zip(*meta.values())]
    valid = np.ones((4, 17), bool)
    valid[3, 0] = False  # hide the Walking outlier joint
    ev = evaluate_predictions(torch.from_numpy(pred), torch.from_numpy(gt), rows, valid=valid)
    assert ev.per_action.loc["Walking", "mpjpe_rel"] == pytest.approx(0.0)
    assert ev.per_action.loc["Walking", "mpjpe_abs"] == pytest.approx(40.0)
    with pytest.raises(ValueError):
        evaluate_predictions(pred, gt, rows[:2])
