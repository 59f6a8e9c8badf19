"""OPIS and epsilon-OPIS on small cases computed by hand, and their bad inputs."""

from __future__ import annotations

import numpy as np
import pytest

from ltrr.errors import InvalidInputError
from ltrr.metrics import epsilon_opis, opis, threshold_consistency
from ltrr.opis import calibration_range, utility_curves


def test_utility_curves_by_hand():
    scores = [[0.9, 0.5, 0.1], [0.2, 0.8, 0.4]]
    relevant = np.array([[True, False, True], [False, False, False]])  # query 2 has none: dropped
    t = [0.05, 0.3, 0.7, 1.0]
    f1 = utility_curves(scores, relevant, t)
    # accepted 3/2/1/0 items holding 2/1/1/0 relevant ones: F1 = 2 TP / (accepted + relevant)
    np.testing.assert_allclose(f1, [[4 / 5, 2 / 4, 2 / 3, 0.0]])
    np.testing.assert_allclose(
        utility_curves(scores, relevant, t, utility="recall"), [[1, 0.5, 0.5, 0]]
    )
    # a score equal to the threshold is accepted
    np.testing.assert_allclose(utility_curves([[0.5]], np.array([[True]]), [0.5]), [[1.0]])


def test_opis_by_hand():
    t = [0.0, 1.0]
    assert opis([[1, 1], [0, 0]], t) == pytest.approx(0.25)  # mean 0.5, squared gaps 0.25
    assert opis([[1, 0], [0, 0]], t) == pytest.approx((0.25 + 0.0) / 2)  # trapezoid over [0, 1]
    assert opis([[0.3, 0.7], [0.3, 0.7]], t) == 0.0  # consistent queries
    # weights: the average moves to 0.75 and the squared gaps weigh 3:1
    assert opis([[1, 1], [0, 0]], t, weights=[3, 1]) == pytest.approx(
        0.75 * 0.25**2 + 0.25 * 0.75**2
    )
    # uneven threshold spacing: the integral is divided by the range's length
    curves = [[1.0, 1.0, 0.0], [0.0, 0.0, 0.0]]
    expected = ((0.25 + 0.25) / 2 * 1.0 + (0.25 + 0.0) / 2 * 3.0) / 4.0
    assert opis(curves, [0.0, 1.0, 4.0]) == pytest.approx(expected)


def test_epsilon_opis_by_hand():
    curves = [[0.9, 0.8], [0.5, 0.5], [0.4, 0.6], [0.1, 0.0]]
    t = [0.0, 2.0]
    # 25% of 4 queries is one: gaps 0.8 and 0.8 at the two thresholds
    assert epsilon_opis(curves, t, epsilon=0.25) == pytest.approx(0.64)
    # 50%: the best two average (0.7, 0.7), the worst two (0.25, 0.25)
    assert epsilon_opis(curves, t, epsilon=0.5) == pytest.approx(0.45**2)
    # at each threshold the tails are the best and worst queries there
    assert epsilon_opis([[1, 0], [0, 1]], [0, 1], epsilon=0.5) == pytest.approx(1.0)


def test_calibration_range_reads_false_accept_rates():
    negatives = np.linspace(0.0, 1.0, 101)  # 101 non-relevant scores 0.00 .. 1.00
    scores = np.concatenate([negatives, [2.0]])[None, :]
    relevant = np.zeros_like(scores, dtype=bool)
    relevant[0, -1] = True
    d_min, d_max = calibration_range(scores, relevant, far=(0.01, 0.10))
    assert (d_min, d_max) == pytest.approx((0.90, 0.99))


def test_threshold_consistency_orders_consistent_below_inconsistent_scores():
    rng = np.random.default_rng(0)
    n_q, n_items = 40, 300
    relevant = np.zeros((n_q, n_items), dtype=bool)
    relevant[np.arange(n_q), rng.integers(0, n_items, n_q)] = True
    noise = rng.normal(0.0, 0.1, (n_q, n_items))
    consistent = noise + 1.0 * relevant  # one scale for every query
    offsets = rng.normal(0.0, 0.5, (n_q, 1))  # each query's scores shifted by its own amount
    inconsistent = consistent + offsets
    a = threshold_consistency(consistent, relevant, utility="recall")
    b = threshold_consistency(inconsistent, relevant, utility="recall")
    assert a.opis < b.opis and a.epsilon_opis < b.epsilon_opis
    assert a.curves.shape == (n_q, 100) and a.thresholds[0] < a.thresholds[-1]
    assert 0.0 <= a.mean_utility <= 1.0


GOOD = np.array([[0.9, 0.1], [0.2, 0.7]])
REL = np.array([[True, False], [False, True]])


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda: utility_curves([1.0, 2.0], REL, [0.5]), "scores must be a non-empty 2-D array"),
        (lambda: utility_curves(GOOD, REL[:1], [0.5]), "relevant must have the shape"),
        (lambda: utility_curves(GOOD, REL.astype(int), [0.5]), "relevant must be a boolean array"),
        (lambda: utility_curves([[np.nan, 1.0]], REL[:1], [0.5]), "scores must be finite"),
        (lambda: utility_curves(GOOD, REL, []), "thresholds must be a non-empty increasing"),
        (
            lambda: utility_curves(GOOD, REL, [0.5, 0.1]),
            "thresholds must be a non-empty increasing",
        ),
        (
            lambda: utility_curves(GOOD, REL, [0.5], utility="ndcg"),
            r"utility must be one of \['f1', 'recall'\]",
        ),
        (
            lambda: utility_curves(GOOD, np.zeros((2, 2), bool), [0.5]),
            "no query has a relevant item",
        ),
        (lambda: opis([[1.0]], [0.0]), "at least 2 thresholds"),
        (lambda: opis([[1.0, 0.0]], [1.0, 0.0]), "strictly increasing"),
        (lambda: opis([[1.0, np.inf]], [0.0, 1.0]), "curves must be finite"),
        (
            lambda: opis([[1.0, 0.0]], [0.0, 1.0], weights=[-1]),
            "weights must be 1 finite non-negative",
        ),
        (
            lambda: epsilon_opis([[1.0, 0.0]], [0.0, 1.0], epsilon=0.0),
            r"epsilon must be in \(0, 0.5\]",
        ),
        (lambda: epsilon_opis([[1.0, 0.0]], [0.0, 1.0], epsilon=0.7), "epsilon"),
        (lambda: calibration_range(GOOD, REL, far=(0.1, 0.01)), "0 < low < high < 1"),
        (lambda: calibration_range(GOOD, REL, far=0.1), r"far must be a pair"),  # type: ignore[arg-type]
        (lambda: calibration_range(GOOD, np.ones((2, 2), bool)), "every pair relevant"),
        (lambda: threshold_consistency(GOOD, REL, n_thresholds=1), "n_thresholds"),
        (lambda: threshold_consistency(np.zeros((2, 2)), REL), "calibration range is empty"),
    ],
)
def test_bad_inputs(call, match):
    with pytest.raises(InvalidInputError, match=match):
        call()
