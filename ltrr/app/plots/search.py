"""Figures of searches: one response (plans, pool provenance, stage times), stage times over many requests, feature importance."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Collection, Mapping, Sequence
from typing import TYPE_CHECKING

from ltrr.app.plots.style import _new_figure
from ltrr.errors import InvalidInputError

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

    from ltrr.engine import SearchResponse

#: Stages of :attr:`SearchResponse.timings_ms`, in pipeline order.
STAGES = ("signals", "features", "select", "retrieve", "complete", "rank", "log", "total")


def response_figure(
    response: SearchResponse,
    *,
    relevant: Collection[str] = (),
    top_plans: int = 12,
    title: str | None = None,
) -> Figure:
    """Draw one search response: plan probabilities, pool provenance and stage timings.

    Parameters
    ----------
    response : SearchResponse
        What :meth:`Engine.search` returned.
    relevant : collection of str
        Item ids known to be relevant (ringed in the provenance panel).
    top_plans : int
        Most probable plans shown (default 12).
    title : str, optional
        Figure title.

    Returns
    -------
    matplotlib.figure.Figure
        Three panels: the plan distribution (chosen plan in red), every pool item
        placed by its rank in each strategy (items shown to the user filled), and
        the time spent per stage.

    Raises
    ------
    InvalidInputError
        If ``top_plans < 1``.
    """
    if isinstance(top_plans, bool) or not isinstance(top_plans, int) or top_plans < 1:
        raise InvalidInputError(f"top_plans must be an integer >= 1, got {top_plans!r}")
    fig = _new_figure(15.0, 4.4)
    ax_plan, ax_pool, ax_time = fig.subplots(1, 3, width_ratios=[1.2, 1.0, 0.9])
    probs = sorted(response.probabilities.items(), key=lambda t: -t[1])[:top_plans]
    names = [p for p, _ in probs]
    ax_plan.barh(
        names,
        [v for _, v in probs],
        color=["tab:red" if p == response.plan else "tab:gray" for p in names],
    )
    ax_plan.invert_yaxis()
    ax_plan.tick_params(axis="y", labelsize=7)
    ax_plan.set_xlabel("probability")
    ax_plan.set_title(f"plan drawn: {response.plan} (p={response.probability:.2f})", fontsize=10)
    _draw_pool(ax_pool, response, set(relevant))
    stages = [s for s in STAGES if s in response.timings_ms and s != "total"]
    ax_time.barh(stages, [response.timings_ms[s] for s in stages], color="tab:blue")
    ax_time.invert_yaxis()
    ax_time.set_xlabel("milliseconds")
    total = response.timings_ms.get("total", sum(response.timings_ms[s] for s in stages))
    ax_time.set_title(f"time per stage (total {total:.1f} ms)", fontsize=10)
    if title:
        fig.suptitle(title)
    return fig


def _draw_pool(ax: Axes, response: SearchResponse, relevant: set[str]) -> None:
    shown = {i.item_id for i in response.items}
    names = sorted({s for p in response.pool for s in p.ranks})
    if len(names) != 2:
        # one or many strategies: how many pool items each provenance set brought
        sets = Counter(" + ".join(sorted(p.ranks)) for p in response.pool)
        ax.barh(list(sets), list(sets.values()), color="tab:gray")
        ax.set_xlabel("pool items")
        ax.set_title(f"pool: {len(response.pool)} items by provenance", fontsize=10)
        return
    a, b = names
    miss_a = 1 + max((p.ranks.get(a, 0) for p in response.pool), default=0)
    miss_b = 1 + max((p.ranks.get(b, 0) for p in response.pool), default=0)
    for is_shown in (False, True):
        pts = [p for p in response.pool if (p.item_id in shown) == is_shown]
        ax.scatter(
            [p.ranks.get(a, miss_a) for p in pts],
            [p.ranks.get(b, miss_b) for p in pts],
            s=30 if is_shown else 12,
            c="tab:red" if is_shown else "tab:gray",
            alpha=0.9 if is_shown else 0.5,
            label=f"shown ({len(pts)})" if is_shown else f"pool only ({len(pts)})",
            zorder=3 if is_shown else 2,
        )
    rel = [p for p in response.pool if p.item_id in relevant]
    if rel:
        ax.scatter(
            [p.ranks.get(a, miss_a) for p in rel],
            [p.ranks.get(b, miss_b) for p in rel],
            s=140,
            facecolors="none",
            edgecolors="tab:green",
            lw=1.8,
            label=f"relevant ({len(rel)} of {len(relevant)})",
            zorder=4,
        )
    ax.axvline(miss_a - 0.5, color="0.7", lw=0.8, ls=":")
    ax.axhline(miss_b - 0.5, color="0.7", lw=0.8, ls=":")
    ax.set_xlabel(f"rank by {a} (right of the line: not drawn)")
    ax.set_ylabel(f"rank by {b} (above the line: not drawn)")
    ax.set_title(
        f"pool provenance: {len(response.pool)} items, {response.candidates_drawn} drawn",
        fontsize=10,
    )
    ax.legend(fontsize=7, loc="center")
    ax.grid(alpha=0.3)


def stage_timings_figure(
    timings: Sequence[Mapping[str, float]],
    *,
    stages: Sequence[str] | None = None,
    title: str | None = None,
) -> Figure:
    """Box plots of the time spent per stage over many requests (log scale).

    Parameters
    ----------
    timings : sequence of Mapping[str, float]
        One :attr:`SearchResponse.timings_ms` per request.
    stages : sequence of str, optional
        Stages to show (default: those of :data:`STAGES` present).
    title : str, optional
        Figure title.

    Returns
    -------
    matplotlib.figure.Figure
        The figure, with each stage's p50 and p99 in its label.

    Raises
    ------
    InvalidInputError
        If ``timings`` is empty or a requested stage is missing from a request.
    """
    import numpy as np

    if not timings:
        raise InvalidInputError("timings must hold at least one request's stage times")
    names = list(stages) if stages is not None else [s for s in STAGES if s in timings[0]]
    for s in names:
        missing = [i for i, t in enumerate(timings) if s not in t]
        if missing:
            raise InvalidInputError(f"stage {s!r} is missing from timings{missing[:5]}")
    data = [np.maximum([t[s] for t in timings], 1e-3) for s in names]
    labels = [
        f"{s}\np50 {np.percentile(d, 50):.2f}, p99 {np.percentile(d, 99):.2f}"
        for s, d in zip(names, data)
    ]
    fig = _new_figure(8.0, 0.6 + 0.55 * len(names))
    ax = fig.subplots()
    ax.boxplot(data, orientation="horizontal", tick_labels=labels, showfliers=True)
    ax.invert_yaxis()
    ax.set_xscale("log")
    ax.set_xlabel("milliseconds (log scale)")
    ax.tick_params(axis="y", labelsize=8)
    ax.grid(alpha=0.3, axis="x")
    ax.set_title(title or f"time per stage over {len(timings)} requests", fontsize=10)
    return fig


def importance_figure(
    importance: Mapping[str, float], *, top: int = 15, title: str | None = None
) -> Figure:
    """Horizontal bars of feature importances (e.g. :meth:`LambdaMARTRanker.feature_importance`).

    Parameters
    ----------
    importance : Mapping[str, float]
        Feature -> importance (any non-negative scale; shown as a share of the total).
    top : int
        Features shown, largest first (default 15).
    title : str, optional
        Panel title.

    Returns
    -------
    matplotlib.figure.Figure
        The figure.

    Raises
    ------
    InvalidInputError
        If ``importance`` is empty, holds a negative or non-finite value, or ``top < 1``.
    """
    if not importance:
        raise InvalidInputError("importance must hold at least one feature")
    if isinstance(top, bool) or not isinstance(top, int) or top < 1:
        raise InvalidInputError(f"top must be an integer >= 1, got {top!r}")
    bad = {k: v for k, v in importance.items() if not math.isfinite(v) or v < 0}
    if bad:
        raise InvalidInputError(f"importances must be finite and >= 0, got {bad}")
    total = sum(importance.values()) or 1.0
    pairs = sorted(importance.items(), key=lambda t: -t[1])[:top]
    fig = _new_figure(6.5, 0.6 + 0.28 * len(pairs))
    ax = fig.subplots()
    ax.barh([k for k, _ in pairs], [v / total for _, v in pairs], color="tab:purple")
    ax.invert_yaxis()
    ax.set_xlabel("share of total gain")
    ax.tick_params(axis="y", labelsize=8)
    ax.grid(alpha=0.3, axis="x")
    ax.set_title(title or "feature importance", fontsize=10)
    return fig
