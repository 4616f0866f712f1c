"""Training, evaluation and distributed helpers for the triangulation models.

Public API:

- :class:`TrainConfig`, :func:`load_config` (``config``): one JSON-serialisable configuration.
- :class:`Trainer`, :func:`train` (``loop``): Adam with per-group learning rates, AMP on CUDA, gradient clipping,
  CSV/TensorBoard logs, per-epoch validation, atomic exactly-resumable checkpoints, ``manifest.json``.
- :func:`predict`, :func:`evaluate_model`, :class:`Predictions`, :func:`load_trained_model` (``evaluate``).
- ``distributed``: torchrun / DDP helpers; ``checkpoint``: atomic saves and RNG states; ``resume``: what a
  trainer checkpoint holds and the checks before a run continues from it.

Command line: ``python -m lt_core.train --config cfg.json [--set key=value ...]``, or with DDP
``torchrun --nproc_per_node=2 -m lt_core.train --config cfg.json``.
"""

from lt_core.train.checkpoint import atomic_save, load_checkpoint, rng_state, seed_everything, set_rng_state
from lt_core.train.config import PAPER_LR, TrainConfig, load_config
from lt_core.train.distributed import DistEnv, init_distributed
from lt_core.train.evaluate import Predictions, evaluate_model, load_trained_model, predict
from lt_core.train.loop import Trainer, train
from lt_core.train.records import code_version, read_manifest

__all__ = [
    "PAPER_LR",
    "TrainConfig",
    "load_config",
    "Trainer",
    "train",
    "Predictions",
    "predict",
    "evaluate_model",
    "load_trained_model",
    "DistEnv",
    "init_distributed",
    "atomic_save",
    "load_checkpoint",
    "rng_state",
    "set_rng_state",
    "seed_everything",
    "code_version",
    "read_manifest",
]
