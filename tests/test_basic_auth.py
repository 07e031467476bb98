"""Fine-grained access control with an internal user: basic auth from Secrets Manager (moto)."""

from __future__ import annotations

import json

import pytest

from forwarder import handler
from forwarder.errors import ConfigError
from forwarder.settings import Settings
from forwarder.tools.local import LocalContext
from tests.events import event_with, one_event
from tests.helpers import client_for


def test_requests_carry_the_internal_users_basic_auth_instead_of_sigv4(internal_user) -> None:
    standin, _, _ = internal_user
    result = handler.lambda_handler(event_with(one_event("x", "1")), LocalContext())
    assert result["indexed"] == 1
    (request,) = standin.seen
    assert request.headers["authorization"].startswith("Basic ") and "x-amz-date" not in request.headers


def test_the_secret_is_read_once_and_again_after_a_401(internal_user, monkeypatch) -> None:
    standin, secrets, arn = internal_user
    reads = []
    client = handler.runtime().sink._basic._secrets()
    client.meta.events.register("before-call.secrets-manager.GetSecretValue", lambda **kwargs: reads.append(1))
    handler.lambda_handler(event_with(one_event("x", "1")), LocalContext())
    handler.lambda_handler(event_with(one_event("y", "2")), LocalContext())
    assert len(reads) == 1, "cached across invocations"
    # The password is rotated: the cached one gets 401, the secret is read again, the request succeeds.
    secrets.put_secret_value(SecretId=arn, SecretString=json.dumps({"username": "forwarder", "password": "s3cret-2"}))
    standin.basic_auth = ("forwarder", "s3cret-2")
    result = handler.lambda_handler(event_with(one_event("z", "3")), LocalContext())
    assert result["indexed"] == 1 and len(reads) == 2
    assert [seen.status for seen in standin.seen][-2:] == [401, 200]


def test_a_secret_without_a_password_is_a_clear_error(internal_user) -> None:
    _, secrets, arn = internal_user
    secrets.put_secret_value(SecretId=arn, SecretString=json.dumps({"username": "forwarder"}))
    with pytest.raises(ConfigError, match="the secret must be JSON with username and password"):
        handler.lambda_handler(event_with(one_event("x", "1")), LocalContext())


def test_the_secret_arn_is_checked_at_start() -> None:
    with pytest.raises(ConfigError, match="OPENSEARCH_SECRET_ARN"):
        Settings.from_env({"OPENSEARCH_ENDPOINT": "https://h.us-east-1.es.amazonaws.com", "OPENSEARCH_SECRET_ARN": "x"})


def test_a_secrets_manager_that_never_answers_is_given_up_in_the_time_left(silent_endpoint: str) -> None:
    import time

    from forwarder.delivery.basic_auth import SecretCredentials

    # botocore's defaults: a minute per attempt, and retries.
    client = client_for("secretsmanager", silent_endpoint, connect_timeout=60, read_timeout=60)
    started = time.monotonic()
    with pytest.raises(ConfigError, match=r"no answer within 1\.5 s"):
        SecretCredentials("arn:aws:secretsmanager:us-east-1:123456789012:secret:x", "us-east-1", client).header(1.5)
    assert time.monotonic() - started < 3
