"""A small thread-safe least-recently-used map (per-query caches of the strategies)."""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Generic, TypeVar

from ltrr.validation import check_int

__all__ = ["LRUCache"]

K = TypeVar("K")
V = TypeVar("V")


class LRUCache(Generic[K, V]):
    """Keep the values of the last ``maxsize`` keys used; safe to share between threads.

    Parameters
    ----------
    maxsize : int
        Entries kept (>= 0; 0 keeps nothing). May be changed on the instance; the
        next :meth:`put` evicts down to it.
    """

    def __init__(self, maxsize: int) -> None:
        self.maxsize = maxsize
        self._data: OrderedDict[K, V] = OrderedDict()
        self._lock = threading.Lock()

    @property
    def maxsize(self) -> int:
        """Entries kept."""
        return self._maxsize

    @maxsize.setter
    def maxsize(self, value: int) -> None:
        self._maxsize = check_int("maxsize", value, low=0)

    def get(self, key: K) -> V | None:
        """Return the value stored for ``key`` (None if absent), marking it recently used.

        Parameters
        ----------
        key : hashable
            The key.

        Returns
        -------
        object or None
            The stored value.
        """
        with self._lock:
            value = self._data.get(key)
            if value is not None:
                self._data.move_to_end(key)
            return value

    def put(self, key: K, value: V) -> None:
        """Store ``value`` under ``key``, evicting the least recently used beyond ``maxsize``.

        Parameters
        ----------
        key : hashable
            The key.
        value : object
            The value (not None).
        """
        with self._lock:
            self._data[key] = value
            self._data.move_to_end(key)
            while len(self._data) > self._maxsize:
                self._data.popitem(last=False)

    def clear(self) -> None:
        """Forget every entry."""
        with self._lock:
            self._data.clear()

    def __len__(self) -> int:
        with self._lock:
            return len(self._data)
