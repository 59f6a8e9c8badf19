"""Demand arithmetic of the releases world: exact target shares, reach of a track, checks.

``q[d][c]`` is the music world's probability of device ``d`` and drawn intent ``c``
(before a listener's fallbacks); a pool's listener probabilities and resolved intents
then give the exact probability that a request targets each track.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ltrr.errors import InvalidInputError
from ltrr.validation import check_real, is_real
from simulators.worlds.music.intents import (
    _ARTIST,
    _BROAD,
    _MISSPELLED,
    _PREFIX,
    _TITLE,
    _TITLE_ARTIST,
    INTENTS,
)
from simulators.worlds.music.traffic import _Pool

__all__: list[str] = []


def _reach(q: list[list[float]], pool: _Pool, slot: int, target: int) -> list[float]:
    """P(device, drawn intent, target) for one listener slot, by ``d * 6 + c``."""
    tracks, named, misspellable, broad = pool.anchors[slot]
    resolved = pool.resolved[slot]
    by_code = [0.0] * len(INTENTS)
    if target in tracks:
        by_code[_TITLE] = by_code[_PREFIX] = 1.0 / len(tracks)
    if target in named:
        by_code[_TITLE_ARTIST] = by_code[_ARTIST] = 1.0 / len(named)
    if target in misspellable:
        by_code[_MISSPELLED] = 1.0 / len(misspellable)
    if broad:
        by_code[_BROAD] = sum(1 for i, _ in broad if i == target) / len(broad)
    return [qv * by_code[resolved[c]] for row in q for c, qv in enumerate(row)]


def _shares(
    q: list[list[float]], pool: _Pool, n_items: int, new_idx: list[int]
) -> tuple[np.ndarray, list[tuple[list[int], list[float]]]]:
    """Each track's target probability, and per new track the listener slots reaching it."""
    share = np.zeros(n_items)
    listener_p = np.diff([0.0, *pool.cumulative]).tolist()
    new = {int(i): n for n, i in enumerate(new_idx)}
    reach: list[tuple[list[int], list[float]]] = [([], []) for _ in new]
    for slot, p_u in enumerate(listener_p):
        tracks, named, misspellable, broad = pool.anchors[slot]
        resolved = pool.resolved[slot]
        pr = [0.0] * len(INTENTS)  # P(intent used) for this listener
        for row in q:
            for c, qv in enumerate(row):
                pr[resolved[c]] += qv
        local: dict[int, float] = {}
        for targets, p in (
            (tracks, pr[_TITLE] + pr[_PREFIX]),
            (named, pr[_TITLE_ARTIST] + pr[_ARTIST]),
            (misspellable, pr[_MISSPELLED]),
            ([i for i, _ in broad], pr[_BROAD]),
        ):
            if targets and p > 0:
                each = p_u * p / len(targets)
                for t in targets:
                    local[t] = local.get(t, 0.0) + each
        for t, p in local.items():
            share[t] += p
            if t in new:
                reach[new[t]][0].append(slot)
                reach[new[t]][1].append(p)
    return share, reach


def _cum(weights: Sequence[float]) -> list[float]:
    total = float(sum(weights))
    out, acc = [], 0.0
    for w in weights:
        acc += w
        out.append(acc / total)
    return out


def _check_positive(name: str, value: object) -> float:
    number = check_real(name, value, low=0.0)
    if number <= 0:
        raise InvalidInputError(f"{name} must be a finite number > 0, got {value!r}")
    return number


def _check_span(span: object) -> tuple[float, float]:
    ok = (
        isinstance(span, Sequence)
        and not isinstance(span, str)
        and len(span) == 2
        and all(is_real(x) and 0.0 <= float(x) <= 1.0 for x in span)
        and float(span[0]) <= float(span[1])
    )
    if not ok:
        raise InvalidInputError(
            "release_span must be two fractions of the horizon (start, end) with "
            f"0 <= start <= end <= 1, got {span!r}"
        )
    assert isinstance(span, Sequence)
    return float(span[0]), float(span[1])
