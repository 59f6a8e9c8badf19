"""Catalog records: items, the catalog that holds them, and metadata filters over them."""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Union

import numpy as np
import numpy.typing as npt

from ltrr.errors import DuplicateIdError, InvalidInputError, UnknownNameError

__all__ = ["AttributeValue", "Catalog", "Filters", "Item"]

AttributeValue = Union[str, int, float, bool]  # noqa: UP007 (a runtime alias on Python 3.10)


def _frozen(mapping: Mapping[str, object] | None) -> Mapping[str, object]:
    return MappingProxyType(dict(mapping or {}))


@dataclass(frozen=True, slots=True)
class Item:
    """One entry of a catalog.

    Parameters
    ----------
    id : str
        Unique, non-empty identifier.
    fields : Mapping[str, str]
        Text fields by name, e.g. ``{"title": ..., "body": ...}`` or ``{"title": ..., "artist": ...}``.
    categories : tuple of str, optional
        Category labels, used by metadata filters.
    attributes : Mapping[str, str | int | float | bool], optional
        Structured attributes, used by metadata filters and as ranking features.
    popularity : float, optional
        A non-negative popularity count or score (0 when unknown).
    created_at, updated_at : float, optional
        Unix timestamps in seconds.
    """

    id: str
    fields: Mapping[str, str]
    categories: tuple[str, ...] = ()
    attributes: Mapping[str, AttributeValue] = field(default_factory=dict)
    popularity: float = 0.0
    created_at: float | None = None
    updated_at: float | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.id, str) or not self.id:
            raise InvalidInputError(f"Item.id must be a non-empty string, got {self.id!r}")
        for name, text in self.fields.items():
            if not isinstance(text, str):
                raise InvalidInputError(
                    f"Item {self.id!r}: field {name!r} must be a string, got {type(text).__name__}"
                )
        if not math.isfinite(self.popularity) or self.popularity < 0:
            raise InvalidInputError(
                f"Item {self.id!r}: popularity must be a finite number >= 0, got {self.popularity!r}"
            )
        object.__setattr__(self, "fields", _frozen(self.fields))
        object.__setattr__(self, "attributes", _frozen(self.attributes))
        object.__setattr__(self, "categories", tuple(self.categories))

    def text(self, fields: Sequence[str]) -> str:
        """Join the named fields with spaces (a missing field counts as empty).

        Parameters
        ----------
        fields : sequence of str
            Field names in the order to join.

        Returns
        -------
        str
            The joined text.
        """
        return " ".join(self.fields.get(f, "") for f in fields).strip()


class Catalog:
    """An ordered, immutable collection of items with unique ids.

    Parameters
    ----------
    items : iterable of Item
        The items; order is kept and defines each item's integer index.
    name : str, optional
        A label for reports (e.g. ``"scifact"``).

    Raises
    ------
    DuplicateIdError
        If two items share an id.
    InvalidInputError
        If there are no items.
    """

    def __init__(self, items: Iterable[Item], *, name: str = "catalog") -> None:
        self._items: tuple[Item, ...] = tuple(items)
        self.name = name
        if not self._items:
            raise InvalidInputError("Catalog needs at least one item, got none")
        index: dict[str, int] = {}
        for i, item in enumerate(self._items):
            if not isinstance(item, Item):
                raise InvalidInputError(
                    f"Catalog items must be Item records, got {type(item).__name__} at position {i}"
                )
            if item.id in index:
                raise DuplicateIdError(
                    f"duplicate item id {item.id!r} at positions {index[item.id]} and {i}; "
                    "item ids must be unique"
                )
            index[item.id] = i
        self._index = index
        names: dict[str, None] = {}
        for item in self._items:
            names.update(dict.fromkeys(item.fields))
        self.field_names: tuple[str, ...] = tuple(names)

    def __len__(self) -> int:
        return len(self._items)

    def __iter__(self) -> Iterator[Item]:
        return iter(self._items)

    def __contains__(self, item_id: object) -> bool:
        return item_id in self._index

    def __getitem__(self, item_id: str) -> Item:
        try:
            return self._items[self._index[item_id]]
        except KeyError:
            raise UnknownNameError(
                f"unknown item id {item_id!r}; not in catalog {self.name!r}"
            ) from None

    def __repr__(self) -> str:
        return f"Catalog(name={self.name!r}, n_items={len(self)}, fields={self.field_names})"

    @property
    def ids(self) -> tuple[str, ...]:
        """Item ids in catalog order."""
        return tuple(item.id for item in self._items)

    def index_of(self, item_id: str) -> int:
        """Return the position of an item.

        Parameters
        ----------
        item_id : str
            The item's id.

        Returns
        -------
        int
            Its 0-based position in the catalog.
        """
        try:
            return self._index[item_id]
        except KeyError:
            raise UnknownNameError(
                f"unknown item id {item_id!r}; not in catalog {self.name!r}"
            ) from None

    def item_at(self, position: int) -> Item:
        """Return the item at a 0-based position."""
        return self._items[position]

    def check_fields(self, fields: Iterable[str]) -> None:
        """Raise if any of ``fields`` is not a field of some item.

        Parameters
        ----------
        fields : iterable of str
            Field names to check.

        Raises
        ------
        UnknownNameError
            Naming the unknown field and the fields that exist.
        """
        for f in fields:
            if f not in self.field_names:
                raise UnknownNameError(
                    f"unknown field {f!r}; catalog {self.name!r} has fields {list(self.field_names)}"
                )

    def texts(self, fields: Sequence[str]) -> list[str]:
        """Return each item's named fields joined by spaces, in catalog order.

        Parameters
        ----------
        fields : sequence of str
            Field names; each must exist in the catalog.

        Returns
        -------
        list of str
            One text per item.
        """
        self.check_fields(fields)
        return [item.text(fields) for item in self._items]

    def popularity(self) -> npt.NDArray[np.float64]:
        """Return the popularity of every item, in catalog order."""
        return np.fromiter(
            (item.popularity for item in self._items), dtype=np.float64, count=len(self)
        )


@dataclass(frozen=True, slots=True)
class Filters:
    """Metadata constraints for structured search.

    An item passes when it has at least one of ``categories`` (if any are given)
    and every attribute in ``attributes`` equals the given value (or one of the
    values, when a tuple is given).

    Parameters
    ----------
    categories : tuple of str, optional
        Accepted categories (any-of).
    attributes : Mapping[str, value or tuple of values], optional
        Required attribute values (all-of).
    """

    categories: tuple[str, ...] = ()
    attributes: Mapping[str, AttributeValue | tuple[AttributeValue, ...]] = field(
        default_factory=dict
    )

    def __post_init__(self) -> None:
        object.__setattr__(self, "categories", tuple(self.categories))
        object.__setattr__(self, "attributes", _frozen(self.attributes))

    def is_empty(self) -> bool:
        """Return True when the filters constrain nothing."""
        return not self.categories and not self.attributes

    def accepts(self, item: Item) -> bool:
        """Return whether ``item`` satisfies every constraint."""
        return self.matches(item.categories, item.attributes)

    def matches(self, categories: Iterable[str], attributes: Mapping[str, AttributeValue]) -> bool:
        """Return whether an item with these categories and attributes passes.

        Parameters
        ----------
        categories : iterable of str
            The item's categories.
        attributes : Mapping[str, value]
            The item's attributes.

        Returns
        -------
        bool
            True when every constraint holds.
        """
        if self.categories and not set(self.categories).intersection(categories):
            return False
        for name, wanted in self.attributes.items():
            if name not in attributes:
                return False
            value = attributes[name]
            if isinstance(wanted, tuple):
                if value not in wanted:
                    return False
            elif value != wanted:
                return False
        return True
