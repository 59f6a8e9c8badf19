"""Ranking the merged pool: feature completion and a LightGBM LambdaMART ranker.

:class:`PoolFeaturizer` turns a pool into a feature matrix: provenance (which
strategies found each item, at which rank and score), completed similarities
(lexical and embedding scores for *every* pool item, not only those the
matching strategy returned), reciprocal-rank fusion, item features (popularity,
age, field matches) and context. :class:`LambdaMARTRanker` is LightGBM's
``lambdarank`` on those features; until one is trained, the engine orders the
pool by reciprocal-rank fusion.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Mapping, Sequence
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from ltrr.errors import CorruptModelError, InvalidInputError, NotFittedError
from ltrr.fusion import PooledItem, rrf_score
from ltrr.io import (
    atomic_write_bytes,
    atomic_write_json,
    read_json,
    verify_checksums,
    write_checksums,
)
from ltrr.strategy import Capability
from ltrr.text import Tokenizer
from ltrr.types import Catalog, Context, Query
from ltrr.validation import check_int, is_real

__all__ = ["LambdaMARTRanker", "PoolFeaturizer"]

#: Digests of the ranker's files, checked before LightGBM reads them.
_CHECKSUMS = "ranker.checksums.json"

Matrix = npt.NDArray[np.float32]


class PoolFeaturizer:
    """Compute ranking features for the items of a pool.

    Parameters
    ----------
    catalog : Catalog
        The items (for popularity, age and field matches).
    strategies : Mapping[str, Any]
        The engine's strategies by name; those with a ``score_items(query,
        positions)`` method get completed similarities, except strategies that
        learn online (``learns_online``, e.g. the memory index): their current
        scores already hold the engagements a ranker trained from the log learns
        to predict (the labels would leak into the features when a logged pool is
        featurised again), so they enter only with the provenance logged at
        search time (found, rank, score).
    match_fields : sequence of str, optional
        Text fields whose query-term overlap is a feature (default: every catalog field).
    complete : {"called", "all"}
        Which strategies' similarities are completed for a pool (when the plan's
        budgets are given). ``"called"`` (default): those the plan called (their
        query work, e.g. the query's embedding, is already done) and those that
        declare :attr:`~ltrr.strategy.Capability.CHEAP_SCORES`; the others' ``_sim``
        is missing (NaN, which LightGBM treats as missing), so a strategy the plan
        skips costs nothing and one ranker, trained on pools with the same rule,
        serves every plan. ``"all"``: every scoring strategy, whatever the plan.
    """

    def __init__(
        self,
        catalog: Catalog,
        strategies: Mapping[str, Any],
        *,
        match_fields: Sequence[str] | None = None,
        complete: str = "called",
    ) -> None:
        if complete not in ("called", "all"):
            raise InvalidInputError(f"complete must be 'called' or 'all', got {complete!r}")
        self.complete = complete
        self.catalog = catalog
        self.strategy_names = list(strategies)
        self._scorers = {
            n: s
            for n, s in strategies.items()
            if Capability.SCORE_ITEMS in s.capabilities
            and Capability.LEARNS_ONLINE not in s.capabilities
        }
        self._cheap = {
            n for n, s in self._scorers.items() if Capability.CHEAP_SCORES in s.capabilities
        }
        fields = list(match_fields) if match_fields is not None else list(catalog.field_names)
        catalog.check_fields(fields)
        self.match_fields = fields
        self.tokenizer = Tokenizer()
        self._catalog = catalog
        pop = catalog.popularity()
        top = float(pop.max()) if len(pop) else 0.0
        self._popularity = (
            np.log1p(pop) / math.log1p(top) if top > 0 else np.zeros_like(pop)
        ).astype(np.float32)
        self._created = np.array(
            [np.nan if item.created_at is None else item.created_at for item in catalog],
            dtype=np.float64,
        )
        names: list[str] = []
        for s in self.strategy_names:
            names += [f"{s}_budget", f"{s}_found", f"{s}_rank", f"{s}_score"]
            if s in self._scorers:
                names.append(f"{s}_sim")
        names += ["rrf", "n_found", "popularity", "age_days"]
        names += [f"match_{f}" for f in fields]
        names += ["q_tokens", "hour", "mobile", "voice"]
        self.feature_names = names

    def with_strategies(self, strategies: Mapping[str, Any]) -> PoolFeaturizer:
        """Return a featurizer that completes similarities with other instances of the strategies.

        Same feature columns; the catalog's tokenised fields are shared. For
        cross-fitting, where a strategy trained on a query is swapped for a copy that
        was not.

        Parameters
        ----------
        strategies : Mapping[str, Any]
            Replacement strategies by name (names must be this featurizer's).

        Returns
        -------
        PoolFeaturizer
            The new featurizer (``self`` is unchanged).

        Raises
        ------
        InvalidInputError
            If a name is not one of this featurizer's strategies.
        """
        unknown = sorted(set(strategies) - set(self.strategy_names))
        if unknown:
            raise InvalidInputError(
                f"strategies {unknown} are not among this featurizer's {self.strategy_names}"
            )
        self._field_terms  # noqa: B018 - tokenise once, share with the copy
        twin = copy.copy(self)
        twin._scorers = {n: strategies.get(n, s) for n, s in self._scorers.items()}
        return twin

    def completes(self, strategy: str, budgets: Mapping[str, int] | None) -> bool:
        """Return whether a strategy's similarity is completed for a plan's pool.

        Parameters
        ----------
        strategy : str
            A strategy name.
        budgets : Mapping[str, int] or None
            The plan's budgets (None: no plan, every scoring strategy is completed).

        Returns
        -------
        bool
            True for a scoring strategy the plan called, one with cheap scores, or any
            scoring strategy when :attr:`complete` is ``"all"`` or no budgets are given.
        """
        if strategy not in self._scorers:
            return False
        if budgets is None or self.complete == "all" or strategy in self._cheap:
            return True
        return budgets.get(strategy, 0) > 0

    @cached_property
    def _field_terms(self) -> list[list[frozenset[str]]]:
        """Return each match field's terms per catalog item.

        Built at the first featurisation: an engine without a ranker never needs them.
        """
        return [
            [frozenset(self.tokenizer.tokenize(item.fields.get(f, ""))) for item in self._catalog]
            for f in self.match_fields
        ]

    def featurize(
        self,
        query: Query,
        context: Context | None,
        pool: Sequence[PooledItem],
        budgets: Mapping[str, int] | None = None,
    ) -> Matrix:
        """Return the feature matrix of a pool (one row per item, :attr:`feature_names` columns).

        Parameters
        ----------
        query : Query
            The query.
        context : Context, optional
            The request context.
        pool : sequence of PooledItem
            The merged pool.
        budgets : Mapping[str, int], optional
            The plan's budget per strategy (0 or absent: not called), so that "not
            found" reads differently for a strategy that was not asked, and so that
            only the similarities :attr:`complete` names are computed (without
            budgets, every scoring strategy's).

        Returns
        -------
        numpy.ndarray of float32, shape (len(pool), n_features)
            Features; missing values are NaN (LightGBM treats them as missing).
        """
        n = len(pool)
        X = np.full((n, len(self.feature_names)), np.nan, dtype=np.float32)
        if n == 0:
            return X
        positions = np.fromiter(
            (self.catalog.index_of(p.item_id) for p in pool), dtype=np.int64, count=n
        )
        col = 0
        for s in self.strategy_names:
            ranks = np.array([p.ranks.get(s, np.nan) for p in pool], dtype=np.float32)
            X[:, col] = 0.0 if budgets is None else float(budgets.get(s, 0))
            X[:, col + 1] = np.isfinite(ranks)
            X[:, col + 2] = ranks
            X[:, col + 3] = np.array([p.scores.get(s, np.nan) for p in pool], dtype=np.float32)
            col += 4
            if s in self._scorers:
                if self.completes(s, budgets):
                    X[:, col] = self._scorers[s].score_items(query, positions)
                col += 1
        X[:, col] = [rrf_score(p) for p in pool]
        X[:, col + 1] = [len(p.ranks) for p in pool]
        X[:, col + 2] = self._popularity[positions]
        if context is not None and context.timestamp is not None:
            X[:, col + 3] = (context.timestamp - self._created[positions]) / 86_400.0
        col += 4
        terms = set(self.tokenizer.tokenize(query.text))
        for f_terms in self._field_terms:
            if terms:
                X[:, col] = [len(terms & f_terms[i]) / len(terms) for i in positions.tolist()]
            col += 1
        X[:, col] = len(query.text.split())
        if context is not None:
            hour = context.features.get("hour")
            if hour is not None:
                X[:, col + 1] = float(hour)
            X[:, col + 2] = float(context.device in ("mobile", "app"))
            X[:, col + 3] = float(context.device == "voice")
        return X


class LambdaMARTRanker:
    """LightGBM LambdaMART (``objective="lambdarank"``) over pool features.

    Parameters
    ----------
    feature_names : sequence of str
        Column names of the feature matrices.
    n_estimators : int
        Boosting rounds (default 300).
    learning_rate : float
        Shrinkage (default 0.05).
    num_leaves : int
        Leaves per tree (default 31).
    min_data_in_leaf : int
        Minimum rows per leaf (default 20).
    eval_at : int
        nDCG cut-off optimised (default 10).
    n_folds : int
        Cross-fitting folds (default 1: one model). With ``n_folds > 1`` and query
        keys given to :meth:`fit`, a query seen in training is scored by the model
        that did not train on it, so its ranking is as good as a new query's would
        be (no in-sample optimism for a learner that watches the outcomes); other
        queries are scored by a model trained on everything.
    num_threads : int
        LightGBM threads while training (default 0: all cores); prediction uses one.
    base_feature : str, optional
        A feature whose scaled value is the boosting's starting score (LightGBM's
        ``init_score``), so the trees learn corrections to it rather than an ordering
        from nothing: with ``"rrf"`` the ranker starts from reciprocal-rank fusion and
        departs from it only where the training data says so (what a ranker trained
        on few, noisy clicks needs). Missing values count as 0. Default: none.
    base_weight : float
        Scale of ``base_feature`` in the score (default 1).
    seed : int
        Random seed (default 0).
    """

    def __init__(
        self,
        *,
        feature_names: Sequence[str],
        n_estimators: int = 300,
        learning_rate: float = 0.05,
        num_leaves: int = 31,
        min_data_in_leaf: int = 20,
        eval_at: int = 10,
        n_folds: int = 1,
        num_threads: int = 0,
        base_feature: str | None = None,
        base_weight: float = 1.0,
        seed: int = 0,
    ) -> None:
        if not feature_names:
            raise InvalidInputError("feature_names must name at least one feature")
        if base_feature is not None and base_feature not in feature_names:
            raise InvalidInputError(
                f"base_feature must be one of the feature names, got {base_feature!r}"
            )
        if not (is_real(base_weight) and math.isfinite(base_weight)):
            raise InvalidInputError(f"base_weight must be a finite number, got {base_weight!r}")
        for pname, value in (
            ("n_estimators", n_estimators),
            ("num_leaves", num_leaves),
            ("min_data_in_leaf", min_data_in_leaf),
            ("eval_at", eval_at),
            ("n_folds", n_folds),
        ):
            check_int(pname, value, low=1)
        if not math.isfinite(learning_rate) or learning_rate <= 0:
            raise InvalidInputError(
                f"learning_rate must be a finite number > 0, got {learning_rate!r}"
            )
        self.feature_names = list(feature_names)
        self.n_estimators = n_estimators
        self.learning_rate = learning_rate
        self.num_leaves = num_leaves
        self.min_data_in_leaf = min_data_in_leaf
        self.eval_at = eval_at
        self.n_folds = n_folds
        self.num_threads = num_threads
        self.base_feature = base_feature
        self.base_weight = float(base_weight)
        self.seed = seed
        self.booster_: Any = None
        self.fold_boosters_: list[Any] = []
        self.fold_of_: dict[str, int] = {}
        self.n_train_groups_ = 0

    def params(self) -> dict[str, Any]:
        """Return the LightGBM parameters used for training."""
        return {
            "objective": "lambdarank",
            "metric": "ndcg",
            "eval_at": [self.eval_at],
            "learning_rate": self.learning_rate,
            "num_leaves": self.num_leaves,
            "min_data_in_leaf": self.min_data_in_leaf,
            "seed": self.seed,
            "deterministic": True,
            "force_row_wise": True,
            "num_threads": self.num_threads,
            "verbosity": -1,
        }

    def fit(
        self,
        X: npt.ArrayLike,
        y: npt.ArrayLike,
        group: Sequence[int],
        *,
        position: npt.ArrayLike | None = None,
        group_keys: Sequence[str] | None = None,
    ) -> LambdaMARTRanker:
        """Train on grouped rows (one group per query).

        Parameters
        ----------
        X : array-like of shape (n_rows, n_features)
            Features.
        y : array-like of shape (n_rows,)
            Relevance labels (non-negative integers).
        group : sequence of int
            Rows per query, in order; sums to ``n_rows``.
        position : array-like of shape (n_rows,), optional
            0-based display position of each row, for LightGBM's unbiased
            LambdaMART (position-bias correction from click logs).
        group_keys : sequence of str, optional
            A key per group (the normalised query text), needed for cross-fitting.

        Returns
        -------
        LambdaMARTRanker
            ``self``.
        """
        import lightgbm as lgb

        X = np.asarray(X, dtype=np.float32)
        y = np.asarray(y)
        if X.ndim != 2 or X.shape[1] != len(self.feature_names):
            raise InvalidInputError(
                f"X must have shape (n_rows, {len(self.feature_names)}), got {X.shape}"
            )
        if y.shape != (X.shape[0],) or not np.all(np.isfinite(y)) or np.any(y < 0):
            raise InvalidInputError(f"y must hold {X.shape[0]} finite labels >= 0")
        if sum(group) != X.shape[0] or any(g < 1 for g in group):
            raise InvalidInputError(
                f"group sizes must be >= 1 and sum to the {X.shape[0]} rows, got a sum of {sum(group)}"
            )
        pos = None if position is None else np.asarray(position, dtype=np.int32)
        names = [_lgb_name(n) for n in self.feature_names]
        base = self._base(X)

        def train(rows: npt.NDArray[np.bool_] | None, groups: list[int]) -> Any:
            def sub(a: Any) -> Any:
                return a if rows is None else a[rows]

            data = lgb.Dataset(
                sub(X),
                label=sub(y).astype(np.int32),
                group=groups,
                init_score=None if base is None else sub(base),
                position=None if pos is None else sub(pos),
                feature_name=names,
                free_raw_data=True,
            )
            return lgb.train(self.params(), data, num_boost_round=self.n_estimators)

        self.booster_ = train(None, list(group))
        self.fold_boosters_, self.fold_of_ = [], {}
        if self.n_folds > 1:
            if group_keys is None or len(group_keys) != len(group):
                raise InvalidInputError(
                    f"cross-fitting with n_folds={self.n_folds} needs one key per group ({len(group)})"
                )
            folds = [_fold(k, self.n_folds) for k in group_keys]
            row_fold = np.repeat(np.asarray(folds), list(group))
            for j in range(self.n_folds):
                keep = row_fold != j
                self.fold_boosters_.append(train(keep, [g for g, f in zip(group, folds) if f != j]))
            self.fold_of_ = dict(zip(group_keys, folds))
        self.n_train_groups_ = len(group)
        return self

    @property
    def is_fitted(self) -> bool:
        """Whether the ranker has been trained or loaded."""
        return self.booster_ is not None

    def predict(self, X: npt.ArrayLike, *, key: str | None = None) -> npt.NDArray[np.float64]:
        """Score rows (higher ranks first).

        Parameters
        ----------
        X : array-like of shape (n_rows, n_features)
            Features.
        key : str, optional
            The query's key; a key seen in cross-fitted training selects the model
            that did not train on it.

        Returns
        -------
        numpy.ndarray of float64
            One score per row.
        """
        if self.booster_ is None:
            raise NotFittedError("LambdaMARTRanker is not trained; call fit(...) or load(folder)")
        X = np.asarray(X, dtype=np.float32)
        if X.ndim != 2 or X.shape[1] != len(self.feature_names):
            raise InvalidInputError(
                f"X must have shape (n_rows, {len(self.feature_names)}), got {X.shape}"
            )
        if X.shape[0] == 0:
            return np.empty(0)
        booster = self.booster_
        if key is not None and self.fold_boosters_:
            fold = self.fold_of_.get(key)
            if fold is not None:
                booster = self.fold_boosters_[fold]
        scores: npt.NDArray[np.float64] = booster.predict(X, num_threads=1)
        base = self._base(X)
        return scores if base is None else scores + base

    def _base(self, X: Matrix) -> npt.NDArray[np.float64] | None:
        """Return the starting score of each row (``base_weight`` times ``base_feature``)."""
        if self.base_feature is None:
            return None
        col = X[:, self.feature_names.index(self.base_feature)].astype(np.float64)
        return self.base_weight * np.nan_to_num(col, nan=0.0)

    def feature_importance(self) -> dict[str, float]:
        """Return each feature's total gain, largest first."""
        if self.booster_ is None:
            raise NotFittedError("LambdaMARTRanker is not trained")
        gains = self.booster_.feature_importance(importance_type="gain")
        pairs = sorted(zip(self.feature_names, gains.tolist()), key=lambda t: -t[1])
        return {n: float(g) for n, g in pairs}

    def save(self, folder: str | Path) -> None:
        """Write ``ranker.json``, ``ranker.txt`` (LightGBM text model) and their checksums into ``folder``."""
        if self.booster_ is None:
            raise NotFittedError("LambdaMARTRanker is not trained; nothing to save")
        path = Path(folder)
        atomic_write_bytes(path / "ranker.txt", self.booster_.model_to_string().encode())
        for j, b in enumerate(self.fold_boosters_):
            atomic_write_bytes(path / f"ranker-fold-{j}.txt", b.model_to_string().encode())
        atomic_write_json(
            path / "ranker.json",
            {
                "class": type(self).__name__,
                "feature_names": self.feature_names,
                "n_estimators": self.n_estimators,
                "learning_rate": self.learning_rate,
                "num_leaves": self.num_leaves,
                "min_data_in_leaf": self.min_data_in_leaf,
                "eval_at": self.eval_at,
                "n_folds": self.n_folds,
                "num_threads": self.num_threads,
                "base_feature": self.base_feature,
                "base_weight": self.base_weight,
                "seed": self.seed,
                "n_train_groups": self.n_train_groups_,
                "fold_of": self.fold_of_,
            },
        )
        files = ["ranker.json", "ranker.txt"]
        files += [f"ranker-fold-{j}.txt" for j in range(len(self.fold_boosters_))]
        write_checksums(path, files, name=_CHECKSUMS)

    @classmethod
    def load(cls, folder: str | Path) -> LambdaMARTRanker:
        """Read a ranker written by :meth:`save`."""
        import lightgbm as lgb

        path = Path(folder)
        # before LightGBM parses anything: some malformed model files abort the process
        verify_checksums(
            path, ["ranker.json", "ranker.txt"], name=_CHECKSUMS, what="ranker", required=False
        )
        meta = read_json(path / "ranker.json", what="ranker description")
        model = path / "ranker.txt"
        if not model.is_file():
            raise CorruptModelError(f"ranker model {str(model)!r} is missing")
        try:
            n_groups = int(meta.pop("n_train_groups", 0))
            fold_of = {str(k): int(v) for k, v in meta.pop("fold_of", {}).items()}
            meta.pop("class", None)
            obj = cls(**meta)
            obj.booster_ = lgb.Booster(model_str=model.read_text())
            if fold_of:
                folds = [f"ranker-fold-{j}.txt" for j in range(obj.n_folds)]
                verify_checksums(path, folds, name=_CHECKSUMS, what="ranker", required=False)
                obj.fold_boosters_ = [
                    lgb.Booster(model_str=(path / f"ranker-fold-{j}.txt").read_text())
                    for j in range(obj.n_folds)
                ]
                obj.fold_of_ = fold_of
        except (TypeError, ValueError, OSError, lgb.basic.LightGBMError) as exc:
            raise CorruptModelError(f"ranker in {str(path)!r} is unreadable: {exc}") from None
        if obj.booster_.num_feature() != len(obj.feature_names):
            raise CorruptModelError(
                f"ranker in {str(path)!r} expects {obj.booster_.num_feature()} features, "
                f"its description names {len(obj.feature_names)}"
            )
        obj.n_train_groups_ = n_groups
        return obj


def _fold(key: str, n_folds: int) -> int:
    """Stable fold of a query key (a hash, not Python's per-process ``hash``)."""
    import hashlib

    return int.from_bytes(hashlib.blake2b(key.encode(), digest_size=4).digest(), "big") % n_folds


def _lgb_name(name: str) -> str:
    return "".join(ch if ch.isalnum() or ch == "_" else "_" for ch in name)
