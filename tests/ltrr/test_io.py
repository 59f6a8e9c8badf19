from __future__ import annotations

import pytest

from ltrr.errors import CorruptModelError
from ltrr.io import atomic_dir, atomic_write_json, read_json


def test_atomic_dir_replaces_only_on_success(tmp_path):
    dest = tmp_path / "model"
    with atomic_dir(dest) as tmp:
        (tmp / "a.txt").write_text("v1")
    assert (dest / "a.txt").read_text() == "v1"
    with pytest.raises(RuntimeError), atomic_dir(dest) as tmp:
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
