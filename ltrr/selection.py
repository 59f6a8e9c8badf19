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
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ltrr.errors import CorruptModelError, InvalidInputError, UnknownNameError
from ltrr.features import Features, _ns, history_fragments, plan_features
from ltrr.io import atomic_write_json, read_json
from ltrr.plans import Plan, plan_grid
from ltrr.validation import check_int, is_real

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
        return f"--cb_explore_adf {explore} {_common_args(self.settings)}"

    def _workspace(self, model_file: Path | None) -> Any:
        return _open_workspace(self.vw_args(), model_file)

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
        probs = {p.id: float(q) for p, q in zip(self.plans, pmf)}
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
        _check_example(example, len(self.plans))
        idx = list(range(len(self.plans))) if order is None else [int(j) for j in order]
        if len(set(idx)) != len(idx) or not all(0 <= j < len(self.plans) for j in idx):
            raise InvalidInputError(
                f"order must list distinct plan indices in [0, {len(self.plans)}), got {idx}"
            )
        if not np.all(np.isfinite(r[idx])):
            raise InvalidInputError(f"rewards must be finite, got {r.tolist()}")
        with self._lock:
            _learn_each(self._vw, example, r, idx)
            self.n_learned_ += len(idx)

    def save(self, folder: str | Path) -> None:
        """Write ``selector.json`` and ``selector.vw`` into ``folder`` (which must exist)."""
        _save(
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
            },
        )

    @classmethod
    def load(cls, folder: str | Path) -> PlanSelector:
        """Read a selector written by :meth:`save`."""
        path = Path(folder)
        meta = read_json(path / "selector.json", what="plan selector description")
        model = _model_file(path / "selector.vw", "plan selector")
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
        obj._vw = _load_workspace(obj, model, "plan selector")
        obj.n_learned_ = int(meta.get("n_learned", 0))
        return obj


def _check_example(example: list[str], n_plans: int) -> None:
    """Raise unless ``example`` has a shared line and one line per plan."""
    if len(example) != n_plans + 1:
        raise InvalidInputError(
            f"example must have a shared line and {n_plans} plan lines, got {len(example)} lines"
        )


def _learn_each(vw: Any, example: list[str], values: np.ndarray, order: Iterable[int]) -> None:
    """Full-information update: label each plan ``j`` in turn with cost ``-values[j]``, probability 1."""
    for j in order:
        lines = list(example)
        lines[j + 1] = f"0:{-values[j]:.6g}:1 " + lines[j + 1]
        vw.learn(lines)


def _common_args(settings: Mapping[str, Any]) -> str:
    """VW arguments both models share: interactions, learning rate, seed."""
    inter = " ".join(f"-q {i}" for i in settings["interactions"])
    return f"{inter} -l {settings['learning_rate']} --random_seed {settings['seed']} --quiet --noconstant"


def _open_workspace(args: str, model_file: Path | None) -> Any:
    import vowpalwabbit

    return vowpalwabbit.Workspace(args + (f" -i {model_file}" if model_file is not None else ""))


def _save(model: Any, folder: Path, stem: str, meta: dict[str, Any]) -> None:
    """Write ``<stem>.vw`` (under the model's lock) and ``<stem>.json`` into ``folder``."""
    with model._lock:
        model._vw.save(str(folder / f"{stem}.vw"))
    atomic_write_json(folder / f"{stem}.json", meta)


def _model_file(path: Path, what: str) -> Path:
    """Return ``path``, or raise CorruptModelError naming ``what`` when it is missing."""
    if not path.is_file():
        raise CorruptModelError(f"{what} model {str(path)!r} is missing")
    return path


def _load_workspace(model: Any, path: Path, what: str) -> Any:
    """Open the VW file of ``model`` (a selector or recall model), naming ``what`` on failure."""
    try:
        return model._workspace(path)
    except Exception as exc:
        raise CorruptModelError(f"{what} model {str(path)!r} is unreadable: {exc}") from None


def _per_plan(
    name: str, values: object, n_plans: int, *, low: float | None = 0.0, high: float | None = None
) -> np.ndarray:
    """Return ``values`` as one float per plan, or raise InvalidInputError naming ``name``."""
    a = np.asarray(values, dtype=np.float64)
    ok = a.shape == (n_plans,) and bool(np.all(np.isfinite(a)))
    if ok and low is not None:
        ok = bool(np.all(a >= low))
    if ok and high is not None:
        ok = bool(np.all(a <= high))
    if not ok:
        if high is not None:
            expected = f"values in [{low:g}, {high:g}]"
        else:
            expected = "finite values" + ("" if low is None else f" >= {low:g}")
        raise InvalidInputError(f"{name} must hold {n_plans} {expected}, got {a.tolist()}")
    return a


class RecallModel:
    """Predict each plan's pool recall for a request: a VW ``cb_adf`` regression.

    Trained from relevance judgements (full information: every plan's recall is
    known for a judged query), it reads the same examples as the
    :class:`PlanSelector`. Online, where clicks on a top 10 say little about the
    depth of the pool, the engine adds its prediction for the chosen plan to the
    click reward, so what the selector learned about recall from judgements
    is not unlearned by feedback that cannot see it.

    It also keeps, per plan, the judged mean gain and candidates drawn
    (:meth:`set_plan_means`) and a tally of the click gains observed online when
    the plan was chosen (:meth:`observe_gain`); :meth:`expected_gain` blends the
    two, so the engine can impute the reward of the plans a request did not try.

    Parameters
    ----------
    n_plans : int
        Plans per example.
    prior_weight : float
        Pseudo-count of the judged gain in :meth:`expected_gain` (default 50: after
        50 online observations of a plan its own clicks weigh as much as the judgements).
    learning_rate : float
        VW learning rate (default 0.05: pool recall is noisy per query; on 309
        held-out SciFact claims 0.5 predicted worse than 0.02-0.1).
    interactions : sequence of str
        Quadratic interactions (default as :class:`PlanSelector`).
    seed : int
        VW seed.
    """

    def __init__(
        self,
        n_plans: int,
        *,
        prior_weight: float = 50.0,
        learning_rate: float = 0.05,
        interactions: Sequence[str] = ("QA", "CA", "UA", "KA", "QP"),
        seed: int = 0,
    ) -> None:
        n_plans = check_int("n_plans", n_plans, low=1)
        if not math.isfinite(prior_weight) or prior_weight <= 0:
            raise InvalidInputError(
                f"prior_weight must be a finite number > 0, got {prior_weight!r}"
            )
        if not math.isfinite(learning_rate) or learning_rate <= 0:
            raise InvalidInputError(
                f"learning_rate must be a finite number > 0, got {learning_rate!r}"
            )
        self.n_plans = n_plans
        self.settings: dict[str, Any] = {
            "prior_weight": prior_weight,
            "learning_rate": learning_rate,
            "interactions": list(interactions),
            "seed": seed,
        }
        self._lock = threading.Lock()
        self.n_learned_ = 0
        #: Judged mean gain and candidates per plan (None until :meth:`set_plan_means`).
        self.plan_gain_: np.ndarray | None = None
        self.plan_candidates_: np.ndarray | None = None
        #: Online click gains: count and sum per plan.
        self.online_count_ = np.zeros(n_plans)
        self.online_gain_ = np.zeros(n_plans)
        #: Per-plan calibration added to the regression (:meth:`calibrate`).
        self.offset_ = np.zeros(n_plans)
        self._vw = self._workspace(None)

    def set_plan_means(self, gain: Sequence[float], candidates: Sequence[float]) -> None:
        """Set each plan's judged mean gain and mean candidates drawn.

        Parameters
        ----------
        gain, candidates : sequence of float
            One finite value >= 0 per plan.
        """
        g = _per_plan("gain", gain, self.n_plans)
        c = _per_plan("candidates", candidates, self.n_plans)
        with self._lock:
            self.plan_gain_, self.plan_candidates_ = g, c

    def observe_gain(self, index: int, gain: float) -> None:
        """Tally the click gain of a request that chose plan ``index``.

        Parameters
        ----------
        index : int
            The chosen plan's position.
        gain : float
            Its gain, finite and >= 0.
        """
        if not 0 <= index < self.n_plans:
            raise InvalidInputError(f"index must lie in [0, {self.n_plans}), got {index!r}")
        if not math.isfinite(gain) or gain < 0:
            raise InvalidInputError(f"gain must be a finite number >= 0, got {gain!r}")
        with self._lock:
            self.online_count_[index] += 1
            self.online_gain_[index] += gain

    def expected_gain(self) -> np.ndarray:
        """Return each plan's expected click gain.

        The judged mean gain, rescaled to the click rate (the ratio of all online
        click gains to the judged gains of the plans that earned them), is a prior
        worth ``prior_weight`` observations; each plan's own online click gains
        take over as they accumulate. Without judged means it is each plan's
        online mean, shrunk toward the overall online mean.

        Returns
        -------
        numpy.ndarray of shape (n_plans,)
            Expected gain per plan.
        """
        m = float(self.settings["prior_weight"])
        with self._lock:
            n, total = self.online_count_.copy(), self.online_gain_.copy()
            judged = None if self.plan_gain_ is None else self.plan_gain_.copy()
        if judged is None:
            overall = total.sum() / n.sum() if n.sum() > 0 else 0.0
            prior = np.full(self.n_plans, overall)
        else:
            seen = float(n @ judged)
            scale = (total.sum() + m * float(judged.mean())) / (seen + m * float(judged.mean()))
            prior = scale * judged
        return (total + m * prior) / (n + m)

    def _workspace(self, model_file: Path | None) -> Any:
        return _open_workspace(f"--cb_adf {_common_args(self.settings)}", model_file)

    def learn(self, example: list[str], recalls: Sequence[float]) -> None:
        """Learn every plan's pool recall for one judged request.

        Parameters
        ----------
        example : list of str
            From :meth:`PlanSelector.example`.
        recalls : sequence of float
            One recall in [0, 1] per plan.
        """
        _check_example(example, self.n_plans)
        r = _per_plan("recalls", recalls, self.n_plans, high=1.0)
        with self._lock:
            _learn_each(self._vw, example, r, range(self.n_plans))
            self.n_learned_ += 1

    def predict(self, example: list[str]) -> np.ndarray:
        """Return the predicted pool recall of every plan, clipped to [0, 1].

        Parameters
        ----------
        example : list of str
            From :meth:`PlanSelector.example`.

        Returns
        -------
        numpy.ndarray of shape (n_plans,)
            Recall per plan, in plan order.
        """
        return np.clip(self._raw(example) + self.offset_, 0.0, 1.0)

    def _raw(self, example: list[str]) -> np.ndarray:
        """Return the VW regression's recall per plan, before calibration and clipping."""
        _check_example(example, self.n_plans)
        with self._lock:
            costs = np.asarray(self._vw.predict(example), dtype=np.float64)
        if costs.shape != (self.n_plans,) or not np.all(np.isfinite(costs)):
            raise InvalidInputError(f"recall model returned {costs.tolist()!r} for the example")
        return -costs

    def calibrate(
        self,
        examples: Sequence[list[str]],
        recalls: Sequence[Sequence[float]] | np.ndarray,
    ) -> None:
        """Set each plan's offset so that the mean prediction over ``examples`` is the mean recall.

        The online regression after one pass is biased plan by plan (on SciFact it
        put ``lexical=30`` at 0.77 against a true 0.91 and reversed the order of
        plans), and the selector weighs plans by these predictions online.

        Parameters
        ----------
        examples : sequence of list of str
            Judged requests' examples.
        recalls : sequence of sequence of float
            Their true recall per plan.
        """
        r = np.asarray(recalls, dtype=np.float64)
        if len(examples) == 0 or r.shape != (len(examples), self.n_plans):
            raise InvalidInputError(
                f"recalls must have shape ({len(examples)}, {self.n_plans}) with at least one "
                f"example, got {r.shape}"
            )
        raw = np.array([self._raw(ex) for ex in examples])
        target = r.mean(axis=0)
        offset = target - raw.mean(axis=0)
        for _ in range(50):  # match the mean of the clipped predictions (recall piles up at 1)
            offset += target - np.clip(raw + offset, 0.0, 1.0).mean(axis=0)
        self.offset_ = offset

    def save(self, folder: str | Path) -> None:
        """Write ``recall.json`` and ``recall.vw`` into ``folder`` (which must exist)."""
        _save(
            self,
            Path(folder),
            "recall",
            {
                "class": type(self).__name__,
                "n_plans": self.n_plans,
                "settings": self.settings,
                "n_learned": self.n_learned_,
                "plan_gain": None if self.plan_gain_ is None else self.plan_gain_.tolist(),
                "plan_candidates": (
                    None if self.plan_candidates_ is None else self.plan_candidates_.tolist()
                ),
                "online_count": self.online_count_.tolist(),
                "online_gain": self.online_gain_.tolist(),
                "offset": self.offset_.tolist(),
            },
        )

    @classmethod
    def load(cls, folder: str | Path) -> RecallModel:
        """Read a recall model written by :meth:`save`."""
        path = Path(folder)
        meta = read_json(path / "recall.json", what="recall model description")
        model = _model_file(path / "recall.vw", "recall")
        try:
            obj = cls(int(meta["n_plans"]), **dict(meta["settings"]))
            if meta.get("plan_gain") is not None:
                obj.set_plan_means(meta["plan_gain"], meta["plan_candidates"])
            for name in ("online_count", "online_gain", "offset"):
                low = None if name == "offset" else 0.0
                values = meta.get(name, np.zeros(obj.n_plans))
                setattr(obj, f"{name}_", _per_plan(name, values, obj.n_plans, low=low))
        except (KeyError, TypeError, ValueError, InvalidInputError) as exc:
            raise CorruptModelError(f"{str(path / 'recall.json')!r} is malformed: {exc}") from None
        obj._vw = _load_workspace(obj, model, "recall")
        obj.n_learned_ = int(meta.get("n_learned", 0))
        return obj
