"""Configuration from environment variables, read once and validated.

A wrong value fails at cold start with a ConfigError that names the variable
and what it accepts, instead of failing later on the first payload.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from forwarder.documents.filters import Filters
from forwarder.documents.naming import DEFAULT, IndexPattern
from forwarder.documents.transform import Shape
from forwarder.errors import ConfigError

SERVICES = ("es", "aoss")
_REGION_IN_HOST = re.compile(r"\.([a-z]{2}(?:-gov)?-[a-z]+-\d)\.(?:es|aoss)\.amazonaws\.com$")
_PREFIX_ALLOWED = re.compile(r"^[a-z0-9][a-z0-9._-]{0,99}$")
_BUCKET_NAME = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
_AUTHORITY = re.compile(r"^(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+)(?::\d{1,5})?$")  # host[:port], nothing else
MIB = 1024 * 1024
# Enough to make documents, for local tools that send nothing (the dry run, the bench).
DOCUMENTS_ONLY: Mapping[str, str] = {"OPENSEARCH_ENDPOINT": "http://127.0.0.1:9200", "AWS_REGION": "us-east-1"}
LOCAL_MEMORY_MB = 256  # the template's MemorySize, and LocalContext's
MEMORY_PER_INFLATED_BYTE = 16  # of the function's memory, per byte a payload may inflate to


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
    bulk_max_bytes: int  # NDJSON bytes per _bulk request, before compression
    bulk_max_docs: int
    retry_base_delay: float  # seconds; backoff is full jitter up to base * 2**round
    retry_max_delay: float
    retry_max_seconds: float  # cap on the whole delivery (what bounds it outside Lambda)
    retry_safety_margin: float  # seconds kept back from the Lambda timeout for the dead letter
    dead_letter_bucket: str | None
    dead_letter_prefix: str
    secret_arn: str | None = None  # basic auth from Secrets Manager instead of SigV4
    ca_bundle: str | None = None  # a PEM of CAs trusted besides the system's (a private CA, a proxy)
    role_arn: str = ""  # the function's role, named in the fix a 403 says (the template sets it)
    log_failed_documents: bool = False  # the report's undelivered items carry their whole source
    tracing: bool = False  # X-Ray subsegments around the _bulk calls
    filters: Filters = field(default_factory=Filters)  # include/exclude and redaction (filters.py)
    index_pattern: IndexPattern = DEFAULT  # INDEX_PATTERN and INDEX_DATE_FORMAT (naming.py)
    parse_json_fields: tuple[str, ...] = ()
    max_indices_per_payload: int = 20  # distinct index names one payload writes to (overflow.py)
    max_indices_per_environment: int = 100  # a day, for a pattern that is not the default

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
            max_payload_bytes=_positive(env, "MAX_PAYLOAD_BYTES", default_max_payload_bytes(env), int),
            connect_timeout=_positive(env, "OPENSEARCH_CONNECT_TIMEOUT", 5.0, float),
            read_timeout=_positive(env, "OPENSEARCH_READ_TIMEOUT", 30.0, float),
            gzip_bodies=_boolean(env, "BULK_GZIP", True),
            bulk_max_bytes=_positive(env, "BULK_MAX_BYTES", 5 * MIB, int),
            bulk_max_docs=_positive(env, "BULK_MAX_DOCS", 10_000, int),
            retry_base_delay=_positive(env, "RETRY_BASE_DELAY_SECONDS", 0.2, float),
            retry_max_delay=_positive(env, "RETRY_MAX_DELAY_SECONDS", 10.0, float),
            retry_max_seconds=_positive(env, "RETRY_MAX_SECONDS", 900.0, float),
            retry_safety_margin=_positive(env, "RETRY_SAFETY_MARGIN_SECONDS", 5.0, float),
            dead_letter_bucket=_bucket(env, "DEAD_LETTER_BUCKET"),
            dead_letter_prefix=_key_prefix(env, "DEAD_LETTER_PREFIX", "dead-letter/"),
            secret_arn=_secret_arn(env, "OPENSEARCH_SECRET_ARN"),
            ca_bundle=_ca_bundle(env, "OPENSEARCH_CA_BUNDLE"),
            role_arn=env.get("FUNCTION_ROLE_ARN", "").strip(),
            log_failed_documents=_boolean(env, "LOG_FAILED_DOCUMENTS", False),
            tracing=_boolean(env, "TRACING", False),
            filters=Filters.from_env(
                env,
                redact_emails=_boolean(env, "REDACT_EMAILS", False),
                redact_ips=_boolean(env, "REDACT_IPS", False),
            ),
            index_pattern=IndexPattern.parse(env.get("INDEX_PATTERN", ""), env.get("INDEX_DATE_FORMAT", "")),
            parse_json_fields=_field_names(env, "PARSE_JSON_FIELDS"),
            max_indices_per_payload=_positive(env, "MAX_INDICES_PER_PAYLOAD", 20, int),
            max_indices_per_environment=_positive(env, "MAX_INDICES_PER_ENVIRONMENT", 100, int),
        )

    @property
    def shape(self) -> Shape:
        """What shapes the documents (transform.py)."""
        return Shape(self.index_prefix, self.index_pattern, self.parse_json_fields, self.region)

    @property
    def serverless(self) -> bool:
        """An OpenSearch Serverless collection: every difference from a domain follows from this one rule.

        A time-series collection refuses a document `_id` (so a re-send could index a line
        twice), and `_bulk`'s filter_path is not among its documented parameters.
        """
        return self.service == "aoss"

    @property
    def sends_ids(self) -> bool:
        """Whether `_bulk` action lines carry `_id` (the event id), so a re-sent document overwrites itself."""
        return not self.serverless


_LOOPBACK = ("127.0.0.1", "localhost", "::1")


def _without_query(value: str) -> str:
    shown = value.split("?", 1)[0].split("#", 1)[0]
    return shown if shown == value else f"{shown}?<query not shown>"


def _hostname(authority: str) -> str | None:
    try:
        return urlsplit("//" + authority).hostname
    except ValueError:  # e.g. an unclosed [ of an IPv6 address: the checks below name the setting
        return None


def parse_endpoint(value: str) -> str:
    """Accept `https://host`, `http://127.0.0.1:9200` or a bare domain host (as the blueprint had)."""
    raw = value.strip().rstrip("/")
    value = _without_query(value)  # what refusals echo: a query string may hold a token
    if "://" not in raw:
        if _hostname(raw) in _LOOPBACK:
            # A copied host:port: a local node is http, a tunnel https; a guess cost a minute of TLS retries.
            raise ConfigError(
                f"OPENSEARCH_ENDPOINT={value!r} has no scheme: give http://{_without_query(raw)} for a local node "
                f"or https://{_without_query(raw)} for a tunnel to a domain"
            )
        raw = "https://" + raw
    authority = raw.split("://", 1)[1].split("/", 1)[0]
    if not _AUTHORITY.match(authority):
        # Not echoed: it may hold a password. urllib3 and urlsplit read `user:pass@` and `\` differently,
        # so only host[:port] is taken.
        raise ConfigError(
            "OPENSEARCH_ENDPOINT is not accepted: give https://host or https://host:port, with no user, "
            "password, '@' or '\\' in it (an internal user's password comes from OPENSEARCH_SECRET_ARN)"
        )
    parts = urlsplit(raw)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(
            f"OPENSEARCH_ENDPOINT={value!r} is not accepted: give https://host, "
            "http://127.0.0.1:PORT or a bare host name"
        )
    if parts.path or parts.query or parts.fragment:
        raise ConfigError(
            f"OPENSEARCH_ENDPOINT={value!r} is not accepted: give the domain endpoint "
            "without a path or query (the forwarder posts to /_bulk itself)"
        )
    if parts.scheme == "http" and parts.hostname not in _LOOPBACK:
        raise ConfigError(
            f"OPENSEARCH_ENDPOINT={value!r} is not accepted: plain http is only for a "
            "local stand-in on loopback; use https"
        )
    return f"{parts.scheme}://{parts.netloc}"


def default_max_payload_bytes(env: Mapping[str, str]) -> int:
    """What the function can hold: a sixteenth of its memory, inflated; outside Lambda, of the template's 256 MB,
    so that a local run refuses what the deployed function would (64 MiB of tiny events peaked at 584 MB).

    Measured: payloads of tiny events peak at ~35 MB plus ~8 MB per inflated MiB while decoded
    and made into documents (16 MiB: 169 MB), so the peak stays near half the memory size.
    """
    memory_mb = env.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "").strip()
    if memory_mb.isdigit() and int(memory_mb) > 0:
        return int(memory_mb) * MIB // MEMORY_PER_INFLATED_BYTE
    return LOCAL_MEMORY_MB * MIB // MEMORY_PER_INFLATED_BYTE


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


def _bucket(env: Mapping[str, str], name: str) -> str | None:
    raw = env.get(name, "").strip()
    if not raw:
        return None
    if raw.startswith("s3://") or not _BUCKET_NAME.match(raw) or ".." in raw:
        raise ConfigError(
            f"{name}={raw!r} is not accepted: give an S3 bucket name (3-63 lower-case letters, "
            "digits, '.' or '-'), without s3://"
        )
    return raw


def _secret_arn(env: Mapping[str, str], name: str) -> str | None:
    raw = env.get(name, "").strip()
    if not raw:
        return None
    if not raw.startswith("arn:") or ":secretsmanager:" not in raw:
        # Not echoed: a value that is not an ARN may be the secret itself, pasted.
        pasted = " (it looks like the secret's JSON itself)" if raw.startswith("{") else ""
        raise ConfigError(
            f"{name} is not accepted{pasted}: give the ARN of a Secrets Manager secret "
            "(arn:aws:secretsmanager:REGION:ACCOUNT:secret:NAME); the value is not shown"
        )
    return raw


def _ca_bundle(env: Mapping[str, str], name: str) -> str | None:
    """A readable PEM file holding at least one certificate, or None."""
    raw = env.get(name, "").strip()
    if not raw:
        return None
    try:
        with open(raw, "rb") as pem:
            found = b"-----BEGIN CERTIFICATE-----" in pem.read()
    except OSError as err:
        raise ConfigError(f"{name}={raw!r}: cannot read it ({err.strerror or err}): give a PEM file's path") from None
    if not found:
        raise ConfigError(f"{name}={raw!r} holds no PEM certificate (-----BEGIN CERTIFICATE-----)")
    return raw


def _key_prefix(env: Mapping[str, str], name: str, default: str) -> str:
    raw = env.get(name, default).strip().lstrip("/")
    if raw and not raw.endswith("/"):
        raw += "/"
    return raw


def _field_names(env: Mapping[str, str], name: str) -> tuple[str, ...]:
    raw = env.get(name, "").strip()
    names = tuple(part.strip() for part in raw.split(",")) if raw else ()
    if any(not part or "." in part for part in names) or len(set(names)) != len(names):
        raise ConfigError(
            f"{name}={raw!r} is not accepted: give comma-separated top-level field names, each once, e.g. log"
        )
    return names


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
