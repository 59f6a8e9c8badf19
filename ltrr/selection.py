"""Plan selection with a Vowpal Wabbit contextual bandit (``cb_explore_adf``).

Each request is one multi-line example: shared request features, then one line
per plan (action). VW returns a probability for every plan; the selector samples
one with its own seeded generator and keeps the probability, so every decision
can be logged with its propensity and the full distribution. Learning uses the
cost ``-reward`` of the chosen plan once feedback arrives.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ltrr.errors import CorruptModelError, InvalidInputError, UnknownNameError
from ltrr.features import Features, _ns, history_fragments, plan_features
from ltrr.io import read_json
from ltrr.plans import Plan, plan_grid
from ltrr.recall import RecallModel
from ltrr.validation import is_real
from ltrr.vw import (
    check_example,
    common_args,
    learn_each,
    load_workspace,
    model_file,
    open_workspace,
    save_model,
    verify_model,
)

__all__ = ["EXPLORATIONS", "PlanSelector", "RecallModel", "Selection", "default_plans"]

#: Exploration algorithms and their VW arguments (``{}`` fields are selector settings).
EXPLORATIONS: dict[str, str] = {
    "epsilon": "--epsilon {epsilon}",
    "softmax": "--softmax --lambda {softmax_lambda}",
    "bag": "--bag {bag} --epsilon {epsilon}",
    "cover": "--cover {cover} --epsilon {epsilon}",
    "squarecb": "--squarecb --gamma_scale {gamma_scale}",
    "regcb": "--regcb",
}


def default_plans(
    strategies: Sequence[str],
    budgets: Sequence[int] = (0, 10, 30, 50, 100),
    *,
    max_plans: int = 32,
) -> list[Plan]:
    """Return the default plan space: a budget grid per strategy, pruned to ``max_plans``.

    Pruning keeps every single-strategy plan and the all-strategies plans with equal
    budgets, then fills up with the remaining plans by increasing total budget.

    Parameters
    ----------
    strategies : sequence of str
        Strategy names.
    budgets : sequence of int
        Budgets per strategy (0 = not called).
    max_plans : int
        Size cap (default 32).

    Returns
    -------
    list of Plan
        The plans, sorted by total budget.
    """
    grid = plan_grid(strategies, budgets)
    if len(grid) <= max_plans:
        return grid
    keep: dict[str, Plan] = {}
    for p in grid:
        if len(p.budgets) == 1 or (
            len(p.budgets) == len(strategies) and len({b for _, b in p.budgets}) == 1
        ):
            keep[p.id] = p
    for p in grid:
        if len(keep) >= max_plans:
            break
        keep.setdefault(p.id, p)
    return sorted(keep.values(), key=lambda p: (p.total_budget, p.id))[:max_plans]


@dataclass(frozen=True)
class Selection:
    """A chosen plan with its probability and the full distribution.

    Attributes
    ----------
    index : int
        Position of the plan in the selector's plan list.
    plan : Plan
        The plan.
    probability : float
        Probability with which it was drawn.
    probabilities : dict of str to float
        Every plan's probability, by plan id.
    example : list of str
        The unlabelled VW example (kept to learn from later).
    """

    index: int
    plan: Plan
    probability: float
    probabilities: dict[str, float]
    example: list[str]


class PlanSelector:
    """Choose a retrieval plan per request with VW's ``cb_explore_adf``.

    Parameters
    ----------
    plans : sequence of Plan
        The action space.
    source_types : Mapping[str, str]
        Source type of each strategy.
    exploration : str
        One of :data:`EXPLORATIONS` (default "squarecb").
    epsilon, softmax_lambda, bag, cover, gamma_scale : float or int
        Exploration settings (defaults 0.05, 10, 5, 3, 10).
    learning_rate : float
        VW learning rate (default 0.5).
    propensity_floor : float
        Online updates weigh the chosen plan's reward by ``1 / max(p, propensity_floor)``
        (VW's importance weight; ``p`` is the plan's probability, which is logged
        unchanged). 0 is the plain importance-weighted update; 1 (the default) is an
        unweighted regression on the chosen plan, as SquareCB's regression oracle
        assumes: a rarely explored plan's one noisy click then moves the model as
        much as any other, not ``1 / p`` times more.
    interactions : sequence of str
        Quadratic interactions between shared and action namespaces (default
        ``QA CA UA KA``: request features times plan features).
    seed : int
        Seed of the plan sampling and of VW.
    """

    def __init__(
        self,
        plans: Sequence[Plan],
        source_types: Mapping[str, str],
        *,
        exploration: str = "squarecb",
        epsilon: float = 0.05,
        softmax_lambda: float = 10.0,
        bag: int = 5,
        cover: int = 3,
        gamma_scale: float = 10.0,
        learning_rate: float = 0.5,
        propensity_floor: float = 1.0,
        interactions: Sequence[str] = ("QA", "CA", "UA", "KA", "QP"),
        seed: int = 0,
    ) -> None:
        if exploration not in EXPLORATIONS:
            raise UnknownNameError(
                f"unknown exploration {exploration!r}; expected one of {sorted(EXPLORATIONS)}"
            )
        if not plans:
            raise InvalidInputError("plans must hold at least one Plan")
        if not 0.0 <= epsilon <= 1.0:
            raise InvalidInputError(f"epsilon must lie in [0, 1], got {epsilon!r}")
        if not math.isfinite(learning_rate) or learning_rate <= 0:
            raise InvalidInputError(
                f"learning_rate must be a finite number > 0, got {learning_rate!r}"
            )
        if not is_real(propensity_floor) or not 0.0 <= propensity_floor <= 1.0:
            raise InvalidInputError(
                f"propensity_floor must lie in [0, 1], got {propensity_floor!r}"
            )
        ids = [p.id for p in plans]
        if len(set(ids)) != len(ids):
            raise InvalidInputError(f"plans must be distinct, got {ids}")
        self.plans = list(plans)
        self._ids = [p.id for p in self.plans]  # one string per plan, shared by every Selection
        self.source_types = dict(source_types)
        self.exploration = exploration
        self.settings: dict[str, Any] = {
            "epsilon": epsilon,
            "softmax_lambda": softmax_lambda,
            "bag": bag,
            "cover": cover,
            "gamma_scale": gamma_scale,
            "learning_rate": learning_rate,
            "propensity_floor": propensity_floor,
            "interactions": list(interactions),
            "seed": seed,
        }
        self.max_total = max(p.total_budget for p in self.plans)
        self._static = [
            _ns("A", plan_features(p, self.source_types, max_total=self.max_total)["A"])
            for p in self.plans
        ]
        self._rng = np.random.default_rng(seed)
        self._lock = threading.Lock()
        self.n_learned_ = 0
        self._vw = self._workspace(None)

    def vw_args(self) -> str:
        """Return the VW command line this selector uses."""
        explore = EXPLORATIONS[self.exploration].format(**self.settings)
        return f"--cb_explore_adf {explore} {common_args(self.settings)}"

    def _workspace(self, model_file: Path | None) -> Any:
        return open_workspace(self.vw_args(), model_file)

    def example(
        self, shared: Mapping[str, Features], history: Mapping[str, tuple[float, float]] | None
    ) -> list[str]:
        """Build the unlabelled multi-line example of one request.

        Parameters
        ----------
        shared : Mapping[str, Features]
            Request features by namespace.
        history : Mapping[str, (float, float)], optional
            Per-strategy performance for this query and its shape.

        Returns
        -------
        list of str
            VW lines.
        """
        lines = ["shared " + " ".join(_ns(n, f) for n, f in shared.items() if f)]
        fragments = history_fragments(history)
        for plan, static in zip(self.plans, self._static):
            parts = [fragments[n] for n, _ in plan.budgets if n in fragments]
            lines.append(static + (" |P " + " ".join(parts) if parts else ""))
        return lines

    def choose(self, example: list[str]) -> Selection:
        """Ask VW for the plan distribution and draw a plan.

        Parameters
        ----------
        example : list of str
            From :meth:`example`.

        Returns
        -------
        Selection
            The plan drawn, its probability and the distribution.
        """
        with self._lock:
            pmf = np.asarray(self._vw.predict(example), dtype=np.float64)
            u = float(self._rng.random())
        if pmf.shape != (len(self.plans),) or not np.all(np.isfinite(pmf)) or pmf.sum() <= 0:
            pmf = np.full(len(self.plans), 1.0 / len(self.plans))
        pmf = pmf / pmf.sum()
        i = min(int(np.searchsorted(np.cumsum(pmf), u, side="right")), len(self.plans) - 1)
        while pmf[i] <= 0:  # never draw a zero-probability plan (float edge)
            i = (i - 1) % len(self.plans)
        probs = dict(zip(self._ids, pmf.tolist()))
        return Selection(i, self.plans[i], float(pmf[i]), probs, example)

    def learn(self, selection: Selection, reward: float) -> None:
        """Update the bandit with the reward of a chosen plan.

        Parameters
        ----------
        selection : Selection
            What :meth:`choose` returned.
        reward : float
            The observed reward (higher is better); must be finite.
        """
        if not math.isfinite(reward):
            raise InvalidInputError(f"reward must be a finite number, got {reward!r}")
        lines = list(selection.example)
        j = selection.index + 1
        p = max(selection.probability, self.settings["propensity_floor"])
        lines[j] = f"0:{-reward:.6g}:{p:.6g} " + lines[j]
        with self._lock:
            self._vw.learn(lines)
            self.n_learned_ += 1

    def learn_all(
        self,
        example: list[str],
        rewards: Sequence[float] | np.ndarray,
        *,
        order: Sequence[int] | None = None,
    ) -> None:
        """Learn every plan's reward for one request (full information, e.g. from judgements).

        Each plan is one update with probability 1, so the bandit's reward
        regression sees every plan without importance weighting.

        Parameters
        ----------
        example : list of str
            From :meth:`example`.
        rewards : sequence of float
            One finite reward per plan, in :attr:`plans` order.
        order : sequence of int, optional
            The plans to update, in this order (default: every plan, in plan order); a
            subset updates only the plans it names (e.g. those a request informs), and
            the other plans' values are not read.
        """
        r = np.asarray(rewards, dtype=np.float64)
        if r.shape != (len(self.plans),):
            raise InvalidInputError(
                f"rewards must hold one value per plan ({len(self.plans)}), got shape {r.shape}"
            )
        check_example(example, len(self.plans))
        idx = list(range(len(self.plans))) if order is None else [int(j) for j in order]
        if len(set(idx)) != len(idx) or not all(0 <= j < len(self.plans) for j in idx):
            raise InvalidInputError(
                f"order must list distinct plan indices in [0, {len(self.plans)}), got {idx}"
            )
        if not np.all(np.isfinite(r[idx])):
            raise InvalidInputError(f"rewards must be finite, got {r.tolist()}")
        with self._lock:
            learn_each(self._vw, example, r, idx)
            self.n_learned_ += len(idx)

    def save(self, folder: str | Path) -> None:
        """Write ``selector.json`` and ``selector.vw`` into ``folder`` (which must exist).

        The random generator's state is saved too, so a loaded selector draws the
        same plans as the saved one would have.
        """
        with self._lock:
            rng_state = self._rng.bit_generator.state
        save_model(
            self,
            Path(folder),
            "selector",
            {
                "class": type(self).__name__,
                "plans": [p.id for p in self.plans],
                "source_types": self.source_types,
                "exploration": self.exploration,
                "settings": self.settings,
                "n_learned": self.n_learned_,
                "rng": rng_state,
            },
        )

    @classmethod
    def load(cls, folder: str | Path) -> PlanSelector:
        """Read a selector written by :meth:`save`."""
        path = Path(folder)
        verify_model(path, "selector", "plan selector")
        meta = read_json(path / "selector.json", what="plan selector description")
        model = model_file(path / "selector.vw", "plan selector")
        try:
            s = dict(meta["settings"])
            obj = cls(
                [Plan.parse(p) for p in meta["plans"]],
                meta["source_types"],
                exploration=meta["exploration"],
                **s,
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise CorruptModelError(
                f"{str(path / 'selector.json')!r} is malformed: {exc}"
            ) from None
        if "rng" in meta:  # absent in selectors saved before it was kept
            try:
                obj._rng.bit_generator.state = meta["rng"]
            except (KeyError, TypeError, ValueError) as exc:
                raise CorruptModelError(
                    f"{str(path / 'selector.json')!r}: 'rng' is not a generator state: {exc}"
                ) from None
        obj._vw = load_workspace(obj, model, "plan selector")
        obj.n_learned_ = int(meta.get("n_learned", 0))
        return obj
