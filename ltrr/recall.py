"""Predicted pool recall per plan: a VW ``cb_adf`` regression calibrated plan by plan, with judged plan means."""

from __future__ import annotations

import math
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ltrr.errors import CorruptModelError, InvalidInputError
from ltrr.io import read_json
from ltrr.validation import check_int
from ltrr.vw import (
    check_example,
    common_args,
    learn_each,
    load_workspace,
    model_file,
    open_workspace,
    per_plan,
    save_model,
    verify_model,
)

__all__ = ["RecallModel"]


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
        g = per_plan("gain", gain, self.n_plans)
        c = per_plan("candidates", candidates, self.n_plans)
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
        return open_workspace(f"--cb_adf {common_args(self.settings)}", model_file)

    def learn(self, example: list[str], recalls: Sequence[float]) -> None:
        """Learn every plan's pool recall for one judged request.

        Parameters
        ----------
        example : list of str
            From :meth:`PlanSelector.example`.
        recalls : sequence of float
            One recall in [0, 1] per plan.
        """
        check_example(example, self.n_plans)
        r = per_plan("recalls", recalls, self.n_plans, high=1.0)
        with self._lock:
            learn_each(self._vw, example, r, range(self.n_plans))
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
        check_example(example, self.n_plans)
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
        save_model(
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
        verify_model(path, "recall", "recall model")
        meta = read_json(path / "recall.json", what="recall model description")
        model = model_file(path / "recall.vw", "recall")
        try:
            obj = cls(int(meta["n_plans"]), **dict(meta["settings"]))
            if meta.get("plan_gain") is not None:
                obj.set_plan_means(meta["plan_gain"], meta["plan_candidates"])
            for name in ("online_count", "online_gain", "offset"):
                low = None if name == "offset" else 0.0
                values = meta.get(name, np.zeros(obj.n_plans))
                setattr(obj, f"{name}_", per_plan(name, values, obj.n_plans, low=low))
        except (KeyError, TypeError, ValueError, InvalidInputError) as exc:
            raise CorruptModelError(f"{str(path / 'recall.json')!r} is malformed: {exc}") from None
        obj._vw = load_workspace(obj, model, "recall")
        obj.n_learned_ = int(meta.get("n_learned", 0))
        return obj
