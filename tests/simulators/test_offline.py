from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from ltrr.app.cli import main
from ltrr.errors import DataError, UnknownNameError
from ltrr.eventlog import EventLog
from ltrr.plans import Plan
from simulators.loop import EventLogSink, run_online
from simulators.offline import bandit_from_log, evaluate_target
from simulators.policies import PlanPolicy
from simulators.worlds import make_world
from strategies import LexicalStrategy

PLANS = [Plan.of({"lexical": b}) for b in (1, 3, 10)]


@pytest.fixture(scope="module")
def world(data_root):
    return make_world("music", data_root)


@pytest.fixture(scope="module")
def logged(world, tmp_path_factory):
    lexical = LexicalStrategy(fields=["title", "artist"]).fit(world.catalog)
    logging_policy = PlanPolicy({"lexical": lexical}, PLANS, probabilities=[0.5, 0.3, 0.2])
    folder = tmp_path_factory.mktemp("log")
    with EventLog(folder) as log:
        sink = EventLogSink(log, policy=logging_policy.name)
        report = run_online(world, logging_policy, steps=3000, seed=0, sink=sink)
    log = EventLog(folder)
    return {
        "lexical": lexical,
        "folder": folder,
        "report": report,
        "requests": log.read_requests(),
        "feedback": log.read_feedback(),
    }


def test_log_round_trip(logged):
    req, fb, report = logged["requests"], logged["feedback"], logged["report"]
    assert len(req) == 3000
    assert req["request_id"].tolist() == [s.request_id for s in report.steps]
    assert set(req["action"]) == {p.id for p in PLANS}
    bandit = bandit_from_log(req, fb)
    # the joined reward is the loop's reward, request by request
    assert bandit.reward.tolist() == [s.reward for s in report.steps]
    assert np.allclose(
        bandit.pscore,
        [{"lexical=1": 0.5, "lexical=3": 0.3, "lexical=10": 0.2}[a] for a in req["action"]],
    )


def test_estimates_cover_the_on_policy_value(world, logged):
    bandit = bandit_from_log(logged["requests"], logged["feedback"])
    for plan in ("lexical=1", "lexical=10"):
        truth = run_online(
            world,
            PlanPolicy({"lexical": logged["lexical"]}, [Plan.parse(plan)]),
            steps=6000,
            seed=1,
        ).totals()["reward"]
        est = evaluate_target(bandit, plan, n_bootstrap_samples=300, seed=0)
        for name in ("ipw", "snipw", "dr", "sndr"):
            r = est["ope"][name]
            half = (r["ci_high"] - r["ci_low"]) / 2
            # allow for the on-policy value's own sampling error (6000 rounds)
            assert abs(r["value"] - truth) <= half + 3 * np.sqrt(truth * (1 - truth) / 6000), (
                plan,
                name,
            )
    # the policies really differ: a budget of 1 shows one item, 10 shows ten
    low = evaluate_target(bandit, "lexical=1", n_bootstrap_samples=100)["ope"]["snipw"]["value"]
    high = evaluate_target(bandit, "lexical=10", n_bootstrap_samples=100)["ope"]["snipw"]["value"]
    assert high > low + 0.05


def test_bad_logs(logged):
    req, fb = logged["requests"], logged["feedback"]
    with pytest.raises(DataError, match=r"lacks columns \['action', 'propensity'\]"):
        bandit_from_log(req.drop(columns=["action", "propensity"]), fb)
    odd = req.copy()
    odd.at[5, "action_probs"] = {"lexical=1": 1.0}
    with pytest.raises(DataError, match=r"action spaces differ .* rows \[5\]"):
        bandit_from_log(odd, fb)
    with pytest.raises(DataError, match="empty"):
        bandit_from_log(req.iloc[:0], fb)
    bandit = bandit_from_log(req, fb)
    with pytest.raises(UnknownNameError, match="unknown target 'embedding=5'"):
        evaluate_target(bandit, "embedding=5")


def test_uniform_target_is_supported(logged):
    bandit = bandit_from_log(logged["requests"], pd.DataFrame(columns=["request_id", "kind"]))
    out = evaluate_target(bandit, "uniform", n_bootstrap_samples=50)
    assert out["logged_value"] == 0.0 and out["ope"]["ipw"]["value"] == 0.0
    assert "replay" not in out


def test_cli_simulate_then_evaluate(tmp_path, data_root, capsys):
    log, report, est = tmp_path / "log", tmp_path / "sim.json", tmp_path / "ope.json"
    code = main(
        [
            "simulate",
            "--world",
            "music",
            "--data",
            str(data_root),
            "--policy",
            "lexical=5",
            "--steps",
            "300",
            "--seed",
            "3",
            "--log",
            str(log),
            "--json",
            str(report),
            "--no-progress",
        ]
    )
    assert code == 0
    sim = json.loads(report.read_text())
    assert sim["world"] == "music" and sim["steps"] == 300 and len(sim["windows"]) == 10
    assert {
        "reward",
        "pool_recall",
        "ndcg@10",
        "success@10",
        "candidates",
        "throughput_rps",
    } <= set(sim["totals"])
    assert "heldout" in sim and 0.0 <= sim["heldout"]["ndcg@10"] <= 1.0
    assert (
        main(
            [
                "evaluate",
                "--log",
                str(log),
                "--target",
                "lexical=5",
                "--json",
                str(est),
                "--bootstrap",
                "50",
            ]
        )
        == 0
    )
    ope = json.loads(est.read_text())
    # a deterministic logging policy evaluated on itself: every estimator returns the logged value
    assert ope["ope"]["ipw"]["value"] == pytest.approx(sim["totals"]["reward"])
    assert set(ope["ope"]["dr"]) == {"value", "ci_low", "ci_high"}
    assert "ipw" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("argv", "match"),
    [
        (["simulate", "--world", "mars", "--policy", "lexical"], "unknown world 'mars'"),
        (["simulate", "--world", "music", "--policy", "psychic"], "unknown policy 'psychic'"),
        (["evaluate", "--log", "/no/such/log", "--target", "lexical"], "no event log at"),
    ],
)
def test_cli_errors(argv, match, data_root, capsys):
    if argv[0] == "simulate":
        argv = [*argv, "--data", str(data_root), "--steps", "5", "--no-progress"]
    assert main(argv) == 2
    assert match in capsys.readouterr().err
