"""Reference solutions of notebook 03's exercises (try them yourself first)."""

import torch


def dlt_rows(uv, P):
    """The two rows u p3 - p1 and v p3 - p2 of one view (P: (3, 4), uv: (2,))."""
    return torch.stack([uv[0] * P[2] - P[0], uv[1] * P[2] - P[1]])


def triangulate_svd(uv, P, w):
    """Weighted DLT of one point: rows of view c times w_c, smallest right singular vector, dehomogenised."""
    A = torch.cat(
        [w[c] * torch.stack([uv[c, 0] * P[c, 2] - P[c, 0], uv[c, 1] * P[c, 2] - P[c, 1]]) for c in range(P.shape[0])]
    )
    Xh = torch.linalg.svd(A).Vh[-1]
    return Xh[:3] / Xh[3]


def reprojection_errors(X, uv, P):
    """(J, 3) points, (C, J, 2) detections, (C, 3, 4) cameras -> (C, J) pixel distances."""
    Xh = torch.cat([X, torch.ones_like(X[:, :1])], 1)  # (J, 4)
    x = torch.einsum("cij,nj->cni", P, Xh)  # (C, J, 3)
    return (x[..., :2] / x[..., 2:] - uv).norm(dim=-1)


def inliers(X, uv, P, threshold):
    """Views whose detection lies within `threshold` px of the reprojection of the hypothesis X (3,)."""
    x = P @ torch.cat([X, X.new_ones(1)])  # (C, 3)
    return (x[:, :2] / x[:, 2:] - uv).norm(dim=-1) < threshold


SOLUTIONS = {"03.1": dlt_rows, "03.2": triangulate_svd, "03.3": reprojection_errors, "03.4": inliers}
