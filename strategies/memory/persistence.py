"""Saved state of the memory index: memory.json and memory.npz, written and read back with format checks."""

from __future__ import annotations

import io
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from ltrr.errors import CorruptModelError
from ltrr.io import atomic_write_bytes, atomic_write_json, read_arrays, read_json
from strategies.memory.layers import _N_REC, KeyStats, UserLayer
from strategies.memory.neighbours import NeighbourState

__all__ = ["MemoryState", "read_state", "write_state"]

_STATE_JSON = "memory.json"
_STATE_NPZ = "memory.npz"
_STATE_FORMAT = "ltrr.memory"
_STATE_VERSION = 1


@dataclass
class MemoryState:
    """What a memory index learned: its layers, predictions, clock and counters.

    The layers are shared with the strategy, not copied.
    """

    global_: OrderedDict[str, KeyStats]
    users: OrderedDict[str, UserLayer]
    predicted: dict[str, dict[int, float]]
    clock: float
    n_interactions: int
    n_skipped: int
    neighbours: NeighbourState | None = None
    neighbour_stale: int = 0


def write_state(folder: Path, state: MemoryState) -> None:
    """Write ``state`` into ``folder`` as ``memory.json`` (keys) and ``memory.npz`` (records).

    Parameters
    ----------
    folder : Path
        The strategy's save folder.
    state : MemoryState
        What to write (the caller holds the strategy's lock).
    """
    g_keys = list(state.global_)
    g_ptr, g_items, g_recs, g_tot = _pack([state.global_[k] for k in g_keys])
    p_keys = list(state.predicted)
    p_ptr = np.zeros(len(p_keys) + 1, dtype=np.int64)
    p_items: list[int] = []
    p_weights: list[float] = []
    for j, key in enumerate(p_keys):
        row = state.predicted[key]
        p_items.extend(row.keys())
        p_weights.extend(row.values())
        p_ptr[j + 1] = len(p_items)
    users = list(state.users)
    user_keys = [list(state.users[u].keys) for u in users]
    u_ptr = np.zeros(len(users) + 1, dtype=np.int64)
    for j, keys in enumerate(user_keys):
        u_ptr[j + 1] = u_ptr[j] + len(keys)
    uk_ptr, uk_items, uk_recs, uk_tot = _pack(
        [state.users[u].keys[k] for u, keys in zip(users, user_keys) for k in keys]
    )
    a_ptr, a_items, a_recs, a_tot = _pack([state.users[u].affinity for u in users])
    atomic_write_json(
        folder / _STATE_JSON,
        {
            "format": _STATE_FORMAT,
            "version": _STATE_VERSION,
            "clock": state.clock,
            "n_interactions": state.n_interactions,
            "n_skipped": state.n_skipped,
            "global_keys": g_keys,
            "predicted_keys": p_keys,
            "users": users,
            "user_keys": user_keys,
            "neighbours": None
            if state.neighbours is None
            else {
                "backend": state.neighbours.backend,
                "keys": state.neighbours.keys,
                "fitted": state.neighbours.fitted,
                "stale": state.neighbour_stale,
            },
        },
    )
    buf = io.BytesIO()
    np.savez(
        buf,
        global_ptr=g_ptr,
        global_items=g_items,
        global_records=g_recs,
        global_totals=g_tot,
        predicted_ptr=p_ptr,
        predicted_items=np.asarray(p_items, dtype=np.int64),
        predicted_weights=np.asarray(p_weights, dtype=np.float64),
        user_ptr=u_ptr,
        user_key_ptr=uk_ptr,
        user_items=uk_items,
        user_records=uk_recs,
        user_totals=uk_tot,
        affinity_ptr=a_ptr,
        affinity_items=a_items,
        affinity_records=a_recs,
        affinity_totals=a_tot,
    )
    atomic_write_bytes(folder / _STATE_NPZ, buf.getvalue())


def read_state(folder: Path, n_items: int) -> MemoryState:
    """Read the state :func:`write_state` wrote, checking it covers ``n_items`` items.

    Parameters
    ----------
    folder : Path
        The strategy's save folder.
    n_items : int
        Number of saved catalog items (every saved position must fall below it).

    Returns
    -------
    MemoryState
        The layers, predictions, clock and counters.

    Raises
    ------
    CorruptModelError
        If a file is missing, unreadable, of another format or version, or inconsistent.
    """
    meta = read_json(folder / _STATE_JSON, what="memory index description")
    where = str(folder / _STATE_JSON)
    if not isinstance(meta, dict) or meta.get("format") != _STATE_FORMAT:
        raise CorruptModelError(
            f"{where!r} is not a memory index description (expected 'format': {_STATE_FORMAT!r})"
        )
    if meta.get("version") != _STATE_VERSION:
        raise CorruptModelError(
            f"{where!r} has version {meta.get('version')!r}; this ltrr reads {_STATE_VERSION}"
        )
    try:
        g_keys = [str(k) for k in meta["global_keys"]]
        p_keys = [str(k) for k in meta["predicted_keys"]]
        users = [str(u) for u in meta["users"]]
        user_keys = [[str(k) for k in ks] for ks in meta["user_keys"]]
        clock = float(meta["clock"])
        n_inter = int(meta["n_interactions"])
        n_skip = int(meta["n_skipped"])
    except (KeyError, TypeError, ValueError) as exc:
        raise CorruptModelError(f"{where!r} is malformed: {exc!r}") from None
    neighbours, stale = _read_neighbours(meta.get("neighbours"), where)
    if len(user_keys) != len(users):
        raise CorruptModelError(
            f"{where!r} lists {len(users)} users but {len(user_keys)} key lists"
        )
    npz = folder / _STATE_NPZ
    arrays = read_arrays(npz, what="memory index arrays")
    needed = (
        "global_ptr",
        "global_items",
        "global_records",
        "global_totals",
        "predicted_ptr",
        "predicted_items",
        "predicted_weights",
        "user_ptr",
        "user_key_ptr",
        "user_items",
        "user_records",
        "user_totals",
        "affinity_ptr",
        "affinity_items",
        "affinity_records",
        "affinity_totals",
    )
    missing = [n for n in needed if n not in arrays]
    if missing:
        raise CorruptModelError(f"memory index arrays {str(npz)!r} lack {missing}")
    g_stats = _unpack(
        "global", arrays["global_ptr"], arrays["global_items"], arrays["global_records"],
        arrays["global_totals"], len(g_keys), n_items, str(npz),
    )  # fmt: skip
    all_user_keys = [k for ks in user_keys for k in ks]
    u_stats = _unpack(
        "user", arrays["user_key_ptr"], arrays["user_items"], arrays["user_records"],
        arrays["user_totals"], len(all_user_keys), n_items, str(npz),
    )  # fmt: skip
    a_stats = _unpack(
        "affinity", arrays["affinity_ptr"], arrays["affinity_items"],
        arrays["affinity_records"], arrays["affinity_totals"], len(users), n_items, str(npz),
    )  # fmt: skip
    u_ptr = arrays["user_ptr"]
    expected_ptr = np.cumsum([0, *[len(ks) for ks in user_keys]])
    if u_ptr.shape != expected_ptr.shape or not np.array_equal(u_ptr, expected_ptr):
        raise CorruptModelError(f"user pointers in {str(npz)!r} do not match {where!r}")
    p_ptr = arrays["predicted_ptr"]
    p_items = arrays["predicted_items"]
    p_weights = arrays["predicted_weights"]
    _check_ptr("predicted", p_ptr, len(p_keys), len(p_items), str(npz))
    if len(p_weights) != len(p_items):
        raise CorruptModelError(
            f"predicted pairs in {str(npz)!r}: {len(p_items)} items, {len(p_weights)} weights"
        )
    _check_positions("predicted", p_items, n_items, str(npz))
    if len(p_weights) and (not np.all(np.isfinite(p_weights)) or float(p_weights.min()) <= 0):
        raise CorruptModelError(f"predicted weights in {str(npz)!r} must be finite and > 0")
    predicted: dict[str, dict[int, float]] = {}
    items_list = p_items.tolist()
    weights_list = p_weights.tolist()
    for j, key in enumerate(p_keys):
        s, e = int(p_ptr[j]), int(p_ptr[j + 1])
        predicted[key] = dict(zip(items_list[s:e], weights_list[s:e]))
    users_layers: OrderedDict[str, UserLayer] = OrderedDict()
    it = iter(u_stats)
    for user, keys, affinity in zip(users, user_keys, a_stats):
        layer = users_layers[user] = UserLayer(affinity.t)
        layer.affinity = affinity
        layer.keys = OrderedDict((k, next(it)) for k in keys)
    return MemoryState(
        global_=OrderedDict(zip(g_keys, g_stats)),
        users=users_layers,
        predicted=predicted,
        clock=clock,
        n_interactions=n_inter,
        n_skipped=n_skip,
        neighbours=neighbours,
        neighbour_stale=stale,
    )


def _read_neighbours(raw: object, where: str) -> tuple[NeighbourState | None, int]:
    """Read the saved neighbour index (absent in saves before it was kept: None, 0)."""
    if raw is None:
        return None, 0
    if not isinstance(raw, dict):
        raise CorruptModelError(
            f"{where!r}: 'neighbours' must be an object or null, got {raw!r:.80}"
        )
    backend, keys, fitted, stale = (raw.get(k) for k in ("backend", "keys", "fitted", "stale"))
    if not isinstance(backend, str):
        raise CorruptModelError(
            f"{where!r}: neighbours.backend must be a string, got {backend!r:.80}"
        )
    if not isinstance(keys, list) or not all(isinstance(k, str) for k in keys):
        raise CorruptModelError(f"{where!r}: neighbours.keys must be a list of strings")
    for name, value, high in (("fitted", fitted, len(keys)), ("stale", stale, None)):
        if type(value) is not int or value < 0 or (high is not None and value > high):
            bound = f"an integer in [0, {high}]" if high is not None else "an integer >= 0"
            raise CorruptModelError(
                f"{where!r}: neighbours.{name} must be {bound}, got {value!r:.80}"
            )
    return NeighbourState(backend, keys, int(fitted)), int(stale)  # type: ignore[arg-type]


def _pack(
    stats: Sequence[KeyStats],
) -> tuple[
    npt.NDArray[np.int64], npt.NDArray[np.int64], npt.NDArray[np.float64], npt.NDArray[np.float64]
]:
    ptr = np.zeros(len(stats) + 1, dtype=np.int64)
    items: list[int] = []
    recs: list[list[float]] = []
    totals = np.zeros((len(stats), 3), dtype=np.float64)
    for j, st in enumerate(stats):
        items.extend(st.items.keys())
        recs.extend(st.items.values())
        ptr[j + 1] = len(items)
        totals[j] = (st.mass, st.shown, st.t)
    rec_arr = np.asarray(recs, dtype=np.float64).reshape(len(recs), _N_REC)
    return ptr, np.asarray(items, dtype=np.int64), rec_arr, totals


def _check_ptr(what: str, ptr: npt.NDArray[Any], n_keys: int, n_rows: int, where: str) -> None:
    if (
        ptr.ndim != 1
        or len(ptr) != n_keys + 1
        or (len(ptr) and (int(ptr[0]) != 0 or int(ptr[-1]) != n_rows))
        or np.any(np.diff(ptr) < 0)
    ):
        raise CorruptModelError(
            f"{what} pointers in {where!r} are inconsistent with {n_keys} keys and {n_rows} rows"
        )


def _check_positions(what: str, items: npt.NDArray[Any], n_items: int, where: str) -> None:
    if items.ndim != 1 or (len(items) and (int(items.min()) < 0 or int(items.max()) >= n_items)):
        raise CorruptModelError(
            f"{what} item positions in {where!r} fall outside the {n_items} saved items"
        )


def _unpack(
    what: str,
    ptr: npt.NDArray[Any],
    items: npt.NDArray[Any],
    recs: npt.NDArray[Any],
    totals: npt.NDArray[Any],
    n_keys: int,
    n_items: int,
    where: str,
) -> list[KeyStats]:
    _check_ptr(what, ptr, n_keys, len(items), where)
    _check_positions(what, items, n_items, where)
    if recs.shape != (len(items), _N_REC) or totals.shape != (n_keys, 3):
        raise CorruptModelError(
            f"{what} records in {where!r} have shapes {recs.shape} and {totals.shape}; "
            f"expected ({len(items)}, {_N_REC}) and ({n_keys}, 3)"
        )
    if not (np.all(np.isfinite(recs)) and np.all(np.isfinite(totals))):
        raise CorruptModelError(f"{what} records in {where!r} hold non-finite values")
    out: list[KeyStats] = []
    item_list = items.tolist()
    rec_list = recs.tolist()
    for j, (mass, shown, t) in enumerate(totals.tolist()):
        st = KeyStats(t)
        st.mass, st.shown = mass, shown
        s, e = int(ptr[j]), int(ptr[j + 1])
        st.items = dict(zip(item_list[s:e], rec_list[s:e]))
        out.append(st)
    return out
