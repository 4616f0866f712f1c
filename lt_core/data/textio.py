"""Reading text files so that every failure names the file: decoding, JSON syntax, and a safety net for readers.

Every reader of a text format (JSON, TOML, TRC, YAML, BVH, ASF/AMC, CSV) goes through :func:`read_text`, so a
binary file, a UTF-16 export or a truncated multi-byte character is reported as the reader's own error with the
path, instead of a bare ``UnicodeDecodeError``. :func:`names_file` wraps a reader: any exception that is not
already one of the project's errors (a ``ValueError`` subclass naming the file) is re-raised as the reader's error
class, with the path and the original message, so malformed content can never escape as an anonymous
``KeyError`` or ``TypeError`` from deep inside a parser.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import tomllib

__all__ = ["read_text", "load_json", "load_toml", "names_file"]

F = TypeVar("F", bound=Callable[..., Any])

_BOMS = {b"\xff\xfe": "UTF-16 (little-endian)", b"\xfe\xff": "UTF-16 (big-endian)"}


def read_text(path: str | Path, error: type[Exception], what: str = "file") -> str:
    """The UTF-8 text of ``path`` (a UTF-8 byte-order mark is dropped).

    Args:
        path: the file.
        error: exception class raised for unreadable or undecodable content (called with one message).
        what: what the file should be (``"TRC file"``), for the message.

    Raises:
        FileNotFoundError: no such file.
        error: the file cannot be read or is not UTF-8 text (the message names the file, the byte offset and,
            for UTF-16 exports, the encoding to convert from).
    """
    p = Path(path)
    try:
        data = p.read_bytes()
    except FileNotFoundError:
        raise FileNotFoundError(f"{what} not found: {p}") from None
    except OSError as e:
        raise error(f"{p}: cannot read {what} ({e.strerror or e})") from None
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        enc = _BOMS.get(data[:2])
        hint = f"it is {enc}; save it as UTF-8" if enc else "a binary or non-UTF-8 file?"
        raise error(f"{p}: {what} is not UTF-8 text (undecodable byte at offset {e.start}: {hint})") from None


def load_json(path: str | Path, error: type[Exception], what: str = "JSON file") -> Any:
    """Parse the JSON document in ``path``; errors name the file, line and column (see :func:`read_text`)."""
    text = read_text(path, error, what)
    try:
        return json.loads(text)
    except json.JSONDecodeError as e:
        raise error(f"{Path(path)}: not valid JSON ({e.msg} at line {e.lineno}, column {e.colno})") from None
    except RecursionError:
        raise error(f"{Path(path)}: JSON nested too deeply") from None


def load_toml(path: str | Path, error: type[Exception], what: str = "TOML file") -> dict[str, Any]:
    """Parse the TOML document in ``path``; errors name the file and the parser's position (see :func:`read_text`)."""
    text = read_text(path, error, what)
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise error(f"{Path(path)}: not valid TOML ({e})") from None


def _named(e: BaseException, path: Any) -> bool:
    """A project error (class defined in lt_core) or a deliberate ``NotImplementedError`` (an unsupported
    feature) whose message names the file, or a missing file."""
    if isinstance(e, FileNotFoundError):
        return True
    ours = type(e).__module__.startswith("lt_core.") or isinstance(e, NotImplementedError)
    return ours and (path is None or str(path) in str(e))


def names_file(error: type[Exception], arg: int | str = 0) -> Callable[[F], F]:
    """Decorate a reader so that no foreign exception escapes it without the file's name.

    Args:
        error: the reader's exception class.
        arg: position or name of the path argument.

    Exceptions of the project (classes defined in ``lt_core``) whose message names the file, and
    ``FileNotFoundError``, pass unchanged; a project error without the name (a ``CameraError`` from a camera built
    out of the file's numbers) becomes ``error("<path>: <message>")``; any other exception becomes
    ``error("<path>: malformed content (<type>: <message>)")``, chained to the original.
    """

    def wrap(fn: F) -> F:
        @functools.wraps(fn)
        def inner(*args: Any, **kwargs: Any) -> Any:
            try:
                return fn(*args, **kwargs)
            except Exception as e:  # noqa: BLE001 - re-raised with the file's name
                path = kwargs.get(arg) if isinstance(arg, str) else (args[arg] if len(args) > arg else None)
                if _named(e, path):
                    raise
                if type(e).__module__.startswith("lt_core."):
                    raise error(f"{path}: {e}") from e
                raise error(f"{path}: malformed content ({type(e).__name__}: {e})") from e

        return inner  # type: ignore[return-value]

    return wrap
