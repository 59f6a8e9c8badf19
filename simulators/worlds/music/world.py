"""The music world's :class:`MusicWorld`: settings, the World API and intent distributions."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from types import MappingProxyType
from typing import Any, ClassVar

import numpy as np

from ltrr.data import MusicDataset, load_cm100k
from ltrr.errors import InvalidInputError, UnknownNameError
from ltrr.types import Catalog, EngagementKind
from ltrr.validation import check_int
from simulators.click_models import ClickModel, DynamicBayesianNetwork
from simulators.worlds.base import Engagement, SimRequest, World
from simulators.worlds.music.intents import (
    _N_UNIFORMS,
    DEFAULT_DEVICE_MIX,
    DEFAULT_INTENT_MIX,
    DEVICES,
    HOURLY_PROFILE,
    INTENTS,
    MAX_GRADE,
    _check_mix,
    _check_number,
    _cumulative,
)
from simulators.worlds.music.rephrases import _Rephrasing
from simulators.worlds.music.traffic import _Traffic

__all__ = ["MusicWorld"]


class MusicWorld(_Rephrasing, _Traffic, World):
    """Music search on CM100k: known-item, prefix, misspelled, artist and broad requests.

    See the :mod:`simulators.worlds.music` docstring for the exact listener, hour, device, intent, query
    and relevance model.

    Parameters
    ----------
    dataset : MusicDataset
        CM100k as loaded by :func:`ltrr.data.load_cm100k` (or use :meth:`from_folder`).
    click_model : ClickModel, optional
        How listeners scan a ranking; its ``max_grade`` must be at least
        :data:`MAX_GRADE` (3). Default ``DynamicBayesianNetwork(max_grade=3)``
        (gamma 0.9, attractiveness in [0.05, 0.95]).
    intent_mix : Mapping[str, float], optional
        Probability of each intent in :data:`INTENTS` before the device tilt; must
        sum to 1, missing intents get 0. Default :data:`DEFAULT_INTENT_MIX`
        (title 0.3, title_artist 0.15, prefix 0.15, misspelled 0.1, artist 0.15,
        broad 0.15).
    device_mix : Mapping[str, float], optional
        Probability of each device in :data:`DEVICES`; must sum to 1. Default
        :data:`DEFAULT_DEVICE_MIX` (app 0.5, desktop 0.3, voice 0.2).
    app_prefix_boost : float, default 2.0
        Multiplier of the ``prefix`` weight on ``app`` (>= 0).
    voice_misspell_boost : float, default 3.0
        Multiplier of the ``misspelled`` weight on ``voice`` (>= 0). Voice never
        produces ``prefix`` requests.
    like_threshold : int, default 3
        Ratings (1-4) at or above it count as liked.
    activity_skew : float, default 0.5
        A listener is picked with probability proportional to
        ``n_anchor_tracks ** activity_skew`` (0 = uniform; in [0, 4]).
    seed_users : int, optional
        Keep only this many listeners (a fixed-seed random subset); default all.
    heldout_share : float, default 0.2
        Share of each listener's liked tracks set aside for :meth:`heldout`, in
        [0, 0.9]; 0 makes :meth:`heldout` empty.
    heldout_size : int, default 500
        Number of held-out requests.
    broad_min_titles : int, default 5
        A word must appear in at least this many titles to be a broad query (>= 2).
    emit_skips : bool, default False
        Also return skips (shown above the last play, not played) from :meth:`respond`.
    rephrase_probability : float, default 0.0
        Probability in [0, 1] that a listener rephrases a request that got no play
        (:meth:`rephrase`; see :mod:`simulators.worlds.music.rephrases`). 0 (the
        default) turns rephrasing off.
    remishear_probability : float, default 0.25
        Probability in [0, 1] that a voice assistant mishears a clear rephrase again.
    voice_habit : float, default 0.0
        Probability in [0, 1] that a misspelled voice request uses the listener's
        habitual misspelling of the title; 0 (the default) leaves traffic unchanged.
    seed : int, default 0
        Seed of the world's fixed structure: listener subset, held-out split and
        held-out requests.

    Raises
    ------
    InvalidInputError
        If a parameter is out of range (the message names it, its value and what
        is expected), or a device has no possible intent.
    UnknownNameError
        If ``intent_mix`` or ``device_mix`` names an unknown intent or device.
    """

    name: ClassVar[str] = "music"

    def __init__(
        self,
        *,
        dataset: MusicDataset,
        click_model: ClickModel | None = None,
        intent_mix: Mapping[str, float] | None = None,
        device_mix: Mapping[str, float] | None = None,
        app_prefix_boost: float = 2.0,
        voice_misspell_boost: float = 3.0,
        like_threshold: int = 3,
        activity_skew: float = 0.5,
        seed_users: int | None = None,
        heldout_share: float = 0.2,
        heldout_size: int = 500,
        broad_min_titles: int = 5,
        emit_skips: bool = False,
        rephrase_probability: float = 0.0,
        remishear_probability: float = 0.25,
        voice_habit: float = 0.0,
        seed: int = 0,
    ) -> None:
        if click_model is None:
            click_model = DynamicBayesianNetwork(max_grade=MAX_GRADE)
        super().__init__(click_model=click_model)
        if click_model.max_grade < MAX_GRADE:
            raise InvalidInputError(
                f"click_model.max_grade must be >= {MAX_GRADE} (the music world grades "
                f"relevance 1-{MAX_GRADE}), got {click_model.max_grade}"
            )
        if not isinstance(dataset, MusicDataset):
            raise InvalidInputError(
                "dataset must be a MusicDataset (from ltrr.data.load_cm100k), "
                f"got {type(dataset).__name__}"
            )
        self.intent_mix = _check_mix(
            "intent_mix", DEFAULT_INTENT_MIX if intent_mix is None else intent_mix, INTENTS
        )
        self.device_mix = _check_mix(
            "device_mix", DEFAULT_DEVICE_MIX if device_mix is None else device_mix, DEVICES
        )
        self.app_prefix_boost = _check_number("app_prefix_boost", app_prefix_boost, low=0.0)
        self.voice_misspell_boost = _check_number(
            "voice_misspell_boost", voice_misspell_boost, low=0.0
        )
        self.like_threshold = check_int("like_threshold", like_threshold, low=1, high=4)
        self.activity_skew = _check_number("activity_skew", activity_skew, low=0.0, high=4.0)
        self.heldout_share = _check_number("heldout_share", heldout_share, low=0.0, high=0.9)
        self.heldout_size = check_int("heldout_size", heldout_size, low=0)
        self.broad_min_titles = check_int("broad_min_titles", broad_min_titles, low=2)
        if not isinstance(emit_skips, bool):
            raise InvalidInputError(f"emit_skips must be a bool, got {emit_skips!r}")
        self.emit_skips = emit_skips
        self.rephrase_probability = _check_number(
            "rephrase_probability", rephrase_probability, low=0.0, high=1.0
        )
        self.remishear_probability = _check_number(
            "remishear_probability", remishear_probability, low=0.0, high=1.0
        )
        self.voice_habit = _check_number("voice_habit", voice_habit, low=0.0, high=1.0)
        self._habits = {}
        self.seed = check_int("seed", seed, low=0)

        self._intent_probs: dict[str, dict[str, float]] = {}
        self._intent_cum: list[list[float]] = []
        for device in DEVICES:
            weights = [self.intent_mix[i] * self._tilt(device, i) for i in INTENTS]
            total = sum(weights)
            if total <= 0:
                if self.device_mix[device] > 0:
                    raise InvalidInputError(
                        f"device_mix gives {device!r} probability {self.device_mix[device]} but "
                        f"intent_mix {self.intent_mix!r} leaves it no possible intent "
                        "(voice never makes prefix requests); give another intent a weight"
                    )
                # never drawn: report zeros, keep a valid table for the sampler
                self._intent_probs[device] = dict.fromkeys(INTENTS, 0.0)
                self._intent_cum.append(_cumulative([1.0] * len(INTENTS)))
                continue
            self._intent_probs[device] = {i: w / total for i, w in zip(INTENTS, weights)}
            self._intent_cum.append(_cumulative(weights))
        self._device_cum = _cumulative([self.device_mix[d] for d in DEVICES])
        self._hour_cum = _cumulative(HOURLY_PROFILE)

        self._dataset = dataset
        self._build_catalog(dataset.catalog)
        self._build_listeners(dataset, seed_users)
        self._rel_cache = {}
        self._heldout: list[SimRequest] | None = None

    @classmethod
    def from_folder(cls, folder: str | os.PathLike[str], **params: Any) -> MusicWorld:
        """Load CM100k from ``folder`` and build the world.

        Parameters
        ----------
        folder : path-like
            The ``cm100k_music`` folder (``items.txt``, ``ratings.txt``).
        **params
            Keyword parameters of :class:`MusicWorld` other than ``dataset``.

        Returns
        -------
        MusicWorld
            The world.
        """
        return cls(dataset=load_cm100k(folder), **params)

    # ----------------------------------------------------------------------- build

    def _tilt(self, device: str, intent: str) -> float:
        if device == "app" and intent == "prefix":
            return self.app_prefix_boost
        if device == "voice" and intent == "misspelled":
            return self.voice_misspell_boost
        if device == "voice" and intent == "prefix":
            return 0.0
        return 1.0

    # ----------------------------------------------------------------------- World API

    @property
    def catalog(self) -> Catalog:
        """The CM100k tracks (fields ``title`` and ``artist``)."""
        return self._dataset.catalog

    @property
    def dataset(self) -> MusicDataset:
        """The CM100k data behind the world: tracks and every rating (the hidden taste)."""
        return self._dataset

    @property
    def listeners(self) -> tuple[str, ...]:
        """User ids of the listeners who make requests (raters with a liked track)."""
        return tuple(self._user_ids)

    def liked(self, user_id: str) -> Mapping[str, int]:
        """Return a listener's liked tracks and their ratings.

        Parameters
        ----------
        user_id : str
            One of :attr:`listeners`.

        Returns
        -------
        Mapping[str, int]
            Rating (``>= like_threshold``) by item id.

        Raises
        ------
        UnknownNameError
            If ``user_id`` is not a listener.
        """
        u = self._user_index.get(user_id) if isinstance(user_id, str) else None
        if u is None:
            raise UnknownNameError(
                f"unknown listener {user_id!r}; expected one of the {len(self._user_ids)} "
                f"listeners (e.g. {self._user_ids[:3]})"
            )
        return MappingProxyType({self._ids[i]: r for i, r in self._liked[u].items()})

    def training_likes(self, user_id: str) -> Mapping[str, int]:
        """Return a listener's liked tracks outside the held-out share, with their ratings.

        Training requests anchor only on these; held-out requests anchor on the others.
        They are what a service knowing the listener's whole listening history outside
        search could know (benchmarks use them as an optimistic personal signal).

        Parameters
        ----------
        user_id : str
            One of :attr:`listeners`.

        Returns
        -------
        Mapping[str, int]
            Rating by item id, a subset of :meth:`liked`.

        Raises
        ------
        UnknownNameError
            If ``user_id`` is not a listener.
        """
        liked = self.liked(user_id)
        held = self._held[self._user_index[user_id]]
        return MappingProxyType({i: r for i, r in liked.items() if self._index[i] not in held})

    def sample(self, rng: np.random.Generator) -> SimRequest:
        """Draw one request (see the :mod:`simulators.worlds.music` docstring for the model).

        Parameters
        ----------
        rng : numpy.random.Generator
            The only source of randomness; each request consumes one block of
            uniforms, so a seed fixes the whole sequence.

        Returns
        -------
        SimRequest
            Query, context, hidden relevance (grades 1-3), intent label.
        """
        if not isinstance(rng, np.random.Generator):
            raise InvalidInputError(
                f"rng must be a numpy.random.Generator, got {type(rng).__name__}"
            )
        return self._draw(self._train, rng.random(_N_UNIFORMS).tolist())

    def sample_many(self, n: int, rng: np.random.Generator) -> list[SimRequest]:
        """Draw ``n`` requests, identical to ``n`` calls of :meth:`sample` but faster.

        Parameters
        ----------
        n : int
            How many (>= 0).
        rng : numpy.random.Generator
            Randomness (one block of uniforms per request, drawn at once).

        Returns
        -------
        list of SimRequest
            In draw order.
        """
        n = check_int("n", n, low=0)
        if not isinstance(rng, np.random.Generator):
            raise InvalidInputError(
                f"rng must be a numpy.random.Generator, got {type(rng).__name__}"
            )
        pool = self._train
        return [self._draw(pool, u) for u in rng.random((n, _N_UNIFORMS)).tolist()]

    def heldout(self) -> list[SimRequest]:
        """Return ``heldout_size`` requests anchored on the held-out liked tracks.

        The requests are drawn once with a seed derived from ``seed`` and cached;
        see the :mod:`simulators.worlds.music` docstring. Empty when ``heldout_share``
        or ``heldout_size`` is 0 or no listener has a held-out track.

        Returns
        -------
        list of SimRequest
            A new list on each call (the requests themselves are immutable).
        """
        if self._heldout is None:
            pool = self._heldout_pool
            if not pool.listeners or self.heldout_size == 0:
                self._heldout = []
            else:
                rng = np.random.default_rng([self.seed, 1])
                block = rng.random((self.heldout_size, _N_UNIFORMS)).tolist()
                self._heldout = [self._draw(pool, u) for u in block]
        return list(self._heldout)

    @property
    def click_kind(self) -> EngagementKind:
        """Clicks are plays in this world."""
        return EngagementKind.PLAY

    def respond(
        self, request: SimRequest, ranking: Sequence[str], rng: np.random.Generator
    ) -> list[Engagement]:
        """Simulate plays (and, with ``emit_skips``, skips) on a shown ranking.

        Parameters
        ----------
        request : SimRequest
            The request the ranking answers.
        ranking : sequence of str
            Shown item ids, best first.
        rng : numpy.random.Generator
            Randomness.

        Returns
        -------
        list of Engagement
            Plays at the click model's clicks, in position order (1-based); with
            ``emit_skips`` also a skip for every unplayed position above the last play.
        """
        plays = super().respond(request, ranking, rng)
        if not self.emit_skips or not plays:
            return plays
        played = {e.position for e in plays}
        skips = [
            Engagement(ranking[p - 1], EngagementKind.SKIP, p)
            for p in range(1, plays[-1].position)
            if p not in played
        ]
        return sorted(plays + skips, key=lambda e: e.position)

    def info(self) -> Mapping[str, object]:
        """Describe the world's settings for reports."""
        return {
            **super().info(),
            "intent_mix": dict(self.intent_mix),
            "device_mix": dict(self.device_mix),
            "app_prefix_boost": self.app_prefix_boost,
            "voice_misspell_boost": self.voice_misspell_boost,
            "like_threshold": self.like_threshold,
            "activity_skew": self.activity_skew,
            "seed_users": self.seed_users,
            "heldout_share": self.heldout_share,
            "heldout_size": self.heldout_size,
            "broad_min_titles": self.broad_min_titles,
            "emit_skips": self.emit_skips,
            "rephrase_probability": self.rephrase_probability,
            "remishear_probability": self.remishear_probability,
            "voice_habit": self.voice_habit,
            "seed": self.seed,
            "n_listeners": len(self._user_ids),
            "n_items": len(self._ids),
            "n_broad_words": len(self.broad_words),
            "max_grade": MAX_GRADE,
        }

    # ----------------------------------------------------------------------- distributions

    def intent_probabilities(self, device: str) -> dict[str, float]:
        """Return the configured ``P(intent | device)``, before fallbacks.

        Parameters
        ----------
        device : str
            One of :data:`DEVICES`.

        Returns
        -------
        dict of str to float
            Probability of each intent of :data:`INTENTS`; all zero for a device
            that ``intent_mix`` leaves without intents (allowed only when the
            device's ``device_mix`` probability is 0).

        Raises
        ------
        UnknownNameError
            If ``device`` is unknown.
        """
        if device not in self._intent_probs:
            raise UnknownNameError(f"unknown device {device!r}; expected one of {list(DEVICES)}")
        return dict(self._intent_probs[device])

    def expected_intent_frequencies(self, device: str | None = None) -> dict[str, float]:
        """Return the exact distribution of the ``intent`` label of :meth:`sample`.

        This is :meth:`intent_probabilities` after each listener's fallbacks,
        averaged over the listener distribution.

        Parameters
        ----------
        device : str, optional
            Condition on this device; default: marginal over ``device_mix``.

        Returns
        -------
        dict of str to float
            Probability of each intent label.

        Raises
        ------
        UnknownNameError
            If ``device`` is unknown.
        """
        if device is None:
            out = dict.fromkeys(INTENTS, 0.0)
            for d in DEVICES:
                if self.device_mix[d] > 0:
                    for i, p in self.expected_intent_frequencies(d).items():
                        out[i] += self.device_mix[d] * p
            return out
        probs = self.intent_probabilities(device)
        pool = self._train
        listener_p = np.diff([0.0, *pool.cumulative]).tolist()
        out = dict.fromkeys(INTENTS, 0.0)
        for p_u, resolved in zip(listener_p, pool.resolved):
            for code, intent in enumerate(INTENTS):
                out[INTENTS[resolved[code]]] += p_u * probs[intent]
        return out
