"""Speed of the batched unprojection against the per-sample, per-view loop, measured in the same run.

Run with ``python benchmarks/unprojection.py [--device cuda] [--repeats 10]``. Default problem: B = 4 samples,
C = 4 views, F = 32 channels, 64 x 64 feature maps, a 32^3 grid, softmax aggregation (all three are timed).
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


def timeit(fn, repeats: int, device: str) -> float:
    """Median seconds per call after one warm-up call."""
    fn()
    times = []
    for _ in range(repeats):
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        fn()
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        times.append(time.perf_counter() - t0)
    return sorted(times)[len(times) // 2]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--views", type=int, default=4)
    parser.add_argument("--channels", type=int, default=32)
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--voxels", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    features, cameras, grid, conf = make_problem(args.batch, args.views, args.channels, args.size, args.voxels,
                                                 args.device)
    print(f"device {args.device}, torch {torch.__version__}, threads {torch.get_num_threads()}; "
          f"B={args.batch} C={args.views} F={args.channels} maps {args.size}x{args.size} "
          f"volume {args.voxels}^3; load average {os.getloadavg()[0]:.2f} (timings need an idle machine)")
    print(f"{'aggregation':<12}{'loop ms':>10}{'batched ms':>12}{'speed-up':>10}{'max |diff|':>12}")
    with torch.no_grad():
        for agg in AGGREGATIONS:
            kw = dict(aggregation=agg, confidences=conf if agg == "conf" else None)
            fast = lambda: unproject_features(features, cameras, grid, **kw)  # noqa: E731
            slow = lambda: unproject_features_loop(features, cameras, grid, **kw)  # noqa: E731
            diff = (fast() - slow()).abs().max().item()
            t_fast = timeit(fast, args.repeats, args.device)
            t_slow = timeit(slow, args.repeats, args.device)
            print(f"{agg:<12}{t_slow * 1e3:>10.2f}{t_fast * 1e3:>12.2f}{t_slow / t_fast:>9.1f}x{diff:>12.2e}")


if __name__ == "__main__":
    main()
