"""ltrr.io.read_arrays: NumPy files read without pickles, every parse failure a CorruptModelError."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest

from ltrr.errors import CorruptModelError
from ltrr.io import read_arrays


def _npy(path: Path, arr: np.ndarray) -> bytes:
    np.save(path, arr)
    return path.read_bytes()


def test_reads_npy_and_npz(tmp_path: Path):
    _npy(tmp_path / "a.npy", np.arange(3.0))
    np.testing.assert_array_equal(read_arrays(tmp_path / "a.npy")[""], [0.0, 1.0, 2.0])
    np.savez(tmp_path / "b.npz", x=np.ones(2), y=np.zeros(1))
    got = read_arrays(tmp_path / "b.npz", require=("x", "y"))
    assert sorted(got) == ["x", "y"] and got["x"].tolist() == [1.0, 1.0]


@pytest.mark.parametrize(
    ("alter", "match"),
    [
        (
            lambda b: b.replace(b"{", b"\x00", 1),
            "popularity .* is unreadable",
        ),  # tokenize.TokenError
        (
            lambda b: b.replace(b"'descr'", b"'descr", 1),
            "popularity .* is unreadable",
        ),  # SyntaxError
        (lambda b: b[:20], "popularity .* is unreadable"),
        (lambda b: b"garbage", "popularity .* is unreadable"),
    ],
)
def test_altered_files_are_refused_naming_them(tmp_path: Path, alter, match):
    data = _npy(tmp_path / "p.npy", np.arange(5.0))
    (tmp_path / "p.npy").write_bytes(alter(data))
    with pytest.raises(CorruptModelError, match=match):
        read_arrays(tmp_path / "p.npy", what="popularity")


def test_pickled_object_arrays_are_refused(tmp_path: Path):
    buf = io.BytesIO()
    np.save(buf, np.array([{"a": 1}], dtype=object), allow_pickle=True)
    (tmp_path / "o.npy").write_bytes(buf.getvalue())
    with pytest.raises(CorruptModelError, match="is unreadable"):
        read_arrays(tmp_path / "o.npy")


def test_missing_file_and_missing_names(tmp_path: Path):
    with pytest.raises(CorruptModelError, match="is missing"):
        read_arrays(tmp_path / "none.npy", what="thing")
    np.savez(tmp_path / "b.npz", x=np.ones(2))
    with pytest.raises(CorruptModelError, match=r"lacks the arrays \['y'\]"):
        read_arrays(tmp_path / "b.npz", require=("x", "y"))
