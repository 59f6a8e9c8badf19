"""Fine-tuning the embedding model from pairs: argument checks, and a short real run on the CPU."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from ltrr.errors import InvalidInputError
from strategies.encoder import Encoder
from strategies.tuning import tune_encoder

PAIRS = [
    (
        "vitamin d bone density",
        "Vitamin D supplements increase bone mineral density in older adults.",
    ),
    ("statins dementia", "Statin use was associated with a lower risk of dementia."),
    ("brca1 cancer risk", "BRCA1 mutations raise the lifetime risk of breast cancer."),
    ("coffee heart disease", "Coffee consumption is not linked to coronary heart disease."),
    ("aspirin stroke", "Low-dose aspirin reduces the risk of ischemic stroke."),
    ("sleep memory", "Sleep deprivation impairs memory consolidation."),
    ("exercise depression", "Aerobic exercise reduces symptoms of depression."),
    ("smoking lung cancer", "Tobacco smoking causes most lung cancers."),
]


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"pairs": "abc"}, "pairs must be a sequence of"),
        ({"pairs": [("q", "d")]}, "at least 2 pairs"),
        ({"pairs": [("q", "d"), ("q", "")]}, r"pairs\[1\] must be a \(query, passage\) pair"),
        ({"pairs": [("q", "d"), ["q", "d"]]}, r"pairs\[1\]"),
        ({"loss": "triplet"}, r"loss must be one of \['mnrl', 'mnrl\+tcm'\]"),
        ({"epochs": 0}, "epochs"),
        ({"batch_size": 1}, "batch_size"),
        ({"learning_rate": -1.0}, "learning_rate"),
        ({"margin_plus": 2.0}, "margin_plus"),
        ({"max_seq_length": 4}, "max_seq_length"),
    ],
)
def test_bad_arguments(tmp_path: Path, kwargs, match):
    args = {"pairs": PAIRS, **kwargs}
    with pytest.raises(InvalidInputError, match=match):
        tune_encoder(args.pop("pairs"), tmp_path / "m", **args)
    assert not (tmp_path / "m").exists()


def _positive_cosine(model: Path | None) -> float:
    enc = Encoder(model, cache_dir=False)
    q = enc.encode([p[0] for p in PAIRS])
    d = enc.encode([p[1] for p in PAIRS])
    return float(np.mean(np.sum(q * d, axis=1)))


@pytest.mark.slow
def test_a_short_tcm_run_pulls_the_pairs_together_and_saves_a_loadable_model(tmp_path: Path):
    out = tmp_path / "tuned"
    report = tune_encoder(
        PAIRS, out, epochs=2, batch_size=8, learning_rate=1e-4, max_seq_length=64, seed=1
    )
    assert (report.loss, report.pairs, report.steps) == ("mnrl+tcm", 8, 2)
    # both steps see the same batch, so the second loss is lower
    assert -1.0 <= report.margin_minus < report.margin_plus <= 1.0  # read off the base model
    assert report.last_loss < report.first_loss
    meta = json.loads((out / "tuning.json").read_text())
    assert meta["loss"] == "mnrl+tcm" and meta["seed"] == 1
    assert Encoder(out, cache_dir=False).fingerprint != Encoder(None, cache_dir=False).fingerprint
    assert _positive_cosine(out) > _positive_cosine(None)
