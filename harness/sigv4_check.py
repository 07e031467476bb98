"""An independent SigV4 verifier for the stand-in (test code, written from the AWS spec).

The product signs with its own delivery/sigv4.py (tested equal to botocore's signer in
tests/test_sigv4.py); checking with a third implementation means a signing mistake in
the product cannot pass because both sides share it.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import parse_qsl, quote, urlsplit

_AUTH = re.compile(
    r"AWS4-HMAC-SHA256 Credential=(?P<key>[^/]+)/(?P<date>\d{8})/(?P<region>[^/]+)/"
    r"(?P<service>[^/]+)/aws4_request, ?SignedHeaders=(?P<signed>[a-z0-9;-]+), ?"
    r"Signature=(?P<signature>[0-9a-f]{64})$"
)
MAX_CLOCK_SKEW_S = 300


@dataclass(frozen=True)
class TestCredentials:
    access_key: str = "AKIDSTANDINTEST00001"
    secret_key: str = "standin/secret/key/for/tests/only/0000000"
    session_token: str | None = "standin-session-token"


def _hmac(key: bytes, text: str) -> bytes:
    return hmac.new(key, text.encode(), hashlib.sha256).digest()


def _canonical_query(query: str) -> str:
    pairs = parse_qsl(query, keep_blank_values=True)
    encoded = sorted((quote(k, safe="-_.~"), quote(v, safe="-_.~")) for k, v in pairs)
    return "&".join(f"{k}={v}" for k, v in encoded)


def check(
    method: str,
    target: str,
    headers: Mapping[str, str],
    body: bytes,
    credentials: TestCredentials,
    service: str,
    region: str,
    now: datetime | None = None,
) -> str | None:
    """None when the request is correctly signed; otherwise why not (as AWS would say)."""
    headers = {name.lower(): value for name, value in headers.items()}
    auth = headers.get("authorization")
    if not auth:
        return "Missing Authentication Token"
    match = _AUTH.match(auth)
    if not match:
        return f"Authorization header is not SigV4: {auth[:60]}"
    if match["key"] != credentials.access_key:
        return "The security token included in the request is invalid (unknown access key)"
    if (match["region"], match["service"]) != (region, service):
        return f"Credential should be scoped to {region}/{service}, not {match['region']}/{match['service']}"
    signed = match["signed"].split(";")
    for required in ("host", "x-amz-date"):
        if required not in signed:
            return f"SignedHeaders must include {required}"
    amz_date = headers.get("x-amz-date", "")
    try:
        when = datetime.strptime(amz_date, "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
    except ValueError:
        return f"X-Amz-Date {amz_date!r} is not YYYYMMDDTHHMMSSZ"
    if abs(((now or datetime.now(UTC)) - when).total_seconds()) > MAX_CLOCK_SKEW_S:
        return "Signature expired: X-Amz-Date is more than 5 minutes from the server's time"
    if not amz_date.startswith(match["date"]):
        return "Credential date does not match X-Amz-Date"
    if credentials.session_token is not None:
        if headers.get("x-amz-security-token") != credentials.session_token:
            return "The security token included in the request is invalid"
        if "x-amz-security-token" not in signed:
            return "SignedHeaders must include x-amz-security-token"
    payload_hash = hashlib.sha256(body).hexdigest()
    declared = headers.get("x-amz-content-sha256")
    if service == "aoss" and declared is None:
        return "x-amz-content-sha256 header is required for aoss"
    if declared is not None and declared != payload_hash:
        return "x-amz-content-sha256 does not match the request body"
    missing = [name for name in signed if name not in headers]
    if missing:
        return f"signed headers missing from the request: {missing}"
    url = urlsplit(target)
    canonical = "\n".join(
        [
            method,
            # Services other than S3 encode each path segment twice: the path as sent, encoded again.
            quote(url.path or "/", safe="/-_.~"),
            _canonical_query(url.query),
            "".join(f"{name}:{' '.join(headers[name].strip().split())}\n" for name in signed),
            match["signed"],
            payload_hash,
        ]
    )
    scope = f"{match['date']}/{region}/{service}/aws4_request"
    to_sign = "\n".join(["AWS4-HMAC-SHA256", amz_date, scope, hashlib.sha256(canonical.encode()).hexdigest()])
    key = _hmac(("AWS4" + credentials.secret_key).encode(), match["date"])
    for part in (region, service, "aws4_request"):
        key = _hmac(key, part)
    expected = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected, match["signature"]):
        # As Amazon OpenSearch Service answers: the canonical string quotes the signed headers,
        # the session token among them (a credential, in an answer a forwarder may log).
        return (
            "The request signature we calculated does not match the signature you provided. "
            "Check your AWS Secret Access Key and signing method. Consult the service documentation for details."
            f"\n\nThe Canonical String for this request should have been\n'{canonical}'"
            f"\n\nThe String-to-Sign should have been\n'{to_sign}'\n"
        )
    return None
