"""Nothing a failure prints holds a secret, a signature, a password or a whole document.

Each scenario fails the way users see it fail (refused signatures, a rotated password that
keeps failing, documents refused for good, a bad endpoint, AWS answers quoting the request's
credentials back) in the handler, the bootstrap, the subscriptions function and the CLI,
and everything printed (the log lines, the EMF lines, stderr, the error's message) and
everything answered or kept (CloudFormation's Reason, dead-letter reasons) is scanned for
what must never be there.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import traceback
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from harness.standin import StandIn
from hypothesis import assume, given
from hypothesis import strategies as st

from forwarder import handler
from forwarder.delivery.sink import Response
from forwarder.errors import NotDeliveredError
from forwarder.infra import bootstrap, subscriptions
from forwarder.scrub import CREDENTIAL_NAMES, scrubbed
from forwarder.tools import cli
from forwarder.tools.local import LocalContext
from tests.events import event_with, one_event
from tests.helpers import DeadLetterBucket, ResponseCatcher, client_for

REPO = Path(__file__).resolve().parents[1]
DOCUMENT = "card 4111-1111-1111-1111 declined for alice@example.com " * 20  # a whole line, 1,100 characters
TOKEN = "IQoJb3JpZ2luX2VjEDoNotPrintThisSessionToken+/=="
SIGNATURE = "5d672d79c15b13162d9279b0855cfba6789a8edb4c82c400e06b5924a6f2b5d7"
# As AWS answers a signature it cannot match (OpenSearch Service, CloudWatch Logs, SQS): the
# canonical request quoted back, session token included; then a proxy's echo of the request.
QUOTING = (
    "The request signature we calculated does not match the signature you provided.\n\n"
    f"The Canonical String for this request should have been\n'POST\n/\n\nhost:x\nx-amz-security-token:{TOKEN}\n'"
    "\nAuthorization: AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20261202/us-east-1/es/aws4_request, "
    f"Signature={SIGNATURE}"
)


def shown(capfd: pytest.CaptureFixture[str], error: BaseException | None = None) -> str:
    out, err = capfd.readouterr()
    return out + err + (f"{type(error).__name__}: {error}" if error else "")


def assert_clean(text: str, *secrets: str) -> None:
    for secret in secrets:
        assert secret not in text, f"{secret[:12]}... was printed"
    assert "Signature=" not in text and "X-Amz-Signature" not in text
    assert DOCUMENT not in text, "a whole document was printed"
    assert TOKEN[:16] not in text and SIGNATURE[:16] not in text, "a quoted credential was printed"


def test_a_refused_signature_prints_no_key_token_or_signature(forwarder_env: StandIn, monkeypatch, capfd) -> None:
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "wrong-secret-key-do-not-print")
    handler.reset_runtime()
    with pytest.raises(Exception) as failed:
        handler.lambda_handler(event_with(one_event(DOCUMENT, "1")), LocalContext())
    text = shown(capfd, failed.value)
    assert "403" in text
    assert_clean(text, "wrong-secret-key-do-not-print", forwarder_env.credentials.session_token or "no-token")


def test_a_password_that_keeps_failing_is_not_printed(internal_user, capfd) -> None:
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
        [sys.executable, "-m", "forwarder.tools.cli", "invoke", str(event)],
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


class QuotingAws:
    """An AWS endpoint that refuses every request, quoting its credentials back (JSON or S3's XML)."""

    def __init__(self) -> None:
        class Handler(BaseHTTPRequestHandler):
            def _refuse(self) -> None:
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                if "json" in (self.headers.get("Content-Type") or ""):
                    body = json.dumps({"__type": "InvalidSignatureException", "message": QUOTING}).encode()
                else:
                    body = f"<Error><Code>SignatureDoesNotMatch</Code><Message>{QUOTING}</Message></Error>".encode()
                self.send_response(403)
                self.send_header("Content-Length", str(len(body)))
                self.send_header("x-amzn-query-error", "InvalidSignatureException;Sender")
                self.end_headers()
                self.wfile.write(body)

            do_GET = do_POST = do_PUT = _refuse

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"


@pytest.fixture
def quoting_aws() -> Iterator[QuotingAws]:
    endpoint = QuotingAws()
    yield endpoint
    endpoint.server.shutdown()


def test_an_opensearch_answer_quoting_the_credentials_is_neither_printed_nor_kept(
    forwarder_env: StandIn, dead_letter: DeadLetterBucket, capfd
) -> None:
    forwarder_env.queue_answer(403, {"message": QUOTING}, times=1)
    result = handler.lambda_handler(event_with(one_event("x", "1")), LocalContext())
    assert result["dead_lettered"] == 1
    (entry,) = dead_letter.entries()
    assert "x-amz-security-token:<redacted>" in entry["reason"], entry["reason"]
    assert_clean(shown(capfd) + json.dumps(entry))


def test_an_item_refusal_echoing_the_headers_keeps_no_credential_in_the_dead_letter(
    forwarder_env: StandIn, dead_letter: DeadLetterBucket, capfd
) -> None:
    echoed = f"denied by proxy: {{'Host': 'x', 'X-Amz-Security-Token': '{TOKEN}', 'Authorization': 'Basic dXNlcjpw'}}"
    forwarder_env.item_fault = lambda index, doc_id, source: (403, "security_exception", echoed)
    assert handler.lambda_handler(event_with(one_event("x", "1")), LocalContext())["dead_lettered"] == 1
    (entry,) = dead_letter.entries()
    assert "'X-Amz-Security-Token': '<redacted>'" in entry["reason"] and "dXNlcjpw" not in entry["reason"]
    assert_clean(shown(capfd) + json.dumps(entry))


def test_an_error_that_leaves_the_handler_holds_no_credential(forwarder_env: StandIn, capfd) -> None:
    """Lambda's runtime prints such an error itself, traceback and all."""
    forwarder_env.queue_answer(503, {"message": QUOTING}, times=10_000)  # an outage past the deadline
    with pytest.raises(NotDeliveredError) as failed:
        handler.lambda_handler(event_with(one_event("x", "1")), LocalContext(timeout_ms=3000))
    assert "x-amz-security-token:<redacted>" in str(failed.value), str(failed.value)
    assert_clean(shown(capfd) + "".join(traceback.format_exception(failed.value)))


def test_the_bootstraps_failures_answer_and_print_no_credential(forwarder_env: StandIn, catcher, capfd) -> None:
    forwarder_env.queue_answer(500, {"message": QUOTING}, times=1)
    event = {
        "RequestType": "Create",
        "ResponseURL": catcher.url,  # its query holds a signature too
        "StackId": "arn:aws:cloudformation:us-east-1:123456789012:stack/logs/1",
        "RequestId": "req-1",
        "LogicalResourceId": "OpenSearchBootstrap",
        "ResourceProperties": {"IndexPrefix": "mydata", "RetentionDays": "30"},
    }
    bootstrap.handler(event, LocalContext())
    (answer,) = catcher.answers
    assert answer["Status"] == "FAILED" and "HTTP 500" in answer["Reason"]
    assert_clean(shown(capfd) + json.dumps(answer))


def test_the_subscriptions_failures_answer_and_print_no_credential(
    quoting_aws: QuotingAws, catcher: ResponseCatcher, monkeypatch, capfd
) -> None:
    logs, lambda_ = client_for("logs", quoting_aws.url), client_for("lambda", quoting_aws.url)
    monkeypatch.setattr(
        subscriptions, "clients", lambda deadline=None: subscriptions.Subscriber(logs, lambda_, deadline)
    )
    properties = {"FilterName": "f", "DestinationArn": "arn:aws:lambda:us-east-1:123456789012:function:f"}
    event = {
        "RequestType": "Create",
        "ResponseURL": catcher.url,
        "StackId": "arn:aws:cloudformation:us-east-1:123456789012:stack/logs/1",
        "RequestId": "req-1",
        "LogicalResourceId": "LogGroupSubscriptions",
        "ResourceProperties": {**properties, "LogGroupNames": ["/x"]},
    }
    subscriptions.handler(event, LocalContext())
    answer = catcher.answers[-1]
    assert answer["Status"] == "FAILED" and "InvalidSignatureException" in answer["Reason"], answer["Reason"]
    assert_clean(shown(capfd) + json.dumps(answer))


@pytest.mark.parametrize(
    ("source", "endpoint_variable", "error"),
    [
        ("sqs://sqs.us-east-1.amazonaws.com/1/q", "AWS_ENDPOINT_URL_SQS", "QueueError"),
        ("s3://forwarder-dead-letter/dead-letter/", "AWS_ENDPOINT_URL_S3", "DeadLetterError"),
    ],
)
def test_the_clis_replay_failures_print_no_credential(
    forwarder_env: StandIn, quoting_aws: QuotingAws, monkeypatch, capfd, source, endpoint_variable, error
) -> None:
    monkeypatch.setenv(endpoint_variable, quoting_aws.url)
    assert cli.main(["replay", source]) == 1
    text = shown(capfd)
    assert f"forwarder: {error}" in text and "Signature" in text, text
    assert_clean(text)


@given(
    token=st.text(
        alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=", min_size=16, max_size=1200
    ),
    preamble=st.text(max_size=300),
    as_json=st.booleans(),
)
def test_a_quoted_session_token_never_survives_in_any_answer_text(token: str, preamble: str, as_json: bool) -> None:
    assume(token[:16] not in preamble)
    canonical = f"POST\n/_bulk\n\nhost:x\nx-amz-date:20261202T000000Z\nx-amz-security-token:{token}\n\nhost;x-amz-date"
    message = f"{preamble}The Canonical String for this request should have been\n'{canonical}'"
    body = json.dumps({"message": message}).encode() if as_json else message.encode()
    for text in (scrubbed(body.decode()), Response(403, body).excerpt()):
        assert token[:16] not in text


# How a proxy or a framework echoes a request's headers back: {name} and {value} as they are quoted.
QUOTINGS = {
    "header line": "{name}: {value}\r\nHost: x\r\n",
    "json": '{{"headers": {{"{name}": "{value}", "Host": "x"}}}}',
    "json in a json string": '{{"message": "{{\\"{name}\\": \\"{value}\\"}}"}}',
    "python dict": "{{'{name}': '{value}', 'Host': 'x'}}",
    "python dict of lists": "{{'{name}': ['{value}'], 'Host': ['x']}}",
    "xml": "<Headers><{name}>{value}</{name}></Headers>",
    "html table": "<tr><th>{name}</th><td>{value}</td></tr><tr><th>Host</th><td>x</td></tr>",
    "html definition list": "<dl><dt>{name}</dt><dd>{value}</dd><dt>Host</dt><dd>x</dd></dl>",
    "html-escaped json": "<pre>{{&quot;{name}&quot;: &quot;{value}&quot;, &quot;Host&quot;: &quot;x&quot;}}</pre>",
    "query string": "https://x.example.com/?{name}={value}&X-Amz-Date=20261206T000000Z",
}
any_case = st.sampled_from(CREDENTIAL_NAMES).flatmap(
    lambda name: st.lists(st.booleans(), min_size=len(name), max_size=len(name)).map(
        lambda upper: "".join(char.upper() if up else char for char, up in zip(name, upper, strict=True))
    )
)


@given(
    name=any_case,
    quoting=st.sampled_from(sorted(QUOTINGS)),
    scheme=st.sampled_from(["", "Basic ", "Bearer ", "AWS4-HMAC-SHA256 Credential="]),
    secret=st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=-_.", min_size=16),
    preamble=st.text(max_size=80),
)
def test_a_credential_header_is_redacted_in_any_quoting_by_its_name(
    name: str, quoting: str, scheme: str, secret: str, preamble: str
) -> None:
    assume(secret[:16] not in preamble)
    echoed = preamble + "\n" + QUOTINGS[quoting].format(name=name, value=scheme + secret)
    for text in (scrubbed(echoed), Response(403, echoed.encode()).excerpt(), str(NotDeliveredError(echoed))):
        assert secret[:16] not in text, text
        assert "<redacted>" in text


@pytest.mark.parametrize("prose", ["no Authorization header was sent", "The request signature we calculated"])
def test_a_credential_name_in_prose_is_left_as_it_is(prose: str) -> None:
    assert scrubbed(prose) == prose


def test_a_secret_pasted_in_place_of_its_arn_is_not_echoed() -> None:
    from forwarder.errors import ConfigError
    from forwarder.settings import Settings

    pasted = '{"username": "forwarder", "password": "Tr0ub4dor&3-NotPrinted"}'
    with pytest.raises(ConfigError, match="OPENSEARCH_SECRET_ARN is not accepted") as refused:
        Settings.from_env(
            {"OPENSEARCH_ENDPOINT": "https://x.example.com", "AWS_REGION": "us-east-1", "OPENSEARCH_SECRET_ARN": pasted}
        )
    assert "Tr0ub4dor" not in str(refused.value) and "forwarder" not in str(refused.value)
    assert "the secret's JSON itself" in str(refused.value)


@pytest.mark.parametrize(
    "endpoint",
    [
        "https://search-x.us-east-1.es.amazonaws.com/?X-Amz-Security-Token=IQoJNotPrinted",
        "https://search-x.us-east-1.es.amazonaws.com/_bulk?token=IQoJNotPrinted#frag",
        "127.0.0.1:9250?token=IQoJNotPrinted",
        "http://10.0.0.1:9200/?token=IQoJNotPrinted",
    ],
)
def test_an_endpoints_query_string_is_not_echoed(endpoint: str) -> None:
    from forwarder.errors import ConfigError
    from forwarder.settings import Settings

    with pytest.raises(ConfigError, match="OPENSEARCH_ENDPOINT") as refused:
        Settings.from_env({"OPENSEARCH_ENDPOINT": endpoint})
    assert "IQoJNotPrinted" not in str(refused.value), str(refused.value)
