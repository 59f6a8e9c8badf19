from __future__ import annotations

from ltrr.plots import plot_windows


def test_plot_windows_writes_a_figure(tmp_path):
    windows = [{"start": float(s), "requests": 10.0, "reward": 0.5 + s / 100, "pool_recall": 0.9,
                "ndcg@10": 0.7, "candidates": 50.0} for s in range(0, 50, 10)]
    path = plot_windows({"engine": {"windows": windows}, "lexical=100": {"windows": windows}},
                        tmp_path / "fig" / "runs.png", title="test")
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 10_000
