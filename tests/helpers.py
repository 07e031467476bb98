"""What tests share besides fixtures (conftest.py holds those): settings, readers of what was stored,
stand-ins for CloudFormation's URL, and a line for the report at the end."""

from __future__ import annotations

import gzip
import json
import subprocess
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from harness.standin import StandIn
from opensearchpy import OpenSearch

# Retries at test speed: the same code paths, milliseconds instead of seconds.
FAST_RETRIES = {
    "RETRY_BASE_DELAY_SECONDS": "0.001",
    "RETRY_MAX_DELAY_SECONDS": "0.02",
    "RETRY_MAX_SECONDS": "2",
}
BUCKET = "forwarder-dead-letter"


def environ(monkeypatch: pytest.MonkeyPatch, values: dict[str, str], *unset: str) -> None:
    """Set `values` and remove `unset` from the environment, for this test only."""
    for name, value in values.items():
        monkeypatch.setenv(name, value)
    for name in unset:
        monkeypatch.delenv(name, raising=False)


reported_at_the_end: list[str] = []  # written in the report at the end, not among the dots


def report_at_the_end(line: str) -> None:
    """A figure for whoever reads the test report (a fixture's teardown output is captured)."""
    reported_at_the_end.append(line)


@dataclass
class RealOpenSearch:
    """The handler pointed at the real node, with an index prefix of this test's own."""

    url: str
    client: OpenSearch
    prefix: str

    def refreshed(self) -> OpenSearch:
        """The client, after making every document indexed so far searchable."""
        self.client.indices.refresh(index=f"{self.prefix}-*", allow_no_indices=True)
        return self.client

    def sources(self) -> dict[str, dict[str, Any]]:
        """Every stored document of this prefix: _id -> _source."""
        hits = self.refreshed().search(index=f"{self.prefix}-*", body={"query": {"match_all": {}}}, size=10_000)
        return {hit["_id"]: hit["_source"] for hit in hits["hits"]["hits"]}

    def count(self) -> int:
        return int(self.refreshed().count(index=f"{self.prefix}-*")["count"])


def client_for(service: str, endpoint: str, **config: Any) -> Any:
    """A botocore client of `service` sending to `endpoint`, with test keys."""
    import botocore.session
    from botocore.config import Config

    return botocore.session.get_session().create_client(
        service,
        region_name="us-east-1",
        endpoint_url=endpoint,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        config=Config(**config),
    )


def self_signed_certificate(folder: Any) -> tuple[str, str]:
    """(certificate, key) PEM paths for `localhost`, signed by no CA."""
    cert, key = f"{folder}/cert.pem", f"{folder}/key.pem"
    subprocess.run(
        [
            *("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=localhost"),
            *("-addext", "subjectAltName=DNS:localhost", "-keyout", key, "-out", cert),
        ],
        check=True,
        capture_output=True,
    )
    return cert, key


# -- the pre-signed URL a custom resource answers CloudFormation on ---------------------------
class ResponseCatcher:
    """Stands for the pre-signed S3 URL CloudFormation waits on."""

    def __init__(self) -> None:
        self.answers: list[dict[str, Any]] = []
        self.content_types: list[str | None] = []
        catcher = self

        class Handler(BaseHTTPRequestHandler):
            def do_PUT(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                catcher.answers.append(json.loads(body))
                catcher.content_types.append(self.headers.get("Content-Type"))
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/cfn-response?X-Amz-Signature=abc"


@dataclass
class DeadLetterBucket:
    """The dead-letter bucket in moto, read back with plain boto3 + gzip + json."""

    s3: Any
    name: str = BUCKET

    def object_keys(self) -> list[str]:
        pages = self.s3.get_paginator("list_objects_v2").paginate(Bucket=self.name)
        return sorted(item["Key"] for page in pages for item in page.get("Contents", []))

    def entries(self) -> list[dict[str, Any]]:
        found = []
        for key in self.object_keys():
            body = gzip.decompress(self.s3.get_object(Bucket=self.name, Key=key)["Body"].read())
            found.extend({"key": key, **json.loads(line)} for line in body.splitlines())
        return found


def restore_standin_credentials(standin: StandIn, monkeypatch: pytest.MonkeyPatch) -> None:
    """moto puts fake keys in the environment; the stand-in checks signatures made with its own."""
    for name, value in standin.env().items():
        if name.startswith("AWS_"):
            monkeypatch.setenv(name, value)
