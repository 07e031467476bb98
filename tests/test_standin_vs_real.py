"""The stand-in held to a real OpenSearch 2.19 node: the same `_bulk` bodies to both, item by item.

The stand-in stays for what the real node cannot do here (SigV4 checks, injected faults),
so what it answers for ordinary documents must be what a domain answers: the same status
and error type per item. A difference is fixed in harness/standin.py or listed in KEPT with
the reason it stays.
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any

import pytest
from harness import payload_gen
from harness.standin import StandIn

from forwarder.delivery import bulk
from forwarder.delivery.sink import OpenSearchSink
from forwarder.infra.bootstrap import Config
from forwarder.settings import Settings
from forwarder.tools import benchmark
from tests.helpers import RealOpenSearch, restore_standin_credentials

pytestmark = pytest.mark.opensearch

# Sources sent in this order into one new index per case.
CASES: dict[str, list[Any]] = {
    "dotted-key-under-text": [{"a": "x"}, {"a.b": 1}],
    "dotted-key-then-object": [{"a.b": 1}, {"a": {"c": 2}}, {"a": "x"}],
    "object-then-value": [{"o": {"x": 1}}, {"o": "s"}, {"o": 5}],
    "value-then-object": [{"v": "s"}, {"v": {"x": 1}}],
    "long-range": [{"n": 1}, {"n": 9223372036854775807}, {"n": 9223372036854775808}, {"n": 18446744073709551615}],
    "new-field-past-long": [{"k": 9223372036854775808}],
    "numbers-into-long": [{"n": 1}, {"n": "12"}, {"n": "1.5"}, {"n": 1.5}, {"n": "abc"}, {"n": True}, {"n": ""}],
    "numbers-into-float": [{"f": 1.5}, {"f": 2}, {"f": "3.5"}, {"f": "x"}, {"f": False}],
    "booleans": [{"b": True}, {"b": "true"}, {"b": "false"}, {"b": ""}, {"b": "yes"}, {"b": 1}],
    "dates": [
        {"d": "2026-11-22T00:00:00Z"},
        {"d": "2026-11-22"},
        {"d": "2026-11-22T10:00:00.123+01:00"},
        {"d": 1795305600000},
        {"d": "not a date"},
        {"d": True},
    ],
    "date-detection": [{"s1": "2026/11/22"}, {"s2": "2026/11/22 10:00:00"}, {"s3": "22/11/2026"}, {"s4": "2026-11"}],
    "strings-take-anything": [{"t": "x"}, {"t": 5}, {"t": 1.5}, {"t": True}, {"t": {"x": 1}}],
    "nulls-and-arrays": [
        {"x": None},
        {"x": [1, 2]},
        {"x": [3, "4"]},
        {"x": [5, "a"]},
        {"y": [{"a": 1}, {"a": 2}]},
        {"z": [[1, 2], [3]]},
        {"w": []},
        {"x": [None]},
    ],
    "odd-keys": [{"": 1}, {".": 1}, {"a..b": 1}, {"a.": 1}, {".a": 1}, {" ": 1}],
    "metadata-fields-in-source": [{"_id": "x"}, {"_index": "y"}, {"_source": 1}, {"_routing": "r"}, {"_other": 1}],
    "not-objects": [[1, 2], "text", 5, None],
    "new-field-arrays-of-two-kinds": [
        {"p": [1.5, 2]},
        {"q": [1, "a"]},
        {"r": [1, {"a": 1}]},
        {"s": ["2026-11-22", "x"]},
        {"t": [1, True]},
        {"u": [1, None, 2]},
        {"v": [{"a": 1}, 2]},
        {"w": ["x", 1]},
        {"x": [2, 1.5]},
    ],
    "mapped-field-arrays-of-two-kinds": [{"p": 1, "q": 1.5, "r": "s"}, {"p": [1, 2.5], "q": [2, 1.5], "r": [1, "x"]}],
    "object-under-mapped-value-in-array": [{"a": {"b": 1}}, {"a": {"b": [1, {"c": None}]}}],
    "float32-range": [{"f": 1.5}, {"f": 1e39}, {"g": 1e39}, {"h": 3.4e38}],
    "date-detection-then-other": [{"s1": "2026/11/22"}, {"s1": "x"}, {"s2": "2026-11-22"}, {"s2": "x"}],
    "numbers-into-dates": [{"d": "2026-11-22"}, {"d": 1.5}, {"d": "1795305600000"}, {"d": -5}],
    "nested-metadata-names": [{"o": {"_id": 1, "_source": 2}}],
    "more-metadata-fields": [
        {"_version": 1},
        {"_seq_no": 1},
        {"_primary_term": 1},
        {"_field_names": 1},
        {"_ignored": 1},
        {"_type": "t"},
        {"_doc_count": 1},
        {"_nested_path": 1},
        {"_data_stream_timestamp": 1},
        {"_size": 1},
    ],
    "numeric-strings-into-long": [{"n": 1}] + [{"n": text} for text in payload_gen.NUMERIC_LOOKING],
    "numeric-strings-into-float": [{"f": 1.5}] + [{"f": text} for text in payload_gen.NUMERIC_LOOKING],
    "field-limit-counts-keywords": [{f"f{i}": "x" for i in range(500)}, {"one_more": "x"}],
    "field-limit-numbers": [{f"n{i}": i for i in range(999)}, {"n999": 1}, {"n1000": 1}],
}
# Sources that the bootstrap's index template maps up front.
TEMPLATED: list[Any] = [
    {"@timestamp": "2026-11-22T00:00:00.000Z"},
    {"@timestamp": "not a date"},
    {"@timestamp": 1795305600000},
    {"@fields_json": {"a": 1}},
    {"@fields_json": "text"},
    {"@id": 5},
    {"@log_group": {"x": 1}},
    {"@message": 42},
]

# Where the two still differ, and why the stand-in keeps its answer.
KEPT: dict[tuple[str, int], str] = {}


def bulk_body(index: str, sources: list[Any]) -> bytes:
    lines = []
    for number, source in enumerate(sources):
        lines.append(json.dumps({"index": {"_index": index, "_id": str(number)}}))
        lines.append(json.dumps(source))
    return ("\n".join(lines) + "\n").encode()


def item_results(answer: dict[str, Any]) -> list[tuple[int, str]]:
    results = []
    for item in answer["items"]:
        result = next(iter(item.values()))
        results.append((result["status"], result.get("error", {}).get("type", "")))
    return results


@pytest.fixture(autouse=True)
def signed_for_the_standin(real_opensearch: RealOpenSearch, standin: StandIn, monkeypatch: pytest.MonkeyPatch) -> None:
    """The stand-in checks signatures with its own test keys; the real node reads none."""
    restore_standin_credentials(standin, monkeypatch)


def on_standin(standin: StandIn, body: bytes, path: str = "/_bulk") -> dict[str, Any]:
    sink = OpenSearchSink(Settings.from_env(standin.env()))
    answer = sink.post(path, body, {"Content-Type": "application/x-ndjson"})
    assert answer.status == 200, answer.body[:300]
    return json.loads(answer.body)


def on_real(real: RealOpenSearch, body: bytes) -> dict[str, Any]:
    answer: dict[str, Any] = real.client.bulk(body=body)
    return answer


def differences(standin_answer: dict[str, Any], real_answer: dict[str, Any], case: str) -> list[str]:
    ours, theirs = item_results(standin_answer), item_results(real_answer)
    assert len(ours) == len(theirs)
    found = []
    for number, (mine, real) in enumerate(zip(ours, theirs, strict=True)):
        if mine != real and (case, number) not in KEPT:
            reason = next(iter(real_answer["items"][number].values())).get("error", {}).get("reason", "")
            found.append(f"{case}[{number}]: stand-in {mine}, real node {real} ({reason[:160]})")
    return found


def test_documents_get_the_same_answer_item_by_item(real_opensearch: RealOpenSearch, standin: StandIn) -> None:
    found = []
    for case, sources in CASES.items():
        body = bulk_body(f"{real_opensearch.prefix}-{case}", sources)
        found += differences(on_standin(standin, body), on_real(real_opensearch, body), case)
    assert not found, "\n".join(found)


def test_templated_fields_get_the_same_answer(real_opensearch: RealOpenSearch, standin: StandIn) -> None:
    template = Config(real_opensearch.prefix, 30, False)
    real_opensearch.client.indices.put_index_template(name=template.template_name, body=template.index_template())
    sink = OpenSearchSink(Settings.from_env(standin.env()))
    answer = sink.request(
        "PUT", f"/_index_template/{template.template_name}", json.dumps(template.index_template()).encode()
    )
    assert answer.status == 200
    found = []
    for number, source in enumerate(TEMPLATED):
        body = bulk_body(f"{real_opensearch.prefix}-templated-{number}", [source])
        found += differences(on_standin(standin, body), on_real(real_opensearch, body), f"templated-{number}")
    assert not found, "\n".join(found)


def test_the_mixed_parity_shapes_get_the_same_answer(real_opensearch: RealOpenSearch, standin: StandIn) -> None:
    """What the forwarder makes of realistic payloads, conflicts under dynamic mapping included."""
    found = []
    refused = 0
    settings = dataclasses.replace(benchmark.SETTINGS, index_prefix=real_opensearch.prefix)
    for number, payload in enumerate(payload_gen.payloads(seed=21, count=4, events=200)):
        body = benchmark.hot_path(payload_gen.event_for(payload), settings)
        real_answer = on_real(real_opensearch, body)
        refused += sum(status >= 300 for status, _ in item_results(real_answer))
        found += differences(on_standin(standin, body), real_answer, f"parity-{number}")
    assert refused > 0, "the mix is meant to conflict"
    assert not found, "\n".join(found)


def answer_shape(status: int, answer: dict[str, Any]) -> tuple[Any, ...]:
    """What the forwarder reads of an answer, reasons aside: its keys, and each item's keys, status and error type."""
    if not 200 <= status < 300:
        return status, sorted(answer)
    items = [
        (op, sorted(result), result["status"], result.get("error", {}).get("type"))
        for item in answer["items"]
        for op, result in item.items()
    ]
    return status, list(answer), items


def test_the_answer_the_forwarder_asks_for_has_the_real_nodes_shape(
    real_opensearch: RealOpenSearch, standin: StandIn
) -> None:
    """bulk.FILTERED_PATH keeps each item's status and error; an answer refusing the whole request is not filtered."""
    index = f"{real_opensearch.prefix}-filtered"
    conflicts = bulk_body(index, CASES["object-then-value"] + CASES["long-range"])
    all_indexed = bulk_body(f"{index}-ok", [{"n": number, "text": "x" * number} for number in range(100)])
    refused = b'{"index":{"_index":"%s","_type":"x"}}\n{}\n' % index.encode()
    for body in (conflicts, all_indexed, refused, b"not json\n"):
        real = OpenSearchSink(Settings.from_env()).bulk(body)  # the real_opensearch fixture points it at the node
        mine = OpenSearchSink(Settings.from_env(standin.env())).bulk(body)
        real_shape = answer_shape(real.status, json.loads(real.body))
        assert answer_shape(mine.status, json.loads(mine.body)) == real_shape
        if real.status == 200:
            assert real_shape[1] == ["errors", "items"] and all(len(keys) <= 2 for _, keys, _, _ in real_shape[2])
    assert real_shape[0] == 400, "the last body is refused whole"
    assert len(json.loads(real.body)["error"]["reason"]) > 20, "and its reason is not filtered away"
    whole = OpenSearchSink(Settings.from_env()).post(bulk.PLAIN_PATH, all_indexed, {"Content-Type": "application/json"})
    filtered = OpenSearchSink(Settings.from_env()).bulk(all_indexed)
    assert len(filtered.body) < 30 * 100 < 150 * 100 < len(whole.body), "about 25 bytes an item, not ~190"
