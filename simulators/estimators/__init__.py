r"""Off-policy estimators: the value of a target policy from logs of another policy.

The array conventions follow Open Bandit Pipeline (``obp.ope``):

* ``reward`` ``(n_rounds,)``: observed reward of each logged round, :math:`r_t`;
* ``action`` ``(n_rounds,)`` integers: the action the logging policy took, :math:`a_t`;
* ``position`` ``(n_rounds,)`` integers, optional (all 0 by default): the slot of the list
  the round is about;
* ``pscore`` ``(n_rounds,)`` in (0, 1]: the logging policy's probability of ``action``,
  :math:`\pi_b(a_t|x_t)`;
* ``action_dist`` ``(n_rounds, n_actions, len_list)``: the target policy's distribution over
  actions for every round and position, :math:`\pi_e(a|x_t)`;
* ``estimated_rewards_by_reg_model`` ``(n_rounds, n_actions, len_list)``: a reward model's
  prediction :math:`\hat{q}(x_t, a)` for every round, action and position.

Every estimator validates its input with :func:`check_ope_inputs` and works on whole arrays
(fancy indexing, no loop over rounds), so it processes millions of rounds per second.

Also here: :class:`ReplayMethod` and :func:`replay_learning_policy` (Li et al. 2011) for logs
of a uniformly random logging policy, :func:`evaluate`, which runs several estimators on the
same logs, and the slate (ranking) estimators of :mod:`~simulators.estimators.slate` (SIPS,
IIPS, RIPS, their self-normalised versions and Cascade-DR), which take OBP's one-row-per-slot
arrays (``slate_id``, ``position``, ``reward`` and slate propensities) instead, and the
pool-level estimators of :mod:`~simulators.estimators.pool` (:class:`PoolRecall`,
:class:`PoolEngagement`, :func:`evaluate_pool`): a new retrieval policy's pool recall and
engagement from logged inclusion probabilities (inputs in
:mod:`~simulators.estimators.pool_inputs`).

The package is split by role: :mod:`~simulators.estimators.inputs` (the array conventions and
:func:`check_ope_inputs`), :mod:`~simulators.estimators.bootstrap` (percentile intervals),
:mod:`~simulators.estimators.base` (the estimator interface),
:mod:`~simulators.estimators.estimators` (DM, IPW, SNIPW, SG-IPW, DR, SNDR, Switch-DR,
DRos),
:mod:`~simulators.estimators.evaluation` (:func:`evaluate`),
:mod:`~simulators.estimators.replay` (replay evaluation), and for slates
:mod:`~simulators.estimators.slate_inputs` (their arrays and :func:`check_slate_inputs`),
:mod:`~simulators.estimators.slate_terms` (their per-slate pieces),
:mod:`~simulators.estimators.slate_base` (their interface) and
:mod:`~simulators.estimators.slate` (the estimators). Every public name is importable from
here.

References
----------
Alex Strehl, John Langford, Lihong Li, and Sham M. Kakade. "Learning from Logged Implicit
Exploration Data." NeurIPS 2010.

Lihong Li, Wei Chu, John Langford, and Xuanhui Wang. "Unbiased Offline Evaluation of
Contextual-bandit-based News Article Recommendation Algorithms." WSDM 2011.

Miroslav Dudík, Dumitru Erhan, John Langford, and Lihong Li. "Doubly Robust Policy Evaluation
and Optimization." Statistical Science 2014.

Adith Swaminathan and Thorsten Joachims. "The Self-normalized Estimator for Counterfactual
Learning." NeurIPS 2015.

Yu-Xiang Wang, Alekh Agarwal, and Miroslav Dudík. "Optimal and Adaptive Off-policy Evaluation
in Contextual Bandits." ICML 2017.

Yi Su, Maria Dimakopoulou, Akshay Krishnamurthy, and Miroslav Dudík. "Doubly Robust Off-policy
Evaluation with Shrinkage." ICML 2020.

Alberto Maria Metelli, Alessio Russo, and Marcello Restelli. "Subgaussian and Differentiable
Importance Sampling for Off-Policy Evaluation and Learning." NeurIPS 2021.

Shuai Li, Yasin Abbasi-Yadkori, Branislav Kveton, S. Muthukrishnan, Vishwa Vinay, and Zheng Wen.
"Offline Evaluation of Ranking Policies with Click Models." KDD 2018.

James McInerney, Brian Brost, Praveen Chandar, Rishabh Mehrotra, and Ben Carterette.
"Counterfactual Evaluation of Slate Recommendations with Sequential Reward Interactions."
KDD 2020.

Haruka Kiyohara, Yuta Saito, Tatsuya Matsuhiro, Yusuke Narita, Nobuyuki Shimizu, and Yasuo
Yamamoto. "Doubly Robust Off-Policy Evaluation for Ranking Policies under the Cascade Behavior
Model." WSDM 2022.

Yuta Saito, Shunsuke Aihara, Megumi Matsutani, and Yusuke Narita. "Open Bandit Dataset and
Pipeline: Towards Realistic and Reproducible Off-Policy Evaluation." NeurIPS 2021.
"""

from __future__ import annotations

from simulators.estimators.base import BaseOffPolicyEstimator
from simulators.estimators.estimators import (
    DirectMethod,
    DoublyRobust,
    DoublyRobustWithShrinkage,
    InverseProbabilityWeighting,
    SelfNormalizedDoublyRobust,
    SelfNormalizedInverseProbabilityWeighting,
    SubGaussianInverseProbabilityWeighting,
    SwitchDoublyRobust,
)
from simulators.estimators.evaluation import evaluate
from simulators.estimators.inputs import SUM_TOLERANCE, OpeInputs, check_ope_inputs
from simulators.estimators.pool import PoolEngagement, PoolEstimate, PoolRecall, evaluate_pool
from simulators.estimators.pool_inputs import PoolInputs, check_pool_inputs, target_inclusion
from simulators.estimators.replay import (
    LearningPolicy,
    ReplayMethod,
    ReplayResult,
    replay_learning_policy,
)
from simulators.estimators.slate import (
    SelfNormalizedSlateIndependentIPS,
    SelfNormalizedSlateRewardInteractionIPS,
    SelfNormalizedSlateStandardIPS,
    SlateCascadeDoublyRobust,
    SlateIndependentIPS,
    SlateRewardInteractionIPS,
    SlateStandardIPS,
)
from simulators.estimators.slate_base import BaseSlateOffPolicyEstimator
from simulators.estimators.slate_inputs import PSCORE_KINDS, SlateInputs, check_slate_inputs

__all__ = [
    "PSCORE_KINDS",
    "SUM_TOLERANCE",
    "BaseOffPolicyEstimator",
    "BaseSlateOffPolicyEstimator",
    "DirectMethod",
    "DoublyRobust",
    "DoublyRobustWithShrinkage",
    "InverseProbabilityWeighting",
    "LearningPolicy",
    "OpeInputs",
    "PoolEngagement",
    "PoolEstimate",
    "PoolInputs",
    "PoolRecall",
    "ReplayMethod",
    "ReplayResult",
    "SelfNormalizedDoublyRobust",
    "SelfNormalizedInverseProbabilityWeighting",
    "SelfNormalizedSlateIndependentIPS",
    "SelfNormalizedSlateRewardInteractionIPS",
    "SelfNormalizedSlateStandardIPS",
    "SlateCascadeDoublyRobust",
    "SlateIndependentIPS",
    "SlateInputs",
    "SlateRewardInteractionIPS",
    "SlateStandardIPS",
    "SubGaussianInverseProbabilityWeighting",
    "SwitchDoublyRobust",
    "check_ope_inputs",
    "check_pool_inputs",
    "check_slate_inputs",
    "evaluate",
    "evaluate_pool",
    "replay_learning_policy",
    "target_inclusion",
]
