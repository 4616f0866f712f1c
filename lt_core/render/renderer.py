"""The renderer: capsule bodies over a floor and a background, through real (distorting) cameras, in torch.

:func:`render` casts one ray per pixel centre (pixel convention of ``docs/CONVENTIONS.md``: integer coordinates are
pixel centres). Rays leave through the *undistorted* position of each pixel, so a point projected with
:meth:`Camera.project` (distortion included) lands on the pixel that shows it. Per pixel, the nearest of

* the body's capsules (analytic ray-capsule intersection, tile-culled, :mod:`lt_core.render.raycast`),
* the floor plane ``z = 0`` (fading into the background with distance),
* the background environment (:mod:`lt_core.render.scene`)

is drawn: a per-pixel z-buffer resolved analytically, so self-occlusion is exact. Capsules are Lambert-shaded with
the scene's light plus an ambient term, with a faint stripe texture along their axis.

Cost: about ``H W`` dense per-pixel operations for rays, floor and composition, plus a few dozen per pixel and
*nearby* capsule. Rendering straight into a person crop (cameras from :func:`lt_core.render.crop.crop_to_person`)
instead of a full frame that is then cropped saves the work on all pixels outside the crop: a 128 x 128 crop costs
about 1/60 of a 1000 x 1000 frame.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

from lt_core.camera import Camera
from lt_core.render.body import CAPSULES, BodyStyle, body_points, capsule_endpoints
from lt_core.render.raycast import (
    NEAR,
    capsule_bounds,
    capsule_params,
    nearest_hits_dense,
    nearest_hits_loop,
    nearest_hits_tiled,
)
from lt_core.render.scene import SceneStyle, background_color, floor_checker, floor_shade

__all__ = ["render", "RenderOutput", "FLOOR", "BACKGROUND", "OUTSIDE", "torch_threads"]

FLOOR = -1
"""Part label of floor pixels."""
BACKGROUND = -2
"""Part label of background pixels."""
OUTSIDE = -3
"""Part label of pixels outside ``valid_region`` (drawn black)."""

_NOISE_POOL = 7  # distinct sensor-noise patterns per call (views cycle through them)
_HEAD = [c[0] for c in CAPSULES].index("head")
_GROUPS = torch.tensor(
    [{"torso": 100, "hips": 100, "head": 101, "nose": 101}.get(c[4], k) for k, c in enumerate(CAPSULES)]
)
"""Occlusion groups of the capsules: the torso capsules form one solid, the head and nose another."""
_FEET = ([c[0] for c in CAPSULES].index("r_foot"), [c[0] for c in CAPSULES].index("l_foot"))


@dataclass
class RenderOutput:
    """What :func:`render` returns (``...`` = the joints' leading dimensions, ``C`` views).

    Attributes:
        images: (..., C, 3, H, W) float32 RGB in [0, 1].
        joints_2d: (..., C, 17, 2) projected joints in pixels (distortion included).
        joints_visible: (..., C, 17) bool: the joint is in front of the camera, inside the image (and the valid
            region) and not hidden behind another part of the body.
        depth: (..., C, H, W) float32 depth ``z_cam`` in mm of the drawn surface (``inf`` for background), or
            ``None`` unless asked for.
        parts: (..., C, H, W) int64 capsule index (see :data:`~lt_core.render.body.CAPSULES`), :data:`FLOOR`,
            :data:`BACKGROUND` or :data:`OUTSIDE`, or ``None`` unless asked for.
    """

    images: Tensor
    joints_2d: Tensor
    joints_visible: Tensor
    depth: Tensor | None = None
    parts: Tensor | None = None


@contextmanager
def torch_threads(n: int | None) -> Iterator[None]:
    """Temporarily set torch's intra-op thread count (``None``: leave it); restored on exit."""
    if n is None or n == torch.get_num_threads():
        yield
        return
    old = torch.get_num_threads()
    torch.set_num_threads(int(n))
    try:
        yield
    finally:
        torch.set_num_threads(old)


def _flat_cameras(cams: Camera, n: int) -> Camera:
    return Camera(
        cams.K.reshape(n, 3, 3),
        cams.R.reshape(n, 3, 3),
        cams.t.reshape(n, 3),
        cams.dist.reshape(n, 5),
        None if cams.image_size is None else cams.image_size.reshape(n, 2),
        convention=cams.convention,
        distortion_model=cams.distortion_model,
    )


def _per_sample(x: Tensor, base_dims: int, lead: torch.Size, device) -> Tensor:
    """Broadcast a style tensor with shape (*base) or (*lead, *base) to (S, *base)."""
    x = x.to(device)
    base = x.shape[x.dim() - base_dims :]
    S = math.prod(lead)
    return x.expand(tuple(lead) + tuple(base)).reshape((S,) + tuple(base))


def _normalized_rays(cams: Camera, u: Tensor, v: Tensor) -> Tensor:
    """Undistorted normalised coordinates of pixels.

    Args:
        cams: (N,) cameras.
        u: (W,) pixel columns; v: (H,) pixel rows (pixel-centre coordinates).

    Returns:
        (N, H, W, 2) float32 ``(x, y)`` with the ray ``(x, y, 1)`` in the camera frame.
    """
    K = cams.K
    fx, fy, cx, cy, sk = (K[:, 0, 0], K[:, 1, 1], K[:, 0, 2], K[:, 1, 2], K[:, 0, 1])
    y = (v.double()[None, :] - cy[:, None]) / fy[:, None]  # (N, H)
    x = (u.double()[None, None, :] - cx[:, None, None] - sk[:, None, None] * y[:, :, None]) / fx[:, None, None]
    N, H, W = x.shape
    xy = torch.stack([x, y[:, :, None].expand(N, H, W)], -1)
    if cams.has_distortion:
        xy = cams.undistort_normalized(xy.reshape(N, H * W, 2)).reshape(N, H, W, 2)
    return xy.float()


def _enclosing(joints: Tensor, a: Tensor, b: Tensor, r: Tensor, tol: float = 1.0) -> Tensor:
    """(S, J, K) bool: joint ``j`` lies inside capsule ``k`` (joints (S, J, 3), endpoints (S, K, 3), radii (S, K))."""
    ab = (b - a)[:, None]  # (S, 1, K, 3)
    aj = joints[:, :, None] - a[:, None]  # (S, J, K, 3)
    h = ((aj * ab).sum(-1) / (ab * ab).sum(-1).clamp_min(1e-9)).clamp(0, 1)
    dist = (aj - h[..., None] * ab).norm(dim=-1)
    return dist <= r[:, None] + tol


def _pool(images: Tensor, depth: Tensor | None, parts: Tensor | None, ss: int):
    """Average ``ss x ss`` blocks of the image; keep the nearest sample's depth and part label."""
    N, _, H, W = images.shape
    images = F.avg_pool2d(images, ss)
    if depth is None:
        return images, None, None
    h, w = H // ss, W // ss
    blk = lambda a: a.reshape(N, h, ss, w, ss).permute(0, 1, 3, 2, 4).reshape(N, h, w, ss * ss)  # noqa: E731
    db = blk(depth)
    i = db.argmin(-1, keepdim=True)
    return images, db.gather(-1, i)[..., 0], blk(parts).gather(-1, i)[..., 0]


def render(
    joints: Tensor,
    cameras: Camera,
    body: BodyStyle | None = None,
    scene: SceneStyle | None = None,
    image_size: tuple[int, int] | None = None,
    *,
    supersample: int = 1,
    valid_region: Tensor | None = None,
    noise_seed: int = 0,
    return_depth: bool = False,
    return_parts: bool = False,
    tile: int = 8,
    culling: bool = True,
    max_pixels_per_chunk: int = 1 << 17,
    num_threads: int | None = 1,
) -> RenderOutput:
    """Render capsule bodies posed by Human3.6M-17 joints through cameras.

    Args:
        joints: (..., 17, 3) world joints in mm (Z up, floor at z = 0); ``...`` are samples (e.g. frames).
        cameras: cameras of batch shape (..., C) (one rig per sample, e.g. crop cameras) or (C,) (shared).
        body: subject style; tensors unbatched or with the joints' leading dimensions. Default: fixed style.
        scene: scene style, batched likewise. Default: :meth:`SceneStyle.default`.
        image_size: ``(W, H)`` in pixels; default: the cameras' ``image_size`` (must agree across views).
        supersample: render ``s x s`` rays per pixel (at ``(u + 0.5) s - 0.5``-mapped sub-pixel centres) and
            average them: anti-aliasing at ``s^2`` times the cost.
        valid_region: (..., C, 4) or (C, 4) ``(x0, y0, x1, y1)`` pixel rectangle holding image content; pixels
            whose centres fall outside are black (part :data:`OUTSIDE`), like the zero padding of a crop box that
            leaves the original image (see :func:`lt_core.render.crop.crop_region`).
        noise_seed: seed of the per-pixel sensor noise (its strength is the scene's ``noise_std``).
        return_depth: also return the depth map.
        return_parts: also return the part-label map.
        tile: tile size (pixels) for capsule culling.
        culling: cull capsules per tile (``False``: test every pixel against every capsule in a loop over
            capsules; same result, the reference and speed baseline).
        max_pixels_per_chunk: views are rendered in chunks of about this many (super-sampled) pixels (small chunks
            keep the temporaries in cache).
        num_threads: torch intra-op threads during the call on CPU (``None``: torch's setting, restored after the
            call otherwise). The per-op tensors are small (chunks of ~10^5 elements), so one thread per process is
            fastest: measured on the 2-core development machine under load, 255 views/s with 1 thread against 17
            with 2 (``benchmarks/render.py``). Parallelise with DataLoader workers instead.

    Returns:
        :class:`RenderOutput` with ``images`` (..., C, 3, H, W) float32 in [0, 1].
    """
    with torch_threads(num_threads if joints.device.type == "cpu" else None):
        return _render(
            joints,
            cameras,
            body,
            scene,
            image_size,
            supersample,
            valid_region,
            noise_seed,
            return_depth,
            return_parts,
            tile,
            culling,
            max_pixels_per_chunk,
        )


def _render(
    joints: Tensor,
    cameras: Camera,
    body: BodyStyle | None,
    scene: SceneStyle | None,
    image_size: tuple[int, int] | None,
    supersample: int,
    valid_region: Tensor | None,
    noise_seed: int,
    return_depth: bool,
    return_parts: bool,
    tile: int,
    culling: bool,
    max_pixels_per_chunk: int,
) -> RenderOutput:
    if joints.shape[-2:] != (17, 3):
        raise ValueError(f"joints must have shape (..., 17, 3), got {tuple(joints.shape)}")
    device = joints.device
    lead = joints.shape[:-2]
    S = math.prod(lead)
    cams = cameras.to(device=device, dtype=torch.float64)
    C = cams.batch_shape[-1] if cams.batch_shape else 1
    if not cams.batch_shape:
        cams = cams.expand(1)
    if tuple(cams.batch_shape) != tuple(lead) + (C,):
        cams = cams.expand(*lead, C)
    N = S * C
    flat = _flat_cameras(cams, N)
    if image_size is None:
        if flat.image_size is None:
            raise ValueError("pass image_size: the cameras do not record one")
        sizes = flat.image_size.round()
        if not bool((sizes == sizes[0]).all()):
            raise ValueError("cameras have different image sizes; render them separately or pass image_size")
        image_size = (int(sizes[0, 0]), int(sizes[0, 1]))
    W, H = int(image_size[0]), int(image_size[1])
    ss = int(supersample)
    body = BodyStyle.default() if body is None else body
    scene = SceneStyle.default() if scene is None else scene

    # --- per-sample body, per-view capsules in camera frames (float64)
    radii_s = _per_sample(body.radii, 1, lead, device).double()  # (S, K)
    colors_s = _per_sample(body.colors, 2, lead, device).float()
    tex_s = _per_sample(body.texture, 1, lead, device).float()
    j64 = joints.reshape(S, 17, 3).double()
    pts = body_points(j64, radii_s[:, _HEAD])  # (S, P, 3)
    a_w, b_w = capsule_endpoints(pts)  # (S, K, 3)
    view_sample = torch.arange(S, device=device).repeat_interleave(C)  # (N,)
    R, t = flat.R, flat.t
    a_c = a_w[view_sample] @ R.transpose(-1, -2) + t[:, None]
    b_c = b_w[view_sample] @ R.transpose(-1, -2) + t[:, None]
    r_v = radii_s[view_sample]
    params = capsule_params(a_c, b_c, r_v)  # (N, K, 14) float32
    bounds = capsule_bounds(a_c, b_c, r_v).float()
    base_dims = {k: x.dim() for k, x in SceneStyle.default().tensors().items()}
    sc = {k: _per_sample(v, base_dims[k], lead, device).float()[view_sample] for k, v in scene.tensors().items()}
    light_c = (R.float() @ sc["light_dir"][:, :, None])[..., 0]  # (N, 3)

    # shadow casters: body centre (pelvis/thorax mean) and feet, strength falling with height
    centre = 0.5 * (pts[:, 6] + pts[:, 8])
    feet = 0.5 * (a_w[:, list(_FEET)] + b_w[:, list(_FEET)])  # (S, 2, 3)
    casters = torch.cat([centre[:, None], feet], 1)
    strength = torch.exp(
        -casters[..., 2].clamp_min(0) / torch.tensor([1500.0, 250.0, 250.0], device=device, dtype=torch.float64)
    )
    shadow_xy = torch.cat([casters[..., :2], strength[..., None]], -1).float()[view_sample]  # (N, 3, 3)

    # --- joints: projection and visibility (one exact ray per joint)
    jc = j64[view_sample] @ R.transpose(-1, -2) + t[:, None]  # (N, 17, 3)
    jz = jc[..., 2]
    j_xy = (jc[..., :2] / jz.clamp_min(1e-6)[..., None]).float()
    jd, jk = nearest_hits_dense(j_xy, params)
    # a joint is unoccluded when the first surface on its ray belongs to the body part (a limb segment, the
    # torso, the head) that encloses the joint
    enclose = _enclosing(j64, a_w, b_w, radii_s)[view_sample]  # (N, 17, K)
    group = _GROUPS.to(device)
    same = group[None, None, :] == group[jk.clamp_min(0)][..., None]  # (N, 17, K)
    own = (enclose & same).any(-1) & (jk >= 0)
    unoccluded = own | (jd.double() >= jz - 5.0)
    j2d = flat.project(j64[view_sample])  # (N, 17, 2)
    if valid_region is not None:
        vr = valid_region.to(device=device, dtype=torch.float64).expand(*lead, C, 4).reshape(N, 4)
    else:
        vr = torch.tensor([-0.5, -0.5, W - 0.5, H - 0.5], dtype=torch.float64, device=device).expand(N, 4)
    lo = torch.maximum(vr[:, :2], vr.new_tensor([-0.5, -0.5]))
    hi = torch.minimum(vr[:, 2:], vr.new_tensor([W - 0.5, H - 0.5]))
    inside = ((j2d >= lo[:, None]) & (j2d <= hi[:, None])).all(-1)
    visible = (jz > NEAR) & inside & unoccluded

    # --- pixels, in chunks of views
    Hs, Ws = H * ss, W * ss
    fine = flat.resize(ss) if ss > 1 else flat
    u = torch.arange(Ws, device=device, dtype=torch.float64)
    v = torch.arange(Hs, device=device, dtype=torch.float64)
    region = None if valid_region is None else (vr + 0.5) * ss - 0.5
    noise = None
    if bool((sc["noise_std"] > 0).any()):
        gen = torch.Generator(device=device).manual_seed(int(noise_seed))
        noise = torch.randn(_NOISE_POOL, 3, Hs * Ws, generator=gen, device=device)
    images = torch.empty(N, 3, H, W, device=device)
    depth = torch.empty(N, H, W, device=device) if return_depth else None
    parts = torch.empty(N, H, W, dtype=torch.int64, device=device) if return_parts else None
    chunk = max(1, max_pixels_per_chunk // (Hs * Ws))
    for c0 in range(0, N, chunk):
        sl = slice(c0, min(N, c0 + chunk))
        vs = view_sample[sl]
        img, dep, prt = _render_views(
            fine[sl],
            u,
            v,
            params[sl],
            bounds[sl],
            colors_s[vs],
            tex_s[vs],
            {k: x[sl] for k, x in sc.items()},
            light_c[sl],
            shadow_xy[sl],
            None if region is None else region[sl],
            None if noise is None else noise[torch.arange(sl.start, sl.stop, device=device) % _NOISE_POOL],
            tile,
            culling,
            return_depth or return_parts,
        )
        if ss > 1:
            img, dep, prt = _pool(img, dep, prt, ss)
        images[sl] = img
        if return_depth:
            depth[sl] = dep
        if return_parts:
            parts[sl] = prt
    return RenderOutput(
        images=images.reshape(*lead, C, 3, H, W),
        joints_2d=j2d.reshape(*lead, C, 17, 2).to(joints.dtype),
        joints_visible=visible.reshape(*lead, C, 17),
        depth=depth.reshape(*lead, C, H, W) if return_depth else None,
        parts=parts.reshape(*lead, C, H, W) if return_parts else None,
    )


def _render_views(
    cams: Camera,
    u: Tensor,
    v: Tensor,
    params: Tensor,
    bounds: Tensor,
    colors: Tensor,
    texture: Tensor,
    sc: dict[str, Tensor],
    light_c: Tensor,
    shadow_xy: Tensor,
    region: Tensor | None,
    noise: Tensor | None,
    tile: int,
    culling: bool,
    maps: bool,
) -> tuple[Tensor, Tensor, Tensor]:
    """Render n views at full (super-sampled) resolution.

    Returns:
        (n, 3, H, W) images in [0, 1]; (n, H, W) depth and part labels when ``maps`` (else ``None``).
    """
    n, H, W = cams.batch_shape[0], v.numel(), u.numel()
    P = H * W
    xy = _normalized_rays(cams, u, v)  # (n, H, W, 2)
    if culling:
        depth, idx = nearest_hits_tiled(xy, params, bounds, tile)  # (n, H, W)
    else:
        depth, idx = nearest_hits_loop(xy, params)
    x, y = xy[..., 0].reshape(n, P), xy[..., 1].reshape(n, P)
    depth, idx = depth.reshape(n, P), idx.reshape(n, P)
    R = cams.R.float()  # (n, 3, 3)
    centre = cams.center.float()  # (n, 3)

    # floor z = 0 along world directions R^T (x, y, 1): centre_z + s * dz = 0
    def world(i: int, xx: Tensor, yy: Tensor) -> Tensor:
        return torch.addcmul(torch.addcmul(R[:, 2, i, None], R[:, 0, i, None], xx), R[:, 1, i, None], yy)

    dz = world(2, x, y)
    on_floor = dz < -1e-9
    s_f = (-centre[:, 2, None] / dz).clamp_(0.0, 1e8)
    fX = torch.addcmul(centre[:, 0, None], s_f, world(0, x, y))
    fY = torch.addcmul(centre[:, 1, None], s_f, world(1, x, y))

    # smooth terms at a quarter resolution, bilinearly upsampled: background, floor shading, fog
    f = 4 if min(H, W) >= 32 else 1
    hc, wc = -(-H // f), -(-W // f)
    uc = (torch.arange(wc, device=u.device, dtype=torch.float64) + 0.5) * f - 0.5
    vc = (torch.arange(hc, device=u.device, dtype=torch.float64) + 0.5) * f - 0.5
    xyc = _normalized_rays(cams, uc, vc).reshape(n, hc * wc, 2)
    xc, yc = xyc[..., 0], xyc[..., 1]
    dirc = torch.stack([world(0, xc, yc), world(1, xc, yc), world(2, xc, yc)], -1)
    norm = dirc.norm(dim=-1)
    bg = background_color(dirc / norm[..., None], sc).transpose(1, 2)  # (n, 3, pc)
    sc_f = (-centre[:, 2, None] / dirc[..., 2]).clamp(0.0, 1e8)
    cX = centre[:, 0, None] + sc_f * dirc[..., 0]
    cY = centre[:, 1, None] + sc_f * dirc[..., 1]
    shade = floor_shade(cX, cY, sc, shadow_xy)
    r0 = sc["floor_radius"][:, None]
    fog = ((torch.sqrt(cX * cX + cY * cY) - r0) / r0).clamp(0, 1)
    graze = (-dirc[..., 2] / norm).clamp(0, 1)  # grazing rays fade too (no aliased horizon)
    fog = torch.maximum(fog, (1 - graze / 0.08).clamp(0, 1))
    smooth = torch.cat([bg, shade[:, None], fog[:, None]], 1).reshape(n, 5, hc, wc)
    if f > 1:
        smooth = F.interpolate(smooth, size=(hc * f, wc * f), mode="bilinear", align_corners=False)[..., :H, :W]
    smooth = smooth.reshape(n, 5, P)
    bg, shade, fog = smooth[:, :3], smooth[:, 3], smooth[:, 4]

    fcol = floor_checker(fX, fY, sc).mul_(shade[:, None])  # (n, 3, P)
    weight = (1 - fog).mul_(on_floor)
    img = torch.lerp(bg, fcol, weight[:, None])  # (n, 3, P)

    # body: shade only the pixels that show it
    s_f = s_f.masked_fill_(~on_floor, float("inf"))
    body = depth < s_f
    sel = body.reshape(-1).nonzero()[:, 0]
    if sel.numel():
        vi = sel // P
        k = idx.reshape(-1)[sel]
        s = depth.reshape(-1)[sel]
        px, py = x.reshape(-1)[sel], y.reshape(-1)[sel]
        prm = params[vi, k]  # (M, 14)
        ua, L, A = prm[:, 0:3], prm[:, 8], prm[:, 9:12]
        hit = torch.stack([s * px, s * py, s], -1)
        w = hit - A
        ya = torch.minimum((w * ua).sum(-1).clamp_min(0), L)
        nrm = w - ya[:, None] * ua
        nrm = nrm / nrm.norm(dim=-1, keepdim=True).clamp_min(1e-6)
        lam = (nrm * light_c[vi]).sum(-1).clamp_min(0)
        facing = (-(nrm * hit).sum(-1) / (s * torch.sqrt(px * px + py * py + 1))).clamp(0, 1)
        stripes = 1 + texture[vi, k] * torch.sin(ya * (2 * math.pi / 70.0))
        shade_b = (sc["ambient"][vi] * (0.75 + 0.25 * facing) + sc["diffuse"][vi] * lam) * stripes
        img[vi, :, sel % P] = colors[vi, k] * shade_b[:, None]
    if noise is not None:
        img = img + sc["noise_std"][:, None, None] * noise
    img = img.clamp(0, 1)

    depth_map = parts = None
    if maps:
        parts = torch.where(on_floor, torch.full_like(idx, FLOOR), torch.full_like(idx, BACKGROUND))
        parts = torch.where(body, idx, parts)
        depth_map = torch.where(body, depth, s_f)
    if region is not None:  # outside the valid region: black (separable mask)
        cols = (u.float()[None] < region[:, 0, None]) | (u.float()[None] > region[:, 2, None])  # (n, W)
        rows = (v.float()[None] < region[:, 1, None]) | (v.float()[None] > region[:, 3, None])  # (n, H)
        out = (rows[:, :, None] | cols[:, None, :]).reshape(n, P)
        img = img.masked_fill(out[:, None], 0.0)
        if maps:
            parts = parts.masked_fill(out, OUTSIDE)
            depth_map = depth_map.masked_fill(out, float("inf"))
    img = img.reshape(n, 3, H, W)
    if not maps:
        return img, None, None
    return img, depth_map.reshape(n, H, W), parts.reshape(n, H, W)
