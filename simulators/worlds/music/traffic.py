"""Request traffic of the music world: listener indexes, anchor pools, requests and relevance."""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Mapping
from types import MappingProxyType

import numpy as np

from ltrr.data import MusicDataset
from ltrr.errors import InvalidInputError
from ltrr.types import Catalog, Context, Query
from ltrr.validation import check_int
from simulators.worlds.base import SimRequest
from simulators.worlds.music.intents import (
    _ARTIST,
    _BROAD,
    _FALLBACKS,
    _GENERIC_ARTISTS,
    _MAX_PREFIX,
    _MISSPELLED,
    _N_DAYS,
    _PREFIX,
    _TITLE_ARTIST,
    _U_DAY,
    _U_DEVICE,
    _U_HOUR,
    _U_INTENT,
    _U_LISTENER,
    _U_PREFIX,
    _U_SECOND,
    _U_TRACK,
    _WORD,
    BASE_TIMESTAMP,
    BROAD_EXCLUDED,
    DEVICES,
    INTENTS,
    MAX_GRADE,
    _cumulative,
)
from simulators.worlds.music.misspellings import _MIN_MISSPELL_LETTERS, _misspell, _n_letters, _norm

__all__: list[str] = []


class _Pool:
    """Anchor tracks of each listener for one traffic (training or held-out)."""

    __slots__ = ("anchors", "cumulative", "listeners", "resolved")

    def __init__(
        self,
        listeners: list[int],
        anchors: list[tuple[list[int], list[int], list[int], list[tuple[int, str]]]],
        weights: list[float],
    ) -> None:
        self.listeners = listeners
        #: Per listener: (all anchors, anchors with a named artist, misspellable, broad pairs).
        self.anchors = anchors
        self.cumulative = _cumulative(weights) if listeners else []
        self.resolved: list[tuple[int, ...]] = []
        for all_tracks, named, misspellable, broad in anchors:
            available = (
                bool(all_tracks),
                bool(named),
                bool(all_tracks),
                bool(misspellable),
                bool(named),
                bool(broad),
            )
            self.resolved.append(
                tuple(next(c for c in chain if available[c]) for chain in _FALLBACKS)
            )


class _Traffic:
    """The part of :class:`~simulators.worlds.music.MusicWorld` that indexes and draws traffic.

    It indexes the catalog and the listeners' taste (``_build_catalog``,
    ``_build_listeners``), keeps the anchor pools of training and held-out traffic, and
    turns one block of uniforms into a request with its graded relevance (``_draw``).
    The settings it reads are set by ``MusicWorld.__init__``.
    """

    broad_min_titles: int
    like_threshold: int
    activity_skew: float
    heldout_share: float
    voice_habit: float
    seed: int
    _device_cum: list[float]
    _intent_cum: list[list[float]]
    _hour_cum: list[float]
    _rel_cache: dict[tuple[object, ...], Mapping[str, int]]

    def _habitual(self, listener: int, target: int) -> str:
        raise NotImplementedError  # provided by the rephrasing part of MusicWorld

    # ----------------------------------------------------------------------- build

    def _build_catalog(self, catalog: Catalog) -> None:
        items = list(catalog)
        self._ids = [item.id for item in items]
        self._index = {item_id: i for i, item_id in enumerate(self._ids)}
        self._titles = [" ".join(item.fields.get("title", "").split()) for item in items]
        self._artists = [" ".join(item.fields.get("artist", "").split()) for item in items]
        self._title_norm = [_norm(t) for t in self._titles]
        self._artist_norm = [_norm(a) for a in self._artists]
        self._misspellable = [_n_letters(t) >= _MIN_MISSPELL_LETTERS for t in self._titles]
        self._named = [bool(a) and a not in _GENERIC_ARTISTS for a in self._artist_norm]
        words = [list(dict.fromkeys(_WORD.findall(t))) for t in self._title_norm]
        counts: dict[str, int] = {}
        for ws in words:
            for w in ws:
                counts[w] = counts.get(w, 0) + 1
        self.broad_words = frozenset(
            w
            for w, n in counts.items()
            if n >= self.broad_min_titles and len(w) >= 3 and w not in BROAD_EXCLUDED
        )
        self._broad_of = [tuple(w for w in ws if w in self.broad_words) for ws in words]
        self._artist_items: dict[str, list[int]] = {}
        self._duplicates: dict[tuple[str, str], list[int]] = {}
        for i, (t, a) in enumerate(zip(self._title_norm, self._artist_norm)):
            self._artist_items.setdefault(a, []).append(i)
            self._duplicates.setdefault((t, a), []).append(i)

    def _build_listeners(self, dataset: MusicDataset, seed_users: int | None) -> None:
        ratings = dataset.ratings
        liked_rows = ratings[ratings["rating"] >= self.like_threshold]
        liked_by_user: dict[str, dict[int, int]] = {}
        for user, item, rating in zip(
            liked_rows["user_id"].tolist(),
            liked_rows["item_id"].tolist(),
            liked_rows["rating"].tolist(),
        ):
            index = self._index.get(str(item))
            if index is not None:
                liked_by_user.setdefault(str(user), {})[index] = int(rating)
        users = sorted(liked_by_user, key=lambda u: (len(u), u))
        self.n_raters = int(ratings["user_id"].nunique())
        if not users:
            raise InvalidInputError(
                f"no listener rated a track >= like_threshold={self.like_threshold}; "
                "lower like_threshold"
            )
        structure = np.random.default_rng(self.seed)
        if seed_users is not None:
            n_keep = check_int("seed_users", seed_users, low=1, high=len(users))
            keep = np.sort(structure.choice(len(users), size=n_keep, replace=False))
            users = [users[i] for i in keep.tolist()]
        self.seed_users = seed_users

        self._user_ids: list[str] = users
        self._user_index = {user: u for u, user in enumerate(users)}
        self._liked: list[dict[int, int]] = []
        self._liked_by_title: list[dict[str, list[int]]] = []
        self._liked_by_artist: list[dict[str, list[int]]] = []
        self._liked_by_word: list[dict[str, list[int]]] = []
        self._liked_sorted: list[tuple[list[str], list[int]]] = []
        train_pool: list[list[int]] = []
        heldout_pool: list[list[int]] = []
        self._held: list[frozenset[int]] = []
        for user in users:
            liked = dict(sorted(liked_by_user[user].items()))
            self._liked.append(liked)
            by_title: dict[str, list[int]] = {}
            by_artist: dict[str, list[int]] = {}
            by_word: dict[str, list[int]] = {}
            for i in liked:
                by_title.setdefault(self._title_norm[i], []).append(i)
                by_artist.setdefault(self._artist_norm[i], []).append(i)
                for w in self._broad_of[i]:
                    by_word.setdefault(w, []).append(i)
            self._liked_by_title.append(by_title)
            self._liked_by_artist.append(by_artist)
            self._liked_by_word.append(by_word)
            ordered = sorted((self._title_norm[i], i) for i in liked)
            self._liked_sorted.append(([t for t, _ in ordered], [i for _, i in ordered]))
            tracks = list(liked)
            n_hold = min(round(self.heldout_share * len(tracks)), len(tracks) - 1)
            order = structure.permutation(len(tracks)).tolist()
            held = sorted(tracks[j] for j in order[:n_hold])
            held_set = set(held)
            train_pool.append([i for i in tracks if i not in held_set])
            heldout_pool.append(held)
            self._held.append(frozenset(held_set))
        self._train = self._make_pool(train_pool)
        self._heldout_pool = self._make_pool(heldout_pool)

    def _make_pool(self, pools: list[list[int]]) -> _Pool:
        listeners: list[int] = []
        anchors: list[tuple[list[int], list[int], list[int], list[tuple[int, str]]]] = []
        weights: list[float] = []
        for u, all_tracks in enumerate(pools):
            tracks = [i for i in all_tracks if self._titles[i]]  # a query needs a title
            if not tracks:
                continue
            listeners.append(u)
            anchors.append(
                (
                    tracks,
                    [i for i in tracks if self._named[i]],
                    [i for i in tracks if self._misspellable[i]],
                    [(i, w) for i in tracks for w in self._broad_of[i]],
                )
            )
            weights.append(float(len(tracks)) ** self.activity_skew)
        return _Pool(listeners, anchors, weights)

    # ----------------------------------------------------------------------- drawing

    def _draw(self, pool: _Pool, u: list[float]) -> SimRequest:
        return self._compose(pool, *self._pick(pool, u), u)

    def _pick(self, pool: _Pool, u: list[float]) -> tuple[int, int, int, int, str]:
        """Choose ``(listener slot, device, intent code, target, broad word)`` from ``u``."""
        slot = min(bisect_right(pool.cumulative, u[_U_LISTENER]), len(pool.listeners) - 1)
        d = bisect_right(self._device_cum, u[_U_DEVICE])
        code = pool.resolved[slot][bisect_right(self._intent_cum[d], u[_U_INTENT])]
        tracks, named, misspellable, broad = pool.anchors[slot]
        u_track = u[_U_TRACK]
        word = ""
        if code == _BROAD:
            target, word = broad[min(int(u_track * len(broad)), len(broad) - 1)]
        elif code in (_ARTIST, _TITLE_ARTIST):
            target = named[min(int(u_track * len(named)), len(named) - 1)]
        elif code == _MISSPELLED:
            target = misspellable[min(int(u_track * len(misspellable)), len(misspellable) - 1)]
        else:
            target = tracks[min(int(u_track * len(tracks)), len(tracks) - 1)]
        return slot, d, code, target, word

    def _compose(
        self,
        pool: _Pool,
        slot: int,
        d: int,
        code: int,
        target: int,
        word: str,
        u: list[float],
        clock: tuple[float, int] | None = None,
    ) -> SimRequest:
        """Build the request of a chosen target; ``clock`` = (timestamp, hour) overrides ``u``'s."""
        listener = pool.listeners[slot]
        prefix: str | None = None
        if code == _BROAD:
            text = word
            relevance = self._broad_relevance(listener, word)
        elif code == _ARTIST:
            text = self._artists[target]
            relevance = self._artist_relevance(listener, self._artist_norm[target])
        elif code == _MISSPELLED:
            if self.voice_habit > 0 and DEVICES[d] == "voice" and u[_U_PREFIX] < self.voice_habit:
                text = self._habitual(listener, target)  # opt-in: see music/rephrases.py
            else:
                text = _misspell(self._titles[target], u)
            relevance = self._title_relevance(listener, target)
        elif code == _TITLE_ARTIST:
            text = f"{self._titles[target]} {self._artists[target]}"
            relevance = self._title_artist_relevance(target)
        else:
            title = self._titles[target]
            if code == _PREFIX:
                length = 1 + min(int(u[_U_PREFIX] * _MAX_PREFIX), _MAX_PREFIX - 1)
                text = title[:length].rstrip()
                prefix = text
                relevance = self._prefix_relevance(listener, target, _norm(text))
            else:
                text = title
                relevance = self._title_relevance(listener, target)

        if clock is None:
            hour = bisect_right(self._hour_cum, u[_U_HOUR])
            day = min(int(u[_U_DAY] * _N_DAYS), _N_DAYS - 1)
            second = min(int(u[_U_SECOND] * 3600), 3599)
            timestamp = float(BASE_TIMESTAMP + day * 86_400 + hour * 3_600 + second)
        else:
            timestamp, hour = clock
        context = Context(
            user_id=self._user_ids[listener],
            timestamp=timestamp,
            device=DEVICES[d],
            locale="en",
            features={"hour": float(hour)},
        )
        return SimRequest(Query(text, prefix=prefix), context, relevance, INTENTS[code], MAX_GRADE)

    def _known_item(self, target: int, others: list[int]) -> Mapping[str, int]:
        """Target and its exact duplicates at the top grade, ``others`` at grade 2."""
        grades = {self._ids[i]: 2 for i in others}
        key = (self._title_norm[target], self._artist_norm[target])
        for i in self._duplicates[key]:
            grades[self._ids[i]] = MAX_GRADE
        return MappingProxyType(grades)

    def _title_relevance(self, listener: int, target: int) -> Mapping[str, int]:
        key = ("t", listener, target)
        cached = self._rel_cache.get(key)
        if cached is None:
            same = self._liked_by_title[listener].get(self._title_norm[target], [])
            cached = self._rel_cache[key] = self._known_item(target, same)
        return cached

    def _title_artist_relevance(self, target: int) -> Mapping[str, int]:
        key = ("ta", target)
        cached = self._rel_cache.get(key)
        if cached is None:
            cached = self._rel_cache[key] = self._known_item(target, [])
        return cached

    def _prefix_relevance(self, listener: int, target: int, prefix: str) -> Mapping[str, int]:
        key = ("p", listener, target, prefix)
        cached = self._rel_cache.get(key)
        if cached is None:
            titles, items = self._liked_sorted[listener]
            start = bisect_left(titles, prefix)
            others = items[start : bisect_left(titles, prefix + "\U0010ffff", start)]
            cached = self._rel_cache[key] = self._known_item(target, others)
        return cached

    def _taste_grade(self, rating: int) -> int:
        return MAX_GRADE if rating >= 4 else MAX_GRADE - 1

    def _artist_relevance(self, listener: int, artist: str) -> Mapping[str, int]:
        key = ("a", listener, artist)
        cached = self._rel_cache.get(key)
        if cached is None:
            liked = self._liked[listener]
            grades = {self._ids[i]: 1 for i in self._artist_items[artist]}
            for i in self._liked_by_artist[listener].get(artist, []):
                grades[self._ids[i]] = self._taste_grade(liked[i])
            cached = self._rel_cache[key] = MappingProxyType(grades)
        return cached

    def _broad_relevance(self, listener: int, word: str) -> Mapping[str, int]:
        key = ("b", listener, word)
        cached = self._rel_cache.get(key)
        if cached is None:
            liked = self._liked[listener]
            grades = {
                self._ids[i]: self._taste_grade(liked[i])
                for i in self._liked_by_word[listener].get(word, [])
            }
            cached = self._rel_cache[key] = MappingProxyType(grades)
        return cached
