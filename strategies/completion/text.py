"""The end mark that pads completion labels shorter than the trie depth."""

from __future__ import annotations

__all__ = ["END"]

#: End mark that pads labels shorter than the trie depth (removed from texts by
#: :func:`~ltrr.text.normalise_completion`, so it never occurs in a label).
END = "\x00"
