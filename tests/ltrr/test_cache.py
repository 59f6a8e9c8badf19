from __future__ import annotations

import threading

import pytest

from ltrr.cache import LRUCache
from ltrr.errors import InvalidInputError


def test_keeps_the_most_recently_used_keys():
    cache: LRUCache[str, int] = LRUCache(2)
    cache.put("a", 1)
    cache.put("b", 2)
    assert cache.get("a") == 1  # "a" is now the most recent: "b" goes first
    cache.put("c", 3)
    assert cache.get("b") is None and cache.get("a") == 1 and cache.get("c") == 3
    cache.put("a", 10)  # overwrite keeps one entry
    assert len(cache) == 2 and cache.get("a") == 10
    cache.maxsize = 1  # shrinking evicts at the next put
    cache.put("d", 4)
    assert len(cache) == 1 and cache.get("d") == 4
    cache.clear()
    assert len(cache) == 0 and cache.get("d") is None
    off: LRUCache[str, int] = LRUCache(0)
    off.put("a", 1)
    assert len(off) == 0


@pytest.mark.parametrize("bad", [-1, 1.5, True, "3", None])
def test_rejects_bad_sizes(bad):
    with pytest.raises(InvalidInputError, match=f"maxsize must be an integer >= 0, got {bad!r}"):
        LRUCache(bad)


def test_threads_never_exceed_the_size():
    cache: LRUCache[int, int] = LRUCache(50)

    def work(offset: int) -> None:
        for n in range(2000):
            cache.put(offset + n % 200, n)
            cache.get(offset + (n * 7) % 200)

    threads = [threading.Thread(target=work, args=(o,)) for o in (0, 100, 1000, 5000)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(cache) == 50
