"""Bring your own data: read a catalog from JSON lines, CSV or Parquet, and save or load one as JSON lines."""

from __future__ import annotations

import codecs
import csv
import importlib
import math
import numbers
import os
import tempfile
from collections.abc import Generator, Iterator, Mapping, Sequence
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO, Literal

import orjson
from tqdm.auto import tqdm

from ltrr.catalog import AttributeValue, Catalog, Item
from ltrr.errors import (
    CorruptModelError,
    DataError,
    DataNotFoundError,
    InvalidInputError,
)
from ltrr.io import fsync_dir

__all__ = [
    "CATALOG_FORMAT",
    "CATALOG_FORMAT_VERSION",
    "CatalogFormatError",
    "IngestResult",
    "RowProblem",
    "load_catalog",
    "read_catalog",
    "save_catalog",
]

#: The ``"format"`` of the header line :func:`save_catalog` writes.
CATALOG_FORMAT = "ltrr.catalog"
#: The format version :func:`save_catalog` writes and :func:`load_catalog` reads.
CATALOG_FORMAT_VERSION = 1

_FORMATS = ("jsonl", "csv", "parquet")
_SUFFIXES = {".jsonl": "jsonl", ".ndjson": "jsonl", ".csv": "csv", ".parquet": "parquet"}
_ON_ERROR = ("fail", "skip")
_SHOWN_PROBLEMS = 20
#: Largest csv field accepted, in characters (the stdlib default is 131,072).
_CSV_FIELD_LIMIT = 64 * 1024 * 1024
_PARQUET_BATCH_ROWS = 4096
_ITEM_KEYS = ("id", "fields", "categories", "attributes", "popularity", "created_at", "updated_at")

# One raw row of a file: (1-based line or None, 0-based row index, the row's values or,
# when the row could not even be split into values, the reason).
_RawRow = tuple[int | None, int, dict[str, object] | str]


@dataclass(frozen=True, slots=True)
class RowProblem:
    """Why one row of a catalog file was not turned into an item.

    Parameters
    ----------
    file : str
        The file, as given to :func:`read_catalog`.
    line : int or None
        1-based line where the row starts (None for Parquet, which has no lines).
    row : int
        0-based index of the row among the file's data rows (blank lines and the
        csv header do not count).
    field : str or None
        The offending field, or None when the problem is not one field's.
    message : str
        What is wrong and what was expected.
    """

    file: str
    line: int | None
    row: int
    field: str | None
    message: str

    def __str__(self) -> str:
        where = (
            f"{self.file}:{self.line}" if self.line is not None else f"{self.file}: row {self.row}"
        )
        what = f"field {self.field!r}: {self.message}" if self.field is not None else self.message
        return f"{where}: {what}"


class CatalogFormatError(InvalidInputError, DataError):
    """A catalog file has bad rows, lacks a named column, or holds no items.

    Parameters
    ----------
    message : str
        The error message (it lists the first problems).
    problems : sequence of RowProblem, optional
        Every bad row found, in file order (empty for a file-level problem).
    """

    def __init__(self, message: str, problems: Sequence[RowProblem] = ()) -> None:
        super().__init__(message)
        self.problems: tuple[RowProblem, ...] = tuple(problems)


@dataclass(frozen=True, slots=True)
class IngestResult:
    """What :func:`read_catalog` read.

    Parameters
    ----------
    catalog : Catalog
        The items built from the good rows, in file order.
    problems : tuple of RowProblem
        One entry per skipped row, in file order (empty unless ``on_error="skip"``).
    rows_read : int
        Data rows read, good and bad: ``len(catalog) + skipped == rows_read``.
    """

    catalog: Catalog
    problems: tuple[RowProblem, ...]
    rows_read: int

    @property
    def skipped(self) -> int:
        """Number of bad rows left out of the catalog."""
        return len(self.problems)


@dataclass(frozen=True, slots=True)
class _Spec:
    id_field: str
    text_fields: tuple[str, ...]
    category_field: str | None
    popularity_field: str | None
    attribute_fields: tuple[str, ...]

    def columns(self) -> tuple[str, ...]:
        named = [self.id_field, *self.text_fields, self.category_field, self.popularity_field]
        named.extend(self.attribute_fields)
        return tuple(dict.fromkeys(c for c in named if c is not None))

    def optional(self) -> dict[str, str]:
        """Named non-text columns other than the id, each with the argument that named it."""
        out: dict[str, str] = {}
        if self.category_field is not None:
            out[self.category_field] = "category_field"
        if self.popularity_field is not None:
            out.setdefault(self.popularity_field, "popularity_field")
        for a in self.attribute_fields:
            out.setdefault(a, "attribute_fields")
        return out


class _BadField(Exception):
    def __init__(self, field: str | None, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


def read_catalog(
    path: str | os.PathLike[str],
    *,
    format: str | None = None,
    id_field: str = "id",
    text_fields: Sequence[str] = ("title", "body"),
    category_field: str | None = None,
    popularity_field: str | None = None,
    attribute_fields: Sequence[str] = (),
    on_error: Literal["fail", "skip"] = "fail",
    name: str | None = None,
    progress: bool = False,
) -> IngestResult:
    """Read a catalog from a JSON-lines, CSV or Parquet file.

    Each row becomes an :class:`~ltrr.catalog.Item`. Columns other than the
    named ones are ignored.

    Parameters
    ----------
    path : path-like
        The file.
    format : {"jsonl", "csv", "parquet"}, optional
        The file's format; by default inferred from the suffix (``.jsonl`` or
        ``.ndjson``, ``.csv``, ``.parquet``). JSON lines hold one object per
        line; csv files are UTF-8, comma-separated, with a header row.
    id_field : str
        Column of the item id: a non-empty string, or an integer (turned into
        its decimal string). Ids must be unique.
    text_fields : sequence of str
        Columns of the text fields, kept under the same names. Each is a string;
        a missing or null one counts as empty, but at least one must hold text.
    category_field : str, optional
        Column of the categories: a string (one category; in csv, ``"|"``
        separates several) or a list of strings.
    popularity_field : str, optional
        Column of the popularity: a finite number >= 0 (in csv, a number's
        text); a missing or empty one counts as 0.
    attribute_fields : sequence of str
        Columns kept as attributes: strings, numbers or booleans (csv cells stay
        strings). A missing, null or (in csv) empty one is left out.
    on_error : {"fail", "skip"}
        With ``"fail"`` any bad row raises after the whole file is read, listing
        the problems; with ``"skip"`` bad rows are left out and reported in
        :attr:`IngestResult.problems`.
    name : str, optional
        The catalog's name; by default the file name without its suffix.
    progress : bool
        Show a progress bar on rows.

    Returns
    -------
    IngestResult
        The catalog, the skipped rows' problems and the number of rows read.

    Notes
    -----
    Reading csv raises the process-wide :func:`csv.field_size_limit` to 64 MiB
    (when it is lower), so long text fields are accepted.

    Raises
    ------
    DataNotFoundError
        If ``path`` is not an existing file.
    InvalidInputError
        If an argument is not one of the accepted values.
    CatalogFormatError
        If a row is bad and ``on_error="fail"`` (``.problems`` holds every bad
        row), if a named column is missing from a csv header or Parquet schema
        or (JSON lines) from every row, if the file cannot be read as its
        format, or if it yields no items.
    """
    src = Path(path)
    fmt = _resolve_format(src, format)
    if on_error not in _ON_ERROR:
        raise InvalidInputError(f"on_error must be one of {_ON_ERROR}, got {on_error!r}")
    spec = _make_spec(id_field, text_fields, category_field, popularity_field, attribute_fields)
    if name is not None and (not isinstance(name, str) or not name):
        raise InvalidInputError(f"name must be a non-empty string or None, got {name!r}")
    if not src.exists():
        raise DataNotFoundError(f"catalog file not found: {str(src)!r} does not exist")
    if not src.is_file():
        raise DataNotFoundError(f"catalog file not found: {str(src)!r} is not a file")

    label = str(src)
    total: int | None = None
    rows: Generator[_RawRow, None, None]
    if fmt == "jsonl":
        rows = _jsonl_rows(src)
    elif fmt == "csv":
        rows = _csv_rows(src, spec)
    else:
        total, rows = _parquet_rows(src, spec)

    items: list[Item] = []
    problems: list[RowProblem] = []
    first_seen: dict[str, tuple[int | None, int]] = {}
    present: set[str] = set()
    optional = spec.optional()
    rows_read = 0
    split_categories = fmt == "csv"
    with (
        closing(rows),
        tqdm(
            total=total, desc=f"reading {src.name}", unit="row", disable=not progress, leave=False
        ) as bar,
    ):
        for line, row, values in rows:
            rows_read += 1
            bar.update()
            if isinstance(values, str):
                problems.append(RowProblem(label, line, row, None, values))
                continue
            if len(present) < len(optional):
                present.update(k for k in optional if values.get(k) is not None)
            try:
                item = _make_item(values, spec, csv_cells=split_categories)
            except _BadField as bad:
                problems.append(RowProblem(label, line, row, bad.field, bad.message))
                continue
            if item.id in first_seen:
                first_line, first_row = first_seen[item.id]
                where = f"line {first_line}" if first_line is not None else f"row {first_row}"
                problems.append(
                    RowProblem(
                        label,
                        line,
                        row,
                        spec.id_field,
                        f"duplicate id {item.id!r} (first on {where})",
                    )
                )
                continue
            first_seen[item.id] = (line, row)
            items.append(item)

    if problems and on_error == "fail":
        n = len(problems)
        raise CatalogFormatError(
            f"{n} bad row{'s' if n != 1 else ''} out of {rows_read} in {label!r}; fix them, "
            f"or pass on_error='skip' to keep the good rows. {_list_problems(problems)}",
            problems,
        )
    if not items:
        if rows_read == 0:
            raise CatalogFormatError(f"no items in {label!r}: the file holds no rows")
        raise CatalogFormatError(
            f"no items in {label!r}: all {rows_read} rows are bad. {_list_problems(problems)}",
            problems,
        )
    absent = [(col, arg) for col, arg in optional.items() if col not in present]
    if absent:
        named = ", ".join(f"{col!r} ({arg})" for col, arg in absent)
        raise CatalogFormatError(f"no row of {label!r} has a value for {named}; check the names")
    catalog = Catalog(items, name=name if name is not None else _stem(src))
    return IngestResult(catalog, tuple(problems), rows_read)


def save_catalog(catalog: Catalog, path: str | os.PathLike[str]) -> Path:
    """Write a catalog as JSON lines, atomically, for :func:`load_catalog`.

    The first line is a header (format, version, catalog name, number of items);
    then each item is one line holding all of its fields. The file is written
    to a temporary sibling, synced and renamed into place, so a crash leaves
    either the old file or the new one.

    Parameters
    ----------
    catalog : Catalog
        The catalog.
    path : path-like
        Destination file (e.g. ``model/catalog.jsonl``); missing parent folders
        are created.

    Returns
    -------
    Path
        The written file.

    Raises
    ------
    InvalidInputError
        If ``path`` is a folder, or an item holds a value JSON cannot carry
        exactly (a non-finite float, an attribute of another type).
    """
    dest = Path(path)
    if dest.is_dir():
        raise InvalidInputError(
            f"save_catalog needs a file path, got the folder {str(dest)!r} "
            "(e.g. pass folder/catalog.jsonl)"
        )
    dest.parent.mkdir(parents=True, exist_ok=True)
    header = {
        "format": CATALOG_FORMAT,
        "format_version": CATALOG_FORMAT_VERSION,
        "name": catalog.name,
        "n_items": len(catalog),
    }
    fd, tmp = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb", buffering=1 << 20) as fh:
            fh.write(orjson.dumps(header, option=orjson.OPT_APPEND_NEWLINE))
            for item in catalog:
                fh.write(_encode_item(item))
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, dest)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    fsync_dir(dest.parent)
    return dest


def load_catalog(path: str | os.PathLike[str]) -> Catalog:
    """Read a catalog written by :func:`save_catalog`.

    Parameters
    ----------
    path : path-like
        The file.

    Returns
    -------
    Catalog
        The same items, in the same order, under the same name.

    Raises
    ------
    CorruptModelError
        If the file is missing, is not a saved catalog of this format version,
        has a line that does not parse or does not describe an item (naming the
        file and the line), or holds another number of items than its header says.
    """
    src = Path(path)
    label = repr(str(src))
    try:
        fh = src.open("rb")
    except FileNotFoundError:
        raise CorruptModelError(f"catalog file {label} is missing") from None
    except OSError as exc:
        raise CorruptModelError(f"catalog file {label} cannot be read: {exc}") from None
    with fh:
        first = fh.readline()
        if not first:
            raise CorruptModelError(f"catalog file {label} is empty; expected a header line")
        header = _parse_saved_line(label, 1, first)
        got = (header.get("format"), header.get("format_version"))
        if got != (CATALOG_FORMAT, CATALOG_FORMAT_VERSION):
            raise CorruptModelError(
                f"{label} line 1: not a saved catalog of this version (format, format_version "
                f"= {got!r}; expected {(CATALOG_FORMAT, CATALOG_FORMAT_VERSION)!r})"
            )
        n_items, cat_name = header.get("n_items"), header.get("name")
        if not _is_int(n_items) or not isinstance(cat_name, str):
            raise CorruptModelError(
                f"{label} line 1: the header needs an integer 'n_items' and a string 'name'"
            )
        items = [
            _decode_item(label, lineno, _parse_saved_line(label, lineno, raw))
            for lineno, raw in enumerate(fh, start=2)
        ]
    if len(items) != n_items:
        raise CorruptModelError(
            f"catalog file {label} holds {len(items)} items but its header says {n_items}; "
            "the file is truncated or was edited"
        )
    try:
        return Catalog(items, name=cat_name)
    except InvalidInputError as exc:
        raise CorruptModelError(f"catalog file {label}: {exc}") from None


# --- reading rows -------------------------------------------------------------------------


def _resolve_format(path: Path, fmt: str | None) -> str:
    if fmt is None:
        suffix = path.suffix.lower()
        if suffix not in _SUFFIXES:
            raise InvalidInputError(
                f"cannot infer the format of {str(path)!r} from its suffix {suffix!r}; "
                f"name files {sorted(_SUFFIXES)} or pass format= one of {_FORMATS}"
            )
        return _SUFFIXES[suffix]
    if fmt not in _FORMATS:
        raise InvalidInputError(f"format must be one of {_FORMATS} or None, got {fmt!r}")
    return fmt


def _names(arg: str, value: Sequence[str], *, need_one: bool) -> tuple[str, ...]:
    names = (value,) if isinstance(value, str) else tuple(value)
    if need_one and not names:
        raise InvalidInputError(f"{arg} must name at least one column, got {value!r}")
    for n in names:
        if not isinstance(n, str) or not n:
            raise InvalidInputError(f"{arg} must hold non-empty strings, got {n!r} in {value!r}")
    return tuple(dict.fromkeys(names))


def _make_spec(
    id_field: str,
    text_fields: Sequence[str],
    category_field: str | None,
    popularity_field: str | None,
    attribute_fields: Sequence[str],
) -> _Spec:
    for arg, value in (
        ("id_field", id_field),
        ("category_field", category_field),
        ("popularity_field", popularity_field),
    ):
        if (value is not None or arg == "id_field") and (not isinstance(value, str) or not value):
            raise InvalidInputError(f"{arg} must be a non-empty string, got {value!r}")
    return _Spec(
        id_field=id_field,
        text_fields=_names("text_fields", text_fields, need_one=True),
        category_field=category_field,
        popularity_field=popularity_field,
        attribute_fields=_names("attribute_fields", attribute_fields, need_one=False),
    )


def _binary_lines(fh: BinaryIO) -> Iterator[tuple[int, bytes]]:
    """Yield (1-based line number, raw line) with a leading UTF-8 byte-order mark removed."""
    for lineno, raw in enumerate(fh, start=1):
        if lineno == 1 and raw.startswith(codecs.BOM_UTF8):
            raw = raw[len(codecs.BOM_UTF8) :]
        yield lineno, raw


def _utf8_problem(exc: UnicodeDecodeError) -> str:
    byte = exc.object[exc.start]
    return f"invalid UTF-8 (byte 0x{byte:02x} at column {exc.start + 1}); the file must be UTF-8"


def _jsonl_rows(path: Path) -> Generator[_RawRow, None, None]:
    row = 0
    with path.open("rb") as fh:
        for lineno, raw in _binary_lines(fh):
            if not raw.strip():
                continue
            values: dict[str, object] | str
            try:
                obj = orjson.loads(raw.decode("utf-8"))
            except UnicodeDecodeError as exc:
                values = _utf8_problem(exc)
            except orjson.JSONDecodeError as exc:
                values = f"invalid JSON ({exc})"
            else:
                values = (
                    obj
                    if isinstance(obj, dict)
                    else f"expected a JSON object, got {_json_kind(obj)}"
                )
            yield lineno, row, values
            row += 1


def _csv_rows(path: Path, spec: _Spec) -> Generator[_RawRow, None, None]:
    if csv.field_size_limit() < _CSV_FIELD_LIMIT:
        csv.field_size_limit(_CSV_FIELD_LIMIT)
    label = repr(str(path))
    bad_utf8: dict[int, str] = {}  # physical line -> problem, for lines not yet consumed

    def text_lines(fh: BinaryIO) -> Iterator[str]:
        for lineno, raw in _binary_lines(fh):
            try:
                yield raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                bad_utf8[lineno] = _utf8_problem(exc)
                yield raw.decode("utf-8", errors="replace")

    with path.open("rb") as fh:
        reader = csv.reader(text_lines(fh))
        header: list[str] = []
        try:
            while not header:
                header = [h.strip() for h in next(reader)]
                if header == [""]:
                    header = []
        except StopIteration:
            return
        except csv.Error as exc:
            raise CatalogFormatError(
                f"{label} line {reader.line_num}: the header row does not parse: {exc}"
            ) from None
        if bad_utf8:
            raise CatalogFormatError(f"{label}: header row: {next(iter(bad_utf8.values()))}")
        dupes = sorted({h for h in header if header.count(h) > 1})
        if dupes:
            raise CatalogFormatError(f"{label}: the header names columns {dupes} more than once")
        _check_columns(label, header, spec, what="header")
        prev = reader.line_num
        row = 0
        while True:
            start = prev + 1
            values: dict[str, object] | str
            try:
                cells = next(reader)
            except StopIteration:
                return
            except csv.Error as exc:
                values = f"row does not parse as csv: {exc}"
            else:
                if not cells or (len(cells) == 1 and not cells[0].strip() and len(header) > 1):
                    prev = reader.line_num
                    continue  # a blank line
                values = (
                    dict(zip(header, cells))
                    if len(cells) == len(header)
                    else f"{len(cells)} columns, expected {len(header)} as in the header"
                )
            prev = reader.line_num
            broken = [bad_utf8.pop(n) for n in sorted(bad_utf8) if n <= prev]
            if broken:
                values = broken[0]
            yield start, row, values
            row += 1


def _parquet_rows(path: Path, spec: _Spec) -> tuple[int, Generator[_RawRow, None, None]]:
    pa: Any = importlib.import_module("pyarrow")
    pq: Any = importlib.import_module("pyarrow.parquet")
    label = repr(str(path))
    try:
        pf = pq.ParquetFile(path)
    except (pa.ArrowException, OSError) as exc:
        raise CatalogFormatError(f"{label} is not a readable Parquet file: {exc}") from None
    try:
        names = [str(n) for n in pf.schema_arrow.names]
        _check_columns(label, names, spec, what="schema")
        total = int(pf.metadata.num_rows)
    except BaseException:
        pf.close()
        raise
    columns = [c for c in spec.columns() if c in names]

    def rows() -> Generator[_RawRow, None, None]:
        row = 0
        try:
            for batch in pf.iter_batches(batch_size=_PARQUET_BATCH_ROWS, columns=columns):
                for values in batch.to_pylist():
                    yield None, row, values
                    row += 1
        except (pa.ArrowException, OSError) as exc:
            raise CatalogFormatError(f"{label}: reading row {row} failed: {exc}") from None
        finally:
            pf.close()

    return total, rows()


def _check_columns(label: str, columns: Sequence[str], spec: _Spec, *, what: str) -> None:
    have = set(columns)
    if spec.id_field not in have:
        raise CatalogFormatError(
            f"{label} has no column {spec.id_field!r} (id_field); its {what} has {list(columns)}"
        )
    if not have.intersection(spec.text_fields):
        raise CatalogFormatError(
            f"{label} has none of the text columns {list(spec.text_fields)} (text_fields); "
            f"its {what} has {list(columns)}"
        )
    for col, arg in spec.optional().items():
        if col not in have:
            raise CatalogFormatError(
                f"{label} has no column {col!r} ({arg}); its {what} has {list(columns)}"
            )


# --- rows to items ------------------------------------------------------------------------


def _make_item(values: Mapping[str, object], spec: _Spec, *, csv_cells: bool) -> Item:
    """Build an item from one row's values, raising :class:`_BadField` on the first bad value."""
    raw_id = values.get(spec.id_field)
    if raw_id is None:
        raise _BadField(spec.id_field, "missing (expected a non-empty string)")
    if isinstance(raw_id, bool) or not isinstance(raw_id, (str, int)):
        raise _BadField(
            spec.id_field, f"got {_describe(raw_id)} (expected a non-empty string or an integer)"
        )
    item_id = str(raw_id)
    if not item_id.strip():
        raise _BadField(spec.id_field, "empty (expected a non-empty string)")

    fields: dict[str, str] = {}
    for name in spec.text_fields:
        text = values.get(name)
        if text is None:
            fields[name] = ""
        elif isinstance(text, str):
            fields[name] = text
        else:
            raise _BadField(name, f"got {_describe(text)} (expected a string)")
    if not any(t.strip() for t in fields.values()):
        raise _BadField(None, f"no text in fields {', '.join(spec.text_fields)}")

    categories: tuple[str, ...] = ()
    if spec.category_field is not None:
        categories = _categories(spec.category_field, values.get(spec.category_field), csv_cells)

    popularity = 0.0
    if spec.popularity_field is not None:
        popularity = _popularity(
            spec.popularity_field, values.get(spec.popularity_field), csv_cells
        )

    attributes: dict[str, AttributeValue] = {}
    for name in spec.attribute_fields:
        value = values.get(name)
        if value is None or (csv_cells and value == ""):
            continue
        if isinstance(value, float) and not math.isfinite(value):
            raise _BadField(name, f"{value!r} is not finite (expected a finite number)")
        if not isinstance(value, (str, int, float, bool)):
            raise _BadField(
                name, f"got {_describe(value)} (expected a string, a number or a boolean)"
            )
        attributes[name] = value

    return Item(
        id=item_id,
        fields=fields,
        categories=categories,
        attributes=attributes,
        popularity=popularity,
    )


def _categories(name: str, value: object, csv_cells: bool) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        parts = [p.strip() for p in value.split("|")] if csv_cells else [value]
    elif isinstance(value, (list, tuple)):
        parts = []
        for i, part in enumerate(value):
            if not isinstance(part, str):
                raise _BadField(
                    name, f"element {i} is {_describe(part)} (expected a list of strings)"
                )
            parts.append(part)
    else:
        raise _BadField(name, f"got {_describe(value)} (expected a string or a list of strings)")
    return tuple(dict.fromkeys(p for p in parts if p.strip()))


def _popularity(name: str, value: object, csv_cells: bool) -> float:
    expected = "expected a finite number >= 0"
    if value is None or (csv_cells and isinstance(value, str) and not value.strip()):
        return 0.0
    if csv_cells and isinstance(value, str):
        try:
            number = float(value)
        except ValueError:
            raise _BadField(name, f"{_short(value)} is not a number ({expected})") from None
    elif isinstance(value, bool) or not isinstance(value, (int, float)):
        raise _BadField(name, f"got {_describe(value)} ({expected})")
    else:
        try:
            number = float(value)
        except OverflowError:
            raise _BadField(name, f"{_short(value)} is too large ({expected})") from None
    if not math.isfinite(number):
        raise _BadField(name, f"{_short(value)} is not finite ({expected})")
    if number < 0:
        raise _BadField(name, f"{_short(value)} is negative ({expected})")
    return number


def _short(value: object, limit: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _describe(value: object) -> str:
    return f"{type(value).__name__} {_short(value)}"


def _json_kind(value: object) -> str:
    kinds: list[tuple[type, str]] = [
        (list, "an array"),
        (str, "a string"),
        (bool, "a boolean"),
        (int, "a number"),
        (float, "a number"),
    ]
    for cls, kind in kinds:
        if isinstance(value, cls):
            return kind
    return "null" if value is None else type(value).__name__


def _list_problems(problems: Sequence[RowProblem]) -> str:
    shown = problems[:_SHOWN_PROBLEMS]
    lines = [f"The first {len(shown)}:" if len(problems) > len(shown) else "Problems:"]
    lines.extend(f"  {p}" for p in shown)
    if len(problems) > len(shown):
        lines.append(f"  ... and {len(problems) - len(shown)} more (see .problems)")
    return "\n".join(lines)


def _stem(path: Path) -> str:
    return path.stem or path.name


# --- saving and loading -------------------------------------------------------------------


def _plain_attribute(item_id: str, name: str, value: object) -> AttributeValue:
    if isinstance(value, bool):
        return bool(value)
    if isinstance(value, str):
        return str(value)
    if isinstance(value, numbers.Integral):
        return int(value)
    if isinstance(value, numbers.Real):
        number = float(value)
        if math.isfinite(number):
            return number
    raise InvalidInputError(
        f"cannot save item {item_id!r}: attribute {name!r} is {_describe(value)}; "
        "expected a string, an integer, a finite float or a boolean"
    )


def _plain_time(item_id: str, name: str, value: float | None) -> float | None:
    if value is None:
        return None
    number = float(value)
    if not math.isfinite(number):
        raise InvalidInputError(f"cannot save item {item_id!r}: {name} is {value!r}, not finite")
    return number


def _encode_item(item: Item) -> bytes:
    record = {
        "id": item.id,
        "fields": dict(item.fields),
        "categories": list(item.categories),
        "attributes": {k: _plain_attribute(item.id, k, v) for k, v in item.attributes.items()},
        "popularity": float(item.popularity),
        "created_at": _plain_time(item.id, "created_at", item.created_at),
        "updated_at": _plain_time(item.id, "updated_at", item.updated_at),
    }
    try:
        return orjson.dumps(record, option=orjson.OPT_APPEND_NEWLINE)
    except orjson.JSONEncodeError as exc:
        raise InvalidInputError(f"cannot save item {item.id!r}: {exc}") from None


def _parse_saved_line(label: str, lineno: int, raw: bytes) -> dict[str, Any]:
    try:
        obj = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise CorruptModelError(
            f"catalog file {label} line {lineno} is not valid JSON ({exc}); "
            "the file is corrupt or truncated"
        ) from None
    if not isinstance(obj, dict):
        raise CorruptModelError(
            f"catalog file {label} line {lineno}: expected a JSON object, got {_json_kind(obj)}"
        )
    return obj


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _decode_item(label: str, lineno: int, rec: dict[str, Any]) -> Item:
    def corrupt(what: str) -> CorruptModelError:
        return CorruptModelError(f"catalog file {label} line {lineno}: {what}")

    if tuple(sorted(rec)) != tuple(sorted(_ITEM_KEYS)):
        raise corrupt(f"keys {sorted(rec)}, expected {sorted(_ITEM_KEYS)}")
    fields, categories, attributes = rec["fields"], rec["categories"], rec["attributes"]
    if not isinstance(fields, dict) or not all(isinstance(v, str) for v in fields.values()):
        raise corrupt("'fields' must be an object of strings")
    if not isinstance(categories, list) or not all(isinstance(c, str) for c in categories):
        raise corrupt("'categories' must be a list of strings")
    if not isinstance(attributes, dict) or not all(
        isinstance(v, (str, int, float, bool)) for v in attributes.values()
    ):
        raise corrupt("'attributes' must be an object of strings, numbers and booleans")
    if not _is_number(rec["popularity"]):
        raise corrupt(f"'popularity' must be a number, got {_short(rec['popularity'])}")
    for key in ("created_at", "updated_at"):
        if rec[key] is not None and not _is_number(rec[key]):
            raise corrupt(f"{key!r} must be a number or null, got {_short(rec[key])}")
    try:
        return Item(
            id=rec["id"],
            fields=fields,
            categories=tuple(categories),
            attributes=attributes,
            popularity=rec["popularity"],
            created_at=rec["created_at"],
            updated_at=rec["updated_at"],
        )
    except InvalidInputError as exc:
        raise corrupt(str(exc)) from None
