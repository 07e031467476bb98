"""ruff and mypy --strict stay clean (DESIGN.md conventions); CI runs them through `make test`."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def run(*command: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=300)


def test_ruff_is_clean() -> None:
    done = run(str(BIN / "ruff"), "check", "src", "tests", "harness", "scripts", "bench")
    assert done.returncode == 0, done.stdout + done.stderr


def test_mypy_strict_is_clean_on_src() -> None:
    done = run(str(BIN / "mypy"))
    assert done.returncode == 0, done.stdout + done.stderr
