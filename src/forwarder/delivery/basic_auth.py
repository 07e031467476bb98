"""HTTP basic auth for an internal user of fine-grained access control, from Secrets Manager.

An alternative to SigV4 (OPENSEARCH_SECRET_ARN). The secret is a JSON object
{"username": ..., "password": ...}. It is read once per execution environment
and read again when OpenSearch answers 401, so a rotated password is picked up
without a redeploy.
"""

from __future__ import annotations

import base64
from typing import Any

import orjson

from forwarder.bounded import call_within
from forwarder.errors import ConfigError


class SecretCredentials:
    def __init__(
        self, secret_arn: str, region: str, client: Any = None, setting: str = "OPENSEARCH_SECRET_ARN"
    ) -> None:
        self._arn = secret_arn
        self._region = region
        self._client = client
        self._setting = setting  # what gave the ARN, for the message when it cannot be used
        self._header: str | None = None
        self.username = ""  # once read

    def header(self, time_left: float | None = None) -> str:
        """The Authorization header, from the cached secret (read within `time_left` seconds)."""
        if self._header is None:
            self._header = self._read(time_left)
        return self._header

    def refresh(self) -> None:
        """Forget the cached secret (after a 401): the next request reads it again."""
        self._header = None

    def _read(self, time_left: float | None) -> str:
        client = self._secrets()

        def get() -> str:
            return str(client.get_secret_value(SecretId=self._arn)["SecretString"])

        try:
            secret = get() if time_left is None else call_within(time_left, get, "reading the OpenSearch secret")
            values = orjson.loads(secret)
            user, password = str(values["username"]), str(values["password"])
        except (KeyError, TypeError, orjson.JSONDecodeError) as err:
            raise ConfigError(
                f"{self._setting}={self._arn}: the secret must be JSON with username and password ({err!r})"
            ) from None
        except Exception as err:  # botocore's errors: not found, access denied, no network
            raise ConfigError(f"{self._setting}={self._arn}: cannot read the secret ({err})") from None
        self.username = user
        return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()

    def _secrets(self) -> Any:
        if self._client is None:
            import botocore.session  # only when basic auth is configured

            self._client = botocore.session.get_session().create_client("secretsmanager", region_name=self._region)
        return self._client
