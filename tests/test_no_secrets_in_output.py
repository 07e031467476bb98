"""Nothing a failure prints holds a secret, a signature, a password or a whole document.

Each scenario fails the way users see it fail (refused signatures, a rotated password that
keeps failing, documents refused for good, a bad endpoint) and everything printed (the log
lines, the EMF lines, stderr, the error's message) is scanned for what must never be there.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from forwarder import handler
from forwarder.cli import LocalContext
from tests.conftest import DeadLetterBucket
from tests.standin import StandIn
from tests.test_basic_auth import internal_user  # noqa: F401 (the fixture)
from tests.test_handler import event_with, one_event

REPO = Path(__file__).resolve().parents[1]
DOCUMENT = "card 4111-1111-1111-1111 declined for alice@example.com " * 20  # a whole line, 1,100 characters


def shown(capfd: pytest.CaptureFixture[str], error: BaseException | None = None) -> str:
    out, err = capfd.readouterr()
    return out + err + (f"{type(error).__name__}: {error}" if error else "")


def assert_clean(text: str, *secrets: str) -> None:
    for secret in secrets:
        assert secret not in text, f"{secret[:12]}... was printed"
    assert "Signature=" not in text and "X-Amz-Signature" not in text
    assert DOCUMENT not in text, "a whole document was printed"


def test_a_refused_signature_prints_no_key_token_or_signature(forwarder_env: StandIn, monkeypatch, capfd) -> None:
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "wrong-secret-key-do-not-print")
    handler.reset_runtime()
    with pytest.raises(Exception) as failed:
        handler.lambda_handler(event_with(one_event(DOCUMENT, "1")), LocalContext())
    text = shown(capfd, failed.value)
    assert "403" in text
    assert_clean(text, "wrong-secret-key-do-not-print", forwarder_env.credentials.session_token or "no-token")


def test_a_password_that_keeps_failing_is_not_printed(internal_user, capfd) -> None:  # noqa: F811
    standin, _, _ = internal_user
    standin.basic_auth = ("forwarder", "a-password-the-forwarder-does-not-have")
    with pytest.raises(Exception) as failed:
        handler.lambda_handler(event_with(one_event(DOCUMENT, "1")), LocalContext())
    text = shown(capfd, failed.value)
    assert "401" in text
    assert_clean(text, "s3cret-1", "Basic ")


def test_documents_refused_for_good_are_reported_without_their_source(
    forwarder_env: StandIn, dead_letter: DeadLetterBucket, capfd
) -> None:
    forwarder_env.item_fault = lambda index, doc_id, source: (403, "cluster_block_exception", "index blocked")
    result = handler.lambda_handler(event_with(one_event(DOCUMENT, "1"), one_event(DOCUMENT, "2")), LocalContext())
    assert result["dead_lettered"] == 2
    assert_clean(shown(capfd))
    (entry, _) = dead_letter.entries()
    assert entry["source"]["@message"] == DOCUMENT, "the dead letter is where the document is kept"


def test_the_cli_refusing_an_endpoint_with_a_password_does_not_print_it(tmp_path) -> None:
    event = tmp_path / "event.json"
    event.write_text(json.dumps(event_with(one_event("x", "1"))))
    done = subprocess.run(
        [sys.executable, "-m", "forwarder.cli", "invoke", str(event)],
        capture_output=True,
        text=True,
        cwd=REPO,
        env={
            "OPENSEARCH_ENDPOINT": "https://admin:hunter2-do-not-print@search-x.us-east-1.es.amazonaws.com",
            "AWS_REGION": "us-east-1",
            "PATH": "/usr/bin:/bin",
        },
        timeout=60,
    )
    assert done.returncode != 0
    assert "OPENSEARCH_ENDPOINT is not accepted" in done.stderr
    assert_clean(done.stdout + done.stderr, "hunter2-do-not-print")
