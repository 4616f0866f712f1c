"""A reader for OpenCV ``FileStorage`` YAML (``%YAML:1.0`` files with ``!!opencv-matrix`` nodes).

Calibration tools that use OpenCV (EasyMocap's ``intri.yml`` / ``extri.yml``, many multi-camera rigs) store
matrices this way::

    %YAML:1.0
    ---
    names:
      - "01"
    K_01: !!opencv-matrix
      rows: 3
      cols: 3
      dt: d
      data: [ 1.1e+03, 0., 5.1e+02, 0., 1.1e+03, 5.0e+02, 0., 0., 1. ]
    H_01: 1080

Generic YAML parsers reject the ``%YAML:1.0`` directive (YAML spells it ``%YAML 1.0``) and do not know the
``!!opencv-matrix`` tag, and ``cv2.FileStorage`` would make OpenCV a dependency for reading a few matrices. This
module reads the subset OpenCV writes: block mappings and sequences by indentation, scalars (int, float, quoted or
plain strings, ``.Nan``/``.Inf``), flow sequences ``[ ... ]`` that may span lines, and matrices
(``!!opencv-matrix``: ``rows``, ``cols``, ``dt``, ``data``; ``!!opencv-nd-matrix``: ``sizes``, ``dt``, ``data``),
returned as float64 numpy arrays. CR LF line ends (EasyMocap's writer) are accepted. Anything else raises
:class:`~lt_core.data.calibration.CalibrationError` naming the file, the line and the key.
"""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Any

import numpy as np

from lt_core.data.calibration_common import CalibrationError
from lt_core.data.textio import names_file, read_text

__all__ = ["read_opencv_yaml"]

PathLike = str | Path

_HEADER = re.compile(r"^%YAML[: ]\s*1\.\d+\s*$")
_KEY = re.compile(r"""^(?P<key>"[^"]*"|'[^']*'|[^:#'"\s][^:#]*?)\s*:(?:\s+(?P<rest>.*)|$)""")


def _strip_comment(text: str) -> str:
    quote = None
    for i, ch in enumerate(text):
        if quote:
            if ch == quote:
                quote = None
        elif ch in "\"'":
            quote = ch
        elif ch == "#" and (i == 0 or text[i - 1] in " \t"):
            return text[:i].rstrip()
    return text.rstrip()


def _scalar(text: str) -> Any:
    t = text.strip()
    if len(t) >= 2 and t[0] == t[-1] and t[0] in "\"'":
        return t[1:-1]
    low = t.lower()
    if low in (".nan", "nan"):
        return math.nan
    if low in (".inf", "+.inf", "inf"):
        return math.inf
    if low in ("-.inf", "-inf"):
        return -math.inf
    try:
        return int(t)
    except ValueError:
        pass
    try:
        return float(t)
    except ValueError:
        return t


def _flow(text: str) -> list[Any]:
    inner = text.strip()
    if not (inner.startswith("[") and inner.endswith("]")):
        raise ValueError(f"unterminated flow sequence {text[:40]!r}")
    body = inner[1:-1].strip()
    if not body:
        return []
    return [_scalar(x) for x in body.rstrip(",").split(",")]


class _Reader:
    def __init__(self, path: Path, text: str) -> None:
        self.path = path
        self.lines: list[tuple[int, int, str]] = []  # (line number, indent, text)
        raw = text.lstrip("\ufeff").splitlines()
        started = False
        pending: tuple[int, int, str] | None = None
        for n, line in enumerate(raw, 1):
            body = _strip_comment(line)
            if not body.strip():
                continue
            if not started:
                if not _HEADER.match(body.strip()):
                    raise CalibrationError(
                        f"{path}: line {n}: not an OpenCV FileStorage YAML file (it must start "
                        f"with '%YAML:1.0', found {body.strip()[:40]!r})"
                    )
                started = True
                continue
            if pending is not None:  # continuation of a flow sequence
                pending = (pending[0], pending[1], pending[2] + " " + body.strip())
            elif body.strip() in ("---", "..."):
                continue
            else:
                pending = (n, len(body) - len(body.lstrip(" ")), body.strip())
            if pending[2].count("[") <= pending[2].count("]"):
                self.lines.append(pending)
                pending = None
        if not started:
            raise CalibrationError(f"{path}: empty file (an OpenCV FileStorage YAML starts with '%YAML:1.0')")
        if pending is not None:
            raise CalibrationError(f"{path}: line {pending[0]}: '[' never closed")

    def error(self, i: int, msg: str) -> CalibrationError:
        n = self.lines[i][0] if i < len(self.lines) else len(self.lines)
        return CalibrationError(f"{self.path}: line {n}: {msg}")

    def block(self, i: int, indent: int, where: str) -> tuple[Any, int]:
        """Parse the block starting at line ``i`` whose lines have exactly ``indent``."""
        if self.lines[i][2].startswith("-"):
            return self.sequence(i, indent, where)
        return self.mapping(i, indent, where)

    def child(self, i: int, indent: int, where: str) -> tuple[Any, int]:
        """The nested block after line ``i - 1`` (deeper indentation), or None when there is none."""
        if i < len(self.lines) and self.lines[i][1] > indent:
            return self.block(i, self.lines[i][1], where)
        if i < len(self.lines) and self.lines[i][1] == indent and self.lines[i][2].startswith("-"):
            return self.sequence(i, indent, where)  # "key:" followed by "- item" at the same indentation
        return None, i

    def value(self, rest: str, i: int, indent: int, where: str) -> tuple[Any, int]:
        if rest.startswith("!!"):
            tag, _, tail = rest.partition(" ")
            if tail.strip():
                raise self.error(i - 1, f"{where}: unexpected text after {tag}")
            node, i = self.child(i, indent, where)
            return self.matrix(tag, node, i - 1, where), i
        if rest.startswith("["):
            try:
                return _flow(rest), i
            except ValueError as e:
                raise self.error(i - 1, f"{where}: {e}") from None
        if rest.startswith("{"):
            if rest.replace(" ", "") == "{}":
                return {}, i
            raise self.error(i - 1, f"{where}: flow mappings are not supported")
        return _scalar(rest), i

    def mapping(self, i: int, indent: int, where: str) -> tuple[dict[str, Any], int]:
        out: dict[str, Any] = {}
        while i < len(self.lines) and self.lines[i][1] == indent and not self.lines[i][2].startswith("-"):
            m = _KEY.match(self.lines[i][2])
            if m is None:
                raise self.error(
                    i, f"expected 'key: value' in {where or 'the top level'}, found {self.lines[i][2][:40]!r}"
                )
            key = str(_scalar(m.group("key")))
            rest = (m.group("rest") or "").strip()
            sub = f"{where}.{key}" if where else key
            if rest:
                out[key], i = self.value(rest, i + 1, indent, sub)
            else:
                out[key], i = self.child(i + 1, indent, sub)
        if i < len(self.lines) and self.lines[i][1] > indent:
            raise self.error(i, f"unexpected indentation in {where or 'the top level'}")
        return out, i

    def sequence(self, i: int, indent: int, where: str) -> tuple[list[Any], int]:
        out: list[Any] = []
        while i < len(self.lines) and self.lines[i][1] == indent and self.lines[i][2].startswith("-"):
            rest = self.lines[i][2][1:].strip()
            sub = f"{where}[{len(out)}]"
            if rest:
                if _KEY.match(rest):
                    raise self.error(i, f"{sub}: mappings inside sequences are not supported")
                value, i = self.value(rest, i + 1, indent, sub)
            else:
                value, i = self.child(i + 1, indent, sub)
            out.append(value)
        return out, i

    def matrix(self, tag: str, node: Any, i: int, where: str) -> np.ndarray:
        if tag not in ("!!opencv-matrix", "!!opencv-nd-matrix"):
            raise self.error(i, f"{where}: unsupported tag {tag}")
        if not isinstance(node, dict):
            raise self.error(i, f"{where}: {tag} needs the fields rows, cols (or sizes), dt and data")
        need = ("rows", "cols", "dt", "data") if tag == "!!opencv-matrix" else ("sizes", "dt", "data")
        missing = [k for k in need if k not in node]
        if missing:
            raise self.error(i, f"{where}: {tag} lacks field(s) {missing}")
        data = node["data"]
        if not isinstance(data, list):
            raise self.error(i, f"{where}: field 'data' must be a [ ... ] list")
        shape = [int(node["rows"]), int(node["cols"])] if tag == "!!opencv-matrix" else [int(v) for v in node["sizes"]]
        channels = re.match(r"^(\d*)", str(node["dt"])).group(1)
        if channels and int(channels) > 1:
            shape.append(int(channels))
        try:
            arr = np.asarray(data, dtype=np.float64)
        except (TypeError, ValueError):
            raise self.error(i, f"{where}: field 'data' is not numeric") from None
        if arr.size != math.prod(shape):
            raise self.error(
                i,
                f"{where}: {'x'.join(map(str, shape))} matrix needs {math.prod(shape)} values in "
                f"'data', found {arr.size}",
            )
        return arr.reshape(shape)


@names_file(CalibrationError)
def read_opencv_yaml(path: PathLike) -> dict[str, Any]:
    """Read an OpenCV FileStorage YAML file.

    Args:
        path: the ``.yml`` / ``.yaml`` file.

    Returns:
        The top-level mapping: matrices as float64 numpy arrays of shape (rows, cols), sequences as lists,
        scalars as int, float or str.

    Raises:
        FileNotFoundError: no such file.
        CalibrationError: not a FileStorage YAML, or a construct outside the subset OpenCV writes (the message
            names the file, the line and the key).
    """
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"OpenCV YAML file not found: {p}")
    text = read_text(p, CalibrationError, "OpenCV YAML file")
    reader = _Reader(p, text)
    if not reader.lines:
        return {}
    out, i = reader.mapping(0, reader.lines[0][1], "")
    if i < len(reader.lines):
        raise reader.error(i, f"unexpected line {reader.lines[i][2][:40]!r} at the top level")
    return out
