"""torch.distributed helpers for ``torchrun``: process group from environment variables, samplers, DDP wrapping.

``torchrun --nproc_per_node=N -m lt_core.train ...`` sets ``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``, ``MASTER_ADDR``
and ``MASTER_PORT``; :func:`init_distributed` reads them and starts a process group with ``gloo`` on CPU and
``nccl`` on CUDA (one GPU per local rank). Without those variables everything runs in one process and every helper
degrades to the single-process behaviour. Only rank 0 logs and writes checkpoints.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import torch
import torch.distributed as dist
from torch import nn
from torch.utils.data import Dataset, DistributedSampler

__all__ = [
    "DistEnv",
    "resolve_device",
    "init_distributed",
    "cleanup_distributed",
    "wrap_model",
    "unwrap_model",
    "make_sampler",
    "barrier",
    "all_reduce_mean",
    "broadcast_object",
]


@dataclass(frozen=True)
class DistEnv:
    """Where this process stands.

    Attributes:
        rank: global rank (0 in a single process).
        world_size: number of processes.
        local_rank: rank on this machine (selects the GPU).
        device: the torch device this process computes on.
        backend: ``"gloo"``, ``"nccl"`` or ``None`` (no process group).
    """

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    device: torch.device = torch.device("cpu")
    backend: str | None = None

    @property
    def distributed(self) -> bool:
        """Whether a process group with more than one process is running."""
        return self.backend is not None and self.world_size > 1

    @property
    def is_main(self) -> bool:
        """Rank 0: the process that logs and writes files."""
        return self.rank == 0


def resolve_device(name: str = "auto", local_rank: int = 0) -> torch.device:
    """``"auto"`` -> ``cuda:<local_rank>`` when CUDA is available else ``cpu``; ``"cuda"`` -> ``cuda:<local_rank>``."""
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if name == "cuda":
        if not torch.cuda.is_available():
            raise RuntimeError("device 'cuda' requested but CUDA is not available; use device='cpu' or 'auto'")
        return torch.device("cuda", local_rank)
    return torch.device(name)


def init_distributed(device: str = "auto", timeout_s: float = 600.0) -> DistEnv:
    """Start the process group when launched by ``torchrun`` (``WORLD_SIZE`` > 1), else a single-process env.

    Args:
        device: ``"auto"``, ``"cpu"`` or ``"cuda"``; under DDP on CUDA each process takes GPU ``LOCAL_RANK``.
        timeout_s: collective timeout.

    Returns:
        The :class:`DistEnv` of this process.
    """
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local = int(os.environ.get("LOCAL_RANK", str(rank)))
    dev = resolve_device(device, local)
    if world <= 1:
        return DistEnv(0, 1, 0, dev, None)
    backend = "nccl" if dev.type == "cuda" else "gloo"
    if dev.type == "cuda":
        torch.cuda.set_device(dev)
    if not dist.is_initialized():
        import datetime

        dist.init_process_group(
            backend=backend, rank=rank, world_size=world, timeout=datetime.timedelta(seconds=timeout_s)
        )
    return DistEnv(rank, world, local, dev, backend)


def cleanup_distributed(barrier: bool = True) -> None:
    """Destroy the process group if one is running.

    Args:
        barrier: first wait until every rank gets here, so that all ranks tear the group down together (with gloo,
            a rank that destroys its connections while a peer is still finishing can make that peer abort). Pass
            ``False`` on an error path, where the other ranks may never arrive.
    """
    if dist.is_available() and dist.is_initialized():
        if barrier and dist.get_world_size() > 1:
            dist.barrier()
        dist.destroy_process_group()


def wrap_model(
    model: nn.Module, env: DistEnv, sync_bn: bool = False, find_unused_parameters: bool = False
) -> nn.Module:
    """Move ``model`` to ``env.device`` and wrap it in DistributedDataParallel when distributed.

    Args:
        model: the network.
        env: from :func:`init_distributed`.
        sync_bn: convert BatchNorm layers to SyncBatchNorm (batch statistics over all processes).
        find_unused_parameters: passed to DDP (needed when some parameters get no gradient in a step).

    Returns:
        The model itself (single process) or its DDP wrapper.
    """
    model = model.to(env.device)
    if not env.distributed:
        return model
    if sync_bn:
        model = nn.SyncBatchNorm.convert_sync_batchnorm(model)
    ids = [env.device.index] if env.device.type == "cuda" else None
    return nn.parallel.DistributedDataParallel(model, device_ids=ids, find_unused_parameters=find_unused_parameters)


def unwrap_model(model: nn.Module) -> nn.Module:
    """The module inside a DDP / DataParallel wrapper (or the model itself)."""
    return model.module if isinstance(model, (nn.parallel.DistributedDataParallel, nn.DataParallel)) else model


def make_sampler(
    dataset: Dataset, env: DistEnv, shuffle: bool, seed: int, drop_last: bool = False
) -> DistributedSampler:
    """A :class:`~torch.utils.data.DistributedSampler` for this rank (also used with one process, so the data
    order is a function of ``seed`` and the epoch alone: call ``set_epoch`` each epoch)."""
    return DistributedSampler(
        dataset, num_replicas=env.world_size, rank=env.rank, shuffle=shuffle, seed=seed, drop_last=drop_last
    )


def barrier(env: DistEnv) -> None:
    """Wait for every process (no-op in a single process)."""
    if env.distributed:
        dist.barrier()


def all_reduce_mean(value: float | torch.Tensor, env: DistEnv) -> float:
    """Mean of a scalar over processes (the value itself in a single process)."""
    if not env.distributed:
        return float(value)
    t = torch.as_tensor(float(value), dtype=torch.float64, device=env.device)
    dist.all_reduce(t)
    return float(t) / env.world_size


def broadcast_object(obj: Any, env: DistEnv, src: int = 0) -> Any:
    """Send a picklable object from ``src`` to every process."""
    if not env.distributed:
        return obj
    box = [obj]
    dist.broadcast_object_list(box, src=src)
    return box[0]
