"""Text normalisation shared by completion labels and typed prefixes, and the end mark."""

from __future__ import annotations

import re

__all__ = ["END", "normalize_text"]

#: End mark that pads labels shorter than the trie depth (removed from texts by
#: :func:`normalize_text`, so it never occurs in a label).
END = "\x00"

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_SPACES = re.compile(r"\s+")


def normalize_text(text: str, *, prefix: bool = False) -> str:
    """Normalise a query or a prefix: lower case, no control characters, single spaces.

    Parameters
    ----------
    text : str
        The text.
    prefix : bool
        When true, one trailing space is kept (the last word is finished); otherwise
        the text is stripped at both ends.

    Returns
    -------
    str
        The normalised text (possibly empty).
    """
    out = _SPACES.sub(" ", _CONTROL.sub(" ", text).lower()).lstrip(" ")
    return out if prefix else out.rstrip(" ")
