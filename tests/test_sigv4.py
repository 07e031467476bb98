"""Our SigV4 signer makes botocore's signature byte for byte, on any request the sink could send."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from typing import Any

import botocore.auth
import pytest
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from hypothesis import given, settings
from hypothesis import strategies as st

from forwarder.delivery import sigv4

SEGMENT = st.text(alphabet=st.sampled_from(list("abcXYZ019-_.~*%2A ,:é/")), min_size=0, max_size=12)
QUERY_PART = st.text(alphabet=st.sampled_from(list("abc019-_.~%2C%2A*=")), min_size=0, max_size=10)
HEADER_VALUE = st.text(alphabet=st.sampled_from(list("ab c;=/ \t0")), min_size=1, max_size=16).filter(str.strip)
HEADER_NAME = st.sampled_from(["Content-Type", "Content-Encoding", "X-Custom", "User-Agent", "Expect", "Host"])


def botocore_headers(
    method: str, url: str, headers: dict[str, str], keys: sigv4.Keys, when: datetime
) -> dict[str, str]:
    request = AWSRequest(method=method, url=url, data=b"", headers=dict(headers))
    credentials = Credentials(keys.access_key, keys.secret_key, keys.token)
    original = botocore.auth.get_current_datetime
    botocore.auth.get_current_datetime = lambda: when  # type: ignore[assignment]
    try:
        botocore.auth.SigV4Auth(credentials, "es", "eu-west-1").add_auth(request)
    finally:
        botocore.auth.get_current_datetime = original  # type: ignore[assignment]
    return dict(request.headers.items())


@settings(max_examples=400, deadline=None)
@given(
    method=st.sampled_from(["GET", "POST", "PUT", "DELETE", "post"]),
    segments=st.lists(SEGMENT, max_size=4),
    trailing_slash=st.booleans(),
    query=st.lists(st.tuples(QUERY_PART, QUERY_PART), max_size=3),
    extra=st.dictionaries(HEADER_NAME, HEADER_VALUE, max_size=4),
    token=st.one_of(st.none(), st.text(alphabet="AbC0+/=", min_size=1, max_size=20)),
    port=st.sampled_from(["", ":443", ":9200", ":80"]),
    scheme=st.sampled_from(["https", "http"]),
    seconds=st.integers(min_value=0, max_value=4_000_000_000),
)
def test_the_signature_is_botocores(
    method: str,
    segments: list[str],
    trailing_slash: bool,
    query: list[tuple[str, str]],
    extra: dict[str, str],
    token: str | None,
    port: str,
    scheme: str,
    seconds: int,
) -> None:
    path = "/" + "/".join(segments) + ("/" if trailing_slash else "")
    url = f"{scheme}://search-logs-abc.eu-west-1.es.amazonaws.com{port}{path.replace(' ', '%20')}"
    if query:
        url += "?" + "&".join(f"{key}={value}" for key, value in query)
    headers = {**extra, "x-amz-content-sha256": hashlib.sha256(b"body").hexdigest()}
    keys = sigv4.Keys("AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", token)
    when = datetime.fromtimestamp(seconds, UTC)
    ours = sigv4.signed(method, url, headers, keys, "es", "eu-west-1", now=seconds)
    assert ours == botocore_headers(method, url, headers, keys, when)


def test_a_known_answer_from_the_sink_s_own_request() -> None:
    """A `_bulk` POST as the sink sends it: the same Authorization as botocore's at a fixed time."""
    url = "https://search-logs-abc.us-east-1.es.amazonaws.com/_bulk?filter_path=errors%2Citems.%2A.status"
    headers: dict[str, Any] = {
        "Content-Type": "application/json",
        "Content-Encoding": "gzip",
        "x-amz-content-sha256": hashlib.sha256(b"{}\n").hexdigest(),
    }
    keys = sigv4.Keys("AKIDEXAMPLE", "secret", "session-token")
    ours = sigv4.signed("POST", url, headers, keys, "es", "us-east-1", now=1_795_305_600)
    assert ours["X-Amz-Date"] == "20261122T000000Z" and ours["X-Amz-Security-Token"] == "session-token"
    assert ours["Authorization"].startswith(
        "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20261122/us-east-1/es/aws4_request, SignedHeaders="
        "content-encoding;content-type;host;x-amz-content-sha256;x-amz-date;x-amz-security-token, Signature="
    )
    with pytest.raises(KeyError):  # the body's hash is the caller's to give
        sigv4.signed("POST", url, {"Content-Type": "application/json"}, keys, "es", "us-east-1")
