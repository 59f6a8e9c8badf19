"""Tests of ltrr.rewrites: rephrase detection, the absorbing chain, the rewrite table."""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from ltrr.app.cli import main
from ltrr.errors import CorruptModelError, DataError, DataNotFoundError, InvalidInputError
from ltrr.eventlog import EventLog, FeedbackRecord, LogFormatError, RequestRecord, read_log
from ltrr.rewrites import (
    RephraseDetector,
    Rewrite,
    RewriteMiner,
    RewriteTable,
    edit_similarity,
    ngram_similarity,
    request_outcomes,
    solve_chain,
)
from ltrr.rewrites import chain as chain_module
from ltrr.rewrites.mining import read_outcomes
from ltrr.rewrites.trec_sessions import load_trec_sessions, summarise_trec_sessions


def outcomes(rows: list[tuple[str, float, str, bool]]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "request_id": [f"r{i}" for i in range(len(rows))],
            "group": [r[0] for r in rows],
            "timestamp": [r[1] for r in rows],
            "query": [r[2] for r in rows],
            "success": [r[3] for r in rows],
        }
    )


# ----------------------------------------------------------------- similarity


def test_similarities_by_hand() -> None:
    # " abc " -> {" ab", "abc", "bc "}; " abd " -> {" ab", "abd", "bd "}: one shared of 3 + 3
    assert ngram_similarity("abc", "abd") == pytest.approx(2 * 1 / 6)
    assert ngram_similarity("night", "night") == 1.0
    assert edit_similarity("kitten", "sitting") == pytest.approx(1 - 3 / 7)
    assert edit_similarity("", "") == 1.0
    gate = RephraseDetector()
    assert gate.similarity("nite fever", "night fever") >= 0.5
    assert gate.similarity("nite fever", "bohemian rhapsody") < 0.5


# ------------------------------------------------------------------ detection


def test_detect_links_failed_request_to_similar_follow_up_only() -> None:
    log = outcomes(
        [
            ("a", 10.0, "Nite Fever", False),
            ("a", 14.0, "night  fever", True),  # rephrase: linked
            ("a", 20.0, "yesterday", False),
            ("a", 25.0, "bohemian rhapsody", True),  # new intent: gate refuses
            ("b", 10.0, "hallelujah", False),
            ("b", 500.0, "halleluja", True),  # outside the window
            ("c", 10.0, "imagine", True),
            ("c", 12.0, "imagin", True),  # first succeeded: not a rephrase
            ("d", 5.0, "hello", False),
            ("d", 6.0, "HELLO", True),  # identical retry, flagged
            (None, 1.0, "orphan", False),  # type: ignore[list-item]
            ("e", 1.0, "   ", False),  # empty query: dropped
        ]
    )
    found = RephraseDetector(window_seconds=60).detect(log)
    pairs = found.pairs()
    assert pairs[["from_key", "to_key"]].values.tolist() == [["nite fever", "night fever"]]
    assert found.n_links == 2
    with_retries = found.pairs(identical=True)
    assert ["hello", "hello"] in with_retries[["from_key", "to_key"]].values.tolist()
    assert "orphan" not in set(found.requests["query"])
    assert len(found.requests) == 10


def test_detect_chains_through_failures_and_rejects_bad_input() -> None:
    log = outcomes(
        [
            ("a", 30.0, "blew moon", False),  # shuffled order: the detector sorts by time
            ("a", 0.0, "blue mon", False),
            ("a", 50.0, "blue moon", True),
        ]
    )
    found = RephraseDetector().detect(log)
    frame = found.requests
    assert frame["query"].tolist() == ["blue mon", "blew moon", "blue moon"]
    assert frame["next"].tolist() == [1, 2, -1]
    assert len(found.pairs()) == 1  # only the link whose second request succeeded
    assert len(found.pairs(successful_only=False)) == 2
    with pytest.raises(InvalidInputError, match="window_seconds"):
        RephraseDetector(window_seconds=0).detect(log)
    with pytest.raises(InvalidInputError, match="min_similarity"):
        RephraseDetector(min_similarity=1.5).detect(log)
    with pytest.raises(InvalidInputError, match="missing columns"):
        RephraseDetector().detect(log.drop(columns=["success"]))
    bad = log.copy()
    bad.loc[0, "timestamp"] = np.inf
    with pytest.raises(InvalidInputError, match="finite"):
        RephraseDetector().detect(bad)


def test_empty_log_gives_no_rewrites() -> None:
    found = RephraseDetector().detect(outcomes([]))
    assert found.n_links == 0 and len(found.pairs()) == 0
    miner = RewriteMiner().fit(found)
    assert miner.rewrites_ == {} and miner.personal_ == {}
    assert miner.n_states_ == 0


def test_request_outcomes_from_log_frames() -> None:
    requests = pd.DataFrame(
        {
            "request_id": ["r1", "r2", "r3"],
            "timestamp": [1.0, 2.0, 3.0],
            "query": ["a", "b", "c"],
            "context": [{"user_id": "u"}, {"user_id": "u", "session_id": "s9"}, {}],
        }
    )
    feedback = pd.DataFrame(
        {"request_id": ["r1", "r2", "r9"], "kind": ["impression", "play", "click"]}
    )
    out = request_outcomes(requests, feedback)
    assert out["success"].tolist() == [False, True, False]
    assert out["group"].tolist() == ["u", "s9", None]
    with pytest.raises(InvalidInputError, match="missing columns"):
        request_outcomes(requests.drop(columns=["context"]), feedback)


# ---------------------------------------------------------------------- chain


def dense_absorption(
    states: list[str], users: list[str], success: list[bool], nxt: list[int], cap: int
) -> tuple[list[str], np.ndarray]:
    """Reference: count transitions with plain loops and solve (I - Q)^-1 R densely."""
    names = list(dict.fromkeys(states))
    index = {s: i for i, s in enumerate(names)}
    n = len(names)
    per_user: Counter[tuple[str, int, int]] = Counter()
    for i, s in enumerate(states):
        f = index[s]
        if success[i]:
            to = n + f
        elif nxt[i] >= 0:
            to = index[states[nxt[i]]]
            if to == f:
                continue
        else:
            to = 2 * n
        per_user[(users[i], f, to)] += 1
    counts: Counter[tuple[int, int]] = Counter()
    for (_, f, to), c in per_user.items():
        counts[(f, to)] += min(c, cap)
    totals = defaultdict(float)
    for (f, _), c in counts.items():
        totals[f] += c
    q = np.zeros((n, n))
    r = np.zeros((n, n + 1))
    for (f, to), c in counts.items():
        p = c / totals[f]
        if to < n:
            q[f, to] += p
        elif to < 2 * n:
            r[f, to - n] += p
        else:
            r[f, n] += p
    return names, np.linalg.solve(np.eye(n) - q, r)


def requests_for(spec: dict[str, list[str]]) -> tuple[list[str], list[str], list[bool], list[int]]:
    """Requests from {state: outcomes}; an outcome is 'ok', 'F' or the name of the rephrase."""
    states = [s for s, outs in spec.items() for _ in outs]
    first = {s: states.index(s) for s in spec}
    success, nxt = [], []
    for outs in spec.values():
        for o in outs:
            success.append(o == "ok")
            nxt.append(first[o] if o not in ("ok", "F") else -1)
    return states, [f"u{i}" for i in range(len(states))], success, nxt


def test_hand_computed_chain_with_a_cycle() -> None:
    # a: 1 success, 3 -> b, 1 gives up; b: 2 successes, 1 -> a (a cycle), 1 -> c; c: 2 successes
    spec = {"a": ["ok", "b", "b", "b", "F"], "b": ["ok", "ok", "a", "c"], "c": ["ok", "ok"]}
    states, users, success, nxt = requests_for(spec)
    sol = solve_chain(states, users, success, nxt)
    names = list(sol.states)
    a, b, c = names.index("a"), names.index("b"), names.index("c")
    # by hand: B[a,A_b] = 6/17, B[a,A_a] = 4/17, B[b,A_b] = 10/17, B[b,A_c] = 5/17
    assert sol.best[a] == b and sol.confidence[a] == pytest.approx(6 / 17)
    assert sol.success_as_is[a] == pytest.approx(4 / 17)
    assert sol.best[b] == c and sol.confidence[b] == pytest.approx(5 / 17)
    assert sol.success_as_is[b] == pytest.approx(10 / 17)
    assert sol.success_as_is[c] == pytest.approx(1.0) and sol.best[c] == -1
    ref_names, ref = dense_absorption(states, users, success, nxt, cap=5)
    assert ref_names == names
    assert ref[a, b] == pytest.approx(6 / 17) and ref[a, 3] == pytest.approx(4 / 17)
    kept = chain_module.RewriteMiner(min_confidence=0.3, min_support=1, min_users=1)._rules(
        sol, "global", 1, 1
    )
    # a -> b kept (6/17 > 4/17 and >= 0.3); b keeps itself (10/17 beats 5/17)
    assert set(kept) == {"a"} and kept["a"].target == "b"


@pytest.mark.parametrize("n_states,seed", [(12, 0), (30, 1), (120, 2)])
def test_chain_matches_dense_solve(n_states: int, seed: int) -> None:
    """Random chains (cycles included; 120 states reach the sparse-LU path) against numpy."""
    rng = np.random.default_rng(seed)
    names = [f"q{i}" for i in range(n_states)]
    states, users, success, nxt = [], [], [], []
    first: dict[str, int] = {}
    for i, s in enumerate(names):  # every state is seen once first, so links can point to it
        first[s] = i
        states.append(s)
        users.append(f"u{rng.integers(6)}")
        success.append(bool(rng.random() < 0.5))
        nxt.append(-1)
    for _ in range(8 * n_states):
        s = names[int(rng.integers(n_states))]
        states.append(s)
        users.append(f"u{rng.integers(6)}")
        u = rng.random()
        success.append(bool(u < 0.3))
        # rephrase to a neighbour (ring + random jumps: big cycles) or give up
        if 0.3 <= u < 0.85:
            j = (names.index(s) + int(rng.choice([1, -1, 5]))) % n_states
            nxt.append(first[names[j]])
        else:
            nxt.append(-1)
    sol = solve_chain(states, users, success, nxt, max_user_count=3)
    ref_names, ref = dense_absorption(states, users, success, nxt, cap=3)
    assert list(sol.states) == ref_names
    n = len(ref_names)
    assert sol.largest_component == n
    for i in range(n):
        np.testing.assert_allclose(sol.success_as_is[i], ref[i, i], atol=1e-9)
        others = ref[i, :n].copy()
        others[i] = -np.inf
        np.testing.assert_allclose(sol.confidence[i], others.max(), atol=1e-9)
        assert ref[i, sol.best[i]] == pytest.approx(others.max(), abs=1e-9)
    assert np.allclose(ref.sum(axis=1), 1.0)


def test_dense_and_sparse_paths_agree(monkeypatch: pytest.MonkeyPatch) -> None:
    spec = {"a": ["b", "b", "F", "ok"], "b": ["c", "a", "ok"], "c": ["ok", "a"], "z": ["ok"]}
    states, users, success, nxt = requests_for(spec)
    dense = solve_chain(states, users, success, nxt)
    monkeypatch.setattr(chain_module, "DENSE_MAX", 1)
    sparse = solve_chain(states, users, success, nxt)
    np.testing.assert_allclose(dense.confidence, sparse.confidence)
    np.testing.assert_allclose(dense.success_as_is, sparse.success_as_is)
    assert dense.best.tolist() == sparse.best.tolist()


def test_self_rephrases_never_become_rewrites() -> None:
    log = outcomes(
        [("u", float(t), "hello", t % 5 == 4) for t in range(50)]
        + [("v", float(t), "hello", t % 5 == 4) for t in range(50)]
    )
    miner = RewriteMiner(min_confidence=0.0, min_support=1, min_users=1).fit(
        RephraseDetector().detect(log)
    )
    assert miner.rewrites_ == {} and miner.personal_ == {}
    with pytest.raises(InvalidInputError, match="differ"):
        Rewrite("hello", "hello", 1.0, 0.0, 1, 1)
    with pytest.raises(InvalidInputError, match="non-empty"):
        Rewrite("hello", " ", 1.0, 0.0, 1, 1)


def test_one_user_with_thousands_of_rephrases_stays_personal() -> None:
    rows = []
    for k in range(3000):
        rows += [
            ("bot", 100.0 * k, "nite fever", False),
            ("bot", 100.0 * k + 3, "night fever", True),
        ]
    rows += [("amy", 5.0, "nite fever", False), ("amy", 9.0, "night fever", True)]
    found = RephraseDetector().detect(outcomes(rows))
    miner = RewriteMiner(max_user_count=5).fit(found)
    # global needs two users: the bot and amy make two; the bot counts 5 times, not 3000
    rule = miner.rewrites_["nite fever"]
    assert rule.target == "night fever" and rule.support == 6 and rule.users == 2
    alone = RewriteMiner().fit(RephraseDetector().detect(outcomes(rows[:-2])))
    assert alone.rewrites_ == {}  # one user alone never makes a global rewrite
    assert alone.personal_["bot"]["nite fever"].target == "night fever"


def test_miner_thresholds_and_bad_parameters() -> None:
    rows = []
    for u in range(4):  # 4 users rephrase "imagin" -> "imagine"; 4 others give up
        rows += [(f"a{u}", 0.0, "imagin", False), (f"a{u}", 3.0, "imagine", True)]
        rows += [(f"b{u}", 0.0, "imagin", False)]
    found = RephraseDetector().detect(outcomes(rows))
    assert RewriteMiner(min_confidence=0.5).fit(found).rewrites_["imagin"].confidence == 0.5
    assert RewriteMiner(min_confidence=0.51).fit(found).rewrites_ == {}
    assert RewriteMiner(min_support=5).fit(found).rewrites_ == {}
    assert RewriteMiner(min_users=5).fit(found).rewrites_ == {}
    with pytest.raises(InvalidInputError, match="min_confidence"):
        RewriteMiner(min_confidence=2).fit(found)
    with pytest.raises(InvalidInputError, match="Rephrases"):
        RewriteMiner().fit(found.requests)  # type: ignore[arg-type]
    with pytest.raises(InvalidInputError, match="one entry per request"):
        solve_chain(["a"], ["u", "v"], [True], [-1])


# ---------------------------------------------------------------------- table


def rule(query: str, target: str, layer: str = "global") -> Rewrite:
    return Rewrite(query, target, 0.9, 0.0, 3, 2 if layer == "global" else 1, layer)


def test_table_personal_wins_then_falls_back_to_global() -> None:
    table = RewriteTable(
        global_rewrites={"blew moon": rule("blew moon", "blue moon")},
        personal={"amy": {"blew moon": rule("blew moon", "blue moon revisited", "personal")}},
    )
    assert table.lookup("Blew  Moon", "amy").target == "blue moon revisited"  # type: ignore[union-attr]
    assert table.lookup("blew moon", "bob").target == "blue moon"  # type: ignore[union-attr]
    assert table.lookup("blew moon", "amy", personal=False).layer == "global"  # type: ignore[union-attr]
    assert table.lookup("blew moon").layer == "global"  # type: ignore[union-attr]
    assert table.lookup("something else", "amy") is None


def test_table_online_learning_personal_global_and_vetoes() -> None:
    table = RewriteTable(min_support=2, min_users=2)
    table.observe("amy", "nite fever", 100.0, False)
    table.observe("amy", "night fever", 104.0, True)
    assert table.lookup("nite fever", "amy").layer == "personal"  # type: ignore[union-attr]
    assert table.lookup("nite fever", "bob") is None  # one user: no global rule yet
    table.observe("bob", "nite fever", 200.0, False)
    table.observe("bob", "yesterday", 203.0, True)  # a new intent: no credit
    table.observe("cat", "nite fever", 300.0, False)
    table.observe("cat", "night fever", 390.0, True)  # outside the window
    assert table.lookup("nite fever", "dan") is None
    table.observe("eve", "nite fever", 400.0, False)
    table.observe("eve", "night fever", 402.0, True)
    got = table.lookup("nite fever", "dan")
    assert got is not None and got.layer == "global" and got.target == "night fever"
    # a rewrite that fails a user is vetoed for that user only
    table.observe("dan", "nite fever", 500.0, False, applied=got)
    assert table.lookup("nite fever", "dan") is None
    assert table.lookup("nite fever", "fay") is not None
    # ... and dropped globally once it fails more often than min_confidence allows
    table.observe("fay", "nite fever", 600.0, False, applied=got)
    assert table.lookup("nite fever", "gus") is None
    with pytest.raises(InvalidInputError, match="timestamp"):
        table.observe("amy", "x", float("nan"), True)
    with pytest.raises(InvalidInputError, match="success"):
        table.observe("amy", "x", 1.0, 1)  # type: ignore[arg-type]


def test_table_save_load_round_trip_and_corruption(tmp_path: Path) -> None:
    rows = []
    for u in ("a", "b", "c"):
        rows += [(u, 0.0, "imagin", False), (u, 3.0, "imagine", True)]
    miner = RewriteMiner().fit(RephraseDetector().detect(outcomes(rows)))
    table = RewriteTable.from_miner(miner, window_seconds=30.0)
    table.vetoes_["a"] = {"imagin"}
    folder = table.save(tmp_path / "rewrites")
    loaded = RewriteTable.load(folder)
    assert loaded.global_ == table.global_
    assert loaded.personal_ == table.personal_
    assert loaded.vetoes_ == {"a": {"imagin"}}
    assert loaded.window_seconds == 30.0
    assert loaded.lookup("imagin", "a") is None and loaded.lookup("imagin", "b") is not None
    (folder / "table.json").write_text('{"global": [{"query": "x", "target": ""}]}')
    with pytest.raises(CorruptModelError, match=r"table\.json"):
        RewriteTable.load(folder)
    with pytest.raises(CorruptModelError):
        RewriteTable.load(tmp_path / "missing")
    with pytest.raises(InvalidInputError, match="fitted"):
        RewriteTable.from_miner(RewriteMiner())


# ------------------------------------------------------------- mining a log


def write_log(folder: Path, rows: list[tuple[str, float, str, bool]]) -> None:
    with EventLog(folder) as log:
        for i, (user, ts, query, ok) in enumerate(rows):
            rid = f"r{i}"
            log.append_request(
                RequestRecord(
                    request_id=rid,
                    timestamp=ts,
                    query=query,
                    context={"user_id": user, "device": "voice"},
                    action="lexical=10",
                    propensity=1.0,
                    action_probs={"lexical=10": 1.0},
                    pool=(),
                    ranking=("t1", "t2"),
                    policy="test",
                )
            )
            kind = "play" if ok else "skip"
            log.append_feedback(
                FeedbackRecord(request_id=rid, item_id="t1", kind=kind, position=1, timestamp=ts)
            )


def test_cli_mines_a_log_folder(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rows = []
    for k, user in enumerate(["amy", "bob", "cat"]):
        t = 1000.0 * k
        rows += [(user, t, "Nite Fever", False), (user, t + 4, "night fever", True)]
    rows += [("dan", 9000.0, "blew moon", False), ("dan", 9003.0, "blue moon", True)]
    write_log(tmp_path / "log", rows)
    out = tmp_path / "rewrites"
    assert main(["rewrites", "mine", "--log", str(tmp_path / "log"), "--out", str(out)]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["requests"] == 8 and summary["rephrases"] == 4
    assert summary["global_rewrites"] == 1 and summary["personal_rewrites"] == 4
    table = RewriteTable.load(out)
    assert table.lookup("nite fever").target == "night fever"  # type: ignore[union-attr]
    assert table.lookup("blew moon") is None  # one user: personal only
    assert table.lookup("blew moon", "dan").target == "blue moon"  # type: ignore[union-attr]
    assert main(["rewrites", "mine", "--log", str(tmp_path / "nope"), "--out", str(out)]) == 2
    assert "does not exist" in capsys.readouterr().err


# ------------------------------------------------------------ TREC sessions


@pytest.fixture(scope="module")
def trec_dir(data_root: Path) -> Path:
    path = data_root / "trec_session_2013"
    if not (path / "sessions.jsonl").is_file():
        pytest.skip(f"TREC 2013 Session track sample not found at {path}")
    return path


def test_trec_sessions_detection_and_mining(trec_dir: Path) -> None:
    frame = load_trec_sessions(trec_dir)
    assert len(frame) == 488 and int(frame["is_current"].sum()) == 87
    assert not frame.loc[frame["is_current"], "success"].any()  # no interaction logged
    assert frame.groupby("group").size().size == 133
    report = summarise_trec_sessions(trec_dir)
    assert report["consecutive_pairs"] == 355
    # the gate refuses some follow-ups of failed queries (new intents), keeps most
    assert 0 < report["links"] < report["candidates_failed_within_window"]
    typo = ["uk road trip idead", "uk road trip ideas"]
    assert typo in [e[:2] for e in report["examples"]]
    # each session is one searcher and sessions barely repeat a query: no global rewrite
    # reaches two users, while one searcher's own evidence yields some
    assert report["rewrites"] == 0 and report["rewrites_one_user_enough"] > 0
    satisfied = load_trec_sessions(trec_dir, min_dwell=30.0)
    assert satisfied["success"].sum() < frame["success"].sum()


def test_trec_loader_errors(tmp_path: Path) -> None:
    with pytest.raises(DataNotFoundError, match=r"sessions\.jsonl"):
        load_trec_sessions(tmp_path)
    (tmp_path / "sessions.jsonl").write_text('{"session_id": "1"}\n')
    with pytest.raises(DataError, match="line 1"):
        load_trec_sessions(tmp_path)


def test_read_outcomes_matches_the_full_reader_and_reports_bad_lines(tmp_path: Path) -> None:
    rows = [("amy", 1.0, "Nite Fever", False), ("amy", 4.0, "night fever", True)]
    rows += [("bob", 9.0, "blue moon", True)]
    write_log(tmp_path / "log", rows)
    lean, problems = read_outcomes(tmp_path / "log")
    full = request_outcomes(
        read_log(tmp_path / "log").frame, read_log(tmp_path / "log", kind="feedback").frame
    )
    assert problems == []
    for column in ("request_id", "group", "user", "timestamp", "query", "success"):
        assert lean[column].tolist() == full[column].tolist()
    segment = sorted((tmp_path / "log").glob("requests-*.jsonl"))[0]
    with segment.open("a") as fh:
        fh.write('{"v": 1, "type": "request", "request_id": "x", "timestamp": "soon"}\n{"torn')
    with pytest.raises(LogFormatError, match="timestamp"):
        read_outcomes(tmp_path / "log")
    lean, problems = read_outcomes(tmp_path / "log", strict=False)
    assert len(lean) == 3 and [p.line for p in problems] == [4, 5]
    assert "incomplete record" in problems[1].reason
