from __future__ import annotations

import pytest

from ltrr.errors import CorruptModelError
from ltrr.io import atomic_dir, atomic_write_json, read_header, read_json, write_header


def test_atomic_dir_replaces_only_on_success(tmp_path):
    dest = tmp_path / "model"
    with atomic_dir(dest) as tmp:
        (tmp / "a.txt").write_text("v1")
    assert (dest / "a.txt").read_text() == "v1"
    with pytest.raises(RuntimeError, match="crash while saving"), atomic_dir(dest) as tmp:
        (tmp / "a.txt").write_text("v2-partial")
        raise RuntimeError("crash while saving")
    assert (dest / "a.txt").read_text() == "v1"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model"]  # no temporary left behind


def test_read_json_errors(tmp_path):
    with pytest.raises(CorruptModelError, match="is missing"):
        read_json(tmp_path / "none.json", what="params")
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(CorruptModelError, match="not valid JSON"):
        read_json(tmp_path / "bad.json")
    atomic_write_json(tmp_path / "ok.json", {"a": [1, 2]})
    assert read_json(tmp_path / "ok.json") == {"a": [1, 2]}


def test_header_round_trip_and_mismatches(tmp_path):
    path = tmp_path / "params.json"
    write_header(path, fmt="ltrr.x", version=2, cls_name="Thing", params={"a": 1}, depth=3)
    meta = read_header(path, fmt="ltrr.x", version=2, cls_name="Thing", what="thing")
    assert meta == {
        "format": "ltrr.x",
        "format_version": 2,
        "class": "Thing",
        "params": {"a": 1},
        "depth": 3,
    }
    with pytest.raises(CorruptModelError, match="does not describe a Other"):
        read_header(path, fmt="ltrr.x", version=2, cls_name="Other", what="thing")
    with pytest.raises(CorruptModelError, match="has format_version 2; this ltrr reads version 3"):
        read_header(path, fmt="ltrr.x", version=3, cls_name="Thing", what="thing")
