"""Transform rules, and the deliberate deviations from the reference, one test each."""

from __future__ import annotations

import json

import pytest

from forwarder.delivery import bulk
from forwarder.documents import naming, transform
from forwarder.jsnumber import js_number
from forwarder.sources.decode import Payload

GROUP = "/aws/containerinsights/prod/application/payments/payments-api"


def payload(*events: dict, group: str = GROUP) -> Payload:
    return Payload("DATA_MESSAGE", "123456789012", group, "stream-1", ["f"], list(events))


def event(message: str, ts: int = 1_795_391_999_000, id: str = "1", **extra) -> dict:
    return {"id": id, "timestamp": ts, "message": message, **extra}


def only_source(*events: dict, group: str = GROUP) -> dict:
    (document,) = transform.to_documents(payload(*events, group=group), "mydata")
    return json.loads(document.source)


@pytest.mark.parametrize(
    ("text", "number"),
    [
        (" 12 ", 12),
        ("1.5e3", 1500.0),
        ("0x1A", 26),
        ("0b101", 5),
        ("0o17", 15),
        (".5", 0.5),
        ("5.", 5.0),
        ("+5", 5),
        ("-0", 0),
        ("\u00a07\ufeff", 7),
        ("12345678901234567890", 12345678901234567890),
    ],
)
def test_javascript_numeric_strings_become_numbers(text: str, number: float) -> None:
    assert js_number(text) == number
    assert type(js_number(text)) is type(number)


@pytest.mark.parametrize(
    "text", ["Infinity", "-Infinity", "NaN", "", "   ", "12abc", "1e400", "-0x1A", "1_000", "١٢", "0x"]
)
def test_strings_javascript_does_not_count_as_numbers_stay_strings(text: str) -> None:
    assert js_number(text) is None


def test_extracted_fields_numbers_json_and_empty_values() -> None:
    fields = {
        "status": "200",
        "latency": "0.012",
        "ctx": 'x {"trace":"abc"}',
        "user": "",
        "hex": "0x1A",
        "inf": "Infinity",
    }
    source = only_source(event("raw line", extractedFields=fields))
    assert source["status"] == 200 and source["latency"] == 0.012 and source["hex"] == 26
    assert source["ctx"] == 'x {"trace":"abc"}' and source["$ctx"] == {"trace": "abc"}
    assert "user" not in source, "empty fields are left out"
    assert source["inf"] == "Infinity"


def test_empty_extracted_fields_object_ignores_the_message_json() -> None:
    source = only_source(event('{"a": 1}', extractedFields={}))
    assert "a" not in source


def test_embedded_json_from_the_first_brace_is_the_source() -> None:
    source = only_source(event('2026-11-22 INFO done {"user": "u1", "n": 3}'))
    assert source["user"] == "u1" and source["n"] == 3


def test_text_whose_tail_is_not_json_gives_only_the_at_fields() -> None:
    source = only_source(event("a {b} c"))
    assert set(source) == {"@id", "@timestamp", "@message", "@owner", "@log_group", "@log_stream"}


def test_at_fields_overwrite_same_named_keys_but_keep_their_position() -> None:
    (document,) = transform.to_documents(payload(event('{"@timestamp": "x", "a": 1, "@id": "y"}')), "mydata")
    source = json.loads(document.source)
    assert list(source)[:3] == ["@timestamp", "a", "@id"]
    assert source["@timestamp"] == "2026-11-22T23:59:59.000Z" and source["@id"] == "1"


@pytest.mark.parametrize("at_field", ["@id", "@timestamp", "@message", "@owner", "@log_group", "@log_stream"])
def test_each_at_field_of_the_source_is_overwritten_never_repeated(at_field: str) -> None:
    (document,) = transform.to_documents(payload(event(json.dumps({"a": 1, at_field: "mine"}))), "mydata")
    pairs = json.loads(document.source, object_pairs_hook=lambda pairs: pairs)
    keys = [key for key, _ in pairs]
    assert keys[:2] == ["a", at_field] and len(keys) == len(set(keys)) == 7, keys


def test_other_at_keys_nested_ones_and_values_like_at_fields_are_kept_as_they_are() -> None:
    record = {"@version": "1", "user": "@alice", "quote": '"@timestamp"', "nested": {"@timestamp": "n"}}
    source = only_source(event(json.dumps(record)))
    assert list(source) == [*record, "@id", "@timestamp", "@message", "@owner", "@log_group", "@log_stream"]
    assert {key: source[key] for key in record} == record


def test_utc_day_boundary_picks_the_index_of_the_event_day() -> None:
    before, after = 1_795_391_999_999, 1_795_392_000_000  # 23:59:59.999Z and 00:00:00.000Z
    docs = transform.to_documents(payload(event("a", before, "1"), event("b", after, "2")), "mydata")
    assert [d.index_name for d in docs] == [
        "mydata-payments-payments-api-2026.11.22",
        "mydata-payments-payments-api-2026.11.23",
    ]
    assert json.loads(docs[0].source)["@timestamp"] == "2026-11-22T23:59:59.999Z"
    assert json.loads(docs[1].source)["@timestamp"] == "2026-11-23T00:00:00.000Z"


def test_unicode_survives_untouched() -> None:
    source = only_source(event('Grüße {"city": "東京", "ok": "✓ 🚀"}'))
    assert source["city"] == "東京" and source["ok"] == "✓ 🚀" and source["@message"].startswith("Grüße")


def test_the_event_id_is_the_bulk_id_so_resending_is_idempotent() -> None:
    docs = transform.to_documents(payload(event("x", id="3811234")), "mydata")
    action = json.loads(bulk.ndjson(docs).splitlines()[0])
    assert action == {"index": {"_index": "mydata-payments-payments-api-2026.11.22", "_id": "3811234"}}


def test_the_bulk_lines_carry_the_id_only_where_it_is_sent() -> None:
    # the dict way, the bytes way, and an id orjson refuses to write (a lone surrogate)
    events = [event('{"@timestamp": "x", "a": 1}', id="7"), event("plain", id="8"), event("x", id="9\ud800")]
    documents = transform.to_documents(payload(*events), "mydata")
    with_ids, without = bulk.lines(documents, with_id=True), bulk.lines(documents, with_id=False)
    for doc, with_id, no_id in zip(documents, with_ids, without, strict=True):
        action, source, end = no_id.split(b"\n")
        assert (json.loads(action), source, end) == ({"index": {"_index": doc.index_name}}, doc.source, b"")
        action, source, end = with_id.split(b"\n")
        expected = {"index": {"_index": doc.index_name, "_id": doc.id}}
        assert (json.loads(action), source, end) == (expected, doc.source, b"")
    assert json.loads(documents[1].source)["@id"] == "8"
    assert bulk.ndjson(documents) == b"".join(with_ids) and bulk.ndjson(documents, with_id=False) == b"".join(without)


# -- deliberate deviations ------------------------------------------------------
def test_no_type_in_the_action_line() -> None:
    body = bulk.ndjson(transform.to_documents(payload(event("x")), "mydata"))
    assert b"_type" not in body.splitlines()[0]


@pytest.mark.parametrize(
    ("group", "index"),
    [
        ("/aws/lambda/my-fn", "mydata-lambda-my-fn-2026.11.22"),
        ("/aws/lambda/Checkout-Handler", "mydata-lambda-checkout-handler-2026.11.22"),
        ("my-app-logs", "mydata-my-app-logs-2026.11.22"),
        ("/aws/containerinsights/prod/performance", "mydata-containerinsights-prod-performance-2026.11.22"),
        ("/", "mydata-unnamed-2026.11.22"),
    ],
)
def test_short_log_groups_get_the_documented_fallback_not_undefined(group: str, index: str) -> None:
    (document,) = transform.to_documents(payload(event("x"), group=group), "mydata")
    assert document.index_name == index
    assert "undefined" not in document.index_name


def test_forbidden_characters_are_replaced_in_index_names() -> None:
    group = "/aws/containerinsights/c/application/team#1/API:v2,beta"
    (document,) = transform.to_documents(payload(event("x"), group=group), "mydata")
    assert document.index_name == "mydata-team_1-api_v2_beta-2026.11.22"


@pytest.mark.parametrize("name", ["_x", "-x", "+x", "A B", 'a"b', "a*b?c<d>e|f\\g/h"])
def test_valid_index_name_obeys_opensearch_rules(name: str) -> None:
    valid = naming.valid_index_name(name)
    assert valid == valid.lower() and valid[0] not in "_-+"
    assert not set(valid) & set('\\/*?"<>| ,#:')


def test_index_names_are_cut_to_255_bytes_keeping_the_date() -> None:
    group = "/aws/containerinsights/c/application/" + "ü" * 200 + "/" + "api" * 40
    (document,) = transform.to_documents(payload(event("x"), group=group), "mydata")
    assert len(document.index_name.encode()) <= 255
    assert document.index_name.endswith("-2026.11.22")
    document.index_name.encode().decode("utf-8")  # not cut inside a character


def test_the_index_prefix_is_configurable() -> None:
    (document,) = transform.to_documents(payload(event("x")), "logs")
    assert document.index_name == "logs-payments-payments-api-2026.11.22"


def test_integers_stay_exact_where_javascript_rounds() -> None:
    # 2**53 + 1: JavaScript writes 9007199254740992. Exact up to 64 bits, OpenSearch's `long`.
    source = only_source(event('{"big": 9007199254740993, "u64": 18446744073709551615}'))
    assert source["big"] == 9007199254740993 and source["u64"] == 18446744073709551615


def test_a_malformed_event_is_set_aside_with_its_position_and_its_neighbours_are_made() -> None:
    bad = {"id": "2", "message": "no timestamp"}
    documents, counts = transform.make_documents(payload(event("ok"), bad, event("also", id="3")), transform.Shape())
    assert documents.ids == ["1", "3"]
    (rejected,) = counts.rejected
    assert rejected.event == bad and rejected.reason.startswith("logEvents[1] is not a CloudWatch log event")
    assert "timestamp None is not a number" in rejected.reason


def test_control_messages_give_no_documents() -> None:
    control = Payload("CONTROL_MESSAGE", "CloudwatchLogs", "", "", [], [event("CWL CONTROL MESSAGE")])
    assert list(transform.to_documents(control, "mydata")) == []
