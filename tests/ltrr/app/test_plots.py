from __future__ import annotations

import pytest

from ltrr.app.plots import (
    check_figure_path,
    frontier_figure,
    importance_figure,
    ope_figure,
    pareto_frontier,
    plan_share_figure,
    plan_shares,
    plot_windows,
    response_figure,
    save_figure,
    stage_timings_figure,
    windows_figure,
)
from ltrr.engine import ScoredItem, SearchResponse
from ltrr.errors import InvalidInputError
from ltrr.fusion import PooledItem

PNG = b"\x89PNG\r\n\x1a\n"


def _windows():
    return [
        {
            "start": float(s),
            "requests": 10.0,
            "reward": 0.5 + s / 100,
            "pool_recall": 0.9,
            "ndcg@10": 0.7,
            "candidates": 50.0,
        }
        for s in range(0, 50, 10)
    ]


def _png(path):
    data = path.read_bytes()
    assert data[:8] == PNG and len(data) > 10_000
    return data


def test_plot_windows_writes_a_figure(tmp_path):
    windows = _windows()
    path = plot_windows(
        {"engine": {"windows": windows}, "lexical=100": {"windows": windows}},
        tmp_path / "fig" / "runs.png",
        title="test",
    )
    _png(path)


def test_windows_figure_has_one_panel_per_metric_and_one_line_per_run():
    fig = windows_figure(
        {"engine": {"windows": _windows()}, "rrf": {"windows": _windows()}},
        panels=[("reward", "reward"), ("candidates", "candidates")],
    )
    axes = fig.get_axes()
    assert [a.get_title() for a in axes] == ["reward", "candidates"]
    assert all(len(a.get_lines()) == 2 for a in axes)
    # the engine is drawn thicker than the fixed plan
    engine, rrf = axes[0].get_lines()
    assert engine.get_linewidth() > rrf.get_linewidth()


def test_windows_figure_rejects_bad_reports():
    with pytest.raises(InvalidInputError, match="at least one run"):
        windows_figure({})
    with pytest.raises(InvalidInputError, match="report 'x' has no 'windows'"):
        windows_figure({"x": {"totals": {}}})


@pytest.mark.parametrize("suffix", [".png", ".svg", ".pdf"])
def test_save_figure_formats(tmp_path, suffix):
    fig = importance_figure({"a": 2.0, "b": 1.0})
    out = save_figure(fig, tmp_path / "sub" / f"f{suffix}")
    assert out.is_file() and out.stat().st_size > 1000


def test_bad_figure_path_and_dpi_are_named(tmp_path):
    with pytest.raises(InvalidInputError, match=r"figure path '.*f\.gif' must end in one of"):
        check_figure_path(tmp_path / "f.gif")
    fig = importance_figure({"a": 1.0})
    with pytest.raises(InvalidInputError, match="dpi must be an integer >= 1, got 0"):
        save_figure(fig, tmp_path / "f.png", dpi=0)


def _response():
    pool = (
        PooledItem("d1", {"embedding": 1, "lexical": 2}, {"embedding": 0.9, "lexical": 7.0}),
        PooledItem("d2", {"lexical": 1}, {"lexical": 9.0}),
        PooledItem("d3", {"embedding": 2}, {"embedding": 0.8}),
        PooledItem("d4", {"embedding": 3, "lexical": 3}, {"embedding": 0.7, "lexical": 5.0}),
    )
    return SearchResponse(
        request_id="x-1",
        items=(ScoredItem("d1", 2.0, 1), ScoredItem("d2", 1.0, 2)),
        plan="embedding=3+lexical=3",
        probability=0.6,
        probabilities={"embedding=3+lexical=3": 0.6, "lexical=3": 0.3, "embedding=3": 0.1},
        pool=pool,
        candidates_drawn=6,
        ranker="lambdamart",
        timings_ms={
            "features": 0.2,
            "select": 0.1,
            "retrieve": 7.0,
            "complete": 0.5,
            "rank": 1.0,
            "log": 0.05,
            "total": 8.85,
        },
    )


def test_response_figure_shows_plans_provenance_and_stages(tmp_path):
    fig = response_figure(_response(), relevant={"d1", "d9"})
    plan_ax, pool_ax, time_ax = fig.get_axes()
    assert "embedding=3+lexical=3" in plan_ax.get_title()
    bars = plan_ax.patches
    assert len(bars) == 3 and bars[0].get_width() == pytest.approx(0.6)
    # shown, pool-only and relevant markers; the relevant one found 1 of the 2 relevant items
    labels = pool_ax.get_legend_handles_labels()[1]
    assert labels == ["pool only (2)", "shown (2)", "relevant (1 of 2)"]
    assert "total 8.8 ms" in time_ax.get_title() and len(time_ax.patches) == 6
    _png(save_figure(fig, tmp_path / "r.png"))


def test_response_figure_with_one_strategy_counts_provenance():
    r = _response()
    one = SearchResponse(
        r.request_id,
        r.items,
        "lexical=3",
        1.0,
        {"lexical=3": 1.0},
        tuple(PooledItem(p.item_id, {"lexical": i + 1}) for i, p in enumerate(r.pool)),
        4,
        "rrf",
        r.timings_ms,
    )
    fig = response_figure(one)
    assert "4 items by provenance" in fig.get_axes()[1].get_title()
    with pytest.raises(InvalidInputError, match="top_plans must be an integer >= 1, got 0"):
        response_figure(one, top_plans=0)


def test_stage_timings_figure_reports_percentiles():
    timings = [{"retrieve": float(i), "rank": 1.0, "total": float(i) + 1} for i in range(1, 101)]
    fig = stage_timings_figure(timings)
    labels = [t.get_text() for t in fig.get_axes()[0].get_yticklabels()]
    assert labels[0].startswith("retrieve\np50 50.50, p99 99.01")
    assert [s.split("\n")[0] for s in labels] == ["retrieve", "rank", "total"]
    with pytest.raises(InvalidInputError, match=r"stage 'rank' is missing from timings\[0\]"):
        stage_timings_figure([{"retrieve": 1.0}], stages=["rank"])
    with pytest.raises(InvalidInputError, match="at least one request"):
        stage_timings_figure([])


def test_importance_figure_normalises_and_validates():
    fig = importance_figure({"a": 3.0, "b": 1.0, "c": 0.0}, top=2)
    bars = fig.get_axes()[0].patches
    assert [b.get_width() for b in bars] == pytest.approx([0.75, 0.25])
    with pytest.raises(InvalidInputError, match="finite and >= 0"):
        importance_figure({"a": -1.0})
    with pytest.raises(InvalidInputError, match="top must be an integer >= 1, got 0"):
        importance_figure({"a": 1.0}, top=0)


def test_plan_shares_and_figure():
    records = [
        {"plan": "lexical=10", "intent": "title", "device": "app"},
        {"plan": "lexical=10", "intent": "title", "device": "voice"},
        {"plan": "embedding=50", "intent": "prefix", "device": "app"},
        {"plan": "embedding=10", "intent": "prefix", "device": "app"},
    ]
    shares = plan_shares(records, "intent")
    assert shares == {
        "prefix": {"embedding=50": 0.5, "embedding=10": 0.5},
        "title": {"lexical=10": 1.0},
    }
    fig = plan_share_figure(records, ["intent", "device"], top=2)
    ax_intent, ax_device = fig.get_axes()
    assert ax_intent.get_title() == "by intent"
    labels = [t.get_text() for t in ax_device.get_yticklabels()]
    assert labels == ["app (3)", "voice (1)"]
    # two plans with their own color plus "other", two groups each: six bars per panel
    assert len(ax_intent.patches) == 6
    # groups in natural order: digit runs compare as numbers
    phases = [{"plan": "a", "phase": p} for p in ("1001-2000", "1-400", "401-1000")]
    assert list(plan_shares(phases, "phase")) == ["1-400", "401-1000", "1001-2000"]
    with pytest.raises(InvalidInputError, match=r"records\[0\] lacks 'hour' or 'plan'"):
        plan_shares(records, "hour")
    with pytest.raises(InvalidInputError, match="by must name at least one grouping key"):
        plan_share_figure(records, [])


def _ope(value):
    return {
        "ope": {
            "dm": {"value": value, "ci_low": value - 0.02, "ci_high": value + 0.02},
            "ipw": {"value": value + 0.01, "ci_low": value - 0.05, "ci_high": value + 0.07},
        },
        "replay": {"value": value - 0.01, "n_matched": 100},
    }


def test_ope_figure_draws_estimates_and_truth(tmp_path):
    fig = ope_figure(
        {"lexical": _ope(0.5), "rrf": _ope(0.6)},
        {"lexical": (0.52, 0.01), "rrf": (0.58, 0.01)},
    )
    ax, ax_err = fig.get_axes()
    assert ax.get_legend_handles_labels()[1] == ["on-policy", "DM", "IPS", "replay"]
    # error panel: DM's errors are estimate minus truth per target
    (dm,) = [line for line in ax_err.get_lines() if line.get_label() == "DM"]
    assert list(dm.get_xdata()) == pytest.approx([-0.02, 0.02])
    _png(save_figure(fig, tmp_path / "ope.png"))
    with pytest.raises(
        InvalidInputError, match=r"truth lacks an on-policy value for targets \['rrf'\]"
    ):
        ope_figure({"rrf": _ope(0.6)}, {})


def test_pareto_frontier():
    points = {
        "a": (10.0, 0.5),
        "b": (20.0, 0.45),
        "c": (20.0, 0.7),
        "d": (30.0, 0.7),
        "e": (5.0, 0.1),
    }
    assert pareto_frontier(points) == ["e", "a", "c"]
    with pytest.raises(InvalidInputError, match="finite"):
        pareto_frontier({"a": (float("nan"), 1.0)})


def test_frontier_figure(tmp_path):
    points = {"lexical=10": (10.0, 0.6), "lexical=100": (100.0, 0.9), "embedding=10": (10.0, 0.5)}
    fig = frontier_figure(
        points, learned={"engine": (40.0, 0.85)}, target=(100.0, 0.95), title="frontier"
    )
    ax = fig.get_axes()[0]
    labels = ax.get_legend_handles_labels()[1]
    assert {"fixed plan", "fixed plan on the frontier", "goal region", "engine"} <= set(labels)
    assert {t.get_text() for t in ax.texts} == {"lexical=10", "lexical=100"}
    short = frontier_figure(points, labels={"lexical=10": "L10"})
    assert {t.get_text() for t in short.get_axes()[0].texts} == {"L10", "lexical=100"}
    _png(save_figure(fig, tmp_path / "f.png"))
    with pytest.raises(InvalidInputError, match="at least one plan"):
        frontier_figure({})
