"""Exercises of notebook 01 (camera geometry): projection, lens distortion, resizing and cropping a camera."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

from lt_core.camera import Camera
from lt_core.exercises import call, close, register


def _cameras(n: int = 4, seed: int = 0) -> list[Camera]:
    """Varied cameras around the origin (float64), with non-square pixels and a skew for some."""
    g = torch.Generator().manual_seed(seed)
    cams = []
    for i in range(n):
        eye = (torch.rand(3, generator=g, dtype=torch.float64) - 0.5) * torch.tensor([8000.0, 8000.0, 1000.0])
        eye[2] += 1500.0
        target = torch.tensor([0.0, 0.0, 900.0], dtype=torch.float64) + 200 * torch.randn(
            3, generator=g, dtype=torch.float64
        )
        cam = Camera.look_at(
            eye,
            target,
            focal=800.0 + 600.0 * float(torch.rand((), generator=g)),
            image_size=(1000 + 40 * i, 1000 - 30 * i),
        )
        K = cam.K.clone()
        K[1, 1] *= 1.0 + 0.05 * i  # f_y != f_x
        K[0, 1] = 0.7 * i  # a small skew
        cams.append(Camera(K=K, R=cam.R, t=cam.t, image_size=cam.image_size))
    return cams


def _points(n: int = 17, seed: int = 1) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, 3, generator=g, dtype=torch.float64) * 300 + torch.tensor(
        [0.0, 0.0, 900.0], dtype=torch.float64
    )


@register("01.1", "project world points with K, R, t", paper="Sec. 3: the cameras' projection matrices P_c")
def _project(answer: Callable[..., Any]) -> str:
    X = _points()
    for c, cam in enumerate(_cameras()):
        got = call(answer, X.clone(), cam.K.clone(), cam.R.clone(), cam.t.clone())
        close(
            got,
            cam.project(X, distort=False),
            f"camera {c}, {len(X)} points (K with skew and f_x != f_y)",
            atol=1e-6,
            rtol=0,
            unit="px",
        )
    return "Your projection matches Camera.project on 4 cameras (to 1e-6 px)."


@register("01.2", "OpenCV's lens distortion", paper="")
def _distort(answer: Callable[..., Any]) -> str:
    g = torch.Generator().manual_seed(2)
    xy = (torch.rand(200, 2, generator=g, dtype=torch.float64) - 0.5) * 1.2  # normalised coordinates
    for dist in ([-0.28, 0.09, 0.001, -0.0005, 0.0], [0.1, -0.02, -0.003, 0.002, 0.01], [0.0, 0.0, 0.01, 0.0, 0.0]):
        d = torch.tensor(dist, dtype=torch.float64)
        unit_cam = Camera(
            K=torch.eye(3, dtype=torch.float64),
            R=torch.eye(3, dtype=torch.float64),
            t=torch.zeros(3, dtype=torch.float64),
            dist=d,
        )
        want = unit_cam.distort_points(xy[None])[0]  # with K = I pixels are normalised coordinates
        got = call(answer, xy.clone(), d.clone())
        close(got, want, f"200 points, (k1, k2, p1, p2, k3) = {tuple(dist)}", atol=1e-10, rtol=0)
    return "Radial and tangential terms agree with Camera.distort_points for three lenses."


@register("01.3", "resize a camera (pixel centres)", paper="Sec. 4: 384 x 384 crops, 96 x 96 heatmaps")
def _resize(answer: Callable[..., Any]) -> str:
    for c, cam in enumerate(_cameras()):
        for s in (0.25, 0.37, 2.0, 3.0):
            got = call(answer, cam.K.clone(), s)
            close(got, cam.resize(s).K, f"camera {c}, scale {s:g}", atol=1e-9, rtol=0)
    return "K' matches Camera.resize for scales 0.25, 0.37, 2 and 3 (the half-pixel term included)."


@register("01.4", "crop and resize a camera", paper="Sec. 3: each view is cropped around the person")
def _crop_resize(answer: Callable[..., Any]) -> str:
    boxes = [
        (312.0, 188.0, 712.0, 588.0),
        (-40.0, 100.0, 360.0, 500.0),
        (100.5, 20.25, 484.5, 404.25),
        (0.0, 0.0, 1000.0, 700.0),
    ]
    outs = [(384, 384), (128, 128), (96, 96), (256, 192)]
    for c, cam in enumerate(_cameras()):
        for box, out in zip(boxes, outs):
            got = call(answer, cam.K.clone(), box, out)
            close(
                got,
                cam.crop_and_resize(torch.tensor(box, dtype=torch.float64), out).K,
                f"camera {c}, box (l, t, r, b) = {box}, output {out[0]} x {out[1]}",
                atol=1e-9,
                rtol=0,
            )
    return (
        "K' matches Camera.crop_and_resize for 16 boxes and output sizes: the crop camera projects every point "
        "where the cropped and resized image shows it."
    )
