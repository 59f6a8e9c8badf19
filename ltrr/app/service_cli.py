"""The service commands of ``ltrr``: index a catalog, serve it over HTTP, learn from its logs, train."""

from __future__ import annotations

import argparse
import logging
import math
import signal
import sys
import threading
import time
from pathlib import Path
from typing import Any

from ltrr.errors import InvalidInputError

__all__ = ["add_service_commands"]


def _names(text: str, what: str) -> list[str]:
    names = [s.strip() for s in text.split(",") if s.strip()]
    if not names:
        raise InvalidInputError(f"{what} needs at least one name, got {text!r}")
    return names


def _index(args: argparse.Namespace) -> int:
    from ltrr.app.recipes import click_only_engine, default_strategies
    from ltrr.ingest import read_catalog
    from ltrr.service.store import ModelStore

    out = Path(args.out)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise InvalidInputError(f"--out {str(out)!r} already exists and is not empty")
    t0 = time.perf_counter()
    result = read_catalog(
        args.catalog,
        format=args.format,
        id_field=args.id_field,
        text_fields=tuple(_names(args.text_fields, "--text-fields")),
        category_field=args.category_field,
        popularity_field=args.popularity_field,
        attribute_fields=tuple(_names(args.attribute_fields, "--attribute-fields"))
        if args.attribute_fields
        else (),
        on_error=args.on_error,
        progress=not args.no_progress,
    )
    for problem in result.problems[:20]:
        print(f"skipped {problem}", file=sys.stderr)
    if result.skipped > 20:
        print(f"... and {result.skipped - 20} more skipped rows", file=sys.stderr)
    catalog = result.catalog
    print(f"read {len(catalog)} items from {args.catalog} ({result.skipped} bad rows skipped)")
    names = _names(args.strategies, "--strategies")
    strategies = default_strategies(
        catalog, names, cache_dir=args.cache_dir, progress=not args.no_progress
    )
    engine = click_only_engine(catalog, strategies, seed=args.seed)
    store = ModelStore.create(
        out,
        engine,
        note="ltrr index",
        meta={
            "catalog": str(args.catalog),
            "strategies": names,
            "rows_read": result.rows_read,
            "skipped": result.skipped,
        },
    )
    print(
        f"wrote model {str(out)!r} version {store.current()} "
        f"({', '.join(names)}; {time.perf_counter() - t0:.1f} s)"
    )
    return 0


def _serve(args: argparse.Namespace) -> int:
    from ltrr.service.run import serve

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    serve(
        args.model,
        host=args.host,
        port=args.port,
        log_dir=args.log,
        learn=not args.no_learn,
        reload_every=args.reload_every,
        durability=args.durability,
        access_log=args.access_log,
    )
    return 0


def _learner(args: argparse.Namespace, window: float) -> Any:
    from ltrr.service.learner import Learner
    from ltrr.service.store import ModelStore

    if not Path(args.log).is_dir():
        raise InvalidInputError(f"--log {args.log!r} is not an event-log folder")
    return Learner(ModelStore(args.model), args.log, join_window_s=window)


def _learn(args: argparse.Namespace) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    learner = _learner(args, args.join_window)
    print(f"learning from {args.log} into {args.model} (from version {learner.version})", flush=True)

    def show(report: Any) -> None:
        published = f"; published {report.version}" if report.version else ""
        print(
            f"read {report.requests_read} requests, {report.feedback_read} feedback; "
            f"learned {report.learned} ({report.learned_without_feedback} without feedback), "
            f"{report.duplicates} duplicates, {report.orphans} orphans, "
            f"{len(report.problems)} malformed lines{published}",
            flush=True,
        )

    if args.once:
        report = learner.step()
        if learner.learned_since_publish:
            report.version = learner.publish()
        show(report)
        return 0
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    learner.run(args.every, stop=stop, on_step=show)
    if learner.learned_since_publish:
        print(f"published {learner.publish()} on exit", flush=True)
    return 0


def _train(args: argparse.Namespace) -> int:
    learner = _learner(args, 0.0)  # the whole log at once: every request's window is closed
    t0 = time.perf_counter()
    report = learner.step()
    engine = learner.engine
    retrained = ""
    if engine.retrain is not None:
        run = engine.retrain.run(engine)
        retrained = f"; retrained: {run}"
    version = learner.publish(note="ltrr train")
    print(
        f"learned {report.learned} logged requests ({report.learned_without_feedback} without "
        f"feedback, {len(report.problems)} malformed lines skipped){retrained}; "
        f"published {version} in {time.perf_counter() - t0:.1f} s"
    )
    return 0


def _positive(value: str) -> float:
    x = float(value)
    if not math.isfinite(x) or x <= 0:
        raise argparse.ArgumentTypeError(f"expected a positive number of seconds, got {value!r}")
    return x


def add_service_commands(sub: Any) -> None:
    """Add ``index``, ``serve``, ``learn`` and ``train`` to the ``ltrr`` subcommands.

    Parameters
    ----------
    sub : argparse subparsers action
        From ``ArgumentParser.add_subparsers``.
    """
    ix = sub.add_parser("index", help="build a model folder from your catalog (jsonl, csv, parquet)")
    ix.add_argument("catalog", help="the catalog file")
    ix.add_argument("--format", choices=["jsonl", "csv", "parquet"], help="default: from the suffix")
    ix.add_argument("--id-field", default="id", help="the id column (default id)")
    ix.add_argument("--text-fields", default="title,body", help="text columns (default title,body)")
    ix.add_argument("--category-field", help="a category column (a string or a list)")
    ix.add_argument("--popularity-field", help="a popularity column (a number >= 0)")
    ix.add_argument("--attribute-fields", default="", help="attribute columns, comma-separated")
    ix.add_argument(
        "--strategies", default="lexical,embedding,memory", help="default lexical,embedding,memory"
    )
    ix.add_argument("--on-error", choices=["fail", "skip"], default="fail", help="bad rows (default fail)")
    ix.add_argument("--out", required=True, help="the new model folder, e.g. models/NAME")
    ix.add_argument("--cache-dir", help="embedding cache root")
    ix.add_argument("--seed", type=int, default=0)
    ix.add_argument("--no-progress", action="store_true", help="hide progress bars")
    ix.set_defaults(func=_index)

    sv = sub.add_parser("serve", help="serve a model folder over HTTP (search, feedback, metrics)")
    sv.add_argument("model", help="the model folder")
    sv.add_argument("--host", default="127.0.0.1")
    sv.add_argument("--port", type=int, default=8080)
    sv.add_argument("--log", help="event-log folder (several servers may share one)")
    sv.add_argument(
        "--no-learn",
        action="store_true",
        help="only log; follow the versions `ltrr learn` publishes (a worker)",
    )
    sv.add_argument("--reload-every", type=_positive, help="seconds between version checks")
    sv.add_argument("--durability", choices=["flush", "fsync"], default="flush")
    sv.add_argument("--access-log", action="store_true", help="log every request line")
    sv.set_defaults(func=_serve)

    ln = sub.add_parser("learn", help="learn from the servers' event log and publish versions")
    ln.add_argument("--log", required=True, help="the event-log folder the servers write")
    ln.add_argument("--model", required=True, help="the model folder")
    ln.add_argument("--every", type=_positive, default=60.0, help="seconds between steps (default 60)")
    ln.add_argument(
        "--join-window", type=float, default=60.0, help="seconds a request waits for feedback"
    )
    ln.add_argument("--once", action="store_true", help="one step, publish, exit")
    ln.set_defaults(func=_learn)

    tr = sub.add_parser("train", help="retrain a model from an event log alone; publish a version")
    tr.add_argument("--log", required=True, help="the event-log folder")
    tr.add_argument("--model", required=True, help="the model folder")
    tr.set_defaults(func=_train)
