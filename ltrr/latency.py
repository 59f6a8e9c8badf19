"""Running estimates of what a plan costs in milliseconds: each strategy's call, and ranking per candidate."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from ltrr.errors import InvalidInputError
from ltrr.validation import check_real

__all__ = ["LatencyModel"]


class LatencyModel:
    """Exponentially weighted running means of measured times, to price every plan.

    A plan's estimated cost is the sum, over the strategies it calls, of each
    strategy's running mean call time at that budget (its query work, e.g. the query
    encoding, included: it is timed inside the call), plus the running mean ranking
    time per candidate (feature completion and the ranker) times its candidates:

    ``plan_ms = sum_s call_ms(s, b_s) + rank_ms_per_candidate * candidates``

    A strategy's time at a budget it has not been measured at is its mean over the
    budgets it has been measured at, and ``prior_ms`` before any measurement. The
    bandit's reward uses these estimates rather than a request's own times, so one
    slow request (a garbage collection, a busy core) does not teach it that a plan
    is slow, and so that plans a request did not run are priced too.

    Parameters
    ----------
    halflife : float
        Observations after which an old measurement weighs half (default 200).
    prior_ms : float
        Call time assumed for a strategy never measured (default 1.0).
    """

    def __init__(self, *, halflife: float = 200.0, prior_ms: float = 1.0) -> None:
        check_real("halflife", halflife, low=1.0)
        check_real("prior_ms", prior_ms, low=0.0)
        self.halflife = float(halflife)
        self.prior_ms = float(prior_ms)
        self._alpha = 1.0 - 0.5 ** (1.0 / self.halflife)
        #: running mean call time by strategy and budget
        self.call_ms_: dict[str, dict[int, float]] = {}
        #: running mean ranking time per candidate (None until measured)
        self.rank_ms_per_candidate_: float | None = None
        #: measurements folded in, by strategy and budget, and of ranking
        self.n_calls_: dict[str, dict[int, int]] = {}
        self.n_ranked_ = 0
        self.n_observed_ = 0

    def _mix(self, old: float | None, new: float, n: int) -> float:
        """Fold one measurement into a running mean that has ``n`` measurements so far.

        The first ``halflife`` measurements are averaged plainly (so the first one,
        often a cold start, weighs ``1 / n`` rather than setting the mean), later ones
        exponentially; from the fifth on, a measurement is capped at 4 times the mean
        plus 1 ms, so one stall moves the mean little.
        """
        if old is None:
            return new
        if n >= 5:
            new = min(new, 4.0 * old + 1.0)
        return float(old + max(self._alpha, 1.0 / (n + 1)) * (new - old))

    def observe(
        self,
        budgets: Mapping[str, int],
        call_ms: Mapping[str, float],
        *,
        rank_ms: float,
        candidates: int,
    ) -> None:
        """Fold one request's measured times into the running means.

        Parameters
        ----------
        budgets : Mapping[str, int]
            The plan's budget per strategy it called.
        call_ms : Mapping[str, float]
            Measured time of each strategy call (strategies absent were not timed).
        rank_ms : float
            Time spent completing features and ranking the pool.
        candidates : int
            Candidates the ranker scored.
        """
        for name, ms in call_ms.items():
            if name not in budgets or not math.isfinite(ms) or ms < 0:
                continue
            per_budget = self.call_ms_.setdefault(name, {})
            counts = self.n_calls_.setdefault(name, {})
            b = int(budgets[name])
            per_budget[b] = self._mix(per_budget.get(b), float(ms), counts.get(b, 0))
            counts[b] = counts.get(b, 0) + 1
        if candidates > 0 and math.isfinite(rank_ms) and rank_ms >= 0:
            self.rank_ms_per_candidate_ = self._mix(
                self.rank_ms_per_candidate_, float(rank_ms) / candidates, self.n_ranked_
            )
            self.n_ranked_ += 1
        self.n_observed_ += 1

    def call_ms(self, strategy: str, budget: int) -> float:
        """Return the estimated time of one strategy call at a budget.

        Parameters
        ----------
        strategy : str
            Strategy name.
        budget : int
            Candidates asked for.

        Returns
        -------
        float
            Milliseconds (0 for a budget of 0: the strategy is not called).
        """
        if budget <= 0:
            return 0.0
        per_budget = self.call_ms_.get(strategy)
        if not per_budget:
            return self.prior_ms
        if budget in per_budget:
            return per_budget[budget]
        return sum(per_budget.values()) / len(per_budget)

    def plan_ms(self, budgets: Mapping[str, int], candidates: float) -> float:
        """Return a plan's estimated milliseconds: its calls plus ranking its candidates.

        Parameters
        ----------
        budgets : Mapping[str, int]
            The plan's budget per strategy.
        candidates : float
            Candidates the ranker scores (at most the sum of its budgets; see
            :meth:`Engine.ranked_count <ltrr.engine.Engine.ranked_count>`).

        Returns
        -------
        float
            Estimated milliseconds.
        """
        return self.request_ms(budgets, {}, candidates)  # no call measured: the running means

    def request_ms(
        self,
        budgets: Mapping[str, int],
        measured: Mapping[str, float],
        candidates: float,
        *,
        cap: float = 4.0,
    ) -> float:
        """Return a plan's milliseconds for one request, from the calls that request measured.

        A plan nested in the request's plan calls the same strategies on the same query,
        so each call costs what the request measured (a query the strategy had cached
        is cheap for every such plan); a strategy the request did not call is priced by
        its running mean. Each measured call is capped at ``cap`` times its running mean
        (plus 1 ms), so that one stall does not dominate what the bandit learns.

        Parameters
        ----------
        budgets : Mapping[str, int]
            The plan's budget per strategy.
        measured : Mapping[str, float]
            The request's measured call times by strategy.
        candidates : float
            Candidates the ranker scores.
        cap : float
            Cap on a measured call, in multiples of its running mean (default 4).

        Returns
        -------
        float
            Milliseconds.
        """
        total = (self.rank_ms_per_candidate_ or 0.0) * float(candidates)
        for s, b in budgets.items():
            if b <= 0:
                continue
            mean = self.call_ms(s, b)
            ms = measured.get(s)
            total += mean if ms is None or not math.isfinite(ms) else min(ms, cap * mean + 1.0)
        return total

    def to_dict(self) -> dict[str, Any]:
        """Return the settings and running means as JSON-ready data.

        Returns
        -------
        dict
            ``halflife``, ``prior_ms``, ``call_ms``, ``rank_ms_per_candidate``, ``n_observed``.
        """
        return {
            "halflife": self.halflife,
            "prior_ms": self.prior_ms,
            "call_ms": {s: {str(b): v for b, v in d.items()} for s, d in self.call_ms_.items()},
            "rank_ms_per_candidate": self.rank_ms_per_candidate_,
            "n_calls": {s: {str(b): v for b, v in d.items()} for s, d in self.n_calls_.items()},
            "n_ranked": self.n_ranked_,
            "n_observed": self.n_observed_,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> LatencyModel:
        """Rebuild a model from :meth:`to_dict` data.

        Parameters
        ----------
        data : Mapping[str, Any]
            As written by :meth:`to_dict`.

        Returns
        -------
        LatencyModel
            The model.

        Raises
        ------
        InvalidInputError
            If a field is missing or malformed.
        """
        try:
            model = cls(halflife=data["halflife"], prior_ms=data["prior_ms"])
            model.call_ms_ = {
                str(s): {int(b): float(v) for b, v in d.items()} for s, d in data["call_ms"].items()
            }
            rate = data["rank_ms_per_candidate"]
            model.rank_ms_per_candidate_ = None if rate is None else float(rate)
            model.n_observed_ = int(data["n_observed"])
            model.n_calls_ = {
                str(s): {int(b): int(v) for b, v in d.items()}
                for s, d in data.get("n_calls", {}).items()
            }
            model.n_ranked_ = int(data.get("n_ranked", 0))
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise InvalidInputError(
                f"latency model data must hold halflife, prior_ms, call_ms, "
                f"rank_ms_per_candidate and n_observed: {exc!r}"
            ) from exc
        return model
