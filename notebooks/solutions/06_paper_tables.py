"""Reference solutions of notebook 06's exercises (try them yourself first)."""

import re

import torch


def mpjpe_relative(pred, gt, root=6):
    """Mean joint distance after subtracting each pose's pelvis from prediction and ground truth (mm)."""
    rel = (pred - pred[:, root : root + 1]) - (gt - gt[:, root : root + 1])
    return float(rel.norm(dim=-1).mean())


def pa_mpjpe(pred, gt):
    """Align each predicted pose to its ground truth by rotation, uniform scale and translation, then MPJPE."""
    errors = []
    for p, g in zip(pred, gt):
        p0, g0 = p - p.mean(0), g - g.mean(0)
        U, S, Vh = torch.linalg.svd(g0.T @ p0)
        d = torch.sign(torch.linalg.det(U @ Vh))
        signs = torch.tensor([1.0, 1.0, float(d)], dtype=p.dtype)
        R = U @ torch.diag(signs) @ Vh
        s = (S * signs).sum() / (p0**2).sum()
        errors.append((s * p0 @ R.T + g.mean(0) - g).norm(dim=-1).mean())
    return float(torch.stack(errors).mean())


def per_action(errors, actions):
    """Mean per-frame error per action, trials pooled ('Directions-2', 'Walking 1' -> 'Directions', 'Walking')."""
    groups = {}
    for e, a in zip(errors, actions):
        groups.setdefault(re.sub(r"[-\s]\d+$", "", a), []).append(float(e))
    return {k: sum(v) / len(v) for k, v in groups.items()}


SOLUTIONS = {"06.1": mpjpe_relative, "06.2": pa_mpjpe, "06.3": per_action}
