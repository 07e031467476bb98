"""Configuration: validated once; a wrong value names the variable and what it accepts."""

from __future__ import annotations

import pytest

from forwarder.errors import ConfigError
from forwarder.settings import Settings

BASE = {"OPENSEARCH_ENDPOINT": "https://search-logs.eu-west-1.es.amazonaws.com", "AWS_REGION": "eu-west-1"}


@pytest.mark.parametrize(
    ("value", "endpoint"),
    [
        ("https://search-logs.eu-west-1.es.amazonaws.com", "https://search-logs.eu-west-1.es.amazonaws.com"),
        ("search-logs.eu-west-1.es.amazonaws.com", "https://search-logs.eu-west-1.es.amazonaws.com"),
        ("https://search-logs.eu-west-1.es.amazonaws.com/", "https://search-logs.eu-west-1.es.amazonaws.com"),
        ("http://127.0.0.1:9200", "http://127.0.0.1:9200"),
    ],
)
def test_endpoint_forms_the_blueprint_accepted(value: str, endpoint: str) -> None:
    assert Settings.from_env({**BASE, "OPENSEARCH_ENDPOINT": value}).endpoint == endpoint


def test_defaults() -> None:
    settings = Settings.from_env(BASE)
    assert (settings.service, settings.index_prefix, settings.max_payload_bytes) == ("es", "mydata", 16 * 1024 * 1024)


def test_delivery_defaults() -> None:
    settings = Settings.from_env(BASE)
    assert (settings.bulk_max_bytes, settings.bulk_max_docs) == (5 * 1024 * 1024, 10_000)
    assert (settings.retry_safety_margin, settings.retry_max_seconds) == (5.0, 900.0)
    assert (settings.dead_letter_bucket, settings.dead_letter_prefix) == (None, "dead-letter/")
    assert settings.sends_ids
    assert not Settings.from_env({**BASE, "OPENSEARCH_SERVICE": "aoss"}).sends_ids


def test_the_dead_letter_prefix_is_a_folder() -> None:
    settings = Settings.from_env({**BASE, "DEAD_LETTER_BUCKET": "logs.dead-letter", "DEAD_LETTER_PREFIX": "/fwd"})
    assert (settings.dead_letter_bucket, settings.dead_letter_prefix) == ("logs.dead-letter", "fwd/")


def test_region_is_read_from_the_endpoint_when_aws_region_is_unset() -> None:
    assert Settings.from_env({"OPENSEARCH_ENDPOINT": BASE["OPENSEARCH_ENDPOINT"]}).region == "eu-west-1"


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("OPENSEARCH_ENDPOINT", ""),
        ("OPENSEARCH_ENDPOINT", "ftp://x"),
        ("OPENSEARCH_ENDPOINT", "https://h/_bulk"),
        ("OPENSEARCH_ENDPOINT", "http://search.example.com"),
        ("OPENSEARCH_SERVICE", "elasticsearch"),
        ("INDEX_PREFIX", "MyData"),
        ("INDEX_PREFIX", "_logs"),
        ("INDEX_PREFIX", "a b"),
        ("MAX_PAYLOAD_BYTES", "lots"),
        ("BULK_GZIP", "maybe"),
        ("MAX_PAYLOAD_BYTES", "0"),
        ("OPENSEARCH_READ_TIMEOUT", "-1"),
        ("BULK_MAX_BYTES", "5MiB"),
        ("BULK_MAX_DOCS", "0"),
        ("RETRY_SAFETY_MARGIN_SECONDS", "soon"),
        ("RETRY_MAX_SECONDS", "inf"),
        ("DEAD_LETTER_BUCKET", "s3://my-bucket"),
        ("DEAD_LETTER_BUCKET", "My_Bucket"),
        ("DEAD_LETTER_BUCKET", "ab"),
    ],
)
def test_a_wrong_value_names_the_variable(name: str, value: str) -> None:
    with pytest.raises(ConfigError, match=name):
        Settings.from_env({**BASE, name: value})


def test_no_region_anywhere_is_a_clear_error() -> None:
    with pytest.raises(ConfigError, match="AWS_REGION"):
        Settings.from_env({"OPENSEARCH_ENDPOINT": "http://127.0.0.1:9200"})


def test_settings_are_frozen() -> None:
    settings = Settings.from_env(BASE)
    with pytest.raises(AttributeError):
        settings.index_prefix = "x"  # type: ignore[misc]


def test_in_lambda_a_wrong_setting_fails_the_cold_start_naming_the_variable() -> None:
    import os
    import subprocess
    import sys

    env = {
        **os.environ,
        "AWS_LAMBDA_FUNCTION_NAME": "forwarder",
        "OPENSEARCH_ENDPOINT": "http://127.0.0.1:9200",
        "AWS_REGION": "us-east-1",
        "OPENSEARCH_SERVICE": "elastic",
    }
    done = subprocess.run(
        [sys.executable, "-c", "import forwarder.handler"], capture_output=True, text=True, env=env, timeout=60
    )
    assert done.returncode != 0
    assert "ConfigError: OPENSEARCH_SERVICE='elastic' is not accepted" in done.stderr


@pytest.mark.parametrize(
    "value",
    [
        "https://admin:s3cr3t-pw@search-x.us-east-1.es.amazonaws.com",
        "http://admin:s3cr3t-pw@127.0.0.1:9200",
        "http://evil.example:s3cr3t-pw\\@127.0.0.1",  # urllib3 would connect to evil.example
        "https://search-x.us-east-1.es.amazonaws.com\\@evil.example",
    ],
)
def test_an_endpoint_with_a_user_password_or_tricks_is_refused_without_echoing_it(value: str) -> None:
    with pytest.raises(ConfigError) as refused:
        Settings.from_env({"OPENSEARCH_ENDPOINT": value, "AWS_REGION": "us-east-1"})
    message = str(refused.value)
    assert "OPENSEARCH_ENDPOINT is not accepted" in message and "OPENSEARCH_SECRET_ARN" in message
    assert "s3cr3t" not in message and "evil" not in message


@pytest.mark.parametrize("value", ["127.0.0.1:9250", "localhost:9200", "[::1]:9200"])
def test_a_loopback_host_without_a_scheme_is_refused_at_once_with_both_forms(value: str) -> None:
    # A copied host:port: a local node speaks http, a tunnel https; a guess meant a minute of TLS retries.
    with pytest.raises(ConfigError) as refused:
        Settings.from_env({"OPENSEARCH_ENDPOINT": value, "AWS_REGION": "us-east-1"})
    assert str(refused.value) == (
        f"OPENSEARCH_ENDPOINT={value!r} has no scheme: give http://{value} for a local node "
        f"or https://{value} for a tunnel to a domain"
    )


def test_a_domain_host_without_a_scheme_is_https_as_in_the_blueprint() -> None:
    env = {"OPENSEARCH_ENDPOINT": "search-x.us-east-1.es.amazonaws.com", "AWS_REGION": "us-east-1"}
    settings = Settings.from_env(env)
    assert settings.endpoint == "https://search-x.us-east-1.es.amazonaws.com"


def test_the_payload_bound_follows_the_functions_memory() -> None:
    assert Settings.from_env({**BASE, "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "256"}).max_payload_bytes == 16 * 1024 * 1024
    assert Settings.from_env({**BASE, "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "1024"}).max_payload_bytes == 64 * 1024 * 1024
    assert Settings.from_env(BASE).max_payload_bytes == 16 * 1024 * 1024, (
        "outside Lambda: as the template's 256 MB function"
    )
    explicit = {**BASE, "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "256", "MAX_PAYLOAD_BYTES": "1000"}
    assert Settings.from_env(explicit).max_payload_bytes == 1000, "MAX_PAYLOAD_BYTES wins"


def test_a_ca_bundle_is_a_readable_pem_of_certificates(tmp_path) -> None:
    pem = tmp_path / "ca.pem"
    pem.write_text("-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n")
    assert Settings.from_env({**BASE, "OPENSEARCH_CA_BUNDLE": str(pem)}).ca_bundle == str(pem)
    assert Settings.from_env(BASE).ca_bundle is None
    (tmp_path / "key.pem").write_text("-----BEGIN PRIVATE KEY-----\n")
    for value, complaint in ((str(tmp_path / "none.pem"), "cannot read it"), (str(tmp_path / "key.pem"), "no PEM")):
        with pytest.raises(ConfigError, match="OPENSEARCH_CA_BUNDLE") as refused:
            Settings.from_env({**BASE, "OPENSEARCH_CA_BUNDLE": value})
        assert complaint in str(refused.value)
