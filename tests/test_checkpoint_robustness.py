"""Damaged checkpoints: the kept previous checkpoint, verified loads that name the file, stale temporaries, changed
configs on resume, a failed write."""

from __future__ import annotations

import errno

import pytest
import torch
from test_train import _cfg, _trainer

from lt_core.train.checkpoint import (
    CheckpointError,
    CheckpointWriteError,
    atomic_save,
    clean_stale_temp_files,
    load_checkpoint,
    previous_path,
)
from lt_core.train.evaluate import load_trained_model
from lt_core.train.loop import ConfigChangedError


def _state(tr):
    return {k: v.clone() for k, v in tr.raw_model.state_dict().items()}


def test_resume_falls_back_to_the_previous_checkpoint_when_last_is_corrupt(tmp_path):
    run = tmp_path / "run"
    tr = _trainer(_cfg(tmp_path, max_steps=2, checkpoint_every=1))
    tr.fit()
    last, prev = run / "last.pt", previous_path(run / "last.pt")
    assert prev.is_file() and last.is_file()
    saved_prev = torch.load(prev, weights_only=False)
    # damage last.pt as a cut-short copy would, and leave a temporary as a killed write would
    data = last.read_bytes()
    last.write_bytes(data[: len(data) // 3])
    (run / ".last.pt.abc123.tmp").write_bytes(b"partial")
    with pytest.raises(CheckpointError, match=r"last\.pt is truncated or corrupt.*last\.prev\.pt may be intact"):
        load_checkpoint(last)
    with pytest.raises(CheckpointError, match=r"last\.pt"):
        load_trained_model(last)
    with pytest.warns(RuntimeWarning, match=r"resumed from .*last\.prev\.pt because .*last\.pt is truncated"):
        resumed = _trainer(_cfg(tmp_path, max_steps=2, checkpoint_every=1, resume="auto"))
    assert resumed.step == saved_prev["step"]
    for k, v in resumed.raw_model.state_dict().items():
        assert torch.equal(v, saved_prev["model"][k])  # bitwise the previous checkpoint's weights
    assert not list(run.glob(".*.tmp"))  # the stale temporary is gone


def test_resume_with_both_checkpoints_damaged_names_both(tmp_path):
    run = tmp_path / "run"
    _trainer(_cfg(tmp_path, max_steps=2, checkpoint_every=1)).fit()
    for p in (run / "last.pt", run / "last.prev.pt"):
        p.write_bytes(b"\x00" * 100)
    with pytest.raises(CheckpointError, match=r"no checkpoint to resume from: .*last\.pt.*last\.prev\.pt"):
        _trainer(_cfg(tmp_path, max_steps=2, resume="auto"))


def test_resume_refuses_a_changed_seed_or_learning_rate(tmp_path):
    _trainer(_cfg(tmp_path, max_steps=1)).fit()
    with pytest.raises(ConfigChangedError, match=r"seed: 3 -> 4"):
        _trainer(_cfg(tmp_path, max_steps=2, resume="auto", seed=4))
    with pytest.raises(ConfigChangedError, match=r"lr_heads: 0\.01 -> 0\.02"):
        _trainer(_cfg(tmp_path, max_steps=2, resume="auto", lr_heads=2e-2))
    tr = _trainer(_cfg(tmp_path, max_steps=2, resume="auto", seed=4, allow_config_change=True))
    assert tr.step == 1
    assert _trainer(_cfg(tmp_path, max_steps=3, resume="auto")).step == 1  # a longer run is fine


def test_load_checkpoint_names_the_file_for_foreign_and_incomplete_files(tmp_path):
    other = tmp_path / "weights.pt"
    torch.save([1, 2, 3], other)
    with pytest.raises(CheckpointError, match=r"weights\.pt is not a checkpoint: it holds a list"):
        load_checkpoint(other)
    partial = tmp_path / "partial.pt"
    torch.save({"model": {}}, partial)
    with pytest.raises(CheckpointError, match=r"partial\.pt lacks \['config'\]"):
        load_trained_model(partial)
    with pytest.raises(FileNotFoundError, match="nope.pt"):
        load_checkpoint(tmp_path / "nope.pt")


def test_atomic_save_keeps_the_previous_file_and_reports_a_full_disk(tmp_path, monkeypatch):
    path = tmp_path / "last.pt"
    atomic_save({"v": 1}, path, keep_previous=True)
    atomic_save({"v": 2}, path, keep_previous=True)
    assert torch.load(path)["v"] == 2 and torch.load(previous_path(path))["v"] == 1

    def full(obj, f, *a, **k):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(torch, "save", full)
    with pytest.raises(CheckpointWriteError, match=r"could not write .*last\.pt .*the disk is full .*MiB free"):
        atomic_save({"v": 3}, path, keep_previous=True)
    monkeypatch.undo()
    assert torch.load(path)["v"] == 2 and torch.load(previous_path(path))["v"] == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["last.prev.pt", "last.pt"]


def test_clean_stale_temp_files_keeps_checkpoints_and_recent_writes(tmp_path):
    (tmp_path / "last.pt").write_bytes(b"x")
    old = tmp_path / ".last.pt.q1.tmp"
    old.write_bytes(b"x")
    assert clean_stale_temp_files(tmp_path, older_than_s=3600) == []  # just written: maybe still in progress
    assert clean_stale_temp_files(tmp_path) == [old]
    assert [p.name for p in tmp_path.iterdir()] == ["last.pt"]


def test_the_kept_previous_checkpoint_is_never_listed_as_a_model(tmp_path):
    from lt_core.train.methods import find_checkpoints

    _trainer(_cfg(tmp_path, max_steps=2, checkpoint_every=1, val_split=None)).fit()
    assert (tmp_path / "run" / "last.prev.pt").is_file()
    assert [c.path.name for c in find_checkpoints(tmp_path / "run")] == ["last.pt"]
