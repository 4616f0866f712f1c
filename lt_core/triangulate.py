"""Triangulate your own cameras: calibration + OpenPose JSON folders -> 3D joints (TRC or NPZ).

Usage::

    python -m lt_core.triangulate --calibration calib.toml --detections pose/ --out trial.trc [--rate 60]
        [--method dlt|ransac|subset] [--min-confidence 0.3] [--threshold 15] [--frames 0:100]
        [--selection reprojection|bbox|confidence] [--allow-missing-frames] [--quiet]

Inputs: a calibration (``.toml`` Pose2Sim/anipose or ``.json`` rig file, see
:data:`lt_core.reconstruct.CALIBRATION_READERS`) and a folder with one sub-folder of OpenPose ``*.json`` files per
camera (named after the camera, ``cam_01`` / ``cam_01_json``, or carrying its number, ``cam01_json``). Detections
are undistorted with the calibration before triangulating; the confidences are the DLT weights.

Outputs, chosen by the suffix of ``--out``:

* ``.trc``: markers in metres, Y-up (OpenSim / Pose2Sim convention), TRC frame ``k`` = detection frame ``k - 1``,
  plus ``<out stem>_reprojection.csv``: per frame and joint, the views used and the mean / max reprojection error
  (pixels of the distorted image) over those views;
* ``.npz``: ``joints_mm`` (T, J, 3) Z-up world mm, ``reprojection_px`` (T, C, J), ``joint_error_px`` (T, J) mean
  over used views, ``views_used`` (T, C, J), ``confidences`` (T, C, J), ``frames``, ``joint_names``,
  ``camera_names``, ``method``.

Errors (unknown format, camera names that do not match the folders, cameras with different frame counts, ...) are
printed as one line naming the file, camera or frame, with exit status 2.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from lt_core.data.calibration import CalibrationError
from lt_core.data.pose2sim import Pose2SimFormatError, write_trc
from lt_core.ops.triangulation import TriangulationError
from lt_core.reconstruct import METHODS, ReconstructionError, load_detections, triangulate_sequence

__all__ = ["joint_errors", "write_outputs", "main"]

OUTPUT_SUFFIXES = (".trc", ".npz")


def joint_errors(error: np.ndarray, used: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(T, C, J) per-view errors and views used -> (T, J) mean and max over the used views (NaN if none)."""
    e = np.where(used & np.isfinite(error), error, np.nan)
    with np.errstate(all="ignore"):
        import warnings  # noqa: PLC0415

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            return np.nanmean(e, 1), np.nanmax(e, 1)


def write_outputs(
    out: Path,
    X: np.ndarray,
    used: np.ndarray,
    error: np.ndarray,
    confidences: np.ndarray,
    frames: Sequence[int],
    joint_names: Sequence[str],
    camera_names: Sequence[str],
    rate: float,
    method: str,
) -> list[Path]:
    """Write the TRC (+ reprojection CSV) or NPZ described in the module docstring; returns the files written."""
    mean_err, max_err = joint_errors(error, used)
    out.parent.mkdir(parents=True, exist_ok=True)
    if out.suffix.lower() == ".npz":
        np.savez_compressed(
            out,
            joints_mm=X,
            reprojection_px=error,
            joint_error_px=mean_err,
            views_used=used,
            confidences=confidences,
            frames=np.asarray(frames),
            joint_names=np.asarray(joint_names),
            camera_names=np.asarray(camera_names),
            method=np.asarray(method),
            rate=np.asarray(rate),
        )
        return [out]
    import pandas as pd  # noqa: PLC0415

    write_trc(out, X, joint_names, rate, frames=[int(f) + 1 for f in frames])
    T, J = mean_err.shape
    table = pd.DataFrame(
        {
            "frame": np.repeat(np.asarray(frames), J),
            "joint": np.tile(np.asarray(joint_names), T),
            "views": used.sum(1).reshape(-1),
            "mean_reprojection_px": mean_err.reshape(-1),
            "max_reprojection_px": max_err.reshape(-1),
        }
    )
    csv = out.with_name(out.stem + "_reprojection.csv")
    table.to_csv(csv, index=False, float_format="%.2f")
    return [out, csv]


def _frames(text: str | None) -> list[int] | None:
    if not text:
        return None
    if ":" in text:
        return list(range(*[int(p) for p in text.split(":")]))
    return [int(p) for p in text.split(",") if p.strip()]


def _summary(X: np.ndarray, used: np.ndarray, error: np.ndarray, joint_names, camera_names) -> str:
    mean_err, _ = joint_errors(error, used)
    T, J = mean_err.shape
    ok = np.isfinite(X).all(-1)
    with np.errstate(all="ignore"):
        import warnings  # noqa: PLC0415

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            per_joint = np.nanmedian(mean_err, 0)
            per_cam = [np.nanmedian(np.where(used[:, c], error[:, c], np.nan)) for c in range(len(camera_names))]
    lines = [
        f"{int(ok.sum())} of {T * J} joint positions triangulated ({T} frames x {J} joints); "
        f"median reprojection error over the views used {np.nanmedian(mean_err):.1f} px"
    ]
    lines.append(
        "median reprojection error per camera (px): " + ", ".join(f"{n} {v:.1f}" for n, v in zip(camera_names, per_cam))
    )
    lines.append(
        "median reprojection error per joint (px): "
        + ", ".join(f"{n} {v:.1f}" if np.isfinite(v) else f"{n} -" for n, v in zip(joint_names, per_joint))
    )
    never = [n for n, k in zip(joint_names, ok.sum(0)) if k == 0]
    if never:
        lines.append(f"never triangulated (fewer than 2 usable views in every frame): {never}")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point; returns the exit status (0 ok, 2 bad input)."""
    ap = argparse.ArgumentParser(prog="python -m lt_core.triangulate", description=__doc__.splitlines()[0])
    ap.add_argument("--calibration", type=Path, required=True, help="calibration file (.toml or rig .json)")
    ap.add_argument("--detections", type=Path, required=True, help="folder of per-camera OpenPose JSON folders")
    ap.add_argument("--out", type=Path, required=True, help="output file: .trc or .npz")
    ap.add_argument(
        "--method",
        default="dlt",
        choices=METHODS,
        help="dlt: confidence-weighted DLT (default); ransac: view pairs; subset: every view subset",
    )
    ap.add_argument("--min-confidence", type=float, default=0.0, help="ignore detections below this confidence")
    ap.add_argument("--threshold", type=float, default=15.0, help="inlier threshold (px) of ransac / subset")
    ap.add_argument(
        "--selection",
        default="reprojection",
        choices=["reprojection", "bbox", "confidence"],
        help="how the subject is picked among the detected people",
    )
    ap.add_argument("--frames", default=None, help="frames to use: 0,5,10 or start:stop[:step] (default: all)")
    ap.add_argument("--rate", type=float, default=None, help="frame rate written to the TRC (default 30 Hz)")
    ap.add_argument(
        "--allow-missing-frames",
        action="store_true",
        help="accept cameras that lack some frames (reported) instead of stopping",
    )
    ap.add_argument("--seed", type=int, default=0, help="RANSAC seed")
    ap.add_argument("--quiet", action="store_true", help="no progress bars")
    args = ap.parse_args(argv)
    say = (lambda *a: None) if args.quiet else (lambda *a: print(*a, file=sys.stderr, flush=True))
    try:
        if args.out.suffix.lower() not in OUTPUT_SUFFIXES:
            raise ReconstructionError(
                f"--out {args.out}: unknown output format {args.out.suffix!r}; use {' or '.join(OUTPUT_SUFFIXES)}"
            )
        rate = 30.0 if args.rate is None else args.rate
        if args.rate is None and args.out.suffix.lower() == ".trc":
            say("note: --rate not given, the TRC says 30 Hz")
        det, missing = load_detections(
            args.calibration,
            args.detections,
            _frames(args.frames),
            args.selection,
            args.allow_missing_frames,
            progress=not args.quiet,
        )
        for folder, frames in missing.items():
            say(
                f"warning: {folder} lacks {len(frames)} frames ({frames[:10]}{' ...' if len(frames) > 10 else ''}); "
                "those frames use the other views"
            )
        names = list(det.cameras.names)
        if det.image_size is not None:
            W, H = det.image_size
            pts = det.points.numpy()
            outside = (pts[..., 0] < -0.5) | (pts[..., 0] > W - 0.5) | (pts[..., 1] < -0.5) | (pts[..., 1] > H - 0.5)
            for c, n in enumerate(names):
                frac = float(outside[:, c].sum()) / max(1, int(np.isfinite(pts[:, c, :, 0]).sum()))
                if frac > 0.05:
                    say(
                        f"warning: {100 * frac:.0f}% of camera {n}'s detections lie outside its calibrated image "
                        f"{W} x {H}: do the detections come from a resized or cropped video?"
                    )
        X, used, error = triangulate_sequence(
            det, args.method, args.min_confidence, args.threshold, progress=not args.quiet, seed=args.seed
        )
        files = write_outputs(
            args.out,
            X.numpy(),
            used.numpy(),
            error.numpy(),
            det.confidences.numpy(),
            det.frames,
            list(det.joint_names),
            names,
            rate,
            args.method,
        )
    except (
        FileNotFoundError,
        CalibrationError,
        ReconstructionError,
        Pose2SimFormatError,
        TriangulationError,
        NotImplementedError,
    ) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(_summary(X.numpy(), used.numpy(), error.numpy(), det.joint_names, names))
    print("wrote " + ", ".join(str(f) for f in files))
    return 0


if __name__ == "__main__":
    sys.exit(main())
