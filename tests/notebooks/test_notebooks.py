"""Execute every notebook in ``notebooks/`` top to bottom on the real data.

The kernel starts in ``notebooks/`` (as Jupyter would) with ``LTRR_DATA`` pointing at the data
the other tests use, the Agg backend and no figure output folder, so a run writes nothing into
the repository. A notebook that raises fails its test with the cell and the traceback.

The notebooks read their work sizes from ``LTRR_NB_*`` environment variables (defaults: the
sizes their text describes); the tests set the small sizes of :data:`SMALL_SIZES`, so every
cell still runs top to bottom but the four take about two minutes together instead of seven.
A variable already set in the environment wins (``LTRR_NB_STEPS=2000 pytest tests/notebooks``).
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOK_DIR = ROOT / "notebooks"
NOTEBOOKS = sorted(NOTEBOOK_DIR.glob("*.ipynb"))
EXPECTED = {
    "01_quickstart",
    "02_learning_to_retrieve",
    "03_counterfactual_evaluation",
    "04_recall_vs_cost",
}
#: Seconds one cell may take: a cold embedding cache makes the first SciFact build encode
#: 5,183 abstracts (about 260 s on two cores).
CELL_TIMEOUT = 1200
#: Work sizes for the test runs (see each notebook's introduction for what they mean).
SMALL_SIZES = {
    "LTRR_NB_STEPS": 100,  # online requests per policy (01, 02, 04)
    "LTRR_NB_MUSIC_STEPS": 100,  # music requests per policy (02)
    "LTRR_NB_HELDOUT": 30,  # held-out requests answered (02, 04)
    "LTRR_NB_CLAIMS": 60,  # train claims for the ranker and the batch encoding (01-04)
    "LTRR_NB_TREES": 10,  # the ranker's trees (01, 02, 04)
    "LTRR_NB_TIMING_QUERIES": 10,  # claims searched for the stage timings (01)
    "LTRR_NB_LOG_STEPS": 400,  # logged requests (03)
    "LTRR_NB_TRUTH_STEPS": 100,  # on-policy requests per candidate (03)
    "LTRR_NB_BOOTSTRAP": 20,  # bootstrap resamples per interval (03)
}


def test_the_notebooks_are_all_there():
    assert {p.stem for p in NOTEBOOKS} == EXPECTED


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_is_committed_without_outputs(path: Path) -> None:
    nb = json.loads(path.read_text())
    dirty = [
        i
        for i, c in enumerate(nb["cells"])
        if c["cell_type"] == "code" and (c.get("outputs") or c.get("execution_count"))
    ]
    assert not dirty, f"{path.name}: clear the outputs of cells {dirty} before committing"


@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_runs_top_to_bottom(
    path: Path, scifact_dir: Path, music_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LTRR_DATA", str(scifact_dir.parent))
    monkeypatch.setenv("MPLBACKEND", "Agg")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.delenv("LTRR_FIGURES", raising=False)
    for name, value in SMALL_SIZES.items():
        monkeypatch.setenv(name, os.environ.get(name, str(value)))
    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(
        nb,
        timeout=CELL_TIMEOUT,
        kernel_name="python3",
        resources={"metadata": {"path": str(NOTEBOOK_DIR)}},
    )
    t0 = time.perf_counter()
    try:
        client.execute()
    except CellExecutionError as exc:  # the message holds the cell source and the traceback
        pytest.fail(f"{path.name} failed:\n{exc}", pytrace=False)
    finally:
        out = os.environ.get("LTRR_NOTEBOOK_OUTPUT")
        if out:  # keep the executed copy for a person to look at
            Path(out).mkdir(parents=True, exist_ok=True)
            nbformat.write(nb, Path(out) / path.name)
    print(f"{path.name}: {time.perf_counter() - t0:.1f} s")
