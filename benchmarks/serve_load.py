"""Load test of the HTTP service: N concurrent clients searching (and sometimes clicking) for S seconds.

Usage:
  python benchmarks/serve_load.py --url http://127.0.0.1:8080 [--clients 16] [--seconds 20]
  python benchmarks/serve_load.py --model MODEL_DIR [--log LOG_DIR] [--clients 16] [--seconds 20]
      [--queries FILE] [--feedback-rate 0.3] [--k 10] [--timeout 10] [--seed 0] [--json FILE]

Either drives a running server (--url), or starts one itself on a free loopback port
(--model, in a subprocess running ``ltrr.service.run.serve``, waited for on /healthz and
terminated at the end; its event log goes to --log, else to a temporary folder removed
afterwards). Each client loops until the time is up: POST /search with a query drawn
at random from the query file (one query per line, or a BEIR queries.jsonl whose "text"
is the query; default ../shared/data/scifact/queries.jsonl next to the project, or
$LTRR_DATA/scifact), then, with probability --feedback-rate, POST /feedback with a click
on one of the returned items (drawn at random, sent with its position).

Concurrency: one thread per client, each with its own keep-alive ``httpx.Client`` (so one
TCP connection per client, as N independent synchronous callers such as ltrr.client.Client
would hold). Threads rather than asyncio because each client is then exactly a blocking
caller waiting on its answer (a closed loop: the next request leaves when the last one is
answered), and the measured latency includes no event-loop scheduling delay from the other
clients' callbacks; the client-side work (encode a body, decode a small JSON reply) is
small next to a search, and a thread waiting on its socket releases the GIL. The load
generator shares the machine with the server when both run here, so throughput is the
machine's, not the server's alone.

Reported: searches and feedbacks answered 200, their rates, client-side search latency
percentiles (p50/p90/p99/max over the 200 answers, milliseconds, from sending the request
to having the decoded reply), errors by HTTP status or exception name, the server's
/healthz after the run, the machine and the arguments. The first requests (cold caches)
are included. Loopback only unless --allow-remote: a load test is not to be pointed at
someone else's server by accident.
"""

from __future__ import annotations

import argparse
import ipaddress
import json
import os
import platform
import random
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import numpy as np

ROOT = Path(__file__).resolve().parent.parent


@dataclass
class ClientStats:
    searches: int = 0
    feedbacks: int = 0
    search_ms: list[float] = field(default_factory=list)
    feedback_ms: list[float] = field(default_factory=list)
    errors: Counter[str] = field(default_factory=Counter)


# ------------------------------------------------------------------ queries
def default_queries() -> Path:
    env = os.environ.get("LTRR_DATA")
    if env:
        root = Path(env)
        for candidate in (root / "scifact" / "queries.jsonl", root / "queries.jsonl"):
            if candidate.is_file():
                return candidate
        return root / "scifact" / "queries.jsonl"
    return ROOT.parent / "shared" / "data" / "scifact" / "queries.jsonl"


def read_queries(path: Path) -> list[str]:
    if not path.is_file():
        raise SystemExit(f"no query file at {path} (give --queries FILE or set LTRR_DATA)")
    queries = []
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            line = line.strip()
            if not line:
                continue
            if line.startswith("{"):
                try:
                    text = str(json.loads(line).get("text", "")).strip()
                except (json.JSONDecodeError, AttributeError):
                    raise SystemExit(f"{path}:{n}: not a JSON object with a 'text'") from None
            else:
                text = line
            if text:
                queries.append(text[:1000])
    if not queries:
        raise SystemExit(f"{path} holds no queries")
    return queries


# ------------------------------------------------------------------ server
def is_loopback(url: str) -> bool:
    host = httpx.URL(url).host
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_healthy(url: str, server: subprocess.Popen[bytes] | None, out: Path | None, wait: float) -> dict[str, Any]:
    deadline = time.monotonic() + wait
    with httpx.Client(base_url=url, timeout=2.0) as http:
        while True:
            try:
                r = http.get("/healthz")
                if r.status_code == 200:
                    return dict(r.json())
            except httpx.TransportError:
                pass
            if server is not None and server.poll() is not None:
                text = out.read_text(errors="replace")[-3000:] if out else ""
                raise SystemExit(f"the server exited with {server.returncode}:\n{text}")
            if time.monotonic() > deadline:
                raise SystemExit(f"no answer from {url}/healthz within {wait:g} s")
            time.sleep(0.1)


def start_server(model: Path, log_dir: Path, out: Path) -> tuple[subprocess.Popen[bytes], str]:
    if not model.is_dir():
        raise SystemExit(f"no model folder at {model}")
    port = free_port()
    code = (
        "from ltrr.service.run import serve; "
        f"serve({str(model)!r}, host='127.0.0.1', port={port}, log_dir={str(log_dir)!r})"
    )
    with open(out, "wb") as f:
        server = subprocess.Popen([sys.executable, "-c", code], cwd=ROOT, stdout=f, stderr=subprocess.STDOUT)
    return server, f"http://127.0.0.1:{port}"


def stop_server(server: subprocess.Popen[bytes]) -> None:
    server.terminate()
    try:
        server.wait(timeout=15)
    except subprocess.TimeoutExpired:
        server.kill()
        server.wait()


# ------------------------------------------------------------------ load
def run_client(
    i: int,
    args: argparse.Namespace,
    url: str,
    queries: list[str],
    start: threading.Barrier,
    deadline: list[float],
    stats: ClientStats,
) -> None:
    rng = random.Random(args.seed * 1000 + i)
    with httpx.Client(base_url=url, timeout=args.timeout) as http:
        start.wait()
        end = deadline[0]
        while time.perf_counter() < end:
            query = rng.choice(queries)
            body = {"query": query, "k": args.k, "context": {"user_id": f"load-{i}-{rng.randrange(100)}"}}
            t0 = time.perf_counter()
            try:
                r = http.post("/search", json=body)
                reply = r.json() if r.status_code == 200 else None
            except (httpx.HTTPError, ValueError) as exc:
                stats.errors[type(exc).__name__] += 1
                time.sleep(0.01)  # no tight loop against a server that is down
                continue
            ms = (time.perf_counter() - t0) * 1000
            if reply is None:
                stats.errors[str(r.status_code)] += 1
                continue
            stats.searches += 1
            stats.search_ms.append(ms)
            items = reply.get("items") or []
            if not items or rng.random() >= args.feedback_rate:
                continue
            pos = rng.randrange(len(items))
            event = {"item": items[pos]["id"], "kind": "click", "position": pos + 1}
            t0 = time.perf_counter()
            try:
                f = http.post("/feedback", json={"request_id": reply["request_id"], "events": [event]})
            except httpx.HTTPError as exc:
                stats.errors[type(exc).__name__] += 1
                continue
            if f.status_code == 200:
                stats.feedbacks += 1
                stats.feedback_ms.append((time.perf_counter() - t0) * 1000)
            else:
                stats.errors[f"{f.status_code} feedback"] += 1


def percentiles(values: list[float]) -> dict[str, float | None]:
    if not values:
        return {"p50": None, "p90": None, "p99": None, "max": None, "mean": None}
    a = np.asarray(values)
    p50, p90, p99 = np.percentile(a, [50, 90, 99])
    return {
        "p50": round(float(p50), 3),
        "p90": round(float(p90), 3),
        "p99": round(float(p99), 3),
        "max": round(float(a.max()), 3),
        "mean": round(float(a.mean()), 3),
    }


def load(args: argparse.Namespace, url: str, queries: list[str]) -> dict[str, Any]:
    stats = [ClientStats() for _ in range(args.clients)]
    barrier = threading.Barrier(args.clients + 1)
    deadline = [0.0]
    threads = [
        threading.Thread(
            target=run_client, args=(i, args, url, queries, barrier, deadline, stats[i]), name=f"load-{i}", daemon=True
        )
        for i in range(args.clients)
    ]
    for t in threads:
        t.start()
    t0 = time.perf_counter()
    deadline[0] = t0 + args.seconds
    barrier.wait()  # every client has its connection object; all start now
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - t0
    search_ms = [ms for s in stats for ms in s.search_ms]
    feedback_ms = [ms for s in stats for ms in s.feedback_ms]
    errors: Counter[str] = Counter()
    for s in stats:
        errors.update(s.errors)
    searches = sum(s.searches for s in stats)
    feedbacks = sum(s.feedbacks for s in stats)
    return {
        "searches": searches,
        "feedbacks": feedbacks,
        "seconds": round(elapsed, 3),
        "searches_per_s": round(searches / elapsed, 2),
        "feedbacks_per_s": round(feedbacks / elapsed, 2),
        "search_latency_ms": percentiles(search_ms),
        "feedback_latency_ms": percentiles(feedback_ms),
        "errors": dict(sorted(errors.items())),
        "error_count": sum(errors.values()),
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    target = p.add_mutually_exclusive_group(required=True)
    target.add_argument("--url", help="a running server, e.g. http://127.0.0.1:8080")
    target.add_argument("--model", type=Path, help="a model folder to serve in a subprocess")
    p.add_argument("--log", type=Path, help="event-log folder of the started server (default: a temporary one)")
    p.add_argument("--clients", type=int, default=16)
    p.add_argument("--seconds", type=float, default=20.0)
    p.add_argument("--queries", type=Path, help="one query per line, or a BEIR queries.jsonl")
    p.add_argument("--feedback-rate", type=float, default=0.3)
    p.add_argument("--k", type=int, default=10)
    p.add_argument("--timeout", type=float, default=10.0, help="seconds per request")
    p.add_argument("--wait", type=float, default=60.0, help="seconds to wait for /healthz at start")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--allow-remote", action="store_true", help="allow a --url that is not a loopback address")
    p.add_argument("--json", type=Path, help="write the results here")
    args = p.parse_args(argv)
    if args.clients < 1 or args.seconds <= 0 or not 0 <= args.feedback_rate <= 1 or not 1 <= args.k <= 100:
        p.error("need --clients >= 1, --seconds > 0, 0 <= --feedback-rate <= 1, 1 <= --k <= 100")
    if args.url is not None:
        try:
            loopback = is_loopback(args.url)
        except httpx.InvalidURL as exc:
            p.error(f"--url: {exc}")
        if not loopback and not args.allow_remote:
            p.error(f"--url {args.url} is not a loopback address; add --allow-remote to load it anyway")
        if args.log is not None:
            p.error("--log is for a server this script starts (--model)")
    queries = read_queries(args.queries or default_queries())

    server = None
    scratch = Path(tempfile.mkdtemp(prefix="ltrr-serve-load-"))
    try:
        if args.model is not None:
            log_dir = args.log or scratch / "log"
            server, url = start_server(Path(args.model).resolve(), Path(log_dir).resolve(), scratch / "server.out")
            wait_healthy(url, server, scratch / "server.out", args.wait)
        else:
            url = args.url.rstrip("/")
            wait_healthy(url, None, None, args.wait)
        result = load(args, url, queries)
        health = wait_healthy(url, server, scratch / "server.out", 10.0)
    finally:
        if server is not None:
            stop_server(server)
        shutil.rmtree(scratch, ignore_errors=True)

    lat = result["search_latency_ms"]
    out = {
        **result,
        "server": health,
        "started_server": args.model is not None,
        "queries": len(queries),
        "machine": {
            "cpu_count": os.cpu_count(),
            "platform": platform.platform(),
            "python": platform.python_version(),
        },
        "args": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
    }
    if args.json is not None:
        args.json.write_text(json.dumps(out, indent=2) + "\n")
    print(
        f"{args.clients} clients x {result['seconds']:.1f} s: {result['searches']} searches "
        f"({result['searches_per_s']:.1f}/s), {result['feedbacks']} feedbacks, "
        f"search p50 {lat['p50']} / p90 {lat['p90']} / p99 {lat['p99']} / max {lat['max']} ms, "
        f"{result['error_count']} errors{' ' + json.dumps(result['errors']) if result['errors'] else ''}; "
        f"model {health.get('model')} {health.get('version')} ({health.get('items')} items), "
        f"{os.cpu_count()} CPUs"
    )
    return 0 if result["searches"] else 1


if __name__ == "__main__":
    sys.exit(main())
