"""Streaming ltrr evaluate: the same estimates as in memory, exactly, whatever the partitioning."""

from __future__ import annotations

import importlib.util
import json
import math
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

from ltrr.app.cli import main
from ltrr.app.evaluate_stream import (
    evaluate_stream,
    exact_product_sum,
    exact_scaled_sum,
    reward_means,
)
from ltrr.errors import DataError, InvalidInputError, UnknownNameError
from ltrr.eventlog import EventLog, FeedbackRecord, RequestRecord
from simulators.estimators import check_ope_inputs
from simulators.estimators.base import BaseOffPolicyEstimator
from simulators.offline import bandit_from_log, target_distribution

ACTIONS = ["a=10", "b=10", "a=5+b=5"]


def _write_log(folder: Path, n: int = 240, seed: int = 3) -> None:
    rng = np.random.default_rng(seed)
    with EventLog(folder, segment_max_records=50) as log:
        for t in range(n):
            probs = rng.dirichlet(np.ones(len(ACTIONS))) * 0.8 + 0.2 / len(ACTIONS)
            probs = probs / probs.sum()
            a = int(rng.choice(len(ACTIONS), p=probs))
            rid = f"r{t}"
            log.append_request(
                RequestRecord(
                    request_id=rid,
                    timestamp=float(t),
                    query=f"q{t % 7}",
                    context={},
                    action=ACTIONS[a],
                    propensity=float(probs[a]),
                    action_probs={x: float(p) for x, p in zip(ACTIONS, probs)},
                    pool=(),
                    ranking=("d1",),
                    policy="logging",
                )
            )
            if rng.random() < (0.2, 0.5, 0.35)[a]:
                log.append_feedback(
                    FeedbackRecord(request_id=rid, item_id="d1", kind="click", timestamp=t + 0.5)
                )


@pytest.fixture(scope="module")
def log_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("log")
    _write_log(folder)
    return folder


def _exact_mean(x: np.ndarray) -> Fraction:
    return sum((Fraction(float(v)) for v in x), Fraction(0)) / len(x)


@pytest.mark.parametrize("target", ["uniform", "b=10", "a=5+b=5"])
def test_streamed_equals_in_memory_exactly(log_dir: Path, target: str) -> None:
    streamed = evaluate_stream(log_dir, target, chunk_rows=7)
    assert streamed["n_partitions"] == 5 and streamed["n_rounds"] == 240
    # the in-memory reference: the whole log as one frame, the estimators on whole arrays
    log = EventLog(log_dir)
    bandit = bandit_from_log(log.read_requests(), log.read_feedback())
    log.close()
    counts = np.bincount(bandit.action, minlength=3).tolist()
    rewarded = [int(bandit.reward[bandit.action == a].sum()) for a in range(3)]
    q = reward_means(counts, rewarded)
    n = bandit.n_rounds
    data = check_ope_inputs(
        reward=bandit.reward,
        action=bandit.action,
        action_dist=target_distribution(target, bandit),
        pscore=bandit.pscore,
        estimated_rewards_by_reg_model=np.broadcast_to(q[None, :, None], (n, 3, 1)),
        require_pscore=True,
        require_reward_model=True,
    )
    from ltrr.app.evaluate_stream import _estimators

    assert streamed["logged_value"] == float(Fraction(int(bandit.reward.sum()), n))
    for est in _estimators(math.inf):
        assert isinstance(est, BaseOffPolicyEstimator)
        got = streamed["ope"][est.estimator_name]
        terms = est._terms(data)
        exact = _exact_mean(terms.additive) if terms.additive is not None else Fraction(0)
        if terms.ratio is not None:
            u, v = terms.ratio
            exact += _exact_mean(u) / _exact_mean(v)
        assert got["value"] == float(exact)  # the correctly rounded exact value: bit for bit
        in_memory = est.estimate_policy_value(
            reward=data.reward,
            action=data.action,
            action_dist=data.action_dist,
            pscore=data.pscore,
            estimated_rewards_by_reg_model=data.estimated_rewards_by_reg_model,
        )
        assert got["value"] == pytest.approx(in_memory, rel=1e-13, abs=1e-15)
        if terms.ratio is None:
            se = float(np.std(terms.additive, ddof=1)) / math.sqrt(n)
            assert got["se"] == pytest.approx(se, rel=1e-9, abs=1e-15)
        assert got["ci_low"] <= got["value"] <= got["ci_high"]


def test_partitioning_does_not_change_a_bit(log_dir: Path) -> None:
    results = [evaluate_stream(log_dir, "a=10", chunk_rows=c) for c in (1, 13, 50, 100_000)]
    assert all(r == results[0] for r in results[1:])


def test_exact_product_sum() -> None:
    x = np.array([0.1, 1 / 3, -7.25, 1e150])
    y = np.array([0.3, 3.0, 1 / 7, 1e-150])
    exact = sum(Fraction(a) * Fraction(b) for a, b in zip(x.tolist(), y.tolist()))
    assert Fraction(exact_product_sum(x, y), 1 << 1126) == exact


def test_exact_sum() -> None:
    values = np.array([0.1] * 10 + [1e300, -1e300, 5e-324, 2.5])
    total = exact_scaled_sum(values)
    assert Fraction(total, 1 << 1126) == sum(Fraction(v) for v in values.tolist())
    assert exact_scaled_sum([]) == 0
    assert exact_scaled_sum(np.array([-3.0, 3.0])) == 0


def test_unknown_target_and_empty_log_are_refused(log_dir: Path, tmp_path: Path) -> None:
    with pytest.raises(UnknownNameError, match="unknown target 'nope'"):
        evaluate_stream(log_dir, "nope")
    EventLog(tmp_path / "empty").close()
    with pytest.raises(DataError, match="request log is empty"):
        evaluate_stream(tmp_path / "empty", "uniform")
    with pytest.raises(InvalidInputError, match="chunk_rows must be a positive int"):
        evaluate_stream(log_dir, "uniform", chunk_rows=0)


@pytest.mark.skipif(importlib.util.find_spec("dask") is not None, reason="dask is installed")
def test_scheduler_without_dask_is_refused(log_dir: Path) -> None:
    with pytest.raises(InvalidInputError, match="needs dask, which is not installed"):
        evaluate_stream(log_dir, "uniform", scheduler="threads")


@pytest.mark.skipif(importlib.util.find_spec("dask") is None, reason="dask is not installed")
def test_dask_scheduler_gives_the_same_result(log_dir: Path) -> None:
    local = evaluate_stream(log_dir, "b=10")
    assert evaluate_stream(log_dir, "b=10", scheduler="synchronous") == local


def test_cli_stream(log_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "ev.json"
    args = ["evaluate", "--log", str(log_dir), "--target", "b=10", "--stream"]
    code = main([*args, "--chunk-rows", "30", "--json", str(out), "--no-progress"])
    assert code == 0
    report = json.loads(out.read_text())
    assert report["ope"] == evaluate_stream(log_dir, "b=10")["ope"]
    assert "snipw" in capsys.readouterr().out


def test_chunks_check_lines_and_stop_at_max_rows(log_dir: Path, tmp_path: Path) -> None:
    from ltrr.errors import LogFormatError
    from ltrr.eventlog.stream import iter_chunks, log_partitions

    first = log_partitions(log_dir)[0]
    sizes = [
        len(c["request_id"]) for c in iter_chunks(first, "request", ["request_id"], chunk_rows=20)
    ]
    assert sizes == [20, 20, 10]
    capped = iter_chunks(first, "request", ["request_id"], checked=False, max_rows=13)
    assert [c["request_id"] for c in capped] == [[f"r{t}" for t in range(13)]]
    bad = tmp_path / "requests-000001.jsonl"
    bad.write_bytes(first.read_bytes() + b'{"v":1,"type":"request"}\n')
    with pytest.raises(LogFormatError, match=r"requests-000001.jsonl:51: "):
        list(iter_chunks(bad, "request", ["request_id"]))
