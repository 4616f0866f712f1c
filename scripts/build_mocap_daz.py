"""Rebuild ``data/mocap_cmu_daz/joints_h36m17_30hz.{npz,json}`` from the 43 source BVH files.

Usage::

    python scripts/build_mocap_daz.py /path/to/mocap_cmu_daz            # every clip of data/mocap_cmu_daz/clips.tsv
    python scripts/build_mocap_daz.py /path/to/mocap_cmu_daz --check    # rebuild into a temporary folder and compare
    python scripts/build_mocap_daz.py /path/to/mocap_cmu_daz --clips salsa_10 indian_13 --out /tmp/daz

The source folder holds ``salsa/``, ``martial/`` and ``indian/`` as in github papagina/Auto_Conditioned_RNN_motion
``train_data_bvh`` (see ``data/mocap_cmu_daz/PROVENANCE.txt``). Each file is read unchanged, its unit detected from
the body size and checked against the table, its rest frame and blend-in dropped, retargeted to Human3.6M-17 and
resampled to 30 Hz from the capture rate the table states (:mod:`lt_core.data.mocap_daz`). The output is the same,
byte for byte, on every run.
"""

from __future__ import annotations

import argparse
import filecmp
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from lt_core.data.mocap_daz import ARCHIVE, build_archive, daz_dir, read_manifest  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("source", type=Path, help="folder with salsa/, martial/, indian/ BVH files")
    parser.add_argument("--out", type=Path, default=None, help="output folder (default: data/mocap_cmu_daz)")
    parser.add_argument("--clips", nargs="*", default=None, help="only these clip ids")
    parser.add_argument(
        "--check",
        action="store_true",
        help="build into a temporary folder and compare with the shipped files (exit 1 if they differ)",
    )
    args = parser.parse_args(argv)

    shipped = daz_dir()
    out = args.out
    tmp = None
    if args.check:
        tmp = Path(tempfile.mkdtemp(prefix="mocap_daz_"))
        shutil.copy(shipped / "clips.tsv", tmp / "clips.tsv")
        out = tmp
    elif out is not None and out.resolve() != shipped.resolve():
        out.mkdir(parents=True, exist_ok=True)
        if not (out / "clips.tsv").exists():
            shutil.copy(shipped / "clips.tsv", out / "clips.tsv")
    start = time.perf_counter()
    npz, js = build_archive(args.source, out, clips=args.clips, progress=True)
    elapsed = time.perf_counter() - start
    clips = read_manifest(js)["clips"]
    frames = sum(c["frames"] for c in clips.values())
    print(f"{len(clips)} clips, {frames} frames at 30 Hz, {npz.stat().st_size / 1e6:.2f} MB, {elapsed:.1f} s")
    if args.check:
        same = all(filecmp.cmp(p, shipped / p.name, shallow=False) for p in (npz, js))
        print(f"{'identical to' if same else 'DIFFERENT from'} the shipped {ARCHIVE} and manifest")
        shutil.rmtree(tmp)
        return 0 if same else 1
    print(f"wrote {npz} and {js}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
