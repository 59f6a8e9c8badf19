"""Rephrases of the music world (opt-in): a listener whose request failed tries again, more clearly.

Off by default (``rephrase_probability=0``, ``voice_habit=0``): the world's
traffic is then exactly what it was before this module existed.

* **Rephrase** (:meth:`MusicWorld.rephrase <simulators.worlds.music.MusicWorld.rephrase>`):
  after a request without a play, the listener rephrases with probability
  ``rephrase_probability``, 2 to 20 seconds later (uniform), on the same device
  and with the same hidden relevance.  A misheard or misspelled title
  (``misspelled``, or a rephrase that was misheard again) is followed by the
  clear title, except that on a voice device the assistant mishears it again
  with probability ``remishear_probability`` (a fresh misspelling, same error
  model); a clear title that failed (``title``, or a clear rephrase) is
  followed by ``"<title> <artist>"`` when the track has a named artist; anything
  else (prefixes, artists, broad words, ``title_artist``, a failed ``"<title>
  <artist>"`` rephrase) is abandoned.  Rephrases have the intent label
  ``"rephrase"``.
* **Habit** (``voice_habit``): a voice assistant tends to mishear one listener's
  pronunciation of a title the same way.  With probability ``voice_habit`` a
  ``misspelled`` request on a voice device uses the listener's *habitual*
  misspelling of the title (fixed per listener and track by ``seed``) instead of
  a fresh one; the decision reuses the request's prefix uniform, which
  misspelled requests do not otherwise use, so the random stream is unchanged.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ltrr.types import POSITIVE_ENGAGEMENTS, Context, Query
from simulators.worlds.base import Engagement, SimRequest
from simulators.worlds.music.intents import _N_UNIFORMS, _U_EDITS, MAX_GRADE
from simulators.worlds.music.misspellings import _misspell, _norm

__all__ = ["REPHRASE_INTENT"]

#: Intent label of a rephrased request.
REPHRASE_INTENT = "rephrase"
#: Rephrase delay range, seconds.
_MIN_GAP, _MAX_GAP = 2.0, 20.0
# Uniforms of one rephrase decision: whether, delay, re-mishearing, then a misspelling's block.
_R_WHETHER, _R_GAP, _R_AGAIN = range(3)
_R_EDITS = 3
_N_REPHRASE = _R_EDITS + (_N_UNIFORMS - _U_EDITS)


class _Rephrasing:
    """The part of :class:`~simulators.worlds.music.MusicWorld` that makes rephrases."""

    rephrase_probability: float
    remishear_probability: float
    voice_habit: float
    seed: int
    _ids: list[str]
    _index: dict[str, int]
    _titles: list[str]
    _artists: list[str]
    _named: list[bool]
    _habits: dict[tuple[int, int], str]

    def _habitual(self, listener: int, target: int) -> str:
        """Return the listener's habitual misspelling of a track's title (fixed by ``seed``)."""
        key = (listener, target)
        text = self._habits.get(key)
        if text is None:
            u = np.random.default_rng([self.seed, 3, listener, target]).random(_N_UNIFORMS)
            text = self._habits[key] = _misspell(self._titles[target], u.tolist())
        return text

    def _target(self, request: SimRequest) -> int | None:
        """Return the known item of a title-like request: its first top-grade item."""
        top = sorted(i for i, g in request.relevance.items() if g == MAX_GRADE)
        return self._index.get(top[0]) if top else None

    def rephrase(
        self, request: SimRequest, engagements: Sequence[Engagement], rng: np.random.Generator
    ) -> SimRequest | None:
        """Return the listener's rephrase of a failed request, or None (see the module docstring).

        Parameters
        ----------
        request : SimRequest
            The request that was answered.
        engagements : sequence of Engagement
            What the listener did with the answer (a play means it succeeded).
        rng : numpy.random.Generator
            Randomness (one block of uniforms per call on a failed request).

        Returns
        -------
        SimRequest or None
            The rephrase, or None when the request succeeded, rephrasing is off, the
            draw says the listener gives up, or the request's kind is not rephrased.
        """
        if self.rephrase_probability <= 0 or any(
            e.kind in POSITIVE_ENGAGEMENTS for e in engagements
        ):
            return None
        u = rng.random(_N_REPHRASE).tolist()
        if u[_R_WHETHER] >= self.rephrase_probability:
            return None
        target = self._target(request)
        if target is None:
            return None
        title, artist = self._titles[target], self._artists[target]
        said = _norm(request.query.text)
        if request.intent == "misspelled" or (
            request.intent == REPHRASE_INTENT
            and said not in (_norm(title), _norm(f"{title} {artist}"))
        ):
            text = title
            if request.context.device == "voice" and u[_R_AGAIN] < self.remishear_probability:
                text = _misspell(title, [0.0] * _U_EDITS + u[_R_EDITS:])
        elif (
            request.intent in ("title", REPHRASE_INTENT)
            and said == _norm(title)
            and self._named[target]
        ):
            text = f"{title} {artist}"
        else:
            return None
        ctx = request.context
        timestamp = float(ctx.timestamp or 0.0) + _MIN_GAP + (_MAX_GAP - _MIN_GAP) * u[_R_GAP]
        context = Context(
            user_id=ctx.user_id,
            timestamp=timestamp,
            device=ctx.device,
            locale=ctx.locale,
            features={"hour": float(int(timestamp // 3600) % 24)},
        )
        return SimRequest(
            Query(text), context, request.relevance, REPHRASE_INTENT, request.max_grade
        )
