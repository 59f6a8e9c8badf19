"""The ONNX Runtime encoder backend: a sentence-transformers folder exported once, offline, and cached.

:func:`exported_model` exports the packaged model (transformer, pooling and
normalisation in one graph) with ``torch.onnx.export``, fuses BERT's attention,
layer norms and GELUs with ONNX Runtime's transformer optimizer and, for
``"onnx-int8"``, quantises the weights with
``onnxruntime.quantization.quantize_dynamic`` (int8, per output channel). The files
live under ``$LTRR_CACHE/onnx/<model>-<fingerprint>/`` with a digest each, written
atomically; a file whose digest does not match is re-exported with a warning.
:class:`OnnxSentenceModel` runs such a file with the model's own fast tokenizer
(``tokenizer.json``). Nothing is downloaded and nothing global is changed: each
session gets its own thread settings.
"""

from __future__ import annotations

import hashlib
import importlib
import json
import logging
import os
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from ltrr.errors import CorruptModelError, UnknownNameError
from ltrr.io import atomic_write_json, fsync_dir, read_json
from ltrr.validation import check_int

__all__ = [
    "EXPORT_VERSION",
    "ONNX_BACKENDS",
    "OnnxSentenceModel",
    "exported_model",
    "onnx_available",
    "open_session",
]

log = logging.getLogger(__name__)

#: The ONNX backends by name: the exported float32 graph and its int8 quantisation.
ONNX_BACKENDS = ("onnx", "onnx-int8")
#: Bumped when the export recipe changes, so that older exports are not reused.
EXPORT_VERSION = 1
_FILES = {"onnx": "model.onnx", "onnx-int8": "model-int8.onnx"}
_INPUTS = ("input_ids", "attention_mask", "token_type_ids")


def onnx_available() -> bool:
    """Return whether ``onnxruntime`` and ``onnx`` can be imported.

    Returns
    -------
    bool
        True when the ONNX backends can run.
    """
    try:
        importlib.import_module("onnxruntime")
        importlib.import_module("onnx")
    except ImportError:
        return False
    return True


def _ort() -> Any:
    try:
        return importlib.import_module("onnxruntime")
    except ImportError:
        raise UnknownNameError(
            "the encoder backends 'onnx' and 'onnx-int8' need the packages onnxruntime and onnx; "
            "install them or use backend='torch'"
        ) from None


def _digest(path: Path) -> str:
    h = hashlib.blake2b(digest_size=16)
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _replace_atomically(tmp: Path, dest: Path) -> None:
    with open(tmp, "rb+") as fh:
        os.fsync(fh.fileno())
    os.replace(tmp, dest)
    fsync_dir(dest.parent)


def _verified(path: Path) -> bool:
    """Whether ``path`` exists and matches the digest recorded beside it (warns when not)."""
    sidecar = path.with_name(path.name + ".json")
    if not path.is_file() and not sidecar.is_file():
        return False
    try:
        meta = read_json(sidecar, what="ONNX export record", mapping=True)
        if not path.is_file():
            raise CorruptModelError(f"exported model {str(path)!r} is missing")
        if meta.get("digest") != _digest(path):
            raise CorruptModelError(
                f"exported model {str(path)!r} does not match its recorded digest"
            )
    except CorruptModelError as exc:
        log.warning("%s; exporting it again", exc)
        return False
    return True


def _record(path: Path, **meta: Any) -> None:
    atomic_write_json(path.with_name(path.name + ".json"), {"digest": _digest(path), **meta})


def _export_float(model_path: Path, dest: Path) -> None:
    """Export transformer + pooling + normalisation to ``dest`` (float32), fused when BERT-like."""
    import torch
    from sentence_transformers import SentenceTransformer

    # eager attention traces to the MatMul/Softmax pattern ONNX Runtime fuses into Attention
    model = SentenceTransformer(
        str(model_path),
        device="cpu",
        local_files_only=True,
        model_kwargs={"attn_implementation": "eager"},
    ).eval()
    prepare = getattr(model, "preprocess", None) or model.tokenize  # tokenize: before ST 6
    features = prepare(["an example sentence to trace", "two"])
    names = [n for n in _INPUTS if n in features]

    class _Graph(torch.nn.Module):
        def __init__(self, inner: Any) -> None:
            super().__init__()
            self.inner = inner

        def forward(self, *tensors: Any) -> Any:
            return self.inner(dict(zip(names, tensors)))["sentence_embedding"]

    fd, raw_name = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.", suffix=".raw.tmp")
    os.close(fd)
    raw = Path(raw_name)
    tmp = dest.with_name(f".{dest.name}.{os.getpid()}.tmp")
    try:
        import warnings

        with warnings.catch_warnings(), torch.no_grad():
            warnings.simplefilter("ignore")  # tracer and deprecation notes of the exporter
            torch.onnx.export(
                _Graph(model),
                tuple(features[n] for n in names),
                str(raw),
                input_names=names,
                output_names=["sentence_embedding"],
                dynamic_axes={n: {0: "batch", 1: "tokens"} for n in names}
                | {"sentence_embedding": {0: "batch"}},
                opset_version=17,
                dynamo=False,
            )
        config = json.loads((model_path / "config.json").read_text(encoding="utf-8"))
        if config.get("model_type") == "bert":
            optimizer = importlib.import_module("onnxruntime.transformers.optimizer")
            fused = optimizer.optimize_model(
                str(raw),
                model_type="bert",
                num_heads=int(config["num_attention_heads"]),
                hidden_size=int(config["hidden_size"]),
                opt_level=0,
            )
            fused.save_model_to_file(str(tmp))
        else:
            os.replace(raw, tmp)
        _replace_atomically(tmp, dest)
    finally:
        raw.unlink(missing_ok=True)
        tmp.unlink(missing_ok=True)


def _quantize(src: Path, dest: Path) -> None:
    """Dynamic int8 quantisation of ``src``'s MatMul and Attention weights, per output channel."""
    quant = importlib.import_module("onnxruntime.quantization")
    onnx = importlib.import_module("onnx")
    tmp = dest.with_name(f".{dest.name}.{os.getpid()}.tmp")
    try:
        quant.quantize_dynamic(
            str(src),
            str(tmp),
            weight_type=quant.QuantType.QInt8,
            per_channel=True,
            op_types_to_quantize=["MatMul", "Attention"],
            extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT},
        )
        _replace_atomically(tmp, dest)
    finally:
        tmp.unlink(missing_ok=True)


def exported_model(model_path: Path, fingerprint: str, backend: str, export_dir: Path) -> Path:
    """Return the cached ONNX file of a model for a backend, exporting it first when needed.

    Parameters
    ----------
    model_path : Path
        The local sentence-transformers folder.
    fingerprint : str
        The model's fingerprint (the cache key of its files).
    backend : {"onnx", "onnx-int8"}
        Which graph.
    export_dir : Path
        Root of the export cache (e.g. ``$LTRR_CACHE/onnx``).

    Returns
    -------
    Path
        The verified ``.onnx`` file.
    """
    if backend not in _FILES:
        raise UnknownNameError(f"backend must be one of {list(_FILES)}, got {backend!r}")
    _ort()
    folder = export_dir / f"{model_path.name}-{fingerprint}-x{EXPORT_VERSION}"
    folder.mkdir(parents=True, exist_ok=True)
    versions = {"torch": _version("torch"), "onnxruntime": _version("onnxruntime")}
    fp32 = folder / _FILES["onnx"]
    if backend == "onnx-int8":
        dest = folder / _FILES["onnx-int8"]
        if _verified(dest):
            return dest
    if not _verified(fp32):
        log.info("exporting %s to ONNX in %s", model_path, folder)
        _export_float(model_path, fp32)
        _record(fp32, model=str(model_path), **versions)
    if backend == "onnx":
        return fp32
    log.info("quantising %s to int8", fp32)
    _quantize(fp32, dest)
    _record(dest, source=_digest(fp32), **versions)
    return dest


def _version(package: str) -> str:
    try:
        return str(importlib.import_module(package).__version__)
    except ImportError:  # pragma: no cover - both are present when exporting
        return "absent"


def open_session(path: Path, *, threads: int) -> Any:
    """Open an ONNX Runtime session on one file, with its own thread settings.

    Parameters
    ----------
    path : Path
        The ``.onnx`` file.
    threads : int
        Intra-op threads of this session (inter-op: 1). Threads sleep when idle
        instead of spinning, which on a shared machine leaves the cores to other work.

    Returns
    -------
    onnxruntime.InferenceSession
        The session.

    Raises
    ------
    CorruptModelError
        If the file is missing or ONNX Runtime cannot load it; the message names it.
    """
    ort = _ort()
    threads = check_int("threads", threads, low=1)
    if not path.is_file():
        raise CorruptModelError(f"exported model {str(path)!r} is missing")
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    try:
        return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    except Exception as exc:  # onnxruntime raises its own exception types
        raise CorruptModelError(
            f"exported model {str(path)!r} cannot be loaded by ONNX Runtime: {exc}"
        ) from None


class OnnxSentenceModel:
    """Embed texts with an exported sentence-transformers graph and the model's fast tokenizer.

    Safe to call from several threads: the tokenizer's settings are fixed once and
    an ONNX Runtime session runs concurrent calls.

    Parameters
    ----------
    onnx_file : Path
        The exported graph (:func:`exported_model`).
    model_path : Path
        The sentence-transformers folder (for ``tokenizer.json`` and the truncation length).
    max_seq_length : int, optional
        Truncation length in word pieces (default: the model's ``max_seq_length``).
    threads : int
        Intra-op threads of the session.
    """

    def __init__(
        self,
        onnx_file: Path,
        model_path: Path,
        *,
        max_seq_length: int | None = None,
        threads: int,
    ) -> None:
        from tokenizers import Tokenizer

        tok_file = model_path / "tokenizer.json"
        if not tok_file.is_file():
            raise UnknownNameError(
                f"the ONNX backends need a fast tokenizer file, and {str(tok_file)!r} does not "
                "exist; use backend='torch' for this model"
            )
        self.session = open_session(onnx_file, threads=threads)
        self.input_names = [i.name for i in self.session.get_inputs()]
        self.dim = int(self.session.get_outputs()[0].shape[-1])
        length = max_seq_length if max_seq_length is not None else _model_max_length(model_path)
        tokenizer = Tokenizer.from_file(str(tok_file))
        tokenizer.enable_truncation(length)
        pad = tokenizer.padding or {}
        pad_token = str(pad.get("pad_token", "[PAD]"))
        pad_id = tokenizer.token_to_id(pad_token)
        tokenizer.enable_padding(pad_id=0 if pad_id is None else pad_id, pad_token=pad_token)
        self.tokenizer = tokenizer

    def encode(self, texts: Sequence[str], batch_size: int) -> npt.NDArray[np.float32]:
        """Embed texts in batches of similar length (rows in the order given, not normalised).

        Parameters
        ----------
        texts : sequence of str
            The texts.
        batch_size : int
            Texts per forward pass.

        Returns
        -------
        numpy.ndarray of float32, shape (len(texts), dim)
            One embedding per text.
        """
        out = np.empty((len(texts), self.dim), dtype=np.float32)
        order = sorted(range(len(texts)), key=lambda i: -len(texts[i]))
        for start in range(0, len(order), batch_size):
            rows = order[start : start + batch_size]
            out[rows] = self._forward([texts[i] for i in rows])
        return out

    def _forward(self, texts: list[str]) -> npt.NDArray[np.float32]:
        enc = self.tokenizer.encode_batch(texts)
        arrays = {
            "input_ids": np.array([e.ids for e in enc], dtype=np.int64),
            "attention_mask": np.array([e.attention_mask for e in enc], dtype=np.int64),
            "token_type_ids": np.array([e.type_ids for e in enc], dtype=np.int64),
        }
        feed = {name: arrays[name] for name in self.input_names}
        return np.asarray(self.session.run(None, feed)[0], dtype=np.float32)


def _model_max_length(model_path: Path) -> int:
    """Return the truncation length sentence-transformers uses for the folder (its ``max_seq_length``)."""
    conf = model_path / "sentence_bert_config.json"
    if conf.is_file():
        value = json.loads(conf.read_text(encoding="utf-8")).get("max_seq_length")
        if isinstance(value, int) and value > 0:
            return value
    config = json.loads((model_path / "config.json").read_text(encoding="utf-8"))
    return int(config.get("max_position_embeddings", 512))
