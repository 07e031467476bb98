"""Include/exclude patterns and redaction, through the real handler."""

from __future__ import annotations

import pytest
from harness.standin import StandIn

from forwarder import handler
from forwarder.documents.filters import Filters
from forwarder.errors import ConfigError
from forwarder.settings import Settings
from forwarder.tools.local import LocalContext
from tests.events import emf_lines, event_with, one_event, single

INDEX = "mydata-payments-payments-api-2026.11.22"


def configure(monkeypatch, **env: str) -> None:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    handler.reset_runtime()


def test_exclude_wins_over_include_and_every_event_is_counted(forwarder_env: StandIn, monkeypatch, capfd) -> None:
    configure(monkeypatch, INCLUDE_PATTERN=r"level=(warn|error)", EXCLUDE_PATTERN=r"healthcheck")
    event = event_with(
        one_event("level=error payment failed", "a"),
        one_event("level=info all good", "b"),
        one_event("level=warn healthcheck slow", "c"),
        one_event("level=warn disk 91%", "d"),
    )
    result = handler.lambda_handler(event, LocalContext())
    assert (result["events"], result["excluded"], result["indexed"]) == (4, 2, 2)
    assert result["excluded"] + result["indexed"] + result["fallback"] + result["dead_lettered"] + result["failed"] == 4
    assert set(forwarder_env.documents(INDEX)) == {"a", "d"}
    (emf,) = emf_lines(capfd.readouterr().out)
    assert single(emf["Excluded"]) == 2 and single(emf["DocumentsIn"]) == 4


def test_emails_and_ip_addresses_are_redacted_everywhere_before_indexing(
    forwarder_env: StandIn, monkeypatch, capfd
) -> None:
    configure(monkeypatch, REDACT_EMAILS="true", REDACT_IPS="true")
    message = 'login {"user": "ana@example.com", "from": "10.1.2.3", "v6": "2001:db8::8a2e:370:7334", "n": 1}'
    fields = {"client": "192.168.0.7", "who": "bob@example.org", "status": "200"}
    event = event_with(
        one_event(message, "a"), {**one_event("192.168.0.7 bob@example.org 200", "b"), "extractedFields": fields}
    )
    result = handler.lambda_handler(event, LocalContext())
    assert result["indexed"] == 2
    docs = forwarder_env.documents(INDEX)
    assert (docs["a"]["user"], docs["a"]["from"], docs["a"]["v6"], docs["a"]["n"]) == ("[EMAIL]", "[IP]", "[IP]", 1)
    assert "ana@example.com" not in docs["a"]["@message"] and "10.1.2.3" not in docs["a"]["@message"]
    assert (docs["b"]["client"], docs["b"]["who"], docs["b"]["status"]) == ("[IP]", "[EMAIL]", 200)
    assert docs["b"]["@message"] == "[IP] [EMAIL] 200"
    (emf,) = emf_lines(capfd.readouterr().out)
    assert single(emf["Redacted"]) == 2


def test_a_time_of_day_is_not_taken_for_an_ipv6_address(forwarder_env: StandIn, monkeypatch) -> None:
    configure(monkeypatch, REDACT_IPS="true")
    handler.lambda_handler(event_with(one_event("at 10:00:22 from ::1, not 300.1.1.1", "a")), LocalContext())
    assert forwarder_env.documents(INDEX)["a"]["@message"] == "at 10:00:22 from [IP], not 300.1.1.1"


def test_custom_rules_apply_in_order(forwarder_env: StandIn, monkeypatch) -> None:
    rules = '[{"pattern": "token=\\\\w+", "replacement": "token=[REDACTED]"}, {"pattern": "\\\\d{16}"}]'
    configure(monkeypatch, REDACT_RULES=rules)
    handler.lambda_handler(event_with(one_event("token=abc123 card 4111111111111111 ok", "a")), LocalContext())
    assert forwarder_env.documents(INDEX)["a"]["@message"] == "token=[REDACTED] card [REDACTED] ok"


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("INCLUDE_PATTERN", "(unclosed"),
        ("EXCLUDE_PATTERN", "[z-a]"),
        ("REDACT_RULES", "not json"),
        ("REDACT_RULES", '[{"replacement": "x"}]'),
        ("REDACT_EMAILS", "sometimes"),
    ],
)
def test_a_wrong_filter_setting_names_the_variable(name: str, value: str) -> None:
    env = {"OPENSEARCH_ENDPOINT": "https://h.us-east-1.es.amazonaws.com", name: value}
    with pytest.raises(ConfigError, match=name):
        Settings.from_env(env)


def test_without_filters_nothing_is_touched() -> None:
    assert not Filters().active
    assert not Settings.from_env({"OPENSEARCH_ENDPOINT": "https://h.us-east-1.es.amazonaws.com"}).filters.active
