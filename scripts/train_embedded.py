"""Train small CPU models on the embedded 4-camera data and compare them on held-out clips.

Usage::

    python scripts/train_embedded.py --fresh         # the committed checkpoints and table (about 27 min, 2 cores)
    python scripts/train_embedded.py --quick         # a smoke run in a few minutes (numbers not meaningful)
    python scripts/train_embedded.py --evaluate-only # re-evaluate data/checkpoints/embedded_*.pt, rewrite the tables
    python scripts/train_embedded.py --resume        # continue interrupted stages from runs/embedded/<stage>/last.pt
    python scripts/train_embedded.py --stages vol_softmax  # retrain one stage on the existing 2D backbone run

Data: :class:`lt_core.data.synthetic.SyntheticMultiViewDataset` with the Human3.6M-like 4-camera rig, 128 x 128
crops. Training clips and validation clips are disjoint (``TRAIN_CLIPS`` / ``VAL_CLIPS`` of that module). The
training images are rendered once and kept in memory (uint8) for all stages. The tables are measured on exactly the
samples notebook 06 evaluates (:func:`held_out`: 125 evenly spread frames per held-out clip, 60 on the dome), so the
two report the same numbers; ``--eval-split val_ext`` (a default for the Human3.6M-like rig) adds a table on the
extended held-out set, which also holds one clip of each Daz/Poser family (salsa, martial arts, Indian dance) that
these checkpoints never trained on.

Stages (all with the tiny backbone, ResNet-18 at width 0.25; Adam; the paper's losses):

1. ``2d``: the backbone is trained on 2D keypoints, like the paper's backbone pretrained on 2D pose: Gaussian
   heatmap MSE (sigma 1.5 heatmap pixels) plus 0.1 x the soft-argmax L1 in pixels
   (:func:`lt_core.train.factory.heatmap_2d_loss`). The **RANSAC** baseline uses this backbone as it is (hard
   argmax + RANSAC, the paper's 15 px threshold at 384 px scaled to the 128 px crops: 5 px).
2. ``alg_noconf``: algebraic triangulation without confidences (unweighted DLT), fine-tuned end to end from (1)
   with the smooth-MSE 3D loss.
3. ``alg_conf``: the same with the learned per-view, per-joint confidences.
4. ``vol``: volumetric triangulation (softmax aggregation), backbone from (1), L1 + 0.01 CE loss; at test time its
   cuboid is centred on the pelvis predicted by ``alg_conf`` (the paper's protocol).

Stages 2-3 take 600 optimizer steps each (batch 8), the volumetric stage 2400: its V2V starts from scratch and
needs the longer schedule to overtake the algebraic model (at 1600 steps it was better in relative MPJPE only,
105.5 vs 107.2 mm, not yet in absolute). The volume is 16^3 voxels over a 2200 mm cube (147 mm spacing; the paper:
64^3 over 2500 mm, 40 mm) with a V2V of widths 16-32-32-32 to fit a CPU budget; a coarser voxel grid with twice the
V2V width learned faster than a finer one with the narrow preset (8-16-16-16 at 24^3 reached 138 mm after 600
steps, 16-32-32-32 at 16^3 114 mm after 800, relative MPJPE with the ground-truth pelvis). The learning rates are
larger than the paper's (which fine-tuned large pretrained networks) because these small networks start from much
less.

Timing (2 cores, 1 torch thread; measured at commit 73d1229): rendering ~20 s, 2D stage ~4.5 min, each algebraic
stage ~2 min, volumetric ~18-20 min (~0.45 s per step); 27 min in all (28 min with ``--rig dome``). Runs are
deterministic: re-running gives the same numbers, and ``--resume`` continues a stage exactly where it stopped (its
recorded train time then adds up the runs).

``--rig dome`` trains the same stages on the Panoptic-like 31-camera dome, 4 cameras per sample (random ones in
training, 4 evenly spread ones at test), as the paper trains on CMU Panoptic; the checkpoints are
``embedded_dome_<name>.pt`` and the table ``results/tables/embedded_dome.md``. Notebook 06 uses them for the
Panoptic table, the camera-count curve and the Panoptic -> Human3.6M transfer direction.

Outputs: ``data/checkpoints/embedded_<name>.pt`` (weights + config, a few MB) with ``embedded_<name>.json``
(manifest: config, seed, code version, metrics), run folders under ``--runs`` (CSV logs, full checkpoints), and
``results/tables/embedded_h36m_rig.csv`` / ``.md`` (absolute and relative MPJPE, PA-MPJPE in mm) with
``embedded_h36m_rig_per_clip.csv`` (per held-out clip, per family and pooled), and the same for ``val_ext`` as
``embedded_h36m_rig_val_ext.*``.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import pandas as pd  # noqa: E402
import torch  # noqa: E402
from torch.utils.data import DataLoader, Dataset  # noqa: E402

from lt_core.data.synthetic import SyntheticMultiViewDataset  # noqa: E402
from lt_core.tables import markdown_table  # noqa: E402
from lt_core.train import (  # noqa: E402
    TrainConfig,
    Trainer,
    load_trained_model,  # noqa: E402
    predict,
)
from lt_core.train.evaluate import per_clip_table  # noqa: E402
from lt_core.train.factory import build_model, init_from_checkpoint  # noqa: E402
from lt_core.train.methods import embedded_eval_dataset  # noqa: E402
from lt_core.train.records import code_version, write_manifest  # noqa: E402

IMAGE_SIZE = 128


class InMemory(Dataset):
    """A rendered dataset held in memory, images as uint8 (a quarter of float32's memory).

    Args:
        dataset: any dataset in the sample format.
        workers: DataLoader workers used once to render everything.
        desc: progress label.
    """

    def __init__(self, dataset: Dataset, workers: int = 2, desc: str = "render") -> None:
        from tqdm.auto import tqdm

        self.items: list[dict[str, Any]] = []
        loader = DataLoader(dataset, batch_size=None, num_workers=workers)
        for s in tqdm(loader, total=len(dataset), desc=desc, disable=not sys.stderr.isatty()):
            s = dict(s)
            s["images"] = (s["images"].clamp(0, 1) * 255).round().to(torch.uint8)
            s["meta"] = {k: v for k, v in s["meta"].items() if k in ("dataset", "subject", "action", "clip", "frame")}
            self.items.append(s)

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, i: int) -> dict[str, Any]:
        s = dict(self.items[i])
        s["images"] = s["images"].float() / 255.0
        return s


STAGES = ("2d", "alg_noconf", "alg_conf", "vol_softmax")
"""Training stages in order; ``2d`` also exports the RANSAC baseline (``ransac``), which trains nothing itself."""

RIGS = {  # --rig -> (file prefix, table name, description)
    "human36m": ("embedded", "embedded_h36m_rig", "Human3.6M-like 4-camera rig"),
    "dome": ("embedded_dome", "embedded_dome", "Panoptic-like 31-camera dome, 4 cameras per sample"),
}


def data_options(split: str, quick: bool, rig: str = "human36m") -> dict[str, Any]:
    """Dataset options of a split. On the dome every sample shows 4 of its 31 cameras: drawn at random for
    training, the same evenly spread 4 for validation (as in the paper's 4-camera Panoptic evaluation)."""
    opts: dict[str, Any] = {"rig": rig, "image_size": IMAGE_SIZE, "fps": 30.0, "seed": 0}
    if rig == "dome":
        opts["num_views"] = 4
    if split == "val":
        opts["frame_stride"] = 2
    if quick:
        opts["max_frames_per_clip"] = 24 if split == "train" else 8
    return opts


def base_config(name: str, args: argparse.Namespace, **kw: Any) -> TrainConfig:
    """The shared settings of every stage, updated with ``kw``."""
    d: dict[str, Any] = dict(
        name=name,
        backbone="tiny",
        v2v="tiny",
        dataset="synthetic",
        dataset_options=data_options("train", args.quick, args.rig),
        image_size=(IMAGE_SIZE, IMAGE_SIZE),
        batch_size=args.batch_size,
        epochs=1000,
        device="cpu",
        seed=args.seed,
        num_workers=0,
        out_dir=str(Path(args.runs) / name),
        log_every=10,
        val_max_samples=args.val_during,
        progress=None,
        grad_clip=args.grad_clip,
        resume="auto" if args.resume else None,
    )
    d.update(kw)
    return TrainConfig(**d)


def run_stage(cfg: TrainConfig, train: Dataset, val: Dataset, val_every: int) -> tuple[Trainer, float]:
    """Train one stage; returns the trainer and its wall time in seconds (summed over resumed runs)."""
    t0 = time.time()
    trainer = Trainer(cfg.updated(val_every=val_every), train_dataset=train, val_dataset=val)
    trainer.fit()
    record = Path(cfg.out_dir) / "stage_seconds.json"
    earlier = json.loads(record.read_text())["seconds"] if cfg.resume and record.exists() else 0.0
    seconds = earlier + time.time() - t0
    record.write_text(json.dumps({"seconds": round(seconds, 1)}) + "\n")
    return trainer, seconds


def portable_config(cfg: TrainConfig) -> dict[str, Any]:
    """``cfg.to_dict()`` with the run paths (``out_dir``, ``init_from``) relative to the repository when inside it,
    so that an exported checkpoint does not record the machine it was trained on."""
    d = cfg.to_dict()
    for key in ("out_dir", "init_from"):
        if d.get(key):
            p = Path(d[key]).resolve()
            d[key] = p.relative_to(ROOT).as_posix() if p.is_relative_to(ROOT) else p.name
    return d


def export(
    trainer_or_model: Any, cfg: TrainConfig, name: str, metrics: dict[str, Any], extra: dict[str, Any], out: Path
) -> Path:
    """Write ``<prefix>_<name>.pt`` (weights + config) and ``<prefix>_<name>.json`` (manifest); ``name`` includes
    the rig's prefix (``embedded_alg_conf``, ``embedded_dome_alg_conf``)."""
    model = trainer_or_model.raw_model if isinstance(trainer_or_model, Trainer) else trainer_or_model
    path = out / f"{name}.pt"
    version = code_version()
    config = portable_config(cfg)
    torch.save(
        {
            "format": "lt_core.train/1-export",
            "model": model.state_dict(),
            "config": config,
            "metrics": metrics,
            "code_version": version,
            "torch_version": torch.__version__,
            **extra,
        },
        path,
    )
    write_manifest(
        path.with_suffix(".json"),
        config,
        device="cpu",
        status="finished",
        metrics=metrics,
        extra={**extra, "checkpoint": path.name, "parameters": sum(p.numel() for p in model.parameters())},
        version=version,
    )
    return path


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="tiny smoke run (minutes; numbers not meaningful)")
    ap.add_argument(
        "--rig",
        choices=sorted(RIGS),
        default="human36m",
        help="training and test rig: the Human3.6M-like rig (embedded_*.pt) or the dome, 4 of its cameras "
        "per sample (embedded_dome_*.pt, for the paper's Panoptic experiments)",
    )
    ap.add_argument("--steps-2d", type=int, default=1500, help="optimizer steps of the 2D backbone stage")
    ap.add_argument("--steps-3d", type=int, default=600, help="optimizer steps of each algebraic stage")
    ap.add_argument("--steps-vol", type=int, default=2400, help="optimizer steps of the volumetric stage")
    ap.add_argument("--batch-size", type=int, default=8)
    ap.add_argument("--lr-2d", type=float, default=1e-3)
    ap.add_argument("--lr-backbone", type=float, default=3e-4, help="backbone lr of the 3D stages")
    ap.add_argument("--lr-heads", type=float, default=1e-3, help="confidence head / process_features / V2V lr")
    ap.add_argument("--grad-clip", type=float, default=10.0)
    ap.add_argument("--lr-heads-vol", type=float, default=3e-3, help="process_features / V2V lr (volumetric)")
    ap.add_argument("--volume-size", type=int, default=16, help="voxels per side (multiple of 8 for the tiny V2V)")
    ap.add_argument(
        "--v2v-channels",
        default="16,32,32,32",
        help="V2V widths c0,...,cL (the tiny preset is 8,16,16,16; the paper's 32,64,128,128,128,128)",
    )
    ap.add_argument("--v2v-front", type=int, default=16, help="channels of the V2V's first convolution")
    ap.add_argument("--cuboid-side", type=float, default=2200.0, help="cuboid side in mm")
    ap.add_argument("--val-during", type=int, default=48, help="validation samples during training")
    ap.add_argument(
        "--threads", type=int, default=1, help="torch CPU threads (1 is the most robust on a shared machine)"
    )
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--runs", default=str(ROOT / "runs" / "embedded"), help="run folders (logs, full checkpoints)")
    ap.add_argument("--checkpoints", default=str(ROOT / "data" / "checkpoints"))
    ap.add_argument("--tables", default=str(ROOT / "results" / "tables"))
    ap.add_argument("--resume", action="store_true", help="continue interrupted stages from their last.pt")
    ap.add_argument(
        "--stages",
        default=",".join(STAGES),
        help="comma-separated stages to (re)train; the others keep their exported checkpoints (the 3D "
        "stages need runs/embedded/embedded_2d/last.pt from an earlier 2d stage)",
    )
    ap.add_argument("--fresh", action="store_true", help="delete this rig's run folders first")
    ap.add_argument(
        "--evaluate-only",
        action="store_true",
        help="skip training: evaluate the checkpoints in --checkpoints and rewrite the tables",
    )
    ap.add_argument(
        "--eval-split",
        choices=sorted(EVAL_SPLITS),
        action="append",
        help="held-out clip set(s) of the tables (repeatable; default: val, and val_ext for the "
        "Human3.6M-like rig): val_ext adds one held-out clip of each Daz/Poser family",
    )
    args = ap.parse_args(argv)
    args.stages = set(args.stages.split(","))
    if args.stages - set(STAGES):  # before anything is rendered
        ap.error(f"unknown --stages {sorted(args.stages - set(STAGES))}; choose from {', '.join(STAGES)}")
    if args.quick:
        args.steps_2d, args.steps_3d, args.steps_vol, args.val_during = 20, 10, 10, 8
    torch.set_num_threads(args.threads)
    runs, ckpt_dir, tables = Path(args.runs), Path(args.checkpoints), Path(args.tables)
    if args.fresh and not args.evaluate_only:  # this rig's run folders only (the other rig's stay)
        for stage in (*STAGES, "ransac"):
            shutil.rmtree(runs / f"{RIGS[args.rig][0]}_{stage}", ignore_errors=True)
    ckpt_dir.mkdir(parents=True, exist_ok=True)
    tables.mkdir(parents=True, exist_ok=True)
    t_start = time.time()

    print(f"rendering the embedded data ({RIGS[args.rig][2]}, {IMAGE_SIZE} px) ...", flush=True)
    t0 = time.time()
    train = (
        None
        if args.evaluate_only
        else InMemory(SyntheticMultiViewDataset("train", **data_options("train", args.quick, args.rig)), desc="train")
    )
    val = (
        None
        if args.evaluate_only
        else InMemory(SyntheticMultiViewDataset("val", **data_options("val", args.quick, args.rig)), desc="val")
    )
    render_s = time.time() - t0
    print(
        f"  {len(train) if train else 0} training and {len(val) if val else 0} validation samples in {render_s:.0f} s",
        flush=True,
    )
    val_every = 2 if not args.quick else 1
    timings: dict[str, float] = {"render": render_s}
    if not args.evaluate_only:
        train_all(args, train, val, val_every, timings, runs, ckpt_dir)
    splits = args.eval_split or (["val", "val_ext"] if args.rig == "human36m" else ["val"])
    frames = {}
    for split in splits:
        print(f"evaluating on the {split} clips ...", flush=True)
        frames[split] = write_tables(ckpt_dir, tables, args.quick, args.rig, split)
    total = time.time() - t_start
    timings["total"] = total
    runs.mkdir(parents=True, exist_ok=True)
    (runs / "timings.json").write_text(json.dumps(timings, indent=2))
    for split, df in frames.items():
        print(f"{split}:\n{df.to_string(index=False)}")
    print(f"total {total / 60:.1f} min (render {render_s:.0f} s); timings in {runs / 'timings.json'}")
    return 0


def train_all(
    args: argparse.Namespace,
    train: Dataset,
    val: Dataset,
    val_every: int,
    timings: dict[str, float],
    runs: Path,
    ckpt_dir: Path,
) -> None:
    """The four stages; each exports its checkpoint and manifest to ``ckpt_dir``."""
    stages = args.stages
    prefix = RIGS[args.rig][0]
    backbone_ckpt = str(runs / f"{prefix}_2d" / "last.pt")
    if "2d" in stages:
        # 1. 2D backbone (also the RANSAC baseline's)
        cfg2d = base_config(
            f"{prefix}_2d",
            args,
            model="algebraic",
            model_options={"use_confidences": False},
            loss="heatmap_2d",
            loss_options={"sigma": 1.5, "keypoints_weight": 0.1},
            max_steps=args.steps_2d,
            lr_backbone=args.lr_2d,
            lr_heads=args.lr_2d,
        )
        print(f"stage 2d: {args.steps_2d} steps", flush=True)
        tr2d, timings["2d"] = run_stage(cfg2d, train, val, val_every)

        # RANSAC on the 2D backbone (nothing more to train)
        cfg_r = base_config(
            f"{prefix}_ransac",
            args,
            model="ransac",
            epochs=0,
            init_from=backbone_ckpt,
            model_options={"threshold": 15.0 * IMAGE_SIZE / 384},
        )
        torch.manual_seed(args.seed)
        ransac = build_model(cfg_r)
        init_from_checkpoint(ransac, backbone_ckpt)
        export(
            ransac,
            cfg_r,
            f"{prefix}_ransac",
            tr2d.last_val,
            {"train_steps": tr2d.step, "train_s": round(timings["2d"], 1), "backbone_from": f"{prefix}_2d"},
            ckpt_dir,
        )
    elif not Path(backbone_ckpt).exists():
        raise SystemExit(f"{backbone_ckpt} is missing: run the 2d stage first (--stages 2d,...)")

    # 2-3. algebraic without / with confidences, 4. volumetric; all fine-tuned from the 2D backbone
    common = dict(
        max_steps=args.steps_3d, init_from=backbone_ckpt, lr_backbone=args.lr_backbone, lr_heads=args.lr_heads
    )
    stage_list = [
        ("alg_noconf", dict(model="algebraic", model_options={"use_confidences": False})),
        ("alg_conf", dict(model="algebraic", model_options={"use_confidences": True})),
        (
            "vol_softmax",
            dict(
                model="volumetric",
                lr_heads=args.lr_heads_vol,
                model_options={
                    "volume_size": args.volume_size,
                    "cuboid_side": args.cuboid_side,
                    "aggregation": "softmax",
                    "v2v_options": {
                        "channels": [int(c) for c in args.v2v_channels.split(",")],
                        "front_channels": args.v2v_front,
                    },
                },
            ),
        ),
    ]
    for name, kw in [st for st in stage_list if st[0] in stages]:
        steps = args.steps_vol if name.startswith("vol") else args.steps_3d
        cfg = base_config(f"{prefix}_{name}", args, **{**common, "max_steps": steps, **kw})
        print(f"stage {name}: {steps} steps", flush=True)
        tr, timings[name] = run_stage(cfg, train, val, val_every)
        export(
            tr,
            cfg,
            f"{prefix}_{name}",
            tr.last_val,
            {"train_steps": tr.step, "train_s": round(timings[name], 1), "init_from": f"{prefix}_2d"},
            ckpt_dir,
        )


MODELS = (  # (checkpoint name, table label)
    ("ransac", "RANSAC (hard argmax, 2D backbone)"),
    ("alg_noconf", "Algebraic, no confidences (unweighted DLT)"),
    ("alg_conf", "Algebraic, learned confidences"),
    ("vol_softmax", "Volumetric (softmax), root from algebraic"),
)


EVAL_FRAMES = {"human36m": 125, "dome": 60}
"""Frames per held-out clip, evenly spread, by rig: notebook 06's ``FRAMES["main"]`` and ``FRAMES["dome"]``, so that
the tables written here and notebook 06 evaluate the same samples and report the same numbers."""

EVAL_SPLITS = {"val": "", "val_ext": "_val_ext"}
"""Held-out clip sets the tables can be measured on -> suffix of the table's file names."""


def held_out(rig: str, split: str, quick: bool) -> Dataset:
    """The held-out samples of a rig: 4 cameras (the dome's 4 evenly spread ones), ``EVAL_FRAMES`` frames per clip
    of ``split`` (:func:`lt_core.train.methods.embedded_eval_dataset`, exactly as notebook 06 builds them)."""
    return embedded_eval_dataset(
        rig, image_size=IMAGE_SIZE, views=4, frames_per_clip=2 if quick else EVAL_FRAMES[rig], split=split
    )


def write_tables(ckpt_dir: Path, tables: Path, quick: bool, rig: str = "human36m", split: str = "val") -> pd.DataFrame:
    """Evaluate the exported checkpoints of ``rig`` on held-out clips; write the CSV / Markdown tables.

    The samples are notebook 06's (:func:`held_out`). The volumetric model's cuboid is centred on the pelvis
    predicted by ``alg_conf`` (the paper's test protocol); its manifest also records the result with the
    ground-truth pelvis. Missing checkpoints (a stage still being trained in another process) are skipped with a
    message. Per clip, per family and pooled errors go to ``<table>_per_clip.csv`` and the Markdown table.

    Args:
        ckpt_dir: folder of the exported ``<prefix>_<name>.pt`` checkpoints.
        tables: output folder.
        quick: smoke run (2 frames per clip; the caption says the numbers mean nothing).
        rig: ``"human36m"`` or ``"dome"``.
        split: ``"val"`` (the two original held-out clips; the manifests' test metrics) or ``"val_ext"`` (also one
            held-out clip of each family of the Daz/Poser clips), written as ``<table>_val_ext.*``.
    """
    prefix, table_name, description = RIGS[rig]
    table_name += EVAL_SPLITS[split]
    val = held_out(rig, split, quick)
    rows, per_clip = [], {}
    alg_preds = None
    for name, label in MODELS:
        path = ckpt_dir / f"{prefix}_{name}.pt"
        if not path.exists():
            print(f"  {path.name}: missing, not in the table", flush=True)
            continue
        model = load_trained_model(path)
        root = alg_preds if name.startswith("vol") and alg_preds is not None else "gt"
        preds = predict(model, val, batch_size=8, root=root)
        if name == "alg_conf":
            alg_preds = preds
        ev = preds.evaluate()
        manifest = json.loads(path.with_suffix(".json").read_text())
        if split == "val":
            metrics = dict(ev.summary)
            if name.startswith("vol"):
                gt_root = predict(model, val, batch_size=8, root="gt").evaluate().summary["mpjpe_rel"]
                metrics["mpjpe_rel_gt_root"] = gt_root
            manifest["metrics"] = {**manifest.get("metrics", {}), **{f"test_{k}": v for k, v in metrics.items()}}
            path.with_suffix(".json").write_text(json.dumps(manifest, indent=2, default=str) + "\n")
        rows.append(
            {
                "model": label,
                "checkpoint": path.name,
                "MPJPE abs (mm)": ev.summary["mpjpe_abs"],
                "MPJPE rel (mm)": ev.summary["mpjpe_rel"],
                "PA-MPJPE (mm)": ev.summary["pa_mpjpe"],
                "frames": ev.summary["frames"],
                "train steps": manifest.get("train_steps", manifest.get("step")),
                "train time (s)": manifest.get("train_s"),
            }
        )
        per_clip[label] = per_clip_table(preds)
        print(
            f"  {name}: {ev.summary['mpjpe_rel']:.1f} mm relative, {ev.summary['mpjpe_abs']:.1f} mm absolute",
            flush=True,
        )
    if not rows:
        raise SystemExit(f"no {prefix}_*.pt checkpoints in {ckpt_dir}")
    df = pd.DataFrame(rows)
    df.to_csv(tables / f"{table_name}.csv", index=False, float_format="%.2f")
    long = pd.concat(per_clip, names=["model"]).reset_index()
    long.to_csv(tables / f"{table_name}_per_clip.csv", index=False, float_format="%.2f")
    wide = long.pivot(index="model", columns="clip", values="mpjpe_rel")
    wide = wide.loc[list(per_clip), list(dict.fromkeys(long["clip"]))].reset_index()
    clips = [c for c in wide.columns[1:] if not c.startswith(("family:", "mean", "pooled"))]
    n = int(df["frames"].iloc[0])
    caption = (
        f"**Embedded data, {description}**, 128 px crops, held-out clips ({n} frames: "
        f"{2 if quick else EVAL_FRAMES[rig]} evenly spread frames of each of {', '.join(clips)}, the samples "
        "notebook 06 evaluates); tiny CPU models (ResNet-18 x0.25 backbone); MPJPE in mm, relative = "
        "pelvis subtracted from prediction and ground truth. "
        + ("QUICK SMOKE RUN: numbers not meaningful. " if quick else "")
        + "Written by `scripts/train_embedded.py`."
    )
    per_clip_caption = "Relative MPJPE (mm) per held-out clip, per family and pooled ('pooled' = over frames):"
    text = f"{caption}\n\n{markdown_table(df, '.1f')}\n\n{per_clip_caption}\n\n{markdown_table(wide, '.1f')}\n"
    (tables / f"{table_name}.md").write_text(text)
    return df


if __name__ == "__main__":
    sys.exit(main())
