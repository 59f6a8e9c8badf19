"""The frontier as the judge: every fixed plan by latency and held-out quality, and the click-only engine."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from ltrr.app.recipes import (
    clear_query_caches,
    click_only_engine,
    default_strategies,
    exploring_engine,
)
from ltrr.data import load_qrels
from ltrr.engine import Engine
from ltrr.plans import Plan
from simulators.loop import evaluate_steps, run_online, stage_summary, summarise_steps
from simulators.policies import EnginePolicy
from simulators.worlds.base import SimRequest, World

__all__ = [
    "frontier_table",
    "heldout_split",
    "run_click_only_demo",
    "run_frontier",
    "scifact_splits",
    "seen_split",
]

#: Held-out keys reported per policy.
HELDOUT_KEYS = (
    "ndcg@10",
    "success@10",
    "pool_recall",
    "latency_ms_mean",
    "latency_ms_p50",
    "latency_ms_p99",
    "candidates",
)


def seen_split(
    requests: Sequence[SimRequest], train_qrels: Mapping[str, Mapping[str, int]]
) -> tuple[list[SimRequest], list[SimRequest]]:
    """Split held-out requests into those whose relevant items some train query also has, and the rest.

    Parameters
    ----------
    requests : sequence of SimRequest
        Held-out requests.
    train_qrels : Mapping[str, Mapping[str, int]]
        The train judgements (what traffic may have taught a pair-learning strategy).

    Returns
    -------
    tuple of (list, list)
        ``(seen, unseen)``.
    """
    cited = {d for rel in train_qrels.values() for d, g in rel.items() if g > 0}
    seen = [r for r in requests if any(d in cited for d in r.relevance)]
    unseen = [r for r in requests if not any(d in cited for d in r.relevance)]
    return seen, unseen


def heldout_split(
    world: World,
    engine: Engine,
    splits: Mapping[str, Sequence[SimRequest]],
    *,
    seed: int,
) -> dict[str, Any]:
    """Evaluate an engine on the held-out set, and report named subsets of it from the same pass.

    One request is answered first to pay one-off set-up costs (the featurizer tokenises
    the catalog at its first use), then query caches are cleared, so every held-out
    query is met cold.

    Parameters
    ----------
    world : World
        The world.
    engine : Engine
        The engine (it does not learn while evaluated).
    splits : Mapping[str, sequence of SimRequest]
        Subsets of ``world.heldout()`` (matched by query id and text) reported beside
        the whole set (e.g. seen / unseen).
    seed : int
        Seed of the policy's exploration.

    Returns
    -------
    dict
        :data:`HELDOUT_KEYS` for the whole set, ``<stage>_ms_p50`` per search stage, and
        ``<split>_ndcg@10`` and ``<split>_success@10`` per subset.
    """
    requests = list(world.heldout())
    policy = EnginePolicy(engine)
    evaluate_steps(world, policy, requests[:1], seed=seed)  # warm-up: one-off set-up costs
    clear_query_caches(engine.strategies)
    records, stages = evaluate_steps(world, policy, requests, seed=seed)
    full = summarise_steps(records)
    out = {k: full[k] for k in HELDOUT_KEYS if k in full}
    for stage, q in stage_summary(stages).items():
        out[f"{stage}_ms_p50"] = q["p50"]
    position = {(r.query.id, r.query.text): i for i, r in enumerate(requests)}
    for name, subset in splits.items():
        keys = [(r.query.id, r.query.text) for r in subset]
        picked = [records[position[key]] for key in keys if key in position]
        if picked:
            part = summarise_steps(picked)
            out[f"{name}_ndcg@10"] = part["ndcg@10"]
            out[f"{name}_success@10"] = part["success@10"]
    return out


def run_frontier(
    world: World,
    strategy_names: Sequence[str],
    *,
    steps: int,
    checkpoints: Sequence[int] = (),
    splits: Mapping[str, Sequence[SimRequest]] | None = None,
    cost_per_ms: float | None = None,
    retrain_every: int = 2000,
    online_fixed: int = 0,
    seed: int = 0,
    cache_dir: str | None = None,
    progress: bool = False,
    log: Callable[[str], object] = print,
) -> dict[str, Any]:
    """Run the click-only engine and an exploring log of the same length, then place every fixed plan.

    1. The engine (:func:`~ltrr.app.recipes.click_only_engine`) serves ``steps``
       requests, learning from its clicks only; after each checkpoint its held-out
       quality and latency are measured (the learning curve).
    2. An exploring engine (uniformly random plans, same schedule) serves ``steps``
       requests; its click-trained ranker and pair-learning strategies are then
       shared by every fixed plan of the plan space, so the fixed plans are no worse
       off than the engine and the comparison isolates what learning the plan buys.
    3. Every fixed plan is measured on the held-out set with that ranker.

    Parameters
    ----------
    world : World
        The world (its held-out requests judge; its judgements are never read).
    strategy_names : sequence of str
        Registered strategies of the plan space.
    steps : int
        Online requests per run.
    checkpoints : sequence of int
        Requests served after which the engine's held-out point is measured (``steps``
        is always one; 0 measures it before it served anything).
    splits : Mapping[str, sequence of SimRequest], optional
        Held-out subsets reported beside the whole set.
    cost_per_ms : float, optional
        The engine's reward cost per estimated millisecond (default: the recipe's).
    retrain_every : int
        Feedbacks between scheduled retrainings (default 2,000).
    online_fixed : int
        Also run the ``online_fixed`` fixed plans with the best held-out nDCG@10 online for
        ``steps`` requests each (fresh strategies, so an online-learning one such as the
        memory index learns from that plan's own traffic; the exploring log's ranker) and
        report their success@10 over the second half (default 0: none).
    seed : int
        Seed of the runs.
    cache_dir : str, optional
        Embedding cache root.
    progress : bool
        Progress bars.
    log : callable
        Where progress messages go.

    Returns
    -------
    dict
        ``policies`` (``engine``: ``heldout``, ``online``, ``curve``; ``exploring``),
        ``frontier`` (one entry per fixed plan), ``seconds``.
    """
    t0 = time.perf_counter()
    splits = dict(splits or {})
    names = list(strategy_names)
    params: dict[str, Any] = {"retrain_every": retrain_every}
    if cost_per_ms is not None:
        params["cost_per_ms"] = cost_per_ms

    def fitted() -> dict[str, Any]:
        return dict(
            default_strategies(world.catalog, names, cache_dir=cache_dir, progress=progress)
        )

    out: dict[str, Any] = {"world": world.name, "steps": steps, "seed": seed, "policies": {}}
    engine = click_only_engine(world.catalog, fitted(), seed=seed, **params)
    marks = sorted({c for c in checkpoints if 0 <= c < steps} | {steps})
    curve: list[dict[str, Any]] = []
    online: list[dict[str, float]] = []
    successes: list[float] = []
    served = 0
    policy = EnginePolicy(engine)
    for n, mark in enumerate(marks):
        if mark > served:
            report = run_online(
                world, policy, steps=mark - served, seed=seed + n, progress=progress
            )
            online.append(report.totals())
            successes += [st.success for st in report.steps]
            served = mark
        point = heldout_split(world, engine, splits, seed=seed)
        curve.append({"requests": served, **point})
        log(
            f"engine after {served:>6} requests: held-out nDCG@10 {point['ndcg@10']:.4f}, "
            f"{point['latency_ms_mean']:.2f} ms mean"
        )
    out["policies"]["engine"] = {
        "heldout": curve[-1],
        "curve": curve,
        "online": online,
        "online_second_half_success@10": _mean(successes[len(successes) // 2 :]),
        "retrainings": len(engine.retrain.reports_) if engine.retrain is not None else 0,
    }
    explorer = exploring_engine(world.catalog, fitted(), seed=seed, **params)
    report = run_online(world, EnginePolicy(explorer), steps=steps, seed=seed, progress=progress)
    out["policies"]["exploring"] = {
        "online": report.totals(),
        "heldout": heldout_split(world, explorer, splits, seed=seed),
    }
    log(f"exploring log of {steps} requests done; placing every fixed plan ...")
    frontier = []
    for plan in explorer.selector.plans:
        fixed = Engine(
            world.catalog, explorer.strategies, plans=[plan], ranker=explorer.ranker, seed=seed
        )
        point = heldout_split(world, fixed, splits, seed=seed)
        frontier.append({"plan": plan.id, **point})
    out["frontier"] = frontier
    ranked = sorted(frontier, key=lambda r: -r["ndcg@10"])[:online_fixed]
    for row in ranked:
        plan = Plan.parse(row["plan"])
        fixed = Engine(world.catalog, fitted(), plans=[plan], ranker=explorer.ranker, seed=seed)
        report = run_online(world, EnginePolicy(fixed), steps=steps, seed=seed, progress=progress)
        tail = [st.success for st in report.steps[steps // 2 :]]
        row["online_second_half_success@10"] = _mean(tail)
        row["online_latency_ms_mean"] = report.totals()["latency_ms_mean"]
        log(f"fixed plan {plan.id} online: second-half success@10 {_mean(tail):.4f}")
    out["seconds"] = time.perf_counter() - t0
    return out


def _mean(values: Sequence[float]) -> float:
    return float(sum(values) / len(values)) if values else float("nan")


def frontier_table(out: Mapping[str, Any]) -> str:
    """Render the fixed plans and the engine's point as a text table, fastest first.

    Parameters
    ----------
    out : Mapping[str, Any]
        From :func:`run_frontier`.

    Returns
    -------
    str
        The table; ``*`` marks plans on the frontier (no other point both faster and better).
    """
    rows = [(r["plan"], r) for r in out["frontier"]]
    rows.append(("ENGINE (click-only)", out["policies"]["engine"]["heldout"]))
    rows.sort(key=lambda t: t[1]["latency_ms_mean"])
    extra = sorted({k for _, r in rows for k in r if k.endswith("_ndcg@10")})
    head = f"{'plan':<42} {'ms mean':>8} {'nDCG@10':>8} {'recall':>7} {'cands':>6}"
    head += "".join(f" {k.removesuffix('_ndcg@10'):>8}" for k in extra)
    lines = [head]
    for name, r in rows:
        dominated = any(
            o["latency_ms_mean"] < r["latency_ms_mean"] and o["ndcg@10"] > r["ndcg@10"]
            for _, o in rows
        )
        line = (
            f"{('* ' if not dominated else '  ') + name:<42} {r['latency_ms_mean']:>8.2f} "
            f"{r['ndcg@10']:>8.4f} {r['pool_recall']:>7.3f} {r['candidates']:>6.1f}"
        )
        line += "".join(f" {r.get(k, float('nan')):>8.4f}" for k in extra)
        lines.append(line)
    return "\n".join(lines)


def scifact_splits(world: World, folder: str) -> dict[str, list[SimRequest]]:
    """Return the SciFact held-out set's seen / unseen subsets (see :func:`seen_split`).

    Parameters
    ----------
    world : World
        The SciFact world.
    folder : str
        Its BEIR folder (the train qrels define "seen").

    Returns
    -------
    dict of str to list of SimRequest
        ``{"seen": [...], "unseen": [...]}``.
    """
    seen, unseen = seen_split(world.heldout(), load_qrels(folder, "train"))
    return {"seen": seen, "unseen": unseen}


def run_click_only_demo(
    *,
    data: str | None = None,
    steps: int = 5000,
    checkpoints: Sequence[int] = (0, 1000, 2500),
    strategies: Sequence[str] = ("lexical", "embedding", "xrtree"),
    cost_per_ms: float | None = None,
    seed: int = 0,
    plot: str | None = "demo.png",
    progress: bool = True,
    cache_dir: str | None = None,
    log: Callable[[str], object] = print,
) -> dict[str, Any]:
    """``ltrr demo``: the click-only engine in the SciFact world, against every fixed plan.

    Runs :func:`run_frontier` (the world's judgements only judge), prints the frontier
    table with the engine's point, and draws :func:`~ltrr.app.plots.click_only_figure`.

    Parameters
    ----------
    data : str, optional
        Data root (default: ``$LTRR_DATA``, else ``../shared/data``).
    steps : int
        Online requests of the engine and of the exploring log (default 5,000).
    checkpoints : sequence of int
        Learning-curve points (requests served).
    strategies : sequence of str
        The plan space's strategies (default lexical, embedding, XR-tree).
    cost_per_ms : float, optional
        The reward's cost per millisecond (default: the recipe's).
    seed : int
        Seed of the runs.
    plot : str, optional
        Figure file (None: no figure).
    progress : bool
        Progress bars.
    cache_dir : str, optional
        Embedding cache root.
    log : callable
        Where the table and messages go.

    Returns
    -------
    dict
        :func:`run_frontier`'s report (plus ``plot`` when drawn).
    """
    from ltrr.app.plots import check_figure_path, click_only_figure, save_figure
    from ltrr.data import resolve_data_dir
    from simulators.worlds import make_world

    if plot:
        check_figure_path(plot)
    world = make_world("scifact", data)
    folder = resolve_data_dir(data, dataset="scifact")
    splits = scifact_splits(world, str(folder))
    out = run_frontier(
        world,
        strategies,
        steps=steps,
        checkpoints=checkpoints,
        splits=splits,
        cost_per_ms=cost_per_ms,
        seed=seed,
        cache_dir=cache_dir,
        progress=progress,
        log=log,
    )
    log(frontier_table(out))
    if plot:
        fig = click_only_figure(out, title=f"SciFact world, click-only learning, {steps} requests")
        out["plot"] = str(save_figure(fig, plot))
        log(f"saved the figure to {out['plot']}")
    return out
