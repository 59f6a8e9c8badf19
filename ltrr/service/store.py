"""A model folder: the catalog, numbered immutable engine versions, and CURRENT naming the one to serve."""

from __future__ import annotations

import fcntl
import os
import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from ltrr.engine import Engine
from ltrr.errors import CorruptModelError, DataNotFoundError, InvalidInputError
from ltrr.eventlog import EventLog
from ltrr.ingest import load_catalog, save_catalog
from ltrr.io import atomic_write_bytes, atomic_write_json, read_json
from ltrr.types import Catalog

__all__ = ["STORE_FORMAT", "ModelStore"]

#: ``format`` of a model folder's ``store.json``.
STORE_FORMAT = "ltrr.store"
_STORE_VERSION = 1
_VERSION_RE = re.compile(r"^v(\d{6,})$")


class ModelStore:
    """A model folder that servers read and one learner publishes to.

    Layout::

        NAME/store.json            format, name, creation time
        NAME/catalog.jsonl         the catalog (every version indexes these items)
        NAME/versions/v000001/     an engine saved by Engine.save (checksummed manifest)
        NAME/versions/v000001.json what made the version (note, parent, learner cursor)
        NAME/CURRENT               the version to serve, e.g. "v000002"

    Versions are never changed once written: :meth:`publish` writes the next one
    completely (atomically) and only then replaces ``CURRENT`` (atomically), so a
    server that reads ``CURRENT`` and loads that version never sees half a model.
    Publishers are serialised by a lock file; run one learner per model folder.

    Parameters
    ----------
    root : path-like
        An existing model folder (made by :meth:`create`).

    Raises
    ------
    DataNotFoundError
        If ``root`` holds no model store.
    CorruptModelError
        If its ``store.json`` is unreadable or of another format.
    """

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root)
        meta_path = self.root / "store.json"
        if not meta_path.is_file():
            raise DataNotFoundError(
                f"no ltrr model at {str(self.root)!r}: store.json is missing "
                "(build one with `ltrr index`)"
            )
        meta = read_json(meta_path, what="model store description")
        if not isinstance(meta, dict) or meta.get("format") != STORE_FORMAT:
            raise CorruptModelError(f"{str(meta_path)!r} is not an ltrr model store description")
        if meta.get("format_version") != _STORE_VERSION:
            raise CorruptModelError(
                f"{str(meta_path)!r} has store format version {meta.get('format_version')!r}; "
                f"expected {_STORE_VERSION}"
            )
        self.name = str(meta.get("name", self.root.name))
        self._catalog: Catalog | None = None

    def __repr__(self) -> str:
        return f"ModelStore({str(self.root)!r})"

    # ------------------------------------------------------------ creation
    @classmethod
    def create(
        cls,
        root: str | os.PathLike[str],
        engine: Engine,
        *,
        note: str = "built",
        meta: dict[str, Any] | None = None,
    ) -> ModelStore:
        """Make a model folder holding ``engine``'s catalog and ``engine`` as version 1.

        Parameters
        ----------
        root : path-like
            A folder that does not exist yet, or is empty.
        engine : Engine
            The engine to publish first.
        note : str
            What made it (kept in the version's description).
        meta : dict, optional
            More JSON-ready facts about how it was built (e.g. the ``ltrr index`` arguments).

        Returns
        -------
        ModelStore
            The new store.

        Raises
        ------
        InvalidInputError
            If ``root`` exists and is not an empty folder.
        """
        path = Path(root)
        if path.exists() and (not path.is_dir() or any(path.iterdir())):
            raise InvalidInputError(
                f"model folder {str(path)!r} already exists and is not empty; "
                "choose a new folder (or remove it)"
            )
        (path / "versions").mkdir(parents=True, exist_ok=True)
        save_catalog(engine.catalog, path / "catalog.jsonl")
        atomic_write_json(
            path / "store.json",
            {
                "format": STORE_FORMAT,
                "format_version": _STORE_VERSION,
                "name": path.name,
                "created": time.time(),
                "items": len(engine.catalog),
                **({"built_with": meta} if meta else {}),
            },
        )
        store = cls(path)
        store._catalog = engine.catalog
        store.publish(engine, note=note)
        return store

    # ------------------------------------------------------------ reading
    def catalog(self) -> Catalog:
        """Return the catalog (read once, then kept).

        Returns
        -------
        Catalog
            The items every version indexes.
        """
        if self._catalog is None:
            self._catalog = load_catalog(self.root / "catalog.jsonl")
        return self._catalog

    def versions(self) -> list[str]:
        """Return the complete versions, oldest first.

        Returns
        -------
        list of str
            Version names such as ``"v000001"``.
        """
        folder = self.root / "versions"
        if not folder.is_dir():
            return []
        found = [p.name for p in folder.iterdir() if p.is_dir() and _VERSION_RE.match(p.name)]
        return sorted(found, key=lambda v: int(v[1:]))

    def current(self) -> str:
        """Return the version ``CURRENT`` names.

        Returns
        -------
        str
            The version to serve.

        Raises
        ------
        CorruptModelError
            If ``CURRENT`` is missing, malformed or names a version that does not exist.
        """
        path = self.root / "CURRENT"
        try:
            text = path.read_text(encoding="ascii").strip()
        except (OSError, UnicodeDecodeError) as exc:
            raise CorruptModelError(
                f"cannot read {str(path)!r} (the version to serve): {exc}"
            ) from None
        if not _VERSION_RE.match(text) or not (self.root / "versions" / text).is_dir():
            raise CorruptModelError(
                f"{str(path)!r} names {text[:40]!r}, which is not a version of this model "
                f"(versions: {self.versions()[-5:]})"
            )
        return text

    def version_info(self, version: str) -> dict[str, Any]:
        """Return what made a version (its ``vNNNNNN.json``; empty when there is none).

        Parameters
        ----------
        version : str
            A version name.

        Returns
        -------
        dict
            ``note``, ``parent``, ``created`` and, for learner versions, ``learner``.
        """
        self._check_version(version)
        path = self.root / "versions" / f"{version}.json"
        if not path.is_file():
            return {}
        data = read_json(path, what="model version description")
        return data if isinstance(data, dict) else {}

    def load(self, version: str | None = None, *, event_log: EventLog | None = None) -> Engine:
        """Load a version (default: the current one), checking it against its manifest.

        Parameters
        ----------
        version : str, optional
            The version to load (default :meth:`current`).
        event_log : EventLog, optional
            Where the loaded engine logs.

        Returns
        -------
        Engine
            The engine.

        Raises
        ------
        CorruptModelError
            If a file of the version is missing or altered.
        """
        v = self.current() if version is None else self._check_version(version)
        return Engine.load(self.root / "versions" / v, self.catalog(), event_log=event_log)

    # ------------------------------------------------------------ writing
    def publish(self, engine: Engine, *, note: str = "", **info: Any) -> str:
        """Write ``engine`` as the next version and make it current, atomically.

        Parameters
        ----------
        engine : Engine
            An engine over this store's catalog.
        note : str
            What made it.
        **info
            More JSON-ready facts kept in the version's description (a learner keeps
            its log cursor here, to resume where it stopped).

        Returns
        -------
        str
            The new version's name.
        """
        with self._publish_lock():
            existing = self.versions()
            number = int(existing[-1][1:]) + 1 if existing else 1
            version = f"v{number:06d}"
            engine.save(self.root / "versions" / version)
            atomic_write_json(
                self.root / "versions" / f"{version}.json",
                {
                    "note": note,
                    "parent": existing[-1] if existing else None,
                    "created": time.time(),
                    **info,
                },
            )
            atomic_write_bytes(self.root / "CURRENT", (version + "\n").encode("ascii"))
        return version

    @contextmanager
    def _publish_lock(self) -> Iterator[None]:
        with open(self.root / ".publish.lock", "a+b") as fh:
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(fh.fileno(), fcntl.LOCK_UN)

    def _check_version(self, version: str) -> str:
        if not isinstance(version, str) or not _VERSION_RE.match(version):
            raise InvalidInputError(
                f"version must look like 'v000001', got {str(version)[:40]!r}"
            )
        if not (self.root / "versions" / version).is_dir():
            raise DataNotFoundError(
                f"model {str(self.root)!r} has no version {version!r} "
                f"(versions: {self.versions()[-5:]})"
            )
        return version
