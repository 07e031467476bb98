"""Signed `_bulk` POSTs to OpenSearch over one reused, TLS-verified connection pool.

SigV4 is botocore's signer (the session token and the body hash are signed);
nothing here signs by hand. The pool lives as long as the Lambda execution
environment, so warm invocations skip the TCP and TLS handshakes.
"""

from __future__ import annotations

import gzip
import hashlib
import os
from dataclasses import dataclass

import urllib3
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from forwarder.errors import ConfigError, DeliveryError
from forwarder.settings import Settings

GZIP_LEVEL = 1  # most of the size gain for a fraction of level 9's CPU


@dataclass(frozen=True)
class Response:
    status: int
    body: bytes


class OpenSearchSink:
    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._pool = urllib3.connection_from_url(
            settings.endpoint,
            maxsize=1,
            block=False,
            timeout=urllib3.Timeout(connect=settings.connect_timeout, read=settings.read_timeout),
            retries=False,  # retrying is the caller's decision, per status and per item
        )

    def post(self, path: str, body: bytes, headers: dict[str, str] | None = None) -> Response:
        """POST `body` to `path`, signed; raises DeliveryError when no answer comes back."""
        signed = self._sign("POST", path, body, headers or {})
        try:
            answer = self._pool.urlopen("POST", path, body=body, headers=signed)
        except urllib3.exceptions.HTTPError as err:
            raise DeliveryError(
                f"no answer from {self._settings.endpoint}{path}: {type(err).__name__}: {err}"
            ) from None
        return Response(answer.status, answer.data)

    def bulk(self, body: bytes) -> Response:
        headers = {"Content-Type": "application/json"}
        if self._settings.gzip_bodies:
            # NDJSON of logs shrinks 5-10x; the signature covers the compressed bytes sent.
            body = gzip.compress(body, compresslevel=GZIP_LEVEL)
            headers["Content-Encoding"] = "gzip"
        return self.post("/_bulk", body, headers)

    def _sign(self, method: str, path: str, body: bytes, headers: dict[str, str]) -> dict[str, str]:
        request = AWSRequest(method=method, url=self._settings.endpoint + path, data=body, headers=headers)
        # Serverless requires the body hash as a header; it costs nothing to send it to `es` too.
        request.headers["x-amz-content-sha256"] = hashlib.sha256(body).hexdigest()
        SigV4Auth(_credentials(), self._settings.service, self._settings.region).add_auth(request)
        return dict(request.headers.items())


def _credentials() -> Credentials:
    """The role's credentials: Lambda puts them in the environment."""
    key, secret = os.environ.get("AWS_ACCESS_KEY_ID"), os.environ.get("AWS_SECRET_ACCESS_KEY")
    if key and secret:
        return Credentials(key, secret, os.environ.get("AWS_SESSION_TOKEN") or None)
    # Outside Lambda (a person running `forwarder invoke`): the usual provider chain.
    import botocore.session  # slow import, so only on this path

    found = botocore.session.get_session().get_credentials()
    if found is None:
        raise ConfigError(
            "no AWS credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY "
            "(and AWS_SESSION_TOKEN), or AWS_PROFILE"
        )
    frozen = found.get_frozen_credentials()
    return Credentials(frozen.access_key, frozen.secret_key, frozen.token)
