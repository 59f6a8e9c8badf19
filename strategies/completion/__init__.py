r"""Query auto-completion with the XR-tree: prefix (+ previous query) -> a query seen before.

After Yadav et al., *Session-aware query auto-completion using extreme multi-label
ranking* (KDD 2021, PECOS): every distinct past query is a **label**; the input is the
session's previous query together with the typed **prefix**; an XR-Linear tree model
(:class:`~strategies.xlinear.XRLinearModel`) learns ``input -> label`` and serves
completions by beam search.

Pieces
------
* **Indexers** build the label tree (a :class:`~strategies.xlinear.ClusterChain`):

  - ``"kmeans"``: balanced hierarchical k-means over PIFA label vectors (PECOS's
    default), :func:`~strategies.xlinear.hierarchical_kmeans`;
  - ``"trie"``: :func:`trie_chain`, a character trie cut at ``trie_depth`` levels: a
    level-``l`` node is a prefix of ``l + 1`` characters and its children extend it by
    one character; the labels hang from their ``trie_depth``-character prefix;
  - ``"hybrid"``: :func:`hybrid_chain`, the trie on the top ``trie_depth`` levels and
    balanced k-means over label vectors inside every trie leaf below it.

  A label shorter than the trie depth continues as a chain of single-child nodes that
  extend it with the end mark :data:`END` (``"\x00"``), so every level is complete.
* **Features** (:class:`PrefixFeaturizer`): character 2- to ``max_ngram``-gram TF-IDF,
  one block for the prefix and one for the previous query (weighted by
  ``session_weight``). Words are padded with a space, the first word of a text with a
  start mark instead (so query-initial n-grams differ from word-initial ones), and the
  prefix's last word is not padded at its end, since it may be incomplete. N-grams that
  start a word (those holding the leading pad) count ``initial_weight`` times: they
  are what a typed prefix shares with its completions.
* **Training pairs** (:meth:`QueryCompleter.train`): for every label, ``("", prefix)``
  for its prefixes of 1 to ``max_prefix_length`` characters and its full text; for
  every consecutive pair of queries ``(previous, query)`` in a session, the same with
  ``previous`` as the session context. The distinct inputs are the rows of ``X``; each
  row's positives are all the labels it was paired with.
* **Frequency** is used twice, both measured to help on the TREC lists
  (``benchmarks/completion_trec.py``): in training, every (input, label) pair occurs
  ``min(count, max_repeats)`` times (extra copies of the input rows keep only the
  positives frequent enough), so the node classifiers learn that ``"g"`` leads to
  ``"google"``; and at ranking, as a prior (below). The tree itself (PIFA, trie) is
  built from the distinct pairs.
* **Ranking**: the beam returns up to ``n_candidates`` labels with path scores in
  (0, 1]. Each score is multiplied by the frequency prior
  ``count ** popularity_weight`` (``count`` = how often the query was seen in
  training; TREC's efficiency queries repeat), then **labels that start with the typed
  prefix come first**, each group by score. Labels that do not start with the prefix
  (spelling variants, other word orders) are kept after them, flagged
  ``matches_prefix=False``, so a caller that wants strict completions filters on it.
* **Prefix longer than every label**: :meth:`QueryCompleter.predict` returns an empty
  list, without running the model: no label can complete it.

Text is normalised the same way for labels and prefixes: lower case, control
characters removed, runs of white space turned into one space, leading space removed;
a prefix keeps one trailing space (it says the last word is finished), a label does not.

Modules: :mod:`~strategies.completion.text` (:func:`~ltrr.text.normalise_completion`, :data:`END`),
:mod:`~strategies.completion.trie` and :mod:`~strategies.completion.hybrid` (the
indexers), :mod:`~strategies.completion.features` (:class:`PrefixFeaturizer`),
:mod:`~strategies.completion.training` (training pairs) and
:mod:`~strategies.completion.completer` (:class:`QueryCompleter`).
"""

from strategies.completion.completer import FORMAT as FORMAT
from strategies.completion.completer import FORMAT_VERSION as FORMAT_VERSION
from strategies.completion.completer import INDEXERS, Completion, QueryCompleter
from strategies.completion.features import PrefixFeaturizer
from strategies.completion.hybrid import hybrid_chain
from strategies.completion.text import END
from strategies.completion.trie import MAX_TRIE_DEPTH as MAX_TRIE_DEPTH
from strategies.completion.trie import trie_chain, trie_levels

__all__ = [
    "END",
    "INDEXERS",
    "Completion",
    "PrefixFeaturizer",
    "QueryCompleter",
    "hybrid_chain",
    "trie_chain",
    "trie_levels",
]
