"""The "music with new releases" world: :class:`MusicReleasesWorld` and its :class:`ReleaseRequest`.

It is the music world of :mod:`simulators.worlds.music` (same listeners, intents, query
texts, misspellings, relevance and click model) with a clock and a release schedule:

* **New tracks**: a share ``new_share`` of the catalog (``round(new_share * 1084)``, 217
  at 0.2), chosen with a seed, are new releases. They are indexed from the start (the
  catalog holds every track) but their ``popularity`` is 0; every other track's
  popularity is the number of CM100k raters who had heard it before (the ``Known``
  column: 0-98, 30 old tracks have 0, so popularity 0 alone does not reveal a release).
  The catalog is fixed for the run, so a popularity prior never learns the new tracks.
* **Clock**: requests come in sequence; request ``k`` (``k = 0, 1, ...``, counted by
  :meth:`MusicReleasesWorld.sample`; :meth:`~MusicReleasesWorld.reset` restarts at 0) is
  at step ``k``. A run of ``horizon`` requests spans ``span_days`` days; inside a day the
  steps follow the hourly volume :data:`~simulators.worlds.music.HOURLY_PROFILE`, so
  ``context.timestamp`` increases strictly with the step and ``features["hour"]`` is its
  hour of day.
* **Releases**: new track ``j`` is released at a step ``s_j`` drawn uniformly in
  ``[release_span[0] * horizon, release_span[1] * horizon)`` (default: the first half of
  the run); its release time is the timestamp of step ``s_j``
  (:attr:`~MusicReleasesWorld.release_times`). Before it the track is never a target,
  is irrelevant to every request (it cannot be played) and a play of it (click noise) is
  dropped from :meth:`~MusicReleasesWorld.respond`. Listeners' :meth:`training_likes`
  (the history a service knew at the start) leave new tracks out.
* **Demand**: let ``w_j`` be the exact probability that the music world's request
  process targets track ``j`` (its anchor track: the known item, the artist's or the
  word's track). At step ``k`` the demand of ``j`` is 0 before release, ``w_j`` for an
  old track and ``w_j * (1 + burst * 2 ** (-(k - s_j) / (half_life * horizon)))`` for a
  released new track; the target of request ``k`` is drawn in proportion to the demand
  (:meth:`~MusicReleasesWorld.demand`). Concretely, with the burst's share of the total
  demand the request is a *burst request*: a released new track by its burst weight,
  then a listener and an intent in proportion to how the music world would reach that
  track; otherwise the music world's own process is drawn again until its target is
  released. New tracks hold about ``new_share`` of the steady demand, so once released
  they are about a fifth of the traffic, more during a burst.
* **Telling new-track requests apart**: every request is a :class:`ReleaseRequest`, a
  :class:`~simulators.worlds.base.SimRequest` with the hidden fields ``target`` (the
  anchor track), ``new_release`` (the target is a new track) and ``step``;
  :meth:`~MusicReleasesWorld.is_new_release_request` reads the flag and
  :attr:`~MusicReleasesWorld.new_items` lists the new tracks. ``intent`` keeps the music
  world's labels unless ``tag_new_intent=True`` (then ``"title:new"`` etc.).
* **Held-out requests**: :meth:`~MusicReleasesWorld.heldout` draws ``heldout_size``
  requests anchored on the held-out liked tracks (as the music world) at steps
  ``horizon, horizon + 1, ...``, after every release (``release_span[1] <= 1``); the
  new tracks' steady share and what is left of their bursts make some of them
  new-track requests. Seeded by ``seed``, so reproducible.

**Why the best fixed plan is not the cheapest**: what a memory index learns (plays,
queries -> items) and what a popularity prior knows are about old tracks; a new track
has neither before its release, and is then wanted by a burst of requests. A cheap plan
(one learned source, a small budget) serves old-track traffic well and misses the new
tracks; finding them needs a source that reads the catalog text (lexical or embedding
retrieval), with more candidates drawn. As the releases are spread over the run, the
index stays behind and exploring other sources keeps paying.
"""

from __future__ import annotations

import math
import os
from bisect import bisect_right
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from types import MappingProxyType
from typing import Any, ClassVar

import numpy as np

from ltrr.data import MusicDataset, load_cm100k
from ltrr.errors import InvalidInputError, UnknownNameError
from ltrr.types import Catalog
from ltrr.validation import check_bool, check_int, check_real
from simulators.worlds.base import Engagement, SimRequest
from simulators.worlds.music.demand import _check_positive, _check_span, _cum, _reach, _shares
from simulators.worlds.music.intents import (
    _BROAD,
    _N_UNIFORMS,
    _U_INTENT,
    _U_LISTENER,
    _U_TRACK,
    BASE_TIMESTAMP,
    DEVICES,
    INTENTS,
)
from simulators.worlds.music.traffic import _Pool
from simulators.worlds.music.world import MusicWorld

__all__ = ["MusicReleasesWorld", "ReleaseRequest"]

_MAX_REDRAWS = 10_000


@dataclass(frozen=True, slots=True)
class ReleaseRequest(SimRequest):
    """A music request with its hidden anchor track and whether that track is a new release.

    Parameters
    ----------
    target : str
        Item id of the anchor track (known item, the artist's or the word's track).
    new_release : bool
        Whether ``target`` is one of the world's new tracks.
    step : int
        The request's step on the world's clock.
    """

    target: str = ""
    new_release: bool = False
    step: int = -1


class MusicReleasesWorld(MusicWorld):
    """The music world with a share of tracks released during the run (see the module docstring).

    Parameters
    ----------
    dataset : MusicDataset
        CM100k (or use :meth:`from_folder`).
    new_share : float, default 0.2
        Share of the catalog's tracks that are new releases, in [0, 0.9].
    horizon : int, default 10_000
        Requests in a run: the scale of ``release_span``, ``half_life`` and the clock (>= 1).
    release_span : (float, float), default (0.0, 0.5)
        Releases are uniform over these fractions of ``horizon``; ``0 <= start <= end <= 1``.
    burst : float, default 4.0
        Extra demand of a new track at its release, as a multiple of its steady demand (>= 0).
    half_life : float, default 0.05
        Half-life of the burst, as a fraction of ``horizon`` (> 0).
    span_days : float, default 28.0
        Days covered by ``horizon`` requests (> 0).
    tag_new_intent : bool, default False
        Suffix ``":new"`` to the intent label of new-track requests.
    seed : int, default 0
        Seed of the world's fixed structure (as the music world) and of the releases.
    **params
        The other keyword parameters of :class:`~simulators.worlds.music.MusicWorld`.

    Raises
    ------
    InvalidInputError
        If a parameter is out of range (the message names it and its value).
    """

    name: ClassVar[str] = "music_releases"

    def __init__(
        self,
        *,
        dataset: MusicDataset,
        new_share: float = 0.2,
        horizon: int = 10_000,
        release_span: Sequence[float] = (0.0, 0.5),
        burst: float = 4.0,
        half_life: float = 0.05,
        span_days: float = 28.0,
        tag_new_intent: bool = False,
        seed: int = 0,
        **params: Any,
    ) -> None:
        self.new_share = check_real("new_share", new_share, low=0.0, high=0.9)
        self.horizon = check_int("horizon", horizon, low=1)
        self.release_span = _check_span(release_span)
        self.burst = check_real("burst", burst, low=0.0)
        self.half_life = _check_positive("half_life", half_life)
        self.span_days = _check_positive("span_days", span_days)
        self.tag_new_intent = check_bool("tag_new_intent", tag_new_intent)
        seed = check_int("seed", seed, low=0)
        if not isinstance(dataset, MusicDataset):
            raise InvalidInputError(
                "dataset must be a MusicDataset (from ltrr.data.load_cm100k), "
                f"got {type(dataset).__name__}"
            )
        items = list(dataset.catalog)
        rng = np.random.default_rng([seed, 2])
        n_new = round(self.new_share * len(items))
        new = np.sort(rng.choice(len(items), size=n_new, replace=False)).tolist()
        lo, hi = (x * self.horizon for x in self.release_span)
        steps = np.floor(lo + rng.random(n_new) * (hi - lo)).astype(np.int64)
        steps = np.minimum(steps, max(math.ceil(hi) - 1, int(lo))).tolist()
        known = dataset.ratings.groupby("item_id")["known"].sum()
        heard = {str(i): float(n) for i, n in known.items()}
        new_set = set(new)
        catalog = Catalog(
            (
                replace(item, popularity=0.0 if i in new_set else heard.get(item.id, 0.0))
                for i, item in enumerate(items)
            ),
            name=dataset.catalog.name,
        )
        super().__init__(
            dataset=MusicDataset(catalog=catalog, ratings=dataset.ratings), seed=seed, **params
        )
        self._new_idx = np.asarray(new, dtype=np.int64)
        self._new_steps = np.asarray(steps, dtype=np.int64)
        self._release_step = np.zeros(len(items), dtype=np.int64)
        self._release_step[self._new_idx] = self._new_steps
        self._step_of = {self._ids[i]: s for i, s in zip(new, steps)}
        self._time_of = {item: self.clock(s)[0] for item, s in self._step_of.items()}
        self._halflife_steps = self.half_life * self.horizon
        self._q = [  # P(device d, drawn intent c) of the music world
            [self.device_mix[d] * p for p in np.diff([0.0, *self._intent_cum[k]]).tolist()]
            for k, d in enumerate(DEVICES)
        ]
        self._train_share, self._train_reach = _shares(self._q, self._train, len(self._ids), new)
        self._step = 0

    @classmethod
    def from_folder(cls, folder: str | os.PathLike[str], **params: Any) -> MusicReleasesWorld:
        """Load CM100k from ``folder`` and build the world (``params``: the constructor's)."""
        return cls(dataset=load_cm100k(folder), **params)

    # ----------------------------------------------------------------------- releases

    @property
    def new_items(self) -> frozenset[str]:
        """Item ids of the new tracks."""
        return frozenset(self._step_of)

    @property
    def release_steps(self) -> Mapping[str, int]:
        """The step at which each new track is released."""
        return MappingProxyType(self._step_of)

    @property
    def release_times(self) -> Mapping[str, float]:
        """The release timestamp of each new track (requests at or after it may target it)."""
        return MappingProxyType(self._time_of)

    @property
    def step(self) -> int:
        """The step of the next request drawn by :meth:`sample`."""
        return self._step

    def reset(self) -> None:
        """Restart the clock at step 0 (a new run with the same world)."""
        self._step = 0

    def clock(self, step: int) -> tuple[float, int]:
        """Return the ``(timestamp, hour of day)`` of a step; strictly increasing timestamps."""
        day_f = (check_int("step", step, low=0) + 0.5) * self.span_days / self.horizon
        day = math.floor(day_f)
        frac = day_f - day
        hour = min(bisect_right(self._hour_cum, frac), 23)
        low = self._hour_cum[hour - 1] if hour else 0.0
        within = (frac - low) / (self._hour_cum[hour] - low)
        return BASE_TIMESTAMP + day * 86_400.0 + (hour + within) * 3_600.0, hour

    def is_new_release_request(self, request: SimRequest) -> bool:
        """Whether ``request`` targets a new track (False for a request of another world)."""
        return isinstance(request, ReleaseRequest) and request.new_release

    def demand(self, item_id: str, step: int) -> float:
        """Return the probability that the request at ``step`` targets ``item_id``.

        Raises
        ------
        UnknownNameError
            If ``item_id`` is not in the catalog.
        """
        index = self._index.get(item_id) if isinstance(item_id, str) else None
        if index is None:
            raise UnknownNameError(f"unknown item {item_id!r}; expected a catalog track id")
        step = check_int("step", step, low=0)
        boost, total = self._burst_weights(self._train_share, step)
        if self._release_step[index] > step:
            return 0.0
        share = float(self._train_share[index])
        where = np.flatnonzero(self._new_idx == index)
        extra = float(boost[where[0]]) if where.size else 0.0
        return (share + extra) / total

    # ----------------------------------------------------------------------- World API

    def training_likes(self, user_id: str) -> Mapping[str, int]:
        """Return a listener's liked tracks outside the held-out share, minus the new tracks."""
        return MappingProxyType(
            {i: r for i, r in super().training_likes(user_id).items() if i not in self._step_of}
        )

    def sample(self, rng: np.random.Generator) -> ReleaseRequest:
        """Draw the request of the current step and advance the clock by one."""
        if not isinstance(rng, np.random.Generator):
            raise InvalidInputError(
                f"rng must be a numpy.random.Generator, got {type(rng).__name__}"
            )
        request = self._draw_at(self._train, self._train_share, self._train_reach, self._step, rng)
        self._step += 1
        return request

    def sample_many(self, n: int, rng: np.random.Generator) -> list[SimRequest]:
        """Draw ``n`` requests of consecutive steps, as ``n`` calls of :meth:`sample`."""
        n = check_int("n", n, low=0)
        return [self.sample(rng) for _ in range(n)]

    def heldout(self) -> list[SimRequest]:
        """Return ``heldout_size`` held-out requests at steps ``horizon, horizon + 1, ...``."""
        if self._heldout is None:
            pool = self._heldout_pool
            if not pool.listeners or self.heldout_size == 0:
                self._heldout = []
            else:
                share, reach = _shares(self._q, pool, len(self._ids), self._new_idx.tolist())
                rng = np.random.default_rng([self.seed, 3])
                steps = range(self.horizon, self.horizon + self.heldout_size)
                self._heldout = [self._draw_at(pool, share, reach, k, rng) for k in steps]
        return list(self._heldout)

    def respond(
        self, request: SimRequest, ranking: Sequence[str], rng: np.random.Generator
    ) -> list[Engagement]:
        """As the music world, without plays (or skips) of tracks not released at the request."""
        out = super().respond(request, ranking, rng)
        ts = request.context.timestamp
        if ts is None:
            return out
        return [e for e in out if self._time_of.get(e.item_id, -math.inf) <= ts]

    def info(self) -> Mapping[str, object]:
        """Describe the world's settings for reports."""
        return {
            **super().info(),
            "new_share": self.new_share,
            "n_new_items": len(self._step_of),
            "horizon": self.horizon,
            "release_span": list(self.release_span),
            "burst": self.burst,
            "half_life": self.half_life,
            "span_days": self.span_days,
            "tag_new_intent": self.tag_new_intent,
        }

    # ----------------------------------------------------------------------- drawing

    def _burst_weights(self, share: np.ndarray, step: int) -> tuple[np.ndarray, float]:
        """Burst demand of each new track at ``step``, and the total demand."""
        age = step - self._new_steps
        released = age >= 0
        decay = np.exp2(-np.maximum(age, 0) / self._halflife_steps)
        boost = np.where(released, share[self._new_idx] * self.burst * decay, 0.0)
        unreleased = share[self._new_idx][~released].sum()
        return boost, float(share.sum() - unreleased + boost.sum())

    def _draw_at(
        self,
        pool: _Pool,
        share: np.ndarray,
        reach: list[tuple[list[int], list[float]]],
        step: int,
        rng: np.random.Generator,
    ) -> ReleaseRequest:
        boost, total = self._burst_weights(share, step)
        p_burst = float(boost.sum()) / total if total > 0 else 0.0
        pick = rng.random()
        if pick < p_burst:
            cum = np.cumsum(boost)
            n = min(int(np.searchsorted(cum, pick / p_burst * cum[-1], side="right")), len(cum) - 1)
            u = rng.random(_N_UNIFORMS).tolist()
            slots, weights = reach[n]
            slot = slots[min(bisect_right(_cum(weights), u[_U_LISTENER]), len(slots) - 1)]
            target = int(self._new_idx[n])
            joint = _reach(self._q, pool, slot, target)
            k = min(bisect_right(_cum(joint), u[_U_INTENT]), len(joint) - 1)
            d, c = divmod(k, len(INTENTS))
            code = pool.resolved[slot][c]
            word = ""
            if code == _BROAD:
                words = [w for i, w in pool.anchors[slot][3] if i == target]
                word = words[min(int(u[_U_TRACK] * len(words)), len(words) - 1)]
        else:
            for _ in range(_MAX_REDRAWS):
                u = rng.random(_N_UNIFORMS).tolist()
                slot, d, code, target, word = self._pick(pool, u)
                if self._release_step[target] <= step:
                    break
            else:  # pragma: no cover - needs a pool of (nearly) only unreleased tracks
                raise InvalidInputError(f"no released track to request at step {step}")
        request = self._compose(pool, slot, d, code, target, word, u, clock=self.clock(step))
        relevance = request.relevance
        if any(self._step_of.get(i, -1) > step for i in relevance):
            relevance = MappingProxyType(
                {i: g for i, g in relevance.items() if self._step_of.get(i, -1) <= step}
            )
        item = self._ids[target]
        is_new = item in self._step_of
        intent = f"{request.intent}:new" if is_new and self.tag_new_intent else request.intent
        return ReleaseRequest(
            request.query, request.context, relevance, intent, request.max_grade, item, is_new, step
        )
