"""Real server processes on 127.0.0.1: HTTP search and feedback, kill -9 under load, two workers and a learner."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest

from ltrr.app.cli import main
from ltrr.eventlog import EventLog

pytestmark = pytest.mark.slow

WORDS = ["apple", "car", "bike", "red", "green", "fast", "fruit", "engine", "battery", "pie"]


def _catalog(path: Path, n: int = 300) -> Path:
    with path.open("w") as fh:
        for i in range(n):
            title = " ".join(WORDS[(i * k) % len(WORDS)] for k in (1, 3, 7))
            fh.write(json.dumps({"id": f"d{i}", "title": title, "body": f"item number {i}"}) + "\n")
    return path


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    root = tmp_path_factory.mktemp("served")
    out = root / "models" / "shop"
    code = main(
        [
            "index", str(_catalog(root / "catalog.jsonl")), "--strategies", "lexical,memory",
            "--out", str(out), "--no-progress",
        ]
    )  # fmt: skip
    assert code == 0
    return out


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Server:
    def __init__(self, model, log_dir, *extra):
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        env = dict(os.environ, OMP_NUM_THREADS="1")
        cmd = [sys.executable, "-m", "ltrr.app.cli", "serve", str(model), "--port", str(self.port)]
        self.proc = subprocess.Popen(
            [*cmd, "--log", str(log_dir), *extra],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        deadline = time.time() + 60
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"server exited: {self.proc.stderr.read().decode()[-2000:]}")
            try:
                if httpx.get(self.url + "/healthz", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                time.sleep(0.2)
        raise AssertionError("server did not answer /healthz within 60 s")

    def health(self):
        return httpx.get(self.url + "/healthz", timeout=5).json()

    def stop(self, sig=signal.SIGTERM):
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            self.proc.wait(timeout=30)


def _search(c, q, k=5):
    r = c.post("/search", json={"query": q, "k": k})
    assert r.status_code == 200, r.text
    return r.json()


def test_search_feedback_metrics_over_http(model, tmp_path):
    server = Server(model, tmp_path / "log")
    try:
        with httpx.Client(base_url=server.url, timeout=10) as c:
            body = _search(c, "red apple")
            assert body["items"] and body["model_version"] == "v000001"
            f = c.post(
                "/feedback",
                json={"request_id": body["request_id"], "events": [{"item": body["items"][0]["id"], "kind": "click"}]},
            )
            assert f.status_code == 200 and f.json()["learned"] is True
            bad = c.post("/search", json={"query": "apple", "k": 0})
            assert bad.status_code == 422 and bad.json()["fields"][0]["field"] == "k"
            metrics = c.get("/metrics").text
            assert 'ltrr_http_requests_total{endpoint="/feedback",status="200"} 1.0' in metrics
            assert c.get("/docs").status_code == 200
    finally:
        server.stop()
    log = EventLog(tmp_path / "log")
    assert len(log.read_requests()) == 1 and len(log.read_feedback()) == 1


def test_kill_9_under_load_loses_no_acknowledged_feedback(model, tmp_path):
    server = Server(model, tmp_path / "log")
    acked: list[tuple[str, str]] = []
    errors: list[str] = []
    stop = threading.Event()

    def client(seed: int) -> None:
        with httpx.Client(base_url=server.url, timeout=5) as c:
            i = seed
            while not stop.is_set():
                i += 1
                try:
                    r = c.post("/search", json={"query": f"{WORDS[i % 10]} {WORDS[(i * 3) % 10]}", "k": 5})
                    item = r.json()["items"][0]["id"]
                    f = c.post(
                        "/feedback",
                        json={"request_id": r.json()["request_id"], "events": [{"item": item, "kind": "click"}]},
                    )
                    if f.status_code == 200:
                        acked.append((r.json()["request_id"], item))
                except (httpx.HTTPError, KeyError, IndexError, ValueError) as exc:
                    errors.append(type(exc).__name__)
                    return

    threads = [threading.Thread(target=client, args=(s * 1000,)) for s in range(4)]
    for t in threads:
        t.start()
    deadline = time.time() + 30
    while len(acked) < 200 and time.time() < deadline:
        time.sleep(0.05)
    server.proc.kill()  # SIGKILL, mid-traffic
    server.proc.wait(timeout=10)
    stop.set()
    for t in threads:
        t.join(timeout=10)
    assert len(acked) >= 200
    logged = EventLog(tmp_path / "log").read_feedback()  # a torn last line would raise here
    stored = set(zip(logged["request_id"], logged["item_id"]))
    assert not set(acked) - stored, "acknowledged feedback lost"
    again = Server(model, tmp_path / "log")  # restarts on the same folders
    try:
        with httpx.Client(base_url=again.url, timeout=10) as c:
            assert _search(c, "green bike")["items"]
    finally:
        again.stop()


def test_two_workers_and_a_learner_publish_and_hot_swap_without_errors(model, tmp_path):
    log_dir = tmp_path / "log"
    a = Server(model, log_dir, "--no-learn", "--reload-every", "0.2")
    b = Server(model, log_dir, "--no-learn", "--reload-every", "0.2")
    learner = None
    try:
        start_version = a.health()["version"]
        failures: list[int] = []
        stop = threading.Event()

        def traffic() -> None:
            with httpx.Client(base_url=a.url, timeout=10) as ca, httpx.Client(base_url=b.url, timeout=10) as cb:
                i = 0
                while not stop.is_set():
                    i += 1
                    r = ca.post("/search", json={"query": WORDS[i % 10], "k": 3})
                    if r.status_code != 200:
                        failures.append(r.status_code)
                        continue
                    body = r.json()
                    f = cb.post(  # feedback reaches the other worker
                        "/feedback",
                        json={"request_id": body["request_id"], "events": [{"item": body["items"][0]["id"], "kind": "play"}]},
                    )
                    if f.status_code != 200 or f.json()["known"]:
                        failures.append(f.status_code)

        t = threading.Thread(target=traffic)
        t.start()
        time.sleep(1.0)
        learner = subprocess.Popen(
            [sys.executable, "-m", "ltrr.app.cli", "learn", "--log", str(log_dir), "--model", str(model),
             "--every", "0.5", "--join-window", "2"],
            env=dict(os.environ, OMP_NUM_THREADS="1"),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )  # fmt: skip
        deadline = time.time() + 60
        swapped = False
        while time.time() < deadline:
            va, vb = a.health()["version"], b.health()["version"]
            if va != start_version and vb != start_version:
                swapped = True
                break
            time.sleep(0.2)
        time.sleep(1.0)  # traffic goes on across the swap
        stop.set()
        t.join(timeout=30)
        assert swapped, "the workers never served a version the learner published"
        assert failures == []
        metrics = httpx.get(a.url + "/metrics").text
        assert 'ltrr_model_reloads_total{outcome="loaded"}' in metrics
    finally:
        if learner is not None:
            learner.send_signal(signal.SIGTERM)
            out, _ = learner.communicate(timeout=60)
            assert learner.returncode == 0, out.decode()[-2000:]
            assert b"learned" in out
        a.stop()
        b.stop()
