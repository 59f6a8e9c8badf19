"""Fine-tuning the embedding model from (query, engaged item) pairs: in-batch contrastive loss plus the TCM term.

The base loss is the multiple-negatives ranking loss (InfoNCE over in-batch negatives,
as sentence-transformers' ``MultipleNegativesRankingLoss``): for a batch of pairs
``(q_i, d_i)`` with cosine similarities ``S[i, j] = cos(q_i, d_j)``,

    L_base = mean_i CE(scale * S[i, :], i),

with passages equal to ``d_i`` (another query engaged with the same item) masked out of
row ``i``'s negatives. The threshold-consistent margin term (TCM; Zhang et al., ICLR
2024, arXiv:2307.04047) adds

    L_TCM = lambda_plus * mean_{S[i, i] <= m_plus} (m_plus - S[i, i])
          + lambda_minus * mean_{S[i, j] >= m_minus, j != i} (S[i, j] - m_minus),

penalising only hard positives (below the positive margin) and hard negatives (above
the negative margin), so that one similarity threshold separates relevant from
irrelevant items for every query. Each mean is over the pairs that pass its test (0
when none does), as in pytorch-metric-learning's ``ThresholdConsistentMarginLoss``.

When the margins are not given they are read off the model before training, on the
training pairs themselves: ``m_plus`` is the median positive similarity and
``m_minus`` the 99th percentile of the in-batch negative similarities.

Training runs on the CPU with PyTorch (a plain loop: no ``accelerate`` or ``datasets``
needed); the tuned model is written atomically as a sentence-transformers folder that
:class:`~strategies.encoder.Encoder` and :class:`~strategies.embedding.EmbeddingStrategy`
load by path (``model=...``), its embeddings cached under its own fingerprint.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ltrr.errors import InvalidInputError
from ltrr.io import atomic_dir, atomic_write_json
from ltrr.validation import check_int, check_real
from strategies.encoder import default_model_path

__all__ = ["LOSSES", "TuningReport", "tune_encoder"]

#: Losses :func:`tune_encoder` trains with.
LOSSES = ("mnrl", "mnrl+tcm")


@dataclass(frozen=True)
class TuningReport:
    """What a fine-tuning run did.

    Attributes
    ----------
    loss : str
        The loss trained with.
    pairs : int
        Training pairs.
    steps : int
        Optimiser steps.
    seconds : float
        Wall time of the training loop.
    margin_plus, margin_minus : float
        The TCM margins (read off the base model when not given).
    first_loss, last_loss : float
        Mean loss over the first and the last 10% of the steps.
    out : str
        The folder of the tuned model.
    """

    loss: str
    pairs: int
    steps: int
    seconds: float
    margin_plus: float
    margin_minus: float
    first_loss: float
    last_loss: float
    out: str


def _check_pairs(pairs: object) -> list[tuple[str, str]]:
    if isinstance(pairs, (str, bytes)) or not isinstance(pairs, Sequence):
        raise InvalidInputError(
            f"pairs must be a sequence of (query, passage) string pairs, got {type(pairs).__name__}"
        )
    out: list[tuple[str, str]] = []
    for i, pair in enumerate(pairs):
        if (
            not isinstance(pair, tuple)
            or len(pair) != 2
            or not all(isinstance(x, str) and x.strip() for x in pair)
        ):
            raise InvalidInputError(
                f"pairs[{i}] must be a (query, passage) pair of non-empty strings, got {pair!r:.80}"
            )
        out.append(pair)
    if len(out) < 2:
        raise InvalidInputError(
            f"pairs must hold at least 2 pairs (in-batch negatives), got {len(out)}"
        )
    return out


def _embed(model: Any, texts: list[str]) -> Any:
    features = model.tokenize(texts)
    return model(features)["sentence_embedding"]


def _similarities(model: Any, queries: list[str], passages: list[str]) -> Any:
    import torch.nn.functional as F

    q = F.normalize(_embed(model, queries), dim=-1)
    d = F.normalize(_embed(model, passages), dim=-1)
    return q @ d.T


def _same_passage(passages: list[str]) -> Any:
    """Boolean matrix: passage j equals passage i (a false negative of row i when j != i)."""
    import torch

    index = {p: n for n, p in enumerate(dict.fromkeys(passages))}
    ids = torch.tensor([index[p] for p in passages])
    return ids[:, None] == ids[None, :]


def _base_margins(
    model: Any, pairs: list[tuple[str, str]], batch_size: int, rng: np.random.Generator
) -> tuple[float, float]:
    """Median positive and 99th-percentile in-batch negative similarity of the untuned model."""
    import torch

    pos: list[float] = []
    neg: list[float] = []
    order = rng.permutation(len(pairs))[: max(batch_size * 8, 2)]
    model.eval()
    with torch.no_grad():
        for s in range(0, len(order), batch_size):
            batch = [pairs[int(i)] for i in order[s : s + batch_size]]
            if len(batch) < 2:
                continue
            passages = [p for _, p in batch]
            sims = _similarities(model, [q for q, _ in batch], passages)
            same = _same_passage(passages)
            pos.extend(sims.diagonal().tolist())
            neg.extend(sims[~same].tolist())
    return float(np.median(pos)), float(np.quantile(neg, 0.99))


def tune_encoder(
    pairs: Sequence[tuple[str, str]],
    out: str | Path,
    *,
    model: str | Path | None = None,
    loss: str = "mnrl+tcm",
    epochs: int = 1,
    batch_size: int = 32,
    learning_rate: float = 2e-5,
    scale: float = 20.0,
    lambda_plus: float = 1.0,
    lambda_minus: float = 1.0,
    margin_plus: float | None = None,
    margin_minus: float | None = None,
    max_seq_length: int | None = 256,
    seed: int = 0,
    progress: bool = False,
) -> TuningReport:
    """Fine-tune a sentence-transformers model on positive pairs and save it to ``out``.

    Parameters
    ----------
    pairs : sequence of (str, str)
        ``(query text, engaged passage text)`` pairs, e.g. from the event log's clicks or
        from train judgements; at least 2.
    out : str or Path
        Folder of the tuned model (replaced atomically; ``tuning.json`` describes the run).
    model : str or Path, optional
        The local model folder to start from (default: the bundled all-MiniLM-L6-v2).
    loss : {"mnrl", "mnrl+tcm"}
        The in-batch contrastive loss alone, or with the TCM term (default).
    epochs : int
        Passes over the pairs (default 1).
    batch_size : int
        Pairs per step, at least 2 (default 32).
    learning_rate : float
        AdamW learning rate (default 2e-5).
    scale : float
        Inverse temperature of the contrastive loss (default 20, as sentence-transformers).
    lambda_plus, lambda_minus : float
        Weights of the TCM positive and negative terms (default 1 and 1).
    margin_plus, margin_minus : float, optional
        TCM margins in [-1, 1] (default: read off the base model, see the module docstring).
    max_seq_length : int, optional
        Truncation in word pieces (default 256).
    seed : int
        Seed of the batch order and of torch's initialisation.
    progress : bool
        Print a line every 10% of the steps.

    Returns
    -------
    TuningReport
        What ran.

    Raises
    ------
    InvalidInputError
        If a parameter or a pair is malformed.
    """
    data = _check_pairs(pairs)
    if loss not in LOSSES:
        raise InvalidInputError(f"loss must be one of {list(LOSSES)}, got {loss!r:.60}")
    n_epochs = check_int("epochs", epochs, low=1)
    bs = check_int("batch_size", batch_size, low=2)
    lr = check_real("learning_rate", learning_rate, low=0.0)
    sc = check_real("scale", scale, low=0.0)
    lp = check_real("lambda_plus", lambda_plus, low=0.0)
    lm = check_real("lambda_minus", lambda_minus, low=0.0)
    for name, m in (("margin_plus", margin_plus), ("margin_minus", margin_minus)):
        if m is not None:
            check_real(name, m, low=-1.0, high=1.0)
    if max_seq_length is not None:
        check_int("max_seq_length", max_seq_length, low=8)
    seed = check_int("seed", seed)

    import torch
    from sentence_transformers import SentenceTransformer

    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    path = default_model_path() if model is None else Path(model)
    st = SentenceTransformer(str(path), device="cpu", local_files_only=True)
    if max_seq_length is not None:
        st.max_seq_length = max_seq_length
    if margin_plus is None or margin_minus is None:
        base_plus, base_minus = _base_margins(st, data, bs, rng)
        m_plus = base_plus if margin_plus is None else float(margin_plus)
        m_minus = base_minus if margin_minus is None else float(margin_minus)
    else:
        m_plus, m_minus = float(margin_plus), float(margin_minus)
    tcm = loss == "mnrl+tcm"
    optimiser = torch.optim.AdamW(st.parameters(), lr=lr)
    per_epoch = math.ceil(len(data) / bs)
    total = per_epoch * n_epochs
    losses: list[float] = []
    st.train()
    t0 = time.perf_counter()
    for _ in range(n_epochs):
        order = rng.permutation(len(data))
        for s in range(0, len(order), bs):
            batch = [data[int(i)] for i in order[s : s + bs]]
            if len(batch) < 2:
                continue
            passages = [p for _, p in batch]
            sims = _similarities(st, [q for q, _ in batch], passages)
            same = _same_passage(passages)
            eye = torch.eye(len(batch), dtype=torch.bool)
            logits = (sc * sims).masked_fill(same & ~eye, float("-inf"))
            value = torch.nn.functional.cross_entropy(logits, torch.arange(len(batch)))
            if tcm:
                pos = sims.diagonal()
                hard_pos = pos <= m_plus
                if bool(hard_pos.any()):
                    value = value + lp * (m_plus - pos[hard_pos]).mean()
                neg = sims[~same]
                hard_neg = neg >= m_minus
                if bool(hard_neg.any()):
                    value = value + lm * (neg[hard_neg] - m_minus).mean()
            optimiser.zero_grad()
            value.backward()  # type: ignore[no-untyped-call]
            optimiser.step()
            losses.append(float(value.detach()))
            if progress and len(losses) % max(1, total // 10) == 0:
                print(f"step {len(losses)}/{total} loss {np.mean(losses[-10:]):.4f}", flush=True)
    seconds = time.perf_counter() - t0
    st.eval()
    tenth = max(1, len(losses) // 10)
    report = TuningReport(
        loss=loss,
        pairs=len(data),
        steps=len(losses),
        seconds=round(seconds, 2),
        margin_plus=m_plus,
        margin_minus=m_minus,
        first_loss=float(np.mean(losses[:tenth])) if losses else math.nan,
        last_loss=float(np.mean(losses[-tenth:])) if losses else math.nan,
        out=str(out),
    )
    with atomic_dir(out) as tmp:
        st.save(str(tmp))
        atomic_write_json(
            tmp / "tuning.json",
            {
                **asdict(report),
                "base_model": str(path),
                "epochs": n_epochs,
                "batch_size": bs,
                "learning_rate": lr,
                "scale": sc,
                "lambda_plus": lp,
                "lambda_minus": lm,
                "seed": seed,
            },
        )
    return report
