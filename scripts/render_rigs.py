"""Draw one frame of an embedded clip from every camera of each rig, with the projected skeleton overlaid.

Writes ``results/figures/rigs_human36m.png`` (the four full frames, then the 128 x 128 person crops the dataset
renders directly) and ``results/figures/rigs_dome.png`` (all 31 dome cameras). Full frames are rendered at a
reduced resolution (the cameras resized) to keep the script fast; the overlay is the projection of the
ground-truth joints with the same cameras (bones: subject's right red, left blue; dotted = hidden joint).

Usage: ``python scripts/render_rigs.py [--clip 05_06] [--frame 120] [--out results/figures]``
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import torch  # noqa: E402

from lt_core.data.rigs import dome_rig, human36m_like_rig  # noqa: E402
from lt_core.data.synthetic import load_joints, place_joints  # noqa: E402
from lt_core.render import BodyStyle, SceneStyle, crop_region, crop_to_person, render  # noqa: E402
from lt_core.viz.mpl import axes_grid, draw_skeleton_2d, set_image_axes, show_image  # noqa: E402


def draw_rig(
    joints: torch.Tensor,
    rig,
    scale: float,
    title: str,
    path: Path,
    ncols: int,
    crops: int | None = None,
    seed: int = 7,
    dpi: int = 80,
) -> None:
    """Render ``joints`` through every camera of ``rig`` (resized by ``scale``) and save the grid to ``path``."""
    body, scene = BodyStyle.from_seed(seed), SceneStyle.from_seed(seed + 1)
    cams = rig.resize(scale)
    size = tuple(int(round(float(s))) for s in cams.image_size[0])
    out = render(joints, cams, body, scene, size, supersample=2)
    C = rig.batch_shape[0]
    rows = [(out.images[c], out.joints_2d[c], out.joints_visible[c], size, rig.names[c]) for c in range(C)]
    if crops:
        cc, boxes = crop_to_person(joints, rig, crops, body)
        region = crop_region(boxes, rig.image_size, (crops, crops))
        oc = render(joints, cc, body, scene, (crops, crops), valid_region=region)
        rows += [
            (oc.images[c], oc.joints_2d[c], oc.joints_visible[c], (crops, crops), f"{rig.names[c]} crop {crops}px")
            for c in range(C)
        ]
    aspect = size[1] / size[0]
    fig, axes = axes_grid(len(rows), ncols, panel=(3.4, 3.4 * aspect if not crops else 3.4))
    for ax, (img, uv, vis, sz, name) in zip(axes, rows):
        show_image(ax, img)
        draw_skeleton_2d(ax, uv, visible=vis, linewidth=1.2, markersize=1.5)
        set_image_axes(ax, sz)
        ax.set_title(name, fontsize=9)
    fig.suptitle(title, fontsize=11)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=dpi)
    plt.close(fig)
    print(f"wrote {path}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clip", default="05_06")
    ap.add_argument("--frame", type=int, default=120)
    ap.add_argument("--out", default=str(Path(__file__).resolve().parents[1] / "results" / "figures"))
    args = ap.parse_args()
    joints_all, _ = load_joints(args.clip, 30.0)
    joints = place_joints(torch.from_numpy(joints_all[args.frame]), math.radians(30.0), (150.0, -100.0))
    out = Path(args.out)
    draw_rig(
        joints,
        human36m_like_rig(),
        0.5,
        f"Human3.6M-like rig: clip {args.clip} frame {args.frame} (full frames at 1/2 size; 128 px crops)",
        out / "rigs_human36m.png",
        ncols=4,
        crops=128,
    )
    draw_rig(
        joints,
        dome_rig(),
        0.25,
        f"Panoptic-like dome (31 HD cameras, at 1/4 size): clip {args.clip} frame {args.frame}",
        out / "rigs_dome.png",
        ncols=7,
        dpi=56,
    )


if __name__ == "__main__":
    main()
