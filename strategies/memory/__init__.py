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

from strategies.memory.layers import normalise_query
from strategies.memory.neighbours import (
    NEIGHBOUR_BACKENDS,
    EmbeddingNeighbours,
    NeighbourIndex,
    TfidfNeighbours,
)
from strategies.memory.predictor import NgramQueryPredictor, QueryPredictor
from strategies.memory.strategy import DEFAULT_WEIGHTS, MemoryStrategy

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
