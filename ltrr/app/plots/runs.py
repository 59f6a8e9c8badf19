"""Figures of online runs: per-window metrics of several runs, and the plans chosen per group."""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ltrr.app.plots.files import check_figure_path, save_figure
from ltrr.app.plots.style import _colors, _new_figure
from ltrr.errors import InvalidInputError

if TYPE_CHECKING:
    from matplotlib.figure import Figure

#: (metric key, axis label) of the panels :func:`windows_figure` draws by default.
DEFAULT_PANELS = (
    ("reward", "reward"),
    ("pool_recall", "pool recall"),
    ("ndcg@10", "nDCG@10"),
    ("candidates", "candidates drawn"),
)


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
