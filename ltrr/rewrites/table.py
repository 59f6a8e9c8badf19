"""RewriteTable: the global and personal rewrite layers, their online update from feedback, save and load.

Lookup: a user's personal layer wins where it has evidence (a personal rewrite of
the query, or a *veto*: a rewrite that failed this user), and the global layer
answers otherwise.

Online update (:meth:`RewriteTable.observe`, one call per request once its
feedback is known): the table keeps each user's current run of failed
requests and applies the detector's rule (same window and similarity gate as
:class:`~ltrr.rewrites.detect.RephraseDetector`).  When a run ends in a success
``x``, every failed query ``f`` of the run is credited ``f -> x``: for the user
(a personal rewrite once ``personal_min_support`` credits) and for everyone (a
global rewrite once ``min_support`` credits from ``min_users`` users and a
credit rate per online failure of ``f`` of at least ``min_confidence``, when
the batch miner left none).  A request answered through a rewrite that failed
vetoes that rewrite for the user; a global rewrite whose online success rate
falls below ``min_confidence`` after ``min_support`` uses is dropped.  The
online layer pairs a failure with its run's success directly; the batch miner
(:class:`~ltrr.rewrites.chain.RewriteMiner`) solves the whole chain.
"""

from __future__ import annotations

import os
import threading
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ltrr.errors import CorruptModelError, InvalidInputError
from ltrr.io import atomic_dir, atomic_write_json, read_header, read_json, write_header
from ltrr.rewrites.chain import Rewrite, RewriteMiner
from ltrr.rewrites.detect import RephraseDetector
from ltrr.text import normalise_text
from ltrr.validation import check_bool, check_int, check_real, is_real

__all__ = ["FORMAT", "RewriteTable"]

#: Format marker of a saved table's ``params.json``.
FORMAT = "ltrr.rewrites"
FORMAT_VERSION = 1
_HEADER = "params.json"
_DATA = "table.json"


@dataclass(slots=True)
class _Run:
    """A user's last request and the failed queries of its current run."""

    key: str
    timestamp: float
    failed: list[str] = field(default_factory=list)


class RewriteTable:
    """Global and personal query rewrites, with lookup, online update and persistence.

    Parameters
    ----------
    global_rewrites : Mapping[str, Rewrite], optional
        Global rules by normalised query (e.g. ``RewriteMiner.rewrites_``).
    personal : Mapping[str, Mapping[str, Rewrite]], optional
        Per user id, personal rules by normalised query.
    window_seconds : float
        Online rephrase window (default 60, > 0).
    min_similarity : float
        Online similarity gate in [0, 1] (default 0.5).
    min_confidence : float
        Least online credit rate of a new global rule, and least online success
        rate of a used one (default 0.5).
    min_support : int
        Credits (and uses) before the online rules above apply (default 2).
    min_users : int
        Distinct users behind a new online global rule (default 2).
    personal_min_support : int
        Credits of a user before a personal rule (default 1).
    max_users : int
        Users whose runs and personal layers are kept (default 100,000; least
        recently active evicted).
    max_candidates : int
        Online global candidate pairs kept (default 100,000; oldest evicted).
    """

    def __init__(
        self,
        *,
        global_rewrites: Mapping[str, Rewrite] | None = None,
        personal: Mapping[str, Mapping[str, Rewrite]] | None = None,
        window_seconds: float = 60.0,
        min_similarity: float = 0.5,
        min_confidence: float = 0.5,
        min_support: int = 2,
        min_users: int = 2,
        personal_min_support: int = 1,
        max_users: int = 100_000,
        max_candidates: int = 100_000,
    ) -> None:
        self._detector = RephraseDetector(
            window_seconds=window_seconds, min_similarity=min_similarity
        )
        self._detector._check_params()
        self.window_seconds = float(window_seconds)
        self.min_similarity = float(min_similarity)
        self.min_confidence = check_real("min_confidence", min_confidence, low=0.0, high=1.0)
        self.min_support = check_int("min_support", min_support, low=1)
        self.min_users = check_int("min_users", min_users, low=1)
        self.personal_min_support = check_int("personal_min_support", personal_min_support, low=1)
        self.max_users = check_int("max_users", max_users, low=1)
        self.max_candidates = check_int("max_candidates", max_candidates, low=1)
        self._lock = threading.RLock()
        self.global_: dict[str, Rewrite] = {}
        for key, rule in (global_rewrites or {}).items():
            self.global_[self._check_rule(key, rule, "global_rewrites")] = rule
        self.personal_: OrderedDict[str, dict[str, Rewrite]] = OrderedDict()
        for user, rules in (personal or {}).items():
            if not isinstance(user, str) or not isinstance(rules, Mapping):
                raise InvalidInputError(
                    f"personal must map user ids to mappings of rules, got {user!r}: {type(rules).__name__}"
                )
            self.personal_[user] = {
                self._check_rule(k, r, f"personal[{user!r}]"): r for k, r in rules.items()
            }
        self.vetoes_: dict[str, set[str]] = {}
        self._runs: OrderedDict[str, _Run] = OrderedDict()
        self._credits: dict[tuple[str, str], dict[str, int]] = {}  # personal: (user, f) -> x -> n
        self._candidates: OrderedDict[tuple[str, str], set[str]] = OrderedDict()  # (f, x) -> users
        self._candidate_hits: dict[tuple[str, str], int] = {}
        self._failures: OrderedDict[str, int] = OrderedDict()
        self._uses: dict[str, list[int]] = {}  # global key -> [uses, successes]
        self.n_observed_ = 0

    @staticmethod
    def _check_rule(key: object, rule: object, where: str) -> str:
        if not isinstance(rule, Rewrite):
            raise InvalidInputError(
                f"{where}[{key!r}] must be a Rewrite, got {type(rule).__name__}"
            )
        if key != rule.query:
            raise InvalidInputError(
                f"{where}: key {key!r} differs from its rule's query {rule.query!r}"
            )
        return rule.query

    @classmethod
    def from_miner(cls, miner: RewriteMiner, **params: Any) -> RewriteTable:
        """Build a table from a fitted miner's global and personal rules.

        Parameters
        ----------
        miner : RewriteMiner
            A fitted miner.
        **params
            Other keyword parameters of :class:`RewriteTable` (its online thresholds
            default to the miner's).

        Returns
        -------
        RewriteTable
            The table.
        """
        if not isinstance(miner, RewriteMiner) or not miner.is_fitted:
            raise InvalidInputError("from_miner expects a fitted RewriteMiner (call fit first)")
        for name in ("min_confidence", "min_support", "min_users", "personal_min_support"):
            params.setdefault(name, miner.get_params()[name])
        return cls(global_rewrites=miner.rewrites_, personal=miner.personal_, **params)

    def get_params(self) -> dict[str, Any]:
        """Return the online parameters (JSON-serialisable)."""
        return {
            "window_seconds": self.window_seconds,
            "min_similarity": self.min_similarity,
            "min_confidence": self.min_confidence,
            "min_support": self.min_support,
            "min_users": self.min_users,
            "personal_min_support": self.personal_min_support,
            "max_users": self.max_users,
            "max_candidates": self.max_candidates,
        }

    def __len__(self) -> int:
        return len(self.global_)

    @property
    def n_personal(self) -> int:
        """Personal rules held, over all users."""
        return sum(len(v) for v in self.personal_.values())

    # ----------------------------------------------------------------- lookup
    def lookup(
        self, query: str, user_id: str | None = None, *, personal: bool = True
    ) -> Rewrite | None:
        """Return the rewrite to apply to a query, personal layer first, or None.

        Parameters
        ----------
        query : str
            The query text (normalised here).
        user_id : str, optional
            Who asks; without it only the global layer answers.
        personal : bool
            Consult the user's personal layer (default True).

        Returns
        -------
        Rewrite or None
            The rule (its ``layer`` says which layer answered), or None when no layer
            rewrites the query or the user's personal evidence vetoes it.
        """
        if not isinstance(query, str):
            raise InvalidInputError(f"query must be a string, got {type(query).__name__}")
        key = normalise_text(query)
        with self._lock:
            if personal and user_id is not None:
                if key in self.vetoes_.get(user_id, ()):
                    return None
                rules = self.personal_.get(user_id)
                if rules is not None and key in rules:
                    return rules[key]
            return self.global_.get(key)

    # ----------------------------------------------------------------- online
    def observe(
        self,
        user_id: str | None,
        query: str,
        timestamp: float,
        success: bool,
        applied: Rewrite | None = None,
    ) -> None:
        """Learn from one request's outcome (see the module docstring).

        Parameters
        ----------
        user_id : str or None
            Who asked (None: only the rewrite's use statistics learn).
        query : str
            The query as the user issued it.
        timestamp : float
            When (seconds).
        success : bool
            Whether it got a positive engagement.
        applied : Rewrite, optional
            The rule that answered the request, when one did.

        Raises
        ------
        InvalidInputError
            If a value has the wrong type or the timestamp is not finite.
        """
        if not isinstance(query, str):
            raise InvalidInputError(f"query must be a string, got {type(query).__name__}")
        if user_id is not None and not isinstance(user_id, str):
            raise InvalidInputError(f"user_id must be a string or None, got {user_id!r}")
        if not is_real(timestamp):
            raise InvalidInputError(f"timestamp must be a finite number, got {timestamp!r}")
        ts = check_real("timestamp", timestamp)
        ok = check_bool("success", success)
        if applied is not None and not isinstance(applied, Rewrite):
            raise InvalidInputError(
                f"applied must be a Rewrite or None, got {type(applied).__name__}"
            )
        key = normalise_text(query)
        if not key:
            return
        with self._lock:
            self.n_observed_ += 1
            if applied is not None:
                self._learn_use(user_id, key, applied, ok)
            if not ok:
                self._failures[key] = self._failures.pop(key, 0) + 1
                while len(self._failures) > self.max_candidates:
                    self._failures.popitem(last=False)
            if user_id is not None:
                self._learn_run(user_id, key, ts, ok)

    def _learn_use(self, user_id: str | None, key: str, rule: Rewrite, ok: bool) -> None:
        if rule.layer == "global" and self.global_.get(key) == rule:
            uses = self._uses.setdefault(key, [0, 0])
            uses[0] += 1
            uses[1] += int(ok)
            if uses[0] >= self.min_support and uses[1] / uses[0] < self.min_confidence:
                del self.global_[key]  # it does not work online: drop it
                del self._uses[key]
        if not ok and user_id is not None:
            rules = self.personal_.get(user_id)
            if rules is not None:
                rules.pop(key, None)
            self.vetoes_.setdefault(user_id, set()).add(key)

    def _learn_run(self, user_id: str, key: str, ts: float, ok: bool) -> None:
        run = self._runs.pop(user_id, None)
        linked = (
            run is not None
            and run.failed
            and 0.0 <= ts - run.timestamp <= self.window_seconds
            and self._detector._similarity(run.key, key, self._detector.ngram, self.min_similarity)
            >= self.min_similarity
        )
        failed = list(run.failed) if linked and run is not None else []
        if ok:
            for f in dict.fromkeys(failed):
                if f != key:
                    self._credit(user_id, f, key)
            failed = []
        else:
            failed.append(key)
        self._runs[user_id] = _Run(key, ts, failed[-16:])
        while len(self._runs) > self.max_users:
            self._runs.popitem(last=False)

    def _credit(self, user_id: str, f: str, x: str) -> None:
        counts = self._credits.setdefault((user_id, f), {})
        counts[x] = counts.get(x, 0) + 1
        if counts[x] >= self.personal_min_support and counts[x] == max(counts.values()):
            rules = self.personal_.pop(user_id, {})
            rules[f] = Rewrite(
                f, x, counts[x] / sum(counts.values()), 0.0, counts[x], 1, "personal"
            )
            self.personal_[user_id] = rules
            self.vetoes_.get(user_id, set()).discard(f)
            while len(self.personal_) > self.max_users:
                old, _ = self.personal_.popitem(last=False)
                self.vetoes_.pop(old, None)
        pair = (f, x)
        users = self._candidates.pop(pair, set())
        users.add(user_id)
        self._candidates[pair] = users
        hits = self._candidate_hits[pair] = self._candidate_hits.get(pair, 0) + 1
        while len(self._candidates) > self.max_candidates:
            old_pair, _ = self._candidates.popitem(last=False)
            self._candidate_hits.pop(old_pair, None)
        rate = hits / max(self._failures.get(f, 0), hits)
        if (
            f not in self.global_
            and hits >= self.min_support
            and len(users) >= self.min_users
            and rate >= self.min_confidence
        ):
            self.global_[f] = Rewrite(f, x, rate, 0.0, hits, len(users), "global")

    # ------------------------------------------------------------- save/load
    def save(self, folder: str | os.PathLike[str]) -> Path:
        """Save the table atomically: ``params.json`` (format, class, parameters) and ``table.json``.

        Parameters
        ----------
        folder : path-like
            Destination folder; an existing one is replaced only once the new one is complete.

        Returns
        -------
        Path
            The folder.
        """
        with self._lock:
            data = {
                "global": [r.to_dict() for r in self.global_.values()],
                "personal": {
                    u: [r.to_dict() for r in rules.values()] for u, rules in self.personal_.items()
                },
                "vetoes": {u: sorted(keys) for u, keys in self.vetoes_.items() if keys},
            }
            n_global, n_personal = len(self.global_), self.n_personal
        with atomic_dir(folder) as tmp:
            write_header(
                tmp / _HEADER,
                fmt=FORMAT,
                version=FORMAT_VERSION,
                cls_name=type(self).__name__,
                params=self.get_params(),
                n_global=n_global,
                n_personal=n_personal,
            )
            atomic_write_json(tmp / _DATA, data)
        return Path(folder)

    @classmethod
    def load(cls, folder: str | os.PathLike[str]) -> RewriteTable:
        """Load a table written by :meth:`save`.

        Parameters
        ----------
        folder : path-like
            The saved table.

        Returns
        -------
        RewriteTable
            The table (online runs and candidate counts start empty).

        Raises
        ------
        CorruptModelError
            If a file is missing or malformed, naming it.
        """
        path = Path(folder)
        meta = read_header(
            path / _HEADER,
            fmt=FORMAT,
            version=FORMAT_VERSION,
            cls_name=cls.__name__,
            what="rewrite table header",
        )
        data = read_json(path / _DATA, what="rewrite table", mapping=True)
        where = str(path / _DATA)
        try:
            global_rules = {r.query: r for r in (Rewrite(**d) for d in data["global"])}
            personal = {
                str(u): {r.query: r for r in (Rewrite(**d) for d in rules)}
                for u, rules in data["personal"].items()
            }
            vetoes = {str(u): {str(k) for k in keys} for u, keys in data.get("vetoes", {}).items()}
            table = cls(global_rewrites=global_rules, personal=personal, **meta["params"])
        except (KeyError, TypeError, AttributeError, InvalidInputError) as exc:
            raise CorruptModelError(f"rewrite table {where!r} is malformed: {exc}") from None
        table.vetoes_ = vetoes
        return table
