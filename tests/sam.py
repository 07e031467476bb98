"""SAM CLI as the tests run it: its own virtualenv (`make sam-tools`) and `sam build` without Docker."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SAM_VENV = REPO / ".venv-sam"
ACCOUNT, REGION = "123456789012", "us-east-1"
TOOLS_ENV = {**os.environ, "SAM_CLI_TELEMETRY": "0", "AWS_DEFAULT_REGION": REGION}


def moved_clock_path(folder: Path) -> list[str]:
    """Under `make test-any-day`, what a process run with -S and a PYTHONPATH of its own needs on that path
    to move its clock too: time-machine alone (linked into `folder`, not the whole venv) and tests/any_day.
    Its script imports sitecustomize itself, as -S skips it."""
    if not os.environ.get("ANY_DAY_SHIFT_DAYS"):
        return []
    import time_machine

    site = Path(time_machine.__file__).parents[1]
    folder.mkdir(parents=True, exist_ok=True)
    for part in (site / "time_machine", *site.glob("_time_machine*.so")):
        (folder / part.name).symlink_to(part)
    return [str(folder), str(REPO / "tests" / "any_day")]


def sam_build(sam_tools: Path, build_dir: Path, architecture: str) -> Path:
    python_dir = Path(sys.base_exec_prefix) / "bin"  # the interpreter this venv was made from: 3.13
    env = {**TOOLS_ENV, "PATH": f"{python_dir}:{TOOLS_ENV['PATH']}"}
    done = subprocess.run(
        [
            str(sam_tools / "sam"),
            "build",
            "--build-dir",
            str(build_dir),
            "--region",
            REGION,
            "--parameter-overrides",
            f"Architecture={architecture}",
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return build_dir / "ForwarderFunction"
