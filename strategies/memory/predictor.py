"""Cold-start query prediction of the memory index: the queries that would find an item, from its own text."""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from ltrr.errors import InvalidInputError
from ltrr.types import MAX_QUERY_CHARS, Catalog, Item
from ltrr.validation import check_int, check_probability, is_real
from strategies.memory.layers import normalise_query

__all__ = ["NgramQueryPredictor", "QueryPredictor", "make_predictor", "predict_queries"]

#: A query predictor maps an item to (query text, weight in (0, 1]) pairs.
QueryPredictor = Callable[[Item], Iterable[tuple[str, float]]]

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
        self.fields = None if fields is None else list(fields)
        self.max_n = check_int("max_n", max_n, low=1)
        self.max_words = check_int("max_words", max_words, low=1)
        self.max_queries = check_int("max_queries", max_queries, low=1)
        self.prefix_chars = check_int("prefix_chars", prefix_chars, low=0)
        self.attribute_weight = check_probability("attribute_weight", attribute_weight)

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


def make_predictor(
    query_predictor: QueryPredictor | Mapping[str, Any] | str | None,
) -> QueryPredictor | None:
    """Return the predictor the ``query_predictor`` parameter of MemoryStrategy names.

    Parameters
    ----------
    query_predictor : callable or dict or str or None
        A callable ``Item -> iterable of (query, weight)``, a dict of
        :class:`NgramQueryPredictor` parameters, None (the default predictor) or
        ``"custom"`` (a callable that was not saved).

    Returns
    -------
    QueryPredictor or None
        The predictor; None for ``"custom"``.

    Raises
    ------
    InvalidInputError
        If ``query_predictor`` is none of these, or the dict's parameters are invalid.
    """
    if query_predictor is None:
        return NgramQueryPredictor()
    if isinstance(query_predictor, str):
        if query_predictor != "custom":
            raise InvalidInputError(
                "query_predictor must be a callable, a dict of NgramQueryPredictor "
                f"parameters, None or 'custom', got {query_predictor!r}"
            )
        return None
    if isinstance(query_predictor, Mapping):
        try:
            return NgramQueryPredictor(**dict(query_predictor))
        except TypeError as exc:
            raise InvalidInputError(
                f"query_predictor parameters {dict(query_predictor)!r} are invalid: {exc}"
            ) from None
    if callable(query_predictor):
        return query_predictor
    raise InvalidInputError(
        "query_predictor must be a callable, a dict of NgramQueryPredictor parameters, "
        f"None or 'custom', got {type(query_predictor).__name__}"
    )


def predict_queries(
    catalog: Catalog, predictor: QueryPredictor, max_items_per_query: int
) -> dict[str, dict[int, float]]:
    """Return the predicted (query key, item) pairs of a catalog with their weights.

    Parameters
    ----------
    catalog : Catalog
        The items.
    predictor : QueryPredictor
        Proposes queries for one item.
    max_items_per_query : int
        Items kept per key (the heaviest, then the most popular).

    Returns
    -------
    dict of str to dict of int to float
        Per normalised query key, the predictor weight of each catalog position.

    Raises
    ------
    InvalidInputError
        If the predictor yields something other than (str, weight in (0, 1]) pairs.
    """
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
            real = isinstance(weight, float) or is_real(weight)  # float first: skips the ABC check
            if not real or not math.isfinite(weight) or not 0 < weight <= 1:
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
    cap = max_items_per_query
    pop = catalog.popularity()
    for key, row in table.items():
        if len(row) > cap:
            best = sorted(row.items(), key=lambda kv: (-kv[1], -pop[kv[0]], kv[0]))[:cap]
            table[key] = dict(best)
    return table
