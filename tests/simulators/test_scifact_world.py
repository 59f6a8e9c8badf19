from __future__ import annotations

from collections import Counter

import numpy as np
import pytest

from ltrr.errors import InvalidInputError
from simulators.worlds.scifact import SciFactWorld


@pytest.fixture(scope="module")
def world(scifact_dir):
    return SciFactWorld.from_folder(scifact_dir)


def test_requests_follow_zipf_popularity(world):
    rng = np.random.default_rng(0)
    reqs = world.sample_many(20_000, rng)
    counts = Counter(r.query.id for r in reqs)
    p = world.popularity()
    top = world.train_requests()[0][0].id
    n = len(reqs)
    assert counts[top] / n == pytest.approx(p[0], abs=4 * np.sqrt(p[0] * (1 - p[0]) / n))
    # skew: the most popular claim is drawn far more often than the median one
    assert counts.most_common(1)[0][1] > 50 * np.median(list(counts.values()))
    assert all(r.relevance and all(d in world.catalog for d in r.relevance) for r in reqs[:500])


def test_heldout_is_the_test_split(world):
    held = world.heldout()
    assert len(held) == 300
    train_ids = {q.id for q, _ in world.train_requests()}
    assert not train_ids & {r.query.id for r in held}
    assert sum(len(r.relevance) for r in held) == 339


def test_deterministic_under_seed(world):
    a = [(r.query.id, r.context) for r in world.sample_many(50, np.random.default_rng(7))]
    b = [(r.query.id, r.context) for r in world.sample_many(50, np.random.default_rng(7))]
    c = [(r.query.id, r.context) for r in world.sample_many(50, np.random.default_rng(8))]
    assert a == b and a != c


def test_respond_clicks_relevant_items_more(world):
    rng = np.random.default_rng(0)
    req = world.sample(rng)
    relevant = next(iter(req.relevance))
    ranking = ["x1", relevant, "x2"]
    clicks = Counter(e.item_id for _ in range(3000) for e in world.respond(req, ranking, rng))
    assert clicks[relevant] > 5 * clicks["x1"]
    assert all(e.position in (1, 2, 3) for e in world.respond(req, ranking, rng))


@pytest.mark.parametrize(
    ("params", "match"),
    [
        ({"zipf_exponent": -1.0}, "zipf_exponent must be a finite number >= 0"),
        ({"n_users": 0}, "n_users must be an integer >= 1"),
        ({"device_mix": {"desktop": 0.5}}, "summing to 1"),
    ],
)
def test_bad_parameters(scifact_dir, params, match):
    with pytest.raises(InvalidInputError, match=match):
        SciFactWorld.from_folder(scifact_dir, **params)
