"""`make opensearch` as a user runs it: the URL line once the cluster is up, a clean stop, no node left behind."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from harness import opensearch_node

pytestmark = pytest.mark.opensearch

REPO = Path(__file__).resolve().parents[1]


def start_command() -> tuple[subprocess.Popen[str], str, Path, str]:
    """`python -m harness.opensearch_node` (what `make opensearch` runs), its URL, its logs' folder and what
    it said on stderr, once it has printed them (the URL on stdout, then the folder on stderr)."""
    process = subprocess.Popen(
        [sys.executable, "-m", "harness.opensearch_node"],
        cwd=REPO,
        env={k: v for k, v in os.environ.items() if k != "INDEX_PREFIX"},  # the default prefix, as a user has it
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    assert process.stdout
    line = process.stdout.readline().strip()
    assert line.startswith("OPENSEARCH_URL=http://127.0.0.1:"), line + (process.stderr.read() if process.stderr else "")
    assert process.stderr
    said = [""]
    while "Ctrl-C stops it" not in said[-1]:
        said.append(process.stderr.readline())
        assert said[-1], "stderr closed before the node said where its logs are"
    (logs,) = re.findall(r"logs in (\S+); Ctrl-C", said[-1])
    return process, line.removeprefix("OPENSEARCH_URL="), Path(logs), "".join(said)


def java_children(pid: int) -> list[int]:
    """The launcher JVMs whose parent is `pid`."""
    found = []
    for status in Path("/proc").glob("[0-9]*/status"):
        try:
            fields = dict(line.split(":\t", 1) for line in status.read_text().splitlines() if ":\t" in line)
            cmdline = (status.parent / "cmdline").read_bytes()
        except OSError:
            continue
        if fields.get("PPid", "").strip() == str(pid) and opensearch_node.LAUNCHER.encode() in cmdline:
            found.append(int(status.parent.name))
    return found


def gone(pid: int, within: float) -> bool:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if not Path(f"/proc/{pid}").exists() or "zombie" in Path(f"/proc/{pid}/status").read_text():
            return True
        time.sleep(0.2)
    return False


def test_the_url_line_comes_once_the_cluster_is_up_and_sigterm_stops_it(real_node_possible: None) -> None:
    process, url, _, said = start_command()
    health = json.loads(urllib.request.urlopen(f"{url}/_cluster/health", timeout=10).read())
    assert health["status"] in ("green", "yellow")
    assert "index template mydata-logs put for mydata-* (INDEX_PREFIX)" in said, said
    template = json.loads(urllib.request.urlopen(f"{url}/_index_template/mydata-logs", timeout=10).read())
    assert template["index_templates"][0]["index_template"]["index_patterns"] == ["mydata-*"]
    plugins = urllib.request.urlopen(f"{url}/_cat/plugins?h=component", timeout=10).read().decode().split()
    assert "opensearch-job-scheduler" in plugins, "the plugin ZIP loaded as a real plugin"
    (java,) = java_children(process.pid)
    os.kill(process.pid, signal.SIGTERM)
    assert process.wait(timeout=60) == 0
    assert process.stderr and "make opensearch: stopped" in process.stderr.read()
    assert gone(java, within=5)


def test_a_killed_parent_leaves_no_node_behind(real_node_possible: None) -> None:
    process, _, logs, _ = start_command()
    (java,) = java_children(process.pid)
    os.kill(process.pid, signal.SIGKILL)  # no chance to clean up: the node sees its stdin close
    process.wait(timeout=10)
    assert gone(java, within=30), "the JVM outlived its parent"
    assert not logs.parent.exists(), "the node removed its data and logs, as no parent was left to"


def test_the_launcher_takes_node_settings_as_opensearch_does(real_node_possible: None) -> None:
    """-E key=value, as bin/opensearch: the pressure test makes the write queue tiny this way."""
    with opensearch_node.LocalNode(settings={"thread_pool.write.queue_size": "3"}) as node:
        pools = json.loads(urllib.request.urlopen(f"{node.url}/_nodes/thread_pool", timeout=10).read())
    (local,) = pools["nodes"].values()
    assert local["thread_pool"]["write"]["queue_size"] == 3
