"""Speed of the capsule renderer: views per second into person crops, against baselines measured in the same run.

Run with ``python benchmarks/render.py [--size 128] [--frames 32] [--device cpu] [--repeats 3]``.

Timed, on the same frames of a real clip (05_06) through the Human3.6M-like rig (4 views per frame):

* ``render``: the renderer with tile culling, straight into ``size x size`` person crops, with one torch thread
  and with torch's default thread count (the per-op tensors are small: intra-op threads rarely pay, and on a
  loaded machine they cost a lot; parallelise with DataLoader workers);
* ``per-capsule loop``: the same renderer with ``culling=False``: every pixel tested against every capsule, one
  capsule at a time (the straightforward z-buffer loop; identical images);
* ``full frame``: rendering the full 1000 x 1000 frames a crop would be cut from (per view), to show what rendering
  straight into the crop saves.

Wall-clock medians are printed next to the process CPU time (on a shared machine the wall clock also counts other
processes' load).
"""

from __future__ import annotations

import argparse
import os
import time

import torch

from lt_core.data.rigs import human36m_like_rig
from lt_core.data.synthetic import load_joints, place_joints
from lt_core.render import BodyStyle, SceneStyle, crop_to_person, render


def timeit(fn, repeats: int, device: str) -> tuple[float, float]:
    """(median wall seconds, median process CPU seconds) per call after one warm-up call."""
    fn()
    walls, cpus = [], []
    for _ in range(repeats):
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        t0, c0 = time.perf_counter(), time.process_time()
        fn()
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        walls.append(time.perf_counter() - t0)
        cpus.append(time.process_time() - c0)
    return sorted(walls)[len(walls) // 2], sorted(cpus)[len(cpus) // 2]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", type=int, default=128)
    ap.add_argument("--frames", type=int, default=32)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, default=0, help="torch's default thread count (0: leave it)")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    dev = args.device
    clip, _ = load_joints("05_06", 30.0)
    frames = torch.linspace(0, clip.shape[0] - 1, args.frames).round().long()
    joints = torch.stack(
        [place_joints(torch.from_numpy(clip[int(f)]), 0.3 * i, (0.0, 0.0)) for i, f in enumerate(frames)]
    ).to(dev)
    rig = human36m_like_rig()
    body, scene = BodyStyle.from_seed(1), SceneStyle.from_seed(2)
    crops, _ = crop_to_person(joints, rig, args.size, body)
    views = joints.shape[0] * rig.batch_shape[0]
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(
        f"device {dev}, torch threads {torch.get_num_threads()}, load average {load:.1f}; "
        f"{args.frames} frames x {rig.batch_shape[0]} views at {args.size} x {args.size}"
    )

    t1 = dict(num_threads=1)
    fast = timeit(lambda: render(joints, crops, body, scene, **t1), args.repeats, dev)
    fast_default = timeit(lambda: render(joints, crops, body, scene, num_threads=None), args.repeats, dev)
    loop = timeit(lambda: render(joints, crops, body, scene, culling=False, **t1), args.repeats, dev)
    n_full = 2
    full = timeit(lambda: render(joints[:n_full], rig, body, scene, **t1), 1, dev)
    rows = [
        ("render (tile culling, into crops), 1 thread", fast, views),
        (f"render, {torch.get_num_threads()} torch threads", fast_default, views),
        ("per-capsule loop (no culling), 1 thread", loop, views),
        ("full 1000x1000 frames (tile culling), 1 thread", full, n_full * rig.batch_shape[0]),
    ]
    print(f"{'method':50s} {'views/s (wall)':>15s} {'views/s (cpu)':>15s}")
    for name, (wall, cpu), n in rows:
        print(f"{name:50s} {n / wall:15.1f} {n / max(cpu, 1e-9):15.1f}")
    print(f"speed-up over the per-capsule loop: {loop[0] / fast[0]:.1f}x (wall), {loop[1] / fast[1]:.1f}x (cpu)")
    print(
        f"rendering into the crop instead of the full frame: {full[0] / n_full / (fast[0] / args.frames):.0f}x "
        "faster per view (wall)"
    )


if __name__ == "__main__":
    main()
