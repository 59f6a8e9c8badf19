"""Hypothesis strategies for hostile input: text, numbers and structures a caller should never send."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import strategies as st

#: Pieces of text that break naive code: NUL, controls, lone surrogates, RTL marks, BOM.
NASTY = [
    "",
    " ",
    "\t\n\r ",
    "\x00",
    "a\x00b",
    "\x1b[31m",
    "\x7f\x85",
    "\ud800",
    "a\udfffb",
    "\u200f\u202eevil",
    "\u202d\u2066x\u2069",
    "\ufeff",
    "\u0301",
    "𝔘𝔫𝔦𝔠𝔬𝔡𝔢",
    "null",
    "NaN",
    "' OR 1=1 --",
    "../../etc/passwd",
    "apple",
    "red apple pie",
]

_chars = st.characters(categories=["L", "N", "P", "Zs", "Cc", "Cf", "Cs", "Mn", "So"])

#: Hostile strings: empty, whitespace, controls, NUL, lone surrogates, RTL marks, 10k+ characters.
hostile_text = st.one_of(
    st.sampled_from(NASTY),
    st.text(_chars, max_size=40),
    st.builds(
        lambda piece, n: piece * n,
        st.sampled_from(["a", "apple ", "\u202e", "\x00", "é"]),
        st.integers(2_000, 6_000),
    ),
    st.builds(lambda n: "x" * n, st.sampled_from([4096, 4097, 10_000, 12_345])),
)

#: Hostile numbers: NaN, +-inf, huge ints, bools where ints are expected, negative and zero.
hostile_number = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.integers(),
    st.sampled_from([0, -1, 1, 2**31, 2**63, 2**64, -(2**63) - 1, 10**30, 10**400, 1e308]),
    st.booleans(),
    st.sampled_from([float("nan"), float("inf"), float("-inf"), -0.0, 5e-324]),
)

_leaf = st.one_of(st.none(), hostile_number, hostile_text)

#: Hostile JSON-like structures: wrong types, nested lists and objects.
hostile_structure = st.recursive(
    _leaf,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.dictionaries(st.one_of(st.sampled_from(NASTY), st.text(max_size=8)), inner, max_size=4),
    ),
    max_leaves=12,
)

#: Anything at all: text, a number, None, a structure, or a deeply nested list.
hostile_value = st.one_of(
    _leaf,
    hostile_structure,
    st.builds(lambda n: _nested(n), st.sampled_from([50, 500, 5000])),
)


class Deep(list):  # type: ignore[type-arg]
    """A list nested ``depth`` deep, shown briefly (hypothesis would recurse printing it)."""

    depth = 0

    def _repr_pretty_(self, p: Any, cycle: bool) -> None:
        p.text(f"<list nested {self.depth} deep>")

    def __repr__(self) -> str:
        return f"<list nested {self.depth} deep>"


def _nested(depth: int) -> Any:
    value: Any = []
    for _ in range(depth - 1):
        value = [value]
    out = Deep([value])
    out.depth = depth
    return out


def _shallow(obj: Any) -> Any:
    """Replace each :class:`Deep` list by a placeholder string that :func:`dumps` expands."""
    if isinstance(obj, Deep):
        return f"__DEEP_{obj.depth}__"
    if isinstance(obj, list):
        return [_shallow(v) for v in obj]
    if isinstance(obj, dict):
        return {k: _shallow(v) for k, v in obj.items()}
    return obj


def dumps(obj: Any) -> bytes:
    """JSON bytes of ``obj`` as a hostile client would send them (lone surrogates escaped, NaN kept)."""
    text = json.dumps(_shallow(obj), ensure_ascii=True, allow_nan=True)
    for depth in (50, 500, 5000):
        text = text.replace(f'"__DEEP_{depth}__"', "[" * depth + "]" * depth)
    return text.encode("ascii")


#: Hostile bytes for files: invalid UTF-8, NUL, BOMs, unbalanced brackets, long lines.
hostile_bytes = st.one_of(
    st.binary(max_size=200),
    st.sampled_from(
        [
            b"",
            b"\n\n",
            b"\xff\xfe\x00",
            b"\xef\xbb\xbf",
            b"\xc3\x28",
            b"[" * 5000,
            b"{" * 5000,
            b"\x00" * 10,
            b"a" * 140_000,
            b'"' + b"a" * 140_000 + b'"',
        ]
    ),
    st.builds(lambda v: dumps(v), hostile_value),
)
