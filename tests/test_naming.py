"""Index routing: INDEX_PATTERN, INDEX_DATE_FORMAT, PARSE_JSON_FIELDS and CloudWatch's system fields."""

from __future__ import annotations

import fnmatch
import json
from datetime import UTC, date, datetime, timedelta

import pytest
from harness import payload_gen
from harness.standin import StandIn
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from forwarder import handler
from forwarder.documents import naming, schema, transform
from forwarder.documents.naming import IndexPattern
from forwarder.errors import ConfigError
from forwarder.infra.bootstrap import Config
from forwarder.settings import DOCUMENTS_ONLY, Settings
from forwarder.sources.decode import Payload
from forwarder.tools.local import LocalContext
from tests.events import emf_lines, event_with, single

CLUSTER_GROUP = "/aws/containerinsights/prod/application"  # Container Insights: one group for every app
BY_NAMESPACE_AND_APP = "{prefix}-{field.kubernetes.namespace_name}-{field.kubernetes.labels.app}-{date}"
NOV_22 = 1_795_391_999_000  # 2026-11-22T23:59:59Z


def fluent_bit(namespace: str | None, app: str | None, log: str = "started", **extra: object) -> str:
    kubernetes: dict[str, object] = {"pod_name": "p-1"}
    if namespace is not None:
        kubernetes["namespace_name"] = namespace
    if app is not None:
        kubernetes["labels"] = {"app": app}
    return json.dumps({"log": log, "stream": "stdout", "kubernetes": kubernetes, **extra})


def payload(*messages: str, group: str = CLUSTER_GROUP, ts: int = NOV_22, **event_extra: object) -> Payload:
    events = [{"id": str(n), "timestamp": ts, "message": m, **event_extra} for n, m in enumerate(messages)]
    return Payload("DATA_MESSAGE", "111122223333", group, "fluent-bit-abc", ["f"], events)  # type: ignore[arg-type]


def shaped(payload: Payload, **env: str) -> tuple[list[str], list[dict], transform.Counts]:
    settings = Settings.from_env({**DOCUMENTS_ONLY, **env})
    documents, counts = transform.make_documents(payload, settings.shape)
    return documents.index_names, [json.loads(source) for source in documents.sources], counts


def test_the_default_pattern_spelled_out_is_the_seeds_naming_byte_for_byte() -> None:
    doc = payload_gen.payloads(seed=4, count=1, events=300, shapes=payload_gen.ALL_SHAPES)[0]
    made = Payload("DATA_MESSAGE", doc["owner"], doc["logGroup"], doc["logStream"], ["f"], doc["logEvents"])
    default = transform.to_documents(made, "mydata")
    spelled = shaped(made, INDEX_PATTERN=naming.DEFAULT_PATTERN)[0]
    assert spelled == default.index_names
    short = shaped(payload("x", group="/aws/lambda/checkout"), INDEX_PATTERN=naming.DEFAULT_PATTERN)[0]
    assert short == ["mydata-lambda-checkout-2026.11.22"], "today's fallback for short log groups"


def test_container_insights_records_go_to_an_index_per_namespace_and_app() -> None:
    names, sources, counts = shaped(
        payload(fluent_bit("payments", "api"), fluent_bit("Search", "indexer"), fluent_bit("payments", "api")),
        INDEX_PATTERN=BY_NAMESPACE_AND_APP,
    )
    assert names == [
        "mydata-payments-api-2026.11.22",
        "mydata-search-indexer-2026.11.22",
        "mydata-payments-api-2026.11.22",
    ]
    assert counts.index_name_defaults == 0
    assert sources[1]["kubernetes"]["namespace_name"] == "Search", "the source keeps its own case"


def test_a_placeholder_without_a_value_takes_unknown_and_is_counted() -> None:
    names, _, counts = shaped(
        payload(
            fluent_bit(None, "api"),
            fluent_bit("payments", None),
            "plain text, no JSON",
            json.dumps({"kubernetes": {"namespace_name": {"an": "object"}, "labels": {"app": ""}}}),
        ),
        INDEX_PATTERN=BY_NAMESPACE_AND_APP,
    )
    assert names == [
        "mydata-unknown-api-2026.11.22",
        "mydata-payments-unknown-2026.11.22",
        "mydata-unknown-unknown-2026.11.22",
        "mydata-unknown-unknown-2026.11.22",
    ]
    assert counts.index_name_defaults == 4


def test_log_group_parts_stream_and_dotted_keys() -> None:
    message = json.dumps({"kubernetes.namespace_name": "flat", "n": 7, "ok": True})
    names, _, counts = shaped(
        payload(message),
        INDEX_PATTERN="{prefix}-{group[3]}-{group[9]}-{stream}-{field.kubernetes.namespace_name}-{field.n}-{field.ok}-{date}",
    )
    assert names == ["mydata-prod-unknown-fluent-bit-abc-flat-7-true-2026.11.22"] and counts.index_name_defaults == 1


@pytest.mark.parametrize(
    ("date_format", "ts", "suffix"),
    [
        ("daily", NOV_22, "2026.11.22"),
        ("weekly", NOV_22, "2026.w47"),
        ("weekly", 1_798_675_200_000, "2026.w53"),  # 2026-12-31, a Thursday: ISO week 53
        ("weekly", 1_798_761_600_000, "2026.w53"),  # 2027-01-01 is still in 2026's last ISO week
        ("weekly", 1_735_516_800_000, "2025.w01"),  # 2024-12-30 is in 2025's first ISO week
        ("monthly", NOV_22, "2026.11"),
        ("monthly", 1_798_761_600_000, "2027.01"),
    ],
)
def test_index_date_format_sets_the_granularity(date_format: str, ts: int, suffix: str) -> None:
    for pattern in (naming.DEFAULT_PATTERN, "{prefix}-{group[3]}-{date}"):
        (name,), _, _ = shaped(payload("x", ts=ts), INDEX_PATTERN=pattern, INDEX_DATE_FORMAT=date_format)
        assert name.endswith(f"-{suffix}"), name


@given(
    day=st.integers(min_value=0, max_value=2_932_000),  # 1970 to 9997
    date_format=st.sampled_from(schema.DATE_FORMATS),
    base=st.sampled_from(["mydata-x", "mydata-2026", "mydata-v1.2", ""]),
)
def test_day_of_an_index_name_is_the_first_day_of_its_period(day: int, date_format: str, base: str) -> None:
    when = datetime.fromtimestamp(day * 86_400, UTC).date()
    first = schema.day_of(f"{base}-{schema.date_suffix(day, date_format)}")
    assert first is not None and first <= when
    assert schema.date_suffix((first - date(1970, 1, 1)).days, date_format) == schema.date_suffix(day, date_format)
    before = first - timedelta(days=1)
    assert schema.date_suffix((before - date(1970, 1, 1)).days, date_format) != schema.date_suffix(day, date_format)


@pytest.mark.parametrize("name", ["mydata-x", "mydata-x-2026.13.01", "mydata-x-2026.w54", "mydata-x-12026.11"])
def test_a_name_without_a_date_at_its_end_has_no_day(name: str) -> None:
    assert schema.day_of(name) is None


@pytest.mark.parametrize(
    ("pattern", "complaint"),
    [
        ("{field.kubernetes.namespace_name}-{date}", "must start with {prefix}-"),
        ("{prefix}-{group[5]}", "end with {date}"),
        ("{prefix}-{date}-{date}", "end with {date}"),
        ("{prefix}-{namespace}-{date}", "{namespace} is not a placeholder"),
        ("{prefix}-{group[x]}-{date}", "{group[x]} is not a placeholder"),
        ("{prefix}-{field.}-{date}", "{field.} is not a placeholder"),
        ("{prefix}-{field.a..b}-{date}", "{field.a..b} is not a placeholder"),
        ("{prefix}-{stream-{date}", "a brace without its pair"),
        ("{prefix}-Logs-{date}", "'L' cannot be in an index name"),
        ("{prefix}-a:b-{date}", "':' cannot be in an index name"),
        ("{prefix}-a\u202eb-{date}", "'\\u202e' cannot be in an index name"),
    ],
)
def test_an_invalid_pattern_fails_at_cold_start_naming_the_variable(pattern: str, complaint: str) -> None:
    with pytest.raises(ConfigError, match=r"^INDEX_PATTERN=") as refused:
        Settings.from_env({**DOCUMENTS_ONLY, "INDEX_PATTERN": pattern})
    assert complaint in str(refused.value)


@pytest.mark.parametrize(("name", "value"), [("INDEX_DATE_FORMAT", "hourly"), ("PARSE_JSON_FIELDS", "log,,msg")])
def test_the_other_routing_settings_name_themselves_when_wrong(name: str, value: str) -> None:
    with pytest.raises(ConfigError, match=rf"^{name}="):
        Settings.from_env({**DOCUMENTS_ONLY, name: value})


# Any text, and text full of control and format characters (a newline would forge a line in _cat/indices).
unprintable = st.text(st.characters(categories=["Cc", "Cf", "Zl", "Zp"]) | st.sampled_from("ab-"), max_size=40)
values = st.one_of(
    st.text(max_size=300), unprintable, st.integers(), st.floats(allow_nan=False), st.booleans(), st.none()
)


@given(namespace=values, app=values, date_format=st.sampled_from(schema.DATE_FORMATS))
def test_every_name_is_valid_and_matches_the_ism_policy_and_index_template(namespace, app, date_format) -> None:
    message = json.dumps({"kubernetes": {"namespace_name": namespace, "labels": {"app": app}}})
    (name,), _, _ = shaped(payload(message), INDEX_PATTERN=BY_NAMESPACE_AND_APP, INDEX_DATE_FORMAT=date_format)
    assert name == name.lower() and not set(name) & set('\\/*?"<>| ,#:') and name[0] not in "_-+"
    assert name.isprintable(), "no control or format character"
    assert len(name.encode()) <= naming.MAX_INDEX_BYTES
    assert name.endswith(schema.date_suffix(NOV_22 // 86_400_000, date_format))
    config = Config("mydata", retention_days=30, retain_on_delete=False)
    assert fnmatch.fnmatchcase(name, config.pattern), "the ISM policy's and the index template's pattern"


def test_parse_json_fields_makes_the_json_inside_log_searchable_and_keeps_the_string() -> None:
    inner = json.dumps({"level": "error", "msg": "boom", "status": 500})
    _, sources, counts = shaped(
        payload(
            fluent_bit("payments", "api", log=inner),
            fluent_bit("payments", "api", log="plain text"),
            fluent_bit("payments", "api", log="[1, 2]"),
            fluent_bit("payments", "api", log='{"cut short'),
            json.dumps({"log": 42}),
            json.dumps({"other": "no log field"}),
            json.dumps({"log": inner, "log_json": "already there"}),
        ),
        PARSE_JSON_FIELDS="log",
    )
    assert sources[0]["log_json"] == {"level": "error", "msg": "boom", "status": 500} and sources[0]["log"] == inner
    assert ["log_json" in source for source in sources[1:6]] == [False] * 5
    assert sources[6]["log_json"] == "already there", "a field of that name is never overwritten"
    assert counts.json_fields_not_parsed == 5, "text, an array, bad JSON, a number and the taken name"


def test_system_fields_are_kept_and_do_not_replace_the_message_source() -> None:
    """emitSystemFields puts @aws.account and @aws.region into each event's extractedFields."""
    system = {"@aws.account": "999988887777", "@aws.region": "eu-west-1"}
    names, sources, _ = shaped(
        payload(fluent_bit("payments", "api"), extractedFields=system),
        INDEX_PATTERN="{prefix}-{account}-{region}-{field.kubernetes.namespace_name}-{date}",
    )
    assert names == ["mydata-999988887777-eu-west-1-payments-2026.11.22"]
    assert sources[0]["kubernetes"]["namespace_name"] == "payments", "the message's JSON is still the source"
    assert (sources[0]["@aws.account"], sources[0]["@aws.region"]) == ("999988887777", "eu-west-1")


def test_system_fields_beside_a_filter_patterns_fields_and_as_the_events_own_keys() -> None:
    fields = {"verb": "GET", "status": "200", "@aws.account": "999988887777"}
    names, sources, _ = shaped(payload("GET 200", extractedFields=fields), INDEX_PATTERN="{prefix}-{account}-{date}")
    assert names == ["mydata-999988887777-2026.11.22"]
    assert {key: sources[0][key] for key in ("verb", "status", "@aws.account")} == {
        "verb": "GET",
        "status": 200,
        "@aws.account": "999988887777",
    }
    names, sources, _ = shaped(payload("x", **{"@aws.region": "ap-south-1"}), INDEX_PATTERN="{prefix}-{region}-{date}")
    assert names == ["mydata-ap-south-1-2026.11.22"] and sources[0]["@aws.region"] == "ap-south-1"


def test_without_system_fields_account_is_the_owner_and_region_the_functions() -> None:
    names, sources, _ = shaped(
        payload("x"), INDEX_PATTERN="{prefix}-{account}-{region}-{date}", AWS_REGION="eu-north-1"
    )
    assert names == ["mydata-111122223333-eu-north-1-2026.11.22"]
    assert "@aws.account" not in sources[0]


def test_through_the_handler_each_namespace_gets_its_index_and_the_defaults_are_a_metric(
    forwarder_env: StandIn, monkeypatch, capfd
) -> None:
    monkeypatch.setenv("INDEX_PATTERN", "{prefix}-{field.kubernetes.namespace_name}-{date}")
    monkeypatch.setenv("INDEX_DATE_FORMAT", "monthly")
    monkeypatch.setenv("PARSE_JSON_FIELDS", "log")
    handler.reset_runtime()
    events = [
        {"id": str(n), "timestamp": NOV_22, "message": fluent_bit(namespace, "api", log='{"level": "warn"}')}
        for n, namespace in enumerate(["payments", "search", None])
    ]
    report = handler.lambda_handler(event_with(*events, group=CLUSTER_GROUP), LocalContext())
    assert report["indexed"] == 3
    assert sorted(forwarder_env.indices) == [
        "mydata-payments-2026.11",
        "mydata-search-2026.11",
        "mydata-unknown-2026.11",
    ]
    stored = forwarder_env.documents("mydata-payments-2026.11")["0"]
    assert stored["log_json"] == {"level": "warn"}
    (metrics,) = emf_lines(capfd.readouterr().out)
    assert single(metrics["IndexNameDefaults"]) == 1 and single(metrics["JsonFieldsNotParsed"]) == 0


def test_the_pattern_object_is_what_settings_hold() -> None:
    pattern = IndexPattern.parse(" {prefix}-{stream}-{date} ", "Weekly")
    assert (pattern.text, pattern.date_format, pattern.is_default) == ("{prefix}-{stream}-{date}", "weekly", False)


@pytest.mark.parametrize(("date_format", "min_age"), [("daily", "30d"), ("weekly", "37d"), ("monthly", "61d")])
def test_ism_keeps_the_newest_document_of_a_weekly_or_monthly_index_for_the_retention(date_format, min_age) -> None:
    """ISM counts an index's age from its creation, and a monthly index takes writes for a month."""
    config = Config.from_properties({"IndexPrefix": "mydata", "RetentionDays": "30", "IndexDateFormat": date_format})
    (transition,) = config.policy()["policy"]["states"][0]["transitions"]
    assert transition["conditions"]["min_index_age"] == min_age


def test_the_bootstrap_refuses_an_unknown_date_format() -> None:
    from forwarder.infra.bootstrap import BootstrapError

    with pytest.raises(BootstrapError, match="IndexDateFormat='hourly'"):
        Config.from_properties({"IndexPrefix": "mydata", "RetentionDays": "30", "IndexDateFormat": "hourly"})


BY_TENANT = "{prefix}-{field.tenant}-{date}"


def tenants_payload(tenants: list[str], start: int = 0) -> dict:
    events = [
        {"id": f"e-{start + n}", "timestamp": NOV_22, "message": json.dumps({"tenant": tenant})}
        for n, tenant in enumerate(tenants)
    ]
    return event_with(*events, group=CLUSTER_GROUP)


def stored_once(standin: StandIn) -> dict[str, tuple[str, dict]]:
    found: dict[str, tuple[str, dict]] = {}
    for index, docs in standin.indices.items():
        for doc_id, doc in docs.items():
            assert doc_id not in found, f"{doc_id} in two indices"
            found[doc_id] = (index, doc["_source"])
    return found


def test_a_thousand_field_values_in_one_payload_make_twenty_indices_and_an_overflow(
    forwarder_env: StandIn, monkeypatch, capfd
) -> None:
    monkeypatch.setenv("INDEX_PATTERN", BY_TENANT)
    handler.reset_runtime()
    tenants = ["busy"] * 50 + [f"t{n}" for n in range(999)]
    report = handler.lambda_handler(tenants_payload(tenants), LocalContext())
    assert report["indexed"] == len(tenants) and report["failed"] == 0
    assert len(forwarder_env.indices) == 21 and "mydata-busy-2026.11.22" in forwarder_env.indices, "most used kept"
    stored = stored_once(forwarder_env)
    overflowed = [source for index, source in stored.values() if index == "mydata-overflow-2026.11.22"]
    assert len(stored) == len(tenants) and len(overflowed) == 1049 - 50 - 19
    assert all(source["@intended_index"] == f"mydata-{source['tenant']}-2026.11.22" for source in overflowed)
    (metrics,) = emf_lines(capfd.readouterr().out)
    assert single(metrics["IndexOverflow"]) == len(overflowed)


def test_an_environment_keeps_its_daily_bound_across_payloads_and_reuses_the_names_it_has(
    forwarder_env: StandIn, monkeypatch
) -> None:
    monkeypatch.setenv("INDEX_PATTERN", BY_TENANT)
    monkeypatch.setenv("MAX_INDICES_PER_ENVIRONMENT", "30")
    handler.reset_runtime()
    for batch in range(3):  # 15 new tenants each: the third passes the bound of 30
        tenants = [f"t{batch * 15 + n}" for n in range(15)] + ["t0"]
        handler.lambda_handler(tenants_payload(tenants, start=batch * 100), LocalContext())
    names = set(forwarder_env.indices)
    assert len(names) == 31 and "mydata-overflow-2026.11.22" in names
    assert "mydata-t0-2026.11.22" in names and len(forwarder_env.documents("mydata-t0-2026.11.22")) == 4
    assert len(stored_once(forwarder_env)) == 48, "nothing lost"


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(tenants=st.lists(st.text(max_size=6), min_size=1, max_size=120), bound=st.integers(1, 25))
def test_no_payload_writes_to_more_names_than_its_bound_and_none_is_lost(
    forwarder_env: StandIn, monkeypatch, tenants: list[str], bound: int
) -> None:
    monkeypatch.setenv("INDEX_PATTERN", BY_TENANT)
    monkeypatch.setenv("MAX_INDICES_PER_PAYLOAD", str(bound))
    handler.reset_runtime()
    forwarder_env.indices.clear()
    forwarder_env.mappings.clear()
    report = handler.lambda_handler(tenants_payload(tenants), LocalContext())
    assert report["indexed"] + report["fallback"] == len(tenants)
    assert len(forwarder_env.indices) <= bound + 1 and len(stored_once(forwarder_env)) == len(tenants)
