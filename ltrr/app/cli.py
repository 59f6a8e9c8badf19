"""The ``ltrr`` command line."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ltrr.app.log_cli import add_log_commands
from ltrr.app.rewrites_cli import add_rewrites_commands
from ltrr.app.service_cli import add_service_commands
from ltrr.errors import DataNotFoundError, InvalidInputError, LtrrError

__all__ = ["main"]


def _bench_retrieval(args: argparse.Namespace) -> int:
    from ltrr.app.bench import format_table, run_retrieval_benchmark
    from ltrr.data import load_beir, resolve_data_dir
    from ltrr.io import atomic_write_json

    folder = resolve_data_dir(args.data, dataset=args.dataset)
    dataset = load_beir(folder, split=args.split)
    names = [s.strip() for s in args.strategies.split(",") if s.strip()]
    params: dict[str, dict[str, object]] = {}
    if args.index:
        params.setdefault("embedding", {})["index"] = args.index
    if args.cache_dir:
        params.setdefault("embedding", {})["cache_dir"] = args.cache_dir
    train_pairs = None
    if args.split != "train" and (folder / "qrels" / "train.tsv").is_file():
        # strategies that learn from judgements (the XR-tree) train on the train split
        from ltrr.data import judged_pairs, load_qrels

        train_qrels = load_qrels(folder, "train")
        train_pairs = judged_pairs(
            [dataset.queries[q] for q in train_qrels if q in dataset.queries], train_qrels
        )
    report = run_retrieval_benchmark(
        dataset,
        names,
        k=args.k,
        strategy_params=params,
        limit=args.limit,
        progress=not args.no_progress,
        train_pairs=train_pairs,
    )
    print(format_table(report))
    if args.json:
        atomic_write_json(Path(args.json), report)
        print(f"wrote {args.json}")
    return 0


def _reward_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the engine's reward settings to a sub-command (unset: RewardConfig's defaults)."""
    parser.add_argument(
        "--cost-per-candidate",
        type=float,
        help="engine reward lost per candidate drawn (default: RewardConfig's, 0.002)",
    )
    parser.add_argument(
        "--recall-weight",
        type=float,
        help="engine reward of a full pool recall, learned from judgements "
        "(default: RewardConfig's, 5)",
    )
    parser.add_argument(
        "--cost-per-ms",
        type=float,
        help="engine reward lost per estimated millisecond of the plan (default: "
        "RewardConfig's, 0; the click-only demo's recipe default otherwise)",
    )


def _reward(args: argparse.Namespace) -> Any:
    from ltrr.engine import RewardConfig

    given = {
        name: getattr(args, name)
        for name in ("cost_per_candidate", "recall_weight", "cost_per_ms")
        if getattr(args, name) is not None
    }
    return RewardConfig(**given)


def _simulate(args: argparse.Namespace) -> int:
    from ltrr.app.recipes import make_policy
    from ltrr.eventlog import EventLog
    from ltrr.io import atomic_write_json
    from simulators.loop import EventLogSink, evaluate_policy, run_online
    from simulators.policies import EnginePolicy
    from simulators.worlds import make_world

    if args.plot:
        from ltrr.app.plots import check_figure_path

        check_figure_path(args.plot)  # fail before the run, not after it
    world = make_world(args.world, args.data)
    policy = make_policy(
        args.policy,
        world.catalog,
        cache_dir=args.cache_dir,
        progress=not args.no_progress,
        judged=world.judgements(),
        seed=args.seed,
        engine_strategies=_names(args.strategies),
        reward=_reward(args),
        retrain_every=_retrain_every(args.retrain_every, world),
    )
    log = EventLog(args.log) if args.log else None
    try:
        sink = None
        if isinstance(policy, EnginePolicy):
            # the engine logs its own decisions, with inclusion probabilities
            policy.engine.event_log = log
        elif log is not None:
            sink = EventLogSink(log, policy=policy.name)
        report = run_online(
            world,
            policy,
            steps=args.steps,
            seed=args.seed,
            k=args.k,
            window=args.window,
            sink=sink,
            progress=not args.no_progress,
        )
    finally:
        if log is not None:
            log.close()
    out = report.to_dict()
    if not args.no_heldout:
        out["heldout"] = evaluate_policy(world, policy, k=args.k, seed=args.seed)
    if args.log:
        out["log"] = str(args.log)
    print(format_windows(out))
    if args.json:
        atomic_write_json(Path(args.json), out)
        print(f"wrote {args.json}")
    if args.plot:
        from ltrr.app.plots import plot_windows

        plot_windows(
            {out["policy"]: out},
            args.plot,
            title=f"{out['world']} world, {out['policy']}: {out['steps']} requests, seed {out['seed']}",
            highlight=out["policy"],
        )
        print(f"wrote {args.plot}")
    return 0


def format_windows(report: dict[str, Any]) -> str:
    """Render a simulation report's windows and totals as a plain-text table.

    Parameters
    ----------
    report : dict
        :meth:`SimulationReport.to_dict` output (optionally with ``"heldout"``).

    Returns
    -------
    str
        The table.
    """
    cols = [
        "reward",
        "pool_recall",
        "ndcg@10",
        "success@10",
        "candidates",
        "latency_ms_p50",
        "throughput_rps",
    ]
    lines = [
        f"{report['world']} / {report['policy']}: {report['steps']} requests, seed {report['seed']}",
        f"{'window':>12}" + "".join(f"{c:>16}" for c in cols),
    ]
    for w in report["windows"]:
        lines.append(
            f"{int(w['start']):>12}" + "".join(f"{w.get(c, float('nan')):>16.4f}" for c in cols)
        )
    lines.append(
        f"{'total':>12}" + "".join(f"{report['totals'].get(c, float('nan')):>16.4f}" for c in cols)
    )
    if "heldout" in report:
        h = report["heldout"]
        lines.append(
            f"{'held-out':>12}" + "".join(f"{h.get(c, float('nan')):>16.4f}" for c in cols)
        )
    return "\n".join(lines)


def _evaluate(args: argparse.Namespace) -> int:
    from ltrr.eventlog import EventLog
    from ltrr.io import atomic_write_json
    from simulators.offline import bandit_from_log, evaluate_target

    path = Path(args.log)
    if not path.is_dir():
        raise DataNotFoundError(
            f"no event log at {str(path)!r}: expected a folder written by 'ltrr simulate --log'"
        )
    if args.stream or args.scheduler:
        return _evaluate_stream(args, path)
    from tqdm.auto import tqdm

    with tqdm(total=3, desc="evaluate", disable=args.no_progress, leave=False) as bar:
        bar.set_postfix_str("reading the log")
        log = EventLog(path)
        try:
            requests, feedback = log.read_requests(), log.read_feedback()
        finally:
            log.close()
        bar.update()
        bar.set_postfix_str("joining feedback")
        bandit = bandit_from_log(requests, feedback)
        bar.update()
        bar.set_postfix_str(f"estimators, {args.bootstrap} bootstrap resamples")
        model = _target_model(args.target)
        dist = None
        if model is not None:
            from ltrr.app.evaluation import model_distribution

            dist = model_distribution(model, requests, bandit.actions)
        out = {"log": str(path)} | evaluate_target(
            bandit,
            args.target,
            n_bootstrap_samples=args.bootstrap,
            seed=args.seed,
            clip=args.clip,
            target_dist=dist,
        )
        bar.update()
    print(
        f"{out['target']} on {out['n_rounds']} logged rounds ({out['n_actions']} actions); "
        f"logged value {out['logged_value']:.4f}"
    )
    print(f"{'estimator':<12}{'value':>10}{'ci_low':>10}{'ci_high':>10}")
    for name, r in out["ope"].items():
        print(f"{name:<12}{r['value']:>10.4f}{r['ci_low']:>10.4f}{r['ci_high']:>10.4f}")
    if "replay" in out and "value" in out["replay"]:
        print(
            f"{'replay':<12}{out['replay']['value']:>10.4f}   ({out['replay']['n_matched']} matched rounds)"
        )
    if model is not None:
        from ltrr.app.evaluation import verdict

        out["verdict"] = verdict(out)
        print(f"verdict: {out['verdict']}")
    if args.json:
        atomic_write_json(Path(args.json), out)
        print(f"wrote {args.json}")
    return 0


def _evaluate_stream(args: argparse.Namespace, path: Path) -> int:
    """``ltrr evaluate --stream``: the log partition by partition, never all in memory."""
    from ltrr.app.evaluate_stream import evaluate_stream, model_distribution_of
    from ltrr.io import atomic_write_json

    model = _target_model(args.target)
    out = {"log": str(path)} | evaluate_stream(
        path,
        args.target,
        distribution=None if model is None else model_distribution_of(model),
        clip=args.clip,
        chunk_rows=args.chunk_rows,
        scheduler=args.scheduler,
    )
    print(
        f"{out['target']} on {out['n_rounds']} logged rounds ({out['n_actions']} actions, "
        f"{out['n_partitions']} partitions, streamed); logged value {out['logged_value']:.4f}"
    )
    print(f"{'estimator':<12}{'value':>10}{'ci_low':>10}{'ci_high':>10}   ({out['interval']})")
    for name, r in out["ope"].items():
        print(f"{name:<12}{r['value']:>10.4f}{r['ci_low']:>10.4f}{r['ci_high']:>10.4f}")
    if model is not None:
        from ltrr.app.evaluation import verdict

        out["verdict"] = verdict(out)
        print(f"verdict: {out['verdict']}")
    if args.json:
        atomic_write_json(Path(args.json), out)
        print(f"wrote {args.json}")
    return 0


def _target_model(target: str) -> Any:
    """Load the engine a ``--target`` names when it is a model folder or one of its versions."""
    path = Path(target)
    if not path.is_dir():
        return None
    from ltrr.service.store import ModelStore

    if path.parent.name == "versions" and (path.parent.parent / "store.json").is_file():
        return ModelStore(path.parent.parent).load(path.name)
    return ModelStore(path).load()


def _demo(args: argparse.Namespace) -> int:
    from ltrr.io import atomic_write_json

    if args.judged:
        from ltrr.app.demo import run_demo

        out = run_demo(
            data=args.data,
            steps=args.steps,
            seed=args.seed,
            plot=args.plot or None,
            progress=not args.no_progress,
            cache_dir=args.cache_dir,
            strategies=_names(args.strategies or "lexical,embedding"),
            reward=_reward(args),
        )
    else:
        from ltrr.app.frontier import run_click_only_demo

        out = run_click_only_demo(
            data=args.data,
            steps=args.steps,
            checkpoints=[int(c) for c in args.checkpoints.split(",") if c.strip()],
            strategies=_names(args.strategies or "lexical,embedding,xrtree"),
            cost_per_ms=args.cost_per_ms,
            seed=args.seed,
            plot=args.plot or None,
            progress=not args.no_progress,
            cache_dir=args.cache_dir,
        )
    if args.json:
        atomic_write_json(Path(args.json), out)
        print(f"wrote {args.json}")
    return 0


def _names(text: str) -> list[str]:
    names = [s.strip() for s in text.split(",") if s.strip()]
    if not names:
        raise InvalidInputError(f"--strategies needs at least one name, got {text!r}")
    return names


#: ``ltrr simulate --policy engine``'s default ranker retraining period in a world without
#: judgements, where the ranker has nothing else to learn from (music world, 4,000 requests:
#: lexical, embedding and memory 0.928 held-out success@10 with RRF ordering, 0.932 retraining).
AUTO_RETRAIN_EVERY = 1000


def _retrain_every(value: int | None, world: Any) -> int:
    """Return the retraining period: ``value``, else the default for the world."""
    if value is not None:
        return value
    return AUTO_RETRAIN_EVERY if world.judgements() is None else 0


def build_parser() -> argparse.ArgumentParser:
    """Return the argument parser of the ``ltrr`` command."""
    parser = argparse.ArgumentParser(prog="ltrr", description="Learning to rank and retrieve.")
    sub = parser.add_subparsers(dest="command", required=True)
    bench = sub.add_parser("bench", help="benchmarks")
    bench_sub = bench.add_subparsers(dest="bench", required=True)
    ret = bench_sub.add_parser(
        "retrieval", help="build strategies on a BEIR data set and measure quality and latency"
    )
    ret.add_argument(
        "--data",
        help="a BEIR folder, or a folder holding one per data set (default: $LTRR_DATA, else ../shared/data)",
    )
    ret.add_argument(
        "--dataset", default="scifact", help="data set folder inside --data (default scifact)"
    )
    ret.add_argument("--split", default="test", help="qrels split (default test)")
    ret.add_argument(
        "--strategies", default="lexical,embedding", help="comma-separated strategy names"
    )
    ret.add_argument("--k", type=int, default=100, help="retrieval budget; recall is reported at k")
    ret.add_argument(
        "--index", choices=["hnsw", "exact"], help="vector index for the embedding strategy"
    )
    ret.add_argument("--cache-dir", help="embedding cache root (default ~/.cache/ltrr/embeddings)")
    ret.add_argument("--limit", type=int, help="evaluate only the first N queries")
    ret.add_argument("--json", help="write the report as JSON to this file")
    ret.add_argument("--no-progress", action="store_true", help="hide progress bars")
    ret.set_defaults(func=_bench_retrieval)

    sim = sub.add_parser("simulate", help="run a policy in a simulated world on real data")
    sim.add_argument("--world", required=True, help="scifact or music")
    sim.add_argument(
        "--data", help="data root or the world's folder (default: $LTRR_DATA, else ../shared/data)"
    )
    sim.add_argument(
        "--policy",
        required=True,
        help="lexical, embedding, xrtree, rrf, random-plans, engine, or a plan id",
    )
    sim.add_argument(
        "--strategies",
        default="lexical,embedding",
        help="strategies the engine policy chooses among (default lexical,embedding; "
        "also xrtree, memory)",
    )
    _reward_arguments(sim)
    sim.add_argument("--steps", type=int, default=2000, help="requests to simulate (default 2000)")
    sim.add_argument(
        "--retrain-every",
        type=int,
        default=None,
        help="engine: retrain the ranker on its last 5,000 answered requests every N requests "
        f"(0: never; default {AUTO_RETRAIN_EVERY} in a world without judgements, where the "
        "ranker has nothing else to learn from, else 0)",
    )
    sim.add_argument("--seed", type=int, default=0)
    sim.add_argument("--k", type=int, default=10, help="items shown per request (default 10)")
    sim.add_argument("--window", type=int, help="requests per reporting window (default steps/10)")
    sim.add_argument("--log", help="write the event log to this folder")
    sim.add_argument("--no-heldout", action="store_true", help="skip the held-out evaluation")
    sim.add_argument("--cache-dir", help="embedding cache root")
    sim.add_argument("--json", help="write the report as JSON to this file")
    sim.add_argument(
        "--plot",
        help="draw reward, pool recall, nDCG@10 and candidates per window to this figure "
        "(.png, .svg or .pdf)",
    )
    sim.add_argument("--no-progress", action="store_true", help="hide progress bars")
    sim.set_defaults(func=_simulate)

    demo = sub.add_parser(
        "demo",
        help="the engine learns to retrieve from clicks alone in the SciFact world, against "
        "every fixed plan (--judged: the judged warm start instead)",
    )
    demo.add_argument("--data", help="data root (default: $LTRR_DATA, else ../shared/data)")
    _reward_arguments(demo)
    demo.add_argument(
        "--steps", type=int, default=5000, help="requests per run (default 5000; judged: 3000)"
    )
    demo.add_argument(
        "--checkpoints",
        default="0,1000,2500",
        help="click-only: requests served at which the learning curve is measured",
    )
    demo.add_argument("--seed", type=int, default=0)
    demo.add_argument(
        "--strategies",
        default=None,
        help="strategies of the plan space (default lexical,embedding,xrtree; "
        "judged: lexical,embedding)",
    )
    demo.add_argument(
        "--judged",
        action="store_true",
        help="warm-start the ranker and the selector on the train judgements (the former demo)",
    )
    demo.add_argument(
        "--plot", default="demo.png", help="figure file (default demo.png; '' for none)"
    )
    demo.add_argument("--json", default="demo.json", help="report file (default demo.json)")
    demo.add_argument("--cache-dir", help="embedding cache root")
    demo.add_argument("--no-progress", action="store_true", help="hide progress bars")
    demo.set_defaults(func=_demo)

    ev = sub.add_parser(
        "evaluate", help="estimate a target policy's value from an event log (off-policy)"
    )
    ev.add_argument(
        "--log",
        required=True,
        help="event log folder ('ltrr serve --log' or 'ltrr simulate --log')",
    )
    ev.add_argument(
        "--target",
        required=True,
        help="uniform, lexical, embedding, rrf, a logged plan id, or a model folder "
        "(models/NAME: its current version; models/NAME/versions/vN: that version)",
    )
    ev.add_argument("--bootstrap", type=int, default=500, help="bootstrap resamples (default 500)")
    ev.add_argument("--clip", type=float, default=float("inf"), help="importance-weight clipping")
    ev.add_argument("--seed", type=int, default=0)
    ev.add_argument("--json", help="write the estimates as JSON to this file")
    ev.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    ev.add_argument(
        "--stream",
        action="store_true",
        help="stream the log segment by segment in chunks (logs larger than memory): exact "
        "sums of the estimators' per-round terms, normal intervals, per-action mean reward model",
    )
    ev.add_argument(
        "--chunk-rows", type=int, default=100_000, help="requests per chunk with --stream"
    )
    ev.add_argument(
        "--scheduler",
        help="run the partitions on Dask (implies --stream): a scheduler address tcp://... or "
        "threads/processes/synchronous; needs dask installed",
    )
    ev.set_defaults(func=_evaluate)
    add_service_commands(sub)
    add_log_commands(sub)
    add_rewrites_commands(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line.

    Parameters
    ----------
    argv : sequence of str, optional
        Arguments (default: ``sys.argv[1:]``).

    Returns
    -------
    int
        Exit status: 0 on success, 2 on a usage or input error.
    """
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args))
    except LtrrError as exc:
        print(f"ltrr: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
