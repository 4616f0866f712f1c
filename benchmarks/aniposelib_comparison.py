"""Triangulation from calibrated cameras against aniposelib, with and without lens distortion, and the 1M-point scaling.

Run: ``python benchmarks/aniposelib_comparison.py`` (``pip install -e .[bench]`` brings aniposelib 0.8; without it
only our side and the scaling run). Everything is measured in this run on this machine:

* **aniposelib**: ``CameraGroup.triangulate(points, undistort=True)`` (OpenCV ``undistortPoints``, then a JAX SVD
  per point, batched). Its JIT compiles on the first call, so every timing warms it up first and takes the best
  of ``--repeats`` calls; ours is timed the same way (``triangulate_cameras``: exact Newton undistortion + DLT).
* **accuracy**: the largest distance between our points and aniposelib's (noise-free detections, so both should
  find the truth; OpenCV's undistortion iterates a fixed number of times and is not exact under strong
  distortion), and the median error to the true points of both with 0.5 px detection noise.
* **scaling**: ``triangulate`` on 100 k and 1 M points (4 and 31 views), each size in a fresh process: throughput
  and the peak memory above the inputs, output included (Linux: the process's high-water mark, reset after the
  inputs exist; memory freed earlier and reused by the allocator makes it an upper bound on new pages only).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from lt_core.camera import Camera, stack_cameras  # noqa: E402
from lt_core.ops.camera_triangulation import triangulate_cameras  # noqa: E402
from lt_core.ops.triangulation import triangulate  # noqa: E402

DIST = [-0.28, 0.09, 0.002, -0.001, 0.0]  # a strong wide-angle lens (OpenCV model)


def rig(n: int, distorted: bool) -> Camera:
    cams = []
    for i in range(n):
        a = 2 * math.pi * i / n + 0.3
        c = Camera.look_at(
            [4500 * math.cos(a), 4500 * math.sin(a), 1200.0 + 300 * (i % 3)], [0.0, 0.0, 900.0], focal=1145.0
        )
        dist = torch.tensor(DIST if distorted else [0.0] * 5, dtype=torch.float64)
        cams.append(Camera(c.K, c.R, c.t, dist, c.image_size))
    return stack_cameras(cams)


def anipose_group(cams: Camera):
    import cv2
    from aniposelib.cameras import Camera as ACamera
    from aniposelib.cameras import CameraGroup

    out = []
    for i in range(cams.batch_shape[0]):
        rvec = cv2.Rodrigues(cams.R[i].numpy())[0].ravel()
        out.append(ACamera(matrix=cams.K[i].numpy(), dist=cams.dist[i].numpy(), rvec=rvec, tvec=cams.t[i].numpy()))
    return CameraGroup(out)


def best_seconds(fn, repeats: int) -> float:
    fn()  # warm-up: aniposelib's JIT compiles here, numba loads its cache
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def compare(points: int, repeats: int) -> None:
    try:
        import aniposelib  # noqa: F401

        have = True
    except ImportError:
        have = False
        print("aniposelib is not installed (pip install -e .[bench]): our timings only")
    print(f"torch {torch.__version__}, {torch.get_num_threads()} torch threads, {points:,} points per call")
    print(
        f"{'lens':10s} {'C':>3s} {'ours pts/s':>12s} {'aniposelib':>12s} {'ratio':>6s} {'max |ours-anipose|':>19s} "
        f"{'median err ours / anipose, 0.5 px noise':>40s}"
    )
    g = torch.Generator().manual_seed(0)
    for distorted in (False, True):
        for C in (4, 31):
            cams = rig(C, distorted)
            X = torch.randn(points, 3, generator=g, dtype=torch.float64) * 300 + torch.tensor([0.0, 0.0, 900.0])
            exact = cams.project(X[None])  # (C, N, 2) distorted pixels, no noise
            noisy = exact + 0.5 * torch.randn(exact.shape, generator=g, dtype=torch.float64)
            t_ours = best_seconds(lambda: triangulate_cameras(exact, cams), repeats)
            ours = triangulate_cameras(exact, cams)
            err_ours = (triangulate_cameras(noisy, cams) - X).norm(dim=-1).median().item()
            row = f"{'distorted' if distorted else 'pinhole':10s} {C:3d} {points / t_ours:12,.0f}"
            if have:
                group = anipose_group(cams)
                ex, nz = exact.numpy().copy(), noisy.numpy().copy()
                t_ap = best_seconds(lambda: group.triangulate(ex, undistort=True), repeats)
                theirs = group.triangulate(ex, undistort=True)
                diff = np.abs(theirs - ours.numpy()).max()
                err_ap = np.median(np.linalg.norm(group.triangulate(nz, undistort=True) - X.numpy(), axis=-1))
                row += (
                    f" {points / t_ap:12,.0f} {t_ap / t_ours:5.1f}x {diff:16.2e} mm {err_ours:18.3f} / {err_ap:.3f} mm"
                )
            else:
                row += f" {'-':>12s} {'-':>6s} {'-':>19s} {err_ours:18.3f} mm"
            print(row, flush=True)


def _peak_kib() -> int | None:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except OSError:
        return None
    return None


def scaling_child(n: int, C: int) -> dict:
    """One size in this (fresh) process: throughput and peak memory above the inputs."""
    cams = rig(C, False)
    g = torch.Generator().manual_seed(1)
    X = torch.randn(n, 3, generator=g, dtype=torch.float64) * 300 + torch.tensor([0.0, 0.0, 900.0])
    uv = cams.project(X[None], distort=False)[None]  # (1, C, n, 2)
    P = cams.projection[None]
    del X
    input_bytes = uv.numel() * uv.element_size() + P.numel() * P.element_size()
    triangulate(uv[:, :, :1000], P)  # warm-up
    try:
        Path("/proc/self/clear_refs").write_text("5")  # reset the high-water mark to the current size
        base = _peak_kib()
    except OSError:
        base = None
    t0 = time.perf_counter()
    triangulate(uv, P)
    dt = time.perf_counter() - t0
    peak = _peak_kib()
    extra = (peak - base) * 1024 if base is not None and peak else None  # includes the (n, 3) output
    return {
        "n": n,
        "C": C,
        "points_per_s": n / dt,
        "input_mb": input_bytes / 2**20,
        "extra_mb": None if extra is None else extra / 2**20,
    }


def scaling(sizes: list[int]) -> None:
    print()
    print(
        f"{'triangulate (float64)':22s} {'C':>3s} {'points':>10s} {'points/s':>12s} {'input MB':>9s} "
        f"{'extra MB':>9s} {'extra / input':>13s}"
    )
    for C in (4, 31):
        for n in sizes:
            out = subprocess.run(
                [sys.executable, __file__, "--scaling-child", str(n), str(C)],
                capture_output=True,
                text=True,
                check=True,
                env={**os.environ, "PYTHONPATH": str(ROOT)},
            )
            r = json.loads(out.stdout.strip().splitlines()[-1])
            extra = "n/a" if r["extra_mb"] is None else f"{r['extra_mb']:9.1f}"
            ratio = "n/a" if r["extra_mb"] is None else f"{r['extra_mb'] / r['input_mb']:12.2f}x"
            print(
                f"{'':22s} {C:3d} {n:10,d} {r['points_per_s']:12,.0f} {r['input_mb']:9.1f} {extra:>9s} {ratio:>13s}",
                flush=True,
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--points", type=int, default=20_000, help="points per call in the comparison")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--sizes", type=int, nargs="*", default=[100_000, 1_000_000], help="scaling sizes")
    parser.add_argument("--no-compare", action="store_true", help="only the scaling")
    parser.add_argument("--scaling-child", type=int, nargs=2, metavar=("N", "C"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.scaling_child:
        print(json.dumps(scaling_child(*args.scaling_child)))
        return
    if not args.no_compare:
        compare(args.points, args.repeats)
    if args.sizes:
        scaling(args.sizes)


if __name__ == "__main__":
    main()
