"""Event-log line codec: the JSON backend (orjson or the standard library), line encoding, and per-line schema checks."""

from __future__ import annotations

import importlib
import json
import math
from collections.abc import Callable, Mapping
from typing import Any, Final

from ltrr.errors import InvalidInputError
from ltrr.eventlog.schema import (
    _FEEDBACK_FIELDS,
    _KINDS,
    _POOL_FIELDS,
    _REQUEST_FIELDS,
    SCHEMA_VERSION,
)
from ltrr.validation import describe

__all__ = ["JSON_BACKEND"]

#: Largest value of a 64-bit signed integer column (``position`` is a pandas ``Int64``).
_INT64_MAX: Final = 2**63 - 1
#: Most free features, and longest user id / device / locale, that
#: :class:`ltrr.query.Context` accepts (its ``MAX_CONTEXT_FEATURES`` and
#: ``MAX_CONTEXT_CHARS``; not imported, to keep the event log free of the engine).
_MAX_CONTEXT_FEATURES: Final = 256
_MAX_CONTEXT_CHARS: Final = 256


def _load_orjson() -> Any:
    try:
        return importlib.import_module("orjson")
    except ImportError:
        return None


_ORJSON: Any = _load_orjson()

#: The JSON library that serialises and parses lines: ``"orjson"`` when it is
#: installed, else ``"json"`` (the standard library).  Both write standard JSON
#: with the same values; only the speed differs.
JSON_BACKEND: Final[str] = "json" if _ORJSON is None else "orjson"

_STD_ENCODER: Final = json.JSONEncoder(
    ensure_ascii=False, separators=(",", ":"), allow_nan=False, check_circular=False
)


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def _std_dumps(obj: object) -> bytes:
    return _STD_ENCODER.encode(obj).encode("utf-8")


def _std_loads(data: bytes) -> Any:
    return json.loads(data, parse_constant=_reject_constant)


_dumps: Callable[[object], bytes] = _std_dumps if _ORJSON is None else _ORJSON.dumps
_loads: Callable[[bytes], Any] = _std_loads if _ORJSON is None else _ORJSON.loads


def _encode_line(obj: Mapping[str, object], what: str) -> bytes:
    try:
        return _dumps(obj) + b"\n"
    except (TypeError, ValueError) as exc:  # orjson's errors subclass TypeError
        raise InvalidInputError(f"{what} is not JSON-serialisable: {exc}") from None


# ------------------------------------------------------------------ line checks


def _is_number(value: object) -> bool:
    """Whether ``value`` is a finite float, or an int a float64 column can hold."""
    if type(value) is float:
        return math.isfinite(value)
    if type(value) is int:
        try:
            return math.isfinite(float(value))
        except OverflowError:  # beyond 1.8e308: the standard library parses any integer
            return False
    return False


def _bad_text(value: object, max_chars: int) -> bool:
    if type(value) is not str or len(value) > max_chars:
        return True
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate, which a JSON escape can make
        return True
    return False


def _context_problem(context: dict[Any, Any]) -> str | None:
    """Check the keys :meth:`ltrr.query.Context.from_dict` reads; other keys are free.

    Parameters
    ----------
    context : dict
        A logged context.

    Returns
    -------
    str or None
        What is wrong (naming the key, the value and what was expected), or None.
    """
    for name in ("user_id", "device", "locale"):
        value = context.get(name)
        if value is not None and _bad_text(value, _MAX_CONTEXT_CHARS):
            return (
                f"context[{name!r}] must be null or a string of at most "
                f"{_MAX_CONTEXT_CHARS} characters, got {_short(value)}"
            )
    timestamp = context.get("timestamp")
    if timestamp is not None and not _is_number(timestamp):
        return f"context['timestamp'] must be null or a finite number, got {_short(timestamp)}"
    features = context.get("features")
    if features is None:
        return None
    if type(features) is not dict:
        return f"context['features'] must be null or an object of numbers, got {_short(features)}"
    if len(features) > _MAX_CONTEXT_FEATURES:
        return (
            f"context['features'] has {len(features)} entries; "
            f"expected at most {_MAX_CONTEXT_FEATURES}"
        )
    for key, value in features.items():
        if _bad_text(key, _MAX_CONTEXT_CHARS):
            return (
                f"context['features'] key {_short(key)} must be a string of at most "
                f"{_MAX_CONTEXT_CHARS} characters"
            )
        if not _is_number(value):
            return f"context['features'][{_short(key)}] must be a finite number, got {_short(value)}"
    return None


def _short(value: object) -> str:
    text = describe(value)  # never fails, however deep or long the value
    return text if len(text) <= 80 else f"{text[:60]}... ({type(value).__name__})"


_POOL_KEYS: Final = frozenset(_POOL_FIELDS)


def _check_request_line(obj: dict[str, Any]) -> str | None:
    if type(obj["request_id"]) is not str or not obj["request_id"]:
        return f"request_id must be a non-empty string, got {_short(obj['request_id'])}"
    if not _is_number(obj["timestamp"]):
        return f"timestamp must be a finite number, got {_short(obj['timestamp'])}"
    for name in ("query", "action", "policy"):
        if type(obj[name]) is not str:
            return f"{name} must be a string, got {_short(obj[name])}"
    for name in ("context", "action_probs", "extra"):
        if type(obj[name]) is not dict:
            return f"{name} must be a JSON object, got {_short(obj[name])}"
    context_problem = _context_problem(obj["context"])
    if context_problem is not None:
        return context_problem
    propensity = obj["propensity"]
    if not _is_number(propensity) or not 0 < propensity <= 1:
        return f"propensity must be a number in (0, 1], got {_short(propensity)}"
    if obj["action"] not in obj["action_probs"]:
        return f"action {_short(obj['action'])} is not in action_probs {_short(list(obj['action_probs']))}"
    pool = obj["pool"]
    if type(pool) is not list:
        return f"pool must be a list, got {_short(pool)}"
    for i, entry in enumerate(pool):
        if type(entry) is not dict or entry.keys() != _POOL_KEYS:
            return f"pool[{i}] must be an object with keys {list(_POOL_FIELDS)}, got {_short(entry)}"
    ranking = obj["ranking"]
    if type(ranking) is not list or not all(type(item) is str for item in ranking):
        return f"ranking must be a list of item ids, got {_short(ranking)}"
    return None


def _check_feedback_line(obj: dict[str, Any]) -> str | None:
    for name in ("request_id", "item_id"):
        if type(obj[name]) is not str or not obj[name]:
            return f"{name} must be a non-empty string, got {_short(obj[name])}"
    if type(obj["kind"]) is not str or obj["kind"] not in _KINDS:
        return f"unknown engagement kind {_short(obj['kind'])}; expected one of {sorted(_KINDS)}"
    position = obj["position"]
    if position is not None and (type(position) is not int or not 1 <= position <= _INT64_MAX):
        return (
            f"position must be null or an integer >= 1 and <= 2**63 - 1 (the log's "
            f"64-bit column), got {_short(position)}"
        )
    if not _is_number(obj["timestamp"]):
        return f"timestamp must be a finite number, got {_short(obj['timestamp'])}"
    return None


_SCHEMAS: Final[dict[str, tuple[tuple[str, ...], Callable[[dict[str, Any]], str | None]]]] = {
    "request": (_REQUEST_FIELDS, _check_request_line),
    "feedback": (_FEEDBACK_FIELDS, _check_feedback_line),
}


def _check_line(obj: object, kind: str) -> str | None:
    if type(obj) is not dict:
        return f"expected a JSON object, got {type(obj).__name__}"
    fields, check = _SCHEMAS[kind]
    missing = [name for name in ("v", "type", *fields) if name not in obj]
    if missing:
        return f"missing fields {missing}"
    version = obj["v"]
    if type(version) is not int or version != SCHEMA_VERSION:
        return f"unsupported schema version {_short(version)}; expected {SCHEMA_VERSION}"
    if obj["type"] != kind:
        return f"record type {_short(obj['type'])} in a {kind} log; expected {kind!r}"
    if len(obj) != len(fields) + 2:
        known = {"v", "type", *fields}
        return f"unexpected fields {_short([name for name in obj if name not in known])}"
    return check(obj)
