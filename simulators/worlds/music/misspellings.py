"""Misspellings of the music world: homophone and letter errors driven by the request's uniforms.

The model is described under **Misspellings** in the :mod:`simulators.worlds.music` docstring.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping, Sequence
from types import MappingProxyType

from simulators.worlds.music.intents import _U_EDITS

__all__ = ["HOMOPHONES"]

#: A title needs this many letters to be misspelled.
_MIN_MISSPELL_LETTERS = 4
#: Titles with at least this many letters get a second error with probability 1/2.
_SECOND_ERROR_LETTERS = 8
#: Probability that the first error is a homophone substitution (when possible).
_HOMOPHONE_SHARE = 0.35

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

_HOMOPHONE_WORD = re.compile(r"[A-Za-z']+")


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
    """Misspell ``title`` with the uniforms ``u[_U_EDITS:]`` (see the :mod:`simulators.worlds.music` docstring)."""
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
