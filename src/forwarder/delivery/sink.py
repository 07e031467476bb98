"""Signed requests (`_bulk` POSTs above all) to OpenSearch over one reused, TLS-verified connection pool.

SigV4 is botocore's signer (the session token and the body hash are signed);
nothing here signs by hand. The pool lives as long as the Lambda execution
environment, so warm invocations skip the TCP and TLS handshakes.
"""

from __future__ import annotations

import hashlib
import os
import ssl
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import urllib3
from isal import igzip

from forwarder.bounded import CutOff
from forwarder.delivery import bulk, sigv4
from forwarder.errors import ConfigError, TransportError
from forwarder.log import logger
from forwarder.scrub import scrubbed
from forwarder.settings import Settings

if TYPE_CHECKING:
    from forwarder.delivery.basic_auth import SecretCredentials

# ISA-L's level 1: several times faster than zlib's level 1, and smaller (docs/performance.md).
GZIP_LEVEL = 1
MIN_TIMEOUT = 0.1  # seconds: a request near the deadline still gets a chance
READ_CHUNK = 1 << 16
# Failures where the request never reached the server, so re-sending cannot duplicate.
_NOT_SENT = (urllib3.exceptions.NewConnectionError, urllib3.exceptions.ConnectTimeoutError)
EXCERPT_CHARS = 300  # of an answer, quoted in a reason or a log line


@dataclass(frozen=True)
class Response:
    status: int
    body: bytes

    def excerpt(self) -> str:
        """The answer's start as text for a reason or a log line, any quoted credential blanked."""
        return scrubbed(self.body[:EXCERPT_CHARS].decode("utf-8", "replace"))


class OpenSearchSink:
    def __init__(self, settings: Settings, basic: SecretCredentials | None = None) -> None:
        """`basic`: an internal user's credentials instead of OPENSEARCH_SECRET_ARN's or SigV4 (the bootstrap's
        master user)."""
        self._settings = settings
        self._cut_off = CutOff()
        self._pool = urllib3.connection_from_url(
            settings.endpoint,
            maxsize=1,
            block=False,
            timeout=urllib3.Timeout(connect=settings.connect_timeout, read=settings.read_timeout),
            retries=False,  # retrying is the caller's decision, per status and per item
            cut_off=self._cut_off,  # handed to each connection the pool makes
            **_trusting(settings),
        )
        self._pool.ConnectionCls = _SecureConnection if settings.endpoint.startswith("https:") else _Connection
        self._basic = basic or _basic_auth(settings)
        # Plain http is only allowed on loopback: a local node, which needs no signature.
        self._local = settings.endpoint.startswith("http:")
        self._unsigned_said = False

    def post(
        self, path: str, body: bytes, headers: dict[str, str] | None = None, time_left: float | None = None
    ) -> Response:
        return self.request("POST", path, body, headers, time_left)

    def request(
        self,
        method: str,
        path: str,
        body: bytes = b"",
        headers: dict[str, str] | None = None,
        time_left: float | None = None,
    ) -> Response:
        """`method` `path` with `body`, signed; raises TransportError when no answer comes back.

        `time_left` (seconds) shortens the configured timeouts so that a slow answer
        cannot run past the caller's deadline.
        """
        answer = self._send(method, path, body, headers or {}, time_left)
        if answer.status == 401 and self._basic:  # the password may have been rotated: read it again
            self._basic.refresh()
            answer = self._send(method, path, body, headers or {}, time_left)
        return answer

    def _send(self, method: str, path: str, body: bytes, headers: dict[str, str], time_left: float | None) -> Response:
        if self._basic:
            headers = {**headers, "Authorization": self._basic.header(time_left)}
        else:
            headers = self._sign(method, path, body, headers)
        connect, read = self._limits(time_left)
        # The whole answer, status line to last byte, within `allowed`: each read alone is bounded by `read`.
        allowed = connect + read if time_left is None else max(time_left, MIN_TIMEOUT)
        self._cut_off.arm(time.monotonic() + allowed)
        timeout = urllib3.Timeout(connect=connect, read=read)
        try:
            answer = self._pool.urlopen(
                method, path, body=body, headers=headers, timeout=timeout, preload_content=False
            )
            data = _read_all(answer)
        except urllib3.exceptions.HTTPError as err:
            if self._cut_off.fired:
                raise self._too_slow(path, allowed) from None
            if isinstance(err, urllib3.exceptions.NewConnectionError):  # refused, or no such host
                # The socket's own words, e.g. [Errno 111] Connection refused.
                raise TransportError(
                    f"cannot connect to {self._settings.endpoint}: {err.__cause__ or err}", maybe_processed=False
                ) from None
            if isinstance(err, urllib3.exceptions.ConnectTimeoutError):  # NewConnectionError's base: after it
                raise TransportError(
                    f"cannot connect to {self._settings.endpoint}: no connection within {connect:.1f} s "
                    "(OPENSEARCH_CONNECT_TIMEOUT)",
                    maybe_processed=False,
                ) from None
            raise TransportError(
                f"no answer from {self._settings.endpoint}{path}: {type(err).__name__}: {err}", maybe_processed=True
            ) from None
        finally:
            self._cut_off.release()
        if self._cut_off.fired:  # cut short: what was read may look whole and is not
            answer.close()
            raise self._too_slow(path, allowed)
        answer.release_conn()
        return Response(answer.status, data)

    def _too_slow(self, path: str, allowed: float) -> TransportError:
        return TransportError(
            f"no whole answer from {self._settings.endpoint}{path} within {allowed:.1f} s: cut off",
            maybe_processed=True,
        )

    def bulk(self, body: bytes, time_left: float | None = None) -> Response:
        headers = {"Content-Type": "application/json"}
        if self._settings.gzip_bodies:
            # NDJSON of logs shrinks 5-10x; the signature covers the compressed bytes sent.
            body = igzip.compress(body, GZIP_LEVEL)
            headers["Content-Encoding"] = "gzip"
        path = bulk.PLAIN_PATH if self._settings.serverless else bulk.FILTERED_PATH
        return self.post(path, body, headers, time_left)

    def _limits(self, time_left: float | None) -> tuple[float, float]:
        """Seconds to connect and to wait for each read: the settings', cut to the time left."""
        connect, read = self._settings.connect_timeout, self._settings.read_timeout
        if time_left is not None:
            time_left = max(time_left, MIN_TIMEOUT)
            connect, read = min(connect, time_left), min(read, time_left)
        return connect, read

    def _sign(self, method: str, path: str, body: bytes, headers: dict[str, str]) -> dict[str, str]:
        credentials = _credentials(required=not self._local)
        if credentials is None:
            if not self._unsigned_said:
                self._unsigned_said = True
                logger.warning(
                    f"no AWS credentials: requests to {self._settings.endpoint} go unsigned (a local node needs "
                    "none; a domain, even through a tunnel, needs https:// and credentials)"
                )
            return headers
        # Serverless requires the body hash as a header; it costs nothing to send it to `es` too.
        hashed = {**headers, "x-amz-content-sha256": hashlib.sha256(body).hexdigest()}
        url = self._settings.endpoint + path
        return sigv4.signed(method, url, hashed, credentials, self._settings.service, self._settings.region)


def _trusting(settings: Settings) -> dict[str, Any]:
    """With OPENSEARCH_CA_BUNDLE, its CAs besides the system's; verification is never turned off."""
    if not settings.ca_bundle or not settings.endpoint.startswith("https:"):
        return {}
    context = ssl.create_default_context()
    try:
        context.load_verify_locations(cafile=settings.ca_bundle)
    except (ssl.SSLError, OSError) as err:
        raise ConfigError(f"OPENSEARCH_CA_BUNDLE={settings.ca_bundle!r}: not a usable PEM of CAs ({err})") from None
    return {"ssl_context": context}


def _read_all(answer: urllib3.BaseHTTPResponse) -> bytes:
    chunks = []
    while chunk := answer.read1(READ_CHUNK):
        chunks.append(chunk)
    return b"".join(chunks)


class _Connection(urllib3.connection.HTTPConnection):
    """A pooled connection whose answer the sink's CutOff watches from its first byte."""

    def __init__(self, *args: Any, cut_off: CutOff, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._cut_off = cut_off

    def getresponse(self) -> urllib3.response.HTTPResponse:  # type: ignore[override]  # as urllib3 does
        if self.sock is not None:
            self._cut_off.watch(self.sock)
        return super().getresponse()


class _SecureConnection(_Connection, urllib3.connection.HTTPSConnection):
    pass


def _credentials(required: bool = True) -> sigv4.Keys | None:
    """The role's credentials: Lambda puts them in the environment. None when none are found and
    none are `required`; then the chain skips the instance metadata service, which is not there."""
    key, secret = os.environ.get("AWS_ACCESS_KEY_ID"), os.environ.get("AWS_SECRET_ACCESS_KEY")
    if key and secret:
        return sigv4.Keys(key, secret, os.environ.get("AWS_SESSION_TOKEN") or None)
    # Outside Lambda (a person running `forwarder invoke`): the usual provider chain.
    import botocore.session  # slow import, so only on this path

    session = botocore.session.get_session()
    if not required:
        session.get_component("credential_provider").remove("iam-role")
    found = session.get_credentials()
    if found is None and not required:
        return None
    if found is None:
        raise ConfigError(
            "no AWS credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY "
            "(and AWS_SESSION_TOKEN), or AWS_PROFILE"
        )
    frozen = found.get_frozen_credentials()
    return sigv4.Keys(frozen.access_key, frozen.secret_key, frozen.token)


def _basic_auth(settings: Settings) -> SecretCredentials | None:
    """An internal user's credentials from Secrets Manager, loaded only where OPENSEARCH_SECRET_ARN is set."""
    if not settings.secret_arn:
        return None
    from forwarder.delivery.basic_auth import SecretCredentials

    return SecretCredentials(settings.secret_arn, settings.region)
