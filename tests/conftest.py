"""Shared fixtures: a running stand-in, the environment the handler reads, a moto S3 dead letter."""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import boto3
import pytest
from moto import mock_aws

from forwarder import handler
from tests.standin import StandIn

# Retries at test speed: the same code paths, milliseconds instead of seconds.
FAST_RETRIES = {
    "RETRY_BASE_DELAY_SECONDS": "0.001",
    "RETRY_MAX_DELAY_SECONDS": "0.02",
    "RETRY_MAX_SECONDS": "2",
}
BUCKET = "forwarder-dead-letter"


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


def restore_standin_credentials(standin: StandIn, monkeypatch: pytest.MonkeyPatch) -> None:
    """moto puts fake keys in the environment; the stand-in checks signatures made with its own."""
    for name, value in standin.env().items():
        if name.startswith("AWS_"):
            monkeypatch.setenv(name, value)
