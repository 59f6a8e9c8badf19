from __future__ import annotations

import json

import numpy as np
import pytest

from ltrr.errors import CorruptModelError, InvalidInputError, UnknownNameError
from ltrr.features import PerformanceStats, UserHistory, plan_features, request_features, to_vw
from ltrr.plans import Plan
from ltrr.selection import EXPLORATIONS, PlanSelector, RecallModel, Selection, default_plans
from ltrr.types import Context, Query
from tests.conftest import unchecked

SOURCES = {"lexical": "lexical", "embedding": "embedding"}


def test_default_plan_space_is_compact():
    plans = default_plans(["lexical", "embedding"])
    assert 10 <= len(plans) <= 32 and len({p.id for p in plans}) == len(plans)
    three = default_plans(["lexical", "embedding", "tree"], (0, 10, 30, 50, 100))
    assert len(three) == 32
    assert {"lexical=100", "embedding=100", "tree=100", "embedding=50+lexical=50+tree=50"} <= {
        p.id for p in three
    }


def test_learns_a_context_dependent_choice():
    plans = [Plan.of({"lexical": 10}), Plan.of({"embedding": 10})]
    sel = PlanSelector(plans, SOURCES, exploration="epsilon", epsilon=0.1, seed=1)
    rng = np.random.default_rng(0)
    for _ in range(1500):
        device = "voice" if rng.random() < 0.5 else "desktop"
        ex = sel.example(request_features(Query("some words"), Context(device=device)), None)
        s = sel.choose(ex)
        best = "embedding=10" if device == "voice" else "lexical=10"
        sel.learn(s, 1.0 if s.plan.id == best else 0.0)
    for device, best in (("voice", "embedding=10"), ("desktop", "lexical=10")):
        ex = sel.example(request_features(Query("some words"), Context(device=device)), None)
        assert sel.choose(ex).probabilities[best] > 0.9


def test_probabilities_and_save_load(tmp_path):
    plans = default_plans(["lexical", "embedding"])
    sel = PlanSelector(plans, SOURCES, seed=3)
    ex = sel.example(
        request_features(Query("q"), None), {"lexical": (0.6, 0.5), "embedding": (0.3, 0.4)}
    )
    s = sel.choose(ex)
    assert sum(s.probabilities.values()) == pytest.approx(1.0)
    assert s.probability == s.probabilities[s.plan.id] > 0
    for _ in range(50):
        sel.learn(sel.choose(ex), 0.5)
    sel.save(tmp_path)
    back = PlanSelector.load(tmp_path)
    assert back.choose(ex).probabilities == pytest.approx(sel.choose(ex).probabilities)
    (tmp_path / "selector.vw").unlink()
    with pytest.raises(CorruptModelError, match="missing"):
        PlanSelector.load(tmp_path)


@pytest.mark.parametrize("exploration", sorted(EXPLORATIONS))
def test_every_exploration_runs(exploration):
    sel = PlanSelector(default_plans(["lexical"]), SOURCES, exploration=exploration)
    ex = sel.example(request_features(Query("q"), None), None)
    s = sel.choose(ex)
    sel.learn(s, 1.0)
    assert sum(sel.choose(ex).probabilities.values()) == pytest.approx(1.0)


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"exploration": "thompson"}, UnknownNameError, "unknown exploration 'thompson'"),
        ({"epsilon": 1.5}, InvalidInputError, r"epsilon must lie in \[0, 1\]"),
        ({"learning_rate": 0.0}, InvalidInputError, "learning_rate must be"),
        (
            {"propensity_floor": 1.5},
            InvalidInputError,
            r"propensity_floor must lie in \[0, 1\], got 1.5",
        ),
        ({"propensity_floor": float("nan")}, InvalidInputError, "propensity_floor must lie"),
        ({"propensity_floor": "1"}, InvalidInputError, "propensity_floor must lie in .*got '1'"),
    ],
)
def test_bad_settings(kwargs, error, match):
    with pytest.raises(error, match=match):
        PlanSelector(default_plans(["lexical"]), SOURCES, **kwargs)


def test_learn_rejects_nan_reward():
    sel = PlanSelector(default_plans(["lexical"]), SOURCES)
    s = sel.choose(sel.example(request_features(Query("q"), None), None))
    with pytest.raises(InvalidInputError, match="reward must be a finite number"):
        sel.learn(s, float("nan"))


class _RecordingVW:
    """Stands in for the VW workspace: keeps the labelled examples it is taught."""

    def __init__(self, vw):
        self.vw, self.taught = vw, []

    def predict(self, example):
        return self.vw.predict(example)

    def learn(self, example):
        self.taught.append(list(example))
        self.vw.learn(example)


@pytest.mark.parametrize(
    ("floor", "label"), [(0.0, "0:-1:0.02 "), (0.5, "0:-1:0.5 "), (1.0, "0:-1:1 ")]
)
def test_propensity_floor_sets_the_importance_weight_of_online_updates(floor, label):
    sel, ex = _selector_and_example()
    sel.settings["propensity_floor"] = floor
    sel._vw = _RecordingVW(sel._vw)
    sel.learn(Selection(1, sel.plans[1], 0.02, {}, ex), 1.0)  # a rarely drawn plan
    (taught,) = sel._vw.taught
    assert taught[2].startswith(label) and taught[0] == ex[0] and taught[1] == ex[1]


def test_feature_text():
    shared = request_features(
        Query("vitamin d 3"),
        Context(device="mobile app", features={"hour": 6.0}),
        user=(4, 0.5),
        seen=2,
    )
    assert shared["Q"]["digits"] == 1.0 and "shape_t3_5-digits" in shared["Q"]
    assert "device_mobile_app" in shared["C"] and shared["U"]["mean_reward"] == 0.5
    lines = to_vw(
        shared,
        [plan_features(Plan.of({"lexical": 10}), SOURCES, max_total=100)],
        label=(0, -1.0, 0.5),
    )
    assert lines[0].startswith("shared |Q ") and lines[1].startswith("0:-1:0.5 |A ")
    assert all("|" not in part for line in lines for part in line.split(" |")[1:])


def test_performance_stats_smooth_and_round_trip():
    stats = PerformanceStats(prior=2.0)
    q = Query("apple")
    for _ in range(8):
        stats.observe(q, {"lexical": True, "embedding": False})
    exact, shape = stats.history(q, ["lexical"])["lexical"]
    assert 0.8 < exact < 1.0 and shape < 1.0
    assert (
        stats.history(Query("pear"), ["lexical"])["lexical"][0] < exact
    )  # unseen query: shape level
    back = PerformanceStats.from_dict(stats.to_dict())
    assert back.history(q, ["lexical"]) == stats.history(q, ["lexical"])
    users = UserHistory()
    users.observe("u1", 1.0)
    users.observe("u1", 0.0)
    assert users.get("u1") == (2, 0.5) and users.get("nobody") is None
    assert UserHistory.from_dict(users.to_dict()).get("u1") == (2, 0.5)


def _selector_and_example():
    plans = [Plan.of({"a": 10}), Plan.of({"a": 50}), Plan.of({"b": 10})]
    sel = PlanSelector(
        plans, {"a": "lexical", "b": "embedding"}, exploration="epsilon", epsilon=0.0
    )
    ex = sel.example({"Q": {"n_tokens": 1.0}}, None)
    return sel, ex


def test_learn_all_is_full_information_regression():
    sel, ex = _selector_and_example()
    for _ in range(200):
        sel.learn_all(ex, [0.1, 0.9, 0.3])
    assert sel.n_learned_ == 600
    assert sel.choose(ex).plan.id == "a=50"  # greedy (epsilon 0) on the best reward


@pytest.mark.parametrize(
    ("rewards", "order", "lines", "match"),
    [
        ([0.1, 0.2], None, None, r"one value per plan \(3\), got shape \(2,\)"),
        ([0.1, float("nan"), 0.2], None, None, "rewards must be finite"),
        ([0.1, 0.2, 0.3], [0, 0, 1], None, "order must list distinct plan indices"),
        ([0.1, 0.2, 0.3], None, 2, "a shared line and 3 plan lines, got 2 lines"),
    ],
)
def test_learn_all_bad_input(rewards, order, lines, match):
    sel, ex = _selector_and_example()
    with pytest.raises(InvalidInputError, match=match):
        sel.learn_all(ex[:lines] if lines else ex, rewards, order=order)
    assert sel.n_learned_ == 0


def test_recall_model_learns_predicts_and_round_trips(tmp_path):
    _, ex = _selector_and_example()
    model = RecallModel(3)
    for _ in range(300):
        model.learn(ex, [0.2, 0.9, 0.5])
    np.testing.assert_allclose(model.predict(ex), [0.2, 0.9, 0.5], atol=0.05)
    model.save(tmp_path)
    np.testing.assert_allclose(RecallModel.load(tmp_path).predict(ex), model.predict(ex))
    with pytest.raises(InvalidInputError, match=r"recalls must hold 3 values in \[0, 1\]"):
        model.learn(ex, [0.2, 1.5, 0.1])
    with pytest.raises(InvalidInputError, match="n_plans must be an integer >= 1, got 0"):
        RecallModel(0)
    (tmp_path / "recall.vw").unlink()
    with pytest.raises(CorruptModelError, match=r"recall model .* is missing"):
        RecallModel.load(tmp_path)


def test_recall_model_calibration_matches_mean_recall_per_plan(tmp_path):
    _, ex = _selector_and_example()
    other = [ex[0].replace("n_tokens:1", "n_tokens:3"), *ex[1:]]
    model = RecallModel(3)
    examples = [ex, other] * 5
    recalls = [[1.0, 1.0, 0.0], [0.5, 1.0, 0.2]] * 5
    model.learn(ex, [0.0, 0.0, 0.0])  # one pass far from the truth: biased per plan
    before = np.mean([model.predict(e) for e in examples], axis=0)
    model.calibrate(examples, recalls)
    after = np.mean([model.predict(e) for e in examples], axis=0)
    np.testing.assert_allclose(after, [0.75, 1.0, 0.1], atol=1e-3)  # clipped predictions too
    assert not np.allclose(before, after, atol=0.05)
    model.save(tmp_path)
    np.testing.assert_allclose(RecallModel.load(tmp_path).predict(ex), model.predict(ex))
    with pytest.raises(InvalidInputError, match=r"recalls must have shape \(2, 3\)"):
        model.calibrate([ex, other], [[0.1, 0.2, 0.3]])


def test_recall_model_expected_gain_blends_judgements_and_clicks(tmp_path):
    model = RecallModel(3, prior_weight=10.0)
    np.testing.assert_allclose(model.expected_gain(), 0.0)  # nothing known yet
    model.set_plan_means([0.2, 0.6, 0.4], [10.0, 50.0, 10.0])
    np.testing.assert_allclose(model.expected_gain(), [0.2, 0.6, 0.4])  # judgements alone
    for _ in range(30):  # plan 1 is clicked at half its judged gain
        model.observe_gain(1, 0.3)
    scale = (30 * 0.3 + 10 * 0.4) / (30 * 0.6 + 10 * 0.4)  # all clicks against their judged gain
    expected = np.array([0.2 * scale, (9.0 + 10 * 0.6 * scale) / 40, 0.4 * scale])
    np.testing.assert_allclose(model.expected_gain(), expected)
    assert model.expected_gain()[1] < 0.6 and model.expected_gain()[0] < 0.2
    model.save(tmp_path)
    loaded = RecallModel.load(tmp_path)
    np.testing.assert_allclose(loaded.expected_gain(), model.expected_gain())
    np.testing.assert_allclose(loaded.plan_candidates_, [10.0, 50.0, 10.0])
    # without judgements: each plan's own mean, shrunk to the overall online mean
    fresh = RecallModel(2, prior_weight=1.0)
    fresh.observe_gain(0, 1.0)
    np.testing.assert_allclose(fresh.expected_gain(), [1.0, 1.0])
    fresh.observe_gain(1, 0.0)
    np.testing.assert_allclose(fresh.expected_gain(), [0.75, 0.25])


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda m: m.set_plan_means([0.1, 0.2], [1, 2, 3]), r"gain must hold 3 finite values"),
        (lambda m: m.set_plan_means([0.1, 0.2, 0.3], [1, -2, 3]), "candidates must hold 3"),
        (lambda m: m.observe_gain(3, 0.5), r"index must lie in \[0, 3\), got 3"),
        (lambda m: m.observe_gain(0, float("nan")), "gain must be a finite number >= 0, got nan"),
        (lambda m: RecallModel(3, prior_weight=0.0), "prior_weight must be a finite number > 0"),
    ],
)
def test_recall_model_plan_means_bad_input(call, match):
    model = RecallModel(3)
    with pytest.raises(InvalidInputError, match=match):
        call(model)
    assert model.online_count_.sum() == 0 and model.plan_gain_ is None


def test_recall_model_corrupt_tallies_are_named(tmp_path):
    model = RecallModel(2)
    model.save(tmp_path)
    meta = json.loads((tmp_path / "recall.json").read_text())
    meta["online_gain"] = [0.1]
    (tmp_path / "recall.json").write_text(json.dumps(meta))
    unchecked(tmp_path)  # the loader's own check, not the checksums
    with pytest.raises(CorruptModelError, match="online_gain must hold 2 finite values"):
        RecallModel.load(tmp_path)


@pytest.mark.parametrize(
    "history",
    [None, {}, {"lexical": (0.5, 1.0)}, {"lexical": (0.25, 0.125), "xr tree": (1.0, 0.3)}],
)
def test_example_plan_lines_carry_each_plans_history(history):
    names = ["lexical", "embedding", "xr tree"]
    sel = PlanSelector(default_plans(names), dict.fromkeys(names, "lexical"))
    lines = sel.example({"Q": {"n_tokens": 1.0}}, history)
    assert len(lines) == len(sel.plans) + 1
    for plan, line in zip(sel.plans, lines[1:]):
        expected = plan_features(plan, sel.source_types, max_total=sel.max_total, history=history)
        assert line == to_vw({}, [expected])[1]
