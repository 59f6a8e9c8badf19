"""Memory index: "which items worked for this query before", as a retriever.

After the learning-to-retrieve design of Amazon Music search, the index remembers,
for every normalised query key (:func:`ltrr.features.query_key`: lower case,
single spaces), which items users engaged with after typing it, and answers a
query with those items, best first.

**Scores.** Each (query key, item) pair keeps time-decayed sums of weighted
positive engagement (``pos``), weighted negative engagement (``neg``), how often
the item was shown (``shown``: :attr:`~ltrr.types.EngagementKind.IMPRESSION`
records) and how many engagement records it got (``events``). Weights per kind are
:data:`DEFAULT_WEIGHTS` (purchase 4 > play 2 > click 1 > 0 > skip -0.5 >
reformulation -1) unless overridden. The score of an item under a key is a
smoothed rate with a pessimistic prior of strength ``a = smoothing``::

    score = (pos - neg + cold) / (exposure + a)

* when the key has impressions, ``exposure`` is the item's own exposure
  ``max(shown, events)`` (a click-through-like rate: one click on one impression
  scores ``1 / (1 + a)``, ten clicks on a hundred impressions ``10 / (100 + a)``,
  so with the default ``a = 30`` five clicks on 100 impressions already rank above
  a single lucky click on one);
* when the key has no impressions (only engagements were logged), ``exposure`` is
  the key's total engagement mass ``sum |weight|``: the item's smoothed share of
  what worked for the query;
* ``cold`` is the cold-start pseudo-engagement of predicted pairs (below; 0 for
  pairs the predictor did not propose).

Items whose score is negative (more skips than plays) are not returned.

**Decay.** Every sum decays with half-life ``half_life`` seconds (None: never),
applied lazily: a record stores the time of its last change, an update decays it
to the engagement's time (or adds a decayed contribution when the engagement is
older), a read decays it to the request's time (``Context.timestamp``, else the
latest time seen). Interactions without a timestamp happen at the latest time seen.

**Two layers.** The global layer aggregates everyone; the personal layer keeps
the same statistics per user (``Interaction.user_id`` / ``Context.user_id``).
At retrieval the two are blended item by item::

    final = (1 - b) * global + top * (b * personal + affinity_weight * affinity)
    b = m / (m + personal_strength)

where ``m`` is the user's decayed engagement mass on this query key,
``personal`` the user's raw share of it on the item (net of skips), and ``top``
the key's best global score, so personal terms are in the global layer's units.
A user's own history leads once it is substantial (with the defaults one play,
``m = 2``, is enough), while one stray click (``m = 1``, ``b = 1/3``) beats the
global favourite only for items at least half as good globally.
``affinity = e / (|e| + 1)`` grows with the user's decayed net engagement ``e``
with the item under *any* query (the personal layer also keeps one record per
item over all keys); it re-ranks the query's candidates towards what the user
liked before but never adds candidates. Users without history (and
requests without a user) get the global layer alone. Interactions with no user
(``user_id`` None or blank) update the global layer only.

**Cold start.** At :meth:`MemoryStrategy.fit` a query predictor (default
:class:`NgramQueryPredictor`: each item's short fields, their concatenation, word
n-grams, string attributes and categories) proposes queries for every item; each
proposed (key, item) pair gets the pseudo-engagement ``cold = cold_start_weight *
weight`` in the numerator of its smoothed rate: a low prior (an unobserved
predicted pair scores ``cold / a``, below one observed play) that observations
replace as they accumulate in the denominator (each unengaged impression, or the
key's growing engagement mass, dilutes it; skips make the pair negative).

**Neighbours.** A query key with fewer than ``k`` positively scored items (an
unseen key has none) is topped up from its nearest known keys (``neighbours``:
character n-gram TF-IDF by default, sentence embeddings with ``"embedding"``, or
any :class:`NeighbourIndex`): their items' scores, weighted by similarity and
summed, fill the list below every item that worked for the query itself.

**Online and bounded.** :meth:`MemoryStrategy.update` costs O(1) amortised per
interaction; the class declares ``Capability.LEARNS_ONLINE``, so an :class:`~ltrr.engine.Engine`
passes it every feedback's impressions and engagements. Each key holds at most ``max_items_per_query`` items (lowest
``pos - neg`` evicted; the bound may be exceeded by a quarter between trims),
each user at most ``max_queries_per_user`` keys (least recently used evicted),
and the index at most ``max_queries`` global keys and ``max_users`` users (least
recently used evicted).

**Bad input.** Interactions naming items outside the catalog are skipped with a
:class:`UserWarning` (counted in ``n_skipped_``) by default, or raise
:class:`~ltrr.errors.UnknownNameError` with ``on_unknown_item="raise"``; a
malformed record (not an Interaction, empty query, non-finite timestamp) raises
before any record of the batch is applied.
"""

from __future__ import annotations

import io
import logging
import math
import re
import threading
import warnings
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt

from ltrr.errors import CorruptModelError, EmptyQueryError, InvalidInputError, UnknownNameError
from ltrr.io import atomic_write_bytes, atomic_write_json, read_json
from ltrr.registry import register_strategy
from ltrr.strategy import Capability
from ltrr.text import normalise_text
from ltrr.types import (
    MAX_QUERY_CHARS,
    Catalog,
    Context,
    EngagementKind,
    Interaction,
    Item,
    Query,
    request_time,
)
from strategies.base import IndexArray, ScoreArray, Strategy, coerce_query

__all__ = [
    "DEFAULT_WEIGHTS",
    "NEIGHBOUR_BACKENDS",
    "EmbeddingNeighbours",
    "MemoryStrategy",
    "NeighbourIndex",
    "NgramQueryPredictor",
    "QueryPredictor",
    "TfidfNeighbours",
    "normalise_query",
]

log = logging.getLogger(__name__)

#: Default weight of each engagement kind (impressions count as exposure, not engagement).
DEFAULT_WEIGHTS: Mapping[str, float] = {
    EngagementKind.PURCHASE.value: 4.0,
    EngagementKind.PLAY.value: 2.0,
    EngagementKind.CLICK.value: 1.0,
    EngagementKind.SKIP.value: -0.5,
    EngagementKind.REFORMULATION.value: -1.0,
}
#: Built-in neighbour backends (plus "custom" for an object passed in).
NEIGHBOUR_BACKENDS = ("tfidf", "embedding", "none")
_UNKNOWN_ITEM_POLICIES = ("warn", "raise")
_STATE_JSON = "memory.json"
_STATE_NPZ = "memory.npz"
_STATE_FORMAT = "ltrr.memory"
_STATE_VERSION = 1

#: A query predictor maps an item to (query text, weight in (0, 1]) pairs.
QueryPredictor = Callable[[Item], Iterable[tuple[str, float]]]

# Fields of one (key, item) record.
_POS, _NEG, _SHOWN, _EVENTS, _T = range(5)
_N_REC = 5


#: The memory key of a query text: the same normalisation as the selector's query keys.
normalise_query = normalise_text


# --------------------------------------------------------------------------- predictor

_WORD = re.compile(r"\w+(?:'\w+)*")
_PREDICT_STOPWORDS = frozenset(
    "the a an and or of in on at to for with from by is it its be my me you your we our "
    "i he she they them this that de la el en le les des du et y un une".split()
)


class NgramQueryPredictor:
    """Predict the queries that would find an item, from its own text.

    Proposed queries (and weights): each short field in full (1.0), all short
    fields joined in catalog order, e.g. ``"<title> <artist>"`` (1.0), word
    n-grams of each field (``0.5 * n / max_n``; single words that are stop words
    or shorter than 3 characters are left out), string attribute values and
    categories (``attribute_weight``), and optionally the first 1 to
    ``prefix_chars`` characters of the first field read (what autocomplete users
    type; ``0.05`` per character). The ``max_queries`` heaviest are kept.

    Parameters
    ----------
    fields : sequence of str, optional
        Fields to read (default: every field of the item).
    max_n : int
        Longest word n-gram (default 3).
    max_words : int
        A field is proposed in full only when it has at most this many words, and
        n-grams come from its first ``max_words`` words only (default 12).
    max_queries : int
        Most queries kept per item (default 30).
    attribute_weight : float
        Weight of attribute values and categories (default 0.25; 0 leaves them out).
    prefix_chars : int
        Longest character prefix of the first field proposed (default 0: none).
    """

    def __init__(
        self,
        *,
        fields: Sequence[str] | None = None,
        max_n: int = 3,
        max_words: int = 12,
        max_queries: int = 30,
        attribute_weight: float = 0.25,
        prefix_chars: int = 0,
    ) -> None:
        if fields is not None and (
            isinstance(fields, str) or not all(isinstance(f, str) for f in fields)
        ):
            raise InvalidInputError(f"fields must be a list of field names, got {fields!r}")
        for pname, value in (
            ("max_n", max_n),
            ("max_words", max_words),
            ("max_queries", max_queries),
        ):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise InvalidInputError(f"{pname} must be an integer >= 1, got {value!r}")
        if isinstance(prefix_chars, bool) or not isinstance(prefix_chars, int) or prefix_chars < 0:
            raise InvalidInputError(f"prefix_chars must be an integer >= 0, got {prefix_chars!r}")
        _check_real("attribute_weight", attribute_weight, low=0.0, high=1.0)
        self.fields = None if fields is None else list(fields)
        self.max_n = max_n
        self.max_words = max_words
        self.max_queries = max_queries
        self.attribute_weight = float(attribute_weight)
        self.prefix_chars = prefix_chars

    def get_params(self) -> dict[str, Any]:
        """Return the constructor parameters (JSON-serialisable)."""
        return {
            "fields": self.fields,
            "max_n": self.max_n,
            "max_words": self.max_words,
            "max_queries": self.max_queries,
            "attribute_weight": self.attribute_weight,
            "prefix_chars": self.prefix_chars,
        }

    def __repr__(self) -> str:
        params = ", ".join(f"{k}={v!r}" for k, v in self.get_params().items())
        return f"NgramQueryPredictor({params})"

    def __call__(self, item: Item) -> list[tuple[str, float]]:
        """Return the predicted queries of ``item`` with their weights, heaviest first.

        Parameters
        ----------
        item : Item
            The item.

        Returns
        -------
        list of (str, float)
            Normalised query texts and weights in (0, 1].
        """
        names = self.fields if self.fields is not None else list(item.fields)
        out: dict[str, float] = {}

        def put(text: str, weight: float) -> None:
            key = normalise_query(text)
            if key and len(key) <= MAX_QUERY_CHARS and weight > out.get(key, 0.0):
                out[key] = weight

        short: list[str] = []
        if self.prefix_chars and names:
            first = normalise_query(item.fields.get(names[0], ""))
            for n in range(1, min(self.prefix_chars, len(first)) + 1):
                put(first[:n], 0.05 * n)
        for name in names:
            text = item.fields.get(name, "")
            words = text.split()
            if not words:
                continue
            if len(words) <= self.max_words:
                put(text, 1.0)
                short.append(text)
            tokens = [w.lower() for w in _WORD.findall(" ".join(words[: self.max_words]))]
            for n in range(1, self.max_n + 1):
                weight = 0.5 * n / self.max_n
                for s in range(len(tokens) - n + 1):
                    gram = tokens[s : s + n]
                    if n == 1 and (len(gram[0]) < 3 or gram[0] in _PREDICT_STOPWORDS):
                        continue
                    put(" ".join(gram), weight)
        if len(short) > 1:
            put(" ".join(short), 1.0)
        if self.attribute_weight > 0:
            for value in item.attributes.values():
                if isinstance(value, str):
                    put(value, self.attribute_weight)
            for cat in item.categories:
                put(cat, self.attribute_weight)
        ranked = sorted(out.items(), key=lambda kv: (-kv[1], kv[0]))
        return ranked[: self.max_queries]


# --------------------------------------------------------------------------- neighbours


@runtime_checkable
class NeighbourIndex(Protocol):
    """Nearest known query keys of an unseen query (the pluggable fallback).

    An implementation holds a set of keys, grows with :meth:`add` (called once
    per new key, so it should defer expensive work), and answers :meth:`search`
    with ``(key, similarity)`` pairs, most similar first, similarities in (0, 1].
    """

    def reset(self, keys: Sequence[str]) -> None:
        """Replace the known keys by ``keys``."""

    def add(self, keys: Sequence[str]) -> None:
        """Add keys (already known keys are ignored)."""

    def search(self, text: str, n: int) -> list[tuple[str, float]]:
        """Return at most ``n`` known keys most similar to ``text``, with similarities."""


class _KeyList:
    """Known keys in insertion order, without duplicates."""

    def __init__(self) -> None:
        self.keys: list[str] = []
        self.index: dict[str, int] = {}

    def reset(self, keys: Sequence[str]) -> None:
        self.keys = list(dict.fromkeys(keys))
        self.index = {k: i for i, k in enumerate(self.keys)}

    def add(self, keys: Sequence[str]) -> None:
        for k in keys:
            if k not in self.index:
                self.index[k] = len(self.keys)
                self.keys.append(k)


def _top(indices: npt.NDArray[np.int64], sims: npt.NDArray[np.float64], n: int) -> list[int]:
    """Positions into ``indices`` of the ``n`` largest similarities, best first."""
    if len(sims) > n:
        part = np.argpartition(-sims, n - 1)[:n]
    else:
        part = np.arange(len(sims))
    order = part[np.lexsort((indices[part], -sims[part]))]
    return [int(i) for i in order]


class TfidfNeighbours:
    """Nearest known keys by cosine similarity of character n-gram TF-IDF vectors.

    scikit-learn's :class:`~sklearn.feature_extraction.text.TfidfVectorizer`
    (``char_wb`` n-grams, sublinear tf) fits the vocabulary and idf on the known
    keys; the fitted keys are searched through an inverted index that reads only
    the postings of the query's n-grams. Keys added since the last fit are
    vectorised with the fitted vocabulary into a small second inverted index; the
    vectoriser is refitted on all keys once the new keys outnumber
    ``refit_growth`` times the fitted ones, so fitting costs O(1) amortised per key.

    Parameters
    ----------
    ngram_range : (int, int)
        Character n-gram lengths within word boundaries (default (2, 4)).
    refit_growth : float
        Refit when the unfitted keys exceed this share of the fitted ones (default 0.25).
    """

    name = "tfidf"

    def __init__(
        self, *, ngram_range: tuple[int, int] = (2, 4), refit_growth: float = 0.25
    ) -> None:
        lo, hi = ngram_range
        if not 1 <= lo <= hi:
            raise InvalidInputError(f"ngram_range must satisfy 1 <= lo <= hi, got {ngram_range!r}")
        _check_real("refit_growth", refit_growth, low=0.0, high=100.0)
        self.ngram_range = (int(lo), int(hi))
        self.refit_growth = float(refit_growth)
        self._keys = _KeyList()
        self._fitted = False
        self._n_fit = 0
        self._analyzer: Callable[[str], list[str]] = str.split
        self._vocab: dict[str, int] = {}
        self._idf: list[float] = []
        self._indptr = np.zeros(1, dtype=np.int64)
        self._indices = np.zeros(0, dtype=np.int64)
        self._data = np.zeros(0, dtype=np.float64)
        self._pending_done = 0
        # per term: (rows, weights, count) of the keys added since the fit, growing arrays
        self._pending: dict[int, tuple[npt.NDArray[np.int64], npt.NDArray[np.float64], int]] = {}

    def reset(self, keys: Sequence[str]) -> None:
        """Replace the known keys."""
        self._keys.reset(keys)
        self._fitted = False

    def add(self, keys: Sequence[str]) -> None:
        """Add keys (vectorised lazily at the next search)."""
        self._keys.add(keys)

    def _refit(self) -> None:
        from sklearn.feature_extraction.text import TfidfVectorizer

        keys = self._keys.keys
        vec = TfidfVectorizer(analyzer="char_wb", ngram_range=self.ngram_range, sublinear_tf=True)
        by_term = vec.fit_transform(keys).T.tocsr()
        self._analyzer = vec.build_analyzer()
        self._vocab = {str(t): int(i) for t, i in vec.vocabulary_.items()}
        self._idf = [float(v) for v in vec.idf_]
        self._indptr = by_term.indptr.astype(np.int64)
        self._indices = by_term.indices.astype(np.int64)
        self._data = by_term.data.astype(np.float64)
        self._n_fit = len(keys)
        self._pending_done = 0
        self._pending = {}
        self._fitted = True

    def _vector(self, text: str) -> dict[int, float]:
        """Return the unit TF-IDF vector of ``text`` over the fitted vocabulary."""
        counts: dict[int, int] = {}
        vocab = self._vocab
        for gram in self._analyzer(text):
            t = vocab.get(gram)
            if t is not None:
                counts[t] = counts.get(t, 0) + 1
        idf = self._idf
        weights = {t: (1.0 + math.log(c)) * idf[t] for t, c in counts.items()}
        norm = math.sqrt(sum(v * v for v in weights.values()))
        return {t: v / norm for t, v in weights.items()} if norm > 0 else {}

    def search(self, text: str, n: int) -> list[tuple[str, float]]:
        """Return at most ``n`` known keys most similar to ``text`` (cosine > 0), best first.

        Parameters
        ----------
        text : str
            The (normalised) query.
        n : int
            Most neighbours.

        Returns
        -------
        list of (str, float)
            Keys and cosine similarities.
        """
        keys = self._keys.keys
        if not keys or n < 1:
            return []
        if not self._fitted or len(keys) - self._n_fit > self.refit_growth * self._n_fit:
            self._refit()
        while self._n_fit + self._pending_done < len(keys):
            row = self._pending_done
            for t, v in self._vector(keys[self._n_fit + row]).items():
                rows, weights, count = self._pending.get(t) or (
                    np.zeros(4, dtype=np.int64),
                    np.zeros(4, dtype=np.float64),
                    0,
                )
                if count == len(rows):
                    rows = np.concatenate([rows, np.zeros(count, dtype=np.int64)])
                    weights = np.concatenate([weights, np.zeros(count, dtype=np.float64)])
                rows[count] = self._n_fit + row
                weights[count] = v
                self._pending[t] = (rows, weights, count + 1)
            self._pending_done += 1
        query = self._vector(text)
        if not query:
            return []
        idx_parts: list[npt.NDArray[np.int64]] = []
        val_parts: list[npt.NDArray[np.float64]] = []
        indptr, indices, data = self._indptr, self._indices, self._data
        for t, v in query.items():
            s, e = int(indptr[t]), int(indptr[t + 1])
            if e > s:
                idx_parts.append(indices[s:e])
                val_parts.append(data[s:e] * v)
            pending = self._pending.get(t)
            if pending is not None:
                idx_parts.append(pending[0][: pending[2]])
                val_parts.append(pending[1][: pending[2]] * v)
        if idx_parts:
            idx = np.concatenate(idx_parts)
            vals = np.concatenate(val_parts)
            if len(keys) <= 16 * len(idx):  # dense accumulation is cheaper than sorting
                dense = np.bincount(idx, weights=vals, minlength=len(keys)).astype(
                    np.float64, copy=False
                )
                uniq = np.flatnonzero(dense).astype(np.int64)
                sims = dense[uniq]
            else:
                uniq, inverse = np.unique(idx, return_inverse=True)
                sims = np.bincount(inverse, weights=vals).astype(np.float64)
        else:
            uniq, sims = np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float64)
        keep = sims > 1e-12
        uniq, sims = uniq[keep], sims[keep]
        return [(keys[int(uniq[i])], min(float(sims[i]), 1.0)) for i in _top(uniq, sims, n)]


class EmbeddingNeighbours:
    """Nearest known keys by cosine similarity of sentence embeddings.

    Uses :class:`strategies.encoder.Encoder` (a local sentence-transformers model,
    default the bundled all-MiniLM-L6-v2; nothing is downloaded). New keys are
    encoded in one batch at the next search, through the embedding cache (the
    first search over a large key set pays for encoding it: MiniLM encodes a few
    hundred short keys per second on two CPU cores).

    Parameters
    ----------
    model : str or Path, optional
        A local sentence-transformers folder (default: the bundled MiniLM).
    cache_dir : str or Path or bool, optional
        Embedding cache root, as for :class:`~strategies.encoder.Encoder` (False: none).
    """

    name = "embedding"

    def __init__(
        self, *, model: str | Path | None = None, cache_dir: str | Path | bool | None = None
    ) -> None:
        self.model = model
        self.cache_dir = cache_dir
        self._encoder: Any = None
        self._keys = _KeyList()
        self._vectors = np.zeros((0, 0), dtype=np.float32)

    def _encode(self, texts: Sequence[str], *, cache: bool = True) -> npt.NDArray[np.float32]:
        if self._encoder is None:
            from strategies.encoder import Encoder

            self._encoder = Encoder(self.model, cache_dir=self.cache_dir)
        return np.asarray(self._encoder.encode(list(texts), use_cache=cache), dtype=np.float32)

    def reset(self, keys: Sequence[str]) -> None:
        """Replace the known keys."""
        self._keys.reset(keys)
        self._vectors = np.zeros((0, 0), dtype=np.float32)

    def add(self, keys: Sequence[str]) -> None:
        """Add keys (encoded lazily at the next search)."""
        self._keys.add(keys)

    def search(self, text: str, n: int) -> list[tuple[str, float]]:
        """Return at most ``n`` known keys most similar to ``text`` (cosine > 0), best first.

        Parameters
        ----------
        text : str
            The (normalised) query.
        n : int
            Most neighbours.

        Returns
        -------
        list of (str, float)
            Keys and cosine similarities.
        """
        keys = self._keys.keys
        if not keys or n < 1:
            return []
        done = len(self._vectors) if self._vectors.size else 0
        if done < len(keys):
            new = self._encode(keys[done:])
            self._vectors = new if done == 0 else np.vstack([self._vectors, new])
        q = self._encode([text], cache=False)[0]  # queries are not worth caching
        sims = (self._vectors @ q).astype(np.float64)
        idx = np.arange(len(sims), dtype=np.int64)
        keep = sims > 0
        idx, sims = idx[keep], sims[keep]
        return [(keys[int(idx[i])], min(float(sims[i]), 1.0)) for i in _top(idx, sims, n)]


# --------------------------------------------------------------------------- statistics


class _KeyStats:
    """Statistics of one query key in one layer: per-item records and key totals."""

    __slots__ = ("items", "mass", "shown", "t")

    def __init__(self, t: float) -> None:
        self.items: dict[int, list[float]] = {}
        self.mass = 0.0  # decayed engagement mass, sum |weight|
        self.shown = 0.0  # decayed impressions
        self.t = t  # time the totals are decayed to


class _User:
    """One user's personal layer: statistics per query key, and item affinity over all keys."""

    __slots__ = ("affinity", "keys")

    def __init__(self, t: float) -> None:
        self.keys: OrderedDict[str, _KeyStats] = OrderedDict()  # least recently used first
        self.affinity = _KeyStats(t)  # engagements under any query (no impressions)


def _make_neighbours(neighbours: object) -> tuple[str, NeighbourIndex | None]:
    """Return the backend name and index for the ``neighbours`` parameter."""
    if isinstance(neighbours, str):
        if neighbours not in (*NEIGHBOUR_BACKENDS, "custom"):
            raise UnknownNameError(
                f"unknown neighbours backend {neighbours!r}; expected one of "
                f"{list(NEIGHBOUR_BACKENDS)} or a NeighbourIndex object"
            )
        if neighbours == "tfidf":
            return neighbours, TfidfNeighbours()
        if neighbours == "embedding":
            return neighbours, EmbeddingNeighbours()
        return neighbours, None
    if isinstance(neighbours, NeighbourIndex):
        return "custom", neighbours
    raise InvalidInputError(
        f"neighbours must be one of {list(NEIGHBOUR_BACKENDS)} or an object with "
        f"reset/add/search methods, got {type(neighbours).__name__}"
    )


def _check_real(name: str, value: object, *, low: float, high: float = math.inf) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.floating, np.integer)):
        raise InvalidInputError(f"{name} must be a number in [{low}, {high}], got {value!r}")
    number = float(value)
    if not math.isfinite(number) or not low <= number <= high:
        raise InvalidInputError(f"{name} must be a finite number in [{low}, {high}], got {value!r}")
    return number


def _check_int(name: str, value: object, *, low: int, allow_none: bool = False) -> int | None:
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
        extra = " or None" if allow_none else ""
        raise InvalidInputError(f"{name} must be an integer >= {low}{extra}, got {value!r}")
    return int(value)


# --------------------------------------------------------------------------- strategy


@register_strategy
class MemoryStrategy(Strategy):
    """Retrieve the items that engaged users after the same query (global and personal).

    See the module docstring for the scoring, decay, layers, cold start and caps.

    Parameters
    ----------
    name : str, optional
        Instance name in results (default ``"memory"``).
    weights : Mapping[str, float], optional
        Weight per engagement kind, overriding :data:`DEFAULT_WEIGHTS` kind by kind
        (keys: ``"click"``, ``"play"``, ``"purchase"``, ``"skip"``,
        ``"reformulation"``). Impressions are exposure and take no weight.
    half_life : float or None
        Half-life of the statistics in seconds (default 30 days); None: no decay.
    smoothing : float
        Prior strength ``a`` in exposure units (default 30, > 0).
    personal_strength : float
        User engagement mass on a key at which personal and global weigh equally
        (default 2, one play; 0: personal alone once the user has history).
    affinity_weight : float
        Weight of the user's item affinity (engagement with the item under any
        query), added to the scores of the query's candidates in units of the
        key's best global score (default 0.5; 0 turns it off).
    cold_start_weight : float
        Pseudo-engagement mass of a predicted (query, item) pair, times the
        predictor's weight (default 0.5; 0 turns predictions off).
    query_predictor : callable or dict or None
        ``Item -> iterable of (query text, weight)``; a dict configures
        :class:`NgramQueryPredictor` (default: ``NgramQueryPredictor()``). A custom
        callable runs at :meth:`fit` only and is not saved (its predictions are):
        ``get_params`` reports it as ``"custom"``, and a strategy built or loaded
        with ``"custom"`` needs the callable again to be refitted.
    neighbours : {"tfidf", "embedding", "none"} or NeighbourIndex
        Fallback for unseen query keys (default "tfidf"). A custom object is
        reported as ``"custom"``; after :meth:`load` call :meth:`set_neighbours`
        to plug it in again (until then unseen keys get no fallback).
    n_neighbours : int
        Neighbour keys used by the fallback (default 5).
    min_similarity : float
        Least similarity of a neighbour key, in [0, 1] (default 0.3).
    max_items_per_query : int
        Items kept per query key and layer (default 200).
    max_queries_per_user : int
        Query keys kept per user (default 200; least recently used evicted).
    max_users : int or None
        Users kept (default 100,000; least recently active evicted).
    max_queries : int or None
        Global query keys kept (default 1,000,000; least recently updated evicted).
    on_unknown_item : {"warn", "raise"}
        What :meth:`update` does with an interaction naming an item outside the
        catalog: skip it with a warning (default) or raise UnknownNameError.

    Attributes
    ----------
    clock_ : float
        Latest interaction time seen (seconds).
    n_interactions_ : int
        Interactions applied.
    n_skipped_ : int
        Interactions skipped because they named unknown items.
    """

    kind = "memory"
    source_type = "memory"
    capabilities = frozenset(
        {Capability.QUERY_SIGNALS, Capability.SCORE_ITEMS, Capability.LEARNS_ONLINE}
    )

    def __init__(
        self,
        *,
        name: str | None = None,
        weights: Mapping[str, float] | None = None,
        half_life: float | None = 30 * 86_400.0,
        smoothing: float = 30.0,
        personal_strength: float = 2.0,
        affinity_weight: float = 0.5,
        cold_start_weight: float = 0.5,
        query_predictor: QueryPredictor | Mapping[str, Any] | str | None = None,
        neighbours: str | NeighbourIndex = "tfidf",
        n_neighbours: int = 5,
        min_similarity: float = 0.3,
        max_items_per_query: int = 200,
        max_queries_per_user: int = 200,
        max_users: int | None = 100_000,
        max_queries: int | None = 1_000_000,
        on_unknown_item: str = "warn",
    ) -> None:
        super().__init__(name=name)
        self.weights = self._check_weights(weights)
        if half_life is not None:
            _check_real("half_life", half_life, low=0.0)
            if half_life <= 0:
                raise InvalidInputError(f"half_life must be > 0 seconds or None, got {half_life!r}")
        self.half_life = None if half_life is None else float(half_life)
        self.smoothing = _check_real("smoothing", smoothing, low=0.0)
        if self.smoothing <= 0:
            raise InvalidInputError(f"smoothing must be > 0, got {smoothing!r}")
        self.personal_strength = _check_real("personal_strength", personal_strength, low=0.0)
        self.affinity_weight = _check_real("affinity_weight", affinity_weight, low=0.0)
        self.cold_start_weight = _check_real("cold_start_weight", cold_start_weight, low=0.0)
        self.n_neighbours = int(_check_int("n_neighbours", n_neighbours, low=1) or 1)
        self.min_similarity = _check_real("min_similarity", min_similarity, low=0.0, high=1.0)
        self.max_items_per_query = int(
            _check_int("max_items_per_query", max_items_per_query, low=1) or 1
        )
        self.max_queries_per_user = int(
            _check_int("max_queries_per_user", max_queries_per_user, low=1) or 1
        )
        self.max_users = _check_int("max_users", max_users, low=1, allow_none=True)
        self.max_queries = _check_int("max_queries", max_queries, low=1, allow_none=True)
        if on_unknown_item not in _UNKNOWN_ITEM_POLICIES:
            raise UnknownNameError(
                f"on_unknown_item must be one of {list(_UNKNOWN_ITEM_POLICIES)}, got {on_unknown_item!r}"
            )
        self.on_unknown_item = on_unknown_item

        self._predictor: QueryPredictor | None
        if query_predictor is None:
            self._predictor = NgramQueryPredictor()
        elif isinstance(query_predictor, str):
            if query_predictor != "custom":
                raise InvalidInputError(
                    "query_predictor must be a callable, a dict of NgramQueryPredictor "
                    f"parameters, None or 'custom', got {query_predictor!r}"
                )
            self._predictor = None
        elif isinstance(query_predictor, Mapping):
            try:
                self._predictor = NgramQueryPredictor(**dict(query_predictor))
            except TypeError as exc:
                raise InvalidInputError(
                    f"query_predictor parameters {dict(query_predictor)!r} are invalid: {exc}"
                ) from None
        elif callable(query_predictor):
            self._predictor = query_predictor
        else:
            raise InvalidInputError(
                "query_predictor must be a callable, a dict of NgramQueryPredictor parameters, "
                f"None or 'custom', got {type(query_predictor).__name__}"
            )

        self.neighbours, self._neighbour_index = _make_neighbours(neighbours)

        self._lam = 0.0 if self.half_life is None else math.log(2.0) / self.half_life
        self._slack = max(1, self.max_items_per_query // 4)
        self._lock = threading.RLock()
        self._item_pos: dict[str, int] = {}
        self._global: OrderedDict[str, _KeyStats] = OrderedDict()
        self._users: OrderedDict[str, _User] = OrderedDict()
        self._predicted: dict[str, dict[int, float]] = {}
        self.clock_ = 0.0
        self.n_interactions_ = 0
        self.n_skipped_ = 0

    @staticmethod
    def _check_weights(weights: Mapping[str, float] | None) -> dict[str, float]:
        out = dict(DEFAULT_WEIGHTS)
        if weights is None:
            return out
        if not isinstance(weights, Mapping):
            raise InvalidInputError(
                f"weights must be a mapping of engagement kind -> weight, got {weights!r}"
            )
        for kind, value in weights.items():
            name = kind.value if isinstance(kind, EngagementKind) else kind
            if name == EngagementKind.IMPRESSION.value:
                raise InvalidInputError(
                    "weights must not name 'impression': impressions count as exposure, "
                    f"not engagement; got weights={dict(weights)!r}"
                )
            if name not in DEFAULT_WEIGHTS:
                raise UnknownNameError(
                    f"weights names unknown engagement kind {kind!r}; expected some of "
                    f"{sorted(DEFAULT_WEIGHTS)}"
                )
            out[str(name)] = _check_real(f"weights[{name!r}]", value, low=-1e6, high=1e6)
        return out

    def get_params(self) -> dict[str, Any]:
        """Return the constructor parameters (custom callables as ``"custom"``)."""
        predictor: Any
        if isinstance(self._predictor, NgramQueryPredictor):
            predictor = self._predictor.get_params()
        else:
            predictor = "custom"
        return {
            "weights": dict(self.weights),
            "half_life": self.half_life,
            "smoothing": self.smoothing,
            "personal_strength": self.personal_strength,
            "affinity_weight": self.affinity_weight,
            "cold_start_weight": self.cold_start_weight,
            "query_predictor": predictor,
            "neighbours": self.neighbours,
            "n_neighbours": self.n_neighbours,
            "min_similarity": self.min_similarity,
            "max_items_per_query": self.max_items_per_query,
            "max_queries_per_user": self.max_queries_per_user,
            "max_users": self.max_users,
            "max_queries": self.max_queries,
            "on_unknown_item": self.on_unknown_item,
        }

    def set_neighbours(self, neighbours: str | NeighbourIndex) -> None:
        """Replace the neighbour fallback (e.g. a custom index after :meth:`load`).

        Parameters
        ----------
        neighbours : {"tfidf", "embedding", "none"} or NeighbourIndex
            The new backend; it is given every known key.
        """
        name, index = _make_neighbours(neighbours)
        with self._lock:
            self.neighbours, self._neighbour_index = name, index
            self._reset_neighbours()

    # ------------------------------------------------------------------- sizes
    @property
    def n_queries(self) -> int:
        """Number of query keys in the global layer."""
        return len(self._global)

    @property
    def n_users(self) -> int:
        """Number of users with a personal layer."""
        return len(self._users)

    def user_queries(self, user_id: str) -> list[str]:
        """Return the query keys held for a user, least recently used first.

        Parameters
        ----------
        user_id : str
            The user.

        Returns
        -------
        list of str
            Keys (empty for an unknown user).
        """
        layer = self._users.get(user_id)
        return [] if layer is None else list(layer.keys)

    def query_items(self, query: Query | str, *, user_id: str | None = None) -> list[str]:
        """Return the item ids held for a query key (globally, or for one user).

        Parameters
        ----------
        query : Query or str
            The query.
        user_id : str, optional
            Read this user's personal layer instead of the global one.

        Returns
        -------
        list of str
            Item ids in insertion order (observed pairs only, not predictions).
        """
        key = normalise_query(coerce_query(query).text)
        if user_id is None:
            stats = self._global.get(key)
        else:
            layer = self._users.get(user_id)
            stats = None if layer is None else layer.keys.get(key)
        ids = self._ids()
        return [] if stats is None else [ids[p] for p in stats.items]

    # -------------------------------------------------------------------- fit
    def _fit(self, catalog: Catalog) -> None:
        if self._predictor is None and self.cold_start_weight > 0:
            raise InvalidInputError(
                "this MemoryStrategy has query_predictor='custom' (a callable that is not saved); "
                "construct it with the callable again, or cold_start_weight=0, to refit"
            )
        with self._lock:
            self._item_pos = {item.id: i for i, item in enumerate(catalog)}
            self._global = OrderedDict()
            self._users = OrderedDict()
            self._predicted = {}
            self.clock_ = 0.0
            self.n_interactions_ = 0
            self.n_skipped_ = 0
            if self.cold_start_weight > 0 and self._predictor is not None:
                self._predict(catalog, self._predictor)
            self._reset_neighbours()

    def _predict(self, catalog: Catalog, predictor: QueryPredictor) -> None:
        table: dict[str, dict[int, float]] = {}
        for pos, item in enumerate(catalog):
            for entry in predictor(item):
                try:
                    text, weight = entry
                except (TypeError, ValueError):
                    raise InvalidInputError(
                        f"query_predictor must yield (query, weight) pairs; for item {item.id!r} "
                        f"it yielded {entry!r}"
                    ) from None
                if not isinstance(text, str):
                    raise InvalidInputError(
                        f"query_predictor yielded a non-string query {text!r} for item {item.id!r}"
                    )
                if (
                    isinstance(weight, bool)
                    or not isinstance(weight, (int, float))
                    or not math.isfinite(weight)
                    or not 0 < weight <= 1
                ):
                    raise InvalidInputError(
                        f"query_predictor weights must lie in (0, 1]; for item {item.id!r} and "
                        f"query {text!r} it gave {weight!r}"
                    )
                key = normalise_query(text)
                if not key or len(key) > MAX_QUERY_CHARS:
                    continue
                row = table.setdefault(key, {})
                if weight > row.get(pos, 0.0):
                    row[pos] = float(weight)
        cap = self.max_items_per_query
        pop = catalog.popularity()
        for key, row in table.items():
            if len(row) > cap:
                best = sorted(row.items(), key=lambda kv: (-kv[1], -pop[kv[0]], kv[0]))[:cap]
                table[key] = dict(best)
        self._predicted = table

    def _reset_neighbours(self) -> None:
        if self._neighbour_index is not None:
            keys = list(dict.fromkeys([*self._global, *self._predicted]))
            self._neighbour_index.reset(keys)

    # ----------------------------------------------------------------- update
    def update(self, interactions: Iterable[Interaction]) -> None:
        """Learn from engagements, O(1) amortised per interaction.

        Each interaction updates the global layer and, when it names a user, that
        user's personal layer. The batch is checked first: a malformed record
        raises and nothing of the batch is applied.

        Parameters
        ----------
        interactions : iterable of Interaction
            Engagements (impressions, clicks, plays, purchases, skips, reformulations).

        Raises
        ------
        InvalidInputError
            If ``interactions`` is not an iterable of Interaction records, or a
            record has a non-finite timestamp.
        EmptyQueryError
            If a record's query is empty or whitespace only.
        UnknownNameError
            If a record names an item outside the catalog and ``on_unknown_item="raise"``.
        """
        ids = self._ids()
        if isinstance(interactions, (Interaction, str, bytes)) or not isinstance(
            interactions, Iterable
        ):
            raise InvalidInputError(
                "update expects an iterable of Interaction records, got "
                f"{type(interactions).__name__}"
            )
        batch: list[tuple[str, int, EngagementKind, str | None, float | None]] = []
        unknown: list[str] = []
        for i, rec in enumerate(interactions):
            if not isinstance(rec, Interaction):
                raise InvalidInputError(
                    f"interactions[{i}] must be an Interaction, got {type(rec).__name__}"
                )
            if not isinstance(rec.query, str):
                raise InvalidInputError(
                    f"interactions[{i}].query must be a string, got {type(rec.query).__name__}"
                )
            key = normalise_query(rec.query)
            if not key:
                raise EmptyQueryError(
                    f"interactions[{i}].query is empty or whitespace only ({rec.query!r}); "
                    "expected at least one non-space character"
                )
            if len(key) > MAX_QUERY_CHARS:
                raise InvalidInputError(
                    f"interactions[{i}].query has {len(key)} characters; expected at most "
                    f"{MAX_QUERY_CHARS}"
                )
            ts = rec.timestamp
            if ts is not None and (
                isinstance(ts, bool) or not isinstance(ts, (int, float)) or not math.isfinite(ts)
            ):
                raise InvalidInputError(
                    f"interactions[{i}].timestamp must be a finite number or None, got {ts!r}"
                )
            pos = self._item_pos.get(rec.item_id) if isinstance(rec.item_id, str) else None
            if pos is None:
                if self.on_unknown_item == "raise":
                    raise UnknownNameError(
                        f"interactions[{i}].item_id {rec.item_id!r} is not in the catalog of "
                        f"{len(ids)} items; pass on_unknown_item='warn' to skip such records"
                    )
                unknown.append(repr(rec.item_id))
                continue
            user = rec.user_id if isinstance(rec.user_id, str) and rec.user_id.strip() else None
            batch.append((key, pos, rec.kind, user, None if ts is None else float(ts)))
        if unknown:
            self.n_skipped_ += len(unknown)
            warnings.warn(
                f"MemoryStrategy.update skipped {len(unknown)} interaction(s) naming items not in "
                f"the catalog (e.g. {', '.join(unknown[:3])})",
                UserWarning,
                stacklevel=2,
            )
        with self._lock:
            for key, pos, kind, user, ts in batch:
                t = self.clock_ if ts is None else ts
                if t > self.clock_:
                    self.clock_ = t
                self._apply_one(key, pos, kind, user, t)
            self.n_interactions_ += len(batch)

    def _apply_one(
        self, key: str, pos: int, kind: EngagementKind, user: str | None, t: float
    ) -> None:
        impression = kind is EngagementKind.IMPRESSION
        weight = 0.0 if impression else self.weights[kind.value]
        stats = self._global.get(key)
        if stats is None:
            stats = self._global[key] = _KeyStats(t)
            if self._neighbour_index is not None and key not in self._predicted:
                self._neighbour_index.add([key])
            if self.max_queries is not None and len(self._global) > self.max_queries:
                self._global.popitem(last=False)
        else:
            self._global.move_to_end(key)
        self._record(stats, pos, impression, weight, t)
        if user is None:
            return
        layer = self._users.get(user)
        if layer is None:
            layer = self._users[user] = _User(t)
            if self.max_users is not None and len(self._users) > self.max_users:
                self._users.popitem(last=False)
        else:
            self._users.move_to_end(user)
        ustats = layer.keys.get(key)
        if ustats is None:
            ustats = layer.keys[key] = _KeyStats(t)
            if len(layer.keys) > self.max_queries_per_user:
                layer.keys.popitem(last=False)
        else:
            layer.keys.move_to_end(key)
        self._record(ustats, pos, impression, weight, t)
        if not impression:
            self._record(layer.affinity, pos, False, weight, t)

    def _record(
        self, stats: _KeyStats, pos: int, impression: bool, weight: float, t: float
    ) -> None:
        if t >= stats.t:
            if self._lam and t > stats.t:
                f = self._decay(t - stats.t)
                stats.mass *= f
                stats.shown *= f
            stats.t = t
            g = 1.0
        else:
            g = self._decay(stats.t - t)
        if impression:
            stats.shown += g
        else:
            stats.mass += abs(weight) * g
        rec = stats.items.get(pos)
        if rec is None:
            rec = stats.items[pos] = [0.0, 0.0, 0.0, 0.0, t]
            h = 1.0
        elif t >= rec[_T]:
            if self._lam and t > rec[_T]:
                f = self._decay(t - rec[_T])
                rec[_POS] *= f
                rec[_NEG] *= f
                rec[_SHOWN] *= f
                rec[_EVENTS] *= f
            rec[_T] = t
            h = 1.0
        else:
            h = self._decay(rec[_T] - t)
        if impression:
            rec[_SHOWN] += h
        else:
            rec[_EVENTS] += h
            if weight > 0:
                rec[_POS] += weight * h
            elif weight < 0:
                rec[_NEG] -= weight * h
        if len(stats.items) > self.max_items_per_query + self._slack:
            self._trim(stats)

    def _trim(self, stats: _KeyStats) -> None:
        """Keep the ``max_items_per_query`` items with the largest decayed ``pos - neg``."""
        lam = self._lam
        positions = np.fromiter(stats.items.keys(), dtype=np.int64, count=len(stats.items))
        recs = np.asarray(list(stats.items.values()), dtype=np.float64)
        decay = np.exp(-lam * np.maximum(stats.t - recs[:, _T], 0.0)) if lam else 1.0
        value = (recs[:, _POS] - recs[:, _NEG]) * decay
        events = recs[:, _EVENTS] * decay
        order = np.lexsort((positions, -events, -value))
        for p in positions[order[self.max_items_per_query :]].tolist():
            del stats.items[int(p)]

    # --------------------------------------------------------------- retrieve
    def _now(self, context: Context | None) -> float:
        return float(request_time(context, self.clock_))

    def _decay(self, dt: float) -> float:
        """Return the decay factor over ``dt`` seconds (1 for ``dt <= 0`` or no half-life)."""
        return math.exp(-self._lam * dt) if self._lam and dt > 0 else 1.0

    def _mass_at(self, stats: _KeyStats, now: float) -> float:
        """Return a key's engagement mass decayed to ``now``."""
        return stats.mass * self._decay(now - stats.t)

    def _layer_scores(
        self, stats: _KeyStats | None, now: float, prior: Mapping[int, float] | None = None
    ) -> tuple[dict[int, float], float]:
        """Return per-item scores of one layer for one key, and the key's decayed mass.

        ``prior`` holds pseudo-engagement mass per item (the cold-start predictions),
        added to the numerator of the smoothed rate, observed or not.
        """
        lam = self._lam
        a = self.smoothing
        mass = 0.0
        rate_mode = False
        out: dict[int, float] = {}
        if stats is not None:
            mass = self._mass_at(stats, now)
            rate_mode = stats.shown > 0
            for pos, rec in stats.items.items():
                f = math.exp(-lam * max(now - rec[_T], 0.0)) if lam else 1.0
                num = (rec[_POS] - rec[_NEG]) * f
                if prior is not None:
                    num += prior.get(pos, 0.0)
                den = (max(rec[_SHOWN], rec[_EVENTS]) * f if rate_mode else mass) + a
                out[pos] = num / den
        if prior:
            den = a if rate_mode else mass + a
            for pos, w in prior.items():
                if pos not in out:
                    out[pos] = w / den
        return out, mass

    def _prior(self, key: str) -> dict[int, float] | None:
        """Return the cold-start pseudo-engagement mass of each predicted item of a key."""
        predicted = self._predicted.get(key)
        if not predicted or self.cold_start_weight <= 0:
            return None
        cw = self.cold_start_weight
        return {pos: cw * w for pos, w in predicted.items()}

    def _key_scores(self, key: str, user: _User | None, now: float) -> dict[int, float]:
        """Blended global (with predictions) and personal scores of the items held for a key."""
        scores, _ = self._layer_scores(self._global.get(key), now, self._prior(key))
        ustats = None if user is None else user.keys.get(key)
        if ustats is None:
            return scores
        personal, umass = self._personal_shares(ustats, now)
        if umass <= 0:
            return scores
        b = self._personal_share(umass)
        top = self._scale(scores)
        out = {p: (1.0 - b) * s for p, s in scores.items()}
        for p, s in personal.items():
            out[p] = out.get(p, 0.0) + b * top * s
        return out

    def _scale(self, scores: Mapping[int, float]) -> float:
        """Return the best global score of a key (personal terms are expressed in its units)."""
        top = max(scores.values(), default=0.0)
        return top if top > 0 else 1.0 / (1.0 + self.smoothing)

    def _personal_shares(self, stats: _KeyStats, now: float) -> tuple[dict[int, float], float]:
        """Return the user's raw share of net engagement per item of a key, and its mass."""
        lam = self._lam
        mass = self._mass_at(stats, now)
        if mass <= 0:
            return {}, 0.0
        out: dict[int, float] = {}
        for pos, rec in stats.items.items():
            f = math.exp(-lam * max(now - rec[_T], 0.0)) if lam else 1.0
            out[pos] = (rec[_POS] - rec[_NEG]) * f / mass
        return out, mass

    def _personal_share(self, mass: float) -> float:
        if mass <= 0:
            return 0.0
        return mass / (mass + self.personal_strength) if self.personal_strength > 0 else 1.0

    def _affinity(self, user: _User, positions: Iterable[int], now: float) -> dict[int, float]:
        """Return the user's affinity ``e / (|e| + 1)`` to each of ``positions`` (any query).

        ``e`` is the user's decayed net engagement mass on the item under any query.
        """
        stats = user.affinity
        lam = self._lam
        out: dict[int, float] = {}
        for p in positions:
            rec = stats.items.get(p)
            if rec is not None:
                f = math.exp(-lam * max(now - rec[_T], 0.0)) if lam else 1.0
                e = (rec[_POS] - rec[_NEG]) * f
                out[p] = e / (abs(e) + 1.0)
        return out

    def neighbours_of(self, query: Query | str, *, n: int | None = None) -> list[tuple[str, float]]:
        """Return the known query keys the fallback would use for ``query``.

        Parameters
        ----------
        query : Query or str
            The query.
        n : int, optional
            Most neighbours (default ``n_neighbours``).

        Returns
        -------
        list of (str, float)
            Keys and similarities (at least ``min_similarity``), most similar first.
        """
        key = normalise_query(coerce_query(query).text)
        with self._lock:
            return self._neighbours(key, self.n_neighbours if n is None else n)

    def _neighbours(self, key: str, n: int) -> list[tuple[str, float]]:
        if self._neighbour_index is None:
            return []
        hits = self._neighbour_index.search(key, n + 1)
        return [(k, s) for k, s in hits if k != key and s >= self.min_similarity][:n]

    def _user(self, context: Context | None) -> _User | None:
        if context is None or not context.user_id or not context.user_id.strip():
            return None
        return self._users.get(context.user_id)

    def _scores(self, query: Query, context: Context | None, k: int) -> dict[int, float]:
        """Scores of every candidate: the key's own, topped up from neighbour keys when thin."""
        key = normalise_query(query.text)
        user = self._user(context)
        now = self._now(context)
        scores = self._key_scores(key, user, now)
        positive = [v for v in scores.values() if v > 0]
        if len(positive) < k:
            fill: dict[int, float] = {}
            for nkey, sim in self._neighbours(key, self.n_neighbours):
                for p, v in self._key_scores(nkey, user, now).items():
                    fill[p] = fill.get(p, 0.0) + sim * v
            fill = {p: v for p, v in fill.items() if v > 0 and scores.get(p, 0.0) == 0.0}
            if positive and fill:
                # a top-up: neighbour items rank below every item that worked for the query itself
                scale = min(1.0, 0.5 * min(positive) / max(fill.values()))
                fill = {p: v * scale for p, v in fill.items()}
            scores.update(fill)
        if user is not None and self.affinity_weight > 0 and scores:
            aw = self.affinity_weight * self._scale(scores)
            for p, v in self._affinity(user, scores, now).items():
                scores[p] += aw * v
        return scores

    def _retrieve(
        self,
        query: Query,
        context: Context | None,
        k: int,
        allowed: npt.NDArray[np.bool_] | None,
    ) -> tuple[IndexArray, ScoreArray]:
        with self._lock:
            scores = self._scores(query, context, k)
        if not scores:
            return np.empty(0, np.int64), np.empty(0, np.float32)
        cand = np.fromiter(scores.keys(), dtype=np.int64, count=len(scores))
        vals = np.fromiter(scores.values(), dtype=np.float64, count=len(scores))
        keep = vals >= 0
        if allowed is not None:
            keep &= allowed[cand]
        cand, vals = cand[keep], vals[keep]
        pop = self._popularity()[cand]
        order = np.lexsort((cand, -pop, -vals))[:k]
        return cand[order], vals[order].astype(np.float32)

    def score_items(
        self, query: Query | str, positions: npt.ArrayLike, *, context: Context | None = None
    ) -> ScoreArray:
        """Return the memory score of given items for a query (0 for items not held).

        The engine's ranker does not complete this strategy's scores (it learns
        online, so its current scores would leak logged engagements into features);
        they serve analysis and custom rankers.

        Parameters
        ----------
        query : Query or str
            The query.
        positions : array-like of int
            Catalog positions of the items to score.
        context : Context, optional
            The request context (its user's personal layer and its time).

        Returns
        -------
        numpy.ndarray of float32
            One score per position.
        """
        q = coerce_query(query)
        pos = self.check_positions(positions)
        with self._lock:
            scores = self._scores(q, context, 1)
        return np.fromiter(
            (scores.get(int(p), 0.0) for p in pos.tolist()), dtype=np.float32, count=len(pos)
        )

    def query_signals(self, query: Query | str) -> dict[str, float]:
        """Query-understanding signals for the plan selector.

        Parameters
        ----------
        query : Query or str
            The query.

        Returns
        -------
        dict of str to float
            ``seen``: 1 when the key has observed statistics; ``mass``: log1p of
            its decayed engagement mass, scaled by 1/10; ``predicted``: 1 when the
            key has cold-start predictions.
        """
        key = normalise_query(coerce_query(query).text)
        with self._lock:
            stats = self._global.get(key)
            mass = 0.0
            if stats is not None:
                mass = self._mass_at(stats, self.clock_)
            return {
                "seen": float(stats is not None and bool(stats.items)),
                "mass": math.log1p(mass) / 10.0,
                "predicted": float(bool(self._predicted.get(key))),
            }

    def explain(
        self, query: Query | str, item_id: str, *, context: Context | None = None
    ) -> dict[str, float]:
        """Return the parts of one item's score for a query (for debugging and tests).

        Parameters
        ----------
        query : Query or str
            The query.
        item_id : str
            The item.
        context : Context, optional
            Whose personal layer, and when.

        Returns
        -------
        dict of str to float
            ``observed`` (the global score from observations alone, NaN when the
            pair was never observed), ``predicted`` (the pair's predictor weight, 0
            when none), ``global`` (the global score with the cold-start prior, 0
            when the key holds neither), ``personal`` (the user's raw share of
            net engagement on the item for this key, NaN when none),
            ``personal_share`` (the blend weight ``b``), ``affinity`` (the user's
            affinity to the item under any query, 0 when none) and ``score`` (the
            final score without the neighbour top-up).

        Raises
        ------
        UnknownNameError
            If ``item_id`` is not in the catalog.
        """
        self._ids()
        q = coerce_query(query)
        pos = self._item_pos.get(item_id)
        if pos is None:
            raise UnknownNameError(f"unknown item id {item_id!r}; not in the fitted catalog")
        key = normalise_query(q.text)
        now = self._now(context)
        with self._lock:
            user = self._user(context)
            out = {"observed": math.nan, "personal": math.nan, "personal_share": 0.0}
            stats = self._global.get(key)
            if stats is not None and pos in stats.items:
                out["observed"] = self._layer_scores(stats, now)[0][pos]
            out["predicted"] = self._predicted.get(key, {}).get(pos, 0.0)
            out["global"] = self._layer_scores(stats, now, self._prior(key))[0].get(pos, 0.0)
            ustats = None if user is None else user.keys.get(key)
            if ustats is not None:
                personal, umass = self._personal_shares(ustats, now)
                if pos in personal:
                    out["personal"] = personal[pos]
                out["personal_share"] = self._personal_share(umass)
            out["affinity"] = (
                0.0 if user is None else self._affinity(user, [pos], now).get(pos, 0.0)
            )
            scores = self._key_scores(key, user, now)
            out["score"] = (
                scores[pos] + self.affinity_weight * self._scale(scores) * out["affinity"]
                if pos in scores
                else 0.0
            )
        return out

    # ------------------------------------------------------------- save/load
    def _save_state(self, folder: Path) -> None:
        with self._lock:
            g_keys = list(self._global)
            g_ptr, g_items, g_recs, g_tot = _pack([self._global[k] for k in g_keys])
            p_keys = list(self._predicted)
            p_ptr = np.zeros(len(p_keys) + 1, dtype=np.int64)
            p_items: list[int] = []
            p_weights: list[float] = []
            for j, key in enumerate(p_keys):
                row = self._predicted[key]
                p_items.extend(row.keys())
                p_weights.extend(row.values())
                p_ptr[j + 1] = len(p_items)
            users = list(self._users)
            user_keys = [list(self._users[u].keys) for u in users]
            u_ptr = np.zeros(len(users) + 1, dtype=np.int64)
            for j, keys in enumerate(user_keys):
                u_ptr[j + 1] = u_ptr[j] + len(keys)
            uk_ptr, uk_items, uk_recs, uk_tot = _pack(
                [self._users[u].keys[k] for u, keys in zip(users, user_keys) for k in keys]
            )
            a_ptr, a_items, a_recs, a_tot = _pack([self._users[u].affinity for u in users])
            atomic_write_json(
                folder / _STATE_JSON,
                {
                    "format": _STATE_FORMAT,
                    "version": _STATE_VERSION,
                    "clock": self.clock_,
                    "n_interactions": self.n_interactions_,
                    "n_skipped": self.n_skipped_,
                    "global_keys": g_keys,
                    "predicted_keys": p_keys,
                    "users": users,
                    "user_keys": user_keys,
                },
            )
            buf = io.BytesIO()
            np.savez(
                buf,
                global_ptr=g_ptr,
                global_items=g_items,
                global_records=g_recs,
                global_totals=g_tot,
                predicted_ptr=p_ptr,
                predicted_items=np.asarray(p_items, dtype=np.int64),
                predicted_weights=np.asarray(p_weights, dtype=np.float64),
                user_ptr=u_ptr,
                user_key_ptr=uk_ptr,
                user_items=uk_items,
                user_records=uk_recs,
                user_totals=uk_tot,
                affinity_ptr=a_ptr,
                affinity_items=a_items,
                affinity_records=a_recs,
                affinity_totals=a_tot,
            )
            atomic_write_bytes(folder / _STATE_NPZ, buf.getvalue())

    def _load_state(self, folder: Path, n_items: int) -> None:
        meta = read_json(folder / _STATE_JSON, what="memory index description")
        where = str(folder / _STATE_JSON)
        if not isinstance(meta, dict) or meta.get("format") != _STATE_FORMAT:
            raise CorruptModelError(
                f"{where!r} is not a memory index description (expected 'format': {_STATE_FORMAT!r})"
            )
        if meta.get("version") != _STATE_VERSION:
            raise CorruptModelError(
                f"{where!r} has version {meta.get('version')!r}; this ltrr reads {_STATE_VERSION}"
            )
        try:
            g_keys = [str(k) for k in meta["global_keys"]]
            p_keys = [str(k) for k in meta["predicted_keys"]]
            users = [str(u) for u in meta["users"]]
            user_keys = [[str(k) for k in ks] for ks in meta["user_keys"]]
            clock = float(meta["clock"])
            n_inter = int(meta["n_interactions"])
            n_skip = int(meta["n_skipped"])
        except (KeyError, TypeError, ValueError) as exc:
            raise CorruptModelError(f"{where!r} is malformed: {exc!r}") from None
        if len(user_keys) != len(users):
            raise CorruptModelError(
                f"{where!r} lists {len(users)} users but {len(user_keys)} key lists"
            )
        npz = folder / _STATE_NPZ
        try:
            with np.load(npz, allow_pickle=False) as z:
                arrays = {name: np.asarray(z[name]) for name in z.files}
        except FileNotFoundError:
            raise CorruptModelError(f"memory index arrays {str(npz)!r} are missing") from None
        except Exception as exc:
            raise CorruptModelError(
                f"memory index arrays {str(npz)!r} are unreadable: {exc!r}"
            ) from None
        needed = (
            "global_ptr",
            "global_items",
            "global_records",
            "global_totals",
            "predicted_ptr",
            "predicted_items",
            "predicted_weights",
            "user_ptr",
            "user_key_ptr",
            "user_items",
            "user_records",
            "user_totals",
            "affinity_ptr",
            "affinity_items",
            "affinity_records",
            "affinity_totals",
        )
        missing = [n for n in needed if n not in arrays]
        if missing:
            raise CorruptModelError(f"memory index arrays {str(npz)!r} lack {missing}")
        g_stats = _unpack(
            "global", arrays["global_ptr"], arrays["global_items"], arrays["global_records"],
            arrays["global_totals"], len(g_keys), n_items, str(npz),
        )  # fmt: skip
        all_user_keys = [k for ks in user_keys for k in ks]
        u_stats = _unpack(
            "user", arrays["user_key_ptr"], arrays["user_items"], arrays["user_records"],
            arrays["user_totals"], len(all_user_keys), n_items, str(npz),
        )  # fmt: skip
        a_stats = _unpack(
            "affinity", arrays["affinity_ptr"], arrays["affinity_items"],
            arrays["affinity_records"], arrays["affinity_totals"], len(users), n_items, str(npz),
        )  # fmt: skip
        u_ptr = arrays["user_ptr"]
        expected_ptr = np.cumsum([0, *[len(ks) for ks in user_keys]])
        if u_ptr.shape != expected_ptr.shape or not np.array_equal(u_ptr, expected_ptr):
            raise CorruptModelError(f"user pointers in {str(npz)!r} do not match {where!r}")
        p_ptr = arrays["predicted_ptr"]
        p_items = arrays["predicted_items"]
        p_weights = arrays["predicted_weights"]
        _check_ptr("predicted", p_ptr, len(p_keys), len(p_items), str(npz))
        if len(p_weights) != len(p_items):
            raise CorruptModelError(
                f"predicted pairs in {str(npz)!r}: {len(p_items)} items, {len(p_weights)} weights"
            )
        _check_positions("predicted", p_items, n_items, str(npz))
        if len(p_weights) and (not np.all(np.isfinite(p_weights)) or float(p_weights.min()) <= 0):
            raise CorruptModelError(f"predicted weights in {str(npz)!r} must be finite and > 0")
        predicted: dict[str, dict[int, float]] = {}
        items_list = p_items.tolist()
        weights_list = p_weights.tolist()
        for j, key in enumerate(p_keys):
            s, e = int(p_ptr[j]), int(p_ptr[j + 1])
            predicted[key] = dict(zip(items_list[s:e], weights_list[s:e]))
        self._global = OrderedDict(zip(g_keys, g_stats))
        self._users = OrderedDict()
        it = iter(u_stats)
        for user, keys, affinity in zip(users, user_keys, a_stats):
            layer = self._users[user] = _User(affinity.t)
            layer.affinity = affinity
            layer.keys = OrderedDict((k, next(it)) for k in keys)
        self._predicted = predicted
        self.clock_ = clock
        self.n_interactions_ = n_inter
        self.n_skipped_ = n_skip
        items = read_json(folder / "items.json", what="item list")
        self._item_pos = {str(item_id): i for i, item_id in enumerate(items["ids"])}
        self._reset_neighbours()
        if self.neighbours == "custom":
            log.warning(
                "%s was saved with a custom neighbour index; unseen queries get no fallback "
                "until set_neighbours(...) is called",
                folder,
            )


def _pack(
    stats: Sequence[_KeyStats],
) -> tuple[
    npt.NDArray[np.int64], npt.NDArray[np.int64], npt.NDArray[np.float64], npt.NDArray[np.float64]
]:
    ptr = np.zeros(len(stats) + 1, dtype=np.int64)
    items: list[int] = []
    recs: list[list[float]] = []
    totals = np.zeros((len(stats), 3), dtype=np.float64)
    for j, st in enumerate(stats):
        items.extend(st.items.keys())
        recs.extend(st.items.values())
        ptr[j + 1] = len(items)
        totals[j] = (st.mass, st.shown, st.t)
    rec_arr = np.asarray(recs, dtype=np.float64).reshape(len(recs), _N_REC)
    return ptr, np.asarray(items, dtype=np.int64), rec_arr, totals


def _check_ptr(what: str, ptr: npt.NDArray[Any], n_keys: int, n_rows: int, where: str) -> None:
    if (
        ptr.ndim != 1
        or len(ptr) != n_keys + 1
        or (len(ptr) and (int(ptr[0]) != 0 or int(ptr[-1]) != n_rows))
        or np.any(np.diff(ptr) < 0)
    ):
        raise CorruptModelError(
            f"{what} pointers in {where!r} are inconsistent with {n_keys} keys and {n_rows} rows"
        )


def _check_positions(what: str, items: npt.NDArray[Any], n_items: int, where: str) -> None:
    if items.ndim != 1 or (len(items) and (int(items.min()) < 0 or int(items.max()) >= n_items)):
        raise CorruptModelError(
            f"{what} item positions in {where!r} fall outside the {n_items} saved items"
        )


def _unpack(
    what: str,
    ptr: npt.NDArray[Any],
    items: npt.NDArray[Any],
    recs: npt.NDArray[Any],
    totals: npt.NDArray[Any],
    n_keys: int,
    n_items: int,
    where: str,
) -> list[_KeyStats]:
    _check_ptr(what, ptr, n_keys, len(items), where)
    _check_positions(what, items, n_items, where)
    if recs.shape != (len(items), _N_REC) or totals.shape != (n_keys, 3):
        raise CorruptModelError(
            f"{what} records in {where!r} have shapes {recs.shape} and {totals.shape}; "
            f"expected ({len(items)}, {_N_REC}) and ({n_keys}, 3)"
        )
    if not (np.all(np.isfinite(recs)) and np.all(np.isfinite(totals))):
        raise CorruptModelError(f"{what} records in {where!r} hold non-finite values")
    out: list[_KeyStats] = []
    item_list = items.tolist()
    rec_list = recs.tolist()
    for j, (mass, shown, t) in enumerate(totals.tolist()):
        st = _KeyStats(t)
        st.mass, st.shown = mass, shown
        s, e = int(ptr[j]), int(ptr[j + 1])
        st.items = dict(zip(item_list[s:e], rec_list[s:e]))
        out.append(st)
    return out
