"""The rendered body: capsules placed on Human3.6M-17 joints, and per-subject clothing and build (:class:`BodyStyle`).

A body is a fixed list of :data:`CAPSULES`. Each capsule is a segment between two *body points* with a radius (a
sphere when both ends coincide). Body points are the 17 joints plus a few points derived from them per frame
(:func:`body_points`): toe tips, hand tips, the head's two centres, a nose bump that shows which way the face
points, and shoulder points pulled in towards the thorax for the flanks of the torso.

Colours: limbs of the subject's **right** side take **warm** hues (red, orange, yellow, magenta-red), limbs of the
**left** side **cool** hues (blue, cyan, green, violet), each limb segment its own shade of its side's family; the
torso, hips, neck and head are neutral (clothing greys/browns and a skin tone). So left and right can always be
told apart in an image, as the design of the embedded dataset asks, while subjects still differ.
"""

from __future__ import annotations

import colorsys
import math
import zlib
from collections.abc import Sequence
from dataclasses import dataclass, replace

import torch
from torch import Tensor

from lt_core.skeleton import H36M17

__all__ = [
    "CAPSULES",
    "CAPSULE_NAMES",
    "BODY_POINT_NAMES",
    "BodyStyle",
    "body_points",
    "capsule_endpoints",
    "seed_from",
]

# body points: 0..16 the Human3.6M-17 joints, then derived points
BODY_POINT_NAMES: tuple[str, ...] = H36M17.joints + (
    "RToe",
    "LToe",
    "RHandTip",
    "LHandTip",
    "HeadLow",
    "HeadHigh",
    "Nose",
    "RShoulderIn",
    "LShoulderIn",
)
_P = {n: i for i, n in enumerate(BODY_POINT_NAMES)}

# (name, point a, point b, base radius mm, colour group)
# groups: r_* / l_* limbs (side colour families), torso, hips, neck, head, nose
CAPSULES: tuple[tuple[str, int, int, float, str], ...] = (
    ("r_thigh", _P["RHip"], _P["RKnee"], 72.0, "r_thigh"),
    ("r_shin", _P["RKnee"], _P["RAnkle"], 52.0, "r_shin"),
    ("l_thigh", _P["LHip"], _P["LKnee"], 72.0, "l_thigh"),
    ("l_shin", _P["LKnee"], _P["LAnkle"], 52.0, "l_shin"),
    ("r_upperarm", _P["RShoulder"], _P["RElbow"], 46.0, "r_upperarm"),
    ("r_forearm", _P["RElbow"], _P["RWrist"], 38.0, "r_forearm"),
    ("l_upperarm", _P["LShoulder"], _P["LElbow"], 46.0, "l_upperarm"),
    ("l_forearm", _P["LElbow"], _P["LWrist"], 38.0, "l_forearm"),
    ("r_foot", _P["RAnkle"], _P["RToe"], 42.0, "r_foot"),
    ("l_foot", _P["LAnkle"], _P["LToe"], 42.0, "l_foot"),
    ("r_hand", _P["RWrist"], _P["RHandTip"], 34.0, "r_hand"),
    ("l_hand", _P["LWrist"], _P["LHandTip"], 34.0, "l_hand"),
    ("spine", _P["Pelvis"], _P["Thorax"], 112.0, "torso"),
    ("r_flank", _P["RHip"], _P["RShoulderIn"], 84.0, "torso"),
    ("l_flank", _P["LHip"], _P["LShoulderIn"], 84.0, "torso"),
    ("shoulders", _P["RShoulder"], _P["LShoulder"], 56.0, "torso"),
    ("hips", _P["RHip"], _P["LHip"], 92.0, "hips"),
    ("neck", _P["Thorax"], _P["Neck"], 46.0, "neck"),
    ("head", _P["HeadLow"], _P["HeadHigh"], 90.0, "head"),
    ("nose", _P["Nose"], _P["Nose"], 24.0, "nose"),
)
"""Capsules of the body: ``(name, point_a, point_b, radius_mm, colour_group)`` with indices into
:data:`BODY_POINT_NAMES`."""

CAPSULE_NAMES: tuple[str, ...] = tuple(c[0] for c in CAPSULES)

_WARM_HUES = (-0.06, 0.13)  # red .. orange .. yellow (fractions of the colour wheel; negative wraps to magenta-red)
_COOL_HUES = (0.36, 0.72)  # green-cyan .. cyan .. blue .. violet


def seed_from(*parts) -> int:
    """Stable 31-bit seed from any printable parts (crc32 of their text; independent of ``PYTHONHASHSEED``)."""
    return zlib.crc32("|".join(str(p) for p in parts).encode()) & 0x7FFFFFFF


def _hsv(h: float, s: float, v: float) -> list[float]:
    return list(colorsys.hsv_to_rgb(h % 1.0, min(max(s, 0.0), 1.0), min(max(v, 0.0), 1.0)))


@dataclass
class BodyStyle:
    """Look and build of one rendered subject.

    Attributes:
        colors: (..., K, 3) RGB in [0, 1], one per capsule of :data:`CAPSULES`.
        radii: (..., K) capsule radii in mm.
        texture: (..., K) strength in [0, 1] of a stripe pattern along each capsule (clothing texture).
        seed: the seed it was drawn from (``-1`` for hand-made styles).

    Leading dimensions (if any) broadcast with the leading dimensions of the joints given to the renderer.
    """

    colors: Tensor
    radii: Tensor
    texture: Tensor
    seed: int = -1

    @classmethod
    def default(cls) -> BodyStyle:
        """A fixed, neutral-build subject (red-orange right limbs, blue-green left limbs)."""
        cols = []
        for _name, *_, group in CAPSULES:
            side = group[:2]
            part = group[2:] if side in ("r_", "l_") else group
            shade = {"thigh": 0.0, "shin": 0.5, "upperarm": 0.25, "forearm": 0.75, "foot": 0.9, "hand": 0.6}.get(
                part, 0
            )
            if side == "r_":
                cols.append(_hsv(0.0 + 0.11 * shade, 0.8, 0.9 - 0.25 * shade))
            elif side == "l_":
                cols.append(_hsv(0.58 - 0.17 * shade, 0.8, 0.85 - 0.2 * shade))
            else:
                cols.append(
                    {
                        "torso": _hsv(0.1, 0.1, 0.75),
                        "hips": _hsv(0.08, 0.15, 0.45),
                        "neck": _hsv(0.07, 0.45, 0.8),
                        "head": _hsv(0.07, 0.45, 0.8),
                        "nose": _hsv(0.06, 0.5, 0.7),
                    }[group]
                )
        return cls(
            colors=torch.tensor(cols, dtype=torch.float32),
            radii=torch.tensor([c[3] for c in CAPSULES], dtype=torch.float32),
            texture=torch.zeros(len(CAPSULES), dtype=torch.float32),
            seed=-1,
        )

    @classmethod
    def from_seed(cls, seed: int) -> BodyStyle:
        """Draw a subject: clothing colours within the side colour families, skin tone, build.

        Args:
            seed: any integer; the same seed always gives the same style (on every platform).

        Returns:
            A style with unbatched tensors ``colors`` (K, 3), ``radii`` (K,), ``texture`` (K,).
        """
        g = torch.Generator().manual_seed(int(seed))
        rnd = lambda: float(torch.rand((), generator=g))  # noqa: E731
        uni = lambda lo, hi: lo + (hi - lo) * rnd()  # noqa: E731

        def family(lo: float, hi: float) -> float:
            return uni(lo, hi)

        # side families: one hue per limb of each side (arms and legs independently, like a top and trousers)
        hue = {}
        for side, (lo, hi) in (("r_", _WARM_HUES), ("l_", _COOL_HUES)):
            arm, leg = family(lo, hi), family(lo, hi)
            span = 0.05 if side == "r_" else 0.09
            hue[side + "upperarm"] = arm
            hue[side + "forearm"] = min(max(arm + uni(-span, span), lo), hi)
            hue[side + "thigh"] = leg
            hue[side + "shin"] = min(max(leg + uni(-span, span), lo), hi)
            hue[side + "hand"] = min(max(arm + uni(-span, span), lo), hi)
            hue[side + "foot"] = min(max(leg + uni(-span, span), lo), hi)
        skin = _hsv(uni(0.03, 0.1), uni(0.25, 0.6), uni(0.35, 0.95))
        hair_dark = rnd() < 0.5
        torso = _hsv(rnd(), uni(0.0, 0.25), uni(0.3, 0.95))
        hips = _hsv(rnd(), uni(0.0, 0.3), uni(0.2, 0.7))
        build = uni(0.85, 1.2)
        girth = uni(0.9, 1.15)
        cols, radii, tex = [], [], []
        for _name, _, _, r, group in CAPSULES:
            if group in hue:
                lo_v = 0.45 if group.endswith(("foot", "hand")) else 0.55
                cols.append(_hsv(hue[group], uni(0.55, 0.95), uni(lo_v, 1.0)))
                scale = build * uni(0.93, 1.07)
            elif group == "torso":
                cols.append(torso)
                scale = build * girth
            elif group == "hips":
                cols.append(hips)
                scale = build * girth
            elif group == "head":
                cols.append([c * (0.45 if hair_dark else 1.0) for c in skin] if rnd() < 0.3 else skin)
                scale = uni(0.92, 1.08)
            else:  # neck, nose
                cols.append([c * 0.9 for c in skin])
                scale = uni(0.9, 1.1) * (build if group == "neck" else 1.0)
            radii.append(r * scale)
            tex.append(uni(0.0, 0.35) if group not in ("head", "nose", "neck") else 0.0)
        return cls(
            colors=torch.tensor(cols, dtype=torch.float32),
            radii=torch.tensor(radii, dtype=torch.float32),
            texture=torch.tensor(tex, dtype=torch.float32),
            seed=int(seed),
        )

    @staticmethod
    def stack(styles: Sequence[BodyStyle]) -> BodyStyle:
        """Stack unbatched styles into one with a leading dimension (one style per sample)."""
        return BodyStyle(
            colors=torch.stack([s.colors for s in styles]),
            radii=torch.stack([s.radii for s in styles]),
            texture=torch.stack([s.texture for s in styles]),
            seed=-1,
        )

    def to(self, device: torch.device | str) -> BodyStyle:
        return replace(
            self, colors=self.colors.to(device), radii=self.radii.to(device), texture=self.texture.to(device)
        )


def _unit(v: Tensor, eps: float = 1e-9) -> Tensor:
    return v / v.norm(dim=-1, keepdim=True).clamp_min(eps)


def body_points(joints: Tensor, head_radius: Tensor | float = 96.0) -> Tensor:
    """The 17 joints plus the derived body points of :data:`BODY_POINT_NAMES`.

    Args:
        joints: (..., 17, 3) Human3.6M-17 joints in world mm (Z up).
        head_radius: head capsule radius in mm, scalar or broadcastable to (...,).

    Returns:
        (..., 26, 3) body points in world mm.
    """
    j = joints
    pelvis, thorax = j[..., 6, :], j[..., 8, :]
    up = _unit(thorax - pelvis)
    right = _unit(j[..., 2, :] - j[..., 3, :] + j[..., 12, :] - j[..., 13, :])
    fwd = _unit(torch.linalg.cross(up, right))
    zeros = torch.zeros_like(fwd[..., :1])
    fwd_h = _unit(torch.cat([fwd[..., :2], zeros], -1))
    down = torch.cat([zeros, zeros, -torch.ones_like(zeros)], -1)

    def toe(ankle: Tensor) -> Tensor:
        tip = ankle + 130.0 * fwd_h + 55.0 * down
        lowest = ankle[..., 2:].clamp_max(40.0)  # toes rest on the floor unless the ankle itself is lower
        return torch.cat([tip[..., :2], torch.maximum(tip[..., 2:], lowest)], -1)

    def hand(wrist: Tensor, elbow: Tensor) -> Tensor:
        return wrist + 85.0 * _unit(wrist - elbow)

    neck, head = j[..., 16, :], j[..., 9, :]
    axis = head - neck
    length = axis.norm(dim=-1, keepdim=True).clamp_min(1.0)
    u = axis / length
    hr = torch.as_tensor(head_radius, dtype=j.dtype, device=j.device)
    hr = hr[..., None] if hr.dim() else hr
    # the head capsule's top reaches the head-top joint, its bottom the chin below the neck/nose point
    high = head - u * hr * 0.95
    low = neck + u * (length * 0.35)
    low = torch.where(((high - low) * u).sum(-1, keepdim=True) < 0, high, low)
    centre = 0.5 * (low + high)
    face = _unit(fwd - (fwd * u).sum(-1, keepdim=True) * u)
    nose = centre + face * hr * 0.95 - u * hr * 0.15
    sh_in_r = j[..., 12, :] + 0.35 * (thorax - j[..., 12, :])
    sh_in_l = j[..., 13, :] + 0.35 * (thorax - j[..., 13, :])
    extra = torch.stack(
        [
            toe(j[..., 0, :]),
            toe(j[..., 5, :]),
            hand(j[..., 10, :], j[..., 11, :]),
            hand(j[..., 15, :], j[..., 14, :]),
            low,
            high,
            nose,
            sh_in_r,
            sh_in_l,
        ],
        -2,
    )
    return torch.cat([j, extra], -2)


def capsule_endpoints(points: Tensor) -> tuple[Tensor, Tensor]:
    """Endpoints of every capsule.

    Args:
        points: (..., 26, 3) body points from :func:`body_points`.

    Returns:
        ``(a, b)``, each (..., K, 3) in the points' units and frame.
    """
    ia = torch.tensor([c[1] for c in CAPSULES], device=points.device)
    ib = torch.tensor([c[2] for c in CAPSULES], device=points.device)
    return points[..., ia, :], points[..., ib, :]


def _check() -> None:  # pragma: no cover - import-time sanity
    assert all(0 <= a < len(BODY_POINT_NAMES) and 0 <= b < len(BODY_POINT_NAMES) for _, a, b, _, _ in CAPSULES)
    assert math.isfinite(sum(c[3] for c in CAPSULES))


_check()
