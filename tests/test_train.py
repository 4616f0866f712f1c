"""Tests of lt_core.train: loop, exact resumption, atomic checkpoints, manifest, DDP gradients, evaluation tables.

Stand-in models and datasets keep everything tiny; they follow the real interfaces (``forward(images, cameras,
[root], views_valid=None) -> {"joints_3d": (B, J, 3)}`` and the one sample format).
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from torch import nn
from torch.utils.data import Dataset

from lt_core.camera import Camera
from lt_core.train import TrainConfig, Trainer, evaluate_model, load_config, predict
from lt_core.train.checkpoint import atomic_save, load_checkpoint
from lt_core.train.factory import build_loss, param_groups
from lt_core.train.records import read_manifest

J, C, S = 17, 2, 16
REPO = Path(__file__).resolve().parents[1]


# ------------------------------------------------------------------------------------------ stand-ins
class TinyDataset(Dataset):
    """Samples in the one sample format; images encode the pose so a model can learn it. Each item draws a
    random brightness jitter from the global torch generator (to exercise seeded augmentation)."""

    def __init__(self, n: int = 8, seed: int = 0, split: str = "train", jitter: bool = True) -> None:
        self.jitter = jitter
        g = torch.Generator().manual_seed(seed + (0 if split == "train" else 100))
        self.joints = torch.randn(n, J, 3, generator=g) * 200 + torch.tensor([0.0, 0.0, 900.0])
        self.codes = torch.randn(J * 3, 3 * S * S, generator=g) / 40
        K = torch.tensor([[20.0, 0, 7.5], [0, 20.0, 7.5], [0, 0, 1]])
        self.cameras = Camera(
            K.expand(C, 3, 3), torch.eye(3).expand(C, 3, 3), torch.tensor([[0.0, 0, 3000], [100.0, 0, 3000]])
        )
        self.split = split

    def __len__(self) -> int:
        return len(self.joints)

    def __getitem__(self, i: int) -> dict:
        x = ((self.joints[i] - torch.tensor([0.0, 0.0, 900.0])) / 200).reshape(-1) @ self.codes
        img = x.reshape(3, S, S).expand(C, 3, S, S).clone()
        if self.jitter:
            img = img * (1 + 0.01 * torch.rand(()))  # augmentation drawn from the global generator
        actions = ["Directions-1", "Directions-2", "Walking-1", "Greeting-2"]
        return {
            "images": img,
            "cameras": self.cameras,
            "joints_3d": self.joints[i].clone(),
            "joints_valid": torch.ones(J, dtype=torch.bool),
            "views_valid": torch.ones(C, dtype=torch.bool),
            "meta": {"subject": "S9" if i % 2 else "S11", "action": actions[i % 4], "frame": i, "dataset": "standin"},
        }


class TinyModel(nn.Module):
    """``backbone`` (conv) + ``head`` (linear), optional dropout; output ``joints_3d`` (B, J, 3) mm."""

    def __init__(self, dropout: float = 0.0) -> None:
        super().__init__()
        self.backbone = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(), nn.Flatten())
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(4 * S * S, J * 3)

    def forward(self, images, cameras, views_valid=None):
        b, c = images.shape[:2]
        f = self.backbone(images.flatten(0, 1)).view(b, c, -1).mean(1)
        out = self.head(self.dropout(f)).view(b, J, 3) * 200 + torch.tensor([0.0, 0.0, 900.0])
        return {"joints_3d": out}


class TinyRootModel(nn.Module):
    """Volumetric-like stand-in: takes ``root`` and has ``backbone`` / ``process_features`` / ``volume_net``."""

    def __init__(self) -> None:
        super().__init__()
        self.backbone = nn.Conv2d(3, 2, 1)
        self.process_features = nn.Conv2d(2, 2, 1)
        self.volume_net = nn.Linear(2, J * 3)

    def forward(self, images, cameras, root, views_valid=None):
        b = images.shape[0]
        f = self.process_features(self.backbone(images.flatten(0, 1))).mean((-1, -2)).view(b, -1, 2).mean(1)
        return {"joints_3d": root[:, None, :] + self.volume_net(f).view(b, J, 3)}


def make_standin_model(cfg: TrainConfig) -> nn.Module:
    """``module:factory`` entry for the CLI tests."""
    return TinyModel(dropout=float(cfg.model_options.get("dropout", 0.0)))


def make_standin_dataset(cfg: TrainConfig, split: str) -> Dataset:
    return TinyDataset(n=int(cfg.dataset_options.get("n", 8)), split=split)


pytestmark = pytest.mark.usefixtures("one_thread")


def _cfg(tmp_path: Path, **kw) -> TrainConfig:
    base = dict(
        name="t",
        model="test_train:make_standin_model",
        dataset="test_train:make_standin_dataset",
        batch_size=2,
        epochs=1,
        lr_backbone=1e-2,
        lr_heads=1e-2,
        device="cpu",
        seed=3,
        progress=False,
        out_dir=str(tmp_path / "run"),
        loss="l1_cm",
    )
    base.update(kw)
    return TrainConfig(**base)


def _trainer(cfg: TrainConfig, dropout: float = 0.1, n: int = 8, **kw) -> Trainer:
    torch.manual_seed(0)  # same initial weights for every run
    return Trainer(
        cfg, model=TinyModel(dropout), train_dataset=TinyDataset(n), val_dataset=TinyDataset(4, split="val"), **kw
    )


def _params(model: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def _assert_params_equal(a: dict, b: dict) -> None:
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), f"parameter {k} differs"


def _csv_losses(path: Path) -> dict[int, float]:
    import csv

    with path.open() as f:
        return {int(r["step"]): float(r["loss"]) for r in csv.DictReader(f)}


# ------------------------------------------------------------------------------------------ config
def test_config_roundtrip_and_overrides(tmp_path):
    cfg = TrainConfig(model="volumetric", image_size=(96, 128))
    assert cfg.learning_rates == (1e-4, 1e-3)
    assert TrainConfig(model="algebraic").learning_rates == (1e-5, 1e-5)
    d = json.loads(cfg.to_json())
    assert TrainConfig.from_dict(d) == cfg
    with pytest.raises(KeyError, match="unknown TrainConfig keys"):
        TrainConfig.from_dict({"modle": "algebraic"})
    with pytest.raises(ValueError):
        TrainConfig(model="nope")
    path = tmp_path / "c.json"
    cfg.to_json(path)
    cfg2 = load_config(path, ["epochs=3", "model_options.use_confidences=false", "name=abc", "lr_heads=0.01"])
    assert (cfg2.epochs, cfg2.model_options, cfg2.name, cfg2.lr_heads) == (3, {"use_confidences": False}, "abc", 0.01)


def test_param_groups_follow_paper_split():
    cfg = TrainConfig(model="volumetric")
    groups = param_groups(TinyRootModel(), cfg)
    lrs = {g["name"]: g["lr"] for g in groups}
    assert lrs == {"backbone": 1e-4, "heads": 1e-3}
    heads = {id(p) for g in groups if g["name"] == "heads" for p in g["params"]}
    m = TinyRootModel()
    groups = param_groups(m, cfg)
    heads = {id(p) for g in groups if g["name"] == "heads" for p in g["params"]}
    assert heads == {id(p) for p in [*m.process_features.parameters(), *m.volume_net.parameters()]}


# ------------------------------------------------------------------------------------------ training
def test_loss_goes_down_on_tiny_batch(tmp_path):
    cfg = _cfg(tmp_path, batch_size=4, epochs=25, val_every=0)
    tr = Trainer(cfg, model=TinyModel(), train_dataset=TinyDataset(4), val_dataset=False)
    tr.fit()
    losses = _csv_losses(tmp_path / "run" / "train.csv")
    assert len(losses) == 25
    assert losses[25] < 0.3 * losses[1], losses


def test_validation_every_n_steps(tmp_path):
    """val_every_steps adds validation rows at step multiples; a step that ends an epoch is validated once."""
    import csv

    cfg = _cfg(tmp_path, batch_size=2, epochs=2, val_every=1, val_every_steps=3)  # 4 steps per epoch
    tr = _trainer(cfg)
    tr.validate()  # a row at step 0, before training
    tr.fit()
    with (tmp_path / "run" / "val.csv").open() as f:
        steps = [int(r["step"]) for r in csv.DictReader(f)]
    assert steps == [0, 3, 4, 6, 8], steps  # every 3 steps, the epoch ends (4, 8), no step twice
    assert (tmp_path / "run" / "best.pt").is_file()
    with pytest.raises(ValueError, match="val_every_steps"):
        TrainConfig(val_every_steps=-1)


def test_resume_gives_identical_next_steps(tmp_path):
    # straight: 7 steps (4 per epoch, so the run crosses an epoch end with validation)
    straight = _trainer(_cfg(tmp_path / "a", epochs=2, max_steps=7))
    straight.fit()
    # interrupted: 3 steps, checkpoint, then fresh objects resume for 4 more
    first = _trainer(_cfg(tmp_path / "b", epochs=2, max_steps=3))
    first.fit()
    assert load_checkpoint(tmp_path / "b" / "run" / "last.pt")["step"] == 3
    torch.manual_seed(12345)  # disturb the global generators: the checkpoint must restore them
    resumed = _trainer(_cfg(tmp_path / "b", epochs=2, max_steps=7, resume="auto"))
    assert resumed.step == 3
    resumed.fit()
    _assert_params_equal(_params(straight.raw_model), _params(resumed.raw_model))
    _assert_params_equal(straight.optimizer.state_dict()["state"][0], resumed.optimizer.state_dict()["state"][0])
    a, b = _csv_losses(tmp_path / "a" / "run" / "train.csv"), _csv_losses(tmp_path / "b" / "run" / "train.csv")
    assert a == b and sorted(a) == list(range(1, 8))


def test_cosine_schedule_with_warmup_and_exact_resume(tmp_path):
    cfg = _cfg(tmp_path, lr_schedule="cosine", warmup_steps=2, lr_final_factor=0.1, max_steps=7)
    factors = [cfg.lr_factor(s, 7) for s in range(7)]
    assert factors[:2] == [0.5, 1.0] and factors[-1] == pytest.approx(0.1)
    assert all(a > b for a, b in zip(factors[1:], factors[2:]))  # decays after the warm-up
    with pytest.raises(ValueError, match="lr_schedule"):
        _cfg(tmp_path, lr_schedule="linear")
    straight = _trainer(
        _cfg(
            tmp_path / "a",
            epochs=2,
            max_steps=7,
            lr_schedule="cosine",
            warmup_steps=2,
            lr_final_factor=0.1,
            log_every=1,
        )
    )
    straight.fit()
    import csv

    with (tmp_path / "a" / "run" / "train.csv").open() as f:
        lrs = [float(r["lr_backbone"]) for r in csv.DictReader(f)]
    assert lrs == pytest.approx([1e-2 * x for x in factors])
    first = _trainer(
        _cfg(tmp_path / "b", epochs=2, max_steps=3, lr_schedule="cosine", warmup_steps=2, lr_final_factor=0.1)
    )
    first.fit()  # a shorter run decays over its own 3 steps ...
    resumed = _trainer(
        _cfg(
            tmp_path / "b",
            epochs=2,
            max_steps=7,
            lr_schedule="cosine",
            warmup_steps=2,
            lr_final_factor=0.1,
            resume="auto",
        )
    )
    resumed.fit()  # ... and resuming follows the 7-step schedule from step 3 on: only steps 1-3 differ
    assert resumed.step == 7
    assert resumed.optimizer.param_groups[0]["lr"] == pytest.approx(1e-2 * factors[-1])


def test_keyboard_interrupt_saves_and_resumes_exactly(tmp_path):
    straight = _trainer(_cfg(tmp_path / "a", epochs=2))
    straight.fit()
    base = build_loss(_cfg(tmp_path))
    calls = {"n": 0}

    def interrupting_loss(output, batch):
        calls["n"] += 1
        if calls["n"] == 6:
            raise KeyboardInterrupt
        return base(output, batch)

    cfg = _cfg(tmp_path / "b", epochs=2)
    with pytest.raises(KeyboardInterrupt):
        _trainer(cfg, loss_fn=interrupting_loss).fit()
    run = tmp_path / "b" / "run"
    assert load_checkpoint(run / "last.pt")["step"] == 5
    assert read_manifest(run / "manifest.json")["status"] == "interrupted"
    assert sorted(_csv_losses(run / "train.csv")) == [1, 2, 3, 4, 5]  # the partial CSV is kept
    resumed = _trainer(_cfg(tmp_path / "b", epochs=2, resume="auto"))
    resumed.fit()
    _assert_params_equal(_params(straight.raw_model), _params(resumed.raw_model))


def test_failure_keeps_last_checkpoint_and_csv(tmp_path):
    base = build_loss(_cfg(tmp_path))
    calls = {"n": 0}

    def failing_loss(output, batch):
        calls["n"] += 1
        if calls["n"] == 7:
            raise RuntimeError("boom")
        return base(output, batch)

    cfg = _cfg(tmp_path, epochs=3)
    with pytest.raises(RuntimeError, match="boom"):
        _trainer(cfg, loss_fn=failing_loss).fit()
    run = tmp_path / "run"
    assert load_checkpoint(run / "last.pt")["step"] == 4  # end of epoch 0
    assert read_manifest(run / "manifest.json")["status"].startswith("failed: RuntimeError")
    assert sorted(_csv_losses(run / "train.csv")) == [1, 2, 3, 4, 5, 6]
    resumed = _trainer(_cfg(tmp_path, epochs=3, resume="auto"))
    assert sorted(_csv_losses(run / "train.csv")) == [1, 2, 3, 4]  # rows after the checkpoint are dropped
    resumed.fit()
    assert resumed.step == 12


def test_checkpoint_written_atomically(tmp_path, monkeypatch):
    path = tmp_path / "ck" / "last.pt"
    atomic_save({"v": 1}, path)

    real_save = torch.save

    def failing_save(obj, f, *a, **k):
        f.write(b"partial bytes")
        raise OSError("disk full")

    monkeypatch.setattr(torch, "save", failing_save)
    with pytest.raises(OSError, match="disk full"):
        atomic_save({"v": 2}, path)
    monkeypatch.setattr(torch, "save", real_save)
    assert torch.load(path)["v"] == 1  # the old file is intact
    assert [p.name for p in path.parent.iterdir()] == ["last.pt"]  # no temporary left behind

    tr = _trainer(_cfg(tmp_path, max_steps=2))
    tr.fit()
    before = (tmp_path / "run" / "last.pt").read_bytes()
    monkeypatch.setattr(torch, "save", failing_save)
    with pytest.raises(OSError):
        tr.save_checkpoint()
    assert (tmp_path / "run" / "last.pt").read_bytes() == before


def test_manifest_contents(tmp_path):
    tr = _trainer(_cfg(tmp_path, epochs=1))
    tr.fit()
    m = read_manifest(tmp_path / "run" / "manifest.json")
    assert m["seed"] == 3 and m["config"]["seed"] == 3 and m["config"]["model"] == "test_train:make_standin_model"
    version = m["code_version"]
    assert version.get("git_commit") or version.get("package_version")
    if version.get("git_commit"):
        assert isinstance(version["git_dirty"], bool)
    assert m["torch_version"] == torch.__version__ and m["device"] == "cpu" and m["status"] == "finished"
    assert {"val_mpjpe_abs", "val_mpjpe_rel", "val_pa_mpjpe"} <= set(m["metrics"])
    val = (tmp_path / "run" / "val.csv").read_text().splitlines()
    assert val[0].split(",")[:5] == ["step", "epoch", "mpjpe_abs", "mpjpe_rel", "pa_mpjpe"]
    ck = load_checkpoint(tmp_path / "run" / "last.pt")
    assert {"model", "optimizer", "scaler", "rng", "step", "epoch", "config"} <= set(ck)
    assert {"python", "numpy", "torch"} <= set(ck["rng"][0])


# ------------------------------------------------------------------------------------------ evaluation
def test_evaluation_tables_have_expected_columns():
    model = TinyModel()
    preds, ev = evaluate_model(model, TinyDataset(8), batch_size=3)
    assert preds.joints_3d.shape == (8, J, 3) and len(preds.meta) == 8
    assert list(ev.per_action.columns) == ["mpjpe_abs", "mpjpe_rel", "pa_mpjpe", "frames", "frames_abs"]
    assert list(ev.per_action.index) == ["Directions", "Greeting", "Walking", "Average"]
    assert ev.per_action.loc["Directions", "frames"] == 4
    assert list(ev.per_subject.index) == ["S11", "S9", "Average"]
    # volumetric-like model: root from GT pelvis or from another model's prediction
    vol = TinyRootModel()
    with torch.no_grad():
        vol.volume_net.weight.zero_()
        vol.volume_net.bias.zero_()
    data = TinyDataset(8, jitter=False)
    gt_root = predict(vol, data, root="gt")
    assert abs(gt_root.joints_3d[:, 6] - gt_root.gt[:, 6]).max() < 1e-3
    from_model = predict(vol, data, root=model)
    alg = predict(model, data)
    assert abs(from_model.joints_3d[:, 6] - alg.joints_3d[:, 6]).max() < 1e-3
    from_preds = predict(vol, data, root=alg, batch_size=3)
    assert abs(from_preds.joints_3d - from_model.joints_3d).max() < 1e-3


# ------------------------------------------------------------------------------------------ distributed
def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _ddp_worker(rank: int, world: int, port: int, out_dir: str) -> None:
    os.environ.update(
        MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank), WORLD_SIZE=str(world), LOCAL_RANK=str(rank)
    )
    torch.set_num_threads(1)
    from lt_core.train.distributed import cleanup_distributed, init_distributed

    env = init_distributed("cpu")
    finished = False
    try:
        cfg = _cfg(Path(out_dir), batch_size=2)
        torch.manual_seed(0)
        tr = Trainer(cfg, model=TinyModel(), train_dataset=TinyDataset(8), val_dataset=False, env=env)
        batch = next(iter(tr._loader()))
        tr.backward(batch)
        grads = {n: p.grad.clone() for n, p in tr.raw_model.named_parameters()}
        tr.train_step(batch)
        if env.is_main:
            torch.save({"grads": grads, "params": _params(tr.raw_model)}, Path(out_dir) / "ddp.pt")
        finished = True
    finally:
        cleanup_distributed(barrier=finished)


def test_ddp_two_processes_match_combined_batch(tmp_path):
    torch.multiprocessing.spawn(_ddp_worker, args=(2, _free_port(), str(tmp_path)), nprocs=2, join=True)
    ddp = torch.load(tmp_path / "ddp.pt")
    torch.manual_seed(0)
    tr = Trainer(
        _cfg(tmp_path / "single", batch_size=4), model=TinyModel(), train_dataset=TinyDataset(8), val_dataset=False
    )
    batch = next(iter(tr._loader()))
    tr.backward(batch)
    for n, p in tr.raw_model.named_parameters():
        torch.testing.assert_close(ddp["grads"][n], p.grad, atol=1e-6, rtol=1e-5)
    tr.train_step(batch)
    for k, v in _params(tr.raw_model).items():
        torch.testing.assert_close(ddp["params"][k], v, atol=1e-6, rtol=1e-5)


def test_cli_resume_in_new_process_and_torchrun(tmp_path):
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO / "tests"), str(REPO)]), "OMP_NUM_THREADS": "1"}
    cfg = _cfg(tmp_path, epochs=2, model_options={"dropout": 0.1})
    cfg_path = tmp_path / "cfg.json"
    cfg.to_json(cfg_path)
    cmd = [sys.executable, "-m", "lt_core.train", "--config", str(cfg_path)]
    subprocess.run(cmd + ["--set", "max_steps=3"], check=True, env=env, cwd=REPO, capture_output=True)
    subprocess.run(cmd + ["--resume", "auto"], check=True, env=env, cwd=REPO, capture_output=True)
    resumed = load_checkpoint(tmp_path / "run" / "last.pt")
    straight = Trainer(_cfg(tmp_path / "s", epochs=2, model_options={"dropout": 0.1}))  # everything from the config
    straight.fit()
    assert resumed["step"] == 8
    _assert_params_equal(_params(straight.raw_model), resumed["model"])

    torchrun = Path(sys.executable).with_name("torchrun")
    if not torchrun.exists():
        pytest.skip("torchrun not installed next to python")
    out = tmp_path / "ddp"
    res = subprocess.run(
        [
            str(torchrun),
            "--standalone",
            "--nproc_per_node=2",
            "-m",
            "lt_core.train",
            "--config",
            str(cfg_path),
            "--set",
            f"out_dir={out}",
            "--set",
            "max_steps=2",
        ],
        env=env,
        cwd=REPO,
        capture_output=True,
        text=True,
    )
    assert res.returncode == 0, res.stderr[-3000:]
    m = read_manifest(out / "manifest.json")
    assert m["world_size"] == 2 and m["status"] == "finished" and m["step"] == 2
    assert len(_csv_losses(out / "train.csv")) == 2  # rank 0 logs alone


# ------------------------------------------------------------------------------------------ real models
def _rig_dataset(n: int, views: int = 2, size: int = 128) -> Dataset:
    """Random images seen by a ring of cameras around random poses (smoke tests of the real models)."""
    import math

    from lt_core.camera import stack_cameras

    box = torch.tensor([200.0, 200.0, 800.0, 800.0])
    cams = stack_cameras(
        [
            Camera.look_at(
                (3500 * math.cos(a), 3500 * math.sin(a), 1300.0),
                (0.0, 0.0, 900.0),
                focal=1000.0,
                image_size=(1000, 1000),
            ).crop_and_resize(box, (size, size))
            for a in [2 * math.pi * c / views for c in range(views)]
        ]
    ).to(torch.float32)
    g = torch.Generator().manual_seed(0)

    class RigData(Dataset):
        def __len__(self):
            return n

        def __getitem__(self, i):
            joints = torch.tensor([0.0, 0.0, 900.0]) + 250 * (torch.rand(J, 3, generator=g) * 2 - 1)
            return {
                "images": torch.rand(views, 3, size, size, generator=g),
                "cameras": cams,
                "joints_3d": joints,
                "joints_valid": torch.ones(J, dtype=torch.bool),
                "views_valid": torch.ones(views, dtype=torch.bool),
                "meta": {"subject": "S1", "action": "Walking-1", "frame": i, "dataset": "rig"},
            }

    return RigData()


@pytest.mark.parametrize(
    "kind,options,loss",
    [
        ("algebraic", {"use_confidences": True}, None),
        ("algebraic", {"use_confidences": False}, "keypoints_2d"),
        ("volumetric", {"volume_size": 16}, None),
    ],
)
def test_real_models_train_and_evaluate(tmp_path, kind, options, loss):
    pytest.importorskip("lt_core.models.volumetric")
    cfg = TrainConfig(
        name=kind,
        model=kind,
        backbone="tiny",
        v2v="tiny",
        model_options=options,
        batch_size=1,
        max_steps=1,
        device="cpu",
        progress=False,
        out_dir=str(tmp_path / "run"),
        loss=loss,
        lr_backbone=1e-3,
        lr_heads=1e-3,
    )
    tr = Trainer(cfg, train_dataset=_rig_dataset(2), val_dataset=_rig_dataset(1))
    result = tr.fit()
    assert result["step"] == 1 and {"mpjpe_abs", "mpjpe_rel"} <= set(result["val"])
    lrs = {g["name"]: g["lr"] for g in tr.optimizer.param_groups}
    assert lrs["backbone"] == 1e-3
    if kind == "volumetric":
        assert set(lrs) == {"backbone", "heads"}
    # the checkpoint rebuilds the same model; RANSAC evaluates with the trained backbone
    from lt_core.train import load_trained_model

    model = load_trained_model(tmp_path / "run" / "last.pt")
    assert type(model) is type(tr.raw_model)
    if kind == "algebraic" and loss == "keypoints_2d":
        rcfg = TrainConfig(model="ransac", epochs=0, init_from=str(tmp_path / "run" / "last.pt"), device="cpu")
        with pytest.raises(ValueError, match="no trainable loss"):
            Trainer(rcfg.updated(epochs=1), train_dataset=_rig_dataset(1), val_dataset=False)
        from lt_core.train.factory import build_model, init_from_checkpoint

        ransac = build_model(rcfg)
        missing, _ = init_from_checkpoint(ransac, rcfg.init_from)
        assert not missing
        preds, ev = evaluate_model(ransac, _rig_dataset(2))
        assert preds.joints_3d.shape == (2, J, 3)


def test_2d_pretraining_losses_vanish_at_the_ground_truth():
    from lt_core.train.batching import collate
    from lt_core.train.factory import heatmap_2d_loss, heatmap_targets, keypoints_2d_loss

    batch = collate([_rig_dataset(2, views=2, size=64)[i] for i in range(2)])
    X = batch["joints_3d"][:, None].expand(-1, 2, -1, -1)
    uv = batch["cameras"].project(X)
    h = w = 16  # heatmaps of a stride-4 network on 64 px images
    uv_hm = (uv + 0.5) * (w / 64) - 0.5
    exact = {"joints_2d": uv, "heatmaps": heatmap_targets(uv_hm, (h, w), 1.5)}
    assert float(keypoints_2d_loss(exact, batch)) < 1e-3
    assert float(heatmap_2d_loss(exact, batch, sigma=1.5, keypoints_weight=0.1)) < 1e-3
    shifted = {"joints_2d": uv + torch.tensor([3.0, 4.0]), "heatmaps": torch.zeros_like(exact["heatmaps"])}
    assert float(keypoints_2d_loss(shifted, batch)) == pytest.approx(7.0, rel=1e-4)  # L1 in pixels
    assert float(heatmap_2d_loss(shifted, batch, sigma=1.5)) > 1.0
    # the loss options of the config reach the loss
    fn = build_loss(TrainConfig(loss="heatmap_2d", loss_options={"sigma": 1.5}))
    assert float(fn(exact, batch)[0]) < 1e-3
    hm = heatmap_targets(torch.tensor([[5.0, 7.0]]), (16, 16), 1.0)[0]
    assert divmod(int(hm.argmax()), 16) == (7, 5) and float(hm.max()) == pytest.approx(1.0)
