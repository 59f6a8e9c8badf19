"""Figure of off-policy estimates: each estimator's value and interval against the simulated on-policy value."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from ltrr.app.plots.style import _colors, _new_figure
from ltrr.errors import InvalidInputError

if TYPE_CHECKING:
    from matplotlib.figure import Figure

#: Estimators of :func:`ltrr.simulators.offline.evaluate_target`, with display names.
ESTIMATOR_LABELS = {
    "dm": "DM",
    "ipw": "IPS",
    "snipw": "SNIPS",
    "dr": "DR",
    "sndr": "SNDR",
    "switch-dr": "Switch-DR",
}


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
