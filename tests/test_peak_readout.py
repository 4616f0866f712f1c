"""``scripts/peak_readout.py``: one 2D backbone, several ways of reading its heatmaps, on held-out samples."""

from __future__ import annotations

import sys
from pathlib import Path

import pandas as pd
import pytest

REPO = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.usefixtures("one_thread")


def test_peak_readout_compares_read_outs_of_the_committed_backbone(tmp_path):
    sys.path.insert(0, str(REPO / "scripts"))
    try:
        import peak_readout
    finally:
        sys.path.remove(str(REPO / "scripts"))
    out = tmp_path / "readout"
    assert peak_readout.main(["--frames", "1", "--out", str(out)]) == 0
    df = pd.read_csv(out.with_suffix(".csv")).set_index("2D read-out, then triangulation")
    assert len(df) == 3 + len(peak_readout.BETAS) and df.columns[-1] == "pooled"
    assert {"131_03", "05_06", "martial_07"} <= set(df.columns)
    pooled = df["pooled"]
    # integer maxima quantise every 2D point to a 4 px grid: the sub-pixel peak of the same heatmaps is better
    assert (
        pooled["hard argmax, sub-pixel peak, DLT of all views"]
        < pooled["hard argmax, integer pixels, DLT of all views"]
    )
    # at beta 100 the soft-argmax of these heatmaps is close to the integer argmax; beta 20 is sub-pixel
    assert pooled["soft-argmax, beta 20, DLT of all views"] < pooled["soft-argmax, beta 100, DLT of all views"]
    assert "6 held-out samples" in out.with_suffix(".md").read_text()
    with pytest.raises(SystemExit, match="no such checkpoint"):
        peak_readout.main(["--checkpoint", str(tmp_path / "missing.pt")])
