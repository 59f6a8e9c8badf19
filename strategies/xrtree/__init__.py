"""The XR-tree strategy: PECOS-style XR-Linear over TF-IDF text features, each item a label.

Training pairs ``query text -> item`` come from three sources: every item's own text
used as a pseudo-query (each text field, cut to ``pseudo_query_chars`` characters, so
that an item nobody has searched for is still reachable), judged pairs passed to
:meth:`XRTreeStrategy.fit`, and engagements passed to :meth:`XRTreeStrategy.update`
(used at the next :meth:`XRTreeStrategy.refit`).

Query features (:class:`TfidfFeaturizer`) are word 1- to 3-gram and character 3-gram
TF-IDF (the character n-grams padded with a space, scikit-learn's ``char_wb``, so word
boundaries are marked), each block L2-normalised, concatenated and normalised again.
Serving one query uses a dictionary look-up transform that gives the same vector as
scikit-learn's (checked by the tests) without its per-call overhead.

Modules: :mod:`~strategies.xrtree.features` (:class:`TfidfFeaturizer`) and
:mod:`~strategies.xrtree.strategy` (:class:`XRTreeStrategy`, registered as ``"xrtree"``
on import).
"""

from strategies.xrtree.features import TfidfFeaturizer
from strategies.xrtree.strategy import XRTreeStrategy

__all__ = ["TfidfFeaturizer", "XRTreeStrategy"]
