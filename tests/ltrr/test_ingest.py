from __future__ import annotations

import csv
import json
import re

import orjson
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from ltrr.catalog import Catalog, Item
from ltrr.errors import (
    CorruptModelError,
    DataError,
    DataNotFoundError,
    InvalidInputError,
)
from ltrr.ingest import (
    CatalogFormatError,
    IngestResult,
    RowProblem,
    load_catalog,
    read_catalog,
    save_catalog,
)

GOOD_ROWS = [
    {
        "id": "a1",
        "title": "Dune",
        "body": "Spice and sand.",
        "cat": "scifi",
        "pop": 3,
        "year": 1965,
    },
    {"id": 2, "title": "Emma", "cat": ["romance", "classic"], "pop": 0.5, "year": 1815},
    {"id": "c3", "title": "", "body": "Only a body.", "year": 2001, "hardcover": True},
]


def write_jsonl(path, rows):
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), "utf-8")
    return path


def write_csv(path, header, rows):
    with path.open("w", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(header)
        w.writerows(rows)
    return path


def read_jsonl_lines(tmp_path, *lines: str | bytes, **kw):
    path = tmp_path / "catalog.jsonl"
    path.write_bytes(b"".join((ln.encode() if isinstance(ln, str) else ln) + b"\n" for ln in lines))
    return read_catalog(path, **kw)


# --- good rows, every format --------------------------------------------------------------


def test_jsonl_good_rows(tmp_path):
    path = write_jsonl(tmp_path / "books.jsonl", GOOD_ROWS)
    res = read_catalog(
        path, category_field="cat", popularity_field="pop", attribute_fields=("year", "hardcover")
    )
    assert isinstance(res, IngestResult)
    assert (res.rows_read, res.skipped, res.problems) == (3, 0, ())
    cat = res.catalog
    assert cat.name == "books" and cat.ids == ("a1", "2", "c3")
    assert cat["a1"] == Item(
        "a1",
        {"title": "Dune", "body": "Spice and sand."},
        categories=("scifi",),
        attributes={"year": 1965},
        popularity=3.0,
    )
    assert cat["2"].fields == {"title": "Emma", "body": ""}  # a missing text field is empty
    assert cat["2"].categories == ("romance", "classic")
    assert cat["c3"].attributes == {"year": 2001, "hardcover": True}
    assert cat["c3"].popularity == 0.0 and cat["c3"].categories == ()
    assert cat.field_names == ("title", "body")


def test_csv_good_rows(tmp_path):
    path = write_csv(
        tmp_path / "books.csv",
        ["id", "title", "body", "cat", "pop", "year", "extra"],
        [
            ["a1", "Dune", "Spice, and\nsand.", "scifi | classic", "3", "1965", "x"],
            ["2", "Emma", "", "", "", "", "y"],
        ],
    )
    res = read_catalog(
        path, category_field="cat", popularity_field="pop", attribute_fields=["year"], name="mine"
    )
    cat = res.catalog
    assert cat.name == "mine" and cat.ids == ("a1", "2") and res.rows_read == 2
    assert cat["a1"].fields["body"] == "Spice, and\nsand."
    assert cat["a1"].categories == ("scifi", "classic")
    assert cat["a1"].popularity == 3.0 and cat["a1"].attributes == {"year": "1965"}
    assert cat["2"].categories == () and cat["2"].popularity == 0.0 and cat["2"].attributes == {}


def test_csv_with_byte_order_mark_and_blank_lines(tmp_path):
    path = tmp_path / "c.csv"
    path.write_bytes(b"\xef\xbb\xbfid,title\r\na,Alpha\r\n\r\nb,Beta\r\n")
    res = read_catalog(path)
    assert res.catalog.ids == ("a", "b") and res.rows_read == 2


def test_parquet_good_rows_with_list_category_column(tmp_path):
    path = tmp_path / "books.parquet"
    table = pa.table(
        {
            "id": pa.array([1, 2, 3], pa.int64()),
            "title": ["Dune", "Emma", None],
            "body": [None, "A novel.", "Only a body."],
            "cats": pa.array([["scifi", "classic"], [], None], pa.list_(pa.string())),
            "pop": [1.5, 0.0, None],
            "year": [1965, 1815, None],
            "unused": ["u", "v", "w"],
        }
    )
    pq.write_table(table, path, row_group_size=2)
    res = read_catalog(
        path, category_field="cats", popularity_field="pop", attribute_fields=["year"]
    )
    cat = res.catalog
    assert cat.ids == ("1", "2", "3") and res.rows_read == 3
    assert cat["1"].categories == ("scifi", "classic") and cat["1"].popularity == 1.5
    assert cat["1"].fields == {"title": "Dune", "body": ""}
    assert cat["2"].categories == () and cat["3"].categories == ()
    assert cat["1"].attributes == {"year": 1965} and cat["3"].attributes == {}


def test_parquet_bad_row_reported_by_row_index(tmp_path):
    path = tmp_path / "p.parquet"
    pq.write_table(pa.table({"id": ["a", "a"], "title": ["x", "y"]}), path)
    with pytest.raises(
        CatalogFormatError, match=re.escape("p.parquet: row 1: field 'id': duplicate")
    ):
        read_catalog(path)
    res = read_catalog(path, on_error="skip")
    assert res.problems[0].line is None and res.problems[0].row == 1
    assert "first on row 0" in res.problems[0].message


def test_progress_bar(tmp_path):
    path = write_jsonl(tmp_path / "c.jsonl", GOOD_ROWS)
    assert len(read_catalog(path, progress=True).catalog) == 3


# --- bad rows -----------------------------------------------------------------------------

BAD_JSONL = [
    ('{"title": "no id"}', "field 'id': missing (expected a non-empty string)"),
    ('{"id": "", "title": "x"}', "field 'id': empty"),
    ('{"id": 1.5, "title": "x"}', "field 'id': got float 1.5"),
    ('{"id": "a", "title": "dup"}', "field 'id': duplicate id 'a' (first on line 1)"),
    ('{"id": "b", "title": 42}', "field 'title': got int 42 (expected a string)"),
    ('{"id": "b", "title": "x", "pop": "abc"}', "field 'pop': got str 'abc'"),
    ('{"id": "b", "title": "x", "pop": -1}', "field 'pop': -1 is negative"),
    ('{"id": "b", "title": "x", "pop": true}', "field 'pop': got bool True"),
    ('{"id": "b", "title": "x", "cat": 7}', "field 'cat': got int 7"),
    ('{"id": "b", "title": "x", "cat": ["a", 1]}', "field 'cat': element 1 is int"),
    ('{"id": "b", "title": "x", "year": [1]}', "field 'year': got list [1]"),
    ('{"id": "b", "title": "", "body": "  "}', "no text in fields title, body"),
    ('{"id": "b"}', "no text in fields title, body"),
    ('{"id": "b", "title": "x"', "invalid JSON"),
    ('["b", "x"]', "expected a JSON object, got an array"),
    ("42", "expected a JSON object, got a number"),
    (b'{"id": "b", "title": "caf\xe9"}', "invalid UTF-8 (byte 0xe9 at column 26)"),
]


@pytest.mark.parametrize(("line", "message"), BAD_JSONL, ids=[m for _, m in BAD_JSONL])
def test_bad_jsonl_row_names_file_line_and_field(tmp_path, line, message):
    kw = {"category_field": "cat", "popularity_field": "pop", "attribute_fields": ["year"]}
    first = '{"id": "a", "title": "fine", "cat": "c", "pop": 1, "year": 2000}'
    with pytest.raises(CatalogFormatError, match=re.escape(f"catalog.jsonl:2: {message}")) as info:
        read_jsonl_lines(tmp_path, first, line, **kw)
    err = info.value
    assert isinstance(err, InvalidInputError) and isinstance(err, DataError)
    assert "1 bad row out of 2" in str(err) and "on_error='skip'" in str(err)
    assert len(err.problems) == 1
    problem = err.problems[0]
    assert (problem.line, problem.row) == (2, 1)
    assert str(problem).endswith(message) or message in str(problem)


BAD_CSV = [
    (["", "x", "1"], "field 'id': empty (expected a non-empty string)"),
    (["a", "dup", "1"], "field 'id': duplicate id 'a' (first on line 2)"),
    (["b", "x", "abc"], "field 'pop': 'abc' is not a number"),
    (["b", "x", "-1"], "field 'pop': '-1' is negative"),
    (["b", "x", "nan"], "field 'pop': 'nan' is not finite"),
    (["b", "x", "inf"], "field 'pop': 'inf' is not finite"),
    (["b", "x", "1", "extra"], "4 columns, expected 3 as in the header"),
    (["b", "x"], "2 columns, expected 3 as in the header"),
    (["b", " ", "1"], "no text in fields title"),
]


@pytest.mark.parametrize(("cells", "message"), BAD_CSV, ids=[m for _, m in BAD_CSV])
def test_bad_csv_row_names_file_line_and_field(tmp_path, cells, message):
    path = write_csv(tmp_path / "catalog.csv", ["id", "title", "pop"], [["a", "ok", "2"], cells])
    with pytest.raises(CatalogFormatError, match=re.escape(f"catalog.csv:3: {message}")):
        read_catalog(path, text_fields=["title"], popularity_field="pop")


def test_csv_invalid_utf8_row_is_bad_and_later_rows_are_read(tmp_path):
    path = tmp_path / "catalog.csv"
    path.write_bytes(b'id,title\na,"multi\nline"\nb,caf\xe9\nc,fine\n')
    with pytest.raises(CatalogFormatError, match=re.escape("catalog.csv:4: invalid UTF-8")):
        read_catalog(path, text_fields=["title"])
    res = read_catalog(path, text_fields=["title"], on_error="skip")
    assert res.catalog.ids == ("a", "c") and res.catalog["a"].fields["title"] == "multi\nline"
    assert [(p.line, p.row) for p in res.problems] == [(4, 1)]


def test_csv_line_numbers_follow_multiline_fields(tmp_path):
    path = write_csv(
        tmp_path / "catalog.csv", ["id", "title"], [["a", "one\ntwo\nthree"], ["", "x"]]
    )
    with pytest.raises(CatalogFormatError, match=re.escape("catalog.csv:5: field 'id'")):
        read_catalog(path)


def test_skip_keeps_good_rows_and_reports_each_bad_one(tmp_path):
    res = read_jsonl_lines(
        tmp_path,
        '{"id": "a", "title": "A"}',
        "not json",
        "",
        '{"id": "b", "title": "B"}',
        '{"title": "no id"}',
        '{"id": "a", "title": "again"}',
        '{"id": "c", "title": "C"}',
        on_error="skip",
    )
    assert res.catalog.ids == ("a", "b", "c")
    assert res.rows_read == 6 and res.skipped == 3
    assert len(res.catalog) + res.skipped == res.rows_read
    assert [(p.line, p.row, p.field) for p in res.problems] == [
        (2, 1, None),
        (5, 3, "id"),
        (6, 4, "id"),
    ]
    assert all(isinstance(p, RowProblem) for p in res.problems)
    assert str(res.problems[1]).endswith(
        "catalog.jsonl:5: field 'id': missing (expected a non-empty string)"
    )


def test_fail_lists_only_the_first_twenty_problems(tmp_path):
    lines = ['{"id": "ok", "title": "fine"}'] + [f'{{"id": "x{i}"}}' for i in range(25)]
    with pytest.raises(CatalogFormatError) as info:
        read_jsonl_lines(tmp_path, *lines)
    msg = str(info.value)
    assert "25 bad rows out of 26" in msg and "The first 20:" in msg and "... and 5 more" in msg
    assert "catalog.jsonl:21:" in msg and "catalog.jsonl:22:" not in msg
    assert len(info.value.problems) == 25


def test_no_items(tmp_path):
    empty = tmp_path / "empty.jsonl"
    empty.write_bytes(b"\n\n")
    with pytest.raises(CatalogFormatError, match=r"no items in .*empty\.jsonl.*holds no rows"):
        read_catalog(empty)
    header_only = write_csv(tmp_path / "h.csv", ["id", "title"], [])
    with pytest.raises(CatalogFormatError, match="no items in"):
        read_catalog(header_only)
    (tmp_path / "nothing.csv").write_bytes(b"")
    with pytest.raises(CatalogFormatError, match="no items in"):
        read_catalog(tmp_path / "nothing.csv")
    with pytest.raises(CatalogFormatError, match=r"no items in .*all 2 rows are bad") as info:
        read_jsonl_lines(tmp_path, "[]", '{"id": "a"}', on_error="skip")
    assert len(info.value.problems) == 2


def test_missing_columns_are_file_level_errors(tmp_path):
    path = write_csv(tmp_path / "c.csv", ["key", "title"], [["a", "A"]])
    with pytest.raises(
        CatalogFormatError, match=r"no column 'id' \(id_field\).*\['key', 'title'\]"
    ):
        read_catalog(path)
    with pytest.raises(CatalogFormatError, match=r"none of the text columns \['name'\]"):
        read_catalog(path, id_field="key", text_fields=["name"])
    with pytest.raises(CatalogFormatError, match=r"no column 'genre' \(category_field\)"):
        read_catalog(path, id_field="key", category_field="genre")
    pq.write_table(pa.table({"id": ["a"], "title": ["A"]}), tmp_path / "p.parquet")
    with pytest.raises(CatalogFormatError, match=r"no column 'pop' \(popularity_field\)"):
        read_catalog(tmp_path / "p.parquet", popularity_field="pop")
    jl = write_jsonl(tmp_path / "j.jsonl", [{"id": "a", "title": "A"}])
    with pytest.raises(
        CatalogFormatError, match=r"no row .* has a value for 'yeer' \(attribute_fields\)"
    ):
        read_catalog(jl, attribute_fields=["yeer"])


def test_csv_duplicate_header_columns(tmp_path):
    path = write_csv(tmp_path / "c.csv", ["id", "title", "title"], [["a", "A", "B"]])
    with pytest.raises(CatalogFormatError, match=r"names columns \['title'\] more than once"):
        read_catalog(path)


def test_csv_field_of_200k_characters(tmp_path):
    long_text = "word " * 40_000
    path = write_csv(tmp_path / "big.csv", ["id", "title", "body"], [["a", "T", long_text]])
    assert len(long_text) == 200_000
    assert read_catalog(path).catalog["a"].fields["body"] == long_text


def test_not_a_parquet_file(tmp_path):
    path = tmp_path / "fake.parquet"
    path.write_bytes(b"not parquet at all")
    with pytest.raises(CatalogFormatError, match="not a readable Parquet file"):
        read_catalog(path)


# --- arguments, format inference, missing file --------------------------------------------


@pytest.mark.parametrize(
    ("suffix", "fmt"),
    [(".jsonl", "jsonl"), (".ndjson", "jsonl"), (".CSV", "csv"), (".parquet", "parquet")],
)
def test_format_inferred_from_suffix(tmp_path, suffix, fmt):
    path = tmp_path / f"items{suffix}"
    if fmt == "jsonl":
        write_jsonl(path, [{"id": "a", "title": "A"}])
    elif fmt == "csv":
        write_csv(path, ["id", "title"], [["a", "A"]])
    else:
        pq.write_table(pa.table({"id": ["a"], "title": ["A"]}), path)
    assert read_catalog(path).catalog.ids == ("a",)


def test_explicit_format_overrides_suffix(tmp_path):
    path = write_jsonl(tmp_path / "items.txt", [{"id": "a", "title": "A"}])
    with pytest.raises(InvalidInputError, match=r"cannot infer the format .*items.txt.*'\.txt'"):
        read_catalog(path)
    assert read_catalog(path, format="jsonl").catalog.ids == ("a",)


def test_unknown_format_and_bad_arguments(tmp_path):
    path = write_jsonl(tmp_path / "c.jsonl", [{"id": "a", "title": "A"}])
    with pytest.raises(InvalidInputError, match=r"format must be one of .* got 'xml'"):
        read_catalog(path, format="xml")
    with pytest.raises(InvalidInputError, match=r"on_error must be one of .* got 'ignore'"):
        read_catalog(path, on_error="ignore")  # type: ignore[arg-type]
    with pytest.raises(InvalidInputError, match="text_fields must name at least one column"):
        read_catalog(path, text_fields=())
    with pytest.raises(InvalidInputError, match="id_field must be a non-empty string"):
        read_catalog(path, id_field="")
    assert read_catalog(path, text_fields="title").catalog["a"].fields == {"title": "A"}


def test_missing_file_names_the_path(tmp_path):
    missing = tmp_path / "nope.jsonl"
    with pytest.raises(DataNotFoundError, match=re.escape(str(missing))):
        read_catalog(missing)
    with pytest.raises(FileNotFoundError):
        read_catalog(missing)
    with pytest.raises(DataNotFoundError, match="is not a file"):
        read_catalog(tmp_path, format="csv")


# --- save and load ------------------------------------------------------------------------


def sample_catalog() -> Catalog:
    return Catalog(
        [
            Item(
                "é-1",
                {"title": "Ünïcödé ✓ 日本語", "body": 'quotes " and \\ and\nnewline'},
                categories=("a", "b"),
                attributes={"year": 1999, "score": 0.25, "flag": True, "lang": "fr", "zero": 0.0},
                popularity=12.5,
                created_at=1_700_000_000.123456,
                updated_at=None,
            ),
            Item(
                "2", {"title": "Two", "body": ""}, popularity=0.0, created_at=None, updated_at=3.0
            ),
            Item("emoji 🎉", {"title": "🎉", "body": "x"}, attributes={"flag": False}),
        ],
        name="my catalog",
    )


def test_save_load_round_trip(tmp_path):
    cat = sample_catalog()
    out = save_catalog(cat, tmp_path / "model" / "catalog.jsonl")
    assert out == tmp_path / "model" / "catalog.jsonl"
    assert sorted(p.name for p in out.parent.iterdir()) == ["catalog.jsonl"]  # no temporary left
    back = load_catalog(out)
    assert back.name == cat.name and back.ids == cat.ids
    for a, b in zip(cat, back, strict=True):
        assert a == b
        assert [type(v) for v in a.attributes.values()] == [type(v) for v in b.attributes.values()]
    lines = out.read_bytes().splitlines()
    assert len(lines) == 1 + len(cat)
    assert orjson.loads(lines[1])["fields"]["title"] == "Ünïcödé ✓ 日本語"


def test_save_replaces_atomically(tmp_path):
    path = tmp_path / "catalog.jsonl"
    save_catalog(sample_catalog(), path)
    save_catalog(Catalog([Item("only", {"title": "x"})]), path)
    assert load_catalog(path).ids == ("only",)
    bad = Catalog([Item("nan", {"title": "x"}, attributes={"v": float("nan")})])
    with pytest.raises(InvalidInputError, match="attribute 'v'"):
        save_catalog(bad, path)
    assert load_catalog(path).ids == ("only",)  # the old file is intact
    assert sorted(p.name for p in tmp_path.iterdir()) == ["catalog.jsonl"]


def test_round_trip_of_ingested_catalog(tmp_path):
    path = write_jsonl(tmp_path / "books.jsonl", GOOD_ROWS)
    cat = read_catalog(
        path, category_field="cat", popularity_field="pop", attribute_fields=["year"]
    ).catalog
    back = load_catalog(save_catalog(cat, tmp_path / "saved.jsonl"))
    assert list(back) == list(cat) and back.name == "books"


def test_load_truncated_or_corrupt_file_raises(tmp_path):
    path = save_catalog(sample_catalog(), tmp_path / "catalog.jsonl")
    data = path.read_bytes()
    lines = data.splitlines(keepends=True)

    cut = tmp_path / "cut.jsonl"
    cut.write_bytes(data[: len(data) - 20])
    with pytest.raises(CorruptModelError, match=r"cut\.jsonl' line 4 is not valid JSON"):
        load_catalog(cut)

    short = tmp_path / "short.jsonl"
    short.write_bytes(b"".join(lines[:-1]))
    with pytest.raises(
        CorruptModelError, match=r"holds 2 items but its header says 3; .*truncated"
    ):
        load_catalog(short)

    edited = tmp_path / "edited.jsonl"
    rec = orjson.loads(lines[2])
    rec["popularity"] = "lots"
    edited.write_bytes(lines[0] + lines[1] + orjson.dumps(rec) + b"\n" + lines[3])
    with pytest.raises(
        CorruptModelError, match=r"edited\.jsonl' line 3: 'popularity' must be a number"
    ):
        load_catalog(edited)

    neg = tmp_path / "neg.jsonl"
    rec["popularity"] = -2
    neg.write_bytes(lines[0] + orjson.dumps(rec) + b"\n")
    with pytest.raises(CorruptModelError, match=r"neg\.jsonl' line 2: .*popularity"):
        load_catalog(neg)

    dup = tmp_path / "dup.jsonl"
    dup.write_bytes(lines[0] + lines[1] + lines[1] + lines[2])
    with pytest.raises(CorruptModelError, match="duplicate item id"):
        load_catalog(dup)

    not_a_catalog = tmp_path / "other.jsonl"
    write_jsonl(not_a_catalog, [{"id": "a", "title": "A"}])
    with pytest.raises(CorruptModelError, match="line 1: not a saved catalog"):
        load_catalog(not_a_catalog)

    (tmp_path / "empty.jsonl").write_bytes(b"")
    with pytest.raises(CorruptModelError, match="is empty"):
        load_catalog(tmp_path / "empty.jsonl")
    with pytest.raises(CorruptModelError, match="is missing"):
        load_catalog(tmp_path / "absent.jsonl")
