"""Field checks shared by the event-log records: strings, numbers, JSON values, record keys and header."""

from __future__ import annotations

import math
import numbers
from collections.abc import Mapping, Sequence
from typing import Any, SupportsFloat, SupportsInt, cast

import numpy as np
import pandas as pd

from ltrr.errors import InvalidInputError
from ltrr.eventlog.schema import SCHEMA_VERSION
from ltrr.validation import is_int, is_real


class _NotJson(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason
        self.path: list[str] = []


def _plain_json(value: object) -> Any:
    """Return a plain-JSON copy of ``value`` (dicts, lists, str, int, float, bool, None)."""
    t = type(value)
    if t is str or t is bool or value is None:
        return value
    if t is int:
        if -(2**63) <= value < 2**64:  # type: ignore[operator]
            return value
        raise _NotJson(f"is {value!r}, outside the 64-bit range that JSON readers accept")
    if t is float:
        if math.isfinite(value):  # type: ignore[arg-type]
            return value
        raise _NotJson(f"is {value!r}; JSON has no NaN or infinity")
    if t is dict or isinstance(value, Mapping):
        out: dict[str, Any] = {}
        mapping: Mapping[Any, Any] = value  # type: ignore[assignment]
        for key, item in mapping.items():
            if not isinstance(key, str):
                raise _NotJson(
                    f"has key {key!r} of type {type(key).__name__}; keys must be strings"
                )
            ti = type(item)
            if ti is str or ti is bool or item is None or (ti is float and math.isfinite(item)):
                out[str.__str__(key)] = item  # fast path for flat records: no recursion
                continue
            try:
                out[str.__str__(key)] = _plain_json(item)
            except _NotJson as exc:
                exc.path.append(f"[{key!r}]")
                raise
        return out
    if isinstance(value, (list, tuple)):
        items: list[Any] = []
        for i, item in enumerate(value):
            try:
                items.append(_plain_json(item))
            except _NotJson as exc:
                exc.path.append(f"[{i}]")
                raise
        return items
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, numbers.Integral):
        return _plain_json(int(value))
    if isinstance(value, numbers.Real):
        number = float(value)
        if math.isfinite(number):
            return number
        raise _NotJson(f"is {value!r}; JSON has no NaN or infinity")
    if isinstance(value, str):
        return str.__str__(value)
    raise _NotJson(
        f"has type {type(value).__name__}; expected str, int, float, bool, None, list or dict"
    )


def _json_mapping(value: object, where: str) -> dict[str, Any]:
    if type(value) is not dict and not isinstance(value, Mapping):
        raise InvalidInputError(
            f"{where} must be a mapping with string keys, got {type(value).__name__}: {value!r}"
        )
    try:
        out: dict[str, Any] = _plain_json(value)
    except _NotJson as exc:
        raise InvalidInputError(
            f"{where}{''.join(reversed(exc.path))} {exc.reason} (the value must be JSON-serialisable)"
        ) from None
    return out


def _text(value: object, where: str, *, non_empty: bool = True) -> str:
    if type(value) is str:
        if non_empty and not value:
            raise InvalidInputError(f"{where} must be a non-empty string, got ''")
        return value
    if isinstance(value, str):
        return _text(str.__str__(value), where, non_empty=non_empty)
    expected = "a non-empty string" if non_empty else "a string"
    raise InvalidInputError(f"{where} must be {expected}, got {type(value).__name__}: {value!r}")


def _number(value: object, where: str, expected: str = "a finite number") -> float:
    if type(value) is float:
        number = value
    elif is_real(value):
        number = float(cast(SupportsFloat, value))
    else:
        raise InvalidInputError(
            f"{where} must be {expected}, got {type(value).__name__}: {value!r}"
        )
    if not math.isfinite(number):
        raise InvalidInputError(f"{where} must be {expected}, got {value!r}")
    return number


def _positive_int(value: object, where: str) -> int:
    if type(value) is int:
        number = value
    elif is_int(value):
        number = int(cast(SupportsInt, value))
    else:
        raise InvalidInputError(
            f"{where} must be a 1-based integer (>= 1), got {type(value).__name__}: {value!r}"
        )
    if number < 1:
        raise InvalidInputError(f"{where} must be a 1-based integer (>= 1), got {value!r}")
    return number


def _is_missing(value: object) -> bool:
    return value is None or value is pd.NA or (type(value) is float and math.isnan(value))


def _check_keys(
    data: object,
    required: Sequence[str],
    record: str,
    optional: Sequence[str] = (),
) -> Mapping[str, Any]:
    if not isinstance(data, Mapping):
        raise InvalidInputError(f"{record} data must be a mapping, got {type(data).__name__}")
    missing = [name for name in required if name not in data]
    if missing:
        raise InvalidInputError(f"{record} data is missing fields {missing}")
    known = {*required, *optional}
    unexpected = [name for name in data if name not in known]
    if unexpected:
        raise InvalidInputError(
            f"{record} data has unexpected fields {unexpected}; expected only {sorted(known)}"
        )
    return data


def _check_header(data: Mapping[str, Any], record_type: str, record: str) -> None:
    if "v" in data and (type(data["v"]) is not int or data["v"] != SCHEMA_VERSION):
        raise InvalidInputError(
            f"{record} data has schema version {data['v']!r}; expected {SCHEMA_VERSION}"
        )
    if "type" in data and data["type"] != record_type:
        raise InvalidInputError(
            f"{record} data has type {data['type']!r}; expected {record_type!r}"
        )


def _copy_json(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _copy_json(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_copy_json(v) for v in value]
    return value
