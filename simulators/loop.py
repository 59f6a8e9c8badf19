"""The online loop: run a policy against a world, feed engagements back, report per window."""

from __future__ import annotations

import time
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from tqdm.auto import tqdm

from ltrr.errors import InvalidInputError
from ltrr.eventlog import EventLog, FeedbackRecord, PoolEntry, RequestRecord
from ltrr.metrics import ndcg_at_k
from ltrr.types import POSITIVE_ENGAGEMENTS
from simulators.policies import Decision, Policy
from simulators.worlds.base import Engagement, SimRequest, World

__all__ = [
    "EventLogSink",
    "SimulationReport",
    "StepRecord",
    "evaluate_policy",
    "evaluate_steps",
    "run_online",
    "step_metrics",
    "summarise_steps",
]


#: Callback receiving each step (e.g. to write the event log).
StepSink = Callable[["StepRecord", SimRequest, Decision, Sequence[Engagement]], None]


@dataclass(frozen=True, slots=True)
class StepRecord:
    """Measurements of one request.

    Attributes
    ----------
    request_id : str
        Id given by the loop.
    intent : str
        The request's intent label.
    action : str
        The policy's action.
    reward : float
        1 when the user engaged positively with a shown item, else 0.
    pool_recall : float
        Share of the relevant items that reached the pool (the ranking, when a policy has no pool).
    ndcg : float
        nDCG@k of the shown ranking against the hidden relevance.
    success : float
        1 when a relevant item was shown in the top k.
    candidates : int
        Candidates drawn from strategies.
    latency_ms : float
        Wall time of the policy's decision.
    """

    request_id: str
    intent: str
    action: str
    reward: float
    pool_recall: float
    ndcg: float
    success: float
    candidates: int
    latency_ms: float


def step_metrics(request: SimRequest, decision: Decision, k: int) -> tuple[float, float, float]:
    """Return (pool recall, nDCG@k, success@k) of a decision against the hidden relevance.

    Parameters
    ----------
    request : SimRequest
        Request with its ground truth.
    decision : Decision
        What the policy did.
    k : int
        Cut-off for nDCG and success.

    Returns
    -------
    tuple of float
        Pool recall, nDCG@k, success@k.
    """
    rel = request.relevance
    found = {p.item_id for p in decision.pool} if decision.pool else set(decision.ranking)
    recall = sum(1 for i in rel if i in found) / len(rel) if rel else 0.0
    shown = decision.ranking[:k]
    success = 1.0 if any(i in rel for i in shown) else 0.0
    ndcg = ndcg_at_k(shown, rel, k) if success else 0.0
    return recall, ndcg, success


def _summary(steps: Sequence[StepRecord]) -> dict[str, float]:
    if not steps:
        return {}
    lat = [s.latency_ms for s in steps]
    return {
        "requests": float(len(steps)),
        "reward": float(np.mean([s.reward for s in steps])),
        "pool_recall": float(np.mean([s.pool_recall for s in steps])),
        "ndcg@10": float(np.mean([s.ndcg for s in steps])),
        "success@10": float(np.mean([s.success for s in steps])),
        "candidates": float(np.mean([s.candidates for s in steps])),
        "latency_ms_mean": float(np.mean(lat)),
        "latency_ms_p50": float(np.percentile(lat, 50)),
        "latency_ms_p99": float(np.percentile(lat, 99)),
    }


@dataclass
class SimulationReport:
    """What an online run measured.

    Attributes
    ----------
    world, policy : str
        Names.
    steps : list of StepRecord
        Every request, in order.
    windows : list of dict
        Per-window averages (reward, pool recall, nDCG@10, success@10, candidates,
        latency, throughput).
    seconds : float
        Wall time of the whole run.
    """

    world: str
    policy: str
    seed: int
    k: int
    steps: list[StepRecord]
    windows: list[dict[str, float]]
    seconds: float
    extra: dict[str, Any] = field(default_factory=dict)

    def totals(self) -> dict[str, float]:
        """Averages over the whole run, with throughput in requests per second."""
        out = _summary(self.steps)
        out["throughput_rps"] = len(self.steps) / self.seconds if self.seconds > 0 else float("nan")
        return out

    def by(self, key: str) -> dict[str, dict[str, float]]:
        """Averages per value of ``key`` ("intent" or "action")."""
        groups: dict[str, list[StepRecord]] = defaultdict(list)
        for s in self.steps:
            groups[str(getattr(s, key))].append(s)
        return {g: _summary(v) for g, v in sorted(groups.items())}

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready summary (no per-step rows)."""
        return {
            "world": self.world,
            "policy": self.policy,
            "seed": self.seed,
            "k": self.k,
            "steps": len(self.steps),
            "totals": self.totals(),
            "windows": self.windows,
            "by_intent": self.by("intent"),
            "actions": dict(Counter(s.action for s in self.steps).most_common()),
            **self.extra,
        }


def run_online(
    world: World,
    policy: Policy,
    *,
    steps: int,
    seed: int = 0,
    k: int = 10,
    window: int | None = None,
    sink: StepSink | None = None,
    progress: bool = False,
) -> SimulationReport:
    """Run ``policy`` for ``steps`` requests drawn from ``world``, feeding engagements back.

    Deterministic under ``seed`` (one generator drives the world, the policy's
    exploration and the clicks).

    Parameters
    ----------
    world : World
        Where requests come from and who answers.
    policy : Policy
        What decides the ranking.
    steps : int
        Number of requests.
    seed : int
        Random seed.
    k : int
        Items shown per request (default 10).
    window : int, optional
        Requests per reporting window (default: ``steps // 10``, at least 1).
    sink : callable, optional
        Called after each step with (record, request, decision, engagements), e.g.
        to write the event log.
    progress : bool
        Show a progress bar.

    Returns
    -------
    SimulationReport
        Per-step records and per-window averages.
    """
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
        raise InvalidInputError(f"steps must be an integer >= 1, got {steps!r}")
    if isinstance(k, bool) or not isinstance(k, int) or k < 1:
        raise InvalidInputError(f"k must be an integer >= 1, got {k!r}")
    window = window or max(steps // 10, 1)
    rng = np.random.default_rng(seed)
    records: list[StepRecord] = []
    windows: list[dict[str, float]] = []
    stages: dict[str, list[float]] = defaultdict(list)
    start = win_start = time.perf_counter()
    for n in tqdm(
        range(steps), desc=f"{world.name}/{policy.name}", disable=not progress, leave=False
    ):
        request = world.sample(rng)
        t0 = time.perf_counter()
        decision = policy.act(request.query, request.context, k, rng)
        latency = (time.perf_counter() - t0) * 1000.0
        engagements = world.respond(request, decision.ranking[:k], rng)
        reward = 1.0 if any(e.kind in POSITIVE_ENGAGEMENTS for e in engagements) else 0.0
        policy.learn(decision, engagements, reward)
        recall, ndcg, success = step_metrics(request, decision, k)
        rec = StepRecord(
            f"r{seed}-{n}",
            request.intent,
            decision.action,
            reward,
            recall,
            ndcg,
            success,
            decision.candidates_drawn,
            latency,
        )
        records.append(rec)
        for stage, ms in decision.timings_ms.items():
            stages[stage].append(ms)
        if sink is not None:
            sink(rec, request, decision, engagements)
        if (n + 1) % window == 0 or n + 1 == steps:
            now = time.perf_counter()
            chunk = records[len(records) - ((n % window) + 1) :]
            summary = _summary(chunk)
            summary["start"] = float(n + 1 - len(chunk))
            summary["throughput_rps"] = (
                len(chunk) / (now - win_start) if now > win_start else float("nan")
            )
            windows.append(summary)
            win_start = now
    return SimulationReport(
        world.name,
        policy.name,
        seed,
        k,
        records,
        windows,
        time.perf_counter() - start,
        extra={"stages_ms": stage_summary(stages)} if stages else {},
    )


def stage_summary(stages: dict[str, list[float]]) -> dict[str, dict[str, float]]:
    """Return p50 and p99 per stage, plus ``overhead`` (everything but strategy work) when known.

    Strategy work is the ``retrieve`` stage plus, when present, the ``signals`` stage.

    Parameters
    ----------
    stages : dict of str to list of float
        Milliseconds per request, by stage name.

    Returns
    -------
    dict
        ``{stage: {"p50": ..., "p99": ...}}``.
    """
    out = {
        s: {"p50": float(np.percentile(v, 50)), "p99": float(np.percentile(v, 99))}
        for s, v in stages.items()
    }
    if "total" in stages and "retrieve" in stages:
        overhead = np.asarray(stages["total"]) - np.asarray(stages["retrieve"])
        if "signals" in stages:  # the strategies' query signals are strategy work too
            overhead = overhead - np.asarray(stages["signals"])
        out["overhead"] = {
            "p50": float(np.percentile(overhead, 50)),
            "p99": float(np.percentile(overhead, 99)),
        }
    return out


def evaluate_steps(
    world: World,
    policy: Policy,
    requests: Sequence[SimRequest] | None = None,
    *,
    k: int = 10,
    seed: int = 0,
) -> tuple[list[StepRecord], dict[str, list[float]]]:
    """Answer fixed requests (default: the world's held-out set) without learning; keep every step.

    Parameters
    ----------
    world : World
        The world (for its held-out requests).
    policy : Policy
        The policy; :meth:`Policy.learn` is not called.
    requests : sequence of SimRequest, optional
        Requests to answer (default ``world.heldout()``).
    k : int
        Cut-off (default 10).
    seed : int
        Seed of the policy's exploration.

    Returns
    -------
    tuple of (list of StepRecord, dict of str to list of float)
        One record per request, in order, and each stage's timings.
    """
    reqs = list(world.heldout() if requests is None else requests)
    if not reqs:
        raise InvalidInputError(f"world {world.name!r} has no held-out requests to evaluate on")
    rng = np.random.default_rng(seed)
    records = []
    stages: dict[str, list[float]] = defaultdict(list)
    for n, request in enumerate(reqs):
        t0 = time.perf_counter()
        decision = policy.act(request.query, request.context, k, rng)
        latency = (time.perf_counter() - t0) * 1000.0
        for stage, ms in decision.timings_ms.items():
            stages[stage].append(ms)
        recall, ndcg, success = step_metrics(request, decision, k)
        records.append(
            StepRecord(
                f"h{n}",
                request.intent,
                decision.action,
                float("nan"),
                recall,
                ndcg,
                success,
                decision.candidates_drawn,
                latency,
            )
        )
    return records, stages


def summarise_steps(steps: Sequence[StepRecord]) -> dict[str, float]:
    """Return the means (and latency percentiles) of measured steps, without the reward.

    Parameters
    ----------
    steps : sequence of StepRecord
        Measured steps.

    Returns
    -------
    dict of str to float
        ``requests``, ``pool_recall``, ``ndcg@10``, ``success@10``, ``candidates``,
        ``latency_ms_mean``, ``latency_ms_p50``, ``latency_ms_p99`` (empty without steps).
    """
    out = _summary(steps)
    out.pop("reward", None)
    return out


def evaluate_policy(
    world: World,
    policy: Policy,
    requests: Sequence[SimRequest] | None = None,
    *,
    k: int = 10,
    seed: int = 0,
) -> dict[str, float]:
    """Measure a policy on fixed requests (default: the world's held-out set), without learning.

    Parameters
    ----------
    world : World
        The world (for its held-out requests).
    policy : Policy
        The policy; :meth:`Policy.learn` is not called.
    requests : sequence of SimRequest, optional
        Requests to answer (default ``world.heldout()``).
    k : int
        Cut-off (default 10).
    seed : int
        Seed of the policy's exploration.

    Returns
    -------
    dict of str to float
        Mean pool recall, nDCG@k, success@k, candidates and latency.
    """
    records, stages = evaluate_steps(world, policy, requests, k=k, seed=seed)
    out = summarise_steps(records)
    for stage, q in stage_summary(stages).items():
        out[f"{stage}_ms_p50"], out[f"{stage}_ms_p99"] = q["p50"], q["p99"]
    return out


class EventLogSink:
    """Write each step of the online loop to an :class:`~ltrr.eventlog.EventLog`.

    The request record carries the query, context, chosen action, its propensity,
    the full distribution, the pool with provenance and the shown ranking; each
    engagement becomes a feedback record. Times are the simulated request times.

    Parameters
    ----------
    log : EventLog
        An open event log.
    policy : str
        The policy name to record.
    """

    def __init__(self, log: EventLog, *, policy: str) -> None:
        self.log = log
        self.policy = policy
        self.n_requests = 0
        self.n_feedback = 0

    def __call__(
        self,
        record: StepRecord,
        request: SimRequest,
        decision: Decision,
        engagements: Sequence[Engagement],
    ) -> None:
        """Append one request and its engagements."""
        ts = request.context.timestamp if request.context.timestamp is not None else 0.0
        pool = tuple(
            PoolEntry(
                item_id=p.item_id,
                strategies=p.strategies,
                ranks=p.ranks,
                scores=p.scores,
            )
            for p in decision.pool
        )
        self.log.append_request(
            RequestRecord(
                request_id=record.request_id,
                timestamp=ts,
                query=request.query.text,
                context=request.context.to_dict(),
                action=decision.action,
                propensity=decision.propensity,
                action_probs=decision.action_probs,
                pool=pool,
                ranking=decision.ranking,
                policy=self.policy,
                extra={"intent": request.intent, "candidates": decision.candidates_drawn},
            )
        )
        self.n_requests += 1
        if engagements:
            self.n_feedback += self.log.append_feedback_many(
                [
                    FeedbackRecord(
                        request_id=record.request_id,
                        item_id=e.item_id,
                        kind=e.kind,
                        position=e.position,
                        timestamp=ts + 1.0 + e.position,
                    )
                    for e in engagements
                ]
            )
