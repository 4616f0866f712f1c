"""Measure the shipped Daz/Poser CMU clips and draw an overview of their retargeted poses.

Writes ``results/tables/mocap_daz.md`` (frames per clip after resampling, data checks, held-out clips, bone lengths
against the ``data/mocap_cmu`` clips, shipped size and, with ``--source``, the time to read the 43 BVH files) and
``results/figures/mocap_daz_overview.png`` (for each family and the original CMU clips, the most unusual pose of
five clips -- the frame farthest from its clip's median pose -- in a front and a side view; bones of the subject's
right red, left blue; seen from the front, the subject's left is on the right of the picture).

Usage: ``python scripts/mocap_daz_report.py [--source /path/to/mocap_cmu_daz]``
"""

from __future__ import annotations

import argparse
import glob
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import matplotlib  # noqa: E402

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from lt_core.data.mocap_daz import (  # noqa: E402
    ARCHIVE,
    FAMILIES,
    clip_quality,
    daz_dir,
    list_daz_clips,
    load_daz_clip,
    read_manifest,
)
from lt_core.data.motion import forward_kinematics, read_bvh  # noqa: E402
from lt_core.data.restpose import detect_rest_frames  # noqa: E402
from lt_core.data.retarget import H36M_BONES, H36M_JOINTS, load_clip  # noqa: E402
from lt_core.data.synthetic import DAZ_EXCLUDED_CLIPS, DAZ_VAL_CLIPS, TRAIN_CLIPS, VAL_CLIPS  # noqa: E402
from lt_core.skeleton import H36M17  # noqa: E402
from lt_core.tables import markdown_table  # noqa: E402
from lt_core.viz.colors import SIDE_COLORS  # noqa: E402

BONE_NAMES = [f"{H36M_JOINTS[a]}-{H36M_JOINTS[b]}" for a, b in H36M_BONES]


def canonical(pose: np.ndarray) -> np.ndarray:
    """(17, 3) pose with the pelvis above the origin (heights kept) and the hips along +x (the subject facing -y)."""
    hips = pose[3] - pose[2]
    yaw = np.arctan2(hips[1], hips[0])
    c, s = np.cos(-yaw), np.sin(-yaw)
    out = pose - np.array([pose[6, 0], pose[6, 1], 0.0])
    return out @ np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]]).T


def unusual_frame(joints: np.ndarray) -> int:
    """Index of the frame farthest from the clip's median pose (pelvis-centred, heading-aligned)."""
    poses = np.stack([canonical(p) for p in joints.astype(np.float64)])
    poses -= poses[:, 6:7]
    return int(np.argmax(np.linalg.norm(poses - np.median(poses, axis=0), axis=-1).mean(axis=1)))


def draw(ax, pose: np.ndarray, view: str) -> None:
    """Orthographic view of a canonical pose: ``front`` (x right, z up) or ``side`` (forward = -y to the right)."""
    h = pose[:, 0] if view == "front" else -pose[:, 1]
    v = pose[:, 2]
    for (a, b), side in zip(H36M17.bones, H36M17.bone_sides()):
        ax.plot([h[a], h[b]], [v[a], v[b]], color=SIDE_COLORS[side], linewidth=2)
    ax.plot(h, v, "o", color="#222222", markersize=2)
    ax.axhline(0.0, color="#999999", linewidth=0.8)
    ax.set_xlim(-1000, 1000)
    ax.set_ylim(-100, 1900)
    ax.set_aspect("equal")
    ax.set_xticks([])
    ax.set_yticks([])


def figure(path: Path) -> None:
    rows = []
    for family in FAMILIES:
        ids = [c["id"] for c in list_daz_clips() if c["family"] == family]
        held = [c for c in DAZ_VAL_CLIPS if c in ids]
        others = [c for c in ids if c not in held and c not in DAZ_EXCLUDED_CLIPS]
        picks = held + [others[k] for k in np.linspace(0, len(others) - 1, 5 - len(held)).round().astype(int)]
        rows.append((family, [(cid, load_daz_clip(cid)[0]) for cid in picks]))
    rows.append(("CMU (mocap_cmu)", [(cid, load_clip(cid, fps=30.0)[0]) for cid in VAL_CLIPS + TRAIN_CLIPS[:3]]))
    fig, axes = plt.subplots(len(rows), 10, figsize=(20, 2.3 * len(rows)))
    for r, (family, clips) in enumerate(rows):
        for k, (cid, joints) in enumerate(clips):
            t = unusual_frame(joints)
            pose = canonical(joints[t].astype(np.float64))
            for v, view in enumerate(("front", "side")):
                ax = axes[r, 2 * k + v]
                draw(ax, pose, view)
                held = " (held out)" if cid in DAZ_VAL_CLIPS + VAL_CLIPS else ""
                ax.set_title(f"{cid} f{t}{held}\n{view}" if v == 0 else f"\n{view}", fontsize=8)
        axes[r, 0].set_ylabel(family, fontsize=11)
    fig.suptitle(
        "Retargeted Human3.6M-17 poses (mm, floor line at z = 0; front: subject's left on the right of the "
        "picture; side: facing right). Right side red, left blue.",
        fontsize=11,
    )
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=84)
    plt.close(fig)


def bone_table() -> pd.DataFrame:
    def lengths(joints: np.ndarray) -> np.ndarray:
        j = joints.astype(np.float64)
        return np.linalg.norm(j[:, [a for a, _ in H36M_BONES]] - j[:, [b for _, b in H36M_BONES]], axis=-1)

    daz = np.concatenate(
        [lengths(load_daz_clip(c["id"])[0]) for c in list_daz_clips() if c["id"] not in DAZ_EXCLUDED_CLIPS]
    )
    cmu = {cid: lengths(load_clip(cid, fps=30.0)[0]).mean(axis=0) for cid in TRAIN_CLIPS + VAL_CLIPS}
    cmu_arr = np.stack(list(cmu.values()))
    return pd.DataFrame(
        {
            "Daz clips mean (mm)": daz.mean(0),
            "Daz std over frames (mm)": daz.std(0),
            "CMU clips min (mm)": cmu_arr.min(0),
            "CMU clips max (mm)": cmu_arr.max(0),
        },
        index=pd.Index(BONE_NAMES, name="bone"),
    ).round(1)


def source_checks(files: list[str]) -> list[str]:
    """Rest frame and ease-in of the source files (the numbers quoted in lt_core/data/restpose.py and daz.py)."""
    dist, ratio, ease, settle = [], [], [], []
    for f in files:
        m = read_bvh(f)
        found = detect_rest_frames(m)
        dist.append(found.distance[0])
        ratio.append(found.jump_ratio)
        rot, trans = m.rotations.copy(), m.translations.copy()
        rot[:, 0], trans[:, 0] = np.eye(3), 0.0  # the pose without the root's own motion
        steps = np.linalg.norm(np.diff(forward_kinematics(m.parents, rot, trans)[1], axis=0), axis=-1).mean(-1)
        ease.append(steps[:5] / np.median(steps[8:]))
        settle.append(steps[8] / np.percentile(steps[8:], 99))
    ease_arr = np.stack(ease)
    return [
        f"Rest frame: found in {sum(np.isfinite(ratio))} of {len(files)} files; frame 0 is "
        f"{min(dist):.1%}-{max(dist):.1%} of the rest pose's height from it; the jump out of it is "
        f"{np.nanmin(ratio):.0f}-{np.nanmax(ratio):.0f} x the clip's median step. Ease-in: the steps out of "
        f"frames 0-4 (root motion removed) are {ease_arr.min():.1f}-{ease_arr.max():.0f} x the median step; "
        f"the step out of frame 8 is at most {max(settle):.2f} x the 99th percentile.",
        "",
    ]


def rate_checks() -> list[str]:
    """Pelvis speeds per family at the rates used, and the salsa partners' distance (from the shipped joints)."""
    rows = list_daz_clips()
    lines = []
    for family in FAMILIES:
        speeds = []
        for c in (r for r in rows if r["family"] == family):
            joints = load_daz_clip(c["id"])[0].astype(np.float64)
            speeds.append(np.median(np.linalg.norm(np.diff(joints[:, 6], axis=0), axis=-1)) * 30.0 / 1000.0)
        header = 120.0 / rows[[r["family"] for r in rows].index(family)]["fps"]
        lines.append(
            f"{family}: median pelvis speed per clip {min(speeds):.2f}-{max(speeds):.2f} m/s at the rate "
            f"used"
            + (
                f" ({min(speeds) * header:.2f}-{max(speeds) * header:.2f} m/s at the header's 120 Hz)"
                if header != 1.0
                else ""
            )
        )
    dist = []
    for c in (r for r in rows if r["partner"] and r["id"] < r["partner"]):
        a, b = load_daz_clip(c["id"])[0], load_daz_clip(c["partner"])[0]
        d = np.linalg.norm(a[:, 6, :2].astype(np.float64) - b[:, 6, :2], axis=-1) / 1000.0
        dist.append((d.min(), np.median(d), d.max()))
    dist_arr = np.array(dist)
    lines.append(
        f"Salsa partners ({len(dist)} pairs): pelvis distance {dist_arr[:, 0].min():.2f}-"
        f"{dist_arr[:, 2].max():.2f} m, median per pair {dist_arr[:, 1].min():.2f}-"
        f"{dist_arr[:, 1].max():.2f} m."
    )
    return ["## Frame rates and salsa pairs", "", *[f"- {ln}" for ln in lines], ""]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--source", type=Path, default=None, help="folder of the 43 source BVH files (for timings)")
    ap.add_argument("--out", type=Path, default=ROOT / "results")
    args = ap.parse_args()

    lines = [
        "# Daz/Poser CMU clips (`data/mocap_cmu_daz`)",
        "",
        "Written by `python scripts/mocap_daz_report.py" + (" --source <folder>`" if args.source else "`") + ".",
        "",
    ]
    if args.source is not None:
        files = sorted(glob.glob(str(args.source / "*" / "*.bvh")))
        start = time.perf_counter()
        n_frames = sum(read_bvh(f).n_frames for f in files)
        read_s = time.perf_counter() - start
        start = time.perf_counter()
        for c in list_daz_clips():
            load_clip(args.source / c["file"], fps=30.0, source_fps=c["fps"], floor_quantile=0.05)
        build_s = time.perf_counter() - start
        lines += [
            f"Reading the {len(files)} BVH files ({n_frames} frames): {read_s:.1f} s; reading, retargeting and "
            f"resampling them to 30 Hz: {build_s:.1f} s (this machine, one process).",
            "",
        ]
        lines += source_checks(files)
    npz = daz_dir() / ARCHIVE
    manifest = read_manifest()["clips"]
    size_all = sum(p.stat().st_size for p in daz_dir().iterdir())
    lines += [f"Shipped: `{ARCHIVE}` {npz.stat().st_size / 1e6:.2f} MB, the folder {size_all / 1e6:.2f} MB.", ""]

    rows = []
    for c in list_daz_clips():
        joints, _ = load_daz_clip(c["id"])
        q = clip_quality(joints)
        use = "held out" if c["id"] in DAZ_VAL_CLIPS else "not used" if c["id"] in DAZ_EXCLUDED_CLIPS else "train"
        info = manifest[c["id"]]
        rows.append(
            {
                "clip": c["id"],
                "family": c["family"],
                "source frames": info["source_frames"],
                "capture Hz": info["fps"],
                "frames at 30 Hz": info["frames"],
                "seconds": q["seconds"],
                "pose spread (mm)": q["spread_mm"],
                "jumps": q["jumps"],
                "ankle below floor": q["ankles_below_floor"],
                "head upside down": q["head_upside_down"],
                "set": use,
            }
        )
    table = pd.DataFrame(rows)
    per_family = table.groupby("family", sort=False).agg(
        clips=("clip", "size"), frames=("frames at 30 Hz", "sum"), seconds=("seconds", "sum")
    )
    lines += [
        "## Frames at 30 Hz per family",
        "",
        markdown_table(per_family, ".1f", index=True),
        "",
        f"All: {int(table['frames at 30 Hz'].sum())} frames ({table['seconds'].sum() / 60:.1f} min).",
        "",
        *rate_checks(),
        "## Per clip",
        "",
        markdown_table(table, ".1f"),
        "",
        "## Bone lengths",
        "",
        "Daz: every frame of the clips in use (one figure, retargeted by the source); "
        "CMU: the range over the 7 clips of `data/mocap_cmu` of each clip's mean.",
        "",
        markdown_table(bone_table(), ".1f", index=True),
        "",
    ]
    out_table = args.out / "tables" / "mocap_daz.md"
    out_table.parent.mkdir(parents=True, exist_ok=True)
    out_table.write_text("\n".join(lines))
    figure(args.out / "figures" / "mocap_daz_overview.png")
    print(f"wrote {out_table} and {args.out / 'figures' / 'mocap_daz_overview.png'}")


if __name__ == "__main__":
    main()
