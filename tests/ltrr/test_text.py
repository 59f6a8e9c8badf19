from __future__ import annotations

import pytest

from ltrr.errors import UnknownNameError
from ltrr.text import Tokenizer


def test_default_pipeline():
    assert Tokenizer().tokenize("The Running dogs, RUNNING!") == ["run", "dog", "run"]


def test_options():
    assert Tokenizer(stemmer=None).tokenize("The Running dogs") == ["running", "dogs"]
    assert Tokenizer(stopwords="none", stemmer=None).tokenize("The a dogs") == ["the", "dogs"]
    assert Tokenizer(lowercase=False, stemmer=None, stopwords="none").tokenize("Big DOG") == [
        "Big",
        "DOG",
    ]
    assert Tokenizer().tokenize("   ") == []


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"stopwords": "xx"}, "unknown stopwords 'xx'; expected one of"),
        ({"stemmer": "xx"}, "unknown stemmer language 'xx'; expected one of"),
    ],
)
def test_bad_options(kwargs, match):
    with pytest.raises(UnknownNameError, match=match):
        Tokenizer(**kwargs)
