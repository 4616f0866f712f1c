"""Train small CPU models on the embedded multi-view data and compare them on held-out clips.

Usage::

    python scripts/train_embedded.py --rig all --fresh   # both rigs in parallel (make train): the committed checkpoints
    python scripts/train_embedded.py --fresh             # the Human3.6M-like rig only
    python scripts/train_embedded.py --rig dome --fresh  # the Panoptic-like dome only
    python scripts/train_embedded.py --quick             # a smoke run in a few minutes (numbers not meaningful)
    python scripts/train_embedded.py --evaluate-only     # re-evaluate data/checkpoints, rewrite the tables
    python scripts/train_embedded.py --resume            # continue stages from runs/embedded/<stage>/last.pt
    python scripts/train_embedded.py --stages vol_softmax  # retrain one stage on the existing earlier stages

RECIPE (the defaults; see EXPERIMENTS below for the measurements behind each choice)
------------------------------------------------------------------------------------
Data: the ``train_ext`` clips (:mod:`lt_core.data.clips`: 5 CMU clips and 37 CMU clips on the Daz figure, salsa,
martial arts and Indian dance) rendered once through the rig (:class:`lt_core.train.rendered.RenderedDataset`, cached
as uint8 under ``runs/embedded/renders``): every frame of the 5 CMU clips and every ``--stride-daz``-th frame of the
others at 30 fps, ``--subjects`` clothing/build styles per clip, a random scene per frame, and per view a random crop
scale, shift and roll (``--crop-jitter``). At read time: occluders and colour jitter. Crops ``--image-size`` px.

Stages (the tiny backbone, ResNet-18 at width 0.25; Adam with a cosine learning-rate decay; the paper's losses):

1. ``2d``: the backbone is trained on 2D keypoints, as the paper starts from a backbone pretrained on 2D pose:
   Gaussian heatmap MSE plus 0.1 x the soft-argmax L1 in pixels (:func:`lt_core.train.factory.heatmap_2d_loss`).
   The **RANSAC** baseline is this backbone as it is (hard argmax with a parabolic sub-pixel peak + RANSAC, the
   paper's 15 px at 384 px scaled to the crop).
2. ``alg_noconf``: algebraic triangulation without confidences (unweighted DLT), fine-tuned from (1), with the
   soft-argmax at inverse temperature ``--beta`` 20 instead of the paper's 100 (EXPERIMENTS 9).
3. ``alg_conf``: the same with the learned per-view, per-joint confidences, fine-tuned from (1).
4. ``vol_softmax``: volumetric triangulation (softmax aggregation), backbone from ``--vol-init`` (the trained
   ``alg_conf`` by default), L1 + 0.01 CE loss, some samples with fewer views (``--view-dropout``) so that it also
   answers from one camera; at test time its cuboid is centred on the pelvis predicted by ``alg_conf`` (the
   paper's protocol).

Evaluation: the held-out ``val_ext`` clips (131_03, 05_06 and one clip or pair of each new family), 4 views,
``--eval-frames`` frames per clip evenly spread: exactly the samples notebook 06 evaluates
(:func:`lt_core.train.methods.embedded_eval_dataset`), so the two report the same numbers. Per clip, per family and
pooled (:func:`lt_core.train.evaluate.per_clip_table`); the pooled row of the two original clips (``family:
cmu``) keeps the earlier numbers comparable. The volumetric model is also run on each camera alone (cuboid on the
ground-truth pelvis; 40 frames per clip and camera, notebook 06's), like the paper's monocular row.

``--rig all`` runs ``--rig human36m`` and ``--rig dome`` as two processes side by side (one torch thread each:
on the shared 2-core machine two single-thread processes are robust, while two threads in one process were up to
8x slower under load) and reports the wall time of the whole.

EXPERIMENTS
-----------
Measured on the 2-core CPU (one torch thread per process, the two rigs side by side). "val48" is the validation
logged during training (``val.csv`` of each run): the first 48 held-out samples, all from clip 131_03, relative
MPJPE; the final numbers are on all 750 held-out samples (125 per clip of ``val_ext``; the dome: 60 per clip).

1. The recipe before this one (commit 73d1229: the 5 CMU clips, 1,485 frames, 2 styles per clip, no augmentation,
   1500 / 600 / 600 / 2400 steps at a constant learning rate, the skeleton's root as the pelvis) reached, on
   ``val_ext``: volumetric 162.7, algebraic 166.8 (with confidences) / 167.9 (without), RANSAC 175.6 mm pooled,
   168-228 mm on each Daz/Poser clip, 107.7 mm (volumetric) on 131_03 + 05_06.
2. The pelvis. With the skeleton's root as the pelvis, the roots of the CMU clips lay 96 mm (131_03) and 107 mm
   (05_06) above the midpoint of the hips along the trunk, those of the Daz/Poser clips 26-28 mm below it, and the
   pelvis of real Human3.6M (the official fixture's 12 items) 5 mm from it. The training data mixed three pelvis
   definitions while relative MPJPE subtracts the pelvis from every joint; :mod:`lt_core.data.joint_mapping` now
   takes the midpoint of the hips for every source.
3. This recipe, as the defaults say (train_ext: 42 clips, 11,991 frames x 4 views, 6 styles per clip, crop jitter
   0.1 / 0.05 / 15 degrees, occluders 0.2, colour jitter, cosine decay to 0.02, view dropout 0.2 in the
   volumetric stage) and the pelvis of (2). val48 after each epoch (1,498 steps):

   ============================  =========================  =========================
   stage                         Human3.6M-like rig         dome, 4 random cameras
   ============================  =========================  =========================
   2d (soft-argmax + DLT)        59.1, 48.0, 47.1, 44.4     75.4, 55.4, 46.2, 44.7
   alg_noconf (1000 steps)       41.3                       39.0
   alg_conf (1500 steps)         37.3                       34.3
   vol_softmax (4000 steps)      31.4, 26.2, 24.5 (end)     42.1, 33.9, 33.0 (end)
   ============================  =========================  =========================

   Final, pooled over the 750 held-out samples of ``val_ext`` (``results/tables/embedded_h36m_rig.md``): volumetric
   51.4, algebraic with confidences 55.8, without 59.6, RANSAC 56.8 mm; volumetric on one camera 97.3 mm (40 frames
   per clip and camera). Per clip the volumetric model is at 26.5-44.9 mm on 131_03 and the four Daz/Poser clips
   and 132.3 mm on 05_06 (modern dance). Dome: 51.8, 51.3, 56.7, 58.2 mm. Compared with (1): 3.0x (algebraic
   with confidences) to 3.2x (volumetric) lower pooled error; the volumetric model's error on 131_03 + 05_06 fell
   from 107.7 to 83.5 mm although those clips' pelvis moved (2).
4. Volume and V2V (measured for the earlier recipe): 16^3 voxels over 2.2 m with V2V widths 16-32-32-32 learned
   faster than 24^3 with 8-16-16-16 (114 mm after 800 steps against 138 mm after 600, relative MPJPE with the
   ground-truth pelvis), at a cost a 2-core CPU affords; the paper's 64^3 over 2.5 m needs a GPU.
5. Speed: channels-last convolution weights take 16-17 % less time per training step of the 2D and volumetric
   stages; two single-thread processes (``--rig all``) were robust on the shared 2-core machine, while one
   process with two threads was up to 8x slower under load.
6. The unweighted algebraic model for 1500 steps instead of 1000 (``--stages alg_noconf --steps-noconf 1500``, the
   same 2D stage): 58.3 mm pooled instead of 59.6 (dome 56.2 instead of 56.7), still behind RANSAC's 56.8 mm, in
   330 s instead of 190 s. The default stays 1000 steps.
7. Time of ``make train`` (``--rig all --fresh``) with these defaults: 78.7 min wall for both rigs. Per rig:
   rendering 426 s (the two rigs rendering at once), 2d 1197 s (0.20 s per step), alg_noconf 190 s, alg_conf 309
   s, vol_softmax 2431 s (0.61 s per step), evaluation 168 s (102 s since the single-view row uses notebook 06's
   40 frames per clip instead of 125).
8. Why 05_06 stays the worst clip, and pose tilt. 17 of the 125 evaluated frames of 05_06 are a standing split:
   one ankle on the floor, the other raised up to 1.88 m, the trunk (pelvis to thorax) 60-144 degrees from the
   vertical. There the volumetric model of (3) is at 547 mm (every model predicts a trunk pointing up); on the other 108
   frames it is at 67.0 mm. Of the 32,961 frames (30 fps) of the ``train_ext`` clips, 14 have the trunk more than
   60 degrees from the vertical and 3 past the horizontal (all in salsa_24); 05_06 has 29 and 21 of its 222.
   ``--pose-tilt 0.3 180`` (30 % of the training poses turned about a horizontal axis by up to 180 degrees, then
   lifted above the floor; ``--steps-noconf 1500``) halves the error of those frames but costs every upright clip
   8-14 mm: algebraic with confidences 309 instead of 576 mm on the 17 frames, 70.9 instead of 67.8 on the others,
   58.2 mm pooled instead of 55.8 (131_03 50.7 instead of 38.7, 05_06 103.3 instead of 136.9); RANSAC 61.2
   instead of 56.8, the unweighted model 60.1. val48 after the 2D stage 52.6 instead of 44.4 mm, after the first
   volumetric epoch 41.6 instead of 31.4 (the run was stopped there). The small backbone pays for the new poses
   with the common ones; the default stays without tilt.
9. The soft-argmax temperature. The unweighted algebraic model stayed behind RANSAC (59.6 against 56.8 mm; 58.3
   after 1500 steps, 58.1 after 1500 steps at a backbone learning rate of 1e-3). ``scripts/peak_readout.py`` reads
   the committed 2D backbone's heatmaps in several ways (``results/tables/peak_readout.md``): RANSAC's outlier
   rejection adds nothing here (the same sub-pixel peaks, all four views, one DLT: 56.4 mm), its parabolic sub-pixel
   peak does (integer maxima: 66.8 mm). At the paper's inverse temperature 100 the soft-argmax of heatmaps trained
   towards unit Gaussians (sigma 1.5 heatmap pixels) is nearly the integer argmax: 62.9 mm through a DLT, 57.0 at
   30, 55.4 at 20, 74.4 at 10, before any 3D training. ``--beta 20`` for both algebraic stages (the 2D stage keeps
   100; the volumetric stage and RANSAC do not use it), the three 3D stages retrained on the same 2D stage:
   unweighted 53.6 (was 59.6), with confidences 51.1 (was 55.8), volumetric 51.3 (was 51.4) mm pooled;
   dome 53.7, 49.5, 50.5 (were 56.7, 51.3, 51.8). The unweighted model is now ahead of RANSAC (56.8); the
   volumetric model is level with the one with confidences instead of ahead. 68.2 min wall for both rigs.
10. Pose pivot, the default since commit 27def4a (``--pose-pivot 0.15 150``). In the split frames of (8) the
   standing thigh stays within 13-29 degrees of the vertical and the pelvis near 950 mm: the body hinges about
   the standing hip. 15 % of the training poses are hinged that way (everything above the standing knee turned
   about a random horizontal axis through that hip, by up to 150 degrees, in the sense that lifts the other hip,
   no turned joint within 150 mm of the floor). ``make train`` (``--rig all --fresh``): 77.0 min wall for both
   rigs (per rig: rendering 385 s, 2d 1174 s, alg_noconf 193 s, alg_conf 329 s, vol_softmax 2409 s, evaluation
   128 s; a side evaluation shared the cores for about 13 minutes). val48 (131_03 only) after the 2D stage 45.8
   instead of 44.4 mm (dome 51.1 instead of 44.7), after the volumetric stage 31.5 instead of 27.5 (the run of 9).
   Pooled (before -> now): volumetric 51.3 -> 43.1, algebraic with confidences 51.1 -> 44.2, without 53.6 -> 46.7,
   RANSAC 56.8 -> 52.8 mm; 05_06 (volumetric) 134.1 -> 77.2 mm, on its 17 split frames 559.8 -> 186.9 mm and on
   the other 108 frames 67.2 -> 59.9. The upright clips pay 1-4 mm (volumetric: 131_03 37.2 -> 40.1, salsa_14
   25.4 -> 28.1, salsa_29 31.3 -> 32.2, indian_06 35.1 -> 38.8; martial_07 44.8 -> 42.1), and one camera 98.9 ->
   102.7 mm. Dome: 50.5 / 49.5 / 53.7 / 58.2 -> 44.5 / 44.8 / 49.9 / 53.6 mm. Compared with tilt (8), the hinged
   bodies keep a foot on the floor, as the held-out dance does, and the upright clips lose less: 0-4 mm with the
   algebraic model with confidences, against 8-14 mm with tilt. Volumetric < algebraic with confidences <
   without < RANSAC now holds on both rigs, the first two 1.1 mm apart (dome 0.3).

Outputs: ``data/checkpoints/<prefix>_<name>.pt`` (weights + config) with ``<prefix>_<name>.json`` (manifest: config,
seed, code version, metrics, training time, data and model size), run folders under ``--runs`` (CSV logs, full
checkpoints, ``timings.json``), and ``results/tables/<table>.md`` / ``.csv`` (pooled) with ``<table>_per_clip.csv``;
prefix ``embedded`` / table ``embedded_h36m_rig`` for the Human3.6M-like rig, ``embedded_dome`` for the dome.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import pandas as pd  # noqa: E402
import torch  # noqa: E402
from torch.utils.data import ConcatDataset, Dataset  # noqa: E402

from lt_core.data.synthetic import TRAIN_CLIPS, SyntheticMultiViewDataset, clip_set  # noqa: E402
from lt_core.tables import markdown_table  # noqa: E402
from lt_core.train import TrainConfig, Trainer, predict  # noqa: E402
from lt_core.train.evaluate import per_clip_table  # noqa: E402
from lt_core.train.factory import build_model, init_from_checkpoint  # noqa: E402
from lt_core.train.methods import embedded_eval_dataset, load_method_model, pooled_evaluation  # noqa: E402
from lt_core.train.records import code_version, write_manifest  # noqa: E402
from lt_core.train.rendered import ColorJitter, Compose, Occluders, RenderedDataset, ViewDropout  # noqa: E402

STAGES = ("2d", "alg_noconf", "alg_conf", "vol_softmax")
"""Training stages in order; ``2d`` also exports the RANSAC baseline (``ransac``), which trains nothing itself."""

RIGS = {  # --rig -> (file prefix, table name, description)
    "human36m": ("embedded", "embedded_h36m_rig", "Human3.6M-like 4-camera rig"),
    "dome": ("embedded_dome", "embedded_dome", "Panoptic-like 31-camera dome, 4 cameras per sample"),
}

MODELS = (  # (checkpoint name, method key of lt_core.train.methods, table label)
    ("ransac", "ransac", "RANSAC (hard argmax, 2D backbone)"),
    ("alg_noconf", "algebraic_noconf", "Algebraic, no confidences (unweighted DLT)"),
    ("alg_conf", "algebraic", "Algebraic, learned confidences"),
    ("vol_softmax", "volumetric", "Volumetric (softmax), root from algebraic"),
)


EVAL_FRAMES = {"human36m": 125, "dome": 60}
"""Frames per held-out clip, evenly spread, by rig: notebook 06's ``FRAMES["main"]`` and ``FRAMES["dome"]``, so that
the tables written here and notebook 06 evaluate the same samples and report the same numbers."""


SINGLE_VIEW_FRAMES = 40
"""Frames per held-out clip and camera of the single-view row: notebook 06's ``FRAMES["single"]``."""


def eval_frames(args: argparse.Namespace) -> int:
    """Held-out frames per clip: ``--eval-frames`` or the rig's :data:`EVAL_FRAMES`."""
    return args.eval_frames if args.eval_frames else EVAL_FRAMES[args.rig]


# ------------------------------------------------------------------------------------------------ data
def jitter_option(text: str) -> dict[str, float]:
    """``"scale,shift,roll"`` (e.g. ``"0.1,0.05,15"``) -> the dataset's ``crop_jitter`` dict."""
    values = [float(v) for v in text.split(",")]
    if len(values) != 3:
        raise argparse.ArgumentTypeError(f"--crop-jitter needs scale,shift,roll, got {text!r}")
    return {k: v for k, v in zip(("scale", "shift", "roll"), values) if v}


def train_sources(args: argparse.Namespace, rig: str) -> list[SyntheticMultiViewDataset]:
    """The training datasets of a rig: the CMU clips (stride ``--stride-cmu``) and the Daz-figure clips (stride
    ``--stride-daz``) of ``--train-split``, rendered with the training augmentation."""
    clips = clip_set(args.train_split)
    groups = [
        ([c for c in clips if c in TRAIN_CLIPS], args.stride_cmu),
        ([c for c in clips if c not in TRAIN_CLIPS], args.stride_daz),
    ]
    opts: dict[str, Any] = dict(
        rig=rig,
        image_size=args.image_size,
        fps=30.0,
        seed=args.seed,
        subjects_per_clip=args.subjects,
        crop_jitter=args.crop_jitter or None,
        pose_tilt=tuple(args.pose_tilt),  # the dataset drops a (0, ...) or (..., 0) option
        pose_pivot=tuple(args.pose_pivot),
        random_views=True,
    )
    if rig == "dome":
        opts["num_views"] = 4
    if args.quick:
        opts["max_frames_per_clip"] = 4
    return [SyntheticMultiViewDataset(args.train_split, clips=c, frame_stride=s, **opts) for c, s in groups if c]


def render_train(args: argparse.Namespace, rig: str) -> Dataset:
    """Rendered training set (uint8, cached) with the read-time augmentation."""
    parts = [
        RenderedDataset(ds, workers=args.render_workers, cache_dir=args.render_cache, desc=f"train {i}")
        for i, ds in enumerate(train_sources(args, rig))
    ]
    aug = [
        t
        for t in (Occluders(args.occluders) if args.occluders else None, ColorJitter() if args.color_jitter else None)
        if t is not None
    ]
    for p in parts:
        p.transform = Compose(aug) if aug else None
    if parts[0].clips[0] in TRAIN_CLIPS:  # the CMU clips, read --cmu-repeat times per epoch
        parts = [parts[0]] * args.cmu_repeat + parts[1:]
    return parts[0] if len(parts) == 1 else ConcatDataset(parts)


def held_out_dataset(
    args: argparse.Namespace, rig: str, views: int | list[int] = 4, frames: int | None = None
) -> Dataset:
    """The held-out samples notebook 06 evaluates, not yet rendered: ``frames`` per clip (default
    :func:`eval_frames`; 2 in a quick run)."""
    frames = 2 if args.quick else (frames or eval_frames(args))
    return embedded_eval_dataset(
        rig, image_size=args.image_size, views=views, frames_per_clip=frames, split=args.eval_split
    )


def eval_set(args: argparse.Namespace, rig: str) -> RenderedDataset:
    """The held-out samples as uint8 cached renders: the validation logged during training."""
    ds = held_out_dataset(args, rig)
    return RenderedDataset(ds, workers=args.render_workers, cache_dir=args.render_cache, desc="eval")


def exact_eval_set(
    args: argparse.Namespace, rig: str, views: int | list[int] = 4, frames: int | None = None
) -> RenderedDataset:
    """The samples of :func:`held_out_dataset` rendered once with their float images, as notebook 06 sees them (in
    memory): the tables use these, because storing the images as uint8 moves RANSAC's hard-argmax points (57.1
    instead of 56.8 mm on the Human3.6M-like rig; the soft-argmax models change by less than 0.05 mm)."""
    ds = held_out_dataset(args, rig, views, frames)
    return RenderedDataset(ds, workers=args.render_workers, desc="eval (float32)", storage="float32")


class ViewDropped(Dataset):
    """A rendered dataset whose reads also drop views (volumetric stage)."""

    def __init__(self, dataset: Dataset, dropout: ViewDropout) -> None:
        self.dataset, self.dropout = dataset, dropout

    def __len__(self) -> int:
        return len(self.dataset)  # type: ignore[arg-type]

    def __getitem__(self, i: int) -> dict[str, Any]:
        return self.dropout(self.dataset[i])


# ------------------------------------------------------------------------------------------------ training
def base_config(name: str, args: argparse.Namespace, **kw: Any) -> TrainConfig:
    """The shared settings of every stage, updated with ``kw``."""
    d: dict[str, Any] = dict(
        name=name,
        backbone="tiny",
        v2v="tiny",
        dataset="synthetic",
        dataset_options={"rig": args.rig, "image_size": args.image_size, "fps": 30.0, "seed": args.seed},
        train_split=args.train_split,
        val_split=args.eval_split,
        image_size=(args.image_size, args.image_size),
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
        lr_schedule=args.lr_schedule,
        warmup_steps=args.warmup,
        lr_final_factor=args.lr_final,
    )
    d.update(kw)
    return TrainConfig(**d)


def channels_last(model: torch.nn.Module) -> torch.nn.Module:
    """Channels-last weights for the 2D and 3D convolutions (oneDNN picks faster CPU kernels: measured 16-17 % less
    time per training step of the 2D and volumetric stages, EXPERIMENTS)."""
    for module in model.modules():
        if isinstance(module, (torch.nn.Conv2d, torch.nn.ConvTranspose2d)):
            module.to(memory_format=torch.channels_last)
        elif isinstance(module, (torch.nn.Conv3d, torch.nn.ConvTranspose3d)):
            module.to(memory_format=torch.channels_last_3d)
    return model


def run_stage(cfg: TrainConfig, train: Dataset, val: Dataset, fast_layout: bool = True) -> tuple[Trainer, float]:
    """Train one stage; returns the trainer and its wall time in seconds (summed over resumed runs)."""
    from lt_core.train.checkpoint import seed_everything

    t0 = time.time()
    seed_everything(cfg.seed)  # as the trainer does before building a model itself
    model = channels_last(build_model(cfg)) if fast_layout else None
    trainer = Trainer(cfg.updated(val_every=1), model=model, train_dataset=train, val_dataset=val)
    trainer.fit()
    record = Path(cfg.out_dir) / "stage_seconds.json"
    earlier = json.loads(record.read_text())["seconds"] if cfg.resume and record.exists() else 0.0
    seconds = earlier + time.time() - t0
    record.write_text(json.dumps({"seconds": round(seconds, 1)}) + "\n")
    return trainer, seconds


def portable_config(cfg: TrainConfig) -> dict[str, Any]:
    """``cfg.to_dict()`` with the run paths relative to the repository when inside it."""
    d = cfg.to_dict()
    for key in ("out_dir", "init_from"):
        if d.get(key):
            p = Path(d[key]).resolve()
            d[key] = p.relative_to(ROOT).as_posix() if p.is_relative_to(ROOT) else p.name
    return d


LAUNCH_VERSION: dict[str, Any] | None = None
"""The code version when this run started (:func:`main` sets it): the manifests name the code that trained, not
whatever is checked out when a later stage exports."""


def export(
    trainer_or_model: Any, cfg: TrainConfig, name: str, metrics: dict[str, Any], extra: dict[str, Any], out: Path
) -> Path:
    """Write ``<name>.pt`` (weights + config) and ``<name>.json`` (manifest) into ``out``."""
    model = trainer_or_model.raw_model if isinstance(trainer_or_model, Trainer) else trainer_or_model
    path = out / f"{name}.pt"
    version = LAUNCH_VERSION or code_version()
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


def data_record(train: Dataset, args: argparse.Namespace) -> dict[str, Any]:
    """What the training data was, for the manifests (and notebook 06's captions)."""
    parts = list({id(p): p for p in (train.datasets if isinstance(train, ConcatDataset) else [train])}.values())
    clips = [c for p in parts for c in p.clips]
    views = int(parts[0].images.shape[1])
    return {
        "split": args.train_split,
        "clips": len(clips),
        "frames": int(sum(len(p) for p in parts)),
        "views_per_frame": views,
        "images": int(sum(len(p) for p in parts)) * views,
        "image_size": args.image_size,
        "subjects_per_clip": args.subjects,
        "cmu_repeat": args.cmu_repeat,
        "crop_jitter": args.crop_jitter or {},
        "pose_tilt": list(args.pose_tilt),
        "pose_pivot": list(args.pose_pivot),
        "occluders": args.occluders,
        "color_jitter": args.color_jitter,
    }


def train_all(
    args: argparse.Namespace, train: Dataset, val: Dataset, timings: dict[str, float], runs: Path, ckpt_dir: Path
) -> None:
    """The four stages of one rig; each exports its checkpoint and manifest to ``ckpt_dir``."""
    prefix = RIGS[args.rig][0]
    data = data_record(train, args)
    ckpt = {s: str(runs / f"{prefix}_{s}" / "last.pt") for s in STAGES}

    def extra(stage: str, trainer: Trainer, depends: tuple[str, ...]) -> dict[str, Any]:
        seconds = {s: timings.get(s, _recorded_seconds(runs / f"{prefix}_{s}")) for s in depends + (stage,)}
        return {
            "train_steps": trainer.step,
            "train_s": round(timings[stage], 1),
            "pipeline_s": round(timings.get("render", 0.0) + sum(seconds.values()), 1),
            "pipeline": list(depends + (stage,)),
            "train_data": data,
            "threads": args.threads,
        }

    if "2d" in args.stages:
        cfg2d = base_config(
            f"{prefix}_2d",
            args,
            model="algebraic",
            model_options={"use_confidences": False},
            loss="heatmap_2d",
            loss_options={"sigma": args.sigma, "keypoints_weight": 0.1},
            max_steps=args.steps_2d,
            lr_backbone=args.lr_2d,
            lr_heads=args.lr_2d,
            warmup_steps=args.warmup_2d,
        )
        print(f"stage 2d: {args.steps_2d} steps", flush=True)
        tr2d, timings["2d"] = run_stage(cfg2d, train, val, args.channels_last)
        cfg_r = base_config(
            f"{prefix}_ransac",
            args,
            model="ransac",
            epochs=0,
            init_from=ckpt["2d"],
            model_options={"threshold": 15.0 * args.image_size / 384},
        )
        torch.manual_seed(args.seed)
        ransac = build_model(cfg_r)
        init_from_checkpoint(ransac, ckpt["2d"])
        export(
            ransac,
            cfg_r,
            f"{prefix}_ransac",
            tr2d.last_val,
            {**extra("2d", tr2d, ()), "backbone_from": f"{prefix}_2d"},
            ckpt_dir,
        )
    elif not Path(ckpt["2d"]).exists():
        raise SystemExit(f"{ckpt['2d']} is missing: run the 2d stage first (--stages 2d,...)")

    v2v = {"channels": [int(c) for c in args.v2v_channels.split(",")], "front_channels": args.v2v_front}
    stage_list = [
        (
            "alg_noconf",
            ("2d",),
            dict(
                model="algebraic",
                model_options={"use_confidences": False, "beta": args.beta},
                max_steps=args.steps_noconf,
            ),
        ),
        (
            "alg_conf",
            ("2d",),
            dict(
                model="algebraic",
                model_options={"use_confidences": True, "beta": args.beta},
                max_steps=args.steps_conf,
            ),
        ),
        (
            "vol_softmax",
            ("2d", args.vol_init) if args.vol_init != "2d" else ("2d",),
            dict(
                model="volumetric",
                lr_heads=args.lr_heads_vol,
                lr_backbone=args.lr_backbone_vol,
                max_steps=args.steps_vol,
                init_from=ckpt[args.vol_init],
                model_options={
                    "volume_size": args.volume_size,
                    "cuboid_side": args.cuboid_side,
                    "aggregation": "softmax",
                    "v2v_options": v2v,
                },
            ),
        ),
    ]
    for name, depends, kw in [st for st in stage_list if st[0] in args.stages]:
        if not Path(kw.get("init_from", ckpt["2d"])).exists():
            raise SystemExit(f"{kw['init_from']} is missing: train {depends[-1]} first")
        cfg = base_config(
            f"{prefix}_{name}",
            args,
            **{"init_from": ckpt["2d"], "lr_backbone": args.lr_backbone, "lr_heads": args.lr_heads, **kw},
        )
        data_in = (
            ViewDropped(train, ViewDropout(args.view_dropout))
            if name.startswith("vol") and args.view_dropout
            else train
        )
        print(f"stage {name}: {cfg.max_steps} steps", flush=True)
        tr, timings[name] = run_stage(cfg, data_in, val, args.channels_last)
        export(
            tr,
            cfg,
            f"{prefix}_{name}",
            tr.last_val,
            {**extra(name, tr, depends), "init_from": Path(cfg.init_from).parent.name},
            ckpt_dir,
        )


def _recorded_seconds(run_dir: Path) -> float:
    record = run_dir / "stage_seconds.json"
    return json.loads(record.read_text())["seconds"] if record.exists() else 0.0


# ------------------------------------------------------------------------------------------------ evaluation
def evaluate(args: argparse.Namespace, ckpt_dir: Path, tables: Path) -> pd.DataFrame:
    """Evaluate the exported checkpoints of ``args.rig`` on the held-out clips; write the tables."""
    prefix, table_name, description = RIGS[args.rig]
    val = exact_eval_set(args, args.rig)
    rows, per_clip, alg_preds = [], [], None
    for name, method, label in MODELS:
        path = ckpt_dir / f"{prefix}_{name}.pt"
        if not path.exists():
            print(f"  {path.name}: missing, not in the table", flush=True)
            continue
        model = load_method_model(path, method)
        root: Any = alg_preds if name.startswith("vol") and alg_preds is not None else "gt"
        preds = predict(model, val, batch_size=8, root=root)
        if name == "alg_conf":
            alg_preds = preds
        table = per_clip_table(preds)
        manifest = json.loads(path.with_suffix(".json").read_text())
        metrics = {k: float(table.loc["pooled", k]) for k in ("mpjpe_abs", "mpjpe_rel", "pa_mpjpe")}
        metrics["frames"] = int(table.loc["pooled", "frames"])
        metrics["mpjpe_rel_two_clips"] = (
            float(table.loc["family: cmu", "mpjpe_rel"]) if "family: cmu" in table.index else float("nan")
        )
        metrics["mpjpe_rel_worst_clip"] = float(
            table.loc[list(dict.fromkeys(m["clip"] for m in preds.meta)), "mpjpe_rel"].max()
        )
        if name.startswith("vol"):
            metrics["mpjpe_rel_gt_root"] = predict(model, val, batch_size=8, root="gt").evaluate().summary["mpjpe_rel"]
            singles = [
                predict(model, exact_eval_set(args, args.rig, [c], SINGLE_VIEW_FRAMES), batch_size=8, root="gt")
                for c in single_view_cameras(args.rig)
            ]
            metrics["mpjpe_rel_single_view"] = pooled_evaluation(singles).summary["mpjpe_rel"]
        manifest["metrics"] = {
            **{k: v for k, v in manifest.get("metrics", {}).items() if not k.startswith("test_")},
            **{f"test_{k}": v for k, v in metrics.items()},
        }
        manifest["test_data"] = {
            "split": args.eval_split,
            "frames_per_clip": eval_frames(args),
            "clips": sorted({m["clip"] for m in preds.meta}),
            "views": 4,
        }
        path.with_suffix(".json").write_text(json.dumps(manifest, indent=2, default=str) + "\n")
        rows.append(
            {
                "model": label,
                "checkpoint": path.name,
                "MPJPE abs (mm)": metrics["mpjpe_abs"],
                "MPJPE rel (mm)": metrics["mpjpe_rel"],
                "PA-MPJPE (mm)": metrics["pa_mpjpe"],
                "rel, 131_03 + 05_06 (mm)": metrics["mpjpe_rel_two_clips"],
                "rel, worst clip (mm)": metrics["mpjpe_rel_worst_clip"],
                "frames": metrics["frames"],
                "train steps": manifest.get("train_steps"),
                "train time (s)": manifest.get("train_s"),
                "pipeline time (s)": manifest.get("pipeline_s"),
            }
        )
        per_clip.append(table.reset_index().assign(model=label)[["model", *table.reset_index().columns]])
        extra = f", single view {metrics['mpjpe_rel_single_view']:.1f} mm" if name.startswith("vol") else ""
        print(
            f"  {name}: {metrics['mpjpe_rel']:.1f} mm relative (two original clips "
            f"{metrics['mpjpe_rel_two_clips']:.1f}, worst clip {metrics['mpjpe_rel_worst_clip']:.1f}){extra}",
            flush=True,
        )
    if not rows:
        raise SystemExit(f"no {prefix}_*.pt checkpoints in {ckpt_dir}")
    df = pd.DataFrame(rows)
    df.to_csv(tables / f"{table_name}.csv", index=False, float_format="%.2f")
    clips = pd.concat(per_clip, ignore_index=True)
    clips.to_csv(tables / f"{table_name}_per_clip.csv", index=False, float_format="%.2f")
    stale = tables / f"{table_name}_per_action.csv"  # the earlier per-clip file, superseded by _per_clip.csv
    if stale.exists():
        stale.unlink()
    write_markdown(args, df, clips, val, tables / f"{table_name}.md", description)
    return df


def single_view_cameras(rig: str) -> list[int]:
    """Cameras run alone for the monocular row: all 4 of the Human3.6M-like rig, the 4 test cameras of the dome."""
    return [0, 1, 2, 3] if rig == "human36m" else [0, 10, 20, 30]


def write_markdown(
    args: argparse.Namespace, df: pd.DataFrame, clips: pd.DataFrame, val: Dataset, path: Path, description: str
) -> None:
    n_clip = clips.groupby("model")["frames"].first().iloc[0] if len(clips) else 0
    caption = (
        f"**Embedded data, {description}**, {args.image_size} px crops, held-out clips "
        f"({len(val)} frames, {eval_frames(args) if not args.quick else n_clip} per clip, of "
        f"{', '.join(val.clips)}); tiny CPU models (ResNet-18 x0.25 backbone); MPJPE in mm, relative = "
        "pelvis subtracted from prediction and ground truth; '131_03 + 05_06' = the two clips held out "
        "before the extended set. "
        + ("QUICK SMOKE RUN: numbers not meaningful. " if args.quick else "")
        + "Written by `scripts/train_embedded.py`."
    )
    wide = clips.pivot_table(index="model", columns="clip", values="mpjpe_rel", sort=False)
    wide = wide.reindex(index=list(dict.fromkeys(clips["model"])), columns=list(dict.fromkeys(clips["clip"])))
    per_clip_caption = "Relative MPJPE (mm) per held-out clip, per family (frames pooled) and pooled over every frame:"
    wide_md = markdown_table(wide.reset_index(), ".1f")
    text = f"{caption}\n\n{markdown_table(df, '.1f')}\n\n{per_clip_caption}\n\n{wide_md}\n"
    path.write_text(text)


# ------------------------------------------------------------------------------------------------ main
def parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    a = ap.add_argument
    a("--quick", action="store_true", help="tiny smoke run (minutes; numbers not meaningful)")
    a(
        "--rig",
        choices=[*sorted(RIGS), "all"],
        default="human36m",
        help="the Human3.6M-like rig (embedded_*.pt), the dome with 4 of its cameras per sample (embedded_dome_*.pt), "
        "or both in two parallel processes",
    )
    a("--train-split", default="train_ext", help="clip set of the training data (lt_core.data.clips.CLIP_SETS)")
    a("--eval-split", default="val_ext", help="held-out clip set evaluated")
    a(
        "--eval-frames",
        type=int,
        default=None,
        help="held-out frames per clip, evenly spread (default: notebook 06's, 125 on the Human3.6M-like rig, 60 on "
        "the dome)",
    )
    a("--stride-cmu", type=int, default=1, help="keep every n-th 30 fps frame of the CMU clips of data/mocap_cmu")
    a("--stride-daz", type=int, default=3, help="keep every n-th 30 fps frame of the clips of data/mocap_cmu_daz")
    a(
        "--cmu-repeat",
        type=int,
        default=1,
        help="read the CMU clips of data/mocap_cmu this many times per epoch (their joints follow the CMU BVH "
        "definitions of pelvis and thorax, the Daz clips others: see EXPERIMENTS)",
    )
    a("--subjects", type=int, default=6, help="clothing/build styles per clip")
    a(
        "--crop-jitter",
        type=jitter_option,
        default=jitter_option("0.1,0.05,15"),
        help="render-time crop jitter scale,shift,roll (log side factor, fraction of the side, degrees); 0,0,0: none",
    )
    a(
        "--pose-tilt",
        type=float,
        nargs=2,
        default=(0.0, 0.0),
        metavar=("PROB", "DEG"),
        help="tilt a pose about a horizontal axis with probability PROB by up to DEG degrees (bent and upside-down "
        "bodies); 0 0: none",
    )
    a(
        "--pose-pivot",
        type=float,
        nargs=2,
        default=(0.15, 150.0),
        metavar=("PROB", "DEG"),
        help="hinge a pose about its standing leg with probability PROB by up to DEG degrees (standing splits: trunk "
        "down, the other leg up; EXPERIMENTS 10); 0 0: none",
    )
    a("--occluders", type=float, default=0.2, help="probability that a view gets occluding rectangles (0: none)")
    a("--color-jitter", type=int, default=1, help="1: random brightness/contrast/channel gains per view")
    a("--image-size", type=int, default=128, help="crop side in pixels (a multiple of 32, >= 128)")
    a("--steps-2d", type=int, default=6000, help="optimizer steps of the 2D backbone stage")
    a("--steps-noconf", type=int, default=1000, help="optimizer steps of the unweighted algebraic stage")
    a("--steps-conf", type=int, default=1500, help="optimizer steps of the algebraic stage with confidences")
    a("--steps-vol", type=int, default=4000, help="optimizer steps of the volumetric stage")
    a("--batch-size", type=int, default=8)
    a("--lr-schedule", choices=("constant", "cosine"), default="cosine")
    a("--lr-final", type=float, default=0.02, help="last learning rate of the cosine decay, fraction of the first")
    a("--warmup", type=int, default=0, help="warm-up steps of the 3D stages")
    a("--warmup-2d", type=int, default=100, help="warm-up steps of the 2D stage")
    a("--lr-2d", type=float, default=2e-3)
    a("--sigma", type=float, default=1.5, help="heatmap Gaussian sigma (heatmap pixels) of the 2D stage")
    a(
        "--beta",
        type=float,
        default=20.0,
        help="inverse temperature of the 2D soft-argmax of the algebraic stages (paper: 100; EXPERIMENTS 9)",
    )
    a("--lr-backbone", type=float, default=3e-4, help="backbone lr of the algebraic stages")
    a("--lr-heads", type=float, default=1e-3, help="confidence head lr of the algebraic stages")
    a("--lr-backbone-vol", type=float, default=3e-4, help="backbone lr of the volumetric stage")
    a("--lr-heads-vol", type=float, default=3e-3, help="process_features / V2V lr of the volumetric stage")
    a("--grad-clip", type=float, default=10.0)
    a(
        "--vol-init",
        choices=("2d", "alg_conf", "alg_noconf"),
        default="alg_conf",
        help="stage whose backbone initialises the volumetric model",
    )
    a(
        "--view-dropout",
        type=float,
        default=0.2,
        help="probability that a volumetric training sample keeps only 1 to 3 of its views",
    )
    a("--volume-size", type=int, default=16, help="voxels per side (multiple of 8 for the tiny V2V)")
    a("--v2v-channels", default="16,32,32,32", help="V2V widths c0,...,cL (paper: 32,64,128,128,128,128)")
    a("--v2v-front", type=int, default=16, help="channels of the V2V's first convolution")
    a("--cuboid-side", type=float, default=2200.0, help="cuboid side in mm")
    a("--val-during", type=int, default=48, help="held-out samples validated at each epoch end (logs only)")
    a("--threads", type=int, default=1, help="torch CPU threads per process")
    a("--channels-last", type=int, default=1, help="1: channels-last convolution weights (faster on CPU)")
    a("--render-workers", type=int, default=2, help="DataLoader workers rendering the data")
    a("--seed", type=int, default=0)
    a("--runs", default=str(ROOT / "runs" / "embedded"), help="run folders (logs, full checkpoints)")
    a("--render-cache", default=str(ROOT / "runs" / "embedded" / "renders"), help="uint8 render cache ('' : none)")
    a("--checkpoints", default=str(ROOT / "data" / "checkpoints"))
    a("--tables", default=str(ROOT / "results" / "tables"))
    a("--resume", action="store_true", help="continue interrupted stages from their last.pt")
    a("--stages", default=",".join(STAGES), help="comma-separated stages to (re)train; the others keep their runs")
    a("--fresh", action="store_true", help="delete this rig's run folders first (not the render cache)")
    a("--evaluate-only", action="store_true", help="skip training: evaluate the checkpoints, rewrite the tables")
    return ap


def main(argv: list[str] | None = None) -> int:
    global LAUNCH_VERSION
    LAUNCH_VERSION = code_version()
    ap = parser()
    args = ap.parse_args(argv)
    args.stages = set(args.stages.split(","))
    if args.stages - set(STAGES):  # before anything is rendered
        ap.error(f"unknown --stages {sorted(args.stages - set(STAGES))}; choose from {', '.join(STAGES)}")
    if args.image_size % 32 or args.image_size < 128:
        ap.error(f"--image-size must be a multiple of 32 and at least 128, got {args.image_size}")
    if args.quick:
        args.steps_2d, args.steps_noconf, args.steps_conf, args.steps_vol, args.val_during = 6, 3, 3, 3, 4
        args.warmup_2d = min(args.warmup_2d, 2)
    args.render_cache = args.render_cache or None
    if args.rig == "all":
        return run_both(args, argv or [])
    torch.set_num_threads(args.threads)
    runs, ckpt_dir, tables = Path(args.runs), Path(args.checkpoints), Path(args.tables)
    prefix = RIGS[args.rig][0]
    if args.fresh and not args.evaluate_only:  # this rig's run folders only (the other rig's stay)
        for stage in (*STAGES, "ransac"):
            shutil.rmtree(runs / f"{prefix}_{stage}", ignore_errors=True)
    for d in (ckpt_dir, tables, runs):
        d.mkdir(parents=True, exist_ok=True)
    t_start = time.time()
    timings: dict[str, float] = {}
    if not args.evaluate_only:
        print(f"rendering the training data ({RIGS[args.rig][2]}, {args.image_size} px) ...", flush=True)
        t0 = time.time()
        train = render_train(args, args.rig)
        val = eval_set(args, args.rig)
        timings["render"] = time.time() - t0
        print(f"  {len(train)} training and {len(val)} held-out samples in {timings['render']:.0f} s", flush=True)
        train_all(args, train, val, timings, runs, ckpt_dir)
    t0 = time.time()
    df = evaluate(args, ckpt_dir, tables)
    timings["evaluate"] = time.time() - t0
    timings["total"] = time.time() - t_start
    (runs / f"timings_{prefix}.json").write_text(json.dumps({k: round(v, 1) for k, v in timings.items()}, indent=2))
    print(df.to_string(index=False))
    print(f"total {timings['total'] / 60:.1f} min; timings in {runs / f'timings_{prefix}.json'}")
    return 0


def run_both(args: argparse.Namespace, argv: list[str]) -> int:
    """``--rig all``: one process per rig, side by side; logs in ``<runs>/train_<rig>.log``."""
    t0 = time.time()
    runs = Path(args.runs)
    runs.mkdir(parents=True, exist_ok=True)
    rest = [a for a in (argv or sys.argv[1:]) if a not in ("--rig", "all") and not a.startswith("--rig=")]
    procs = {}
    for rig in RIGS:
        log = (runs / f"train_{rig}.log").open("w")
        procs[rig] = (
            subprocess.Popen(
                [sys.executable, str(Path(__file__).resolve()), "--rig", rig, *rest],
                stdout=log,
                stderr=subprocess.STDOUT,
            ),
            log,
        )
        print(f"{rig}: started, log in {runs / f'train_{rig}.log'}", flush=True)
    failed = []
    for rig, (p, log) in procs.items():
        if p.wait() != 0:
            failed.append(rig)
        log.close()
    total = time.time() - t0
    summary = {
        "rigs": list(RIGS),
        "total_s": round(total, 1),
        "failed": failed,
        **{
            rig: json.loads((runs / f"timings_{RIGS[rig][0]}.json").read_text())
            for rig in RIGS
            if (runs / f"timings_{RIGS[rig][0]}.json").exists() and rig not in failed
        },
    }
    (runs / "timings_all.json").write_text(json.dumps(summary, indent=2))
    for rig in RIGS:
        print(f"--- {rig} (tail of {runs / f'train_{rig}.log'})")
        print("".join((runs / f"train_{rig}.log").read_text().splitlines(True)[-12:]), end="")
    print(f"both rigs: {total / 60:.1f} min wall{'; FAILED: ' + ', '.join(failed) if failed else ''}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
