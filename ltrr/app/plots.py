"""Figures of searches, simulation runs and off-policy estimates.

Every ``*_figure`` function draws a :class:`matplotlib.figure.Figure` with the Agg
canvas, without touching global pyplot state (so it works on a machine without a
screen and in threads), and returns it: a notebook displays it, :func:`save_figure`
writes it. :func:`plot_windows` draws and saves in one call (used by ``ltrr demo``
and ``ltrr simulate --plot``).
"""

from __future__ import annotations

import math
import re
from collections import Counter, defaultdict
from collections.abc import Collection, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ltrr.errors import InvalidInputError

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

    from ltrr.engine import SearchResponse

__all__ = [
    "DEFAULT_PANELS",
    "FIGURE_FORMATS",
    "check_figure_path",
    "frontier_figure",
    "importance_figure",
    "ope_figure",
    "pareto_frontier",
    "plan_share_figure",
    "plan_shares",
    "plot_windows",
    "response_figure",
    "save_figure",
    "stage_timings_figure",
    "windows_figure",
]

#: (metric key, axis label) of the panels :func:`windows_figure` draws by default.
DEFAULT_PANELS = (
    ("reward", "reward"),
    ("pool_recall", "pool recall"),
    ("ndcg@10", "nDCG@10"),
    ("candidates", "candidates drawn"),
)

#: File suffixes :func:`save_figure` writes.
FIGURE_FORMATS = (".png", ".svg", ".pdf")

#: Stages of :attr:`SearchResponse.timings_ms`, in pipeline order.
STAGES = ("signals", "features", "select", "retrieve", "complete", "rank", "log", "total")

#: Estimators of :func:`ltrr.simulators.offline.evaluate_target`, with display names.
ESTIMATOR_LABELS = {
    "dm": "DM",
    "ipw": "IPS",
    "snipw": "SNIPS",
    "dr": "DR",
    "sndr": "SNDR",
    "switch-dr": "Switch-DR",
}


def _new_figure(width: float, height: float) -> Figure:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def _colors(n: int) -> list[Any]:
    """``n`` distinct colors (tab10, then tab20 for more)."""
    from matplotlib import colormaps

    cmap = colormaps["tab10" if n <= 10 else "tab20"]
    return [cmap(i % cmap.N) for i in range(n)]


def check_figure_path(path: str | Path) -> Path:
    """Return ``path`` as a Path if its suffix names a format :func:`save_figure` writes.

    Parameters
    ----------
    path : str or Path
        The intended output file.

    Returns
    -------
    Path
        The same path.

    Raises
    ------
    InvalidInputError
        If the suffix is not one of :data:`FIGURE_FORMATS`.
    """
    out = Path(path)
    if out.suffix.lower() not in FIGURE_FORMATS:
        raise InvalidInputError(
            f"figure path {str(path)!r} must end in one of {', '.join(FIGURE_FORMATS)}"
        )
    return out


def save_figure(fig: Figure, path: str | Path, *, dpi: int = 110) -> Path:
    """Write a figure to a file (format by suffix), creating parent folders.

    Parameters
    ----------
    fig : matplotlib.figure.Figure
        The figure.
    path : str or Path
        Output file ending in ``.png``, ``.svg`` or ``.pdf``.
    dpi : int
        Resolution of raster output (default 110).

    Returns
    -------
    Path
        The file written.

    Raises
    ------
    InvalidInputError
        If the suffix is not supported or ``dpi`` is not a positive integer.
    """
    out = check_figure_path(path)
    if isinstance(dpi, bool) or not isinstance(dpi, int) or dpi < 1:
        raise InvalidInputError(f"dpi must be an integer >= 1, got {dpi!r}")
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=dpi)
    return out


# ------------------------------------------------------------------------ online runs
def windows_figure(
    reports: Mapping[str, Mapping[str, Any]],
    *,
    panels: Sequence[tuple[str, str]] = DEFAULT_PANELS,
    title: str | None = None,
    highlight: str = "engine",
) -> Figure:
    """Draw per-window metrics of several runs side by side, one panel per metric.

    Parameters
    ----------
    reports : Mapping[str, Mapping]
        Run name -> :meth:`SimulationReport.to_dict` output (``"windows"`` is used).
    panels : sequence of (str, str)
        (metric key, axis label) per panel.
    title : str, optional
        Figure title.
    highlight : str
        Run drawn with a thick solid line (default ``"engine"``); others are dashed.

    Returns
    -------
    matplotlib.figure.Figure
        The figure.

    Raises
    ------
    InvalidInputError
        If ``reports`` or ``panels`` is empty, or a report has no ``"windows"``.
    """
    if not reports:
        raise InvalidInputError("reports must hold at least one run")
    if not panels:
        raise InvalidInputError("panels must name at least one metric")
    for name, rep in reports.items():
        if "windows" not in rep:
            raise InvalidInputError(f"report {name!r} has no 'windows' (a SimulationReport dict)")
    fig = _new_figure(4.2 * len(panels), 3.6)
    axes = fig.subplots(1, len(panels), squeeze=False)[0]
    colors = _colors(len(reports))
    for ax, (key, label) in zip(axes, panels):
        for color, (name, rep) in zip(colors, reports.items()):
            windows = rep["windows"]
            x = [w["start"] + w["requests"] for w in windows]
            main = name == highlight
            ax.plot(
                x,
                [w.get(key, float("nan")) for w in windows],
                "-" if main else "--",
                marker="o",
                ms=3,
                color=color,
                label=name,
                lw=2.2 if main else 1.2,
            )
        ax.set_xlabel("requests")
        ax.set_title(label)
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=8)
    if title:
        fig.suptitle(title)
    return fig


def plot_windows(
    reports: Mapping[str, Mapping[str, Any]],
    path: str | Path,
    *,
    panels: Sequence[tuple[str, str]] = DEFAULT_PANELS,
    title: str | None = None,
    highlight: str = "engine",
) -> Path:
    """Plot per-window metrics of several runs side by side and save the figure.

    Parameters
    ----------
    reports : Mapping[str, Mapping]
        Run name -> :meth:`SimulationReport.to_dict` output (``"windows"`` is used).
    path : str or Path
        Output file (PNG, SVG or PDF by suffix).
    panels : sequence of (str, str)
        (metric key, axis label) per panel.
    title : str, optional
        Figure title.
    highlight : str
        Run drawn with a thick solid line (default ``"engine"``).

    Returns
    -------
    Path
        The file written.
    """
    check_figure_path(path)
    fig = windows_figure(reports, panels=panels, title=title, highlight=highlight)
    return save_figure(fig, path)


def plan_shares(
    records: Sequence[Mapping[str, Any]], by: str, *, plan_key: str = "plan"
) -> dict[str, dict[str, float]]:
    """Share of each plan among the records of each group.

    Parameters
    ----------
    records : sequence of Mapping
        One mapping per request, holding ``plan_key`` and ``by``.
    by : str
        The grouping key (e.g. ``"intent"`` or ``"device"``).
    plan_key : str
        The key holding the chosen plan (default ``"plan"``).

    Returns
    -------
    dict of str to dict of str to float
        Group -> plan -> share (each group's shares sum to 1), groups in natural order
        (digit runs compared as numbers, so "9 words" comes before "15 words").

    Raises
    ------
    InvalidInputError
        If a record lacks ``by`` or ``plan_key``.
    """
    counts: dict[str, Counter[str]] = defaultdict(Counter)
    for i, r in enumerate(records):
        if by not in r or plan_key not in r:
            raise InvalidInputError(
                f"records[{i}] lacks {by!r} or {plan_key!r}; it has keys {sorted(r)}"
            )
        counts[str(r[by])][str(r[plan_key])] += 1
    return {
        g: {p: n / sum(c.values()) for p, n in c.most_common()}
        for g, c in sorted(counts.items(), key=lambda t: _natural_key(t[0]))
    }


def _natural_key(text: str) -> tuple[tuple[int, int | str], ...]:
    """Sort key comparing digit runs as numbers: "9 words" < "15 words", "401-1000" < "1001-2000"."""
    return tuple(
        (0, int(part)) if part.isdigit() else (1, part) for part in re.split(r"(\d+)", text) if part
    )


def plan_share_figure(
    records: Sequence[Mapping[str, Any]],
    by: Sequence[str],
    *,
    plan_key: str = "plan",
    top: int = 7,
    title: str | None = None,
) -> Figure:
    """Stacked bars of the plans chosen per group, one panel per grouping key.

    The ``top`` plans most chosen overall get their own color (the same in every
    panel); the rest are pooled as "other".

    Parameters
    ----------
    records : sequence of Mapping
        One mapping per request with the plan and the grouping keys.
    by : sequence of str
        Grouping keys, one panel each (e.g. ``["intent", "device"]``).
    plan_key : str
        The key holding the chosen plan (default ``"plan"``).
    top : int
        Plans shown individually (default 7).
    title : str, optional
        Figure title.

    Returns
    -------
    matplotlib.figure.Figure
        The figure.

    Raises
    ------
    InvalidInputError
        If ``records`` or ``by`` is empty, ``top < 1``, or a record lacks a key.
    """
    if not records:
        raise InvalidInputError("records must hold at least one request")
    if not by:
        raise InvalidInputError("by must name at least one grouping key")
    if isinstance(top, bool) or not isinstance(top, int) or top < 1:
        raise InvalidInputError(f"top must be an integer >= 1, got {top!r}")
    tables = {key: plan_shares(records, key, plan_key=plan_key) for key in by}
    overall = Counter(str(r[plan_key]) for r in records)
    shown = [p for p, _ in overall.most_common(top)]
    other = len(overall) > len(shown)
    colors = dict(zip(shown, _colors(len(shown))))
    n_rows = max(len(t) for t in tables.values())
    fig = _new_figure(4.6 * len(by) + 2.6, max(2.6, 0.9 + 0.42 * n_rows))
    axes = fig.subplots(1, len(by), squeeze=False)[0]
    for ax, key in zip(axes, by):
        table = tables[key]
        groups = list(table)
        left = [0.0] * len(groups)
        for plan in [*shown, "other"] if other else shown:
            widths = [
                (
                    sum(s for p, s in table[g].items() if p not in colors)
                    if plan == "other"
                    else table[g].get(plan, 0.0)
                )
                for g in groups
            ]
            ax.barh(
                groups,
                widths,
                left=left,
                color=colors.get(plan, "0.8"),
                label=plan,
                edgecolor="white",
                lw=0.5,
            )
            left = [a + b for a, b in zip(left, widths)]
        counts = Counter(str(r[key]) for r in records)
        ax.set_yticks(range(len(groups)), [f"{g} ({counts[g]})" for g in groups])
        ax.invert_yaxis()
        ax.set_xlim(0, 1)
        ax.set_xlabel("share of requests")
        ax.set_title(f"by {key}")
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside right center", fontsize=8, title=plan_key)
    if title:
        fig.suptitle(title)
    return fig


# ------------------------------------------------------------------------ one search
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


# ------------------------------------------------------------------ off-policy estimates
def ope_figure(
    results: Mapping[str, Mapping[str, Any]],
    truth: Mapping[str, tuple[float, float]],
    *,
    estimators: Sequence[str] | None = None,
    title: str | None = None,
) -> Figure:
    """Off-policy estimates with their intervals beside each target's simulated value.

    Parameters
    ----------
    results : Mapping[str, Mapping]
        Target -> :func:`simulators.offline.evaluate_target` output (``"ope"`` holds
        ``{estimator: {value, ci_low, ci_high}}``; ``"replay"`` is drawn when present).
    truth : Mapping[str, tuple of float]
        Target -> (on-policy value, its standard error), e.g. from running the
        target in the simulator.
    estimators : sequence of str, optional
        Estimators to draw (default: every one in the first result).
    title : str, optional
        Figure title.

    Returns
    -------
    matplotlib.figure.Figure
        Left: per target, each estimator's value and interval, and the on-policy
        value with a 95% band (black). Right: each estimator's error against the
        on-policy value, per target, with the on-policy value's own 95% band (grey).

    Raises
    ------
    InvalidInputError
        If ``results`` is empty or a target has no on-policy value in ``truth``.
    """
    if not results:
        raise InvalidInputError("results must hold at least one target")
    missing = [t for t in results if t not in truth]
    if missing:
        raise InvalidInputError(f"truth lacks an on-policy value for targets {missing}")
    targets = list(results)
    names = list(estimators or next(iter(results.values()))["ope"])
    has_replay = any("value" in r.get("replay", {}) for r in results.values())
    series = [*names, "replay"] if has_replay else names
    colors = dict(zip(series, _colors(len(series))))
    width = 0.8 / (len(series) + 1)
    fig = _new_figure(max(8.0, 1.6 * len(targets)) + 5.0, 4.6)
    ax, ax_err = fig.subplots(1, 2, width_ratios=[max(8.0, 1.6 * len(targets)), 5.0])
    for j, name in enumerate(series):
        xs, ys, lo, hi, errs = [], [], [], [], []
        for i, t in enumerate(targets):
            r = results[t]
            est = r.get("replay", {}) if name == "replay" else r["ope"].get(name)
            if not est or "value" not in est:
                continue
            v = float(est["value"])
            xs.append(i + (j + 1) * width - 0.4)
            ys.append(v)
            lo.append(v - float(est.get("ci_low", v)))
            hi.append(float(est.get("ci_high", v)) - v)
            errs.append(v - truth[t][0])
        label = ESTIMATOR_LABELS.get(name, name)
        ax.errorbar(
            xs,
            ys,
            yerr=[lo, hi],
            fmt="o" if name != "replay" else "s",
            ms=4,
            capsize=2,
            color=colors[name],
            label=label,
            mfc="white" if name == "replay" else colors[name],
        )
        offset = (j - (len(series) - 1) / 2) * 0.5 / len(series)  # spread the estimators
        ax_err.plot(
            errs,
            [i + offset for i, t in enumerate(targets) if _has(results[t], name)],
            "o" if name != "replay" else "s",
            color=colors[name],
            mfc="white" if name == "replay" else colors[name],
            label=label,
        )
    for i, t in enumerate(targets):
        v, se = truth[t]
        ax.fill_between(
            [i - 0.45, i + 0.45], v - 1.96 * se, v + 1.96 * se, color="0.85", zorder=0, lw=0
        )
        ax.hlines(v, i - 0.45, i + 0.45, color="black", lw=2, label="on-policy" if i == 0 else None)
    ax.set_xticks(range(len(targets)), targets, rotation=20, ha="right", fontsize=8)
    ax.set_ylabel("value (click rate)")
    ax.set_title("estimates (95% intervals) and simulated on-policy value (black, 95% band)")
    ax.grid(alpha=0.3, axis="y")
    ax.legend(fontsize=7, ncol=2)
    for i, t in enumerate(targets):
        se = truth[t][1]
        ax_err.fill_betweenx([i - 0.4, i + 0.4], -1.96 * se, 1.96 * se, color="0.85", lw=0)
    ax_err.axvline(0.0, color="black", lw=1)
    ax_err.set_yticks(range(len(targets)), targets, fontsize=8)
    ax_err.invert_yaxis()
    ax_err.set_xlabel("estimate - on-policy value")
    ax_err.set_title("error per target")
    ax_err.grid(alpha=0.3)
    if title:
        fig.suptitle(title)
    return fig


def _has(result: Mapping[str, Any], name: str) -> bool:
    est = result.get("replay", {}) if name == "replay" else result["ope"].get(name)
    return bool(est) and "value" in est


# ------------------------------------------------------------------------ recall vs cost
def pareto_frontier(points: Mapping[str, tuple[float, float]]) -> list[str]:
    """Names of the points no other point beats on both cost (lower) and value (higher).

    Parameters
    ----------
    points : Mapping[str, tuple of float]
        Name -> (cost, value), e.g. (candidates drawn, pool recall).

    Returns
    -------
    list of str
        Frontier points by increasing cost (ties in cost keep the best value only).

    Raises
    ------
    InvalidInputError
        If a coordinate is not finite.
    """
    bad = {k: v for k, v in points.items() if not all(math.isfinite(c) for c in v)}
    if bad:
        raise InvalidInputError(f"points must have finite (cost, value), got {bad}")
    out: list[str] = []
    best = -math.inf
    for name, (_, value) in sorted(points.items(), key=lambda t: (t[1][0], -t[1][1], t[0])):
        if value > best:
            out.append(name)
            best = value
    return out


def frontier_figure(
    points: Mapping[str, tuple[float, float]],
    *,
    learned: Mapping[str, tuple[float, float]] | None = None,
    target: tuple[float, float] | None = None,
    labels: Mapping[str, str] | None = None,
    xlabel: str = "candidates drawn per request",
    ylabel: str = "pool recall",
    title: str | None = None,
) -> Figure:
    """Scatter fixed plans by cost and value, with their Pareto frontier and learned policies.

    Parameters
    ----------
    points : Mapping[str, tuple of float]
        Fixed plan -> (cost, value); frontier plans are labelled.
    learned : Mapping[str, tuple of float], optional
        Learned policy -> (cost, value), drawn as stars.
    target : tuple of float, optional
        A (cost, value) goal: the region at most that cost and at least that value is shaded.
    labels : Mapping[str, str], optional
        Text shown beside a frontier point instead of its name (e.g. a short form).
    xlabel, ylabel : str
        Axis labels.
    title : str, optional
        Panel title.

    Returns
    -------
    matplotlib.figure.Figure
        The figure.

    Raises
    ------
    InvalidInputError
        If ``points`` is empty or a coordinate is not finite.
    """
    if not points:
        raise InvalidInputError("points must hold at least one plan")
    front = pareto_frontier(points)
    fig = _new_figure(8.5, 5.2)
    ax = fig.subplots()
    others = [n for n in points if n not in front]
    ax.scatter(
        [points[n][0] for n in others],
        [points[n][1] for n in others],
        s=22,
        color="tab:gray",
        alpha=0.7,
        label="fixed plan",
    )
    fx = [points[n][0] for n in front]
    fy = [points[n][1] for n in front]
    ax.plot(fx, fy, "-o", color="tab:blue", ms=5, lw=1.5, drawstyle="steps-post")
    ax.scatter(fx, fy, s=30, color="tab:blue", zorder=3, label="fixed plan on the frontier")
    x_max = max(fx)
    for i, n in enumerate(front):
        # alternate below and above so neighbours don't collide; labels face inwards
        inward = -1 if points[n][0] > 0.7 * x_max else 1
        ax.annotate(
            (labels or {}).get(n, n),
            points[n],
            textcoords="offset points",
            xytext=(5 * inward, -11 if i % 2 == 0 else 6),
            ha="left" if inward > 0 else "right",
            fontsize=7,
            color="tab:blue",
        )
    if target is not None:
        cx, cy = target
        ax.fill_between([0, cx], cy, 1.0, color="tab:green", alpha=0.12, lw=0, label="goal region")
    for color, (name, (x, y)) in zip(_colors(10)[1:], (learned or {}).items()):
        ax.scatter(
            [x], [y], marker="*", s=260, color=color, edgecolor="black", zorder=5, label=name
        )
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ys = [v for _, v in points.values()] + [v for _, v in (learned or {}).values()]
    if target is not None:
        ys.append(target[1])
    span = max(ys) - min(ys)
    ax.set_ylim(min(ys) - 0.05 * span - 1e-3, min(max(ys) + 0.08 * span + 1e-3, 1.005))
    ax.set_xlim(left=0)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="lower right")
    ax.set_title(title or f"{ylabel} against {xlabel}", fontsize=10)
    return fig
