"""The ONNX Runtime encoder backends: same vectors as torch, cached exports, corrupt files handled."""

from __future__ import annotations

import logging

import numpy as np
import pytest

pytest.importorskip("onnxruntime", reason="the ONNX backends need onnxruntime")
pytest.importorskip("onnx", reason="the ONNX backends need onnx")

from ltrr.errors import CorruptModelError, InvalidInputError
from strategies import (
    EmbeddingStrategy,
    onnx_encoder,
)
from strategies.encoder import Encoder
from tests.conftest import make_small_catalog

TEXTS = [
    "hello world",
    "automobile",
    "Vitamin D supplementation reduces the risk of fractures in elderly women.",
    "0-dimensional biomaterials show inductive properties.",
    "Ünïcödé façade — a test with accents",
    "word " * 400,  # truncated at the model's 256 word pieces, as torch does
]


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    return tmp_path_factory.mktemp("ltrr-cache")


@pytest.fixture(scope="module")
def torch_vectors():
    return Encoder(cache_dir=False).encode(TEXTS)


def _encoder(root, backend, **kw):
    return Encoder(cache_dir=False, backend=backend, export_dir=root / "onnx", **kw)


@pytest.fixture(scope="module")
def onnx_vectors(root):
    return _encoder(root, "onnx").encode(TEXTS)


def _cosines(a, b):
    return (a * b).sum(axis=1) / np.linalg.norm(a, axis=1) / np.linalg.norm(b, axis=1)


def test_onnx_vectors_equal_torch(onnx_vectors, torch_vectors):
    assert onnx_vectors.shape == torch_vectors.shape == (len(TEXTS), 384)
    np.testing.assert_allclose(np.linalg.norm(onnx_vectors, axis=1), 1.0, atol=1e-5)
    assert _cosines(onnx_vectors, torch_vectors).min() >= 0.9999
    np.testing.assert_allclose(onnx_vectors, torch_vectors, atol=1e-4)


def test_int8_vectors_close_to_torch(root, torch_vectors):
    int8 = _encoder(root, "onnx-int8").encode(TEXTS)
    cos = _cosines(int8, torch_vectors)
    # measured: mean 0.994 over these texts; the shortest texts are the furthest (~0.99)
    assert cos.mean() >= 0.99, cos
    assert cos.min() >= 0.98, cos
    assert not np.allclose(int8, torch_vectors, atol=1e-4)  # really quantised


def test_batches_and_order_do_not_change_vectors(root, onnx_vectors):
    enc = _encoder(root, "onnx", batch_size=2)
    reordered = enc.encode(TEXTS[::-1])[::-1]
    np.testing.assert_allclose(reordered, onnx_vectors, atol=1e-5)
    single = np.stack([enc.encode([t])[0] for t in TEXTS])
    np.testing.assert_allclose(single, onnx_vectors, atol=1e-5)


def test_second_build_reuses_the_export(root, onnx_vectors, monkeypatch):
    _encoder(root, "onnx").dim  # noqa: B018 - exported by the fixture already

    def no_export(*args, **kwargs):
        raise AssertionError("exported again although a verified export is cached")

    monkeypatch.setattr(onnx_encoder, "_export_float", no_export)
    monkeypatch.setattr(onnx_encoder, "_quantize", no_export)
    path = onnx_encoder.exported_model(
        Encoder(cache_dir=False).model_path,
        Encoder(cache_dir=False).fingerprint,
        "onnx",
        root / "onnx",
    )
    assert path.name == "model.onnx" and path.is_file()


def test_embedding_cache_is_per_backend_and_reused(root, monkeypatch):
    monkeypatch.setenv("LTRR_CACHE", str(root))
    catalog = make_small_catalog()
    cache = str(root / "embeddings")
    torch_key = Encoder(cache_dir=cache).model_key
    int8 = EmbeddingStrategy(cache_dir=cache, backend="onnx-int8").fit(catalog)
    assert int8.encoder.model_key == f"{torch_key}-onnx-int8"
    assert int8.encoder.n_encoded_ == len(catalog)
    assert int8.get_params()["backend"] == "onnx-int8"
    again = EmbeddingStrategy(cache_dir=cache, backend="onnx-int8").fit(catalog)
    assert again.encoder.n_encoded_ == 0 and again.encoder.n_cached_ == len(catalog)
    np.testing.assert_array_equal(again.vectors_, int8.vectors_)
    assert again.retrieve("automobile", k=1).item_ids == ["d3"]


def test_corrupt_export_is_named_and_exported_again(root, caplog):
    enc = _encoder(root, "onnx-int8")
    path = onnx_encoder.exported_model(enc.model_path, enc.fingerprint, "onnx-int8", root / "onnx")
    good = path.read_bytes()
    path.write_bytes(b"not an onnx graph")
    with pytest.raises(CorruptModelError, match=r"model-int8\.onnx.*cannot be loaded"):
        onnx_encoder.open_session(path, threads=1)
    with caplog.at_level(logging.WARNING, logger="strategies.onnx_encoder"):
        again = onnx_encoder.exported_model(
            enc.model_path, enc.fingerprint, "onnx-int8", root / "onnx"
        )
    assert again == path
    assert any(
        "model-int8.onnx" in r.getMessage() and "digest" in r.getMessage() for r in caplog.records
    )
    assert path.read_bytes() == good  # the quantisation is deterministic
    onnx_encoder.open_session(path, threads=1)


def test_missing_export_is_named(root):
    with pytest.raises(CorruptModelError, match=r"nowhere\.onnx.*missing"):
        onnx_encoder.open_session(root / "nowhere.onnx", threads=1)


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: Encoder(backend="tensorrt"), "backend must be one of"),
        (lambda: Encoder(backend="onnx", threads=0), "threads must be an integer >= 1"),
        (lambda: EmbeddingStrategy(backend="gpu"), "backend must be one of"),
        (lambda: EmbeddingStrategy(threads=-1), "threads must be an integer >= 1"),
    ],
)
def test_bad_backend_arguments(make, message):
    with pytest.raises(InvalidInputError, match=message):
        make()
