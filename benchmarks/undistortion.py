"""Undistortion and triangulation from distorted pixels: the exact Newton undistortion against OpenCV's fixed-point
iteration, and ``triangulate_cameras`` against a per-point loop (undistort, then one SVD per point, the way
aniposelib's ``CameraGroup.triangulate`` works).

Run: ``python benchmarks/undistortion.py`` (``--points`` per camera, ``--threads``). Everything is measured in this
run: the baselines are the fixed-point iteration this project used before (20 iterations, tensors) and the
per-point loop, so the printed ratios are like-for-like. Accuracy is the largest distance to the true undistorted
point (normalised units) and to the true 3D point (mm).
"""

from __future__ import annotations

import argparse
import math
import time

import numpy as np
import torch

from lt_core.camera import Camera, stack_cameras
from lt_core.lens import distort_normalized, undistort_fixed_point, undistort_normalized
from lt_core.ops.camera_triangulation import triangulate_cameras


def seconds(fn, repeat: int) -> float:
    fn()  # warm-up (numba compiles or loads its cache here)
    t0 = time.perf_counter()
    for _ in range(repeat):
        fn()
    return (time.perf_counter() - t0) / repeat


def loop_triangulate(uv: np.ndarray, P: np.ndarray) -> np.ndarray:
    """(B, C, J, 2) undistorted pixels, (C, 3, 4) -> (B, J, 3): one SVD per point."""
    B, C, J, _ = uv.shape
    out = np.empty((B, J, 3))
    for b in range(B):
        for j in range(J):
            A = np.empty((2 * C, 4))
            for c in range(C):
                A[2 * c] = uv[b, c, j, 0] * P[c, 2] - P[c, 0]
                A[2 * c + 1] = uv[b, c, j, 1] * P[c, 2] - P[c, 1]
            v = np.linalg.svd(A)[2][-1]
            out[b, j] = v[:3] / v[3]
    return out


def rig(model: str, n: int = 4) -> Camera:
    dist = {"opencv": [-0.28, 0.09, 0.002, -0.001, 0.0], "h36m": [-0.21, 0.25, -0.0014, -0.001, -0.003]}[model]
    cams = []
    for i in range(n):
        a = 2 * math.pi * i / n + 0.3
        c = Camera.look_at([4500 * math.cos(a), 4500 * math.sin(a), 1500.0], [0.0, 0.0, 900.0], focal=1145.0)
        cams.append(
            Camera(c.K, c.R, c.t, torch.tensor(dist, dtype=torch.float64), c.image_size, distortion_model=model)
        )
    return stack_cameras(cams)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--points", type=int, default=250_000, help="points per camera for the undistortion")
    parser.add_argument("--frames", type=int, default=2000, help="frames (x 17 joints, 4 views) to triangulate")
    parser.add_argument("--loop-frames", type=int, default=40, help="frames for the per-point loop baseline")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=None)
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    g = torch.Generator().manual_seed(0)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads")
    print(f"{'undistortion (4 cameras)':34s} {'model':>6s} {'points/s':>12s} {'ratio':>7s} {'max |err|':>10s}")
    for model in ("opencv", "h36m"):
        cams = rig(model)
        xy = (torch.rand(4, args.points, 2, generator=g, dtype=torch.float64) - 0.5) * 1.0
        xd = distort_normalized(xy, cams.dist, model)
        n = xy.shape[0] * xy.shape[1]
        t_fp = seconds(lambda: undistort_fixed_point(xd, cams.dist, model, 20), args.repeats)
        err_fp = (undistort_fixed_point(xd, cams.dist, model, 20) - xy).abs().max().item()
        print(f"{'fixed point, 20 iterations (before)':34s} {model:>6s} {n / t_fp:12,.0f} {'1.0x':>7s} {err_fp:10.1e}")
        for backend in ("numba", "torch"):
            t = seconds(lambda: undistort_normalized(xd, cams.dist, model, backend=backend), args.repeats)
            err = (undistort_normalized(xd, cams.dist, model, backend=backend) - xy).abs().max().item()
            label = f"Newton, exact ({backend})"
            print(f"{label:34s} {model:>6s} {n / t:12,.0f} {t_fp / t:6.1f}x {err:10.1e}")
    print()
    print(
        f"{'triangulation of distorted pixels':34s} {'model':>6s} {'points/s':>12s} {'ratio':>7s} {'max 3D err':>10s}"
    )
    for model in ("opencv", "h36m"):
        cams = rig(model)
        X = torch.randn(args.frames, 17, 3, generator=g, dtype=torch.float64) * 300 + torch.tensor([0.0, 0.0, 900.0])
        uv = cams.project(X[:, None])  # (B, C, J, 2) distorted
        P = cams.projection.numpy()
        sub = uv[: args.loop_frames]

        def baseline():
            und = cams.expand(sub.shape[0], 4).undistort_points(sub, iterations=20).numpy()
            return loop_triangulate(und, P)

        t_loop = seconds(baseline, 1) / (sub.shape[0] * 17)
        err_loop = np.abs(baseline() - X[: args.loop_frames].numpy()).max()
        t = seconds(lambda: triangulate_cameras(uv, cams), args.repeats) / (args.frames * 17)
        err = (triangulate_cameras(uv, cams) - X).norm(dim=-1).max().item()
        print(
            f"{'per-point loop (fixed point + SVD)':34s} {model:>6s} {1 / t_loop:12,.0f} {'1.0x':>7s} {err_loop:10.1e}"
        )
        print(f"{'triangulate_cameras':34s} {model:>6s} {1 / t:12,.0f} {t_loop / t:6.0f}x {err:10.1e}")


if __name__ == "__main__":
    main()
