"""Recall against cost: the Pareto frontier of fixed plans and its figure with learned policies."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from ltrr.app.plots.style import _colors, _new_figure
from ltrr.errors import InvalidInputError

if TYPE_CHECKING:
    from matplotlib.figure import Figure


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
    fig = _new_figure(8.5, 5.2)
    ax = fig.subplots()
    draw_frontier(ax, points, labels=labels)
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


def draw_frontier(
    ax: Any, points: Mapping[str, tuple[float, float]], *, labels: Mapping[str, str] | None = None
) -> list[str]:
    """Draw fixed plans on an axis: grey points, the Pareto frontier joined and labelled.

    Parameters
    ----------
    ax : matplotlib.axes.Axes
        Where to draw.
    points : Mapping[str, tuple of float]
        Fixed plan -> (cost, value).
    labels : Mapping[str, str], optional
        Text shown beside a frontier point instead of its name.

    Returns
    -------
    list of str
        The frontier plans, cheapest first.
    """
    front = pareto_frontier(points)
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
    return front
