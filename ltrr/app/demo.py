"""``ltrr demo``: the engine learns to retrieve in the SciFact world, against fixed plans."""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from typing import Any

from ltrr.data import judged_pairs
from ltrr.engine import Engine, RewardConfig
from ltrr.errors import InvalidInputError
from ltrr.plans import Plan

__all__ = ["run_demo"]

#: Strategies the demo's engine chooses among by default (add "xrtree" with --strategies;
#: its cross-fitted ranker training is much longer, see the README).
STRATEGIES = ("lexical", "embedding")
#: Fixed plans the engine is compared with (each ranked by the same LambdaMART ranker).
BASELINES = (
    "lexical=100",
    "xrtree=100",
    "embedding=30+lexical=30+xrtree=30",
    "embedding=100+lexical=100+xrtree=100",
)


def run_demo(
    *,
    data: str | os.PathLike[str] | None = None,
    steps: int = 3000,
    seed: int = 0,
    strategies: Sequence[str] = STRATEGIES,
    baselines: Sequence[str] | None = None,
    plot: str | None = "demo.png",
    progress: bool = True,
    cache_dir: str | None = None,
    reward: RewardConfig | None = None,
    log: Any = print,
) -> dict[str, Any]:
    """Run the engine and fixed plans in the SciFact world and compare them.

    Every policy meets the same requests (same seed). The engine's ranker is trained,
    cross-fitted, on the train judgements; the fixed plans share it, so the
    comparison isolates what learning the plan buys. Afterwards every policy answers
    the held-out test claims.

    Parameters
    ----------
    data : path-like, optional
        Data root (default ``$LTRR_DATA``, else ``../shared/data``).
    steps : int
        Requests per policy.
    seed : int
        Seed of the world and the engine.
    strategies : sequence of str
        Strategies the engine chooses among (the XR-tree trains on the train judgements).
    baselines : sequence of str, optional
        Fixed plan ids to compare with (they may only use ``strategies``; default: those
        of :data:`BASELINES` that do, plus the all-strategies plan at budget 100).
    plot : str, optional
        Where to save the figure (None: no figure).
    progress : bool
        Show progress bars.
    cache_dir : str, optional
        Embedding cache root.
    reward : RewardConfig, optional
        The engine's reward (default :class:`~ltrr.engine.RewardConfig`).
    log : callable
        Where progress messages go.

    Returns
    -------
    dict
        Per policy: the run's summary and held-out metrics.
    """
    from ltrr.app.recipes import clear_query_caches, default_strategies, train_engine
    from simulators.loop import evaluate_policy, run_online
    from simulators.policies import EnginePolicy
    from simulators.worlds import make_world

    t0 = time.perf_counter()
    world = make_world("scifact", data)
    log(
        f"SciFact world: {len(world.catalog)} abstracts, {world.heldout().__len__()} held-out claims"
    )
    judged = world.judgements()
    if judged is None:  # pragma: no cover - the SciFact world always has its train qrels
        raise RuntimeError("the SciFact world returned no judgements")
    if baselines is None:
        baselines = [b for b in BASELINES if set(Plan.parse(b).strategies) <= set(strategies)]
        widest = Plan.of(dict.fromkeys(strategies, 100)).id
        if widest not in baselines:
            baselines.append(widest)
    for plan_id in baselines:
        extra = set(Plan.parse(plan_id).strategies) - set(strategies)
        if extra:
            raise InvalidInputError(
                f"baseline {plan_id!r} calls {sorted(extra)}, not among strategies {list(strategies)}"
            )
    fitted = default_strategies(
        world.catalog,
        list(strategies),
        cache_dir=cache_dir,
        progress=progress,
        pairs=judged_pairs(*judged),
    )
    engine = Engine(world.catalog, fitted, seed=seed, reward=reward)
    train_engine(engine, *judged, log=log)  # cross-fit, ranker, selector warm start
    policies: dict[str, EnginePolicy] = {"engine": EnginePolicy(engine)}
    for plan_id in baselines:
        plan = Plan.parse(plan_id)
        fixed = Engine(world.catalog, fitted, plans=[plan], ranker=engine.ranker)
        policies[plan_id] = EnginePolicy(fixed, name=plan_id)
    out: dict[str, Any] = {
        "world": "scifact",
        "steps": steps,
        "seed": seed,
        "strategies": list(strategies),
        "policies": {},
    }
    for name, policy in policies.items():
        clear_query_caches(fitted)  # every policy meets its queries cold: fair latencies
        report = run_online(world, policy, steps=steps, seed=seed, progress=progress)
        clear_query_caches(fitted)
        held = evaluate_policy(world, policy, seed=seed)
        out["policies"][name] = {"online": report.to_dict(), "heldout": held}
    out["seconds"] = time.perf_counter() - t0
    log(format_demo(out))
    if plot:
        from ltrr.app.plots import plot_windows

        path = plot_windows(
            {n: r["online"] for n, r in out["policies"].items()},
            plot,
            title=f"SciFact world, {steps} requests: the engine against fixed plans",
        )
        out["plot"] = str(path)
        log(f"saved the figure to {path}")
    return out


def format_demo(out: dict[str, Any]) -> str:
    """Render the demo's comparison as text tables.

    Parameters
    ----------
    out : dict
        :func:`run_demo` output.

    Returns
    -------
    str
        Windows of the engine, then totals and held-out results per policy.
    """
    eng = out["policies"]["engine"]["online"]
    lines = [
        "",
        "engine, per window of requests:",
        f"{'from':>8}{'reward':>10}{'recall':>10}{'nDCG@10':>10}{'cands':>10}{'p50 ms':>10}",
    ]
    for w in eng["windows"]:
        lines.append(
            f"{int(w['start']):>8}{w['reward']:>10.3f}{w['pool_recall']:>10.3f}"
            f"{w['ndcg@10']:>10.3f}{w['candidates']:>10.1f}{w['latency_ms_p50']:>10.2f}"
        )
    lines += [
        "",
        f"{'policy':<28}{'online reward':>14}{'recall':>8}{'cands':>8}"
        f"{'held-out nDCG@10':>18}{'recall':>8}{'cands':>8}{'p50 ms':>8}",
    ]
    for name, r in out["policies"].items():
        t, h = r["online"]["totals"], r["heldout"]
        lines.append(
            f"{name:<28}{t['reward']:>14.3f}{t['pool_recall']:>8.3f}{t['candidates']:>8.1f}"
            f"{h['ndcg@10']:>18.3f}{h['pool_recall']:>8.3f}{h['candidates']:>8.1f}{h['latency_ms_p50']:>8.2f}"
        )
    return "\n".join(lines)
