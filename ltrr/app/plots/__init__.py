"""Figures of searches, simulation runs and off-policy estimates.

Every ``*_figure`` function draws a :class:`matplotlib.figure.Figure` with the Agg
canvas, without touching global pyplot state (so it works on a machine without a
screen and in threads), and returns it: a notebook displays it, :func:`save_figure`
writes it. :func:`plot_windows` draws and saves in one call (used by ``ltrr demo``
and ``ltrr simulate --plot``).
"""

from ltrr.app.plots.files import FIGURE_FORMATS, check_figure_path, save_figure
from ltrr.app.plots.frontier import frontier_figure, pareto_frontier
from ltrr.app.plots.learning import click_only_figure
from ltrr.app.plots.ope import ESTIMATOR_LABELS as ESTIMATOR_LABELS
from ltrr.app.plots.ope import ope_figure
from ltrr.app.plots.runs import (
    DEFAULT_PANELS,
    plan_share_figure,
    plan_shares,
    plot_windows,
    windows_figure,
)
from ltrr.app.plots.search import STAGES as STAGES
from ltrr.app.plots.search import importance_figure, response_figure, stage_timings_figure

__all__ = [
    "DEFAULT_PANELS",
    "FIGURE_FORMATS",
    "check_figure_path",
    "click_only_figure",
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
