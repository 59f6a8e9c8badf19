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

**Modules**: :mod:`~simulators.worlds.music.intents` (intent, device and hour
tables, fallbacks), :mod:`~simulators.worlds.music.misspellings` (query errors),
:mod:`~simulators.worlds.music.traffic` (listener indexes, anchor pools, drawing a
request and its relevance) and :mod:`~simulators.worlds.music.world`
(:class:`MusicWorld`), and :mod:`~simulators.worlds.music.rephrases` (opt-in rephrases after
a failed request, and habitual voice mishearings; off by default). Every public name is
importable from here.
:mod:`~simulators.worlds.music.releases` holds the "music with new releases" world
(:class:`~simulators.worlds.music.releases.MusicReleasesWorld`), built on this one; import it
from there or from :mod:`simulators.worlds`.
"""

from __future__ import annotations

from simulators.worlds.music.intents import (
    BASE_TIMESTAMP,
    BROAD_EXCLUDED,
    DEFAULT_DEVICE_MIX,
    DEFAULT_INTENT_MIX,
    DEVICES,
    HOURLY_PROFILE,
    INTENTS,
    MAX_GRADE,
)
from simulators.worlds.music.misspellings import HOMOPHONES
from simulators.worlds.music.misspellings import _misspell as _misspell  # tests use it
from simulators.worlds.music.rephrases import REPHRASE_INTENT
from simulators.worlds.music.world import MusicWorld

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
    "REPHRASE_INTENT",
    "MusicWorld",
]
