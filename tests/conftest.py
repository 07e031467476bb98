"""Shared fixtures: a running stand-in, a real OpenSearch node, the environment the handler reads, a moto S3
dead letter."""

from __future__ import annotations

import itertools
import json
import socket
import subprocess
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from harness import opensearch_node
from harness.standin import StandIn
from moto import mock_aws
from moto.server import ThreadedMotoServer
from opensearchpy import OpenSearch

from forwarder import handler
from tests import helpers
from tests.helpers import (
    BUCKET,
    FAST_RETRIES,
    DeadLetterBucket,
    RealOpenSearch,
    ResponseCatcher,
    environ,
    report_at_the_end,
    restore_standin_credentials,
)
from tests.sam import REPO, SAM_VENV


@pytest.fixture
def standin() -> Iterator[StandIn]:
    with StandIn() as server:
        yield server


@pytest.fixture
def forwarder_env(standin: StandIn, monkeypatch: pytest.MonkeyPatch) -> Iterator[StandIn]:
    """The handler configured for the stand-in, with the stand-in's test credentials."""
    for name, value in {**standin.env(), **FAST_RETRIES}.items():
        monkeypatch.setenv(name, value)
    for name in ("INDEX_PREFIX", "DEAD_LETTER_BUCKET", "DEAD_LETTER_PREFIX", "BULK_MAX_BYTES", "BULK_MAX_DOCS"):
        monkeypatch.delenv(name, raising=False)
    handler.reset_runtime()
    yield standin
    handler.reset_runtime()


# -- a real OpenSearch node, one per test session --------------------------------------
_real_node_skips: list[str] = []


@pytest.fixture(autouse=True)
def no_metrics_left_over() -> Iterator[None]:
    """A test that runs the pipeline outside the handler leaves its metrics for the next one: cleared here."""
    yield
    from forwarder.metrics import metrics

    metrics.clear_metrics()


_prefixes = itertools.count(1)


@pytest.fixture(scope="session")
def real_node_possible() -> None:
    """Skips, with the reason, where no real node can run (no Java 11-21, no Maven)."""
    reason = opensearch_node.unavailable()
    if reason:
        pytest.skip(f"no real OpenSearch node here: {reason}")


def _running(node: opensearch_node.LocalNode, name: str, request: pytest.FixtureRequest) -> Iterator[
    opensearch_node.LocalNode
]:  # fmt: skip
    """The node started for the session; its start time and peak memory in the report at the end."""
    node.start()
    yield node
    peak = node.resident_bytes(peak=True) if node.process and node.process.poll() is None else 0
    kept = node.stop(keep_logs=request.session.testsfailed > 0)
    report_at_the_end(
        f"the {name}: up in {node.started_in:.1f} s, peak {peak / 2**20:.0f} MiB resident"
        + (f"; its logs: {kept}" if kept else "")
    )


@pytest.fixture(scope="session")
def real_node(real_node_possible: None, request: pytest.FixtureRequest) -> Iterator[opensearch_node.LocalNode]:
    yield from _running(opensearch_node.LocalNode(), "real OpenSearch node", request)


@pytest.fixture
def real_opensearch(real_node: opensearch_node.LocalNode, monkeypatch: pytest.MonkeyPatch) -> Iterator[RealOpenSearch]:
    prefix = f"real{next(_prefixes)}"
    env = {
        "OPENSEARCH_ENDPOINT": real_node.url,
        "OPENSEARCH_SERVICE": "es",
        "AWS_REGION": "us-east-1",
        # Signed as for a domain; a node without the security plugin does not read the signature.
        "AWS_ACCESS_KEY_ID": "AKIDREALNODE",
        "AWS_SECRET_ACCESS_KEY": "real-node-secret",
        "INDEX_PREFIX": prefix,
        **FAST_RETRIES,
        # A new index's first _bulk waits for the index and its mapping to be made (0.5-2 s on a cold node).
        "RETRY_MAX_SECONDS": "60",
    }
    unset = ("AWS_SESSION_TOKEN", "DEAD_LETTER_BUCKET", "DEAD_LETTER_PREFIX", "BULK_MAX_BYTES", "BULK_MAX_DOCS")
    environ(monkeypatch, env, *unset)
    handler.reset_runtime()
    client = OpenSearch(hosts=[real_node.url], timeout=60)
    yield RealOpenSearch(real_node.url, client, prefix)
    handler.reset_runtime()
    client.indices.delete(index=f"{prefix}-*", allow_no_indices=True)
    client.indices.delete_index_template(name=f"{prefix}-*", ignore=404)
    client.close()


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if report.skipped and "opensearch" in report.keywords:
        _real_node_skips.append(report.nodeid)


def pytest_terminal_summary(terminalreporter: Any) -> None:
    for line in helpers.reported_at_the_end:
        terminalreporter.write_line(line)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Where Java and Maven are, the real-node tests must have run: a skip fails the run."""
    if _real_node_skips and opensearch_node.unavailable() is None:
        reporter = session.config.pluginmanager.get_plugin("terminalreporter")
        if reporter:
            reporter.write_sep(
                "=",
                f"FAILED: {len(_real_node_skips)} real-OpenSearch test(s) skipped on a machine with Java and "
                f"Maven, e.g. {_real_node_skips[0]}",
                red=True,
            )
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


@pytest.fixture
def silent_endpoint() -> Iterator[str]:
    """http://127.0.0.1:PORT of a socket that takes connections and never answers."""
    import socket

    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen()
    yield f"http://127.0.0.1:{silent.getsockname()[1]}"
    silent.close()


@pytest.fixture
def catcher() -> Iterator[ResponseCatcher]:
    catcher = ResponseCatcher()
    yield catcher
    catcher.server.shutdown()


@pytest.fixture(scope="session")
def secure_node(real_node_possible: None, request: pytest.FixtureRequest) -> Iterator[opensearch_node.LocalNode]:
    """OpenSearch 2.19.4 with the security plugin (`make opensearch SECURITY=true`), one per test session."""
    yield from _running(opensearch_node.LocalNode(secure=True), "secure OpenSearch node", request)


@pytest.fixture
def dead_letter(forwarder_env: StandIn, monkeypatch: pytest.MonkeyPatch) -> Iterator[DeadLetterBucket]:
    """DEAD_LETTER_BUCKET set, the bucket created in moto."""
    with mock_aws():
        restore_standin_credentials(forwarder_env, monkeypatch)
        s3 = boto3.client("s3", region_name=forwarder_env.region)
        s3.create_bucket(Bucket=BUCKET)
        monkeypatch.setenv("DEAD_LETTER_BUCKET", BUCKET)
        handler.reset_runtime()
        yield DeadLetterBucket(s3)
        handler.reset_runtime()


@pytest.fixture
def internal_user(forwarder_env: StandIn, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[StandIn, Any, str]]:
    """The stand-in requiring an internal user's basic auth, its secret in moto's Secrets Manager."""
    with mock_aws():
        restore_standin_credentials(forwarder_env, monkeypatch)
        secrets = boto3.client("secretsmanager", region_name=forwarder_env.region)
        arn = secrets.create_secret(
            Name="opensearch/forwarder", SecretString=json.dumps({"username": "forwarder", "password": "s3cret-1"})
        )["ARN"]
        forwarder_env.basic_auth = ("forwarder", "s3cret-1")
        monkeypatch.setenv("OPENSEARCH_SECRET_ARN", arn)
        handler.reset_runtime()
        yield forwarder_env, secrets, arn
        handler.reset_runtime()


@pytest.fixture(scope="module")
def sam_tools() -> Path:
    """The bin folder of the SAM tools' virtualenv, installed once (`make sam-tools`)."""
    done = subprocess.run(["make", "-s", "sam-tools"], cwd=REPO, capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr
    return SAM_VENV / "bin"


@pytest.fixture
def moto_server() -> Iterator[str]:
    """moto's server on a free loopback port, empty: its URL, for clients in other processes (AWS_ENDPOINT_URL)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    # The backends live in this process across servers: start each test from an empty account.
    urllib.request.urlopen(urllib.request.Request(f"http://127.0.0.1:{port}/moto-api/reset", method="POST"))
    yield f"http://127.0.0.1:{port}"
    server.stop()
