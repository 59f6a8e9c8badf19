from __future__ import annotations

import json
from pathlib import Path

import pytest

from ltrr.data import load_beir, load_cm100k, load_trec_queries, resolve_data_dir
from ltrr.errors import DataError, DataNotFoundError, DuplicateIdError


def write_beir(
    root: Path, docs=None, queries=None, qrels="query-id\tcorpus-id\tscore\nq1\td1\t1\n"
) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    docs = (
        docs
        if docs is not None
        else [
            {"_id": "d1", "title": "Apple", "text": "A red fruit."},
            {"_id": "d2", "title": "Car", "text": "A fast vehicle."},
        ]
    )
    queries = (
        queries
        if queries is not None
        else [{"_id": "q1", "text": "red fruit"}, {"_id": "q2", "text": "car"}]
    )
    (root / "corpus.jsonl").write_text("".join(json.dumps(d) + "\n" for d in docs))
    (root / "queries.jsonl").write_text("".join(json.dumps(q) + "\n" for q in queries))
    (root / "qrels").mkdir(exist_ok=True)
    (root / "qrels" / "test.tsv").write_text(qrels)
    return root


def test_load_small_beir(tmp_path):
    ds = load_beir(write_beir(tmp_path / "mini"))
    assert ds.name == "mini"
    assert ds.catalog.ids == ("d1", "d2")
    assert ds.catalog["d1"].fields == {"title": "Apple", "body": "A red fruit."}
    assert ds.qrels == {"q1": {"d1": 1}}
    assert [q.id for q in ds.split_queries()] == ["q1"]


@pytest.mark.parametrize(
    ("mutate", "error", "match"),
    [
        (lambda r: (r / "corpus.jsonl").unlink(), DataNotFoundError, "BEIR corpus not found"),
        (
            lambda r: (r / "qrels" / "test.tsv").unlink(),
            DataNotFoundError,
            r"split 'test'.*available splits: \[\]",
        ),
        (
            lambda r: (r / "corpus.jsonl").write_text('{"_id": "d1"}\n{oops\n'),
            DataError,
            "line 2: not valid JSON",
        ),
        (
            lambda r: (r / "corpus.jsonl").write_text('{"title": "x"}\n'),
            DataError,
            "line 1: document lacks '_id'",
        ),
        (
            lambda r: (r / "corpus.jsonl").write_text('{"_id": "d1"}\n{"_id": "d1"}\n'),
            DuplicateIdError,
            "duplicate item id 'd1'",
        ),
        (
            lambda r: (r / "queries.jsonl").write_text('{"_id": "q1", "text": "  "}\n'),
            DataError,
            "non-empty 'text'",
        ),
        (
            lambda r: (r / "qrels" / "test.tsv").write_text("q1\td1\n"),
            DataError,
            "expected 3 tab-separated columns",
        ),
        (
            lambda r: (r / "qrels" / "test.tsv").write_text("q1\td1\thigh\n"),
            DataError,
            "score 'high' is not a number",
        ),
        (
            lambda r: (r / "qrels" / "test.tsv").write_text("q9\td1\t1\n"),
            DataError,
            r"missing from queries.jsonl: \['q9'\]",
        ),
    ],
)
def test_malformed_beir(tmp_path, mutate, error, match):
    root = write_beir(tmp_path / "bad")
    mutate(root)
    with pytest.raises(error, match=match):
        load_beir(root)


def test_missing_folder_messages(tmp_path, monkeypatch):
    with pytest.raises(DataNotFoundError, match="does not exist"):
        load_beir(tmp_path / "nope")
    monkeypatch.delenv("LTRR_DATA", raising=False)
    monkeypatch.chdir(tmp_path)
    with pytest.raises(DataNotFoundError, match=r"--data DIR or LTRR_DATA=DIR.*BEIR-format"):
        resolve_data_dir(None)
    monkeypatch.setenv("LTRR_DATA", str(tmp_path / "also-nope"))
    with pytest.raises(DataNotFoundError, match=r"from \$LTRR_DATA"):
        resolve_data_dir(None)


def test_resolve_prefers_dataset_subfolder(tmp_path):
    write_beir(tmp_path / "scifact")
    assert resolve_data_dir(tmp_path, dataset="scifact") == tmp_path / "scifact"
    assert resolve_data_dir(tmp_path / "scifact", dataset="scifact") == tmp_path / "scifact"


def test_scifact(scifact_dir):
    test = load_beir(scifact_dir, split="test")
    assert len(test.catalog) == 5183
    assert len(test.queries) == 1109
    assert len(test.qrels) == 300
    assert sum(len(v) for v in test.qrels.values()) == 339
    train = load_beir(scifact_dir, split="train")
    assert len(train.qrels) == 809
    assert not set(train.qrels) & set(test.qrels)


def test_cm100k(music_dir):
    music = load_cm100k(music_dir)
    assert len(music.catalog) == 1084
    assert set(music.catalog.field_names) == {"title", "artist"}
    assert len(music.ratings) == 103_584
    assert music.ratings["user_id"].nunique() == 1054
    assert music.ratings["rating"].between(1, 4).all()
    assert music.ratings["item_id"].isin(set(music.catalog.ids)).all()


def test_cm100k_malformed(tmp_path):
    (tmp_path / "items.txt").write_text("Item\tUrl\tTitle\tArtist\n1\tu\tSong\tSinger\n")
    (tmp_path / "ratings.txt").write_text("7\t1\t9\t0\n")
    with pytest.raises(DataError, match="ratings outside 1-4 on lines \\[1\\]"):
        load_cm100k(tmp_path)
    (tmp_path / "ratings.txt").write_text("7\t2\t3\t0\n")
    with pytest.raises(DataError, match=r"tracks not in items\.txt"):
        load_cm100k(tmp_path)
    (tmp_path / "items.txt").write_text("Id\tName\n1\tSong\n")
    with pytest.raises(DataError, match=r"lacks columns \['Artist', 'Item', 'Title'\]"):
        load_cm100k(tmp_path)


def test_trec_queries(tmp_path, data_root):
    df = load_trec_queries(data_root / "trec_queries")
    assert len(df) == 110_000
    assert df["query"].nunique() > 99_000
    assert df.loc[df["source"] == "topics.mq.20001-60000.txt", "priority"].notna().all()
    (tmp_path / "t.txt").write_text("1:hello world\n2:1:with: colon\nbroken line\n")
    with pytest.raises(DataError, match="line 3: expected 'id:query'"):
        load_trec_queries(tmp_path / "t.txt")


# ------------------------------------------------------- issue 19: hostile files raise DataError


@pytest.mark.parametrize(
    ("target", "content", "match"),
    [
        ("corpus.jsonl", b'{"_id": "d1", "title": "\xff\xfe"}\n', "line 1: not UTF-8"),
        ("corpus.jsonl", b"[" * 5000 + b"\n", "line 1: JSON nested too deeply"),
        ("corpus.jsonl", b'{"_id": "d1", "title": ["a"]}\n', "'title' must be a string"),
        ("corpus.jsonl", b'{"_id": "d1", "title": "\\ud800"}\n', "lone surrogate"),
        ("corpus.jsonl", b'{"_id": ["d1"]}\n', "'_id' must be a string or an integer"),
        ("corpus.jsonl", b'{"_id": ""}\n', "empty '_id'"),
        ("queries.jsonl", b'{"_id": "q1", "text": "x\\udfff"}\n', "lone surrogate"),
        ("queries.jsonl", b'{"_id": "q1", "text": "' + b"a" * 5000 + b'"}\n', "at most 4096"),
        ("qrels/test.tsv", b"q1\td1\tinf\n", "expected a finite grade"),
        ("qrels/test.tsv", b"q1\td1\t1e400\n", "expected a finite grade"),
        ("qrels/test.tsv", b"q1\td1\t\xff\n", "not UTF-8"),
        # over csv's field limit (131,072 unless read_catalog raised it for the process)
        ("qrels/test.tsv", b'q1\td1\t"' + b"a" * 140_000 + b'"\n', "readable TSV row|not a number"),
    ],
)
def test_hostile_beir_files_raise_data_error(tmp_path, target, content, match):
    root = write_beir(tmp_path / "mini")
    (root / target).write_bytes(content)
    with pytest.raises(DataError, match=match):
        load_beir(root)


def test_beir_metadata_keeps_only_plain_finite_values(tmp_path):
    docs = [{"_id": 7, "title": "A", "metadata": {"ok": 1, "nan": float("nan"), "big": 2**70, "l": [1]}}]
    root = write_beir(tmp_path / "mini", docs=docs, qrels="q1\t7\t1\n")
    ds = load_beir(root)
    assert dict(ds.catalog["7"].attributes) == {"ok": 1}


@pytest.mark.parametrize(
    ("items", "ratings", "match"),
    [
        (b"", b"u1\tt1\t2\t1\n", "items.txt' is malformed"),
        (b"Item\tTitle\tArtist\n\tA\tB\n", b"u1\tt1\t2\t1\n", "non-empty string"),
        (b"Item\tTitle\tArtist\nt1\tA\tB\n", b"u1\tt1\t" + b"9" * 30 + b"\t1\n", "malformed"),
        # a fifth column made pandas index by the first one: TypeError building the message
        (b"Item\tTitle\tArtist\nt1\tA\tB\n", b"u1\tt1\t2\t1\t1\n", "more than 4 tab-separated"),
    ],
)
def test_hostile_cm100k_files_raise_data_error(tmp_path, items, ratings, match):
    (tmp_path / "items.txt").write_bytes(items)
    (tmp_path / "ratings.txt").write_bytes(ratings)
    with pytest.raises(DataError, match=match):
        load_cm100k(tmp_path)


def test_trec_priority_must_be_ascii_digits(tmp_path):
    path = tmp_path / "topics.txt"
    path.write_text("1:\u00b2:a query\n")  # '²'.isdigit() is True, int('²') raises
    frame = load_trec_queries(path)
    assert frame["priority"].isna().all() and frame["query"].tolist() == ["\u00b2:a query"]


def test_trec_priority_too_large_for_the_column_is_a_data_error(tmp_path):
    path = tmp_path / "topics.txt"
    path.write_text("1:" + "9" * 30 + ":a query\n")  # pandas' Int64 raised OverflowError
    with pytest.raises(DataError, match=r"line 1: priority '9999.*too large"):
        load_trec_queries(path)
