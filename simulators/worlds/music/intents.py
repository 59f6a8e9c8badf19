"""Intent, device and hour tables of the music world's requests, and their fallbacks."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from types import MappingProxyType

from ltrr.errors import InvalidInputError, UnknownNameError
from ltrr.validation import check_real, is_real

__all__ = [
    "BASE_TIMESTAMP",
    "BROAD_EXCLUDED",
    "DEFAULT_DEVICE_MIX",
    "DEFAULT_INTENT_MIX",
    "DEVICES",
    "HOURLY_PROFILE",
    "INTENTS",
    "MAX_GRADE",
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
#: Letter runs (words) of a normalised title.
_WORD = re.compile(r"[^\W\d_]+")

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


def _check_number(name: str, value: object, *, low: float, high: float = math.inf) -> float:
    """Return ``value`` as a finite float in ``[low, high]``, by :func:`ltrr.validation.check_real`.

    Something that is no number at all (``bool`` included) is reported as "must be a real
    number", the wording the world's parameters have always used.
    """
    if not is_real(value):
        raise InvalidInputError(
            f"{name} must be a real number in [{low}, {high}], got {value!r} "
            f"of type {type(value).__name__}"
        )
    return check_real(name, value, low=low, high=high)


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
