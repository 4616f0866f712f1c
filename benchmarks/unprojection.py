"""Speed of the batched unprojection against the per-sample, per-view loop, measured in the same run.

Run with ``python benchmarks/unprojection.py [--threads 1] [--repeats 15] [--backends fused,gather,grid_sample]
[--backward]``. Default problem: B = 4 samples, C = 4 views, F = 32 channels, 64 x 64 feature maps, a 32^3 grid;
every aggregation (sum, conf, softmax) is timed. ``--backward`` times a training step's share instead: the forward
pass with gradients enabled and the backward pass of a weighted sum of the volume (gradients w.r.t. the features,
and the confidences for ``conf``), for the loop and each backend alike.

The loop baseline (:func:`unproject_features_loop`) and each batched backend run in interleaved rounds (one call
of each per round, after a warm-up call), so that a busy machine slows them alike; the reported time is the
minimum over the rounds. On the CPU the primary clock is the process CPU time (``time.process_time``: less
sensitive to other processes than wall time; with several threads it adds up the threads), the wall time is shown
too; on a GPU only the wall time (synchronised) is meaningful. The speed-up is loop time / batched time, from the
same clock.

Accuracy columns: the largest difference to the loop, and the number of voxels where some channel differs by more
than 1e-3 (with ``--backward``: of the feature gradients, and the number of feature pixels). The implementations
round the float32 projection differently, so a voxel that projects within float rounding of a map border can be
seen by a view in one and not in the other (the sample jumps from about half a pixel value to 0 there): on large
grids a few such voxels are expected.
"""

from __future__ import annotations

import argparse
import math
import os
import time

import torch

from lt_core.camera import Camera, stack_cameras
from lt_core.ops.unprojection import AGGREGATIONS, make_cuboid_grid, unproject_features, unproject_features_loop


def make_problem(B: int, C: int, F: int, size: int, D: int, device: str, seed: int = 0):
    """Random features, a ring of C cameras per sample looking at the origin, and cuboids near it."""
    gen = torch.Generator().manual_seed(seed)
    rigs = []
    for _ in range(B):
        cams = []
        for c in range(C):
            a = 2 * math.pi * c / C + 0.3 * float(torch.rand((), generator=gen))
            eye = (4000 * math.cos(a), 4000 * math.sin(a), 1500.0)
            cam = Camera.look_at(eye, (0.0, 0.0, 900.0), focal=1200.0, image_size=(1000, 1000))
            cams.append(cam.resize(size / 1000.0))
        rigs.append(stack_cameras(cams))
    cameras = stack_cameras(rigs).to(device=device, dtype=torch.float32)
    features = torch.randn(B, C, F, size, size, generator=gen).to(device)
    centre = torch.randn(B, 3, generator=gen) * 100 + torch.tensor([0.0, 0.0, 900.0])
    grid = make_cuboid_grid(centre.to(device), side=2500.0, D=D)
    confidences = torch.rand(B, C, generator=gen).to(device) + 0.1
    return features, cameras, grid, confidences


def time_interleaved(fns: dict, repeats: int, device: str) -> dict:
    """Minimum process-CPU and wall seconds per call of each function, over interleaved rounds."""
    cuda = device.startswith("cuda")
    best = {k: [math.inf, math.inf] for k in fns}
    for fn in fns.values():  # warm-up
        fn()
    for _ in range(repeats):
        for name, fn in fns.items():
            if cuda:
                torch.cuda.synchronize()
            c0, w0 = time.process_time(), time.perf_counter()
            fn()
            if cuda:
                torch.cuda.synchronize()
            c1, w1 = time.process_time(), time.perf_counter()
            best[name][0] = min(best[name][0], c1 - c0)
            best[name][1] = min(best[name][1], w1 - w0)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--views", type=int, default=4)
    parser.add_argument("--channels", type=int, default=32)
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--voxels", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's)")
    parser.add_argument(
        "--backends",
        default=None,
        help="comma-separated unproject_features backends to time against the loop (default: "
        "fused,gather,grid_sample on the CPU, grid_sample on a GPU)",
    )
    parser.add_argument(
        "--backward", action="store_true", help="time forward + backward (gradients w.r.t. features and confidences)"
    )
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    default = "fused,gather,grid_sample" if args.device == "cpu" else "grid_sample"
    backends = [b for b in (args.backends or default).split(",") if b]
    features, cameras, grid, conf = make_problem(
        args.batch, args.views, args.channels, args.size, args.voxels, args.device
    )
    cpu = not args.device.startswith("cuda")
    clock = "process CPU time" if cpu else "wall time"
    print(
        f"device {args.device}, torch {torch.__version__}, threads {torch.get_num_threads()}; "
        f"B={args.batch} C={args.views} F={args.channels} maps {args.size}x{args.size} volume {args.voxels}^3; "
        f"min over {args.repeats} interleaved rounds of {clock}"
        + (" (wall time in brackets)" if cpu else "")
        + f"; load average {os.getloadavg()[0]:.2f}"
    )
    header = (
        f"{'aggregation':<12}{'backend':<13}{'loop ms':>16}{'batched ms':>16}{'speed-up':>10}"
        f"{'max |diff|':>12}{'voxels > 1e-3':>15}"
    )
    print(header)
    weights = torch.randn(
        args.batch, args.channels, args.voxels, args.voxels, args.voxels, generator=torch.Generator().manual_seed(1)
    ).to(args.device)
    for agg in AGGREGATIONS:
        kw = dict(aggregation=agg)

        def call(fn, **extra):
            if not args.backward:
                with torch.no_grad():
                    return fn(features, cameras, grid, confidences=conf if agg == "conf" else None, **kw, **extra)
            f = features.clone().requires_grad_(True)
            c = conf.clone().requires_grad_(agg == "conf")
            out = fn(f, cameras, grid, confidences=c if agg == "conf" else None, **kw, **extra)
            (out * weights).sum().backward()
            return f.grad

        fns = {"loop": lambda: call(unproject_features_loop)}
        for backend in backends:
            fns[backend] = lambda backend=backend: call(unproject_features, backend=backend)
        reference = fns["loop"]()
        diffs = {}
        for b in backends:
            diff = (fns[b]() - reference).abs()
            diff = diff.amax(2) if args.backward else diff.amax(1)  # over channels
            diffs[b] = (diff.max().item(), int((diff > 1e-3).sum()))
        best = time_interleaved(fns, args.repeats, args.device)
        k = 0 if cpu else 1
        for backend in backends:
            loop_s, fast_s = best["loop"], best[backend]
            loop_txt = f"{loop_s[k] * 1e3:.1f}" + (f" ({loop_s[1] * 1e3:.1f})" if cpu else "")
            fast_txt = f"{fast_s[k] * 1e3:.1f}" + (f" ({fast_s[1] * 1e3:.1f})" if cpu else "")
            ratio = loop_s[k] / fast_s[k]
            print(
                f"{agg:<12}{backend:<13}{loop_txt:>16}{fast_txt:>16}{ratio:>9.2f}x{diffs[backend][0]:>12.1e}"
                f"{diffs[backend][1]:>15d}"
            )


if __name__ == "__main__":
    main()
