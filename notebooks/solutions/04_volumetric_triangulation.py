"""Reference solutions of notebook 04's exercises (try them yourself first)."""

import torch
import torch.nn.functional as F


def cuboid(root, side, D):
    """(D, D, D, 3) voxel centres of a cube of `side` mm centred on root; index (i, j, k) runs along (x, y, z)."""
    s = side / (D - 1)
    idx = torch.arange(D, dtype=root.dtype) * s - side / 2
    i, j, k = torch.meshgrid(idx, idx, idx, indexing="ij")
    return torch.stack([i, j, k], -1) + root


def unproject_view(features, P, grid):
    """Sample (K, h, w) maps at the projections of (D, D, D, 3) voxel centres (P: (3, 4) in map pixels)."""
    K, h, w = features.shape
    X = grid.reshape(-1, 3)
    x = torch.cat([X, torch.ones_like(X[:, :1])], 1) @ P.T  # (N, 3)
    depth = x[:, 2]
    u, v = x[:, 0] / depth, x[:, 1] / depth
    inside = (depth > 0) & (u >= -0.5) & (u <= w - 0.5) & (v >= -0.5) & (v <= h - 0.5)
    g = torch.stack([(2 * u + 1) / w - 1, (2 * v + 1) / h - 1], -1)  # pixel centres, align_corners=False
    sampled = F.grid_sample(features[None], g[None, None], align_corners=False)[0, :, 0]  # (K, N)
    return (sampled * inside).reshape(K, *grid.shape[:3])


def aggregate_softmax(volumes):
    """(C, K, D, D, D) per-view volumes -> sum_c softmax_c(V_c) V_c, per voxel and channel."""
    return (torch.softmax(volumes, 0) * volumes).sum(0)


def soft_argmax_3d(scores, grid, beta):
    """(J, D, D, D) scores, (D, D, D, 3) voxel centres -> (J, 3) expected positions in mm."""
    J = scores.shape[0]
    p = torch.softmax(beta * scores.reshape(J, -1), -1)
    return p @ grid.reshape(-1, 3)


SOLUTIONS = {"04.1": cuboid, "04.2": unproject_view, "04.3": aggregate_softmax, "04.4": soft_argmax_3d}
