"""Training throughput (samples/s) of each model, batched against a naive per-sample, per-view loop.

Run: ``python benchmarks/training.py`` (``--quick`` for fewer repetitions, ``--device cuda`` on a GPU;
``--out results/benchmarks/training.csv`` also writes a table). Both numbers of a row are measured in the same
run, on the same machine, with the same model object and the same inputs:

- **batched**: one training step as :class:`lt_core.train.Trainer` takes it: the ``B x C`` images go through the
  backbone in one call, the loss is the paper's (``lt_core.losses.model_loss``), then backward and an Adam step
  (AMP on CUDA);
- **naive loop**: the same step computed sample by sample, and inside each sample view by view (the backbone is
  called on one image at a time), with gradients accumulated over the samples before the same Adam step.

Each number is the best of a few alternating timing windows after warm-up calls (robust to other processes'
load). Inputs are random images seen by a 4-camera ring rig around a random pose (throughput does not depend on image
content; data loading is not included). The RANSAC baseline has no trainable loss, so its row reports inference
(forward only) samples/s, batched against per-sample, per-view.
"""

from __future__ import annotations

import argparse
import csv
import math
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from lt_core.camera import Camera, stack_cameras
from lt_core.losses import model_loss
from lt_core.models import (
    AlgebraicTriangulationNet,
    BackboneConfig,
    BackboneOutput,
    RANSACTriangulationNet,
    V2VConfig,
    VolumetricTriangulationNet,
)


def ring_rig(batch: int, views: int, size: int) -> Camera:
    """(B, C) crops of 1000-px cameras on a ring around the person, resized to ``size`` pixels."""
    box = torch.tensor([200.0, 200.0, 800.0, 800.0])
    cams = []
    for c in range(views):
        a = 2 * math.pi * c / views
        cam = Camera.look_at(
            (3500 * math.cos(a), 3500 * math.sin(a), 1300.0), (0.0, 0.0, 900.0), focal=1000.0, image_size=(1000, 1000)
        )
        cams.append(cam.crop_and_resize(box, (size, size)))
    return stack_cameras(cams).expand(batch, views).to(torch.float32)


class PerImage(nn.Module):
    """Wrap a backbone so that it runs on one image at a time (the naive baseline's view loop)."""

    def __init__(self, backbone: nn.Module) -> None:
        super().__init__()
        self.inner = backbone

    def forward(self, images: Tensor) -> BackboneOutput:
        outs = [self.inner(images[i : i + 1]) for i in range(images.shape[0])]
        return BackboneOutput(*(None if parts[0] is None else torch.cat(parts) for parts in zip(*outs)))


def _call(model: nn.Module, batch: dict[str, Any]) -> dict[str, Tensor]:
    if isinstance(model, VolumetricTriangulationNet):
        return model(batch["images"], batch["cameras"], root=batch["joints_3d"][:, 6])
    return model(batch["images"], batch["cameras"])


def _slice(batch: dict[str, Any], b: int) -> dict[str, Any]:
    return {
        "images": batch["images"][b : b + 1],
        "cameras": batch["cameras"][b : b + 1],
        "joints_3d": batch["joints_3d"][b : b + 1],
        "joints_valid": batch["joints_valid"][b : b + 1],
    }


def make_step(
    model: nn.Module, loss_name: str | None, batch: dict[str, Any], naive: bool, device: torch.device, amp: bool
) -> Callable[[], None]:
    """A closure taking one training step (or one forward pass when ``loss_name`` is None)."""
    opt = torch.optim.Adam(model.parameters(), lr=1e-5)
    scaler = torch.amp.GradScaler("cuda", enabled=amp)
    n = batch["images"].shape[0]

    def forward_loss(sub: dict[str, Any]) -> Tensor:
        with torch.autocast(device_type=device.type, dtype=torch.float16, enabled=amp):
            return model_loss(loss_name, _call(model, sub), sub)["loss"]

    def step() -> None:
        if loss_name is None:
            with torch.no_grad():
                for sub in [_slice(batch, b) for b in range(n)] if naive else [batch]:
                    _call(model, sub)
            return
        opt.zero_grad(set_to_none=True)
        if naive:
            for b in range(n):
                scaler.scale(forward_loss(_slice(batch, b)) / n).backward()
        else:
            scaler.scale(forward_loss(batch)).backward()
        scaler.step(opt)
        scaler.update()

    return step


def measure(step: Callable[[], None], device: torch.device, min_time: float, min_reps: int) -> float:
    """Seconds per call: repeat until ``min_time`` seconds and ``min_reps`` calls (no warm-up here)."""
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    sync()
    reps, t0 = 0, time.perf_counter()
    while reps < min_reps or time.perf_counter() - t0 < min_time:
        step()
        reps += 1
    sync()
    return (time.perf_counter() - t0) / reps


def naive(model: nn.Module, step: Callable[[], None]) -> Callable[[], None]:
    """Run ``step`` with the model's backbone wrapped in :class:`PerImage`."""

    def run() -> None:
        original = model.backbone
        model.backbone = PerImage(original)
        try:
            step()
        finally:
            model.backbone = original

    return run


def compare(
    model: nn.Module,
    loss: str | None,
    batch: dict[str, Any],
    device: torch.device,
    amp: bool,
    min_time: float,
    min_reps: int,
    rounds: int,
) -> tuple[float, float]:
    """Best-of-``rounds`` samples/s of the batched step and of the naive loop, measured alternately (so that
    load from other processes affects both alike), after two warm-up calls of each."""
    n = batch["images"].shape[0]
    fast = make_step(model, loss, batch, False, device, amp)
    slow = naive(model, make_step(model, loss, batch, True, device, amp))
    for _ in range(2):
        fast()
        slow()
    best_fast = best_slow = 0.0
    for _ in range(rounds):
        best_fast = max(best_fast, n / measure(fast, device, min_time, min_reps))
        best_slow = max(best_slow, n / measure(slow, device, min_time, min_reps))
    return best_fast, best_slow


def models(backbone: str, v2v: str, volume_size: int) -> list[tuple[str, nn.Module, str | None]]:
    bb = getattr(BackboneConfig, backbone)()
    vv = getattr(V2VConfig, v2v)()
    return [
        ("algebraic (confidences)", AlgebraicTriangulationNet(bb, use_confidences=True), "algebraic"),
        ("algebraic (no confidences)", AlgebraicTriangulationNet(bb, use_confidences=False), "algebraic"),
        ("volumetric (softmax)", VolumetricTriangulationNet(bb, vv, volume_size=volume_size), "volumetric"),
        ("RANSAC (inference)", RANSACTriangulationNet(bb), None),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cpu", help="cpu, cuda or auto")
    parser.add_argument("--batch", type=int, default=4, help="samples per step")
    parser.add_argument("--views", type=int, default=4)
    parser.add_argument("--image-size", type=int, default=128)
    parser.add_argument("--backbone", default="tiny", choices=["tiny", "paper"])
    parser.add_argument("--v2v", default="tiny", choices=["tiny", "paper"])
    parser.add_argument("--volume-size", type=int, default=32)
    parser.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch's default)")
    parser.add_argument("--quick", action="store_true", help="shorter timing windows")
    parser.add_argument("--out", help="also write the table to this CSV (and a .md beside it)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    dev = torch.device(
        "cuda"
        if args.device == "auto" and torch.cuda.is_available()
        else ("cpu" if args.device == "auto" else args.device)
    )
    amp = dev.type == "cuda"
    torch.manual_seed(0)
    B, C, S = args.batch, args.views, args.image_size
    batch = {
        "images": torch.randn(B, C, 3, S, S, device=dev),
        "cameras": ring_rig(B, C, S).to(dev),
        "joints_3d": (torch.tensor([0.0, 0.0, 900.0]) + 250 * (torch.rand(B, 17, 3) * 2 - 1)).to(dev),
        "joints_valid": torch.ones(B, 17, dtype=torch.bool, device=dev),
    }
    min_time, min_reps, rounds = (1.0, 2, 2) if args.quick else (3.0, 3, 3)
    name = torch.cuda.get_device_name(dev) if dev.type == "cuda" else f"CPU, {torch.get_num_threads()} threads"
    print(
        f"torch {torch.__version__}, {name}, B={B}, C={C}, {S}x{S} images, backbone={args.backbone}, "
        f"v2v={args.v2v}, volume {args.volume_size}^3, amp={amp}"
    )
    print(f"{'model':28s} {'batched samples/s':>18s} {'naive loop samples/s':>21s} {'speed-up':>9s}")
    rows = []
    for label, model, loss in models(args.backbone, args.v2v, args.volume_size):
        model = model.to(dev).train(loss is not None)
        fast, slow = compare(model, loss, batch, dev, amp, min_time, min_reps, rounds)
        print(f"{label:28s} {fast:18.2f} {slow:21.2f} {fast / slow:8.1f}x", flush=True)
        rows.append(
            {
                "model": label,
                "device": name,
                "batch": B,
                "views": C,
                "image_size": S,
                "batched_samples_per_s": round(fast, 3),
                "naive_samples_per_s": round(slow, 3),
                "speedup": round(fast / slow, 2),
            }
        )
    if args.out:
        out = Path(args.out)
        out.parent.mkdir(parents=True, exist_ok=True)
        with out.open("w", newline="") as f:
            w = csv.DictWriter(f, fieldnames=list(rows[0]))
            w.writeheader()
            w.writerows(rows)
        lines = ["| " + " | ".join(rows[0]) + " |", "|" + "---|" * len(rows[0])]
        lines += ["| " + " | ".join(str(v) for v in r.values()) + " |" for r in rows]
        out.with_suffix(".md").write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
