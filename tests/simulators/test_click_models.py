from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest

from ltrr.errors import InvalidInputError, UnknownNameError
from simulators.click_models import (
    CLICK_MODEL_NAMES,
    CascadeModel,
    ClickModel,
    DynamicBayesianNetwork,
    PositionBasedModel,
    grade_to_probability,
    make_click_model,
)

N_SESSIONS = 200_000
Z = 4.0  # tolerance in standard errors

# A ranking with mixed graded relevance (0-3), used for closed form vs. simulation.
MIXED = np.array([3, 0, 1, 2, 0, 3, 1, 0], dtype=float)

# A small explicit example, max_grade=2, worked out by hand below.
#   attractiveness = clip((2**g - 1) / 4, 0.05, 0.95) = [0.75, 0.05, 0.25, 0.75]
#   satisfaction   = (2**g - 1) / 4                   = [0.75, 0.00, 0.25, 0.75]
EXAMPLE = [2, 0, 1, 2]
HAND = {
    # examination 1/(r+1): 0.75*1, 0.05/2, 0.25/3, 0.75/4
    "pbm": [0.75, 0.025, 0.25 / 3, 0.1875],
    # 0.75; 0.25*0.05; 0.25*0.95*0.25; 0.25*0.95*0.75*0.75
    "cascade": [0.75, 0.0125, 0.059375, 0.13359375],
    # E_0 = 1
    # E_1 = 1 * 0.9 * (1 - 0.75*0.75)        = 0.39375
    # E_2 = 0.39375 * 0.9 * (1 - 0.05*0)      = 0.354375
    # E_3 = 0.354375 * 0.9 * (1 - 0.25*0.25)  = 0.29900390625
    # C_r = E_r * a_r
    "dbn": [0.75, 0.0196875, 0.08859375, 0.2242529296875],
}


def _model(name: str, **params: object) -> ClickModel:
    return make_click_model(name, **params)


def _assert_rates_match(
    clicks: npt.NDArray[np.bool_], expected: npt.ArrayLike, z: float = Z
) -> None:
    expected = np.asarray(expected, dtype=float)
    n = clicks.shape[0]
    rates = clicks.mean(axis=0)
    se = np.sqrt(expected * (1 - expected) / n)
    too_far = np.abs(rates - expected) > z * se + 1e-12
    assert not too_far.any(), (
        f"empirical CTR {rates} vs expected {expected} (se {se}); off at {np.flatnonzero(too_far)}"
    )


def _repeat(ranking: npt.ArrayLike, n: int = N_SESSIONS) -> npt.NDArray[np.float64]:
    return np.tile(np.asarray(ranking, dtype=float), (n, 1))


# --------------------------------------------------------------------------- mapping


def test_grade_to_probability_hand_values() -> None:
    np.testing.assert_allclose(
        grade_to_probability([0, 1, 2, 3, 4], max_grade=4), [0, 1 / 16, 3 / 16, 7 / 16, 15 / 16]
    )
    np.testing.assert_allclose(grade_to_probability([0, 1]), [0.0, 0.5])
    np.testing.assert_allclose(
        grade_to_probability([0, 4], max_grade=4, min_probability=0.1, max_probability=0.9),
        [0.1, 0.9],
    )
    assert grade_to_probability([[0, 1], [1, 0]]).shape == (2, 2)


def test_model_attractiveness_defaults() -> None:
    model = CascadeModel()
    assert (model.max_grade, model.min_attractiveness, model.max_attractiveness) == (1, 0.05, 0.95)
    np.testing.assert_allclose(model.attractiveness([0, 1, 0.5]), [0.05, 0.5, np.sqrt(2) / 2 - 0.5])
    np.testing.assert_allclose(CascadeModel(max_grade=6).attractiveness([6]), [0.95])


# --------------------------------------------------------------------------- closed forms


@pytest.mark.parametrize("name", CLICK_MODEL_NAMES)
def test_closed_form_matches_hand_example(name: str) -> None:
    probabilities = _model(name, max_grade=2).click_probabilities(EXAMPLE)
    np.testing.assert_allclose(probabilities, HAND[name], rtol=1e-12)


@pytest.mark.parametrize("name", CLICK_MODEL_NAMES)
def test_simulation_matches_hand_example(name: str) -> None:
    model = _model(name, max_grade=2)
    clicks = model.simulate_many(_repeat(EXAMPLE), rng=np.random.default_rng(11))
    _assert_rates_match(clicks, HAND[name])


@pytest.mark.parametrize(
    "model",
    [
        PositionBasedModel(max_grade=3),
        PositionBasedModel(max_grade=3, eta=0.5),
        PositionBasedModel(max_grade=3, examination=[0.9, 0.7, 0.5, 0.3]),
        CascadeModel(max_grade=3),
        DynamicBayesianNetwork(max_grade=3),
        DynamicBayesianNetwork(max_grade=3, gamma=0.7, min_satisfaction=0.2),
    ],
    ids=repr,
)
def test_simulation_matches_closed_form(model: ClickModel) -> None:
    expected = model.click_probabilities(MIXED)
    assert expected.shape == MIXED.shape
    assert np.all((expected >= 0) & (expected <= 1))
    clicks = model.simulate_many(_repeat(MIXED), rng=np.random.default_rng(2024))
    assert clicks.dtype == np.bool_ and clicks.shape == (N_SESSIONS, MIXED.size)
    _assert_rates_match(clicks, expected)


@pytest.mark.parametrize("name", CLICK_MODEL_NAMES)
def test_simulate_many_uses_each_rows_ranking(name: str) -> None:
    model = _model(name, max_grade=2)
    other = [0, 2, 2, 1]
    matrix = np.array([EXAMPLE, other] * (N_SESSIONS // 2), dtype=float)
    clicks = model.simulate_many(matrix, rng=np.random.default_rng(5))
    _assert_rates_match(clicks[0::2], model.click_probabilities(EXAMPLE))
    _assert_rates_match(clicks[1::2], model.click_probabilities(other))


@pytest.mark.parametrize("name", CLICK_MODEL_NAMES)
def test_empty_ranking_and_no_sessions(name: str) -> None:
    model = _model(name)
    rng = np.random.default_rng(0)
    assert model.click_probabilities([]).shape == (0,)
    assert model.simulate([], rng=rng).shape == (0,)
    assert model.simulate_many(np.zeros((0, 3)), rng=rng).shape == (0, 3)


# --------------------------------------------------------------------------- cascade and DBN


def test_cascade_at_most_one_click() -> None:
    model = CascadeModel(max_grade=3)
    clicks = model.simulate_many(_repeat(MIXED, 50_000), rng=np.random.default_rng(1))
    assert clicks.sum(axis=1).max() == 1
    assert model.click_probabilities(MIXED).sum() <= 1.0


def test_dbn_without_satisfaction_and_patience_clicks_independently() -> None:
    model = DynamicBayesianNetwork(max_grade=3, gamma=1.0, max_satisfaction=0.0)
    attractiveness = model.attractiveness(MIXED)
    np.testing.assert_allclose(model.click_probabilities(MIXED), attractiveness, rtol=1e-12)
    clicks = model.simulate_many(_repeat(MIXED), rng=np.random.default_rng(3))
    _assert_rates_match(clicks, attractiveness)
    # independence of two positions: P(C_0 and C_3) = a_0 * a_3
    both = clicks[:, 0] & clicks[:, 3]
    _assert_rates_match(both[:, None], [attractiveness[0] * attractiveness[3]])


def test_dbn_always_satisfied_with_full_patience_is_cascade() -> None:
    dbn = DynamicBayesianNetwork(max_grade=3, gamma=1.0, min_satisfaction=1.0)
    cascade = CascadeModel(max_grade=3)
    np.testing.assert_allclose(
        dbn.click_probabilities(MIXED), cascade.click_probabilities(MIXED), rtol=1e-12
    )
    clicks = dbn.simulate_many(_repeat(MIXED), rng=np.random.default_rng(4))
    assert clicks.sum(axis=1).max() == 1
    _assert_rates_match(clicks, cascade.click_probabilities(MIXED))


def test_dbn_satisfaction_default_mapping() -> None:
    model = DynamicBayesianNetwork(max_grade=2)
    np.testing.assert_allclose(model.satisfaction(EXAMPLE), [0.75, 0.0, 0.25, 0.75])


# --------------------------------------------------------------------------- PBM


def test_pbm_click_ratio_equals_examination_ratio() -> None:
    model = PositionBasedModel(eta=1.0)
    ranking = [1, 0, 1, 0, 0, 1]  # positions 0, 2 and 5 equally relevant
    clicks = model.simulate_many(_repeat(ranking), rng=np.random.default_rng(6))
    examination = model.examination_probabilities(len(ranking))
    rates = clicks.mean(axis=0)
    for i, j in [(0, 2), (0, 5), (2, 5)]:
        ratio = rates[j] / rates[i]
        # delta method, positions independent under PBM
        se = ratio * np.sqrt(
            (1 - rates[i]) / (N_SESSIONS * rates[i]) + (1 - rates[j]) / (N_SESSIONS * rates[j])
        )
        expected = examination[j] / examination[i]
        assert expected == pytest.approx((i + 1) / (j + 1))
        assert abs(ratio - expected) <= Z * se, (i, j, ratio, expected, se)


def test_pbm_examination_defaults_and_vector() -> None:
    np.testing.assert_allclose(
        PositionBasedModel().examination_probabilities(4), [1, 1 / 2, 1 / 3, 1 / 4]
    )
    np.testing.assert_allclose(
        PositionBasedModel(eta=2).examination_probabilities(3), [1, 1 / 4, 1 / 9]
    )
    np.testing.assert_allclose(PositionBasedModel(eta=0).examination_probabilities(3), [1, 1, 1])
    given = PositionBasedModel(examination=[0.9, 0.6])
    # positions beyond the vector reuse its last value
    np.testing.assert_allclose(given.examination_probabilities(4), [0.9, 0.6, 0.6, 0.6])
    np.testing.assert_allclose(given.examination_probabilities(1), [0.9])
    np.testing.assert_allclose(given.click_probabilities([1, 1, 0]), [0.45, 0.3, 0.03])
    assert given.examination == (0.9, 0.6)
    hash(given)  # frozen with a tuple: hashable


# --------------------------------------------------------------------------- determinism


@pytest.mark.parametrize("name", CLICK_MODEL_NAMES)
def test_same_seed_same_clicks_different_seed_different(name: str) -> None:
    model = _model(name, max_grade=3)
    matrix = _repeat(MIXED, 2_000)

    def run(seed: int) -> npt.NDArray[np.bool_]:
        return model.simulate_many(matrix, rng=np.random.default_rng(seed))

    np.testing.assert_array_equal(run(7), run(7))
    assert not np.array_equal(run(7), run(8))
    singles_a = [model.simulate(MIXED, rng=np.random.default_rng(s)) for s in range(50)]
    singles_b = [model.simulate(MIXED, rng=np.random.default_rng(s)) for s in range(50)]
    np.testing.assert_array_equal(singles_a, singles_b)
    assert len({tuple(c) for c in singles_a}) > 1


def test_global_numpy_random_state_untouched() -> None:
    before = np.random.get_state()[1].copy()  # type: ignore[index]  # noqa: NPY002
    for name in CLICK_MODEL_NAMES:
        _model(name).simulate_many(_repeat([1, 0, 1], 100), rng=np.random.default_rng(0))
    after = np.random.get_state()[1]  # type: ignore[index]  # noqa: NPY002
    np.testing.assert_array_equal(after, before)


# --------------------------------------------------------------------------- registry


def test_make_click_model() -> None:
    assert isinstance(make_click_model("pbm"), PositionBasedModel)
    assert isinstance(make_click_model(" Cascade "), CascadeModel)
    model = make_click_model("dbn", gamma=0.5, max_grade=4)
    assert isinstance(model, DynamicBayesianNetwork)
    assert (model.gamma, model.max_grade) == (0.5, 4)


def test_models_are_frozen_and_keyword_only() -> None:
    positional: Any = DynamicBayesianNetwork
    with pytest.raises(TypeError, match="takes 1 positional argument but 2 were given"):
        positional(0.5)
    with pytest.raises(dataclasses.FrozenInstanceError, match="cannot assign to field 'gamma'"):
        DynamicBayesianNetwork().gamma = 0.5  # type: ignore[misc]


# --------------------------------------------------------------------------- bad input

RNG = np.random.default_rng(0)

BAD_INPUTS: list[tuple[str, Callable[[], object], type[Exception], str]] = [
    (
        "negative relevance",
        lambda: CascadeModel().simulate([1, -1, 0], rng=RNG),
        InvalidInputError,
        r"relevance must be finite and >= 0.*position 1 \(-1\.0\)",
    ),
    (
        "nan relevance",
        lambda: PositionBasedModel().click_probabilities([0, 1, np.nan]),
        InvalidInputError,
        r"finite.*position 2 \(nan\)",
    ),
    (
        "inf relevance in matrix",
        lambda: DynamicBayesianNetwork().simulate_many([[0.0, 1.0], [np.inf, 0.0]], rng=RNG),
        InvalidInputError,
        r"\(session 1, position 0\) \(inf\)",
    ),
    (
        "relevance above max_grade",
        lambda: CascadeModel(max_grade=2).click_probabilities([0, 3]),
        InvalidInputError,
        r"max_grade=2.*position 1 \(3\.0\)",
    ),
    (
        "2-D input to simulate",
        lambda: CascadeModel().simulate([[1, 0], [0, 1]], rng=RNG),
        InvalidInputError,
        r"1-D.*simulate_many.*shape \(2, 2\)",
    ),
    (
        "1-D input to simulate_many",
        lambda: CascadeModel().simulate_many([1, 0], rng=RNG),
        InvalidInputError,
        r"2-D.*shape \(2,\)",
    ),
    (
        "non-numeric relevance",
        lambda: CascadeModel().click_probabilities(["a", "b"]),
        InvalidInputError,
        r"relevance must be an array of non-negative numbers",
    ),
    (
        "seed instead of generator",
        lambda: CascadeModel().simulate([1], rng=42),  # type: ignore[arg-type]
        InvalidInputError,
        r"rng must be a numpy.random.Generator.*got 42",
    ),
    (
        "gamma 1.5",
        lambda: DynamicBayesianNetwork(gamma=1.5),
        InvalidInputError,
        r"gamma must be .*\[0\.0, 1\.0\], got 1\.5",
    ),
    (
        "eta -1",
        lambda: PositionBasedModel(eta=-1),
        InvalidInputError,
        r"eta must be .*>= 0\.0, got -1",
    ),
    (
        "eta and examination",
        lambda: PositionBasedModel(eta=1.0, examination=[1.0]),
        InvalidInputError,
        r"either eta or examination",
    ),
    (
        "examination out of range",
        lambda: PositionBasedModel(examination=[1.0, 1.2]),
        InvalidInputError,
        r"examination.*\[0, 1\].*position 1 \(1\.2\)",
    ),
    (
        "min above max attractiveness",
        lambda: CascadeModel(min_attractiveness=0.6, max_attractiveness=0.4),
        InvalidInputError,
        r"min_attractiveness must be <= max_attractiveness.*0\.6.*0\.4",
    ),
    (
        "max_grade 0",
        lambda: CascadeModel(max_grade=0),
        InvalidInputError,
        r"max_grade must be an integer >= 1.*got 0",
    ),
    (
        "boolean gamma",
        lambda: DynamicBayesianNetwork(gamma=True),
        InvalidInputError,
        r"gamma must be a real number.*bool",
    ),
    (
        "unknown model name",
        lambda: make_click_model("ubm"),
        UnknownNameError,
        r"unknown click model 'ubm'; expected one of pbm, cascade, dbn",
    ),
    (
        "unknown parameter",
        lambda: make_click_model("cascade", gamma=0.5),
        InvalidInputError,
        r"unknown parameter\(s\) gamma for click model 'cascade'",
    ),
]


@pytest.mark.parametrize(
    ("make", "error", "match"),
    [case[1:] for case in BAD_INPUTS],
    ids=[case[0] for case in BAD_INPUTS],
)
def test_bad_inputs(make: Callable[[], object], error: type[Exception], match: str) -> None:
    with pytest.raises(error, match=match):
        make()


def test_errors_are_value_errors() -> None:
    with pytest.raises(ValueError, match="unknown click model 'nope'"):
        make_click_model("nope")


@pytest.mark.parametrize("name", ["pbm", "cascade", "dbn"])
def test_scalar_sampler_matches_closed_form(name):
    # simulate_grades is the online loop's fast path: it must sample the same model
    model = make_click_model(name, max_grade=2)
    grades = [2, 0, 1, 2, 0, 0, 1]
    rng = np.random.default_rng(11)
    n = 60_000
    counts = np.zeros(len(grades))
    for _ in range(n):
        counts[model.simulate_grades(grades, rng=rng)] += 1
    expected = model.click_probabilities(grades)
    se = np.sqrt(expected * (1 - expected) / n)
    assert np.all(np.abs(counts / n - expected) <= 4 * se + 1e-9)


def test_scalar_sampler_validates_like_simulate():
    model = make_click_model("dbn")
    rng = np.random.default_rng(0)
    with pytest.raises(InvalidInputError, match=r"relevance must be finite and >= 0.*position 1"):
        model.simulate_grades([0, -1], rng=rng)
    with pytest.raises(InvalidInputError, match=r"relevance must be <= max_grade=1.*position 1"):
        model.simulate_grades([0, 7], rng=rng)
    assert model.simulate_grades([], rng=rng) == []
