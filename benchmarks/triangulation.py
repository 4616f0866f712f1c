"""Triangulation throughput: batched weighted DLT and RANSAC against per-point loop baselines.

Run: ``python benchmarks/triangulation.py`` (``--quick`` for a short run). Everything is measured in this run on
this machine; the baselines are the straightforward per-point implementations (one SVD per point for DLT, as
in the paper's code; one Python-level RANSAC per point over all view pairs), so the printed ratios are
like-for-like. Accuracy is checked against a float64 per-point SVD reference of the same normalised system.
"""

from __future__ import annotations

import argparse
import math
import time
from itertools import combinations

import numpy as np
import torch

from lt_core.camera import Camera, stack_cameras
from lt_core.ops.ransac import triangulate_ransac
from lt_core.ops.triangulation import triangulate, triangulate_reference


def ring_rig(n: int) -> Camera:
    cams = [
        Camera.look_at(
            [5000 * math.cos(2 * math.pi * i / n), 5000 * math.sin(2 * math.pi * i / n), 1200.0 + 300 * (i % 3)],
            [0.0, 0.0, 900.0],
            focal=1145.0,
        )
        for i in range(n)
    ]
    return stack_cameras(cams)


def loop_dlt(points: np.ndarray, P: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Per-point weighted DLT with one SVD each (the unbatched way)."""
    B, C, J, _ = points.shape
    out = np.empty((B, J, 3))
    for b in range(B):
        for j in range(J):
            A = np.empty((2 * C, 4))
            for c in range(C):
                u, v = points[b, c, j]
                A[2 * c] = w[b, c, j] * (u * P[b, c, 2] - P[b, c, 0])
                A[2 * c + 1] = w[b, c, j] * (v * P[b, c, 2] - P[b, c, 1])
            X = np.linalg.svd(A)[2][-1]
            out[b, j] = X[:3] / X[3]
    return out


def loop_ransac(points: np.ndarray, P: np.ndarray, threshold: float = 15.0) -> np.ndarray:
    """Per-point RANSAC over all view pairs with an inlier re-triangulation (no refinement)."""
    B, C, J, _ = points.shape
    out = np.empty((B, J, 3))
    ones = np.ones((B, C, J))
    for b in range(B):
        for j in range(J):
            best, best_in = -1, None
            for pair in combinations(range(C), 2):
                X = loop_dlt(points[b : b + 1, list(pair), j : j + 1], P[b : b + 1, list(pair)], ones[:1, :2, :1])[0, 0]
                x = P[b] @ np.append(X, 1.0)
                err = np.linalg.norm(x[:, :2] / x[:, 2:] - points[b, :, j], axis=1)
                inl = err < threshold
                if inl.sum() > best:
                    best, best_in = inl.sum(), inl
            idx = np.flatnonzero(best_in) if best >= 2 else np.arange(C)
            out[b, j] = loop_dlt(points[b : b + 1, idx, j : j + 1], P[b : b + 1, idx], ones[:1, : len(idx), :1])[0, 0]
    return out


def rate(fn, n_points: int, repeat: int) -> float:
    fn()  # warm-up
    t0 = time.perf_counter()
    for _ in range(repeat):
        fn()
    return n_points * repeat / (time.perf_counter() - t0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="fewer repetitions")
    parser.add_argument("--batch", type=int, default=512)
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's choice)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    B, J = args.batch, 17
    repeat = 2 if args.quick else 5
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, B={B}, J={J}")
    print(f"{'method':34s} {'C':>3s} {'points/s':>12s} {'baseline/s':>11s} {'ratio':>7s} {'max |err| vs f64 ref':>22s}")
    for C in (4, 31):
        rig = ring_rig(C)
        X = torch.randn(B, J, 3, dtype=torch.float64) * 400 + torch.tensor([0.0, 0.0, 900.0], dtype=torch.float64)
        uv = rig.project(X[:, None]) + torch.randn(B, C, J, 2, dtype=torch.float64)
        P = rig.projection.expand(B, C, 3, 4).contiguous()
        w = torch.rand(B, C, J, dtype=torch.float64) + 0.1
        sub = 8  # samples for the slow loop baselines
        uv_np, P_np, w_np = uv.numpy(), P.numpy(), w.numpy()
        base_dlt = rate(lambda: loop_dlt(uv_np[:sub], P_np[:sub], w_np[:sub]), sub * J, 1)
        ref = triangulate_reference(uv[:4], P[:4], w[:4])
        for name, kwargs, dtype in (
            ("weighted DLT float32 in, f64 math", {}, torch.float32),
            ("weighted DLT float64", {}, torch.float64),
            ("weighted DLT float32 native", {"precision": "native"}, torch.float32),
        ):
            uvd, Pd, wd = uv.to(dtype), P.to(dtype), w.to(dtype)
            r = rate(lambda: triangulate(uvd, Pd, wd, **kwargs), B * J, repeat)
            err = (triangulate(uv[:4].to(dtype), P[:4].to(dtype), w[:4].to(dtype), **kwargs).double() - ref).abs().max()
            print(f"{name:34s} {C:3d} {r:12,.0f} {base_dlt:11,.0f} {r / base_dlt:6.0f}x {err:22.2e}")
        corrupted = uv.clone()
        corrupted[:, 1] += 150.0
        base_r = rate(lambda: loop_ransac(corrupted.numpy()[:2], P_np[:2]), 2 * J, 1)
        g = torch.Generator().manual_seed(0)
        r = rate(lambda: triangulate_ransac(corrupted.float(), P.float(), generator=g), B * J, max(1, repeat // 2))
        Y, _ = triangulate_ransac(corrupted.float(), P.float(), generator=g)
        err = (Y.double() - X).norm(dim=-1).median()
        print(
            f"{'RANSAC (pairs, 15 px, refine)':34s} {C:3d} {r:12,.0f} {base_r:11,.0f} {r / base_r:6.0f}x "
            f"{f'median 3D err {err:.2f} mm':>22s}"
        )


if __name__ == "__main__":
    main()
