"""The one-way layers hold: ``lint-imports`` keeps every contract of ``[tool.importlinter]``."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def test_import_contracts_are_kept():
    lint = Path(sys.executable).parent / "lint-imports"
    if not lint.is_file():
        pytest.fail(
            f"lint-imports not found at {lint}: install the dev extras (pip install -e '.[dev]')"
        )
    proc = subprocess.run(
        [str(lint), "--no-cache"], cwd=ROOT, capture_output=True, text=True, check=False
    )
    assert proc.returncode == 0, f"import contracts broken:\n{proc.stdout}\n{proc.stderr}"
    assert "broken" in proc.stdout and "0 broken" in proc.stdout
