"""Concurrent strategy calls (search.retrieve with a StrategyPool): same results, own timings."""

from __future__ import annotations

import logging
import threading
import time

import pytest

from ltrr.engine import search
from ltrr.engine.search import StrategyPool
from ltrr.errors import InvalidInputError
from ltrr.plans import Plan
from ltrr.types import Query
from strategies import LexicalStrategy
from tests.conftest import make_small_catalog

SLEEP_S = 0.2


class SlowLexical(LexicalStrategy):
    """BM25 that also waits, in its timed region, as a native library would (GIL released)."""

    def _retrieve_many(self, queries, contexts, k):
        time.sleep(SLEEP_S)
        return super()._retrieve_many(queries, contexts, k)


class Broken(LexicalStrategy):
    def _retrieve_many(self, queries, contexts, k):
        raise RuntimeError("index unreadable")


@pytest.fixture(scope="module")
def strategies():
    catalog = make_small_catalog()
    return {
        "body": LexicalStrategy(name="body", fields=["body"]).fit(catalog),
        "broken": Broken(name="broken").fit(catalog),
        "lexical": LexicalStrategy().fit(catalog),
        "slow_a": SlowLexical(name="slow_a", fields=["title"]).fit(catalog),
        "slow_b": SlowLexical(name="slow_b").fit(catalog),
        "titles": LexicalStrategy(name="titles", fields=["title"]).fit(catalog),
    }


def _same(a, b):
    assert [(r.strategy, r.item_ids, r.scores) for r in a] == [
        (r.strategy, r.item_ids, r.scores) for r in b
    ]


def test_results_identical_to_serial(strategies):
    plan = Plan.of({"body": 3, "lexical": 5, "titles": 2})
    with StrategyPool(workers=2) as pool:
        for text in ["apple", "red fruit", "bike battery", "pomme rouge", "alps boots"]:
            q = Query(text)
            serial = search.retrieve(strategies, q, None, plan)
            parallel = search.retrieve(strategies, q, None, plan, pool)
            assert [r.strategy for r in parallel] == ["body", "lexical", "titles"]
            _same(parallel, serial)


def test_calls_overlap_and_each_keeps_its_own_time(strategies):
    plan = Plan.of({"slow_a": 3, "slow_b": 3})
    q = Query("apple")
    t = time.perf_counter()
    serial = search.retrieve(strategies, q, None, plan)
    serial_s = time.perf_counter() - t
    with StrategyPool() as pool:
        t = time.perf_counter()
        parallel = search.retrieve(strategies, q, None, plan, pool)
        parallel_s = time.perf_counter() - t
    _same(parallel, serial)
    assert serial_s >= 2 * SLEEP_S
    assert parallel_s < 1.75 * SLEEP_S  # one wait, not two
    for r in parallel:  # each call's own time: its wait, not the plan's total
        assert SLEEP_S * 1000 <= r.latency_ms < 1.75 * SLEEP_S * 1000


def test_a_failing_strategy_finds_nothing_in_parallel_too(strategies, caplog):
    plan = Plan.of({"broken": 3, "lexical": 3, "missing": 2})
    with StrategyPool() as pool, caplog.at_level(logging.WARNING, logger="ltrr.engine"):
        results = search.retrieve(strategies, Query("apple"), None, plan, pool)
    assert [r.strategy for r in results] == ["lexical"]
    messages = " ".join(r.getMessage() for r in caplog.records)
    assert "'broken' failed" in messages and "index unreadable" in messages
    assert "'missing' failed" in messages


def test_pool_closes_its_threads():
    before = {t.name for t in threading.enumerate()}
    pool = StrategyPool(workers=3)
    catalog = make_small_catalog()
    strategies = {
        "a": LexicalStrategy(name="a").fit(catalog),
        "b": LexicalStrategy(name="b", fields=["title"]).fit(catalog),
    }
    search.retrieve(strategies, Query("apple"), None, Plan.of({"a": 2, "b": 2}), pool)
    assert any(t.name.startswith("ltrr-strategy") for t in threading.enumerate())
    pool.close()
    pool.close()  # twice is fine
    assert pool.closed
    started = {t.name for t in threading.enumerate()} - before
    assert not any(name.startswith("ltrr-strategy") for name in started)
    with pytest.raises(RuntimeError, match="strategy pool is closed"):
        search.retrieve(strategies, Query("apple"), None, Plan.of({"a": 2, "b": 2}), pool)
    # a one-strategy plan never needs the pool
    assert len(search.retrieve(strategies, Query("apple"), None, Plan.of({"a": 2}), pool)) == 1


@pytest.mark.parametrize("workers", [0, -1, 1.5, "2"])
def test_bad_worker_count(workers):
    with pytest.raises(InvalidInputError, match="workers must be an integer >= 1"):
        StrategyPool(workers=workers)
