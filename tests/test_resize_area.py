"""OpenCV's INTER_AREA resize in torch (lt_core.data.resize_area) against OpenCV's own output
(tests/fixtures/official/resize_area_opencv.npz: random 3-channel images, shrinking, enlarging, 2x, thumbnails)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from lt_core.data.resize_area import area_weights, resize_area

REF = Path(__file__).parent / "fixtures" / "official" / "resize_area_opencv.npz"


def test_resize_area_matches_opencv():
    z = np.load(REF, allow_pickle=False)
    off = total = 0
    for i, (_src, dst) in enumerate(z["cases"].tolist()):
        img = torch.from_numpy(z[f"in{i}"]).permute(2, 0, 1)
        out = resize_area(img, (dst + 2, dst)).permute(1, 2, 0).numpy().astype(int)
        d = np.abs(out - z[f"out{i}"].astype(int))
        off, total = off + int((d > 0).sum()), total + d.size
        if f"fin{i}" in z:
            f = resize_area(torch.from_numpy(z[f"fin{i}"]).permute(2, 0, 1), (dst + 2, dst))
            assert np.abs(f.permute(1, 2, 0).numpy() - z[f"fout{i}"]).max() < 1e-6
    assert off == 0, f"{off} of {total} pixels differ from OpenCV"  # bit for bit


def test_area_weights_conserve_mass_and_check_sizes():
    for src, dst in ((400, 384), (300, 384), (384, 16), (768, 384)):
        W, _ = area_weights(src, dst)
        assert torch.allclose(W.sum(1), torch.ones(dst, dtype=torch.float64), atol=1e-6)
    const = torch.full((3, 50, 70), 77, dtype=torch.uint8)
    for size in ((64, 40), (33, 33), (140, 100)):
        assert (resize_area(const, size) == 77).all()
    with pytest.raises(ValueError, match="positive"):
        area_weights(10, 0)
    with pytest.raises(ValueError, match=r"\(C, H, W\)"):
        resize_area(const[0], (10, 10))
