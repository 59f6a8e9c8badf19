"""The latency model: running means per strategy and budget, ranking per candidate, plan prices."""

from __future__ import annotations

import pytest

from ltrr.errors import InvalidInputError
from ltrr.latency import LatencyModel


def test_running_means_price_plans():
    m = LatencyModel(halflife=2.0, prior_ms=1.5)
    assert m.call_ms("emb", 10) == 1.5 and m.call_ms("emb", 0) == 0.0  # prior; not called
    m.observe({"emb": 10, "lex": 10}, {"emb": 8.0, "lex": 1.0}, rank_ms=2.0, candidates=20)
    m.observe({"emb": 10}, {"emb": 4.0}, rank_ms=1.0, candidates=10)
    # two measurements: a plain average (the first does not set the mean)
    assert m.call_ms("emb", 10) == pytest.approx(6.0)
    assert m.call_ms("emb", 30) == pytest.approx(6.0)  # unmeasured budget: the mean over budgets
    assert m.rank_ms_per_candidate_ == pytest.approx(0.1)
    assert m.plan_ms({"emb": 10, "lex": 10}, 20) == pytest.approx(6.0 + 1.0 + 0.1 * 20)
    # a request's own measured calls price its nested plans; a stall is capped
    assert m.request_ms({"emb": 10}, {"emb": 2.0}, 10) == pytest.approx(2.0 + 1.0)
    assert m.request_ms({"emb": 10}, {"emb": 500.0}, 0) == pytest.approx(4 * 6.0 + 1.0)
    assert m.request_ms({"lex": 10}, {}, 0) == pytest.approx(1.0)  # not measured: the mean


def test_a_stall_moves_the_mean_little_and_round_trip():
    m = LatencyModel(halflife=200.0)
    for _ in range(10):
        m.observe({"s": 10}, {"s": 1.0}, rank_ms=0.0, candidates=0)
    m.observe({"s": 10}, {"s": 1000.0}, rank_ms=0.0, candidates=0)  # capped at 4 * 1 + 1
    assert m.call_ms("s", 10) == pytest.approx(1.0 + (5.0 - 1.0) / 11)
    back = LatencyModel.from_dict(m.to_dict())
    assert back.to_dict() == m.to_dict()


@pytest.mark.parametrize(
    ("make", "match"),
    [
        (lambda: LatencyModel(halflife=0.5), "halflife must be"),
        (lambda: LatencyModel(prior_ms=-1.0), "prior_ms must be"),
        (lambda: LatencyModel.from_dict({"halflife": 2.0}), "latency model data must hold"),
    ],
)
def test_bad_input(make, match):
    with pytest.raises(InvalidInputError, match=match):
        make()
