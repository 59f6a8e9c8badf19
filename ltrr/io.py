"""Atomic file and folder writes: a crash never leaves a half-written model or report."""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import tempfile
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from ltrr.errors import CorruptModelError

__all__ = [
    "atomic_dir",
    "atomic_write_bytes",
    "atomic_write_json",
    "fsync_dir",
    "read_arrays",
    "read_header",
    "read_json",
    "recover_dir",
    "sha256",
    "verify_checksums",
    "write_checksums",
    "write_header",
]

log = logging.getLogger(__name__)

#: Hidden folders this process is writing (temporaries and swapped-out copies), never cleaned.
_IN_PROGRESS: set[Path] = set()
_IN_PROGRESS_LOCK = threading.Lock()


def fsync_dir(path: Path) -> None:
    """Fsync a folder, so that a file created or renamed in it survives a power loss."""
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
    fsync_dir(dest.parent)


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


def read_json(path: str | os.PathLike[str], *, what: str = "file", mapping: bool = False) -> Any:
    """Read a JSON file, raising :class:`CorruptModelError` when it is missing or malformed.

    Parameters
    ----------
    path : path-like
        The file.
    what : str
        What the file is, for the error message.
    mapping : bool
        Require a JSON object at the top level.

    Returns
    -------
    Any
        The parsed JSON (a dict when ``mapping``).

    Raises
    ------
    CorruptModelError
        If the file is missing or unreadable, is not UTF-8, is not valid JSON, or
        (with ``mapping``) is not a JSON object; the message names the file.
    """
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise CorruptModelError(f"{what} {str(p)!r} is missing") from None
    except UnicodeDecodeError as exc:
        raise CorruptModelError(f"{what} {str(p)!r} is not valid UTF-8: {exc}") from None
    except OSError as exc:
        raise CorruptModelError(f"{what} {str(p)!r} cannot be read: {exc}") from None
    try:
        obj = json.loads(text)
    except (ValueError, RecursionError) as exc:  # JSONDecodeError, over-long integers, nesting
        raise CorruptModelError(f"{what} {str(p)!r} is not valid JSON: {exc}") from None
    if mapping and not isinstance(obj, dict):
        raise CorruptModelError(
            f"{what} {str(p)!r} is not a JSON object (top level is {type(obj).__name__})"
        )
    return obj


def read_arrays(
    path: str | os.PathLike[str], *, what: str = "arrays", require: tuple[str, ...] = ()
) -> dict[str, Any]:
    """Read a NumPy ``.npy`` (as ``{"": array}``) or ``.npz`` file without pickles, or raise naming it.

    NumPy parses an ``.npy`` header with a literal evaluator, so an altered header can
    raise ``SyntaxError``, ``tokenize.TokenError`` or ``MemoryError`` besides ``ValueError``;
    an altered ``.npz`` can raise ``zipfile.BadZipFile``. Every one becomes
    :class:`CorruptModelError`.

    Parameters
    ----------
    path : path-like
        The file.
    what : str
        What the file is, for the error message.
    require : tuple of str
        Names an ``.npz`` file must hold.

    Returns
    -------
    dict of str to ndarray
        The arrays by name (``""`` for an ``.npy`` file), fully read into memory.

    Raises
    ------
    CorruptModelError
        If the file is missing or cannot be parsed, or lacks a required name.
    """
    import numpy as np

    p = Path(path)
    try:
        with open(p, "rb") as fh:
            loaded = np.load(fh, allow_pickle=False)
            if isinstance(loaded, np.lib.npyio.NpzFile):
                with loaded:
                    arrays = {name: np.asarray(loaded[name]) for name in loaded.files}
            else:
                arrays = {"": np.asarray(loaded)}
    except FileNotFoundError:
        raise CorruptModelError(f"{what} {str(p)!r} is missing") from None
    except Exception as exc:  # NumPy's parsers raise many kinds on altered bytes
        raise CorruptModelError(f"{what} {str(p)!r} is unreadable: {exc!r:.200}") from None
    missing = [n for n in require if n not in arrays]
    if missing:
        raise CorruptModelError(f"{what} {str(p)!r} lacks the arrays {missing}")
    return arrays


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
    complete, so a crash while saving never destroys a good saved model. After a
    successful swap, hidden leftovers of earlier killed saves of the same path
    (``.NAME.tmp-PID-*.tmp``, ``.NAME.XXXXXXXX.tmp``, ``.NAME.old-PID-*``) are removed,
    unless the process that made them is still running. A kill between the two
    renames of the swap leaves no folder at ``path``; :func:`recover_dir` puts a
    complete hidden copy back.

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
    tmp = Path(
        tempfile.mkdtemp(dir=dest.parent, prefix=f".{dest.name}.tmp-{os.getpid()}-", suffix=".tmp")
    )
    _mark(tmp, True)
    try:
        yield tmp
        _swap_into_place(tmp, dest)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    finally:
        _mark(tmp, False)
    _remove_leftovers(dest)


def _swap_into_place(
    tmp: Path, dest: Path, rename: Callable[[Path, Path], None] = os.replace
) -> None:
    old: Path | None = None
    if dest.exists():
        old = dest.with_name(f".{dest.name}.old-{os.getpid()}-{id(tmp)}")
        _mark(old, True)
        rename(dest, old)
    try:
        try:
            rename(tmp, dest)
        except BaseException:
            if old is not None:
                rename(old, dest)
            raise
        fsync_dir(dest.parent)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    finally:
        if old is not None:
            _mark(old, False)


def _mark(path: Path, busy: bool) -> None:
    with _IN_PROGRESS_LOCK:
        if busy:
            _IN_PROGRESS.add(path)
        else:
            _IN_PROGRESS.discard(path)


def _leftovers(dest: Path) -> list[tuple[Path, str]]:
    """Return the hidden folders that killed saves of ``dest`` left, with their kind.

    Only names of the patterns :func:`atomic_dir` makes for ``dest`` count, and only
    when the process that made them is gone (or is this one, not writing them now).
    """
    pattern = re.compile(
        rf"\.{re.escape(dest.name)}\."
        r"(?:(?P<kind>old|tmp)-(?P<pid>\d+)-[A-Za-z0-9_]+(?:\.tmp)?|[a-z0-9_]{8}\.tmp)"
    )
    try:
        siblings = list(dest.parent.iterdir())
    except OSError:
        return []
    found = []
    for p in siblings:
        m = pattern.fullmatch(p.name)
        if m is None or p.is_symlink() or not p.is_dir():
            continue
        kind = m.group("kind") or "tmp"
        pid = int(m.group("pid")) if m.group("pid") else None
        with _IN_PROGRESS_LOCK:
            busy = p in _IN_PROGRESS
        if busy or (pid is not None and pid != os.getpid() and _alive(pid)):
            continue
        if kind == "tmp" and not p.name.endswith(".tmp"):
            continue
        found.append((p, kind))
    return found


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OSError, OverflowError):
        return True  # exists under another user, or cannot tell: keep its folders
    return True


def _remove_leftovers(dest: Path) -> None:
    for p, _ in _leftovers(dest):
        shutil.rmtree(p, ignore_errors=True)


def _newest_mtime(folder: Path) -> int:
    newest = folder.stat().st_mtime_ns
    for p in folder.rglob("*"):
        try:
            newest = max(newest, p.stat().st_mtime_ns)
        except OSError:
            continue
    return newest


def recover_dir(
    path: str | os.PathLike[str], is_complete: Callable[[Path], bool] | None = None
) -> Path | None:
    """Put back a complete copy of a folder that a killed :func:`atomic_dir` save removed.

    A save killed between the two renames of its swap leaves nothing at ``path``:
    the previous folder survives as ``.NAME.old-*`` and the new one, complete, as
    ``.NAME.tmp-*.tmp``. When ``path`` is missing, this renames the newest such copy
    (by its files' modification times) that ``is_complete`` accepts back to ``path``.
    Nothing is done when ``path`` exists.

    Parameters
    ----------
    path : path-like
        The folder a save writes.
    is_complete : callable, optional
        Tells whether a hidden copy is complete (e.g. its manifest's checksums
        verify). Without it, only the previous folders (``.old``) are trusted.

    Returns
    -------
    Path or None
        The hidden copy that was put back, or None when nothing was done.
    """
    dest = Path(path)
    if dest.exists() or dest.is_symlink():
        return None
    candidates: list[tuple[int, int, Path]] = []
    for p, kind in _leftovers(dest):
        complete = is_complete(p) if is_complete is not None else kind == "old"
        if complete:
            candidates.append((_newest_mtime(p), kind == "tmp", p))
    if not candidates:
        return None
    best = max(candidates)[2]
    try:
        os.rename(best, dest)
    except OSError as exc:  # another process put a folder there meanwhile
        log.warning("could not recover %s from %s: %s", dest, best, exc)
        return None
    fsync_dir(dest.parent)
    log.warning("recovered %s from %s, left by an interrupted save", dest, best)
    return best


def sha256(path: Path) -> str:
    """Return the hex SHA-256 digest of a file.

    Parameters
    ----------
    path : Path
        The file.

    Returns
    -------
    str
        64 lowercase hex digits.
    """
    import hashlib

    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


#: Format tag of a checksums file (:func:`write_checksums`).
CHECKSUMS_FORMAT = "ltrr.checksums"


def write_checksums(folder: str | os.PathLike[str], files: Sequence[str], *, name: str) -> None:
    """Write ``name`` in ``folder``: the SHA-256 digest of each listed file (relative paths).

    Parameters
    ----------
    folder : path-like
        The saved model's folder.
    files : sequence of str
        Files of the folder to cover, relative POSIX paths.
    name : str
        The checksums file's name (e.g. ``"checksums.json"``).
    """
    root = Path(folder)
    atomic_write_json(
        root / name,
        {"format": CHECKSUMS_FORMAT, "files": {f: sha256(root / f) for f in sorted(files)}},
    )


def verify_checksums(
    folder: str | os.PathLike[str],
    expect: Sequence[str],
    *,
    name: str,
    what: str,
    required: bool = True,
) -> None:
    """Check that every file in ``expect`` is listed in ``name`` and unaltered.

    Run it before any file is parsed, so an altered file never reaches a native
    parser (LightGBM aborts the process on some malformed models).

    Parameters
    ----------
    folder : path-like
        The saved model's folder.
    expect : sequence of str
        The files the loader will read (relative POSIX paths).
    name : str
        The checksums file written by :func:`write_checksums`.
    what : str
        What the folder holds, for the error message.
    required : bool
        Refuse a folder without the checksums file (default); with False it is
        loaded unchecked, with a warning (a save of an older ltrr).

    Raises
    ------
    CorruptModelError
        If the checksums file is missing (when required) or malformed, an expected file is not listed
        in it, missing, or does not match its digest.
    """
    root = Path(folder)
    where = str(root / name)
    if not required and not (root / name).is_file():
        log.warning(
            "%s in %s has no %s (saved by an older ltrr): its files are not checked; "
            "save it again to add them",
            what,
            root,
            name,
        )
        return
    meta = read_json(root / name, what=f"{what} checksums", mapping=True)
    files = meta.get("files")
    if meta.get("format") != CHECKSUMS_FORMAT or not isinstance(files, dict):
        raise CorruptModelError(
            f"{where!r} is not an ltrr checksums file (expected 'format': {CHECKSUMS_FORMAT!r} "
            "and a 'files' mapping)"
        )
    for rel in expect:
        digest = files.get(rel)
        if not isinstance(digest, str):
            raise CorruptModelError(f"{where!r} does not list {rel!r}, which the {what} needs")
        target = root / rel
        if not target.is_file() or target.is_symlink():
            raise CorruptModelError(f"{what} file {str(target)!r} is missing")
        if sha256(target) != digest:
            raise CorruptModelError(f"{what} file {str(target)!r} was altered (checksum mismatch)")
