"""Self-learning query rewriting: rephrase detection, absorbing Markov chain mining, global and personal tables.

A voice assistant or search box learns from its own defects: a request that got
no positive engagement, quickly followed by a similar request of the same user
that did, is a free (defective query -> good query) example.

* :mod:`~ltrr.rewrites.detect` -- :class:`RephraseDetector` links each failed
  request to its rephrase (same user or session, a time window, a character
  n-gram / edit-distance similarity gate); :func:`request_outcomes` turns
  event-log frames into the outcomes it reads.
* :mod:`~ltrr.rewrites.chain` -- :class:`RewriteMiner` counts transitions over
  all users and solves the absorbing chain ``B = (I - Q)^-1 R`` per component
  with SciPy, keeping each defective query's most likely successful rewrite
  above a confidence and support threshold (global layer) and the same per
  user (personal layer).
* :mod:`~ltrr.rewrites.table` -- :class:`RewriteTable`: lookup (personal first,
  then global), online update from feedback, atomic save and load.
* :mod:`~ltrr.rewrites.mining` -- :func:`mine_log`: the batch job over an event-log
  folder (``ltrr rewrites mine``).
* :mod:`~ltrr.rewrites.trec_sessions` -- the TREC 2013 Session track loader.

See ``docs/rewrites.md``.
"""

from __future__ import annotations

from ltrr.rewrites.chain import ChainSolution, Rewrite, RewriteMiner, solve_chain
from ltrr.rewrites.detect import (
    RephraseDetector,
    Rephrases,
    edit_similarity,
    ngram_similarity,
    request_outcomes,
)
from ltrr.rewrites.table import RewriteTable

__all__ = [
    "ChainSolution",
    "RephraseDetector",
    "Rephrases",
    "Rewrite",
    "RewriteMiner",
    "RewriteTable",
    "edit_similarity",
    "ngram_similarity",
    "request_outcomes",
    "solve_chain",
]
