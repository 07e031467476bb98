"""Configuration from environment variables, read once and validated.

A wrong value fails at cold start with a ConfigError that names the variable
and what it accepts, instead of failing later on the first payload.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit

from forwarder.errors import ConfigError

SERVICES = ("es", "aoss")
_REGION_IN_HOST = re.compile(r"\.([a-z]{2}(?:-gov)?-[a-z]+-\d)\.(?:es|aoss)\.amazonaws\.com$")
_PREFIX_ALLOWED = re.compile(r"^[a-z0-9][a-z0-9._-]{0,99}$")


@dataclass(frozen=True)
class Settings:
    endpoint: str  # scheme://host[:port], no trailing slash
    service: str  # "es" (managed domain) or "aoss" (Serverless collection)
    region: str
    index_prefix: str
    max_payload_bytes: int
    connect_timeout: float
    read_timeout: float
    gzip_bodies: bool  # Content-Encoding: gzip on _bulk requests

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env
        endpoint = parse_endpoint(_required(env, "OPENSEARCH_ENDPOINT"))
        service = env.get("OPENSEARCH_SERVICE", "es").strip().lower()
        if service not in SERVICES:
            raise ConfigError(
                f"OPENSEARCH_SERVICE={service!r} is not accepted: use 'es' for an "
                "OpenSearch Service domain or 'aoss' for OpenSearch Serverless"
            )
        region = env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION") or _region_from(endpoint)
        if not region:
            raise ConfigError(
                "AWS_REGION is not set and the region cannot be read from OPENSEARCH_ENDPOINT "
                f"({endpoint}): set AWS_REGION, e.g. us-east-1"
            )
        prefix = env.get("INDEX_PREFIX", "mydata")
        if not _PREFIX_ALLOWED.match(prefix):
            raise ConfigError(
                f"INDEX_PREFIX={prefix!r} is not accepted: 1-100 characters of lower-case "
                "letters, digits, '.', '_' or '-', starting with a letter or digit"
            )
        return cls(
            endpoint=endpoint,
            service=service,
            region=region,
            index_prefix=prefix,
            max_payload_bytes=_positive(env, "MAX_PAYLOAD_BYTES", 64 * 1024 * 1024, int),
            connect_timeout=_positive(env, "OPENSEARCH_CONNECT_TIMEOUT", 5.0, float),
            read_timeout=_positive(env, "OPENSEARCH_READ_TIMEOUT", 30.0, float),
            gzip_bodies=_boolean(env, "BULK_GZIP", True),
        )


def parse_endpoint(value: str) -> str:
    """Accept `https://host`, `http://127.0.0.1:9200` or a bare host (as the blueprint had)."""
    raw = value.strip().rstrip("/")
    if "://" not in raw:
        raw = "https://" + raw
    parts = urlsplit(raw)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(
            f"OPENSEARCH_ENDPOINT={value!r} is not accepted: give https://host, "
            "http://127.0.0.1:PORT or a bare host name"
        )
    if parts.path or parts.query or parts.fragment:
        raise ConfigError(
            f"OPENSEARCH_ENDPOINT={value!r} is not accepted: give the domain endpoint "
            "without a path (the forwarder posts to /_bulk itself)"
        )
    if parts.scheme == "http" and parts.hostname not in ("127.0.0.1", "localhost", "::1"):
        raise ConfigError(
            f"OPENSEARCH_ENDPOINT={value!r} is not accepted: plain http is only for a "
            "local stand-in on loopback; use https"
        )
    return f"{parts.scheme}://{parts.netloc}"


def _region_from(endpoint: str) -> str | None:
    host = urlsplit(endpoint).hostname or ""
    match = _REGION_IN_HOST.search(host)
    return match.group(1) if match else None


def _required(env: Mapping[str, str], name: str) -> str:
    value = env.get(name, "").strip()
    if not value:
        raise ConfigError(
            f"{name} is not set: give the OpenSearch endpoint, e.g. https://search-x.us-east-1.es.amazonaws.com"
        )
    return value


def _boolean(env: Mapping[str, str], name: str, default: bool) -> bool:
    raw = env.get(name, "").strip().lower()
    if not raw:
        return default
    if raw in ("true", "1", "yes", "on"):
        return True
    if raw in ("false", "0", "no", "off"):
        return False
    raise ConfigError(f"{name}={raw!r} is not accepted: give true or false")


def _positive[N: (int, float)](env: Mapping[str, str], name: str, default: N, parse: Callable[[str], N]) -> N:
    """A positive number from `env[name]` (`parse` is int or float), or `default` when unset."""
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = parse(raw)
        if 0 < value < float("inf"):
            return value
    except ValueError:
        pass
    kind = "whole number" if parse is int else "number of seconds"
    raise ConfigError(f"{name}={raw!r} is not accepted: give a positive {kind}")
