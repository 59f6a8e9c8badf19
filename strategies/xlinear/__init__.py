"""XR-Linear: a PECOS-style extreme multi-label tree model, written on the modern stack.

The model learns ``text features -> label`` for millions of labels by routing a query
down a label tree (Yu et al., *PECOS: Prediction for Enormous and Correlated Output
Spaces*, JMLR 2022):

* **Indexing** — :func:`hierarchical_kmeans` builds a balanced tree over label
  representations (PIFA: :func:`pifa`, the normalised sum of each label's positive
  instances); :func:`ClusterChain` is the tree as a list of sparse parent maps. Other
  indexers (a prefix trie, a trie-tree hybrid) produce chains of the same type.
* **Matching and ranking** — :class:`XRLinearModel` trains one linear one-versus-rest
  classifier per tree node (squared hinge, liblinear through scikit-learn's
  :class:`~sklearn.svm.LinearSVC`), on the instances whose positive labels lie under the
  node's parent (PECOS's teacher-forced negatives), and prunes weights below a
  threshold. Prediction is a beam search; node scores pass through the ``l3-hinge``
  transform ``exp(-max(0, 1 - z)^3)`` and multiply along the path, as PECOS's default
  post-processor does.

The model works on matrices (``X``: instances x features, CSR; ``Y``: instances x
labels, CSR, binary); :mod:`strategies.xrtree` wraps it into a retriever with text
features.

Modules: :mod:`~strategies.xlinear.chain` (the tree), :mod:`~strategies.xlinear.indexers`
(PIFA, k-means), :mod:`~strategies.xlinear.training` (the node classifiers),
:mod:`~strategies.xlinear.beam` (beam search, path scores) and
:mod:`~strategies.xlinear.model` (:class:`XRLinearModel`, over the others).
"""

from strategies.xlinear.beam import POST_PROCESSORS, NodeScores
from strategies.xlinear.chain import ClusterChain, chain_from_assignments
from strategies.xlinear.indexers import check_tree_settings, hierarchical_kmeans, pifa
from strategies.xlinear.model import FORMAT as FORMAT
from strategies.xlinear.model import FORMAT_VERSION as FORMAT_VERSION
from strategies.xlinear.model import XRLinearModel

__all__ = [
    "POST_PROCESSORS",
    "ClusterChain",
    "NodeScores",
    "XRLinearModel",
    "chain_from_assignments",
    "check_tree_settings",
    "hierarchical_kmeans",
    "pifa",
]
