"""Self-learning query rewriting in the music world: mined rewrites against misheard requests.

Usage: python benchmarks/rewrite_music.py [--train 1000000] [--json FILE]

Protocol (deterministic under --seed):

* The music world with rephrases on (``rephrase_probability``, ``remishear_probability``,
  ``voice_habit``; see ``simulators/worlds/music/rephrases.py``) and BM25
  (``LexicalStrategy``, top 10) serving every request.
* Training traffic: requests are drawn, served, answered with plays (the world's DBN click
  model); a request without a play is rephrased by the world (or not), the rephrase is
  served in turn, and so on. Every request and play goes to an event log until ``--train``
  requests are logged.
* Mining: ``ltrr.rewrites.mining.mine_log`` on that folder (read, detect, solve the
  absorbing chain, build the global and personal table), timed; ``mine_seconds_per_1m``
  scales the measured time to 1M logged requests (it is the measured time when
  ``--train`` is 1M).
* Held-out traffic: ``--eval`` new misspelled requests on voice devices (misheard) and
  ``--other`` new requests of the other intents, drawn from another random stream (not in
  the log). Each is answered three ways, top 10: BM25 on the query; through
  ``RewriteStrategy(personal=False)`` (global layer); through ``RewriteStrategy()``
  (personal layer first, then global). A *defect* is a request with no liked track
  (relevance > 0) in the top 10.
* ``defect_reduction_*``: 1 - defect rate with rewriting / defect rate of BM25, on the
  misheard requests. ``win_loss``: among misheard requests where the personal+global
  strategy applied a rewrite, (defects fixed) / (successes broken), broken counted as at
  least 1. ``success_unaffected_delta``: success@10 of the other intents' requests with
  rewriting minus without (requests that need no rewrite).
* Engine: ``--engine-steps`` new requests of every intent served by an ``Engine`` whose
  plans are ``lexical=10`` and ``rewrite=10`` (the rewrite strategy over a copy of the
  mined table, learning online), answered with plays: how often the selector picks the
  rewrite plan for requests with and without a rule, and success@10 against BM25.
* The world's own held-out requests (anchored on liked tracks nobody of that listener
  searched in training) are reported too: only the global layer can help there.

Retrieval for a text is cached (BM25 is deterministic); a sample of held-out requests is
checked against ``RewriteStrategy.retrieve`` itself.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ltrr.engine import Engine
from ltrr.eventlog import EventLog, FeedbackRecord, RequestRecord
from ltrr.plans import Plan
from ltrr.rewrites import RewriteTable
from ltrr.rewrites.mining import mine_log
from ltrr.text import normalise_text
from ltrr.types import POSITIVE_ENGAGEMENTS
from simulators.worlds import MusicWorld, SimRequest
from strategies import LexicalStrategy, RewriteStrategy

ROOT = Path(__file__).resolve().parent.parent
ACTION = "lexical=10"
TARGETS = {
    "defect_reduction_global": ">= 0.30",
    "defect_reduction_personal": "> defect_reduction_global",
    "win_loss": ">= 10",
    "success_unaffected_delta": "|x| <= 0.002",
    "mine_seconds_per_1m": "<= 60",
}


class CachedBM25:
    """Top-10 BM25 ids per normalised text (BM25 does not depend on the context)."""

    def __init__(self, lexical: LexicalStrategy) -> None:
        self.lexical = lexical
        self.cache: dict[str, list[str]] = {}

    def __call__(self, text: str) -> list[str]:
        key = normalise_text(text)
        hit = self.cache.get(key)
        if hit is None:
            hit = self.cache[key] = self.lexical.retrieve(text, k=10).item_ids
        return hit


def simulate_log(
    world: MusicWorld, serve: CachedBM25, folder: Path, n: int, seed: int
) -> dict[str, Any]:
    """Serve traffic with rephrases until ``n`` requests are logged."""
    rng = np.random.default_rng([seed, 1])
    logged = plays = rephrases = 0
    chain_lengths: dict[int, int] = {}
    with EventLog(folder) as log:
        while logged < n:
            for first in world.sample_many(10_000, rng):
                request: SimRequest | None = first
                length = 0
                while request is not None and logged < n:
                    shown = serve(request.query.text)
                    rid = f"r{logged}"
                    ctx = request.context
                    log.append_request(
                        RequestRecord(
                            request_id=rid,
                            timestamp=float(ctx.timestamp or 0.0),
                            query=request.query.text,
                            context=ctx.to_dict(),
                            action=ACTION,
                            propensity=1.0,
                            action_probs={ACTION: 1.0},
                            pool=(),
                            ranking=tuple(shown),
                            policy="bm25",
                        )
                    )
                    logged += 1
                    length += 1
                    events = world.respond(request, shown, rng)
                    good = [e for e in events if e.kind in POSITIVE_ENGAGEMENTS]
                    if good:
                        log.append_feedback_many(
                            FeedbackRecord(
                                request_id=rid,
                                item_id=e.item_id,
                                kind=e.kind,
                                position=e.position,
                                timestamp=float(ctx.timestamp or 0.0) + 1.0,
                            )
                            for e in good
                        )
                        plays += 1
                    request = world.rephrase(request, events, rng)
                    rephrases += request is not None
                chain_lengths[length] = chain_lengths.get(length, 0) + 1
                if logged >= n:
                    break
    return {
        "logged_requests": logged,
        "requests_with_a_play": plays,
        "rephrases_made_by_the_world": rephrases,
        "requests_per_chain": dict(sorted(chain_lengths.items())),
    }


def draw(
    world: MusicWorld, rng: np.random.Generator, n: int, keep: Callable[[SimRequest], bool]
) -> list[SimRequest]:
    """Draw requests until ``n`` pass ``keep``."""
    out: list[SimRequest] = []
    while len(out) < n:
        out += [r for r in world.sample_many(20_000, rng) if keep(r)][: n - len(out)]
    return out


def misheard(r: SimRequest) -> bool:
    return r.intent == "misspelled" and r.context.device == "voice"


def evaluate(
    requests: Sequence[SimRequest], serve: CachedBM25, layers: dict[str, RewriteStrategy]
) -> dict[str, Any]:
    """Success@10 of BM25 and of each rewrite configuration; wins and losses of applied rewrites."""
    base = np.array([any(i in r.relevance for i in serve(r.query.text)) for r in requests])
    out: dict[str, Any] = {
        "requests": len(requests),
        "bm25_success@10": round(float(base.mean()), 4),
    }
    for name, strategy in layers.items():
        ok, applied, wins, losses, by_layer = [], 0, 0, 0, {"global": 0, "personal": 0}
        for r, b in zip(requests, base.tolist()):
            rule = strategy.rewrite_for(r.query, r.context)
            text = r.query.text if rule is None else rule.target
            s = any(i in r.relevance for i in serve(text))
            ok.append(s)
            if rule is not None:
                applied += 1
                by_layer[rule.layer] += 1
                wins += int(s and not b)
                losses += int(b and not s)
        success = np.array(ok)
        out[name] = {
            "success@10": round(float(success.mean()), 4),
            "defect_rate": round(1.0 - float(success.mean()), 4),
            "applied": applied,
            "applied_by_layer": by_layer,
            "fixed_defects": wins,
            "broke_successes": losses,
        }
    out["bm25_defect_rate"] = round(1.0 - float(base.mean()), 4)
    return out


def reduction(report: dict[str, Any], name: str) -> float:
    before, after = 1.0 - report["bm25_success@10"], report[name]["defect_rate"]
    return round(1.0 - after / before, 4) if before > 0 else 0.0


def check_strategy_path(
    requests: Sequence[SimRequest], serve: CachedBM25, strategy: RewriteStrategy
) -> int:
    """Compare the cached evaluation path with RewriteStrategy.retrieve on some requests."""
    checked = 0
    for r in requests:
        rule = strategy.rewrite_for(r.query, r.context)
        expected = serve(r.query.text if rule is None else rule.target)
        got = strategy.retrieve(r.query, r.context, k=10)
        if got.item_ids != expected or got.rewritten_query != (
            None if rule is None else rule.target
        ):
            raise AssertionError(
                f"cached path differs from RewriteStrategy.retrieve on {r.query.text!r}"
            )
        checked += 1
    return checked


def engine_run(
    world: MusicWorld,
    lexical: LexicalStrategy,
    table: RewriteTable,
    steps: int,
    seed: int,
) -> dict[str, Any]:
    """An engine with plans lexical=10 and rewrite=10 serving new traffic, learning from plays."""
    rewrite = RewriteStrategy(inner=lexical, table=table).fit(world.catalog)
    plans = [Plan.of({"lexical": 10}), Plan.of({"rewrite": 10})]
    engine = Engine(world.catalog, {"lexical": lexical, "rewrite": rewrite}, plans=plans, seed=seed)
    rng = np.random.default_rng([seed, 5])
    picks: dict[str, list[float]] = {"rule": [], "no_rule": []}
    success: dict[str, list[float]] = {"engine": [], "bm25": []}
    late: dict[str, list[float]] = {"rule": [], "no_rule": []}
    t0 = time.perf_counter()
    for n, r in enumerate(world.sample_many(steps, rng)):
        has_rule = rewrite.rewrite_for(r.query, r.context) is not None
        resp = engine.search(r.query, r.context, k=10)
        chose = float(resp.plan == "rewrite=10")
        picks["rule" if has_rule else "no_rule"].append(chose)
        if n >= steps // 2:
            late["rule" if has_rule else "no_rule"].append(chose)
        shown = resp.item_ids
        success["engine"].append(float(any(i in r.relevance for i in shown)))
        success["bm25"].append(
            float(any(i in r.relevance for i in lexical.retrieve(r.query, k=10).item_ids))
        )
        engine.feedback(resp.request_id, world.respond(r, shown, rng))
    return {
        "steps": steps,
        "share_choosing_rewrite_plan": {
            k: round(float(np.mean(v)), 4) if v else None for k, v in picks.items()
        },
        "share_choosing_rewrite_plan_second_half": {
            k: round(float(np.mean(v)), 4) if v else None for k, v in late.items()
        },
        "requests": {k: len(v) for k, v in picks.items()},
        "success@10": {k: round(float(np.mean(v)), 4) for k, v in success.items()},
        "table_after": {"global": len(rewrite.table), "personal": rewrite.table.n_personal},
        "ms_per_request": round((time.perf_counter() - t0) * 1e3 / max(steps, 1), 2),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--train", type=int, default=1_000_000, help="logged requests to mine")
    ap.add_argument("--eval", type=int, default=20_000, help="held-out misheard requests")
    ap.add_argument("--other", type=int, default=20_000, help="held-out requests of other intents")
    ap.add_argument("--rephrase", type=float, default=0.8, help="rephrase_probability")
    ap.add_argument("--remishear", type=float, default=0.25, help="remishear_probability")
    ap.add_argument("--habit", type=float, default=0.5, help="voice_habit")
    ap.add_argument("--engine-steps", type=int, default=10_000, help="engine run (0: skip)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--log", help="event-log folder to write (default: a temporary one, removed)")
    ap.add_argument(
        "--data", default=os.environ.get("LTRR_DATA", str(ROOT.parent / "shared" / "data"))
    )
    ap.add_argument("--json")
    args = ap.parse_args()
    t_start = time.perf_counter()
    world = MusicWorld.from_folder(
        Path(args.data) / "cm100k_music",
        rephrase_probability=args.rephrase,
        remishear_probability=args.remishear,
        voice_habit=args.habit,
        seed=args.seed,
    )
    lexical = LexicalStrategy().fit(world.catalog)
    serve = CachedBM25(lexical)
    folder = Path(args.log) if args.log else Path(tempfile.mkdtemp(prefix="rewrite_music_"))
    try:
        t0 = time.perf_counter()
        traffic = simulate_log(world, serve, folder, args.train, args.seed)
        simulate_s = time.perf_counter() - t0
        print(
            f"logged {traffic['logged_requests']} requests in {simulate_s:.0f} s", file=sys.stderr
        )
        mined = mine_log(folder)
    finally:
        if not args.log:
            shutil.rmtree(folder, ignore_errors=True)
    table: RewriteTable = mined.table
    summary = mined.summary()
    print(f"mined: {json.dumps(summary)}", file=sys.stderr)
    layers = {
        "global": RewriteStrategy(inner=lexical, table=table, personal=False).fit(world.catalog),
        "personal": RewriteStrategy(inner=lexical, table=table).fit(world.catalog),
    }
    rng = np.random.default_rng([args.seed, 2])
    heard = draw(world, rng, args.eval, misheard)
    typed = draw(
        world,
        np.random.default_rng([args.seed, 3]),
        args.eval,
        lambda r: r.intent == "misspelled" and r.context.device != "voice",
    )
    other = draw(
        world, np.random.default_rng([args.seed, 4]), args.other, lambda r: r.intent != "misspelled"
    )
    checked = check_strategy_path(heard[:300], serve, layers["personal"])
    results = {
        "misheard_voice": evaluate(heard, serve, layers),
        "misspelled_typed": evaluate(typed, serve, layers),
        "other_intents": evaluate(other, serve, layers),
        "world_heldout_misspelled": evaluate(
            [r for r in world.heldout() if r.intent == "misspelled"], serve, layers
        ),
    }
    engine_report = None
    if args.engine_steps > 0:
        with tempfile.TemporaryDirectory() as tmp:  # the engine's table learns: use a copy
            copy = RewriteTable.load(table.save(Path(tmp) / "table"))
        engine_report = engine_run(world, lexical, copy, args.engine_steps, args.seed)
    main_set, rest = results["misheard_voice"], results["other_intents"]
    personal = main_set["personal"]
    figures = {
        "defect_reduction_global": reduction(main_set, "global"),
        "defect_reduction_personal": reduction(main_set, "personal"),
        "win_loss": round(personal["fixed_defects"] / max(personal["broke_successes"], 1), 2),
        "win_loss_global": round(
            main_set["global"]["fixed_defects"] / max(main_set["global"]["broke_successes"], 1), 2
        ),
        "success_unaffected_delta": round(
            rest["personal"]["success@10"] - rest["bm25_success@10"], 4
        ),
        "mine_seconds_per_1m": round(
            summary["seconds"]["total"] * 1e6 / max(summary["requests"], 1),
            2,  # type: ignore[index,operator]
        ),
    }
    report = {
        "benchmark": "self-learning query rewriting from rephrases, music world (CM100k)",
        "command": "python " + " ".join(["benchmarks/rewrite_music.py", *sys.argv[1:]]),
        **figures,
        "targets": TARGETS,
        "met": {
            "defect_reduction_global": figures["defect_reduction_global"] >= 0.30,
            "defect_reduction_personal": figures["defect_reduction_personal"]
            > figures["defect_reduction_global"],
            "win_loss": figures["win_loss"] >= 10,
            "success_unaffected_delta": abs(figures["success_unaffected_delta"]) <= 0.002,
            "mine_seconds_per_1m": figures["mine_seconds_per_1m"] <= 60,
        },
        "config": {
            "train_requests": args.train,
            "eval_misheard": args.eval,
            "eval_other": args.other,
            "world": {
                k: v for k, v in world.info().items() if k not in ("intent_mix", "device_mix")
            },
            "seed": args.seed,
            "miner": mined.miner.get_params(),
        },
        "traffic": traffic,
        "mining": summary,
        "results": results,
        "engine": engine_report,
        "checked_against_RewriteStrategy_retrieve": checked,
        "cached_texts": len(serve.cache),
        "simulate_seconds": round(simulate_s, 1),
        "seconds": round(time.perf_counter() - t_start, 1),
        "cpu_count": os.cpu_count(),
    }
    text = json.dumps(report, indent=2)
    print(text)
    if args.json:
        Path(args.json).write_text(text + "\n")


if __name__ == "__main__":
    main()
