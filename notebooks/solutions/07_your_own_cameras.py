"""Reference solutions of notebook 07's exercises (try them yourself first).

Each answer is a plain function of torch tensors (and, for 07.2 and 07.3, an ``lt_core.camera.Camera`` rig);
``SOLUTIONS`` maps the exercise ids to them, and ``lt_core.exercises.check`` verifies them like the reader's own
answers.
"""

from itertools import combinations

import torch


def fundamental(K_a, R_a, t_a, K_b, R_b, t_b):
    """F = K_b^-T [t]_x R K_a^-1 with the relative pose R = R_b R_a^T, t = t_b - R t_a (X_cam = R X + t)."""
    R = R_b @ R_a.T
    t = t_b - R @ t_a
    zero = torch.zeros((), dtype=t.dtype)
    tx = torch.stack(
        [torch.stack([zero, -t[2], t[1]]), torch.stack([t[2], zero, -t[0]]), torch.stack([-t[1], t[0], zero])]
    )
    return torch.linalg.inv(K_b).T @ tx @ R @ torch.linalg.inv(K_a)


def triangulate_joint(uv, conf, cameras):
    """(C, 2) distorted pixels, (C,) confidences, a (C,) Camera rig -> (3,) mm.

    Missing detections (NaN, confidence 0) are replaced by zeros before undistorting; their rows get weight 0.
    """
    uv = torch.where(conf[:, None] > 0, uv, torch.zeros_like(uv))
    und = cameras.undistort_points(uv[:, None])[:, 0]  # (C, 2) ideal pinhole pixels
    P = cameras.projection  # (C, 3, 4)
    rows = torch.cat(
        [conf[:, None] * (und[:, :1] * P[:, 2] - P[:, 0]), conf[:, None] * (und[:, 1:] * P[:, 2] - P[:, 1])]
    )  # (2C, 4)
    Xh = torch.linalg.svd(rows).Vh[-1]
    return Xh[:3] / Xh[3]


def reprojection_px(X, uv, cameras):
    """(J, 3) mm, (C, J, 2) distorted detections (NaN: missing), a (C,) rig -> (C, J) px, NaN where missing."""
    C = uv.shape[0]
    projected = cameras.project(X[None].expand(C, *X.shape))  # (C, J, 2), lens distortion included
    return (projected - uv).norm(dim=-1)


def consistent_views(uv, P, threshold):
    """The largest subset of views (>= 2) whose DLT reprojects every one of them within ``threshold`` px (ties: the
    smallest mean error); (C, 2) undistorted pixels, (C, 3, 4) projections -> (C,) bool."""
    C = uv.shape[0]
    for k in range(C, 1, -1):
        best, best_err = None, float("inf")
        for subset in combinations(range(C), k):
            s = list(subset)
            A = torch.cat([uv[s, :1] * P[s, 2] - P[s, 0], uv[s, 1:] * P[s, 2] - P[s, 1]])
            Xh = torch.linalg.svd(A).Vh[-1]
            x = P[s] @ Xh
            err = (x[:, :2] / x[:, 2:] - uv[s]).norm(dim=-1)
            if bool((err < threshold).all()) and float(err.mean()) < best_err:
                best, best_err = s, float(err.mean())
        if best is not None:
            mask = torch.zeros(C, dtype=torch.bool)
            mask[best] = True
            return mask
    return torch.zeros(C, dtype=torch.bool)


SOLUTIONS = {"07.1": fundamental, "07.2": triangulate_joint, "07.3": reprojection_px, "07.4": consistent_views}
