"""Everything around the body: light, a textured floor at ``z = 0`` and a random background (:class:`SceneStyle`).

The background is an environment: a colour for every world *direction* (vertical gradient, soft coloured blobs,
sinusoidal stripes/noise), so every camera of a rig sees the same surroundings from its own viewpoint, and a crop
shows exactly the part of the full image's background it covers. The floor is a checkerboard (or plain) with a
low-frequency stain texture, lit by the same light as the body, darkened by a soft contact shadow under the
person, and fading into the background with distance (no hard horizon).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, fields, replace

import torch
from torch import Tensor

__all__ = ["SceneStyle", "N_BLOBS", "N_WAVES", "background_color", "floor_checker", "floor_shade"]

N_BLOBS = 6
N_WAVES = 4


@dataclass
class SceneStyle:
    """Light, floor and background of a rendered scene. Tensors may carry leading batch dimensions that
    broadcast with the leading dimensions of the joints given to the renderer (one scene per sample).

    Attributes:
        light_dir: (..., 3) unit vector towards the light, world frame.
        ambient: (...,) ambient light level.
        diffuse: (...,) Lambertian light level.
        floor_colors: (..., 2, 3) RGB of the two checker tiles.
        floor_tile: (...,) checker tile size in mm.
        floor_texture: (...,) amplitude of the floor's stain texture.
        floor_radius: (...,) distance (mm, from the world origin) where the floor starts fading into the background.
        shadow: (...,) darkness of the contact shadow in [0, 1].
        bg_bottom, bg_top: (..., 3) background colours looking down / up.
        blob_dirs: (..., N_BLOBS, 3) unit directions of coloured blobs; blob_colors: (..., N_BLOBS, 3);
            blob_sharpness: (..., N_BLOBS) (larger: smaller blobs); blob_alpha: (..., N_BLOBS) opacity at the centre.
        wave_vecs: (..., N_WAVES, 3) frequency vectors (radians per unit direction); wave_phase: (..., N_WAVES);
            wave_colors: (..., N_WAVES, 3) signed amplitudes.
        noise_std: (...,) standard deviation of per-pixel sensor noise.
        seed: the seed it was drawn from (``-1`` for hand-made scenes).
    """

    light_dir: Tensor
    ambient: Tensor
    diffuse: Tensor
    floor_colors: Tensor
    floor_tile: Tensor
    floor_texture: Tensor
    floor_radius: Tensor
    shadow: Tensor
    bg_bottom: Tensor
    bg_top: Tensor
    blob_dirs: Tensor
    blob_colors: Tensor
    blob_sharpness: Tensor
    blob_alpha: Tensor
    wave_vecs: Tensor
    wave_phase: Tensor
    wave_colors: Tensor
    noise_std: Tensor
    seed: int = -1

    @classmethod
    def default(cls) -> SceneStyle:
        """A plain, fixed scene: grey checker floor, blue-grey gradient background, no noise."""
        f = lambda *v: torch.tensor(v if len(v) > 1 else v[0], dtype=torch.float32)  # noqa: E731
        light = f(0.35, -0.45, 0.82)
        return cls(
            light_dir=light / light.norm(),
            ambient=f(0.45),
            diffuse=f(0.6),
            floor_colors=f([0.55, 0.55, 0.52], [0.42, 0.42, 0.4]),
            floor_tile=f(500.0),
            floor_texture=f(0.0),
            floor_radius=f(6000.0),
            shadow=f(0.45),
            bg_bottom=f(0.35, 0.37, 0.4),
            bg_top=f(0.75, 0.8, 0.88),
            blob_dirs=torch.nn.functional.normalize(torch.ones(N_BLOBS, 3), dim=-1),
            blob_colors=torch.zeros(N_BLOBS, 3),
            blob_sharpness=torch.ones(N_BLOBS),
            blob_alpha=torch.zeros(N_BLOBS),
            wave_vecs=torch.zeros(N_WAVES, 3),
            wave_phase=torch.zeros(N_WAVES),
            wave_colors=torch.zeros(N_WAVES, 3),
            noise_std=f(0.0),
            seed=-1,
        )

    @classmethod
    def from_seed(cls, seed: int) -> SceneStyle:
        """Draw a random scene (deterministic for a given seed on every platform).

        Args:
            seed: any integer.
        """
        g = torch.Generator().manual_seed(int(seed))
        rand = lambda *s: torch.rand(tuple(s), generator=g)  # noqa: E731
        uni = lambda lo, hi, *s: lo + (hi - lo) * rand(*s)  # noqa: E731

        def unit(*s: int) -> Tensor:
            v = torch.randn(*s, 3, generator=g)
            return v / v.norm(dim=-1, keepdim=True).clamp_min(1e-6)

        az, el = uni(0, 2 * math.pi), uni(0.5, 1.35)
        light = torch.stack([el.cos() * az.cos(), el.cos() * az.sin(), el.sin()])
        base = rand(3) * 0.7 + 0.15
        contrast = uni(0.05, 0.3)
        floor = torch.stack([base, (base - contrast).clamp(0, 1)])
        if rand() < 0.3:  # a plain (non-checker) floor now and then
            floor = torch.stack([base, base])
        bottom = rand(3) * 0.6 + 0.1
        top = rand(3) * 0.6 + 0.35
        wave_dir = unit(N_WAVES)
        freq = uni(3.0, 45.0, N_WAVES)
        return cls(
            light_dir=light.float(),
            ambient=uni(0.3, 0.55),
            diffuse=uni(0.4, 0.75),
            floor_colors=floor,
            floor_tile=uni(300.0, 900.0),
            floor_texture=uni(0.0, 0.12),
            floor_radius=uni(3500.0, 8000.0),
            shadow=uni(0.2, 0.6),
            bg_bottom=bottom,
            bg_top=top,
            blob_dirs=unit(N_BLOBS),
            blob_colors=rand(N_BLOBS, 3),
            blob_sharpness=uni(2.0, 25.0, N_BLOBS),
            blob_alpha=uni(0.3, 0.9, N_BLOBS),
            wave_vecs=wave_dir * freq[:, None],
            wave_phase=uni(0, 2 * math.pi, N_WAVES),
            wave_colors=uni(-0.12, 0.12, N_WAVES, 3),
            noise_std=uni(0.0, 0.025),
            seed=int(seed),
        )

    @staticmethod
    def stack(scenes: Sequence[SceneStyle]) -> SceneStyle:
        """Stack unbatched scenes into one with a leading dimension (one scene per sample)."""
        kw = {f.name: torch.stack([getattr(s, f.name) for s in scenes]) for f in fields(SceneStyle) if f.name != "seed"}
        return SceneStyle(**kw, seed=-1)

    def to(self, device: torch.device | str) -> SceneStyle:
        return replace(self, **{f.name: getattr(self, f.name).to(device) for f in fields(self) if f.name != "seed"})

    def tensors(self) -> dict[str, Tensor]:
        """The tensor fields by name."""
        return {f.name: getattr(self, f.name) for f in fields(self) if f.name != "seed"}


def background_color(dirs: Tensor, s: dict[str, Tensor]) -> Tensor:
    """Environment colour seen along world directions.

    Args:
        dirs: (N, P, 3) unit world directions of P rays in each of N views.
        s: scene tensors per view (:meth:`SceneStyle.tensors` with leading dimension N).

    Returns:
        (N, P, 3) RGB.
    """
    w = 0.5 + 0.5 * dirs[..., 2:3]
    col = s["bg_bottom"][:, None] * (1 - w) + s["bg_top"][:, None] * w
    cosb = dirs @ s["blob_dirs"].transpose(-1, -2)  # (N, P, NB)
    alpha = torch.exp(s["blob_sharpness"][:, None] * (cosb - 1)) * s["blob_alpha"][:, None]
    for i in range(alpha.shape[-1]):
        a = alpha[..., i : i + 1]
        col = col * (1 - a) + s["blob_colors"][:, None, i] * a
    phase = dirs @ s["wave_vecs"].transpose(-1, -2) + s["wave_phase"][:, None]  # (N, P, NW)
    col = col + torch.sin(phase) @ s["wave_colors"]
    return col.clamp(0, 1)


def floor_checker(X: Tensor, Y: Tensor, s: dict[str, Tensor]) -> Tensor:
    """Checker colour of the floor at world points ``(X, Y, 0)`` (the only full-resolution floor term).

    Args:
        X, Y: (N, P) world coordinates in mm.
        s: scene tensors per view (leading dimension N).

    Returns:
        (N, 3, P) RGB.
    """
    tile = s["floor_tile"][:, None]
    odd = (X / tile).floor_().add_((Y / tile).floor_()).remainder_(2.0)  # 0 / 1
    fc = s["floor_colors"]  # (N, 2, 3)
    return torch.addcmul(fc[:, 0, :, None], odd[:, None], (fc[:, 1] - fc[:, 0])[:, :, None])


def floor_shade(X: Tensor, Y: Tensor, s: dict[str, Tensor], shadow_xy: Tensor) -> Tensor:
    """Smooth brightness factor of the floor: light, stains and the soft contact shadow.

    Args:
        X, Y: (N, P) world coordinates in mm of floor points.
        s: scene tensors per view (leading dimension N).
        shadow_xy: (N, S, 3) shadow casters per view: ``(x, y, strength)``; the first is the body centre
            (wide, soft), the others the feet (small, sharper).

    Returns:
        (N, P) factor multiplying the checker colour.
    """
    stain = torch.sin(X * 0.0031 + 1.3) * torch.sin(Y * 0.0023 + 0.4) + 0.5 * torch.sin((X + Y) * 0.0071)
    lit = (s["ambient"] + s["diffuse"] * s["light_dir"][:, 2].clamp_min(0))[:, None]
    sh = torch.zeros_like(X)
    for i in range(shadow_xy.shape[1]):
        width = 450.0 if i == 0 else 130.0
        d2 = (X - shadow_xy[:, i, None, 0]) ** 2 + (Y - shadow_xy[:, i, None, 1]) ** 2
        sh = torch.maximum(sh, shadow_xy[:, i, None, 2] * torch.exp(-d2 / (2 * width**2)))
    return lit * (1 + s["floor_texture"][:, None] * stain) * (1 - s["shadow"][:, None] * sh)
