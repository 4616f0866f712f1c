"""Exercises of notebook 06 (the paper's tables): relative MPJPE, PA-MPJPE, the per-action table."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import torch

from lt_core.exercises import ExerciseFailed, call, close, register
from lt_core.metrics import evaluate_predictions, pa_mpjpe, relative_mpjpe


def _poses(seed: int, n: int = 12) -> tuple[torch.Tensor, torch.Tensor]:
    """(n, 17, 3) ground truth and predictions off by a rotation, a shift, a scale and noise (mm)."""
    g = torch.Generator().manual_seed(seed)
    gt = torch.randn(n, 17, 3, generator=g, dtype=torch.float64) * 300 + torch.tensor(
        [0.0, 0.0, 1000.0], dtype=torch.float64
    )
    a = 0.3
    rot = torch.tensor(
        [[np.cos(a), -np.sin(a), 0.0], [np.sin(a), np.cos(a), 0.0], [0.0, 0.0, 1.0]], dtype=torch.float64
    )
    pred = 1.05 * gt @ rot.T + torch.tensor([40.0, -25.0, 10.0], dtype=torch.float64)
    return pred + 15 * torch.randn(gt.shape, generator=g, dtype=torch.float64), gt


@register("06.1", "MPJPE relative to the pelvis", paper="Sec. 4, Table 1")
def _relative(answer: Callable[..., Any]) -> str:
    pred, gt = _poses(0)
    got = call(answer, pred.clone(), gt.clone())
    close(got, relative_mpjpe(pred, gt), "12 frames of 17 joints (pelvis = joint 6)", atol=1e-6, rtol=0, unit="mm")
    return "Subtract each pose's pelvis, then average the joint distances: lt_core.metrics.relative_mpjpe."


@register("06.2", "PA-MPJPE: Procrustes first", paper="Sec. 4: the error after rigid alignment with scale")
def _pa(answer: Callable[..., Any]) -> str:
    pred, gt = _poses(1)
    got = call(answer, pred.clone(), gt.clone())
    close(
        got, pa_mpjpe(pred, gt), "12 frames off by a rotation, shift, 5% scale and noise", atol=1e-6, rtol=0, unit="mm"
    )
    return "Your per-frame similarity alignment (rotation, scale, translation) gives lt_core.metrics.pa_mpjpe."


@register("06.3", "the per-action table", paper="Sec. 4, Table 1 (one column per action)")
def _per_action(answer: Callable[..., Any]) -> str:
    g = np.random.default_rng(2)
    actions = [
        "Directions-1",
        "Directions-2",
        "Walking 1",
        "Walking",
        "Eating-2",
        "Eating-2",
        "SittingDown 1",
        "SittingDown-2",
        "Greeting",
        "Walking 1",
    ] * 3
    errors = g.uniform(10, 80, len(actions))
    want_table = evaluate_predictions(
        np.zeros((len(actions), 17, 3)),
        np.zeros((len(actions), 17, 3)),
        [{"subject": "S9", "action": a, "frame": i} for i, a in enumerate(actions)],
    )
    groups = [k for k in want_table.per_action.index if k != "Average"]
    frame_group = [want_table.frames["action_group"][i] for i in range(len(actions))]
    want = {k: float(np.mean([e for e, f in zip(errors, frame_group) if f == k])) for k in groups}
    got = call(answer, errors.copy(), list(actions))
    if not isinstance(got, dict):
        raise ExerciseFailed(f"return a dict {{action: mean error}}, got {type(got).__name__}")
    if sorted(got) != sorted(want):
        raise ExerciseFailed(
            f"expected the actions {sorted(want)} (trial suffixes '-2', ' 1' removed), got {sorted(got)}"
        )
    for k in want:
        close(got[k], want[k], f"action {k!r}", atol=1e-9, rtol=0, unit="mm")
    return "Trials of one action are pooled (suffix removed) and averaged over their frames, as in Table 1's columns."
