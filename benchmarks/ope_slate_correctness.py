"""Statistical correctness of the slate (ranking) estimators on a synthetic slate bandit.

Usage: python benchmarks/ope_slate_correctness.py [--seeds 200] [--slates 2000]
       [--bootstrap 100] [--first-seed 0] [--json FILE]

The slate bandit is fixed (its own seed): 5 context types with known probabilities, 6 items,
rankings of 3 slots drawn by Plackett-Luce (item by item without replacement, proportionally to
``exp(score)``) under a logging policy and a different target policy. Two click models give
the slot rewards (Bernoulli clicks):

* ``pbm`` (position-based, item-position): slot ``k`` is examined with probability
  ``examine[k]`` and clicked with the item's attractiveness, independently of the other slots;
* ``cascade``: the user scans from the top and clicks the first attractive item, then stops,
  so a slot's reward depends on the items above it.

For every seed and click model, logs of ``--slates`` rankings are drawn from the logging policy
and every estimator is run (point estimate and bootstrap 95% interval over slates). The truth is
the target policy's population value ``sum_x p(x) sum_s pi_e(s|x) sum_k E[r(k)|x, s]``,
computed exactly by enumerating all 120 rankings of every context.

Which estimator is unbiased where: SIPS always; IIPS under ``pbm`` only (under ``cascade`` it
is a negative control: the bias check must flag it); RIPS and Cascade-DR (with the exact Q,
and with the Q of a badly wrong click model whose attractiveness is reversed) under both; the self-normalised versions are
consistent (bias O(1/n)) and only reported. Checks: every unbiased estimator's mean over seeds
within 2 standard errors of the truth, both negative controls (IIPS and SNIIPS under
``cascade``) outside, and RIPS of lower variance than SIPS. Reported, not checked: bootstrap
coverage, interval widths, and Cascade-DR's standard deviation relative to RIPS. Each bias check is a statistical test at 2 standard errors: an exactly
unbiased estimator still fails it about 5% of the time for a given set of seeds; rerun with
another ``--first-seed`` before calling a failure a bias.
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run from a checkout

from simulators.estimators import (
    BaseSlateOffPolicyEstimator,
    SelfNormalizedSlateIndependentIPS,
    SelfNormalizedSlateRewardInteractionIPS,
    SelfNormalizedSlateStandardIPS,
    SlateCascadeDoublyRobust,
    SlateIndependentIPS,
    SlateRewardInteractionIPS,
    SlateStandardIPS,
)

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.intp]

N_CONTEXTS, N_ITEMS, LEN_LIST = 5, 6, 3
WORLD_SEED = 20260301
EXAMINE = np.array([1.0, 0.6, 0.35])
ALPHA = 0.05
BOOTSTRAP_SEED_OFFSET = 1_000_003
MODELS = ("pbm", "cascade")


class SlateWorld:
    """The fixed slate bandit: contexts, attractiveness, two Plackett-Luce policies, tables."""

    def __init__(self, seed: int = WORLD_SEED) -> None:
        rng = np.random.default_rng(seed)
        self.p_context: FloatArray = rng.dirichlet(np.full(N_CONTEXTS, 3.0))
        self.attract: FloatArray = rng.uniform(0.05, 0.6, size=(N_CONTEXTS, N_ITEMS))
        # Logging: weakly informative scores; target: close to the true attractiveness.
        self.logging_scores = 0.5 * rng.normal(size=(N_CONTEXTS, N_ITEMS))
        self.target_scores = 4.0 * self.attract + 0.3 * rng.normal(size=(N_CONTEXTS, N_ITEMS))
        self.slates = np.array(list(itertools.permutations(range(N_ITEMS), LEN_LIST)))
        self.logging = self._tables(self.logging_scores)
        self.target = self._tables(self.target_scores)

    def _tables(self, scores: FloatArray) -> dict[str, FloatArray]:
        """Per context and slate: step distributions, cascade, joint and marginal probabilities."""
        n_slates = len(self.slates)
        step = np.zeros((N_CONTEXTS, n_slates, LEN_LIST, N_ITEMS))
        weights = np.exp(scores)
        for k in range(LEN_LIST):
            w = np.repeat(weights[:, None, :], n_slates, axis=1)
            for j in range(k):
                w[:, np.arange(n_slates), self.slates[:, j]] = 0.0
            step[:, :, k] = w / w.sum(axis=2, keepdims=True)
        chosen = np.take_along_axis(
            step, np.broadcast_to(self.slates[None, :, :, None], (N_CONTEXTS, n_slates, LEN_LIST, 1)),
            axis=3,
        )[..., 0]  # fmt: skip
        cascade = np.cumprod(chosen, axis=2).astype(np.float64)  # (contexts, slates, slots)
        joint: FloatArray = cascade[:, :, -1]
        marginal = np.zeros((N_CONTEXTS, LEN_LIST, N_ITEMS))
        for k in range(LEN_LIST):
            for item in range(N_ITEMS):
                marginal[:, k, item] = joint[:, self.slates[:, k] == item].sum(axis=1)
        item_marginal: FloatArray = np.stack(
            [marginal[:, k, self.slates[:, k]] for k in range(LEN_LIST)], axis=2
        )  # (contexts, slates, slots)
        return {"step": step, "cascade": cascade, "joint": joint, "marginal": item_marginal}

    def mean_reward(self, model: str, attract: FloatArray | None = None) -> FloatArray:
        """E[r(k) | x, s] for every context, slate and slot, shape (contexts, slates, slots)."""
        a = (self.attract if attract is None else attract)[:, self.slates]  # (x, s, k)
        if model == "pbm":
            out: FloatArray = a * EXAMINE
            return out
        above = np.concatenate([np.ones_like(a[..., :1]), 1.0 - a[..., :-1]], axis=2)
        not_clicked_above = np.cumprod(above, axis=2)
        out = a * not_clicked_above
        return out

    def truth(self, model: str) -> float:
        value = (self.target["joint"] * self.mean_reward(model).sum(axis=2)).sum(axis=1)
        return float(self.p_context @ value)

    def q_table(self, model: str, attract: FloatArray) -> FloatArray:
        """Q_k(x, a(1:k-1), a) of a reward model, for every context, slate, slot and item.

        ``Q_k`` is the expected reward from slot ``k`` down, the slots below drawn from the
        target policy, under the click model ``model`` with attractiveness ``attract``.
        Computed by enumeration: the expectation over the slates sharing the prefix.
        """
        mean = self.mean_reward(model, attract)  # (x, s, k)
        n_slates = len(self.slates)
        table = np.zeros((N_CONTEXTS, n_slates, LEN_LIST, N_ITEMS))
        joint = self.target["joint"]
        for k in range(LEN_LIST):
            tail = mean[:, :, k:].sum(axis=2)  # reward from slot k down, per full slate
            prefix_keys = [tuple(s[: k + 1]) for s in self.slates]
            groups: dict[tuple[int, ...], list[int]] = {}
            for i, key in enumerate(prefix_keys):
                groups.setdefault(key, []).append(i)
            q_prefix = np.zeros((N_CONTEXTS, n_slates))  # Q_k of each slate's own prefix
            for members in groups.values():
                idx = np.array(members)
                w = joint[:, idx]
                q_prefix[:, idx] = ((w * tail[:, idx]).sum(axis=1) / w.sum(axis=1))[:, None]
            for i, s in enumerate(self.slates):
                for item in range(N_ITEMS):
                    if item in s[:k]:
                        continue
                    key = (*s[:k], item)
                    table[:, i, k, item] = q_prefix[:, groups[key][0]]
        return table

    def sample(self, n: int, rng: np.random.Generator) -> tuple[IntArray, IntArray]:
        """Contexts and slate indices of ``n`` rankings drawn from the logging policy."""
        context = rng.choice(N_CONTEXTS, size=n, p=self.p_context)
        cdf = np.cumsum(self.logging["joint"][context], axis=1)
        slate = np.minimum((rng.random(n)[:, None] > cdf).sum(axis=1), len(self.slates) - 1)
        return context.astype(np.intp), slate.astype(np.intp)


def draw_rewards(
    world: SlateWorld, model: str, context: IntArray, slate: IntArray, rng: np.random.Generator
) -> FloatArray:
    a = world.attract[context][np.arange(len(slate))[:, None], world.slates[slate]]  # (n, k)
    u = rng.random(a.shape)
    if model == "pbm":
        clicks: FloatArray = (u < a * EXAMINE).astype(np.float64)
        return clicks
    attractive = u < a
    first = np.where(attractive.any(axis=1), attractive.argmax(axis=1), LEN_LIST)
    clicks = (np.arange(LEN_LIST)[None, :] == first[:, None]).astype(np.float64)
    return clicks


def long_format(
    world: SlateWorld,
    context: IntArray,
    slate: IntArray,
    reward: FloatArray,
    q_tables: dict[str, FloatArray],
) -> dict[str, Any]:
    n = len(slate)
    b, e = world.logging, world.target
    rep = np.repeat
    logs: dict[str, Any] = {
        "slate_id": rep(np.arange(n), LEN_LIST),
        "position": np.tile(np.arange(LEN_LIST), n),
        "reward": reward.ravel(),
        "action": world.slates[slate].ravel(),
        "pscore": rep(b["joint"][context, slate], LEN_LIST),
        "evaluation_policy_pscore": rep(e["joint"][context, slate], LEN_LIST),
        "pscore_item_position": b["marginal"][context, slate].ravel(),
        "evaluation_policy_pscore_item_position": e["marginal"][context, slate].ravel(),
        "pscore_cascade": b["cascade"][context, slate].ravel(),
        "evaluation_policy_pscore_cascade": e["cascade"][context, slate].ravel(),
        "evaluation_policy_action_dist": e["step"][context, slate].reshape(n * LEN_LIST, N_ITEMS),
    }
    for name, table in q_tables.items():
        logs[f"q_hat_{name}"] = table[context, slate].reshape(n * LEN_LIST, N_ITEMS)
    return logs


def estimators() -> dict[str, tuple[BaseSlateOffPolicyEstimator, str]]:
    """name: (estimator, which q_hat it uses or '')."""
    dr = SlateCascadeDoublyRobust(len_list=LEN_LIST, n_unique_action=N_ITEMS)
    return {
        "sips": (SlateStandardIPS(len_list=LEN_LIST), ""),
        "iips": (SlateIndependentIPS(len_list=LEN_LIST), ""),
        "rips": (SlateRewardInteractionIPS(len_list=LEN_LIST), ""),
        "snsips": (SelfNormalizedSlateStandardIPS(len_list=LEN_LIST), ""),
        "sniips": (SelfNormalizedSlateIndependentIPS(len_list=LEN_LIST), ""),
        "snrips": (SelfNormalizedSlateRewardInteractionIPS(len_list=LEN_LIST), ""),
        "cascade-dr-wrong-q": (dr, "wrong"),
        "cascade-dr-true-q": (dr, "true"),
    }


def kind(name: str, model: str) -> str:
    if name.startswith("sn"):
        return "consistent" if not (name == "sniips" and model == "cascade") else "biased"
    if name == "iips" and model == "cascade":
        return "biased"
    return "unbiased"


def run(seeds: int, n_slates: int, n_bootstrap: int, first_seed: int) -> dict[str, Any]:
    start = time.perf_counter()
    world = SlateWorld()
    chosen = estimators()
    # A badly wrong click model: attractiveness reversed (the most attractive item looks least).
    wrong_attract = 0.65 - world.attract
    results: dict[str, Any] = {}
    for model in MODELS:
        truth = world.truth(model)
        q_tables = {
            "true": world.q_table(model, world.attract),
            "wrong": world.q_table(model, wrong_attract),
        }
        values = {name: np.empty(seeds) for name in chosen}
        covered = {name: np.zeros(seeds, dtype=bool) for name in chosen}
        widths = {name: np.empty(seeds) for name in chosen}
        for i, seed in enumerate(range(first_seed, first_seed + seeds)):
            rng = np.random.default_rng([seed, MODELS.index(model)])
            context, slate = world.sample(n_slates, rng)
            reward = draw_rewards(world, model, context, slate, rng)
            logs = long_format(world, context, slate, reward, q_tables)
            for name, (estimator, q_name) in chosen.items():
                kwargs = {k: v for k, v in logs.items() if not k.startswith("q_hat")}
                if q_name:
                    kwargs["q_hat"] = logs[f"q_hat_{q_name}"]
                values[name][i] = estimator.estimate_policy_value(**kwargs)
                interval = estimator.estimate_interval(
                    **kwargs,
                    alpha=ALPHA,
                    n_bootstrap_samples=n_bootstrap,
                    random_state=seed + BOOTSTRAP_SEED_OFFSET,
                )
                covered[name][i] = interval["ci_low"] <= truth <= interval["ci_high"]
                widths[name][i] = interval["ci_high"] - interval["ci_low"]
        rows: dict[str, Any] = {}
        for name in chosen:
            v = values[name]
            se = float(v.std(ddof=1)) / math.sqrt(seeds)
            z = (float(v.mean()) - truth) / se
            rows[name] = {
                "kind": kind(name, model),
                "mean": float(v.mean()),
                "bias": float(v.mean()) - truth,
                "standard_error": se,
                "bias_in_se": z,
                "within_2se": bool(abs(z) <= 2.0),
                "std": float(v.std(ddof=1)),
                "coverage": float(covered[name].mean()),
                "mean_ci_width": float(widths[name].mean()),
            }
        unbiased = [n for n in chosen if rows[n]["kind"] == "unbiased"]
        controls = [n for n in chosen if rows[n]["kind"] == "biased"]
        checks = {
            "unbiased_within_2se": {n: rows[n]["within_2se"] for n in unbiased},
            "biased_controls_flagged": {n: not rows[n]["within_2se"] for n in controls},
            "rips_lower_std_than_sips": rows["rips"]["std"] < rows["sips"]["std"],
        }
        checks["all_passed"] = bool(
            all(checks["unbiased_within_2se"].values())
            and all(checks["biased_controls_flagged"].values())
            and checks["rips_lower_std_than_sips"]
        )
        results[model] = {
            "truth": truth,
            "logging_value": float(
                world.p_context
                @ (world.logging["joint"] * world.mean_reward(model).sum(axis=2)).sum(axis=1)
            ),
            "estimators": rows,
            # Not a check: with 0/1 clicks the reward noise, which a reward model cannot remove
            # (its coefficient is the cascade weight in both), dominates the variance.
            "std_ratio_cascade_dr_to_rips": {
                q: rows[f"cascade-dr-{q}-q"]["std"] / rows["rips"]["std"] for q in ("true", "wrong")
            },
            "checks": checks,
        }
    weights = world.target["joint"] / world.logging["joint"]
    return {
        "seeds": seeds,
        "first_seed": first_seed,
        "slates_per_seed": n_slates,
        "bootstrap": n_bootstrap,
        "alpha": ALPHA,
        "world": {
            "n_contexts": N_CONTEXTS,
            "n_items": N_ITEMS,
            "len_list": LEN_LIST,
            "n_rankings_per_context": len(world.slates),
            "max_joint_importance_weight": float(weights.max()),
            "expected_joint_weight_squared": float(
                world.p_context @ (world.logging["joint"] * weights**2).sum(axis=1)
            ),
        },
        "truth_definition": "population value sum_x p(x) sum_s pi_e(s|x) sum_k E[r(k)|x,s]",
        "models": results,
        "all_passed": all(results[m]["checks"]["all_passed"] for m in MODELS),
        "seconds": time.perf_counter() - start,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=200, help="independent logs per model")
    parser.add_argument("--slates", type=int, default=2000, help="logged rankings per seed")
    parser.add_argument("--bootstrap", type=int, default=100, help="bootstrap resamples")
    parser.add_argument("--first-seed", type=int, default=0, help="seed of the first log")
    parser.add_argument("--json", type=Path, default=None, help="also write the result here")
    args = parser.parse_args(argv)
    if args.seeds < 2 or args.slates < 1 or args.bootstrap < 1 or args.first_seed < 0:
        parser.error("--seeds must be >= 2, --slates and --bootstrap positive, --first-seed >= 0")
    report = run(args.seeds, args.slates, args.bootstrap, args.first_seed)
    text = json.dumps(report, indent=2)
    print(text)
    if args.json is not None:
        args.json.write_text(text + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
