"""Reference solutions of notebook 01's exercises (try them yourself first).

Each answer is a plain function of torch tensors; ``SOLUTIONS`` maps the exercise ids to them, and
``lt_core.exercises.check`` verifies them like the reader's own answers.
"""

import torch


def project(X, K, R, t):
    """(N, 3) world mm -> (N, 2) pixels: X_cam = R X + t, divide by depth, apply K (no distortion)."""
    Xc = X @ R.T + t
    xy1 = torch.cat([Xc[:, :2] / Xc[:, 2:], torch.ones_like(Xc[:, :1])], 1)
    return (xy1 @ K.T)[:, :2]


def distort(xy, dist):
    """OpenCV's lens model on (N, 2) normalised coordinates; dist = (k1, k2, p1, p2, k3)."""
    k1, k2, p1, p2, k3 = dist
    x, y = xy[:, 0], xy[:, 1]
    r2 = x * x + y * y
    radial = 1 + k1 * r2 + k2 * r2**2 + k3 * r2**3
    xd = x * radial + 2 * p1 * x * y + p2 * (r2 + 2 * x * x)
    yd = y * radial + p1 * (r2 + 2 * y * y) + 2 * p2 * x * y
    return torch.stack([xd, yd], 1)


def resize_K(K, s):
    """Intrinsics after resizing the image by s: f and skew scale, centres map as c -> (c + 0.5) s - 0.5."""
    K2 = K.clone()
    K2[0, :2] = K[0, :2] * s
    K2[1, 1] = K[1, 1] * s
    K2[0, 2] = (K[0, 2] + 0.5) * s - 0.5
    K2[1, 2] = (K[1, 2] + 0.5) * s - 0.5
    return K2


def crop_and_resize_K(K, box, out_size):
    """Crop at box = (left, top, right, bottom), then resize the crop to out_size = (W, H)."""
    left, top, right, bottom = box
    W, H = out_size
    K2 = K.clone()
    K2[0, 2] = K[0, 2] - left
    K2[1, 2] = K[1, 2] - top
    sx, sy = W / (right - left), H / (bottom - top)
    K2[0, :2] = K2[0, :2] * sx
    K2[1, 1] = K2[1, 1] * sy
    K2[0, 2] = (K2[0, 2] + 0.5) * sx - 0.5
    K2[1, 2] = (K2[1, 2] + 0.5) * sy - 0.5
    return K2


SOLUTIONS = {"01.1": project, "01.2": distort, "01.3": resize_K, "01.4": crop_and_resize_K}
