"""Writers of small Human3.6M files in the exact formats people hold (3d-pose-baseline ``.h5``, VideoPose3D
``.npz``), with the real cameras: what the readers must accept unchanged.

The 3D poses are a standing figure that walks and sways (mm, Z up, all 32 Human3.6M joints); 2D detections are
its projections through the cameras with Human3.6M's lens model, written in each detector's own joint layout.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from lt_core.camera import Camera
from lt_core.data.h36m_sequences import H36M32_TO_17, LAYOUT_TO_H36M17
from lt_core.data.videopose3d import videopose3d_cameras

# Human3.6M camera 54138969 of S1 as the dataset's metadata gives it (R world to camera, T the centre in mm,
# f, c in px, k radial, p tangential in cameras.h5 order)
H36M_S1_CAM1 = {
    "R": [
        [-0.9153617321513369, 0.40180836633680234, 0.02574754463350265],
        [0.051548117060134555, 0.1803735689384521, -0.9822464900705729],
        [-0.399319034032262, -0.8977836111057917, -0.185819527201491],
    ],
    "T": [1841.10702774543, 4955.28462344526, 1563.4453958977],
    "f": [1145.04940458804, 1143.78109572365],
    "c": [512.541504956548, 515.4514869776],
    "k": [-0.207098910824901, 0.247775183068982, -0.00307515035078854],
    "p": [-0.00142447157470321, -0.000975698859470499],
}

# our 17 joints of a standing person, mm (RAnkle ... Neck/Nose), pelvis at 920 mm
STANDING_17 = np.array(
    [
        [-110, 20, 80],
        [-100, 10, 470],
        [-100, 0, 920],
        [100, 0, 920],
        [100, 10, 470],
        [110, 20, 80],
        [0, 0, 920],
        [0, -10, 1150],
        [0, -10, 1400],
        [0, 0, 1700],
        [-230, 60, 930],
        [-210, 40, 1170],
        [-180, 0, 1420],
        [180, 0, 1420],
        [210, 40, 1170],
        [230, 60, 930],
        [0, 30, 1580],
    ],
    dtype=float,
)

# VideoPose3D's 17 joints (its order) as indices into Human3.6M's 32
VP3D_17_FROM_32 = (0, 1, 2, 3, 6, 7, 8, 12, 13, 14, 15, 17, 18, 19, 25, 26, 27)


def poses_32(n_frames: int, seed: int) -> np.ndarray:
    """(T, 32, 3) world mm: the standing figure translated along a path, with joint jitter; the 15 joints our
    17 do not use are placed near the pelvis (they are dropped by every reader)."""
    rng = np.random.default_rng(seed)
    t = np.arange(n_frames)[:, None]
    shift = np.concatenate([300 * np.sin(0.07 * t + seed), 200 * np.cos(0.05 * t), 0 * t], 1)  # (T, 3)
    j17 = STANDING_17[None] + shift[:, None] + rng.normal(0, 15, (n_frames, 17, 3))
    out = j17[:, 6:7].repeat(32, 1) + rng.normal(0, 30, (n_frames, 32, 3))
    out[:, list(H36M32_TO_17)] = j17
    return out


def project(cameras: Camera, joints: np.ndarray) -> np.ndarray:
    """(T, J, 3) mm -> (C, T, J, 2) distorted pixels."""
    uv = cameras.project(torch.as_tensor(joints)[:, None])  # (T, C, J, 2)
    return uv.transpose(0, 1).numpy()


def write_cameras_h5(path: Path, rigs: dict[str, Camera]) -> Path:
    """``cameras.h5`` in 3d-pose-baseline's layout: subject<s>/camera<c>/{R (stored transposed), T (centre, 3x1),
    f, c (2x1), k (3x1), p (2x1), Name (8x1 character codes)}."""
    import h5py

    with h5py.File(path, "w") as hf:
        for subject, rig in rigs.items():
            for c in range(rig.batch_shape[0]):
                g = hf.create_group(f"subject{subject[1:]}/camera{c + 1}")
                cam = rig[c]
                K, d = cam.K.numpy(), cam.dist.numpy()
                g["R"] = cam.R.numpy().T  # MATLAB column order
                g["T"] = cam.center.numpy().reshape(3, 1)
                g["f"] = np.array([[K[0, 0]], [K[1, 1]]])
                g["c"] = np.array([[K[0, 2]], [K[1, 2]]])
                g["k"] = np.array([[d[0]], [d[1]], [d[4]]])
                g["p"] = np.array([[d[2]], [d[3]]])
                g["Name"] = np.array([[ord(ch)] for ch in rig.names[c]], dtype=np.uint16)
    return path


def write_baseline(
    root: Path,
    layout: dict[str, dict[str, int]],
    noise_px: float = 0.0,
    seed: int = 0,
    sh_frames: dict[tuple[str, str, int], int] | None = None,
    skip: set[tuple[str, str, int]] = frozenset(),
) -> dict:
    """3d-pose-baseline's ``h36m/`` folder: ``cameras.h5``, ``S*/MyPoses/3D_positions/<action>.h5`` and
    ``S*/StackedHourglass/<action with _>.<camera>.h5``.

    Args:
        root: output folder.
        layout: ``{subject: {action: n_frames}}``.
        noise_px: Gaussian noise added to the detections.
        sh_frames: ``{(subject, action, camera index): n}`` detections of another length than the 3D poses.
        skip: ``(subject, action, camera index)`` without a detection file.

    Returns:
        ``{"rigs": {subject: Camera}, "poses": {(subject, action): (T, 32, 3)}, "detections": {(s, a, c): (T, 16, 2)}}``
    """
    import h5py

    rng = np.random.default_rng(seed + 100)
    rigs = {s: videopose3d_cameras(s) for s in layout}
    root.mkdir(parents=True, exist_ok=True)
    write_cameras_h5(root / "cameras.h5", rigs)
    poses, dets = {}, {}
    for k, (subject, actions) in enumerate(layout.items()):
        (root / subject / "MyPoses" / "3D_positions").mkdir(parents=True)
        (root / subject / "StackedHourglass").mkdir(parents=True)
        for a_i, (action, n) in enumerate(actions.items()):
            p32 = poses_32(n, seed + 10 * k + a_i)
            poses[subject, action] = p32
            with h5py.File(root / subject / "MyPoses" / "3D_positions" / f"{action}.h5", "w") as hf:
                hf["3D_positions"] = p32.reshape(n, 96).T  # (96, T): row 3 j + d
            n_sh = max([n] + [v for key, v in (sh_frames or {}).items() if key[:2] == (subject, action)])
            longer = poses_32(n_sh, seed + 10 * k + a_i)
            longer[:n] = p32
            uv = project(rigs[subject], longer[:, list(H36M32_TO_17)])  # (C, T, 17, 2) in our order
            for c, cam in enumerate(rigs[subject].names):
                if (subject, action, c) in skip:
                    continue
                m = (sh_frames or {}).get((subject, action, c), n)
                sh = uv[c, :m, :16] + rng.normal(0, noise_px, (m, 16, 2))  # MPII-16 = our first 16, SH order
                dets[subject, action, c] = sh
                with h5py.File(root / subject / "StackedHourglass" / f"{action.replace(' ', '_')}.{cam}.h5", "w") as hf:
                    hf["poses"] = sh
    return {"rigs": rigs, "poses": poses, "detections": dets}


def write_videopose3d(
    folder: Path,
    layout: dict[str, dict[str, int]],
    detectors: dict[str, str],
    seed: int = 0,
    frames_2d: dict[tuple[str, str, int], int] | None = None,
    noise_px: float = 0.0,
) -> dict:
    """VideoPose3D's ``data_3d_h36m.npz`` and ``data_2d_h36m_<detector>.npz`` (pickled dicts, float32, metres).

    Args:
        folder: output folder.
        layout: ``{subject: {action: n_frames}}``.
        detectors: ``{detector name: layout}`` with layout ``"h36m"``, ``"mpii"``, ``"coco"``, or ``"h36m-nolayout"``
            (17 joints, metadata without ``layout_name``, like ``data_2d_h36m_gt.npz``).
        frames_2d: ``{(subject, action, camera): n}`` 2D sequences of another length.

    Returns:
        ``{"poses": {(s, a): (T, 32, 3) mm}, "rigs": {s: Camera}}``.
    """
    rng = np.random.default_rng(seed + 7)
    poses = {
        (s, a): poses_32(n, seed + 10 * i + j)
        for i, (s, acts) in enumerate(layout.items())
        for j, (a, n) in enumerate(acts.items())
    }
    positions_3d = {s: {a: (poses[s, a] / 1000.0).astype("float32") for a in acts} for s, acts in layout.items()}
    np.savez_compressed(folder / "data_3d_h36m.npz", positions_3d=positions_3d)
    rigs = {s: videopose3d_cameras(s) for s in layout}
    for name, lay in detectors.items():
        positions_2d = {}
        for s, acts in layout.items():
            positions_2d[s] = {}
            for a, n in acts.items():
                views = []
                for c in range(4):
                    m = (frames_2d or {}).get((s, a, c), n)
                    longer = poses_32(max(m, n), 99)
                    longer[:n] = poses[s, a]
                    uv32 = project(rigs[s][c : c + 1], longer)[0]  # (T, 32, 2)
                    if lay.startswith("h36m"):
                        arr = uv32[:, list(VP3D_17_FROM_32)]
                    else:
                        ours = uv32[:, list(H36M32_TO_17)]
                        src = LAYOUT_TO_H36M17[lay]
                        n_j = 16 if lay == "mpii" else 17
                        arr = np.zeros((uv32.shape[0], n_j, 2))
                        for ours_j, src_j in enumerate(src):
                            if src_j >= 0:
                                arr[:, src_j] = ours[:, ours_j]
                    arr = arr + rng.normal(0, noise_px, arr.shape)
                    views.append(arr[:m].astype("float32"))
                positions_2d[s][a] = views
        n_j = 16 if lay == "mpii" else 17
        metadata = {"num_joints": n_j, "keypoints_symmetry": [[4, 5, 6, 11, 12, 13], [1, 2, 3, 14, 15, 16]]}
        if lay in ("h36m", "coco"):
            metadata["layout_name"] = lay
        np.savez_compressed(folder / f"data_2d_h36m_{name}.npz", positions_2d=positions_2d, metadata=metadata)
    return {"poses": poses, "rigs": rigs}
