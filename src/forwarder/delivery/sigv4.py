"""AWS Signature Version 4 for the requests the sink sends, as botocore's SigV4Auth signs them.

Our own, because botocore's signer pulls in a third of a cold start's imports. It makes
the same signature byte for byte (tests/test_sigv4.py compares the two on any request),
following https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_sigv4-create-signed-request.html:
the path's dot segments and doubled slashes removed and each byte outside `A-Za-z0-9-._~/`
percent-encoded (so an encoded path is encoded twice, as every service but S3 wants); the
query's `key=value` pairs as sent, sorted; every header but the hop-by-hop ones, named in
lower case with their values' runs of spaces made one; the body's hash from
`x-amz-content-sha256`.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from typing import NamedTuple
from urllib.parse import quote, urlsplit

ALGORITHM = "AWS4-HMAC-SHA256"
# Not signed: they may change between the signer and the server (botocore's SIGNED_HEADERS_BLACKLIST).
UNSIGNED = frozenset(
    {
        "baggage", "connection", "expect", "keep-alive", "proxy-authenticate", "proxy-authorization", "te",
        "traceparent", "tracestate", "trailer", "transfer-encoding", "upgrade", "user-agent", "x-amzn-trace-id",
    }
)  # fmt: skip
_DEFAULT_PORTS = {"http": 80, "https": 443}


class Keys(NamedTuple):
    access_key: str
    secret_key: str
    token: str | None = None


def signed(
    method: str, url: str, headers: dict[str, str], keys: Keys, service: str, region: str, now: float | None = None
) -> dict[str, str]:
    """`headers` plus X-Amz-Date, X-Amz-Security-Token (with a session token) and Authorization.

    The body's SHA-256 must be in `headers` as `x-amz-content-sha256`.
    """
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(time.time() if now is None else now))
    replaced = {"authorization", "x-amz-date", *(("x-amz-security-token",) if keys.token else ())}
    out = {name: value for name, value in headers.items() if name.lower() not in replaced}
    out["X-Amz-Date"] = stamp
    if keys.token:
        out["X-Amz-Security-Token"] = keys.token
    parts = urlsplit(url)
    to_sign = {name.lower(): " ".join(value.split()) for name, value in out.items() if name.lower() not in UNSIGNED}
    to_sign.setdefault("host", _host(parts.scheme, parts.hostname or "", parts.port))
    names = sorted(to_sign)
    pairs = (pair.partition("=") for pair in parts.query.split("&")) if parts.query else ()
    canonical = "\n".join(
        [
            method.upper(),
            quote(_without_dot_segments(parts.path), safe="/~"),
            "&".join(f"{key}={value}" for key, value in sorted((key, value) for key, _, value in pairs)),
            "".join(f"{name}:{to_sign[name]}\n" for name in names),
            ";".join(names),
            to_sign["x-amz-content-sha256"],
        ]
    )
    scope = f"{stamp[:8]}/{region}/{service}/aws4_request"
    to_hash = f"{ALGORITHM}\n{stamp}\n{scope}\n{hashlib.sha256(canonical.encode()).hexdigest()}"
    key = f"AWS4{keys.secret_key}".encode()
    for part in (stamp[:8], region, service, "aws4_request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    signature = hmac.new(key, to_hash.encode(), hashlib.sha256).hexdigest()
    out["Authorization"] = (
        f"{ALGORITHM} Credential={keys.access_key}/{scope}, SignedHeaders={';'.join(names)}, Signature={signature}"
    )
    return out


def _host(scheme: str, hostname: str, port: int | None) -> str:
    """The Host a client sends: no default port; an IPv6 address in brackets."""
    host = f"[{hostname}]" if ":" in hostname else hostname
    return host if port is None or port == _DEFAULT_PORTS.get(scheme) else f"{host}:{port}"


def _without_dot_segments(path: str) -> str:
    """RFC 3986's dot segments removed, and doubled slashes, as AWS wants; `/` for nothing."""
    if not path:
        return "/"
    kept: list[str] = []
    for segment in path.split("/"):
        if segment == "..":
            if kept:
                kept.pop()
        elif segment and segment != ".":
            kept.append(segment)
    first = "/" if path[0] == "/" else ""
    last = "/" if path[-1] == "/" and kept else ""
    return first + "/".join(kept) + last
