"""The music world: listeners of CM100k search a catalog of 1,084 Deezer tracks.

CM100k (Cañamares & Castells, SIGIR 2018) holds about 100 ratings (1-4) per
listener on tracks assigned uniformly at random, so every listener's taste is an
unbiased sample. This world turns that taste into search traffic:

* **Listeners** are the raters who like at least one track (rating
  ``>= like_threshold``): 1,046 of the 1,054 raters at the default threshold 3.
  A request picks a listener with probability proportional to
  ``n_anchor_tracks ** activity_skew`` (listeners who like more music search
  more; ``activity_skew=0`` is uniform).
* **Hour** of day follows the fixed daily profile :data:`HOURLY_PROFILE` (quiet
  at night, peaks at the morning commute and in the evening). The timestamp is
  ``BASE_TIMESTAMP`` (2016-01-01 00:00 UTC, inside the collection period) plus a
  uniform day in ``[0, 28)``, the hour and a uniform second within the hour, so
  ``(timestamp // 3600) % 24 == hour``. The hour changes nothing else.
* **Device** is drawn from ``device_mix``, independently of listener and hour.
* **Intent** is drawn given the device: ``P(intent | device)`` is proportional to
  ``intent_mix[intent] * tilt[device][intent]`` where every tilt is 1 except
  ``tilt["app"]["prefix"] = app_prefix_boost`` (autocomplete while typing on a
  phone), ``tilt["voice"]["misspelled"] = voice_misspell_boost`` (a voice
  assistant mishears) and ``tilt["voice"]["prefix"] = 0`` (nobody speaks a
  prefix). See :meth:`MusicWorld.intent_probabilities`.

Intents, query text and hidden relevance (grades 1-3, :data:`MAX_GRADE` = 3;
"liked" means rated ``>= like_threshold``; the target is drawn uniformly from
the listener's anchor tracks that suit the intent: any for ``title`` and
``prefix``, a named artist for ``title_artist`` and ``artist``, a title of at
least 4 letters for ``misspelled``):

* ``title``: the target's exact title. Target 3; other liked tracks with the
  same title 2.
* ``title_artist``: ``"<title> <artist>"``. Target 3.
* ``prefix``: the first 1-6 characters of the title, also in ``Query.prefix``.
  Target 3; other liked tracks whose title starts with the prefix 2.
* ``misspelled``: the title with 1-2 errors (see below). As ``title`` (the
  intended title).
* ``artist``: the target's artist. The listener's liked tracks by the artist 3
  (rating 4) or 2; the artist's other tracks 1.
* ``broad``: a common title word (e.g. ``love``, ``christmas``). The listener's
  liked tracks whose title holds the word: 3 (rating 4) or 2.

Query texts use titles and artists with runs of whitespace collapsed to one
space. Titles and artists are compared case-insensitively, likewise; a
track identical to the target in title and artist (the catalog holds one such
pair) gets the target's grade. Prefix lengths are uniform in 1-6 (capped at the
title's length; trailing spaces dropped). Broad words are the letter runs of at
least three letters found in at least ``broad_min_titles`` titles, minus English
and common Spanish/German/French stop words and release metadata words
(``mix``, ``version``, ``feat``, ...; see :data:`BROAD_EXCLUDED`). A broad
request picks a (track, word) pair uniformly among the listener's anchor tracks
and the broad words of their titles.

**Misspellings** imitate a voice assistant or a hurried typist, driven by the
request's own uniforms (so they are deterministic under the rng): one error,
plus a second with probability 1/2 when the title has at least 8 letters. The
first error replaces a word by a homophone-like variant (``night`` -> ``nite``,
``you`` -> ``u``, ``blue`` -> ``blew``; table :data:`HOMOPHONES`) with
probability 0.35 when the title holds such a word; otherwise (and always for the
second error) a random letter is substituted by a phonetically close one (1/2:
``b``/``p``, ``d``/``t``, vowels; accented letters lose their accent), deleted
(1/4) or swapped with the next letter (1/4). Only titles with at least 4 letters
are misspelled, and the result always differs from the title.

**Fallbacks** keep every request answerable: when the listener has no anchor
track for the drawn intent it becomes another one, deterministically:
``broad`` -> ``artist`` -> ``title`` (no title word is a broad word / no track has
a named artist, i.e. only "Various Artists"), ``title_artist`` -> ``title``,
``misspelled`` -> ``title`` (no title with 4 letters). ``title`` and ``prefix``
always apply. The request's ``intent`` is the intent actually used;
:meth:`MusicWorld.expected_intent_frequencies` gives its exact distribution.

**Held-out requests**: with a fixed seed, a share ``heldout_share`` of every
listener's liked tracks (rounded, at most all but one) is set aside. Requests
from :meth:`MusicWorld.sample` anchor only on the remaining tracks (the known
item of ``title``/``title_artist``/``prefix``/``misspelled``, the artist of
``artist``, the word's track of ``broad``); :meth:`MusicWorld.heldout` draws
``heldout_size`` requests by the same process anchored only on the held-out
tracks, so its known items are (listener, track) pairs never searched in
training traffic. Relevance always uses the listener's whole taste. Relevance
mappings are read-only and shared between requests with the same answer.

**Responses**: clicks of the click model (default
``DynamicBayesianNetwork(max_grade=3)``, attractiveness 7/8, 3/8, 1/8 for grades
3, 2, 1, noise 0.05) are plays (:attr:`EngagementKind.PLAY`). With
``emit_skips=True`` each shown item above the last play that was not played is
also returned as a :attr:`EngagementKind.SKIP`.
"""

from __future__ import annotations

import math
import os
import re
import unicodedata
from bisect import bisect_left, bisect_right
from collections.abc import Mapping, Sequence
from numbers import Integral, Real
from types import MappingProxyType
from typing import Any, ClassVar

import numpy as np

from ltrr.data import MusicDataset, load_cm100k
from ltrr.errors import InvalidInputError, UnknownNameError
from ltrr.types import Catalog, Context, EngagementKind, Query
from simulators.click_models import ClickModel, DynamicBayesianNetwork
from simulators.worlds.base import Engagement, SimRequest, World

__all__ = [
    "BASE_TIMESTAMP",
    "BROAD_EXCLUDED",
    "DEFAULT_DEVICE_MIX",
    "DEFAULT_INTENT_MIX",
    "DEVICES",
    "HOMOPHONES",
    "HOURLY_PROFILE",
    "INTENTS",
    "MAX_GRADE",
    "MusicWorld",
]

#: Intent labels, in the order used internally.
INTENTS = ("title", "title_artist", "prefix", "misspelled", "artist", "broad")
#: Device names.
DEVICES = ("desktop", "app", "voice")
#: Highest relevance grade of the world.
MAX_GRADE = 3
#: Default intent probabilities (before the device tilt).
DEFAULT_INTENT_MIX: Mapping[str, float] = MappingProxyType(
    {
        "title": 0.30,
        "title_artist": 0.15,
        "prefix": 0.15,
        "misspelled": 0.10,
        "artist": 0.15,
        "broad": 0.15,
    }
)
#: Default device probabilities.
DEFAULT_DEVICE_MIX: Mapping[str, float] = MappingProxyType(
    {"app": 0.5, "desktop": 0.3, "voice": 0.2}
)
#: Relative request volume per hour of day, 0-23 (normalised when sampling).
HOURLY_PROFILE = (
    2.0, 1.2, 0.8, 0.6, 0.6, 1.0, 2.0, 4.0, 5.0, 4.5, 4.0, 4.0,
    4.5, 4.5, 4.0, 4.0, 4.5, 5.5, 6.0, 6.5, 7.0, 6.5, 5.0, 3.5,
)  # fmt: skip
#: 2016-01-01 00:00:00 UTC, inside the CM100k collection period.
BASE_TIMESTAMP = 1_451_606_400
#: Days over which timestamps spread.
_N_DAYS = 28
#: Prefix lengths are uniform in [1, _MAX_PREFIX].
_MAX_PREFIX = 6
#: A title needs this many letters to be misspelled.
_MIN_MISSPELL_LETTERS = 4
#: Titles with at least this many letters get a second error with probability 1/2.
_SECOND_ERROR_LETTERS = 8
#: Probability that the first error is a homophone substitution (when possible).
_HOMOPHONE_SHARE = 0.35
#: Artist names that do not identify an artist.
_GENERIC_ARTISTS = frozenset({"various artists", "various", "unknown", "unknown artist"})

#: Words that are never broad queries: stop words (English, Spanish, German,
#: French, Italian) and release metadata.
BROAD_EXCLUDED = frozenset(
    """
    a about after again all also am an and any are as at back be because been before
    being but by can could did do does don down each even every for from get go going
    got had has have he her here him his how if in into is it its just let like me
    more most my no not now of off on one only or our out over own same she should so
    some such than that the their them then there these they this those through to too
    two under until up very was we were what when where which while who whom why will
    with would yet you your yours
    al con del el en es la las lo los mi para por que se su tu un una uno y yo
    das dem den der des die du ein eine ich ist mit nicht und zu
    au aux ce de des du et je le les ma mes mon ne pas pour qui sur ta te toi tu une vous
    che di il non per sono
    mix version original originally remix remixed feat featuring style performed made
    famous act major minor flat sharp edit remastered remaster bonus track club allegro
    andante adagio moderato presto op vol part iii vii viii
    """.split()
)

#: Homophone-like replacements used by misspellings (lower case).
HOMOPHONES: Mapping[str, str] = MappingProxyType(
    {
        "you": "u",
        "your": "yore",
        "you're": "your",
        "to": "two",
        "too": "two",
        "two": "too",
        "for": "four",
        "four": "for",
        "night": "nite",
        "tonight": "tonite",
        "light": "lite",
        "love": "luv",
        "right": "write",
        "write": "right",
        "know": "no",
        "no": "know",
        "new": "knew",
        "knew": "new",
        "see": "sea",
        "sea": "see",
        "be": "bee",
        "blue": "blew",
        "one": "won",
        "won": "one",
        "there": "their",
        "their": "there",
        "here": "hear",
        "hear": "here",
        "through": "thru",
        "are": "r",
        "why": "y",
        "i": "eye",
        "by": "buy",
        "buy": "by",
        "bye": "by",
        "sun": "son",
        "son": "sun",
        "way": "weigh",
        "wait": "weight",
        "whole": "hole",
        "hole": "whole",
        "rain": "reign",
        "road": "rode",
        "heart": "hart",
        "time": "thyme",
        "meet": "meat",
        "peace": "piece",
        "piece": "peace",
        "dear": "deer",
        "week": "weak",
        "weak": "week",
        "made": "maid",
        "tale": "tail",
        "tail": "tale",
        "pair": "pear",
        "bear": "bare",
        "weather": "whether",
        "would": "wood",
        "hour": "our",
        "our": "hour",
        "girl": "gurl",
        "boy": "boi",
        "christmas": "xmas",
        "what": "wat",
        "because": "cuz",
        "little": "lil",
    }
)

#: Phonetically close letters for substitutions.
_CONFUSIONS: Mapping[str, str] = MappingProxyType(
    {
        "a": "eo",
        "b": "pv",
        "c": "ks",
        "d": "t",
        "e": "ia",
        "f": "v",
        "g": "jk",
        "h": "",
        "i": "ey",
        "j": "g",
        "k": "cg",
        "l": "r",
        "m": "n",
        "n": "m",
        "o": "au",
        "p": "b",
        "q": "k",
        "r": "l",
        "s": "zc",
        "t": "d",
        "u": "o",
        "v": "fb",
        "w": "v",
        "x": "s",
        "y": "i",
        "z": "s",
    }
)

_WORD = re.compile(r"[^\W\d_]+")
_HOMOPHONE_WORD = re.compile(r"[A-Za-z']+")

# Uniforms consumed per request, by slot.
_U_LISTENER, _U_DEVICE, _U_INTENT, _U_HOUR, _U_DAY, _U_SECOND, _U_TRACK, _U_PREFIX = range(8)
_U_EDITS = 8  # number of errors, then (operation, position, choice) per error
_N_UNIFORMS = _U_EDITS + 1 + 3 * 2

_TITLE, _TITLE_ARTIST, _PREFIX, _MISSPELLED, _ARTIST, _BROAD = range(len(INTENTS))
#: Fallback chains (intent code -> codes tried in order).
_FALLBACKS: tuple[tuple[int, ...], ...] = (
    (_TITLE,),
    (_TITLE_ARTIST, _TITLE),
    (_PREFIX,),
    (_MISSPELLED, _TITLE),
    (_ARTIST, _TITLE),
    (_BROAD, _ARTIST, _TITLE),
)


# --------------------------------------------------------------------------- validation


def _check_number(name: str, value: object, *, low: float, high: float = math.inf) -> float:
    if isinstance(value, bool) or not isinstance(value, Real):
        raise InvalidInputError(
            f"{name} must be a real number in [{low}, {high}], got {value!r} "
            f"of type {type(value).__name__}"
        )
    number = float(value)
    if not math.isfinite(number) or not low <= number <= high:
        expected = f">= {low}" if high == math.inf else f"in [{low}, {high}]"
        raise InvalidInputError(f"{name} must be a finite number {expected}, got {value!r}")
    return number


def _check_int(name: str, value: object, *, low: int, high: int | None = None) -> int:
    if (
        isinstance(value, bool)
        or not isinstance(value, Integral)
        or int(value) < low
        or (high is not None and int(value) > high)
    ):
        expected = f">= {low}" if high is None else f"in [{low}, {high}]"
        raise InvalidInputError(f"{name} must be an integer {expected}, got {value!r}")
    return int(value)


def _check_mix(name: str, mix: object, valid: Sequence[str]) -> dict[str, float]:
    """Validate a probability table over ``valid`` names; missing names get 0."""
    if not isinstance(mix, Mapping) or not mix:
        raise InvalidInputError(
            f"{name} must be a non-empty mapping of name -> probability over {list(valid)}, "
            f"got {mix!r}"
        )
    unknown = [key for key in mix if key not in valid]
    if unknown:
        raise UnknownNameError(
            f"{name} has unknown name(s) {unknown}; expected some of {list(valid)}"
        )
    table = {key: 0.0 for key in valid}
    for key, value in mix.items():
        table[key] = _check_number(f"{name}[{key!r}]", value, low=0.0, high=1.0)
    total = sum(table.values())
    if abs(total - 1.0) > 1e-6:
        raise InvalidInputError(
            f"{name} probabilities must sum to 1, got {total:.6g} for {dict(mix)!r}"
        )
    return table


def _cumulative(weights: Sequence[float]) -> list[float]:
    """Cumulative probabilities for ``bisect_right``; 1.0 from the last positive weight on."""
    total = float(sum(weights))
    out: list[float] = []
    acc = 0.0
    for weight in weights:
        acc += weight
        out.append(acc / total)
    last = max(i for i, weight in enumerate(weights) if weight > 0)
    for i in range(last, len(out)):
        out[i] = 1.0
    return out


# --------------------------------------------------------------------------- text


def _norm(text: str) -> str:
    return " ".join(text.casefold().split())


def _n_letters(text: str) -> int:
    return sum(ch.isalpha() for ch in text)


def _strip_accent(ch: str) -> str:
    base = unicodedata.normalize("NFKD", ch)[:1]
    return base if base and base != ch and base.isalpha() else ""


def _char_error(text: str, u_op: float, u_pos: float, u_choice: float) -> str:
    """Apply one letter-level error: substitution (1/2), deletion (1/4) or transposition (1/4)."""
    letters = [i for i, ch in enumerate(text) if ch.isalpha()]
    if not letters:
        return text
    pos = letters[min(int(u_pos * len(letters)), len(letters) - 1)]
    ch = text[pos]
    if u_op >= 0.75:  # transposition with the next character, when it is a different letter
        nxt = text[pos + 1] if pos + 1 < len(text) else ""
        if nxt.isalpha() and nxt.casefold() != ch.casefold():
            return text[:pos] + nxt + ch + text[pos + 2 :]
        u_op = 0.0  # fall through to substitution
    if u_op < 0.5:  # substitution by a phonetically close letter
        lower = ch.casefold()
        options = _CONFUSIONS.get(lower)
        if options is None:
            replacement = _strip_accent(ch)
        elif options:
            replacement = options[min(int(u_choice * len(options)), len(options) - 1)]
            if ch.isupper():
                replacement = replacement.upper()
        else:
            replacement = ""
        if replacement:
            return text[:pos] + replacement + text[pos + 1 :]
    # deletion (also for letters without a close substitute)
    return text[:pos] + text[pos + 1 :]


def _homophone_error(text: str, u_pos: float) -> str | None:
    """Replace one word that has a homophone-like variant; None when no word has one."""
    matches = [m for m in _HOMOPHONE_WORD.finditer(text) if m.group().casefold() in HOMOPHONES]
    if not matches:
        return None
    match = matches[min(int(u_pos * len(matches)), len(matches) - 1)]
    word = match.group()
    variant = HOMOPHONES[word.casefold()]
    if word.isupper() and len(word) > 1:
        variant = variant.upper()
    elif word[0].isupper():
        variant = variant[:1].upper() + variant[1:]
    return text[: match.start()] + variant + text[match.end() :]


def _misspell(title: str, u: Sequence[float]) -> str:
    """Misspell ``title`` with the uniforms ``u[_U_EDITS:]`` (see the module docstring)."""
    n_errors = 2 if _n_letters(title) >= _SECOND_ERROR_LETTERS and u[_U_EDITS] < 0.5 else 1
    text = title
    for e in range(n_errors):
        u_op, u_pos, u_choice = u[_U_EDITS + 1 + 3 * e : _U_EDITS + 4 + 3 * e]
        if e == 0:
            if u_choice < _HOMOPHONE_SHARE:
                replaced = _homophone_error(text, u_pos)
                if replaced is not None:
                    text = replaced
                    continue
                u_choice /= _HOMOPHONE_SHARE  # rescale the uniform to [0, 1) for reuse
            else:
                u_choice = (u_choice - _HOMOPHONE_SHARE) / (1.0 - _HOMOPHONE_SHARE)
        text = _char_error(text, u_op, u_pos, u_choice)
    if _norm(text) == _norm(title) or not text.strip():
        letters = [i for i, ch in enumerate(title) if ch.isalpha()]
        mid = letters[len(letters) // 2]
        text = title[:mid] + title[mid + 1 :]
    return text


# --------------------------------------------------------------------------- pools


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


# --------------------------------------------------------------------------- world


class MusicWorld(World):
    """Music search on CM100k: known-item, prefix, misspelled, artist and broad requests.

    See the module docstring for the exact listener, hour, device, intent, query
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
        self.like_threshold = _check_int("like_threshold", like_threshold, low=1, high=4)
        self.activity_skew = _check_number("activity_skew", activity_skew, low=0.0, high=4.0)
        self.heldout_share = _check_number("heldout_share", heldout_share, low=0.0, high=0.9)
        self.heldout_size = _check_int("heldout_size", heldout_size, low=0)
        self.broad_min_titles = _check_int("broad_min_titles", broad_min_titles, low=2)
        if not isinstance(emit_skips, bool):
            raise InvalidInputError(f"emit_skips must be a bool, got {emit_skips!r}")
        self.emit_skips = emit_skips
        self.seed = _check_int("seed", seed, low=0)

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
        self._rel_cache: dict[tuple[object, ...], Mapping[str, int]] = {}
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
            n_keep = _check_int("seed_users", seed_users, low=1, high=len(users))
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
        """Draw one request (see the module docstring for the model).

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
        n = _check_int("n", n, low=0)
        if not isinstance(rng, np.random.Generator):
            raise InvalidInputError(
                f"rng must be a numpy.random.Generator, got {type(rng).__name__}"
            )
        pool = self._train
        return [self._draw(pool, u) for u in rng.random((n, _N_UNIFORMS)).tolist()]

    def heldout(self) -> list[SimRequest]:
        """Return ``heldout_size`` requests anchored on the held-out liked tracks.

        The requests are drawn once with a seed derived from ``seed`` and cached;
        see the module docstring. Empty when ``heldout_share`` or ``heldout_size``
        is 0 or no listener has a held-out track.

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

    # ----------------------------------------------------------------------- drawing

    def _draw(self, pool: _Pool, u: list[float]) -> SimRequest:
        slot = min(bisect_right(pool.cumulative, u[_U_LISTENER]), len(pool.listeners) - 1)
        listener = pool.listeners[slot]
        d = bisect_right(self._device_cum, u[_U_DEVICE])
        code = pool.resolved[slot][bisect_right(self._intent_cum[d], u[_U_INTENT])]
        hour = bisect_right(self._hour_cum, u[_U_HOUR])
        tracks, named, misspellable, broad = pool.anchors[slot]
        u_track = u[_U_TRACK]

        prefix: str | None = None
        if code == _BROAD:
            target, word = broad[min(int(u_track * len(broad)), len(broad) - 1)]
            text = word
            relevance = self._broad_relevance(listener, word)
        elif code == _ARTIST:
            target = named[min(int(u_track * len(named)), len(named) - 1)]
            text = self._artists[target]
            relevance = self._artist_relevance(listener, self._artist_norm[target])
        elif code == _MISSPELLED:
            target = misspellable[min(int(u_track * len(misspellable)), len(misspellable) - 1)]
            text = _misspell(self._titles[target], u)
            relevance = self._title_relevance(listener, target)
        elif code == _TITLE_ARTIST:
            target = named[min(int(u_track * len(named)), len(named) - 1)]
            text = f"{self._titles[target]} {self._artists[target]}"
            relevance = self._title_artist_relevance(target)
        else:
            target = tracks[min(int(u_track * len(tracks)), len(tracks) - 1)]
            title = self._titles[target]
            if code == _PREFIX:
                length = 1 + min(int(u[_U_PREFIX] * _MAX_PREFIX), _MAX_PREFIX - 1)
                text = title[:length].rstrip()
                prefix = text
                relevance = self._prefix_relevance(listener, target, _norm(text))
            else:
                text = title
                relevance = self._title_relevance(listener, target)

        day = min(int(u[_U_DAY] * _N_DAYS), _N_DAYS - 1)
        second = min(int(u[_U_SECOND] * 3600), 3599)
        timestamp = float(BASE_TIMESTAMP + day * 86_400 + hour * 3_600 + second)
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
