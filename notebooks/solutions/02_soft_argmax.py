"""Reference solutions of notebook 02's exercises (try them yourself first)."""

import torch


def soft_argmax(heatmaps, beta):
    """(N, h, w) heatmaps -> (N, 2) expected (u, v) under softmax(beta * H), integer coordinates = pixel centres."""
    N, h, w = heatmaps.shape
    p = torch.softmax(beta * heatmaps.reshape(N, -1), -1).reshape(N, h, w)
    return torch.stack(
        [(p.sum(1) * torch.arange(w, dtype=p.dtype)).sum(-1), (p.sum(2) * torch.arange(h, dtype=p.dtype)).sum(-1)], -1
    )


def grad_u(heatmap, beta):
    """d u_hat / d H_ij = beta p_ij (j - u_hat) for one (h, w) heatmap."""
    h, w = heatmap.shape
    p = torch.softmax(beta * heatmap.reshape(-1), 0).reshape(h, w)
    cols = torch.arange(w, dtype=p.dtype)[None, :]
    u_hat = (p * cols).sum()
    return beta * p * (cols - u_hat)


def refine(minus, centre, plus):
    """Vertex of the parabola through (-1, minus), (0, centre), (1, plus): the sub-pixel offset of the peak."""
    return 0.5 * (minus - plus) / (minus - 2 * centre + plus)


def small_beta_limit(w, h):
    """As beta -> 0 the softmax is uniform: the estimate is the mean pixel coordinate."""
    return ((w - 1) / 2, (h - 1) / 2)


SOLUTIONS = {"02.1": soft_argmax, "02.2": grad_u, "02.3": refine, "02.4": small_beta_limit}
