"""How the 2D point is read from a heatmap decides the triangulation error: one backbone, several read-outs.

Usage::

    python scripts/peak_readout.py                       # the committed 2D backbone, Human3.6M-like rig
    python scripts/peak_readout.py --rig dome --checkpoint data/checkpoints/embedded_dome_ransac.pt

The backbone of the RANSAC checkpoint (the 2D stage of ``scripts/train_embedded.py``, trained towards unit Gaussian
heatmaps) is run on the held-out samples notebook 06 evaluates, and its heatmaps are turned into 3D joints by:

* the hard argmax at integer heatmap pixels (as the paper's released RANSAC baseline), then an unweighted DLT of
  all views;
* the hard argmax with a parabolic sub-pixel peak, then an unweighted DLT of all views, with and without RANSAC
  (15 px at 384 px, scaled to the crop; refined by Gauss-Newton: the project's RANSAC baseline);
* the soft-argmax (Eq. (1)-(2) of the paper) at several inverse temperatures ``beta``, then an unweighted DLT: the
  read-out of the algebraic model before any 3D training.

Nothing is trained. Writes ``results/tables/peak_readout.md`` and ``.csv`` (relative MPJPE in mm per held-out clip
and pooled), with the code version.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import pandas as pd  # noqa: E402
import torch  # noqa: E402

from lt_core.paths import code_version_text  # noqa: E402
from lt_core.tables import markdown_table  # noqa: E402
from lt_core.train.checkpoint import load_checkpoint  # noqa: E402
from lt_core.train.evaluate import per_clip_table, predict  # noqa: E402
from lt_core.train.methods import embedded_eval_dataset, load_method_model, model_on_backbone  # noqa: E402
from lt_core.train.rendered import RenderedDataset  # noqa: E402

BETAS = (100.0, 50.0, 30.0, 20.0, 10.0)
"""Inverse temperatures of the soft-argmax rows (the paper's 100 first)."""

RIG_WORDS = {"human36m": "Human3.6M-like rig", "dome": "Panoptic-like dome, 4 evenly spread cameras"}

FRAMES = {"human36m": 125, "dome": 60}
"""Held-out frames per clip by rig: notebook 06's and ``scripts/train_embedded.py``'s."""


def ransac_variant(path: Path, **attrs: Any) -> torch.nn.Module:
    """The checkpoint's RANSAC model with some attributes changed (``subpixel``, ``refine``, ``threshold``)."""
    model = load_method_model(path, "ransac")
    for key, value in attrs.items():
        if not hasattr(model, key):
            raise AttributeError(f"RANSACTriangulationNet has no attribute {key!r}")
        setattr(model, key, value)
    return model


def soft_argmax_model(path: Path, beta: float) -> torch.nn.Module:
    """An unweighted algebraic model (soft-argmax at ``beta`` + DLT) on the checkpoint's backbone, untrained."""
    return model_on_backbone(path, "algebraic", {"use_confidences": False, "beta": float(beta)})


def read_outs(path: Path) -> list[tuple[str, torch.nn.Module]]:
    """(label, model) of every read-out compared."""
    rows = [
        (
            "hard argmax, integer pixels, DLT of all views",
            ransac_variant(path, subpixel=False, threshold=1e9, refine=False),
        ),
        ("hard argmax, sub-pixel peak, DLT of all views", ransac_variant(path, threshold=1e9, refine=False)),
        ("hard argmax, sub-pixel peak, RANSAC (the baseline)", ransac_variant(path)),
    ]
    rows += [(f"soft-argmax, beta {b:g}, DLT of all views", soft_argmax_model(path, b)) for b in BETAS]
    return rows


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rig", choices=sorted(FRAMES), default="human36m")
    ap.add_argument("--checkpoint", default=str(ROOT / "data" / "checkpoints" / "embedded_ransac.pt"))
    ap.add_argument("--frames", type=int, default=None, help="held-out frames per clip (default: notebook 06's)")
    ap.add_argument("--out", default=str(ROOT / "results" / "tables" / "peak_readout"), help="output path, no suffix")
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    path = Path(args.checkpoint)
    if not path.is_file():
        raise SystemExit(f"{path}: no such checkpoint (run make train, or pass --checkpoint)")
    size = int(load_checkpoint(path, require=("config",))["config"]["image_size"][0])
    frames = args.frames or FRAMES[args.rig]
    t0 = time.time()
    source = embedded_eval_dataset(args.rig, image_size=size, views=4, frames_per_clip=frames)
    val = RenderedDataset(source, workers=0, desc="held-out", storage="float32")
    rows = []
    for label, model in read_outs(path):
        table = per_clip_table(predict(model, val, batch_size=8))
        clips = [c for c in table.index if not c.startswith(("family", "mean"))]
        rows.append({"2D read-out, then triangulation": label, **table.loc[clips, "mpjpe_rel"].round(1).to_dict()})
        print(f"  {label}: {rows[-1]['pooled']:.1f} mm", flush=True)
    df = pd.DataFrame(rows)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    df.to_csv(out.with_suffix(".csv"), index=False, float_format="%.1f")
    caption = (
        f"**Reading the 2D point from a heatmap**: the backbone of `{path.name}` (trained on 2D heatmaps only), "
        f"{len(val)} held-out samples ({frames} per clip, 4 views, {RIG_WORDS[args.rig]}), relative MPJPE in mm. "
        f"Nothing trained here. Written by `scripts/peak_readout.py` at {code_version_text()} in "
        f"{time.time() - t0:.0f} s."
    )
    out.with_suffix(".md").write_text(f"{caption}\n\n{markdown_table(df, '.1f')}\n")
    print(df.to_string(index=False))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
