"""Rendered datasets held in memory or memory-mapped from a disk cache, and cheap image augmentation.

Rendering the embedded data costs about as much per view as a training step of the small backbone, so a training
run renders its samples once (:class:`RenderedDataset`) and reads them back many times. Training images are kept as
uint8 (a quarter of float32's memory); evaluation sets can keep the rendered float32 images exactly
(``storage="float32"``), so that a model sees what it would see from the source dataset. With ``cache_dir`` the
images go to a raw file that later runs memory-map instead of rendering again (several processes share its pages),
keyed by the dataset's :meth:`config_key`, its frames and the storage type.

Augmentation at read time (:class:`Occluders`, :class:`ColorJitter`, :class:`ViewDropout`, chained by
:class:`Compose`) draws from torch's global generator, which :class:`lt_core.train.batching.SeededDataset` seeds per
``(seed, epoch, index)``: a run sees the same augmented samples whatever the resumption point or worker count.
"""

from __future__ import annotations

import hashlib
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor
from torch.utils.data import DataLoader, Dataset

from lt_core.camera import Camera

__all__ = ["RenderedDataset", "Occluders", "ColorJitter", "ViewDropout", "Compose", "CACHE_VERSION", "STORAGE"]

CACHE_VERSION = "rendered-v1"
"""Part of every cache key: bump it when what is stored changes."""

_META_KEYS = ("dataset", "subject", "action", "clip", "frame")

STORAGE = {"uint8": (np.uint8, torch.uint8), "float32": (np.float32, torch.float32)}
"""Image storage types of :class:`RenderedDataset`: name -> (numpy dtype, torch dtype)."""


class RenderedDataset(Dataset):
    """A dataset in the sample format rendered once, images stored as uint8 (training) or float32 (exact).

    Args:
        dataset: the source dataset (e.g. :class:`lt_core.data.synthetic.SyntheticMultiViewDataset`); every
            sample must have the same number of views and image size.
        workers: DataLoader workers that render (each renders with one thread).
        cache_dir: folder of the disk cache (``None``: memory only). Used when the dataset has ``config_key()``.
        transform: optional ``sample -> sample`` applied at every read (augmentation).
        desc: progress label.
        storage: ``"uint8"`` (images rounded to 1/255: a quarter of the memory) or ``"float32"`` (the rendered
            images exactly; a model's predictions are then those on the source dataset).

    Attributes:
        images: (N, C, 3, H, W) uint8 or float32 tensor (memory-mapped when cached).
        cache_path: the raw image file, or ``None``.
        loaded_from_cache: whether the images were read instead of rendered.
    """

    def __init__(
        self,
        dataset: Dataset,
        workers: int = 2,
        cache_dir: str | Path | None = None,
        transform: Callable[[dict[str, Any]], dict[str, Any]] | None = None,
        desc: str = "render",
        storage: str = "uint8",
    ) -> None:
        if storage not in STORAGE:
            raise ValueError(f"RenderedDataset: storage must be one of {sorted(STORAGE)}, got {storage!r}")
        self.source = dataset
        self.transform = transform
        self.storage = storage
        n = len(dataset)  # type: ignore[arg-type]
        if n == 0:
            raise ValueError("RenderedDataset: the source dataset is empty")
        self.cache_path: Path | None = None
        key = cache_key(dataset, storage)
        if cache_dir is not None and key is not None:
            self.cache_path = Path(cache_dir) / f"{key}.{'u8' if storage == 'uint8' else 'f32'}"
        meta_path = self.cache_path.with_suffix(".pt") if self.cache_path is not None else None
        self.loaded_from_cache = bool(meta_path is not None and meta_path.is_file() and self.cache_path.is_file())
        if self.loaded_from_cache:
            info = torch.load(meta_path, weights_only=False)
            self._set_labels(info)
            mm = np.memmap(self.cache_path, dtype=STORAGE[storage][0], mode="c", shape=tuple(info["shape"]))
            self.images = torch.from_numpy(mm)
            return
        self._render(dataset, n, workers, desc, meta_path)

    def _render(self, dataset: Dataset, n: int, workers: int, desc: str, meta_path: Path | None) -> None:
        from tqdm.auto import tqdm

        loader = DataLoader(dataset, batch_size=None, num_workers=workers)
        np_dtype, torch_dtype = STORAGE[self.storage]
        store, mm = None, None
        labels: dict[str, list[Any]] = {
            k: []
            for k in ("K", "R", "t", "dist", "image_size", "names", "joints_3d", "joints_valid", "views_valid", "meta")
        }
        conventions: set[tuple[str, str]] = set()
        for i, s in enumerate(tqdm(loader, total=n, desc=desc, disable=not sys.stderr.isatty())):
            img = s["images"]
            if self.storage == "uint8":
                img = (img.clamp(0, 1) * 255).round().to(torch.uint8)
            if store is None:
                shape = (n, *img.shape)
                if self.cache_path is not None:
                    self.cache_path.parent.mkdir(parents=True, exist_ok=True)
                    mm = np.memmap(self.cache_path, dtype=np_dtype, mode="w+", shape=shape)
                    store = torch.from_numpy(mm)
                else:
                    store = torch.empty(shape, dtype=torch_dtype)
            if img.shape != store.shape[1:]:
                raise ValueError(
                    f"RenderedDataset: sample {i} has images {tuple(img.shape)}, the first had "
                    f"{tuple(store.shape[1:])}; every sample needs the same views and size"
                )
            store[i] = img
            cam: Camera = s["cameras"]
            conventions.add((cam.convention, cam.distortion_model))
            # clones: a tensor from a worker holds a shared-memory file descriptor until it is freed
            for k in ("K", "R", "t", "dist", "image_size"):
                labels[k].append(getattr(cam, k).float().clone())
            labels["names"].append(list(cam.names) if cam.names else None)
            for k in ("joints_3d", "joints_valid", "views_valid"):
                labels[k].append(s[k].clone())
            labels["meta"].append({k: s["meta"][k] for k in _META_KEYS if k in s["meta"]})
        if len(conventions) != 1:
            raise ValueError(f"RenderedDataset: the samples mix pixel conventions / lens models {sorted(conventions)}")
        convention, lens = conventions.pop()
        info = {
            "shape": list(store.shape),
            "convention": convention,
            "distortion_model": lens,
            "names": labels["names"],
            "meta": labels["meta"],
            **{
                k: torch.stack(labels[k])
                for k in ("K", "R", "t", "dist", "image_size", "joints_3d", "joints_valid", "views_valid")
            },
        }
        self._set_labels(info)
        if mm is not None:
            mm.flush()
        if meta_path is not None:  # written last: its presence marks a complete cache
            tmp = meta_path.with_suffix(".tmp")
            torch.save(info, tmp)
            tmp.replace(meta_path)
        self.images = store

    def _set_labels(self, info: dict[str, Any]) -> None:
        self.K, self.R, self.t, self.dist = info["K"], info["R"], info["t"], info["dist"]
        self.image_size = info["image_size"]
        self.names, self.meta = info["names"], info["meta"]
        self.convention, self.distortion_model = info["convention"], info["distortion_model"]
        self.joints_3d, self.joints_valid, self.views_valid = (
            info["joints_3d"],
            info["joints_valid"],
            info["views_valid"],
        )

    def __len__(self) -> int:
        return int(self.images.shape[0])

    def __getattr__(self, name: str) -> Any:  # clips, rig_name, ... of the source dataset
        if name == "source":
            raise AttributeError(name)
        return getattr(self.source, name)

    def sample(self, index: int) -> dict[str, Any]:
        """Sample ``index`` without augmentation: ``images`` (C, 3, H, W) float32 (a copy: transforms may write
        into it), ``cameras`` (C,), ``joints_3d`` (J, 3) mm, ``joints_valid`` (J,), ``views_valid`` (C,), ``meta``."""
        cam = Camera(
            self.K[index],
            self.R[index],
            self.t[index],
            self.dist[index],
            self.image_size[index],
            self.names[index],
            self.convention,
            self.distortion_model,
        )
        return {
            "images": self.images[index].float() / 255.0 if self.storage == "uint8" else self.images[index].clone(),
            "cameras": cam,
            "joints_3d": self.joints_3d[index],
            "joints_valid": self.joints_valid[index],
            "views_valid": self.views_valid[index].clone(),
            "meta": dict(self.meta[index]),
        }

    def __getitem__(self, index: int) -> dict[str, Any]:
        if not 0 <= index < len(self):
            raise IndexError(f"index {index} out of range for {len(self)} samples")
        s = self.sample(index)
        return self.transform(s) if self.transform is not None else s


def cache_key(dataset: Any, storage: str = "uint8") -> str | None:
    """Key of a dataset's renders: its ``config_key()``, the frames it holds and the storage type (``None`` without
    a key). uint8 keys are those of the caches written before float32 storage existed."""
    if not hasattr(dataset, "config_key"):
        return None
    index = getattr(dataset, "index", None)
    parts: tuple[Any, ...] = (CACHE_VERSION, dataset.config_key(), index)
    if storage != "uint8":
        parts = (*parts, storage)
    return hashlib.sha1(repr(parts).encode()).hexdigest()[:16]


# ------------------------------------------------------------------------------------------------ augmentation
class Compose:
    """Apply transforms in order."""

    def __init__(self, transforms: Sequence[Callable[[dict[str, Any]], dict[str, Any]]]) -> None:
        self.transforms = list(transforms)

    def __call__(self, sample: dict[str, Any]) -> dict[str, Any]:
        for t in self.transforms:
            sample = t(sample)
        return sample

    def __repr__(self) -> str:
        return f"Compose({self.transforms})"


class Occluders:
    """Paste random rectangles over the views: flat or noisy colour, or a patch copied from elsewhere in the image.

    Args:
        prob: probability that a view gets occluders.
        max_count: 1 to ``max_count`` rectangles per occluded view.
        size: (min, max) side as a fraction of the image side.
    """

    def __init__(self, prob: float = 0.3, max_count: int = 2, size: tuple[float, float] = (0.1, 0.35)) -> None:
        if not 0 <= prob <= 1 or max_count < 1 or not 0 < size[0] <= size[1] <= 1:
            raise ValueError(
                f"Occluders: need 0 <= prob <= 1, max_count >= 1, 0 < size[0] <= size[1] <= 1; got "
                f"{prob}, {max_count}, {size}"
            )
        self.prob, self.max_count, self.size = float(prob), int(max_count), tuple(size)

    def __call__(self, sample: dict[str, Any]) -> dict[str, Any]:
        images = sample["images"]  # (C, 3, H, W)
        C, _, H, W = images.shape
        for c in range(C):
            if float(torch.rand(())) >= self.prob:
                continue
            for _ in range(int(torch.randint(1, self.max_count + 1, ()))):
                lo, hi = self.size
                h = max(1, int(H * (lo + (hi - lo) * float(torch.rand(())))))
                w = max(1, int(W * (lo + (hi - lo) * float(torch.rand(())))))
                y, x = int(torch.randint(0, H - h + 1, ())), int(torch.randint(0, W - w + 1, ()))
                kind = float(torch.rand(()))
                if kind < 0.4:  # flat colour
                    patch = torch.rand(3, 1, 1).expand(3, h, w)
                elif kind < 0.7:  # coloured noise
                    patch = (torch.rand(3, 1, 1) + 0.25 * torch.randn(3, h, w)).clamp(0, 1)
                else:  # texture from elsewhere in the same view
                    ys, xs = int(torch.randint(0, H - h + 1, ())), int(torch.randint(0, W - w + 1, ()))
                    patch = images[c, :, ys : ys + h, xs : xs + w].clone()
                images[c, :, y : y + h, x : x + w] = patch
        return sample

    def __repr__(self) -> str:
        return f"Occluders(prob={self.prob}, max_count={self.max_count}, size={self.size})"


class ColorJitter:
    """Per-view brightness, contrast and per-channel gain: ``x -> clamp(g * (m + c (x - m)) * b)``.

    Args:
        brightness: ``b`` uniform in ``[1 - brightness, 1 + brightness]``.
        contrast: ``c`` uniform in ``[1 - contrast, 1 + contrast]`` (``m`` the view's mean).
        channel: per-channel gain ``g`` uniform in ``[1 - channel, 1 + channel]``.
    """

    def __init__(self, brightness: float = 0.2, contrast: float = 0.2, channel: float = 0.1) -> None:
        self.brightness, self.contrast, self.channel = float(brightness), float(contrast), float(channel)

    def __call__(self, sample: dict[str, Any]) -> dict[str, Any]:
        x = sample["images"]
        C = x.shape[0]
        u = lambda *s: 2 * torch.rand(*s) - 1  # noqa: E731
        b = 1 + self.brightness * u(C, 1, 1, 1)
        c = 1 + self.contrast * u(C, 1, 1, 1)
        g = 1 + self.channel * u(C, 3, 1, 1)
        m = x.mean((1, 2, 3), keepdim=True)
        sample["images"] = ((m + c * (x - m)) * b * g).clamp(0, 1)
        return sample

    def __repr__(self) -> str:
        return f"ColorJitter(brightness={self.brightness}, contrast={self.contrast}, channel={self.channel})"


class ViewDropout:
    """With probability ``prob``, keep only a random subset of 1 to C - 1 of a sample's valid views
    (``views_valid`` set to False for the others), so that a volumetric model learns to answer from fewer views.

    Args:
        prob: probability of dropping views in a sample.
        min_views: the fewest views kept (1 for the volumetric model; the algebraic one needs 2).
    """

    def __init__(self, prob: float = 0.3, min_views: int = 1) -> None:
        if not 0 <= prob <= 1 or min_views < 1:
            raise ValueError(f"ViewDropout: need 0 <= prob <= 1 and min_views >= 1, got {prob}, {min_views}")
        self.prob, self.min_views = float(prob), int(min_views)

    def __call__(self, sample: dict[str, Any]) -> dict[str, Any]:
        valid: Tensor = sample["views_valid"]
        idx = torch.nonzero(valid).flatten()
        if len(idx) <= self.min_views or float(torch.rand(())) >= self.prob:
            return sample
        k = int(torch.randint(self.min_views, len(idx), ()))
        keep = idx[torch.randperm(len(idx))[:k]]
        out = torch.zeros_like(valid)
        out[keep] = True
        sample["views_valid"] = out
        return sample

    def __repr__(self) -> str:
        return f"ViewDropout(prob={self.prob}, min_views={self.min_views})"
