from __future__ import annotations

import json

import pytest

from ltrr.app import cli
from ltrr.app.cli import main
from tests.ltrr.test_data import write_beir


def test_bench_retrieval_on_a_small_beir_folder(tmp_path, capsys):
    root = write_beir(
        tmp_path / "data" / "mini",
        docs=[
            {"_id": "d1", "title": "Apple", "text": "A red fruit."},
            {"_id": "d2", "title": "Car", "text": "A fast vehicle."},
            {"_id": "d3", "title": "Pear", "text": "A green fruit."},
        ],
        qrels="query-id\tcorpus-id\tscore\nq1\td1\t1\nq2\td2\t1\n",
    )
    out = tmp_path / "report.json"
    code = main(
        [
            "bench",
            "retrieval",
            "--data",
            str(root.parent),
            "--dataset",
            "mini",
            "--strategies",
            "lexical",
            "--k",
            "2",
            "--json",
            str(out),
            "--no-progress",
        ]
    )
    assert code == 0
    report = json.loads(out.read_text())
    assert report["dataset"] == "mini" and report["split"] == "test" and report["n_queries"] == 2
    lex = report["strategies"]["lexical"]
    assert set(lex) >= {"ndcg@10", "recall@2", "latency_ms_p50", "latency_ms_p99", "build_s"}
    # q1 "red fruit" finds d1 first; q2 "car" finds d2: both relevant items at rank 1
    assert lex["ndcg@10"] == pytest.approx(1.0)
    assert "lexical" in capsys.readouterr().out


def test_missing_data_says_how_to_point_at_it(tmp_path, monkeypatch, capsys):
    monkeypatch.delenv("LTRR_DATA", raising=False)
    monkeypatch.chdir(tmp_path)
    assert main(["bench", "retrieval", "--strategies", "lexical"]) == 2
    err = capsys.readouterr().err
    assert "no data folder" in err and "--data DIR or LTRR_DATA=DIR" in err and "BEIR-format" in err


def test_unknown_strategy_lists_names(tmp_path, capsys):
    root = write_beir(tmp_path / "mini")
    assert (
        main(["bench", "retrieval", "--data", str(root), "--strategies", "bm99", "--no-progress"])
        == 2
    )
    assert "unknown strategy 'bm99'; expected one of" in capsys.readouterr().err


def test_usage_errors_exit_2(capsys):
    with pytest.raises(SystemExit, match=r"^2$") as exc:
        main(["bench"])
    assert exc.value.code == 2
    assert "the following arguments are required" in capsys.readouterr().err


def test_simulate_plot_writes_a_figure(tmp_path, data_root, capsys):
    fig = tmp_path / "figs" / "sim.png"
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
            "100",
            "--no-heldout",
            "--plot",
            str(fig),
            "--no-progress",
        ]
    )
    assert code == 0
    data = fig.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 10_000
    assert f"wrote {fig}" in capsys.readouterr().out


def test_simulate_rejects_a_bad_plot_suffix_before_running(tmp_path, capsys):
    # no --data: the suffix is checked before the world is built, so no data is needed
    code = main(
        ["simulate", "--world", "music", "--policy", "lexical", "--plot", str(tmp_path / "x.gif")]
    )
    assert code == 2
    assert "must end in one of .png, .svg, .pdf" in capsys.readouterr().err
    assert not (tmp_path / "x.gif").exists()


def test_engine_retrains_from_clicks_by_default_only_without_judgements():
    class World:
        def __init__(self, judged):
            self.judged = judged

        def judgements(self):
            return self.judged

    assert cli._retrain_every(None, World(None)) == cli.AUTO_RETRAIN_EVERY
    assert cli._retrain_every(None, World(([], {}))) == 0
    assert cli._retrain_every(0, World(None)) == 0
    assert cli._retrain_every(250, World(([], {}))) == 250
