"""Human3.6M camera readers: the paper's preprocessed labels and the raw ``cameras.h5``.

Both give :class:`~lt_core.camera.Camera` rigs of the four Human3.6M cameras in the convention of
``docs/CONVENTIONS.md``: ``X_cam = R X + t`` with ``t`` in mm, ``K`` (3, 3) in px, the full-frame ``(W, H)`` image
size of each known camera, and Human3.6M's own lens model (``distortion_model="h36m"``, see :mod:`lt_core.lens`)
with ``dist = (k1, k2, p1, p2, k3)``.

* Preprocessed labels of the paper's code: a ``cameras`` structured array, already ``R, t`` in mm.
* Raw ``cameras.h5`` of 3d-pose-baseline: MATLAB arrays (``R`` transposed) and the camera centre ``T`` instead of
  ``t`` (so ``t = -R C``). Reading the file needs the optional ``h5py`` (``pip install lt-triangulation[h36m]``);
  converting one camera's arrays (:func:`h36m_camera_from_raw`) does not.

Malformed content raises :class:`~lt_core.data.calibration_common.CalibrationError` naming the file (or labels),
the subject, the camera and the field.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from lt_core.camera import Camera
from lt_core.data.calibration_common import (
    CalibrationError,
    PathLike,
    _array,
    _field,
    _make_camera,
    _require_file,
    _stack,
)

__all__ = [
    "H36M_CAMERA_NAMES",
    "H36M_IMAGE_SIZES",
    "import_h5py",
    "open_h5",
    "h36m_cameras_from_labels",
    "h36m_camera_from_raw",
    "load_h36m_cameras_h5",
]

H36M_CAMERA_NAMES: tuple[str, ...] = ("54138969", "55011271", "58860488", "60457274")
"""Human3.6M camera names in the order of the paper's labels and of ``cameras.h5`` (camera1..camera4)."""

H36M_IMAGE_SIZES: dict[str, tuple[int, int]] = {
    "54138969": (1000, 1002),
    "55011271": (1000, 1000),
    "58860488": (1000, 1000),
    "60457274": (1000, 1002),
}
"""Full-frame (W, H) of each Human3.6M camera."""


def import_h5py(purpose: str):
    """The ``h5py`` module, or an ImportError that says how to install it (the ``h36m`` extra)."""
    try:
        import h5py  # noqa: PLC0415 (optional dependency)
    except ImportError as e:
        raise ImportError(
            f"{purpose} needs the optional package h5py: pip install 'lt-triangulation[h36m]' "
            "(or pip install h5py); the preprocessed labels need no extra package"
        ) from e
    return h5py


def open_h5(path: PathLike):
    """Open an HDF5 file for reading; a truncated or non-HDF5 file raises :class:`CalibrationError` naming it."""
    h5py = import_h5py(f"reading {Path(path).name}")
    try:
        return h5py.File(path, "r")
    except OSError as e:
        raise CalibrationError(f"{path}: not a readable HDF5 file (truncated or corrupt?): {e}") from None


def h36m_cameras_from_labels(labels: Mapping[str, Any], subject: str | int) -> Camera:
    """Cameras of one subject from the paper's preprocessed Human3.6M labels.

    Args:
        labels: the dict loaded from ``human36m-multiview-labels-GTbboxes.npy`` (keys ``cameras``,
            ``subject_names``, ``camera_names``); ``cameras`` is a structured array of shape
            (n_subjects, n_cameras) with fields ``R`` (3, 3), ``t`` (3, 1) mm, ``K`` (3, 3), ``dist`` (5,).
        subject: subject name (``"S9"``) or index into ``subject_names``.

    Returns:
        Camera with batch shape (n_cameras,), float64, ``t`` in mm, names = ``camera_names``, full-frame
        ``image_size`` for the known Human3.6M cameras (``None`` if a name is unknown), and the Human3.6M lens
        model (``distortion_model="h36m"``: the labels copy ``k`` and ``p`` of ``cameras.h5``).
    """
    where = "Human3.6M labels"
    for key in ("cameras", "subject_names", "camera_names"):
        _field(labels, key, where)
    subjects = list(labels["subject_names"])
    if isinstance(subject, str):
        if subject not in subjects:
            raise CalibrationError(f"{where}: unknown subject {subject!r}; subjects are {subjects}")
        s = subjects.index(subject)
    else:
        s = int(subject)
    arr = labels["cameras"]
    names = [str(n) for n in labels["camera_names"]]
    fields = set(arr.dtype.names or ())
    missing = {"R", "t", "K", "dist"} - fields
    if missing:
        raise CalibrationError(f"{where}: cameras array lacks fields {sorted(missing)}")
    cams = []
    for c, name in enumerate(names):
        rec = arr[s, c]
        w = f"{where}, subject {subjects[s]}, camera {name}"
        cams.append(
            _make_camera(
                _array(rec["K"], (3, 3), w, "K"),
                _array(rec["R"], (3, 3), w, "R"),
                _array(rec["t"], (3,), w, "t"),
                _array(rec["dist"], (5,), w, "dist", sizes=(4, 5)),
                H36M_IMAGE_SIZES.get(name),
                name,
                w,
                model="h36m",
            )
        )
    return _stack(cams, where)


def h36m_camera_from_raw(R, T, f, c, k, p, name: str = "", transpose: bool = True) -> Camera:
    """Convert one camera of the raw Human3.6M ``cameras.h5`` layout into our convention.

    Args:
        R: (3, 3) world-to-camera rotation as stored (MATLAB order; transposed when ``transpose``).
        T: (3,) or (3, 1) camera centre ``C`` in world mm (``X_cam = R (X - C)``).
        f: (2,) focal lengths in px; ``c``: (2,) principal point in px.
        k: (3,) radial distortion ``k1, k2, k3``; ``p``: (2,) tangential ``p1, p2`` (file order).
        name: camera name (e.g. ``"54138969"``); sets the full-frame ``image_size`` when known.
        transpose: the stored ``R`` is the MATLAB transpose (true for ``cameras.h5``).

    Returns:
        A single Camera with ``t = -R C`` in mm, ``dist = (k1, k2, p1, p2, k3)`` and ``distortion_model="h36m"``:
        Human3.6M's tangential terms are not OpenCV's (reading ``p`` as OpenCV's ``p1, p2`` moves points by up to
        0.4 px on these cameras), so the camera keeps Human3.6M's own formula (:mod:`lt_core.lens`), which
        reproduces the dataset's projection exactly.
    """
    where = f"Human3.6M raw camera {name or '?'}"
    R = _array(R, (3, 3), where, "R")
    R = R.T if transpose else R
    C = _array(T, (3,), where, "T")
    f = _array(f, (2,), where, "f")
    c = _array(c, (2,), where, "c")
    k = _array(k, (3,), where, "k")
    p = _array(p, (2,), where, "p")
    K = np.array([[f[0], 0.0, c[0]], [0.0, f[1], c[1]], [0.0, 0.0, 1.0]])
    dist = np.array([k[0], k[1], p[0], p[1], k[2]])
    return _make_camera(K, R, -R @ C, dist, H36M_IMAGE_SIZES.get(name), name, where, model="h36m")


def load_h36m_cameras_h5(path: PathLike, subjects: Sequence[int] = (1, 5, 6, 7, 8, 9, 11)) -> dict[str, Camera]:
    """Read the raw Human3.6M ``cameras.h5`` (3d-pose-baseline layout ``subject<s>/camera<c>/{R,T,f,c,k,p,Name}``).

    Args:
        path: the ``cameras.h5`` file.
        subjects: subject numbers to read.

    Returns:
        ``{"S1": Camera (4,), ...}`` in our convention (mm, ``t = -R C``), names from the file's ``Name`` field.

    Raises:
        ImportError: ``h5py`` is not installed (it is optional: ``pip install lt-triangulation[h36m]``).
        CalibrationError: the file is not HDF5 (e.g. truncated), or a group or field is missing.
    """
    p = _require_file(path)
    import_h5py("reading the raw Human3.6M cameras.h5")
    out: dict[str, Camera] = {}
    with open_h5(p) as hf:
        for s in subjects:
            cams = []
            for ci in range(1, 5):
                group = f"subject{s}/camera{ci}"
                if group not in hf:
                    raise CalibrationError(f"{p}: missing group {group!r}")
                g = hf[group]
                missing = [key for key in ("R", "T", "f", "c", "k", "p") if key not in g]
                if missing:
                    raise CalibrationError(f"{p}: {group} lacks fields {missing}")
                try:
                    raw = {key: g[key][()] for key in ("R", "T", "f", "c", "k", "p")}
                    name = (
                        "".join(chr(int(x)) for x in np.asarray(g["Name"][()]).reshape(-1))
                        if "Name" in g
                        else H36M_CAMERA_NAMES[ci - 1]
                    )
                except OSError as e:
                    raise CalibrationError(f"{p}: cannot read {group} (truncated or corrupt file?): {e}") from None
                cams.append(h36m_camera_from_raw(**raw, name=name))
            out[f"S{s}"] = _stack(cams, p)
    return out
