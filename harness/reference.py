"""Run the Node reference (../shared/reference/transform.js) and compare bodies with ours."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[1]
TRANSFORM_JS = REPO.parent / "shared" / "reference" / "transform.js"


def require_reference() -> str:
    """The node binary, or skip the calling test saying what is missing."""
    node = shutil.which("node")
    if node is None:
        pytest.skip("parity needs `node` on PATH (Node 20 runs the reference)")
    if not TRANSFORM_JS.exists():
        pytest.skip(f"parity needs the reference at {TRANSFORM_JS} (../shared beside the repo)")
    return node


def reference_bodies(payload_lines: list[str]) -> list[dict[str, Any]]:
    """One {"body": ...} / {"error": ...} per payload, from one node process."""
    node = require_reference()
    done = subprocess.run(
        [node, str(TRANSFORM_JS), "--payloads"],
        input="\n".join(payload_lines) + "\n",
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    return [json.loads(line) for line in done.stdout.splitlines()]


def reference_files(paths: list[Path]) -> list[dict[str, Any]]:
    node = require_reference()
    done = subprocess.run(
        [node, str(TRANSFORM_JS), *map(str, paths)], capture_output=True, text=True, check=True, timeout=120
    )
    return [json.loads(line) for line in done.stdout.splitlines()]


def documents(body: str | bytes) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    """NDJSON -> [(action metadata, source)]."""
    lines = body.splitlines()
    assert len(lines) % 2 == 0, "a _bulk body alternates action and source lines"
    return [(json.loads(lines[i])["index"], json.loads(lines[i + 1])) for i in range(0, len(lines), 2)]


def numeric(value: Any) -> Any:
    """Numbers as the double JavaScript holds them, so 1 == 1.0 and exact big ints match JS's rounding."""
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, list):
        return [numeric(item) for item in value]
    return {key: numeric(item) for key, item in value.items()}


def assert_same_documents(ours: bytes, theirs: str, where: str) -> int:
    """Same order, `_index`, `_id`, and sources equal as parsed values. Returns the count."""
    mine, ref = documents(ours), documents(theirs)
    assert len(mine) == len(ref), f"{where}: {len(mine)} documents, reference has {len(ref)}"
    for n, ((my_action, my_source), (ref_action, ref_source)) in enumerate(zip(mine, ref, strict=True)):
        assert "_type" not in my_action, f"{where}[{n}]: _type must not be sent"
        assert my_action["_index"] == ref_action["_index"], f"{where}[{n}] _index"
        assert my_action["_id"] == ref_action["_id"], f"{where}[{n}] _id"
        assert numeric(my_source) == numeric(ref_source), (
            f"{where}[{n}] source differs:\n ours {my_source}\n node {ref_source}"
        )
    return len(mine)
