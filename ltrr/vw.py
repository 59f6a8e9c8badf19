"""Vowpal Wabbit helpers shared by the plan selector and the recall model: examples, workspaces, files."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from ltrr.errors import CorruptModelError, InvalidInputError
from ltrr.io import atomic_write_json, verify_checksums, write_checksums

__all__ = [
    "check_example",
    "common_args",
    "learn_each",
    "load_workspace",
    "model_file",
    "open_workspace",
    "per_plan",
    "save_model",
    "verify_model",
]


def check_example(example: list[str], n_plans: int) -> None:
    """Raise unless ``example`` has a shared line and one line per plan."""
    if len(example) != n_plans + 1:
        raise InvalidInputError(
            f"example must have a shared line and {n_plans} plan lines, got {len(example)} lines"
        )


def learn_each(vw: Any, example: list[str], values: np.ndarray, order: Iterable[int]) -> None:
    """Full-information update: label each plan ``j`` in turn with cost ``-values[j]``, probability 1."""
    for j in order:
        lines = list(example)
        lines[j + 1] = f"0:{-values[j]:.6g}:1 " + lines[j + 1]
        vw.learn(lines)


def common_args(settings: Mapping[str, Any]) -> str:
    """VW arguments both models share: interactions, learning rate, seed."""
    inter = " ".join(f"-q {i}" for i in settings["interactions"])
    return f"{inter} -l {settings['learning_rate']} --random_seed {settings['seed']} --quiet --noconstant"


def open_workspace(args: str, model_file: Path | None) -> Any:
    """Open a VW workspace with ``args``, from ``model_file`` when given."""
    import vowpalwabbit

    return vowpalwabbit.Workspace(args + (f" -i {model_file}" if model_file is not None else ""))


def save_model(model: Any, folder: Path, stem: str, meta: dict[str, Any]) -> None:
    """Write ``<stem>.vw`` (under the model's lock), ``<stem>.json`` and their checksums into ``folder``."""
    with model._lock:
        model._vw.save(str(folder / f"{stem}.vw"))
    atomic_write_json(folder / f"{stem}.json", meta)
    write_checksums(folder, [f"{stem}.vw", f"{stem}.json"], name=f"{stem}.checksums.json")


def verify_model(folder: Path, stem: str, what: str) -> None:
    """Check ``<stem>.vw`` and ``<stem>.json`` against their checksums before VW parses them.

    Raises
    ------
    CorruptModelError
        If a file was altered or is missing (a folder saved before checksums loads
        with a warning).
    """
    verify_checksums(
        folder,
        [f"{stem}.vw", f"{stem}.json"],
        name=f"{stem}.checksums.json",
        what=what,
        required=False,
    )


def model_file(path: Path, what: str) -> Path:
    """Return ``path``, or raise CorruptModelError naming ``what`` when it is missing."""
    if not path.is_file():
        raise CorruptModelError(f"{what} model {str(path)!r} is missing")
    return path


def load_workspace(model: Any, path: Path, what: str) -> Any:
    """Open the VW file of ``model`` (a selector or recall model), naming ``what`` on failure."""
    try:
        return model._workspace(path)
    except Exception as exc:
        raise CorruptModelError(f"{what} model {str(path)!r} is unreadable: {exc}") from None


def per_plan(
    name: str, values: object, n_plans: int, *, low: float | None = 0.0, high: float | None = None
) -> np.ndarray:
    """Return ``values`` as one float per plan, or raise InvalidInputError naming ``name``."""
    a = np.asarray(values, dtype=np.float64)
    ok = a.shape == (n_plans,) and bool(np.all(np.isfinite(a)))
    if ok and low is not None:
        ok = bool(np.all(a >= low))
    if ok and high is not None:
        ok = bool(np.all(a <= high))
    if not ok:
        if high is not None:
            expected = f"values in [{low:g}, {high:g}]"
        else:
            expected = "finite values" + ("" if low is None else f" >= {low:g}")
        raise InvalidInputError(f"{name} must hold {n_plans} {expected}, got {a.tolist()}")
    return a
