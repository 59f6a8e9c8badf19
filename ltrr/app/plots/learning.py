"""The click-only demo's figure: fixed plans by latency and quality with the engine's point, and its learning curve."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from ltrr.app.plots.frontier import draw_frontier
from ltrr.app.plots.style import _new_figure
from ltrr.errors import InvalidInputError

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = ["click_only_figure"]


def click_only_figure(out: Mapping[str, Any], *, title: str | None = None) -> Figure:
    """Draw a frontier run: a latency panel and a learning-curve panel.

    Left: every fixed plan by held-out mean latency (ms) and nDCG@10, the frontier
    (no plan both faster and better) joined, and the engine's point after learning as
    a star. Right: the engine's held-out nDCG@10 (left axis) and mean latency (right
    axis) against the requests it had served.

    Parameters
    ----------
    out : Mapping[str, Any]
        From :func:`ltrr.app.frontier.run_frontier`.
    title : str, optional
        Figure title.

    Returns
    -------
    matplotlib.figure.Figure
        The figure.

    Raises
    ------
    InvalidInputError
        If ``out`` has no fixed plans or no engine curve.
    """
    frontier = list(out.get("frontier", []))
    curve = list(out.get("policies", {}).get("engine", {}).get("curve", []))
    if not frontier or not curve:
        raise InvalidInputError("out must hold 'frontier' plans and the engine's 'curve'")
    points = {
        r["plan"]: (float(r["latency_ms_mean"]), float(r["ndcg@10"]))
        for r in frontier
        if math.isfinite(r["latency_ms_mean"]) and math.isfinite(r["ndcg@10"])
    }
    fig = _new_figure(12.0, 4.8)
    left, right = fig.subplots(1, 2)
    draw_frontier(left, points)
    last = curve[-1]
    left.scatter(
        [last["latency_ms_mean"]],
        [last["ndcg@10"]],
        marker="*",
        s=260,
        color="tab:orange",
        edgecolor="black",
        zorder=5,
        label=f"engine after {last['requests']} requests (click-only)",
    )
    left.set_xlabel("held-out mean latency per request (ms)")
    left.set_ylabel("held-out nDCG@10")
    left.set_xlim(left=0)
    left.grid(alpha=0.3)
    left.legend(fontsize=8, loc="lower right")
    left.set_title("fixed plans and the learned engine", fontsize=10)
    xs = [p["requests"] for p in curve]
    right.plot(xs, [p["ndcg@10"] for p in curve], "-o", color="tab:orange", label="nDCG@10")
    right.set_xlabel("requests served (learning from clicks only)")
    right.set_ylabel("held-out nDCG@10", color="tab:orange")
    twin = right.twinx()
    twin.plot(xs, [p["latency_ms_mean"] for p in curve], "--s", color="tab:purple", label="latency")
    twin.set_ylabel("held-out mean latency (ms)", color="tab:purple")
    twin.set_ylim(bottom=0)
    right.grid(alpha=0.3)
    right.set_title("learning curve", fontsize=10)
    if title:
        fig.suptitle(title, fontsize=11)
    return fig
