"""Click models: turn the graded relevance of a shown ranking into simulated clicks.

Three classic models of how a user scans a ranked list are provided, each with a
closed-form marginal click probability per position and a sampler vectorised
over sessions:

* :class:`PositionBasedModel` (PBM): a position is examined with a probability
  that depends only on the position, independently of everything else.
* :class:`CascadeModel`: the user scans top-down, clicks the first attractive item
  and stops.
* :class:`DynamicBayesianNetwork` (DBN, Chapelle & Zhang 2009): the user scans
  top-down, may click several items, stops when satisfied by a click or, after any
  position, with probability ``1 - gamma``.

All three map relevance to a click probability with :func:`grade_to_probability`,
the graded mapping ``(2**rel - 1) / 2**max_grade`` of Chapelle et al. clipped to
``[min_attractiveness, max_attractiveness]``.

Relevance is given best position first: ``relevance[0]`` is the label of the item
shown at the top. Randomness comes only from the ``rng`` argument, so a seed fixes
every click.
"""

from simulators.click_models.base import ClickModel
from simulators.click_models.cascade import CascadeModel
from simulators.click_models.dbn import DynamicBayesianNetwork
from simulators.click_models.mapping import grade_to_probability
from simulators.click_models.position import PositionBasedModel
from simulators.click_models.registry import CLICK_MODEL_NAMES, make_click_model
from simulators.click_models.validation import BoolArray as BoolArray
from simulators.click_models.validation import FloatArray as FloatArray

__all__ = [
    "CLICK_MODEL_NAMES",
    "CascadeModel",
    "ClickModel",
    "DynamicBayesianNetwork",
    "PositionBasedModel",
    "grade_to_probability",
    "make_click_model",
]
