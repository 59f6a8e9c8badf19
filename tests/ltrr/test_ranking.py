from __future__ import annotations

import lightgbm as lgb
import numpy as np
import pytest

from ltrr.errors import CorruptModelError, InvalidInputError, NotFittedError
from ltrr.fusion import merge_pool
from ltrr.ranking import LambdaMARTRanker, PoolFeaturizer
from ltrr.types import Query
from strategies import LexicalStrategy
from tests.conftest import unchecked

NAMES = [f"f{i}" for i in range(5)]


def synthetic(n_groups=60, size=20, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n_groups * size, 5)).astype(np.float32)
    y = np.clip(
        (X[:, 0] + 0.5 * X[:, 1] + rng.normal(scale=0.5, size=len(X))).round(), 0, 3
    ).astype(int)
    return X, y, [size] * n_groups


def test_matches_plain_lightgbm():
    X, y, groups = synthetic()
    ours = LambdaMARTRanker(feature_names=NAMES, n_estimators=50).fit(X, y, groups)
    params = ours.params()
    plain = lgb.train(params, lgb.Dataset(X, label=y, group=groups), num_boost_round=50)
    np.testing.assert_allclose(
        ours.predict(X), plain.predict(X, num_threads=1), rtol=1e-6, atol=1e-9
    )
    assert next(iter(ours.feature_importance())) == "f0"  # the strongest signal has the most gain


def test_cross_fitting_uses_the_out_of_fold_model():
    X, y, groups = synthetic()
    keys = [f"q{i}" for i in range(len(groups))]
    r = LambdaMARTRanker(feature_names=NAMES, n_estimators=30, n_folds=3).fit(
        X, y, groups, group_keys=keys
    )
    assert len(r.fold_boosters_) == 3 and set(r.fold_of_.values()) == {0, 1, 2}
    rows = X[:20]
    full = r.predict(rows)
    assert np.allclose(r.predict(rows, key="never-seen"), full)
    fold = r.fold_of_["q0"]
    assert np.allclose(r.predict(rows, key="q0"), r.fold_boosters_[fold].predict(rows))
    assert not np.allclose(r.predict(rows, key="q0"), full)


def test_save_load(tmp_path):
    X, y, groups = synthetic()
    keys = [f"q{i}" for i in range(len(groups))]
    r = LambdaMARTRanker(feature_names=NAMES, n_estimators=20, n_folds=2).fit(
        X, y, groups, group_keys=keys
    )
    r.save(tmp_path)
    back = LambdaMARTRanker.load(tmp_path)
    np.testing.assert_allclose(back.predict(X[:40], key="q1"), r.predict(X[:40], key="q1"))
    (tmp_path / "ranker.txt").write_text("not a model")
    unchecked(tmp_path)  # the loader's own check, not the checksums
    with pytest.raises(CorruptModelError, match="unreadable"):
        LambdaMARTRanker.load(tmp_path)
    (tmp_path / "ranker.txt").unlink()
    unchecked(tmp_path)  # the loader's own check, not the checksums
    with pytest.raises(CorruptModelError, match="missing"):
        LambdaMARTRanker.load(tmp_path)


def test_boosting_from_a_base_feature_matches_lightgbm_with_init_score(tmp_path):
    X, y, groups = synthetic()
    X[::7, 2] = np.nan  # a missing base value starts from 0
    ours = LambdaMARTRanker(
        feature_names=NAMES, n_estimators=20, base_feature="f2", base_weight=3.0
    ).fit(X, y, groups)
    init = 3.0 * np.nan_to_num(X[:, 2].astype(np.float64))
    data = lgb.Dataset(X, label=y, group=groups, init_score=init)
    plain = lgb.train(ours.params(), data, num_boost_round=20)
    np.testing.assert_allclose(
        ours.predict(X), plain.predict(X, num_threads=1) + init, rtol=1e-6, atol=1e-9
    )
    ours.save(tmp_path)
    back = LambdaMARTRanker.load(tmp_path)
    assert back.base_feature == "f2" and back.base_weight == 3.0
    np.testing.assert_allclose(back.predict(X[:40]), ours.predict(X[:40]))


@pytest.mark.parametrize(
    ("call", "error", "match"),
    [
        (lambda r: r.predict(np.ones((2, 5))), NotFittedError, "not trained"),
        (
            lambda r: r.fit(np.ones((4, 3)), [0, 1, 0, 1], [4]),
            InvalidInputError,
            r"shape \(n_rows, 5\)",
        ),
        (lambda r: r.fit(np.ones((4, 5)), [0, 1, 0, -1], [4]), InvalidInputError, "labels >= 0"),
        (
            lambda r: r.fit(np.ones((4, 5)), [0, 1, 0, 1], [3]),
            InvalidInputError,
            "sum to the 4 rows",
        ),
        (
            lambda r: LambdaMARTRanker(feature_names=NAMES, n_folds=2).fit(
                np.ones((4, 5)), [0, 1, 0, 1], [2, 2]
            ),
            InvalidInputError,
            "needs one key per group",
        ),
        (
            lambda r: LambdaMARTRanker(feature_names=NAMES, num_leaves=0),
            InvalidInputError,
            "num_leaves must be",
        ),
        (lambda r: LambdaMARTRanker(feature_names=[]), InvalidInputError, "at least one feature"),
        (
            lambda r: LambdaMARTRanker(feature_names=NAMES, base_feature="rrf"),
            InvalidInputError,
            "base_feature must be one of the feature names, got 'rrf'",
        ),
        (
            lambda r: LambdaMARTRanker(feature_names=NAMES, base_weight=float("nan")),
            InvalidInputError,
            "base_weight must be a finite number",
        ),
    ],
)
def test_bad_inputs(call, error, match):
    with pytest.raises(error, match=match):
        call(LambdaMARTRanker(feature_names=NAMES))


def test_featurizer_completes_scores_for_every_pool_item(small_catalog):
    titles = LexicalStrategy(fields=["title"]).fit(small_catalog)
    bodies = LexicalStrategy(fields=["body"]).fit(small_catalog)
    f = PoolFeaturizer(small_catalog, {"titles": titles, "bodies": bodies})
    q = Query("red apple")
    t_res, b_res = titles.retrieve(q, k=1), bodies.retrieve(q, k=5)
    t_res = type(t_res)("titles", t_res.candidates, 0.0)
    b_res = type(b_res)("bodies", b_res.candidates, 0.0)
    pool = merge_pool([t_res, b_res])
    X = f.featurize(q, None, pool, {"titles": 1, "bodies": 5})
    col = {n: i for i, n in enumerate(f.feature_names)}
    positions = [small_catalog.index_of(p.item_id) for p in pool]
    # an item the title strategy did not return still gets its title similarity
    np.testing.assert_allclose(X[:, col["titles_sim"]], titles.score_items(q, positions), rtol=1e-6)
    assert X[:, col["titles_budget"]].tolist() == [1.0] * len(pool)
    assert np.isnan(X[1:, col["titles_rank"]]).all() and X[0, col["titles_rank"]] == 1.0
    assert 0.0 <= X[:, col["match_title"]].min() and X[:, col["match_title"]].max() <= 1.0

    # the same columns with another instance of one strategy (cross-fitting)
    other = LexicalStrategy(fields=["body"]).fit(small_catalog)
    g = f.with_strategies({"titles": other})
    assert g.feature_names == f.feature_names
    Xg = g.featurize(q, None, pool, {"titles": 1, "bodies": 5})
    # the original still completes with its own instance
    np.testing.assert_array_equal(f.featurize(q, None, pool, {"titles": 1, "bodies": 5}), X)
    np.testing.assert_allclose(Xg[:, col["titles_sim"]], other.score_items(q, positions), rtol=1e-6)
    np.testing.assert_array_equal(Xg[:, col["bodies_sim"]], X[:, col["bodies_sim"]])
    with pytest.raises(InvalidInputError, match=r"strategies \['nope'\] are not among"):
        f.with_strategies({"nope": other})
