"""Atomic file and folder writes: a crash never leaves a half-written model or report."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from ltrr.errors import CorruptModelError

__all__ = [
    "atomic_dir",
    "atomic_write_bytes",
    "atomic_write_json",
    "read_header",
    "read_json",
    "write_header",
]


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:  # pragma: no cover - platforms without directory fds
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes) -> None:
    """Write ``data`` to ``path`` atomically (temporary file, fsync, rename).

    Parameters
    ----------
    path : path-like
        Destination file; its folder must exist.
    data : bytes
        The full contents.
    """
    dest = Path(path)
    fd, tmp = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, dest)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    _fsync_dir(dest.parent)


def atomic_write_json(path: str | os.PathLike[str], obj: Any) -> None:
    """Serialise ``obj`` as indented JSON and write it atomically.

    Parameters
    ----------
    path : path-like
        Destination file.
    obj : Any
        A JSON-serialisable object.
    """
    atomic_write_bytes(path, (json.dumps(obj, indent=2, sort_keys=False) + "\n").encode())


def read_json(path: str | os.PathLike[str], *, what: str = "file") -> Any:
    """Read a JSON file, raising :class:`CorruptModelError` when it is missing or malformed.

    Parameters
    ----------
    path : path-like
        The file.
    what : str
        What the file is, for the error message.

    Returns
    -------
    Any
        The parsed JSON.
    """
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise CorruptModelError(f"{what} {str(p)!r} is missing") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise CorruptModelError(f"{what} {str(p)!r} is not valid JSON: {exc}") from None


def write_header(
    path: str | os.PathLike[str],
    *,
    fmt: str,
    version: int,
    cls_name: str,
    params: dict[str, Any],
    **extra: Any,
) -> None:
    """Write a saved model's JSON header atomically (what :func:`read_header` checks).

    Parameters
    ----------
    path : str or PathLike
        The header file (e.g. ``params.json``).
    fmt : str
        Its ``"format"``.
    version : int
        Its ``"format_version"``.
    cls_name : str
        The saved object's class name, ``"class"``.
    params : dict
        The constructor parameters, ``"params"``.
    **extra
        Further JSON-serialisable fields, written after these.
    """
    atomic_write_json(
        path,
        {"format": fmt, "format_version": version, "class": cls_name, "params": params, **extra},
    )


def read_header(
    path: str | os.PathLike[str], *, fmt: str, version: int, cls_name: str, what: str
) -> dict[str, Any]:
    """Read a saved model's JSON header and check its format, version and class.

    Parameters
    ----------
    path : str or PathLike
        The header file (e.g. ``params.json``).
    fmt : str
        Expected ``"format"``.
    version : int
        The ``"format_version"`` this code reads.
    cls_name : str
        Expected ``"class"``.
    what : str
        What the file describes, for error messages.

    Returns
    -------
    dict
        The parsed header.

    Raises
    ------
    CorruptModelError
        If the file is missing, unreadable, not an object, of another format or
        class, or of another format version.
    """
    meta = read_json(path, what=what)
    got = (meta.get("format"), meta.get("class")) if isinstance(meta, dict) else meta
    if got != (fmt, cls_name):
        raise CorruptModelError(
            f"{str(path)!r} does not describe a {cls_name} "
            f"(format, class = {got!r}; expected {(fmt, cls_name)!r})"
        )
    if meta.get("format_version") != version:
        raise CorruptModelError(
            f"{str(path)!r} has format_version {meta.get('format_version')!r}; "
            f"this ltrr reads version {version}"
        )
    return dict(meta)


@contextmanager
def atomic_dir(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Build a folder in a temporary sibling and swap it into place on success.

    The previous folder at ``path`` (if any) stays intact until the new one is
    complete, so a crash while saving never destroys a good saved model.

    Parameters
    ----------
    path : path-like
        The destination folder.

    Yields
    ------
    Path
        The temporary folder to write into.
    """
    dest = Path(path)
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=dest.parent, prefix=f".{dest.name}.", suffix=".tmp"))
    try:
        yield tmp
        _swap_into_place(tmp, dest)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def _swap_into_place(
    tmp: Path, dest: Path, rename: Callable[[Path, Path], None] = os.replace
) -> None:
    old: Path | None = None
    if dest.exists():
        old = dest.with_name(f".{dest.name}.old-{os.getpid()}-{id(tmp)}")
        rename(dest, old)
    try:
        rename(tmp, dest)
    except BaseException:
        if old is not None:
            rename(old, dest)
        raise
    _fsync_dir(dest.parent)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
