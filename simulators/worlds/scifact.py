"""The SciFact world: scientists search abstracts with claims whose popularity is skewed."""

from __future__ import annotations

import bisect
import itertools
import math
import os
from collections.abc import Mapping, Sequence
from typing import ClassVar

import numpy as np

from ltrr.data import load_beir, load_qrels
from ltrr.errors import DataError, InvalidInputError
from ltrr.types import Catalog, Context, Query
from ltrr.validation import check_int
from simulators.click_models import ClickModel, DynamicBayesianNetwork
from simulators.worlds.base import SimRequest, World

__all__ = ["SciFactWorld"]

#: A fixed epoch (2026-01-05, a Monday, 00:00 UTC) for synthetic request times.
EPOCH = 1_767_571_200.0


class SciFactWorld(World):
    """Requests draw SciFact's train claims with Zipf-like popularity; test claims stay apart.

    Query ``i`` of the popularity order is drawn with probability proportional to
    ``1 / (i + 1) ** zipf_exponent``; the order is a seeded random permutation of
    the train claims, so some claims recur often and most are rare. Relevance is
    the train qrels (binary). :meth:`heldout` returns every test claim once, with
    the test qrels, for cold evaluation of a policy that never saw them.

    Parameters
    ----------
    catalog : Catalog
        The SciFact abstracts (fields ``title`` and ``body``).
    queries : Mapping[str, Query]
        All claims by id.
    train_qrels, test_qrels : Mapping[str, Mapping[str, int]]
        Judgements by query id.
    click_model : ClickModel, optional
        Default: a DBN (gamma 0.9; relevant items attract with probability 0.5,
        irrelevant ones 0.05; a click on a relevant item satisfies).
    zipf_exponent : float
        Popularity skew (default 1.0; 0 draws uniformly).
    n_users : int
        Size of the user population drawn into contexts (default 1000).
    device_mix : Mapping[str, float]
        Device probabilities (default desktop 0.7, mobile 0.3).
    order_seed : int
        Seed of the popularity order (default 0).
    """

    name: ClassVar[str] = "scifact"

    def __init__(
        self,
        *,
        catalog: Catalog,
        queries: Mapping[str, Query],
        train_qrels: Mapping[str, Mapping[str, int]],
        test_qrels: Mapping[str, Mapping[str, int]],
        click_model: ClickModel | None = None,
        zipf_exponent: float = 1.0,
        n_users: int = 1000,
        device_mix: Mapping[str, float] | None = None,
        order_seed: int = 0,
    ) -> None:
        super().__init__(
            click_model=click_model
            or DynamicBayesianNetwork(gamma=0.9, min_satisfaction=0.0, max_satisfaction=1.0)
        )
        if not math.isfinite(zipf_exponent) or zipf_exponent < 0:
            raise InvalidInputError(
                f"zipf_exponent must be a finite number >= 0, got {zipf_exponent!r}"
            )
        n_users = check_int("n_users", n_users, low=1)
        mix = dict(device_mix or {"desktop": 0.7, "mobile": 0.3})
        if (
            not mix
            or any(p < 0 or not math.isfinite(p) for p in mix.values())
            or not math.isclose(sum(mix.values()), 1.0, abs_tol=1e-6)
        ):
            raise InvalidInputError(
                f"device_mix must map devices to non-negative probabilities summing to 1, got {mix}"
            )
        self._catalog = catalog
        self.zipf_exponent = float(zipf_exponent)
        self.n_users = n_users
        self.device_mix = mix
        self._devices = list(mix)
        self._device_cdf = list(itertools.accumulate(mix[d] for d in self._devices))
        train_ids = sorted(q for q in train_qrels if q in queries)
        missing = sorted(set(train_qrels) - set(queries)) + sorted(set(test_qrels) - set(queries))
        if missing:
            raise DataError(f"qrels judge queries that are not in the query set: {missing[:5]}")
        if not train_ids:
            raise DataError("no train queries with judgements: the world has nothing to sample")
        unknown = sorted(
            {
                d
                for qr in (train_qrels, test_qrels)
                for rel in qr.values()
                for d in rel
                if d not in catalog
            }
        )
        if unknown:
            raise DataError(f"qrels name items that are not in the catalog: {unknown[:5]}")
        order = np.random.default_rng(order_seed).permutation(len(train_ids))
        self._train = [
            self._request_parts(queries[train_ids[i]], train_qrels[train_ids[i]]) for i in order
        ]
        weights = 1.0 / np.arange(1, len(self._train) + 1, dtype=np.float64) ** self.zipf_exponent
        self._cdf = np.cumsum(weights / weights.sum())
        self._test = [
            self._request_parts(queries[q], test_qrels[q])
            for q in sorted(test_qrels, key=lambda x: (len(x), x))
        ]

    @staticmethod
    def _request_parts(query: Query, rel: Mapping[str, int]) -> tuple[Query, dict[str, int]]:
        return query, {d: 1 for d, g in rel.items() if g > 0}

    @classmethod
    def from_folder(cls, folder: str | os.PathLike[str], **params: object) -> SciFactWorld:
        """Build the world from a BEIR SciFact folder (train and test qrels).

        Parameters
        ----------
        folder : path-like
            The ``scifact`` folder.
        **params
            Other constructor parameters.

        Returns
        -------
        SciFactWorld
            The world.
        """
        train = load_beir(folder, split="train")
        test_qrels = load_qrels(folder, "test")
        return cls(
            catalog=train.catalog,
            queries=train.queries,
            train_qrels=train.qrels,
            test_qrels=test_qrels,
            **params,  # type: ignore[arg-type]
        )

    @property
    def catalog(self) -> Catalog:
        """The SciFact abstracts."""
        return self._catalog

    @property
    def n_train_queries(self) -> int:
        """Number of distinct train claims the world draws from."""
        return len(self._train)

    def popularity(self) -> np.ndarray:
        """Return the draw probability of each train claim, most popular first."""
        return np.diff(np.concatenate([[0.0], self._cdf]))

    def _context(self, rng: np.random.Generator) -> Context:
        # one call for every draw: user, day, device, and a normal hour (Box-Muller)
        u_user, u_day, u_device, u1, u2 = rng.random(5).tolist()
        user, day = int(u_user * self.n_users), int(u_day * 28)
        normal = math.sqrt(-2.0 * math.log(1.0 - u1)) * math.cos(2.0 * math.pi * u2)
        hour = min(max(14.0 + 3.5 * normal, 0.0), 23.99)
        device = self._devices[
            min(bisect.bisect_right(self._device_cdf, u_device), len(self._devices) - 1)
        ]
        return Context(
            user_id=f"u{user}",
            timestamp=EPOCH + day * 86_400 + hour * 3600,
            device=device,
            locale="en",
            features={"hour": hour, "weekday": float(day % 7)},
        )

    def sample(self, rng: np.random.Generator) -> SimRequest:
        """Draw a train claim by popularity, with a random user, time and device."""
        i = int(np.searchsorted(self._cdf, rng.random(), side="right"))
        query, rel = self._train[min(i, len(self._train) - 1)]
        return SimRequest(query, self._context(rng), rel, "claim", 1)

    def heldout(self) -> list[SimRequest]:
        """Every test claim once, with a fixed-seed context, for cold evaluation."""
        rng = np.random.default_rng(12345)
        return [SimRequest(q, self._context(rng), rel, "claim", 1) for q, rel in self._test]

    def judgements(self) -> tuple[list[Query], dict[str, dict[str, int]]]:
        """Return the train claims and their qrels (never the held-out test split)."""
        queries = [q for q, _ in self._train]
        return queries, {q.id or q.text: dict(rel) for q, rel in self._train}

    def train_requests(self) -> Sequence[tuple[Query, Mapping[str, int]]]:
        """Return the train claims with their judgements, most popular first."""
        return list(self._train)
