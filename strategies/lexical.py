"""Lexical retrieval: BM25 over chosen fields, scored with bm25s or rank-bm25.

The default backend indexes with bm25s (precomputed, eager BM25 scores in a
sparse term x document matrix) and answers a query by touching only the
postings of its terms, so latency grows with the postings read, not with the
catalog size. The rank-bm25 backend is the reference implementation, kept for
comparison and for its BM25 variants.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from ltrr.errors import CorruptModelError, InvalidInputError, UnknownNameError
from ltrr.io import atomic_write_json, read_arrays, read_json
from ltrr.registry import register_strategy
from ltrr.strategy import Capability
from ltrr.text import Tokenizer
from ltrr.types import Catalog, Context, Interaction, Query
from strategies.base import (
    PROBE_DEPTH,
    IndexArray,
    ScoreArray,
    Strategy,
    coerce_query,
    rank_gaps,
)

__all__ = ["BACKENDS", "VARIANTS", "LexicalStrategy"]

#: Scoring backends.
BACKENDS = ("bm25s", "rank_bm25")
#: BM25 variants each backend offers. "okapi" is Robertson's original formula.
VARIANTS: dict[str, tuple[str, ...]] = {
    "bm25s": ("lucene", "okapi", "atire", "bm25l", "bm25+"),
    "rank_bm25": ("okapi", "bm25l", "bm25+"),
}
_BM25S_METHOD = {
    "lucene": "lucene",
    "okapi": "robertson",
    "atire": "atire",
    "bm25l": "bm25l",
    "bm25+": "bm25+",
}

Postings = tuple[npt.NDArray[np.int32], npt.NDArray[np.float32], float]


class _FieldIndex:
    """One field's BM25 index in CSC form: per term, its documents and their scores."""

    def __init__(
        self,
        vocab: dict[str, int],
        data: npt.NDArray[np.float32],
        indices: npt.NDArray[np.int32],
        indptr: npt.NDArray[np.int64],
        nonoccurrence: npt.NDArray[np.float32] | None,
    ) -> None:
        self.vocab = vocab
        self.data = data
        self.indices = indices
        self.indptr = indptr
        self.nonoccurrence = nonoccurrence

    def postings(self, terms: Sequence[str], weight: float) -> tuple[list[Postings], float]:
        out: list[Postings] = []
        shift = 0.0
        for t in terms:
            tid = self.vocab.get(t)
            if tid is None:
                continue
            s, e = int(self.indptr[tid]), int(self.indptr[tid + 1])
            out.append((self.indices[s:e], self.data[s:e], weight))
            if self.nonoccurrence is not None:
                shift += weight * float(self.nonoccurrence[tid])
        return out, shift


@register_strategy
class LexicalStrategy(Strategy):
    """BM25 retrieval over chosen text fields.

    Parameters
    ----------
    name : str, optional
        Instance name in results (default ``"lexical"``).
    fields : sequence of str, optional
        Text fields to index (default: every field of the catalog).
    field_weights : Mapping[str, float], optional
        When None (default) the fields are joined into one document and scored
        with classic BM25. When given, each field gets its own BM25 index and an
        item's score is the weighted sum of its per-field scores; fields missing
        from the mapping weigh 1.0.
    backend : {"bm25s", "rank_bm25"}
        Scoring library (default "bm25s", fast; "rank_bm25" is the reference).
    variant : str
        BM25 variant: with bm25s one of "lucene" (default), "okapi", "atire",
        "bm25l", "bm25+"; with rank_bm25 one of "okapi", "bm25l", "bm25+".
    k1, b, delta : float
        BM25 parameters (defaults 1.2, 0.75, 0.5; ``delta`` is used by BM25L/BM25+).
    stopwords : {"en", "en_plus", "none"}
        Stop words dropped by the tokenizer.
    stemmer : str or None
        Snowball stemmer language (default "english") or None.
    popularity_weight : float
        Weight of the popularity prior ``log1p(popularity) / log1p(max popularity)``
        added to the score of every matching item (default 0: off). A small
        positive value breaks ties in favour of popular items.

    Notes
    -----
    Only items that contain at least one query term are returned, so a budget
    larger than the catalog returns every matching item. Interactions do not
    change BM25 statistics, so :meth:`update` is a documented no-op.
    """

    kind = "lexical"
    source_type = "lexical"
    capabilities = frozenset(
        {Capability.QUERY_SIGNALS, Capability.SCORE_ITEMS, Capability.CHEAP_SCORES}
    )

    def __init__(
        self,
        *,
        name: str | None = None,
        fields: Sequence[str] | None = None,
        field_weights: Mapping[str, float] | None = None,
        backend: str = "bm25s",
        variant: str = "lucene",
        k1: float = 1.2,
        b: float = 0.75,
        delta: float = 0.5,
        stopwords: str = "en",
        stemmer: str | None = "english",
        popularity_weight: float = 0.0,
    ) -> None:
        super().__init__(name=name)
        if backend not in BACKENDS:
            raise UnknownNameError(f"unknown backend {backend!r}; expected one of {list(BACKENDS)}")
        if variant not in VARIANTS[backend]:
            raise UnknownNameError(
                f"unknown variant {variant!r} for backend {backend!r}; "
                f"expected one of {list(VARIANTS[backend])}"
            )
        for pname, value, lo in (("k1", k1, 0.0), ("b", b, 0.0), ("delta", delta, 0.0)):
            if not isinstance(value, (int, float)) or not math.isfinite(value) or value < lo:
                raise InvalidInputError(f"{pname} must be a finite number >= {lo}, got {value!r}")
        if not 0.0 <= b <= 1.0:
            raise InvalidInputError(f"b must lie in [0, 1], got {b!r}")
        if not math.isfinite(popularity_weight) or popularity_weight < 0:
            raise InvalidInputError(
                f"popularity_weight must be a finite number >= 0, got {popularity_weight!r}"
            )
        if field_weights is not None:
            for f, w in field_weights.items():
                if not isinstance(w, (int, float)) or not math.isfinite(w) or w < 0:
                    raise InvalidInputError(
                        f"field_weights[{f!r}] must be a finite number >= 0, got {w!r}"
                    )
        if fields is not None and (isinstance(fields, str) or not fields):
            raise InvalidInputError(
                f"fields must be a non-empty list of field names, got {fields!r}"
            )
        self.fields = None if fields is None else list(fields)
        self.field_weights = None if field_weights is None else dict(field_weights)
        self.backend = backend
        self.variant = variant
        self.k1 = float(k1)
        self.b = float(b)
        self.delta = float(delta)
        self.stopwords = stopwords
        self.stemmer = stemmer
        self.popularity_weight = float(popularity_weight)
        self.tokenizer = Tokenizer(stopwords=stopwords, stemmer=stemmer)
        self.fields_: list[str] | None = None
        self._groups: list[tuple[list[str], float]] = []
        self._indexes: list[_FieldIndex] = []
        self._rank_bm25: list[Any] = []
        self._rank_tokens: list[list[list[str]]] = []
        self._prior: npt.NDArray[np.float32] | None = None
        self._local = threading.local()

    def get_params(self) -> dict[str, Any]:
        """Return the constructor parameters."""
        return {
            "fields": self.fields,
            "field_weights": self.field_weights,
            "backend": self.backend,
            "variant": self.variant,
            "k1": self.k1,
            "b": self.b,
            "delta": self.delta,
            "stopwords": self.stopwords,
            "stemmer": self.stemmer,
            "popularity_weight": self.popularity_weight,
        }

    # -------------------------------------------------------------------- fit
    def _plan_groups(self, available: Sequence[str]) -> list[tuple[list[str], float]]:
        fields = list(self.fields) if self.fields is not None else list(available)
        if self.field_weights is not None:
            unknown = sorted(set(self.field_weights) - set(fields))
            if unknown:
                raise UnknownNameError(
                    f"field_weights names fields {unknown} that are not indexed; indexed fields: {fields}"
                )
            return [([f], float(self.field_weights.get(f, 1.0))) for f in fields]
        return [(fields, 1.0)]

    def _fit(self, catalog: Catalog) -> None:
        if self.fields is not None:
            catalog.check_fields(self.fields)
        groups = self._plan_groups(catalog.field_names)
        token_groups = [self.tokenizer.tokenize_many(catalog.texts(fs)) for fs, _ in groups]
        self._build(groups, token_groups)
        self.fields_ = [f for fs, _ in groups for f in fs]
        self._set_prior(catalog.popularity())

    def _build(
        self, groups: list[tuple[list[str], float]], token_groups: list[list[list[str]]]
    ) -> None:
        self._groups = groups
        self._indexes = []
        self._rank_bm25 = []
        self._rank_tokens = []
        self._local = threading.local()  # buffers and the last match belong to the old index
        if self.backend == "bm25s":
            import bm25s

            for toks in token_groups:
                retriever = bm25s.BM25(
                    method=_BM25S_METHOD[self.variant], k1=self.k1, b=self.b, delta=self.delta
                )
                retriever.index(toks, show_progress=False)
                sc = retriever.scores
                nonocc = getattr(retriever, "nonoccurrence_array", None)
                n_terms = len(sc["indptr"]) - 1  # bm25s's empty token has no column
                self._indexes.append(
                    _FieldIndex(
                        {
                            str(t): int(i)
                            for t, i in retriever.vocab_dict.items()
                            if int(i) < n_terms
                        },
                        np.asarray(sc["data"], dtype=np.float32),
                        np.asarray(sc["indices"], dtype=np.int32),
                        np.asarray(sc["indptr"], dtype=np.int64),
                        None if nonocc is None else np.asarray(nonocc, dtype=np.float32),
                    )
                )
        else:
            self._rank_tokens = token_groups
            self._rank_bm25 = [self._make_rank_bm25(t) for t in token_groups]

    def _make_rank_bm25(self, tokens: list[list[str]]) -> Any:
        import rank_bm25

        # rank-bm25 divides by the average document length: keep empty docs from making it 0.
        docs = [t if t else [""] for t in tokens]
        if self.variant == "okapi":
            return rank_bm25.BM25Okapi(docs, k1=self.k1, b=self.b)
        if self.variant == "bm25l":
            return rank_bm25.BM25L(docs, k1=self.k1, b=self.b, delta=self.delta)
        return rank_bm25.BM25Plus(docs, k1=self.k1, b=self.b, delta=self.delta)

    def _set_prior(self, popularity: npt.NDArray[np.float64]) -> None:
        top = float(np.max(popularity)) if len(popularity) else 0.0
        prior = np.log1p(popularity) / math.log1p(top) if top > 0 else np.zeros_like(popularity)
        self._prior = prior.astype(np.float32)

    # --------------------------------------------------------------- retrieve
    def _buffers(self, n: int) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.bool_]]:
        buf = getattr(self._local, "buf", None)
        if buf is None or len(buf) != n:
            buf = np.zeros(n, dtype=np.float32)
            self._local.buf = buf
            self._local.seen = np.zeros(n, dtype=bool)
        return buf, self._local.seen

    def _match(self, terms: Sequence[str]) -> tuple[IndexArray, ScoreArray]:
        """Return every item containing a query term and its BM25 score.

        The last match of each thread is kept: a search asks for the same terms
        from :meth:`query_signals`, retrieval and :meth:`score_items` (callers never
        modify the arrays).
        """
        key = tuple(terms)
        last = getattr(self._local, "last", None)
        if last is not None and last[0] == key:
            return last[1]  # type: ignore[no-any-return]
        out = self._match_terms(terms)
        self._local.last = (key, out)
        return out

    def _match_terms(self, terms: Sequence[str]) -> tuple[IndexArray, ScoreArray]:
        if self.backend == "rank_bm25":
            return self._match_rank_bm25(terms)
        postings: list[Postings] = []
        shift = 0.0
        for index, (_, weight) in zip(self._indexes, self._groups):
            p, s = index.postings(terms, weight)
            postings.extend(p)
            shift += s
        if not postings:
            return np.empty(0, np.int64), np.empty(0, np.float32)
        if len(postings) == 1:
            idx, data, w = postings[0]
            return idx.astype(np.int64), (data * np.float32(w) + np.float32(shift))
        buf, seen = self._buffers(self.n_items)
        parts = []
        for idx, data, w in postings:
            buf[idx] += data * np.float32(w)  # indices are unique within one posting list
            new = idx[~seen[idx]]
            seen[new] = True
            parts.append(new)
        cand = np.concatenate(parts).astype(np.int64)
        scores = buf[cand] + np.float32(shift)
        buf[cand] = 0.0
        seen[cand] = False
        return cand, scores

    def _match_rank_bm25(self, terms: Sequence[str]) -> tuple[IndexArray, ScoreArray]:
        present = np.zeros(self.n_items, dtype=bool)
        total = np.zeros(self.n_items, dtype=np.float64)
        for model, (_, weight) in zip(self._rank_bm25, self._groups):
            for i, freqs in enumerate(model.doc_freqs):
                if not present[i] and any(t in freqs for t in terms):
                    present[i] = True
            total += weight * np.asarray(model.get_scores(list(terms)), dtype=np.float64)
        cand = np.flatnonzero(present).astype(np.int64)
        return cand, total[cand].astype(np.float32)

    def _retrieve(
        self,
        query: Query,
        context: Context | None,
        k: int,
        allowed: npt.NDArray[np.bool_] | None,
    ) -> tuple[IndexArray, ScoreArray]:
        cand, scores = self._match(self.tokenizer.tokenize(query.text))
        if allowed is not None and len(cand):
            keep = allowed[cand]
            cand, scores = cand[keep], scores[keep]
        if self.popularity_weight > 0 and self._prior is not None and len(cand):
            scores = scores + np.float32(self.popularity_weight) * self._prior[cand]
        return top_k(cand, scores, k)

    def score_items(self, query: Query | str, positions: npt.ArrayLike) -> ScoreArray:
        """Return the BM25 score (with the popularity prior) of given items for a query.

        Items that contain no query term score 0 (plus the BM25L/BM25+ constant and
        the prior). Used for feature completion and for reference tests.

        Parameters
        ----------
        query : Query or str
            The query.
        positions : array-like of int
            Catalog positions of the items to score.

        Returns
        -------
        numpy.ndarray of float32
            One score per position.
        """
        q = coerce_query(query)
        pos = self.check_positions(positions)
        n = self.n_items
        terms = self.tokenizer.tokenize(q.text)
        cand, scores = self._match(terms)
        full = np.zeros(n, dtype=np.float32)
        if self.backend == "bm25s":
            full += np.float32(
                sum(ix.postings(terms, w)[1] for ix, (_, w) in zip(self._indexes, self._groups))
            )
        else:
            base = np.zeros(n, dtype=np.float64)
            for model, (_, weight) in zip(self._rank_bm25, self._groups):
                base += weight * np.asarray(model.get_scores(list(terms)), dtype=np.float64)
            full = base.astype(np.float32)
        full[cand] = scores
        if self.popularity_weight > 0 and self._prior is not None:
            full += np.float32(self.popularity_weight) * self._prior
        return full[pos]

    def query_signals(self, query: Query | str) -> dict[str, float]:
        """Query-understanding signals from the index, for the plan selector.

        Parameters
        ----------
        query : Query or str
            The query.

        Returns
        -------
        dict of str to float
            ``known``: share of the query's terms the index holds; ``idf_mean`` and
            ``idf_max``: their inverse document frequencies, scaled to [0, 1]
            (``log(N / df) / log(N)``; bm25s backend only); from a top-10 probe of
            the index (its items enter no pool): ``matched``, the share of items
            holding a query term (log-scaled), ``top``, ``log1p`` of the best score,
            and ``gap3``/``gap9``, the relative drop of the score from rank 1 to 4 and 10.
        """
        terms = self.tokenizer.tokenize(coerce_query(query).text)
        if not terms:
            return {"known": 0.0}
        n = max(self.n_items, 2)
        out = self._probe_signals(terms, n)
        out.update(self._idf_signals(terms, n))
        return out

    def _probe_signals(self, terms: list[str], n: int) -> dict[str, float]:
        """Score-distribution signals of the query's probe (query-performance prediction)."""
        cand, scores = self._match(terms)
        out = {"matched": math.log1p(len(cand)) / math.log1p(n)}
        _, top = top_k(cand, scores, PROBE_DEPTH)
        if len(top):
            out["top"] = math.log1p(max(float(top[0]), 0.0))
            out.update(rank_gaps(top))
        return out

    def _idf_signals(self, terms: list[str], n: int) -> dict[str, float]:
        """Share of known terms and their scaled inverse document frequencies."""
        if self.backend != "bm25s":
            known = sum(any(t in m.idf for m in self._rank_bm25) for t in terms)
            return {"known": known / len(terms)}
        idfs = []
        for t in terms:
            dfs = [
                int(ix.indptr[ix.vocab[t] + 1] - ix.indptr[ix.vocab[t]])
                for ix in self._indexes
                if t in ix.vocab
            ]
            if dfs:
                idfs.append(math.log(n / max(max(dfs), 1)) / math.log(n))
        out = {"known": len(idfs) / len(terms)}
        if idfs:
            out["idf_mean"] = sum(idfs) / len(idfs)
            out["idf_max"] = max(idfs)
        return out

    def update(self, interactions: Iterable[Interaction]) -> None:
        """Do nothing: BM25 statistics depend on the catalog, not on interactions.

        Parameters
        ----------
        interactions : iterable of Interaction
            Ignored.
        """
        return None

    # ------------------------------------------------------------- save/load
    def _save_state(self, folder: Path) -> None:
        atomic_write_json(
            folder / "lexical.json",
            {"groups": [{"fields": fs, "weight": w} for fs, w in self._groups]},
        )
        for g, index in enumerate(self._indexes):
            atomic_write_json(
                folder / f"vocab-{g}.json", sorted(index.vocab, key=index.vocab.__getitem__)
            )
            arrays: dict[str, Any] = {
                "data": index.data,
                "indices": index.indices,
                "indptr": index.indptr,
            }
            if index.nonoccurrence is not None:
                arrays["nonoccurrence"] = index.nonoccurrence
            np.savez(folder / f"bm25-{g}.npz", **arrays)
        for g, toks in enumerate(self._rank_tokens):
            atomic_write_json(folder / f"tokens-{g}.json", toks)

    def _load_state(self, folder: Path, n_items: int) -> None:
        meta = read_json(folder / "lexical.json", what="lexical index description")
        groups = [(list(g["fields"]), float(g["weight"])) for g in meta["groups"]]
        self._groups = groups
        self.fields_ = [f for fs, _ in groups for f in fs]
        if self.backend == "bm25s":
            self._indexes = []
            for g in range(len(groups)):
                terms = read_json(folder / f"vocab-{g}.json", what="lexical vocabulary")
                z = read_arrays(
                    folder / f"bm25-{g}.npz",
                    what="BM25 index",
                    require=("data", "indices", "indptr"),
                )
                data, indices, indptr = z["data"], z["indices"], z["indptr"]
                nonocc = z.get("nonoccurrence")
                if len(indptr) != len(terms) + 1 or len(data) != len(indices):
                    raise CorruptModelError(
                        f"BM25 index {g} in {str(folder)!r} is inconsistent: {len(terms)} terms, "
                        f"{len(indptr)} pointers, {len(data)} scores, {len(indices)} doc indices"
                    )
                if len(indices) and (int(indices.max()) >= n_items or int(indices.min()) < 0):
                    raise CorruptModelError(
                        f"BM25 index {g} in {str(folder)!r} points at items outside the "
                        f"{n_items} saved items"
                    )
                self._indexes.append(
                    _FieldIndex({t: i for i, t in enumerate(terms)}, data, indices, indptr, nonocc)
                )
        else:
            token_groups = [
                read_json(folder / f"tokens-{g}.json", what="tokenised corpus")
                for g in range(len(groups))
            ]
            for toks in token_groups:
                if len(toks) != n_items:
                    raise CorruptModelError(
                        f"tokenised corpus in {str(folder)!r} has {len(toks)} documents, "
                        f"expected {n_items}"
                    )
            self._build(groups, token_groups)
        pop = read_arrays(folder / "popularity.npy", what="item popularity")[""]
        self._set_prior(pop.astype(np.float64))


def top_k(cand: IndexArray, scores: ScoreArray, k: int) -> tuple[IndexArray, ScoreArray]:
    """Return the ``k`` best (position, score) pairs, best first; ties go to the lower position.

    Parameters
    ----------
    cand : numpy.ndarray of int
        Candidate positions (unique).
    scores : numpy.ndarray of float
        Their scores.
    k : int
        How many to keep.

    Returns
    -------
    tuple of numpy.ndarray
        Positions and scores, sorted by descending score.
    """
    if len(cand) > k:
        part = np.argpartition(-scores, k - 1)[:k]
        cand, scores = cand[part], scores[part]
    order = np.lexsort((cand, -scores))
    return cand[order], scores[order].astype(np.float32, copy=False)
