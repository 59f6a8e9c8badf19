"""Figures of simulation runs (matplotlib, drawn without touching global pyplot state)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

__all__ = ["plot_windows"]

DEFAULT_PANELS = (
    ("reward", "reward"),
    ("pool_recall", "pool recall"),
    ("ndcg@10", "nDCG@10"),
    ("candidates", "candidates drawn"),
)


def plot_windows(
    reports: Mapping[str, Mapping[str, Any]],
    path: str | Path,
    *,
    panels: Sequence[tuple[str, str]] = DEFAULT_PANELS,
    title: str | None = None,
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

    Returns
    -------
    Path
        The file written.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(4.2 * len(panels), 3.6), layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(1, len(panels))
    for ax, (key, label) in zip(axes, panels):
        for name, rep in reports.items():
            windows = rep["windows"]
            x = [w["start"] + w["requests"] for w in windows]
            style = "-" if name == "engine" else "--"
            ax.plot(
                x,
                [w.get(key, float("nan")) for w in windows],
                style,
                marker="o",
                ms=3,
                label=name,
                lw=2.2 if name == "engine" else 1.2,
            )
        ax.set_xlabel("requests")
        ax.set_title(label)
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=8)
    if title:
        fig.suptitle(title)
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=110)
    return out
