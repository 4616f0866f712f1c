"""Batching for training: collation, device transfer, resumable sampling, per-sample seeded augmentation.

Exact resumption needs the data stream after a resume to equal the uninterrupted one:

- the order of samples is a function of ``(seed, epoch)`` only (:class:`~torch.utils.data.DistributedSampler`
  with ``set_epoch``), and :class:`SkipSampler` skips the batches an epoch had already consumed;
- random augmentation inside a dataset is made a function of ``(seed, epoch, index)`` only by
  :class:`SeededDataset`, which seeds python / numpy / torch around each ``__getitem__`` and restores the caller's
  generators afterwards. The result is the same whatever the number of workers and wherever the run resumed.
"""

from __future__ import annotations

import random
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import numpy as np
import torch
from torch import Tensor
from torch.utils.data import Dataset, Sampler

from lt_core.camera import Camera
from lt_core.data.sample import collate_samples

__all__ = ["collate", "move_batch", "batch_size_of", "SkipSampler", "SeededDataset", "sample_seed"]


def collate(samples: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Batch samples of the one sample format (:func:`lt_core.data.sample.collate_samples`).

    Returns:
        ``images`` (B, C, 3, H, W), ``cameras`` Camera (B, C), ``joints_3d`` (B, J, 3) mm, ``joints_valid`` (B, J),
        ``views_valid`` (B, C), ``meta`` (list of B dicts).
    """
    if not samples:
        raise ValueError("cannot collate an empty list of samples")
    return collate_samples(samples)


def move_batch(batch: Any, device: torch.device | str, non_blocking: bool = False) -> Any:
    """Move every tensor and :class:`Camera` of a (nested) batch to ``device``; other values are kept."""
    if isinstance(batch, Tensor):
        return batch.to(device, non_blocking=non_blocking)
    if isinstance(batch, Camera):
        return batch.to(device)
    if isinstance(batch, dict):
        return {k: (v if k == "meta" else move_batch(v, device, non_blocking)) for k, v in batch.items()}
    if isinstance(batch, (list, tuple)):
        return type(batch)(move_batch(v, device, non_blocking) for v in batch)
    return batch


def batch_size_of(batch: Mapping[str, Any]) -> int:
    """Number of samples B in a collated batch."""
    return int(batch["joints_3d"].shape[0])


class SkipSampler(Sampler[int]):
    """Wrap a sampler and skip its first ``skip`` indices (resuming in the middle of an epoch).

    Args:
        sampler: the underlying sampler (e.g. a ``DistributedSampler``).
        skip: number of indices to drop from the start of the next iteration only.
    """

    def __init__(self, sampler: Sampler[int], skip: int = 0) -> None:
        self.sampler = sampler
        self.skip = int(skip)

    def set_epoch(self, epoch: int) -> None:
        if hasattr(self.sampler, "set_epoch"):
            self.sampler.set_epoch(epoch)

    def __iter__(self) -> Iterator[int]:
        skip, self.skip = self.skip, 0
        for i, idx in enumerate(self.sampler):
            if i >= skip:
                yield idx

    def __len__(self) -> int:
        return max(0, len(self.sampler) - self.skip)  # type: ignore[arg-type]


def sample_seed(seed: int, epoch: int, index: int) -> int:
    """A 63-bit seed that depends only on (seed, epoch, index)."""
    ss = np.random.SeedSequence([int(seed) & 0xFFFFFFFF, int(epoch) & 0xFFFFFFFF, int(index) & 0xFFFFFFFF])
    return int(ss.generate_state(1, dtype=np.uint64)[0]) >> 1


class SeededDataset(Dataset):
    """Make a dataset's randomness a function of ``(seed, epoch, index)``.

    Each ``__getitem__`` seeds python, numpy and torch with :func:`sample_seed`, calls the wrapped dataset and then
    restores the generators, so the caller's random streams are untouched (the model's dropout, for instance).

    Args:
        dataset: any map-style dataset.
        seed: the run's seed.
    """

    def __init__(self, dataset: Dataset, seed: int) -> None:
        self.dataset = dataset
        self.seed = int(seed)
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        """Select the epoch whose augmentation stream to draw (set before creating the DataLoader iterator)."""
        self.epoch = int(epoch)

    def __len__(self) -> int:
        return len(self.dataset)  # type: ignore[arg-type]

    def __getattr__(self, name: str) -> Any:
        if name == "dataset":
            raise AttributeError(name)
        return getattr(self.dataset, name)

    def __getitem__(self, index: int) -> Any:
        s = sample_seed(self.seed, self.epoch, index)
        py, npy = random.getstate(), np.random.get_state()
        with torch.random.fork_rng(devices=[]):
            random.seed(s)
            np.random.seed(s % 2**32)
            torch.manual_seed(s)
            try:
                return self.dataset[index]
            finally:
                random.setstate(py)
                np.random.set_state(npy)
