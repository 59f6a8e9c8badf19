"""ltrr index, train and evaluate on a model folder: bad rows, a log from the service, off-policy verdicts."""

from __future__ import annotations

import json

import numpy as np
import pytest

from ltrr.app.cli import main
from ltrr.eventlog import EventLog
from ltrr.service.app import Service
from ltrr.service.schemas import FeedbackBody, SearchBody
from ltrr.service.store import ModelStore

WORDS = ["apple", "car", "bike", "red", "green", "fast", "fruit", "engine", "battery", "pie"]


def _catalog(path, n=120, bad=()):
    with path.open("w") as fh:
        for i in range(n):
            row = {"id": f"d{i}", "title": " ".join(WORDS[(i * k) % 10] for k in (1, 3)), "body": f"n{i}"}
            fh.write(json.dumps(row) + "\n")
        for line in bad:
            fh.write(line + "\n")
    return path


def test_index_refuses_bad_rows_then_skips_them(tmp_path, capsys):
    cat = _catalog(tmp_path / "c.jsonl", bad=['{"id": "d1", "title": "again"}', "{oops"])
    out = tmp_path / "m"
    assert main(["index", str(cat), "--strategies", "lexical", "--out", str(out), "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert "c.jsonl:121: field 'id': duplicate" in err and "c.jsonl:122" in err
    assert not out.exists()
    code = main(
        ["index", str(cat), "--strategies", "lexical", "--out", str(out), "--on-error", "skip", "--no-progress"]
    )
    assert code == 0
    captured = capsys.readouterr()
    assert "2 bad rows skipped" in captured.out and "c.jsonl:122: invalid JSON" in captured.err
    store = ModelStore(out)
    assert store.current() == "v000001" and len(store.catalog()) == 120
    assert main(["index", str(cat), "--strategies", "lexical", "--out", str(out)]) == 2
    assert "already exists" in capsys.readouterr().err


@pytest.fixture
def served_log(tmp_path):
    cat = _catalog(tmp_path / "c.jsonl")
    model = tmp_path / "models" / "m"
    assert main(["index", str(cat), "--strategies", "lexical,memory", "--out", str(model), "--no-progress"]) == 0
    store = ModelStore(model)
    service = Service(store, event_log=EventLog(tmp_path / "log"), learn=False)
    rng = np.random.default_rng(0)
    for _ in range(300):
        q = f"{WORDS[int(rng.integers(10))]} {WORDS[int(rng.integers(10))]}"
        r = service.search(SearchBody(query=q, k=5))
        # users click the first item holding the query's first word, when it is shown
        hits = [it.id for it in r.items if q.split()[0] in store.catalog()[it.id].fields["title"]]
        events = [{"item": hits[0], "kind": "click"}] if hits and rng.random() < 0.8 else []
        service.feedback(FeedbackBody(request_id=r.request_id, events=events))
    service.event_log.close()
    return model, tmp_path / "log"


def test_evaluating_the_logging_version_gives_back_the_logged_value(served_log, tmp_path, capsys):
    model, log = served_log
    out = tmp_path / "ope.json"
    code = main(["evaluate", "--log", str(log), "--target", str(model), "--bootstrap", "30", "--json", str(out), "--no-progress"])
    assert code == 0
    result = json.loads(out.read_text())
    # the target is the policy that logged: every importance weight is 1
    assert result["ope"]["ipw"]["value"] == pytest.approx(result["logged_value"], abs=1e-9)
    assert result["ope"]["snipw"]["value"] == pytest.approx(result["logged_value"], abs=1e-9)
    assert "no significant difference" in result["verdict"]


def test_train_publishes_a_version_learned_from_the_log_alone(served_log, capsys):
    model, log = served_log
    assert main(["train", "--log", str(log), "--model", str(model)]) == 0
    assert "learned 300 logged requests" in capsys.readouterr().out
    store = ModelStore(model)
    assert store.current() == "v000002"
    trained = store.load()
    assert trained.selector.n_learned_ > store.load("v000001").selector.n_learned_
    assert trained.ranker is not None  # the schedule retrained the ranker from the clicks
    assert main(["evaluate", "--log", str(log), "--target", str(model / "versions" / "v000002"), "--bootstrap", "30", "--no-progress"]) == 0
    assert "verdict:" in capsys.readouterr().out
