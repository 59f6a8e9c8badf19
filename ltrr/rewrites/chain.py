"""Absorbing Markov chain rewrite mining: from rephrase links to (defective query -> rewrite) rules.

The chain
---------
Every normalised query text ``q`` is a *transient* state ``T_q``; there is one
*absorbing* state ``A_q`` per query ("``q`` was issued and succeeded") and one
absorbing failure state ``F`` ("the user gave up").  Each logged request of
``q`` contributes one transition out of ``T_q``:

* to ``A_q`` when it succeeded,
* to ``T_q'`` when it failed and was linked to a rephrase ``q'``
  (:class:`~ltrr.rewrites.detect.RephraseDetector`),
* to ``F`` when it failed and the user did not rephrase.

A failed request followed by an identical retry (``q' = q``) is left out: a
self-loop changes no absorption probability, and leaving it out keeps a query
that only ever repeats itself from making ``I - Q`` singular.  A user counts
at most ``max_user_count`` times per transition, so one user with thousands of
rephrases weighs like a few.  With ``Q`` the transient-to-transient and ``R``
the transient-to-absorbing probabilities, the absorption probabilities are
``B = (I - Q)^-1 R`` (``N = (I - Q)^-1`` is the fundamental matrix).  Since
``R`` sends ``T_x`` only to ``A_x`` and ``F``, ``B[q, A_x] = N[q, x] s_x`` with
``s_x`` the one-step success rate of ``x``; ``N`` is block diagonal over the
weakly connected components of ``Q``'s graph, so each component is solved on
its own (batched dense solves for small ones, SciPy's sparse LU for large
ones).  Cycles need nothing special: every component has an exit (each
user's last request of a chain succeeds, or is abandoned), so ``I - Q`` is
invertible.

A rewrite ``q -> x`` is kept when ``x != q``, ``x`` maximises ``B[q, A_x]`` over
the other queries, and

* ``confidence = B[q, A_x] >= min_confidence``,
* ``confidence > B[q, A_q]`` (the rewrite succeeds more often than the query as is),
* ``support >= min_support`` (capped rephrase transitions out of ``q``) and
  ``users >= min_users`` (distinct users who rephrased ``q``).

The personal layer runs the same chain with states ``(user, q)``: transitions
never cross users, so each user's components are solved together with
everyone else's in one batch.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd
from scipy import sparse
from scipy.sparse import csgraph
from scipy.sparse.linalg import splu

from ltrr.errors import InvalidInputError
from ltrr.rewrites.detect import Rephrases
from ltrr.validation import check_bool, check_int, check_real

__all__ = ["ChainSolution", "Rewrite", "RewriteMiner", "solve_chain"]

#: Components up to this size are solved as batched dense systems.
DENSE_MAX = 48
#: Dense systems solved per batch (bounds memory: batch * size**2 floats).
_BATCH = 2048
#: Right-hand sides solved at once on a large component's sparse LU.
_RHS_BLOCK = 256
#: Separates a user from a query in the personal chain's state keys.
_SEP = "\x1f"


@dataclass(frozen=True, slots=True)
class Rewrite:
    """One mined rewrite rule.

    Parameters
    ----------
    query : str
        The defective query's normalised text.
    target : str
        The normalised text to retrieve for instead (non-empty, differs from ``query``).
    confidence : float
        Probability that a request of ``query`` ends in a success of ``target``.
    success_as_is : float
        Probability that it ends in a success of ``query`` itself.
    support : int
        Rephrase transitions out of ``query`` (each user capped).
    users : int
        Distinct users who rephrased ``query``.
    layer : str
        ``"global"`` or ``"personal"``.

    Raises
    ------
    InvalidInputError
        If ``target`` is empty or equals ``query``, or a number is out of range.
    """

    query: str
    target: str
    confidence: float
    success_as_is: float
    support: int
    users: int
    layer: str = "global"

    def __post_init__(self) -> None:
        if not isinstance(self.query, str) or not self.query.strip():
            raise InvalidInputError(f"Rewrite.query must be a non-empty string, got {self.query!r}")
        if not isinstance(self.target, str) or not self.target.strip():
            raise InvalidInputError(
                f"Rewrite.target must be a non-empty string, got {self.target!r} "
                f"(rewrite of {self.query!r})"
            )
        if self.target == self.query:
            raise InvalidInputError(
                f"Rewrite.target must differ from its query, got {self.target!r} for both"
            )
        check_real("Rewrite.confidence", self.confidence, low=0.0, high=1.0 + 1e-9)
        check_real("Rewrite.success_as_is", self.success_as_is, low=0.0, high=1.0 + 1e-9)
        check_int("Rewrite.support", self.support, low=0)
        check_int("Rewrite.users", self.users, low=0)
        if self.layer not in ("global", "personal"):
            raise InvalidInputError(
                f"Rewrite.layer must be 'global' or 'personal', got {self.layer!r}"
            )

    def to_dict(self) -> dict[str, Any]:
        """Return the rule as JSON values."""
        return {
            "query": self.query,
            "target": self.target,
            "confidence": float(self.confidence),
            "success_as_is": float(self.success_as_is),
            "support": int(self.support),
            "users": int(self.users),
            "layer": self.layer,
        }


@dataclass(frozen=True, slots=True)
class ChainSolution:
    """The solved chain: per state, its best other absorbing query and the counts behind it.

    Attributes
    ----------
    states : numpy.ndarray of object
        State keys (normalised queries, or user, U+001F and query for the personal chain).
    best : numpy.ndarray of int64
        Per state, the state whose success is most likely after it (-1: no rephrase out).
    confidence : numpy.ndarray of float64
        ``B[q, A_best]`` (0 when ``best`` is -1).
    success_as_is : numpy.ndarray of float64
        ``B[q, A_q]``.
    support : numpy.ndarray of int64
        Capped rephrase transitions out of each state.
    users : numpy.ndarray of int64
        Distinct users with a rephrase out of each state.
    requests : numpy.ndarray of int64
        Capped transitions out of each state (its requests).
    n_components : int
        Components with at least two states.
    largest_component : int
        States in the largest component.
    """

    states: npt.NDArray[np.object_]
    best: npt.NDArray[np.int64]
    confidence: npt.NDArray[np.float64]
    success_as_is: npt.NDArray[np.float64]
    support: npt.NDArray[np.int64]
    users: npt.NDArray[np.int64]
    requests: npt.NDArray[np.int64]
    n_components: int
    largest_component: int


def solve_chain(
    states: npt.ArrayLike,
    users: npt.ArrayLike,
    success: npt.ArrayLike,
    nxt: npt.ArrayLike,
    *,
    max_user_count: int = 5,
) -> ChainSolution:
    """Count the transitions of logged requests and solve the absorbing chain.

    Parameters
    ----------
    states : array-like of str
        Each request's state key.
    users : array-like
        Each request's user (for the per-user cap and the distinct-user counts).
    success : array-like of bool
        Whether each request succeeded.
    nxt : array-like of int
        Position of the request each one is linked to (its rephrase), -1 when none.
    max_user_count : int
        Most times one user counts per transition (>= 1).

    Returns
    -------
    ChainSolution
        Per state: the best absorbing target, its probability and the counts.

    Raises
    ------
    InvalidInputError
        If the arrays differ in length or ``nxt`` points outside them.
    """
    cap = check_int("max_user_count", max_user_count, low=1)
    keys = np.asarray(states, dtype=object)
    ok = np.asarray(success, dtype=bool)
    link = np.asarray(nxt, dtype=np.int64)
    who = np.asarray(users, dtype=object)
    size = len(keys)
    if not (len(ok) == len(link) == len(who) == size):
        raise InvalidInputError(
            f"states, users, success and nxt must have one entry per request; got lengths "
            f"{size}, {len(who)}, {len(ok)}, {len(link)}"
        )
    if size and (link.max() >= size or link.min() < -1):
        raise InvalidInputError(
            f"nxt must hold positions in [-1, {size}), got {link.min()}..{link.max()}"
        )
    codes, uniques = pd.factorize(keys, sort=False)
    n = len(uniques)
    ucodes, _ = pd.factorize(who, sort=False)
    to = np.where(ok, n + codes, 2 * n).astype(np.int64)
    linked = ~ok & (link >= 0)
    to[linked] = codes[link[linked]]
    keep = to != codes  # a retry of the identical text is left out
    frm, to, ucodes = codes[keep].astype(np.int64), to[keep], ucodes[keep].astype(np.int64)
    width = 2 * n + 1
    per_user = pd.DataFrame({"u": ucodes, "t": frm * width + to}).groupby(["u", "t"]).size()
    capped = np.minimum(per_user.to_numpy(), cap).astype(np.int64)
    tkey = per_user.index.get_level_values("t").to_numpy()
    agg = pd.DataFrame({"t": tkey, "c": capped}).groupby("t").agg(count=("c", "sum"))
    t_all = agg.index.to_numpy(dtype=np.int64)
    cnt = agg["count"].to_numpy(dtype=np.int64)
    f_all, to_all = t_all // width, t_all % width
    totals = np.bincount(f_all, weights=cnt, minlength=n)
    is_q = to_all < n
    support = np.bincount(f_all[is_q], weights=cnt[is_q], minlength=n).astype(np.int64)
    # distinct users with any rephrase out of a state (a user may rephrase to several targets)
    ufrom = per_user.index.get_level_values("u").to_numpy()
    q_rows = (tkey % width) < n
    pairs = pd.DataFrame({"f": tkey[q_rows] // width, "u": ufrom[q_rows]}).drop_duplicates()
    users_out = np.bincount(pairs["f"].to_numpy(dtype=np.int64), minlength=n).astype(np.int64)
    is_a = (to_all >= n) & (to_all < 2 * n)
    succ_cnt = np.bincount(f_all[is_a], weights=cnt[is_a], minlength=n)
    safe = np.where(totals > 0, totals, 1.0)
    s = succ_cnt / safe
    q = sparse.csr_matrix(
        (cnt[is_q] / safe[f_all[is_q]], (f_all[is_q], to_all[is_q])), shape=(n, n)
    )
    best, conf, self_p, n_comp, largest = _absorb(q, s)
    return ChainSolution(
        states=np.asarray(uniques, dtype=object),
        best=best,
        confidence=conf,
        success_as_is=self_p,
        support=support,
        users=users_out,
        requests=totals.astype(np.int64),
        n_components=n_comp,
        largest_component=largest,
    )


def _absorb(
    q: sparse.csr_matrix, s: npt.NDArray[np.float64]
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float64], npt.NDArray[np.float64], int, int]:
    """Per state: best other absorbing target, its probability, and the self-success probability."""
    n = q.shape[0]
    best = np.full(n, -1, dtype=np.int64)
    conf = np.zeros(n)
    self_p = s.copy()  # a state without rephrases out absorbs in one step
    if n == 0 or q.nnz == 0:
        return best, conf, self_p, 0, 0
    n_labels, labels = csgraph.connected_components(q, directed=True, connection="weak")
    sizes = np.bincount(labels, minlength=n_labels)
    order = np.argsort(labels, kind="stable")
    starts = np.concatenate([[0], np.cumsum(sizes)])
    local = np.empty(n, dtype=np.int64)
    local[order] = np.arange(n) - starts[labels[order]]
    coo = q.tocoo()
    rows, cols, vals = coo.row.astype(np.int64), coo.col.astype(np.int64), coo.data
    big = np.flatnonzero(sizes >= 2)
    for m in np.unique(sizes[big]).tolist():
        comps = big[sizes[big] == m]
        if m <= DENSE_MAX:
            for lo in range(0, len(comps), _BATCH):
                _solve_dense(
                    comps[lo : lo + _BATCH], m, labels, local, order, starts,
                    rows, cols, vals, s, best, conf, self_p,
                )  # fmt: skip
        else:
            for c in comps.tolist():
                members = order[starts[c] : starts[c + 1]]
                _solve_sparse(members, q, s, best, conf, self_p)
    leaf = np.diff(q.indptr) == 0  # no rephrase out: nothing to rewrite to
    best[leaf], conf[leaf] = -1, 0.0
    return best, conf, self_p, len(big), int(sizes.max())


def _solve_dense(
    comps: npt.NDArray[np.int64],
    m: int,
    labels: npt.NDArray[np.int64],
    local: npt.NDArray[np.int64],
    order: npt.NDArray[np.int64],
    starts: npt.NDArray[np.int64],
    rows: npt.NDArray[np.int64],
    cols: npt.NDArray[np.int64],
    vals: npt.NDArray[np.float64],
    s: npt.NDArray[np.float64],
    best: npt.NDArray[np.int64],
    conf: npt.NDArray[np.float64],
    self_p: npt.NDArray[np.float64],
) -> None:
    k = len(comps)
    slot = np.full(len(starts) - 1, -1, dtype=np.int64)
    slot[comps] = np.arange(k)
    members = np.stack([order[starts[c] : starts[c] + m] for c in comps.tolist()])  # (k, m)
    eye = np.arange(m)
    mat = np.zeros((k, m, m))
    mat[:, eye, eye] = 1.0
    mine = slot[labels[rows]] >= 0
    np.subtract.at(
        mat, (slot[labels[rows[mine]]], local[rows[mine]], local[cols[mine]]), vals[mine]
    )
    rhs = np.zeros((k, m, m))
    rhs[:, eye, eye] = s[members]
    try:
        x = np.linalg.solve(mat, rhs)  # x[c, i, j] = B[member i, A_member j]
    except np.linalg.LinAlgError:  # cannot happen for a chain built from logs; be safe
        warnings.warn(
            "a rephrase component's I - Q is singular; solved by least squares",
            RuntimeWarning,
            stacklevel=3,
        )
        x = np.stack([np.linalg.lstsq(a, b, rcond=None)[0] for a, b in zip(mat, rhs)])
    diag = x[:, eye, eye]
    x[:, eye, eye] = -np.inf
    arg = x.argmax(axis=2)
    top = np.take_along_axis(x, arg[:, :, None], axis=2)[:, :, 0]
    flat = members.reshape(-1)
    best[flat] = np.take_along_axis(members, arg, axis=1).reshape(-1)
    conf[flat] = np.clip(top.reshape(-1), 0.0, 1.0)
    self_p[flat] = np.clip(diag.reshape(-1), 0.0, 1.0)


def _solve_sparse(
    members: npt.NDArray[np.int64],
    q: sparse.csr_matrix,
    s: npt.NDArray[np.float64],
    best: npt.NDArray[np.int64],
    conf: npt.NDArray[np.float64],
    self_p: npt.NDArray[np.float64],
) -> None:
    m = len(members)
    sub = q[members][:, members]
    lu = splu((sparse.identity(m, format="csc") - sub).tocsc())
    top = np.full(m, -np.inf)
    arg = np.full(m, -1, dtype=np.int64)
    diag = np.zeros(m)
    for lo in range(0, m, _RHS_BLOCK):
        hi = min(lo + _RHS_BLOCK, m)
        rhs = np.zeros((m, hi - lo))
        rhs[np.arange(lo, hi), np.arange(hi - lo)] = s[members[lo:hi]]
        x = lu.solve(rhs)  # columns lo..hi of B restricted to the component
        idx = np.arange(lo, hi)
        diag[idx] = x[idx, idx - lo]
        x[idx, idx - lo] = -np.inf
        block_arg = x.argmax(axis=1)
        block_top = x[np.arange(m), block_arg]
        better = block_top > top
        top[better] = block_top[better]
        arg[better] = block_arg[better] + lo
    best[members] = members[arg]
    conf[members] = np.clip(top, 0.0, 1.0)
    self_p[members] = np.clip(diag, 0.0, 1.0)


class RewriteMiner:
    """Mine global and personal rewrites from detected rephrases (see the module docstring).

    Parameters
    ----------
    min_confidence : float
        Least ``B[q, A_target]`` of a kept rewrite, in [0, 1] (default 0.5).
    min_support : int
        Least capped rephrase transitions out of the query, global layer (default 2).
    min_users : int
        Least distinct users who rephrased the query, global layer (default 2).
    personal : bool
        Also mine each user's own chain (default True).
    personal_min_support : int
        Least rephrase transitions of the user out of the query (default 1).
    max_user_count : int
        Most times one user counts per transition (default 5).

    Attributes
    ----------
    rewrites_ : dict of str to Rewrite
        Global rewrites by normalised query.
    personal_ : dict of str to dict of str to Rewrite
        Per user, personal rewrites by normalised query (empty without ``personal``).
    n_requests_ : int
        Requests read.
    n_states_ : int
        Distinct normalised queries.
    n_links_ : int
        Rephrase links (identical retries included).
    n_components_ : int
        Components of the global chain with at least two queries.
    largest_component_ : int
        Queries in the largest one.
    """

    def __init__(
        self,
        *,
        min_confidence: float = 0.5,
        min_support: int = 2,
        min_users: int = 2,
        personal: bool = True,
        personal_min_support: int = 1,
        max_user_count: int = 5,
    ) -> None:
        self.min_confidence = min_confidence
        self.min_support = min_support
        self.min_users = min_users
        self.personal = personal
        self.personal_min_support = personal_min_support
        self.max_user_count = max_user_count
        self._fitted = False

    @property
    def is_fitted(self) -> bool:
        """Whether :meth:`fit` has run."""
        return self._fitted

    def get_params(self) -> dict[str, Any]:
        """Return the parameters (JSON-serialisable)."""
        return {
            "min_confidence": self.min_confidence,
            "min_support": self.min_support,
            "min_users": self.min_users,
            "personal": self.personal,
            "personal_min_support": self.personal_min_support,
            "max_user_count": self.max_user_count,
        }

    def _check_params(self) -> None:
        check_real("min_confidence", self.min_confidence, low=0.0, high=1.0)
        check_int("min_support", self.min_support, low=1)
        check_int("min_users", self.min_users, low=1)
        check_bool("personal", self.personal)
        check_int("personal_min_support", self.personal_min_support, low=1)
        check_int("max_user_count", self.max_user_count, low=1)

    def fit(self, rephrases: Rephrases) -> RewriteMiner:
        """Solve the global (and personal) chain of a detected log.

        Parameters
        ----------
        rephrases : Rephrases
            From :meth:`RephraseDetector.detect`; its ``requests`` may carry a
            ``user`` column (default: the group is the user).

        Returns
        -------
        RewriteMiner
            ``self``, fitted.

        Raises
        ------
        InvalidInputError
            If ``rephrases`` is not a :class:`Rephrases`, or a parameter is out of range.
        """
        self._check_params()
        if not isinstance(rephrases, Rephrases):
            raise InvalidInputError(
                f"fit expects the Rephrases of RephraseDetector.detect, got {type(rephrases).__name__}"
            )
        frame = rephrases.requests
        keys = frame["key"].to_numpy(dtype=object)
        users = (frame["user"] if "user" in frame.columns else frame["group"]).to_numpy(
            dtype=object
        )
        users = np.where(pd.isna(users), frame["group"].to_numpy(dtype=object), users)
        success = frame["success"].to_numpy(dtype=bool)
        nxt = frame["next"].to_numpy(dtype=np.int64)
        solution = solve_chain(keys, users, success, nxt, max_user_count=self.max_user_count)
        self.rewrites_ = self._rules(solution, "global", int(self.min_support), int(self.min_users))
        self.personal_: dict[str, dict[str, Rewrite]] = {}
        if self.personal:
            personal_keys = np.array(
                [f"{u}{_SEP}{k}" for u, k in zip(users.tolist(), keys.tolist())], dtype=object
            )
            mine = solve_chain(
                personal_keys, users, success, nxt, max_user_count=self.max_user_count
            )
            for rule in self._rules(mine, "personal", int(self.personal_min_support), 1).values():
                user, _, query = rule.query.partition(_SEP)
                target = rule.target.partition(_SEP)[2]
                if target and target != query:
                    self.personal_.setdefault(user, {})[query] = Rewrite(
                        query, target, rule.confidence, rule.success_as_is,
                        rule.support, 1, "personal",
                    )  # fmt: skip
        self.n_requests_ = len(frame)
        self.n_states_ = len(solution.states)
        self.n_links_ = rephrases.n_links
        self.n_components_ = solution.n_components
        self.largest_component_ = solution.largest_component
        self._fitted = True
        return self

    def _rules(
        self, sol: ChainSolution, layer: str, min_support: int, min_users: int
    ) -> dict[str, Rewrite]:
        keep = (
            (sol.best >= 0)
            & (sol.confidence >= float(self.min_confidence))
            & (sol.confidence > sol.success_as_is)
            & (sol.support >= min_support)
            & (sol.users >= min_users)
        )
        out: dict[str, Rewrite] = {}
        states = sol.states
        for i in np.flatnonzero(keep).tolist():
            query, target = str(states[i]), str(states[sol.best[i]])
            if not target.strip() or target == query:  # never a rewrite to nothing or to itself
                continue
            out[query] = Rewrite(
                query,
                target,
                float(sol.confidence[i]),
                float(sol.success_as_is[i]),
                int(sol.support[i]),
                int(sol.users[i]),
                layer,
            )
        return out
