"""Loaders for real data: any BEIR folder, the CM100k music ratings, TREC query lists.

Every loader takes a path and raises :class:`~ltrr.errors.DataNotFoundError`
for a missing folder or file and :class:`~ltrr.errors.DataError` (naming the
file and line) for a malformed one.
"""

from __future__ import annotations

import csv
import json
import math
import os
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from ltrr.errors import DataError, DataNotFoundError, InvalidInputError
from ltrr.types import Catalog, Item, Query

__all__ = [
    "DEFAULT_DATA_DIR",
    "BeirDataset",
    "MusicDataset",
    "load_beir",
    "load_cm100k",
    "load_qrels",
    "load_trec_queries",
    "resolve_data_dir",
]

#: Where data is looked for when neither ``--data`` nor ``$LTRR_DATA`` is given,
#: relative to the working directory (the project root).
DEFAULT_DATA_DIR = Path("..") / "shared" / "data"

Qrels = dict[str, dict[str, int]]


def resolve_data_dir(
    data: str | os.PathLike[str] | None = None, *, dataset: str | None = None
) -> Path:
    """Find the data folder: ``data``, else ``$LTRR_DATA``, else ``../shared/data``.

    When ``dataset`` is given and the folder found has a sub-folder of that name
    (e.g. ``scifact``), the sub-folder is returned, so both the data root and a
    data set folder are accepted.

    Parameters
    ----------
    data : path-like, optional
        An explicit folder.
    dataset : str, optional
        The data set's folder name inside a data root.

    Returns
    -------
    Path
        An existing folder.

    Raises
    ------
    DataNotFoundError
        Saying where it looked and how to point ltrr at data.
    """
    if data is not None:
        root, source = Path(data), "--data"
    elif os.environ.get("LTRR_DATA"):
        root, source = Path(os.environ["LTRR_DATA"]), "$LTRR_DATA"
    else:
        root, source = DEFAULT_DATA_DIR, "the default ../shared/data"
    if not root.is_dir():
        raise DataNotFoundError(
            f"no data folder at {str(root)!r} (from {source}). Point ltrr at data with "
            "--data DIR or LTRR_DATA=DIR, where DIR is any BEIR-format folder (corpus.jsonl, "
            "queries.jsonl, qrels/<split>.tsv) or a folder holding one per data set (e.g. DIR/scifact)"
        )
    if dataset is not None and (root / dataset).is_dir():
        return root / dataset
    return root


def _need_file(path: Path, what: str) -> Path:
    if not path.is_file():
        raise DataNotFoundError(f"{what} not found: expected a file at {str(path)!r}")
    return path


def _jsonl(path: Path) -> Iterator[tuple[int, dict[str, object]]]:
    with open(path, "rb") as fh:
        for lineno, raw in enumerate(fh, start=1):
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                raise DataError(
                    f"{str(path)!r} line {lineno}: not UTF-8 (byte {exc.start}: {exc.reason})"
                ) from None
            if not line.strip():
                continue
            try:
                rec = json.loads(line)
            except json.JSONDecodeError as exc:
                raise DataError(
                    f"{str(path)!r} line {lineno}: not valid JSON ({exc.msg})"
                ) from None
            except RecursionError:
                raise DataError(
                    f"{str(path)!r} line {lineno}: JSON nested too deeply to read"
                ) from None
            if not isinstance(rec, dict):
                raise DataError(
                    f"{str(path)!r} line {lineno}: expected a JSON object, got {type(rec).__name__}"
                )
            yield lineno, rec


def _text_field(path: Path, lineno: int, rec: Mapping[str, object], key: str) -> str:
    """Return a record's text field: missing or null is empty, numbers become text."""
    value = rec.get(key)
    if value is None or value == "":
        return ""
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise DataError(
            f"{str(path)!r} line {lineno}: {key!r} must be a string, got {type(value).__name__}"
        )
    text = str(value)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise DataError(
            f"{str(path)!r} line {lineno}: {key!r} holds a lone surrogate (a \\ud800-style escape); "
            "expected valid Unicode text"
        ) from None
    return text


def _record_id(path: Path, lineno: int, rec: Mapping[str, object], what: str) -> str:
    """Return a record's ``_id`` (a non-empty string or an integer) as text."""
    if "_id" not in rec:
        raise DataError(f"{str(path)!r} line {lineno}: {what} lacks '_id'")
    value = rec["_id"]
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise DataError(
            f"{str(path)!r} line {lineno}: '_id' must be a string or an integer, "
            f"got {type(value).__name__}"
        )
    text = _text_field(path, lineno, rec, "_id")
    if not text.strip():
        raise DataError(f"{str(path)!r} line {lineno}: {what} has an empty '_id'")
    return text


def _plain_attribute(key: object, value: object) -> bool:
    """Tell whether a metadata entry is kept as an attribute (valid text key, finite plain value)."""
    if not isinstance(key, str) or not _utf8(key):
        return False
    if isinstance(value, str):
        return _utf8(value)
    if isinstance(value, float):
        return math.isfinite(value)
    return isinstance(value, (int, bool)) and abs(value) < 2**63


def _utf8(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


@dataclass(frozen=True)
class BeirDataset:
    """A BEIR-format data set.

    Attributes
    ----------
    name : str
        Folder name.
    catalog : Catalog
        Documents with fields ``title`` and ``body``.
    queries : dict of str to Query
        All queries by id.
    qrels : dict of str to dict of str to int
        ``qrels[query_id][doc_id] = relevance`` for the loaded split.
    split : str
        The split loaded.
    """

    name: str
    catalog: Catalog
    queries: dict[str, Query]
    qrels: Qrels
    split: str

    def split_queries(self) -> list[Query]:
        """Return the queries judged in the loaded split, in id order (numeric ids numerically)."""
        ids = sorted(self.qrels, key=lambda q: (len(q), q))
        return [self.queries[q] for q in ids]


def judged_pairs(
    queries: Iterable[Query], qrels: Mapping[str, Mapping[str, int]]
) -> list[tuple[str, str]]:
    """Turn judgements into ``(query text, item id)`` training pairs (relevance > 0).

    Parameters
    ----------
    queries : iterable of Query
        Judged queries; each is looked up in ``qrels`` by id, else by text.
    qrels : Mapping
        ``qrels[query key][item id] = relevance``.

    Returns
    -------
    list of (str, str)
        One pair per relevant item, in query order.
    """
    out: list[tuple[str, str]] = []
    for q in queries:
        rel = qrels.get(q.id or q.text) or qrels.get(q.text) or {}
        out.extend((q.text, item_id) for item_id, grade in rel.items() if grade > 0)
    return out


def load_qrels(folder: str | os.PathLike[str], split: str) -> Qrels:
    """Read ``qrels/<split>.tsv`` of a BEIR folder.

    Parameters
    ----------
    folder : path-like
        The BEIR folder.
    split : str
        Split name, e.g. "train" or "test".

    Returns
    -------
    dict of str to dict of str to int
        ``qrels[query_id][doc_id] = grade``.
    """
    path = Path(folder) / "qrels" / f"{split}.tsv"
    if not path.is_file():
        qdir = Path(folder) / "qrels"
        have = sorted(p.stem for p in qdir.glob("*.tsv")) if qdir.is_dir() else []
        raise DataNotFoundError(
            f"BEIR qrels for split {split!r} not found at {str(path)!r}; available splits: {have}"
        )
    return _read_qrels(path)


def _read_qrels(path: Path) -> Qrels:
    qrels: Qrels = {}
    try:
        with open(path, encoding="utf-8", newline="") as fh:
            rows = csv.reader(fh, delimiter="\t")
            lineno = 0
            for lineno, row in enumerate(rows, start=1):
                if not row or (lineno == 1 and row[0] in ("query-id", "query_id", "qid")):
                    continue
                if len(row) < 3:
                    raise DataError(
                        f"{str(path)!r} line {lineno}: expected 3 tab-separated columns "
                        f"(query-id, corpus-id, score), got {len(row)}"
                    )
                score = _grade(row[2])
                if score is None:
                    raise DataError(
                        f"{str(path)!r} line {lineno}: score {row[2][:40]!r} is not a number "
                        f"(expected a finite grade in [{-_MAX_GRADE}, {_MAX_GRADE}])"
                    )
                qrels.setdefault(row[0], {})[row[1]] = score
    except UnicodeDecodeError as exc:
        raise DataError(f"{str(path)!r} is not UTF-8 ({exc.reason} at byte {exc.start})") from None
    except csv.Error as exc:
        raise DataError(f"{str(path)!r} line {lineno + 1}: not a readable TSV row ({exc})") from None
    return qrels


#: Largest relevance grade accepted (in absolute value).
_MAX_GRADE = 1_000_000


def _grade(text: str) -> int | None:
    """Return a qrels score as an int (``"1"``, ``"2.0"``), or None if not a finite grade in range."""
    try:
        value = float(text)
    except ValueError:
        return None
    if not math.isfinite(value) or abs(value) > _MAX_GRADE:
        return None
    return int(value)


def load_beir(folder: str | os.PathLike[str], *, split: str = "test") -> BeirDataset:
    """Load a BEIR folder: ``corpus.jsonl``, ``queries.jsonl`` and ``qrels/<split>.tsv``.

    Parameters
    ----------
    folder : path-like
        The data set folder.
    split : str
        Which qrels file to read (default "test").

    Returns
    -------
    BeirDataset
        Catalog, queries and judgements.
    """
    root = Path(folder)
    if not root.is_dir():
        raise DataNotFoundError(f"BEIR folder not found: {str(root)!r} does not exist")
    corpus_path = _need_file(root / "corpus.jsonl", "BEIR corpus")
    queries_path = _need_file(root / "queries.jsonl", "BEIR queries")
    qrels_path = root / "qrels" / f"{split}.tsv"
    qrels = load_qrels(root, split)
    items = []
    for lineno, rec in _jsonl(corpus_path):
        doc_id = _record_id(corpus_path, lineno, rec, "document")
        meta = rec.get("metadata")
        attributes = {
            k: v
            for k, v in (meta.items() if isinstance(meta, dict) else [])
            if _plain_attribute(k, v)
        }
        try:
            items.append(
                Item(
                    id=doc_id,
                    fields={
                        "title": _text_field(corpus_path, lineno, rec, "title"),
                        "body": _text_field(corpus_path, lineno, rec, "text"),
                    },
                    attributes=attributes,
                )
            )
        except InvalidInputError as exc:
            raise DataError(f"{str(corpus_path)!r} line {lineno}: {exc}") from None
    catalog = Catalog(items, name=root.name)  # DuplicateIdError names a repeated id
    queries: dict[str, Query] = {}
    for lineno, rec in _jsonl(queries_path):
        query_id = _record_id(queries_path, lineno, rec, "query")
        text = _text_field(queries_path, lineno, rec, "text")
        if not text.strip():
            raise DataError(
                f"{str(queries_path)!r} line {lineno}: query needs '_id' and non-empty 'text'"
            )
        try:
            queries[query_id] = Query(text, id=query_id)
        except InvalidInputError as exc:
            raise DataError(f"{str(queries_path)!r} line {lineno}: {exc}") from None
    missing = [q for q in qrels if q not in queries]
    if missing:
        raise DataError(
            f"{str(qrels_path)!r} judges queries missing from queries.jsonl: {missing[:5]}"
        )
    return BeirDataset(root.name, catalog, queries, qrels, split)


@dataclass(frozen=True)
class MusicDataset:
    """The CM100k music data.

    Attributes
    ----------
    catalog : Catalog
        Tracks with fields ``title`` and ``artist`` (attribute ``url``).
    ratings : pandas.DataFrame
        Columns ``user_id`` (str), ``item_id`` (str), ``rating`` (int 1-4), ``known`` (bool).
    """

    catalog: Catalog
    ratings: pd.DataFrame


def load_cm100k(folder: str | os.PathLike[str]) -> MusicDataset:
    """Load CM100k: ``items.txt`` (tracks) and ``ratings.txt`` (listener ratings).

    Parameters
    ----------
    folder : path-like
        The ``cm100k_music`` folder.

    Returns
    -------
    MusicDataset
        Catalog and ratings. A rating of a track missing from ``items.txt``
        raises :class:`DataError` naming its line.
    """
    root = Path(folder)
    if not root.is_dir():
        raise DataNotFoundError(f"CM100k folder not found: {str(root)!r} does not exist")
    items_path = _need_file(root / "items.txt", "CM100k track list")
    ratings_path = _need_file(root / "ratings.txt", "CM100k ratings")
    try:
        tracks = pd.read_csv(
            items_path, sep="\t", dtype=str, keep_default_na=False, quoting=csv.QUOTE_NONE
        )
    except (ValueError, pd.errors.ParserError) as exc:  # UnicodeDecodeError, EmptyDataError
        raise DataError(f"{str(items_path)!r} is malformed: {exc}") from None
    need = {"Item", "Title", "Artist"}
    if not need.issubset(tracks.columns):
        raise DataError(
            f"{str(items_path)!r} lacks columns {sorted(need - set(tracks.columns))}; "
            f"expected a header with {sorted(need)}"
        )
    try:
        catalog = Catalog(
            (
                Item(
                    id=str(row["Item"]),
                    fields={"title": str(row["Title"]), "artist": str(row["Artist"])},
                    attributes={"url": str(row["Url"])} if "Url" in row else {},
                )
                for row in tracks.to_dict("records")
            ),
            name="cm100k",
        )
    except InvalidInputError as exc:
        raise DataError(f"{str(items_path)!r}: {exc}") from None
    try:
        ratings = pd.read_csv(
            ratings_path,
            sep="\t",
            header=None,
            names=["user_id", "item_id", "rating", "known"],
            dtype={"user_id": "str", "item_id": "str", "rating": "int64", "known": "int64"},
        )
    except (ValueError, OverflowError, pd.errors.ParserError) as exc:
        raise DataError(
            f"{str(ratings_path)!r} is malformed: {exc}; expected 4 tab-separated integer columns "
            "(user, track, rating, known)"
        ) from None
    if not isinstance(ratings.index, pd.RangeIndex):  # pandas took the extra first column as index
        raise DataError(
            f"{str(ratings_path)!r} is malformed: a line has more than 4 tab-separated columns; "
            "expected 4 (user, track, rating, known)"
        )
    bad = ratings.index[~ratings["rating"].between(1, 4)].tolist()
    if bad:
        raise DataError(
            f"{str(ratings_path)!r}: ratings outside 1-4 on lines {[i + 1 for i in bad[:5]]}"
        )
    unknown = ratings.index[~ratings["item_id"].isin(set(catalog.ids))].tolist()
    if unknown:
        raise DataError(
            f"{str(ratings_path)!r}: tracks not in items.txt on lines {[i + 1 for i in unknown[:5]]}"
        )
    ratings["known"] = ratings["known"].astype(bool)
    return MusicDataset(catalog, ratings)


def load_trec_queries(path: str | os.PathLike[str]) -> pd.DataFrame:
    """Load TREC topic lists (``id:query`` or ``id:priority:query`` per line).

    Parameters
    ----------
    path : path-like
        One topics file, or a folder whose ``*.txt`` files are all read.

    Returns
    -------
    pandas.DataFrame
        Columns ``source`` (file name), ``id`` (str), ``priority`` (Int64, may be
        missing) and ``query`` (str), in file order.
    """
    p = Path(path)
    if p.is_dir():
        files = sorted(p.glob("*.txt"))
        if not files:
            raise DataNotFoundError(f"no TREC topic files (*.txt) in {str(p)!r}")
    elif p.is_file():
        files = [p]
    else:
        raise DataNotFoundError(f"TREC topics not found: {str(p)!r} does not exist")
    rows: list[tuple[str, str, int | None, str]] = []
    for f in files:
        with open(f, encoding="utf-8", errors="replace") as fh:
            for lineno, line in enumerate(fh, start=1):
                line = line.rstrip("\n")
                if not line.strip():
                    continue
                parts = line.split(":", 2)
                if len(parts) == 3 and parts[1].isascii() and parts[1].isdigit():
                    if len(parts[1]) > 9:
                        raise DataError(
                            f"{str(f)!r} line {lineno}: priority {parts[1][:20]!r} is too large "
                            "(expected at most 9 digits)"
                        )
                    qid, prio, text = parts[0], int(parts[1]), parts[2]
                elif len(parts) >= 2:
                    qid, prio, text = parts[0], None, line.split(":", 1)[1]
                else:
                    raise DataError(
                        f"{str(f)!r} line {lineno}: expected 'id:query', got {line[:60]!r}"
                    )
                if not qid.strip().isdigit():
                    raise DataError(f"{str(f)!r} line {lineno}: id {qid!r} is not a number")
                rows.append((f.name, qid.strip(), prio, text.strip()))
    df = pd.DataFrame(rows, columns=["source", "id", "priority", "query"])
    df["priority"] = df["priority"].astype("Int64")
    return df
