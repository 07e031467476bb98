"""The real handler against a real OpenSearch 2.19 node, read back with opensearch-py.

What a domain really stores and refuses: mapping conflicts, the 1,000-field limit,
dotted keys and integers past `long` end in the safe form with the node's own error
types; the bootstrap's index template is applied to new indices; every index name we
build is one the node accepts. Faults (429 storms, drops, 413) and SigV4 checks stay
on the stand-in, which tests/test_standin_vs_real.py holds to this node's answers.
"""

from __future__ import annotations

import json
import os
import string
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from harness import payload_gen
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from opensearchpy.exceptions import RequestError

from forwarder import handler, reports
from forwarder.budget import Deadline
from forwarder.delivery.sink import OpenSearchSink
from forwarder.documents import naming, schema
from forwarder.infra.bootstrap import Bootstrap, Config
from forwarder.settings import Settings
from forwarder.tools.local import LocalContext
from tests.events import GROUP, event_with, one_event
from tests.helpers import RealOpenSearch
from tests.sam import REPO

pytestmark = pytest.mark.opensearch

TS = 1_795_391_999_000  # 2026-11-22T23:59:59Z


def deliver(*log_events: dict, group: str = GROUP) -> dict:
    return handler.lambda_handler(event_with(*log_events, group=group), LocalContext())


def put_template(real: RealOpenSearch, **design: str) -> Config:
    """What the stack's bootstrap does on Create, over the forwarder's own connection."""
    properties = {"IndexPrefix": real.prefix, "RetentionDays": "30", **design}
    config = Config.from_properties(properties)
    Bootstrap(OpenSearchSink(Settings.from_env()), Deadline(30)).put_template(config)
    return config


def test_parity_payloads_are_all_stored_once_and_searchable(real_opensearch: RealOpenSearch) -> None:
    put_template(real_opensearch)
    sent = payload_gen.payloads(seed=7, count=4, events=250)
    totals = {"indexed": 0, "fallback": 0, "dead_lettered": 0, "failed": 0}
    for payload in sent:
        result = handler.lambda_handler(payload_gen.event_for(payload), LocalContext())
        for name in totals:
            totals[name] += result[name]
    ids = [event["id"] for payload in sent for event in payload["logEvents"]]
    assert totals["failed"] == totals["dead_lettered"] == 0
    assert totals["indexed"] + totals["fallback"] == len(ids) == 1000
    stored = real_opensearch.sources()
    assert sorted(stored) == sorted(ids), "every event exactly once, under its CloudWatch id"
    safe = [source for source in stored.values() if "@fallback_reason" in source]
    assert len(safe) == totals["fallback"] > 0, "the mixed shapes conflict under dynamic mapping, as in production"
    hits = real_opensearch.client.search(
        index=f"{real_opensearch.prefix}-*", body={"query": {"match": {"@message": "timeout"}}}, size=10_000
    )["hits"]["hits"]
    assert hits and all("timeout" in hit["_source"]["@message"].lower() for hit in hits)


def test_a_mapping_conflict_stores_the_safe_form_with_the_nodes_reason(real_opensearch: RealOpenSearch) -> None:
    result = deliver(one_event('{"status": 200}', "a"), one_event('{"status": "OK"}', "b"))
    assert (result["indexed"], result["fallback"]) == (1, 1)
    stored = real_opensearch.sources()
    assert stored["a"]["status"] == 200
    assert "status" not in stored["b"]
    assert json.loads(stored["b"]["@fields_json"]) == {"status": "OK"}
    assert stored["b"]["@fallback_reason"].startswith("mapper_parsing_exception: failed to parse field [status]")


def test_the_total_fields_limit_counts_keyword_sub_fields(real_opensearch: RealOpenSearch) -> None:
    # 500 strings map to 1,000 fields (each text field has a .keyword), 501 to 1,002.
    fits = {f"f{i}": "x" for i in range(490)}
    too_many = {f"g{i}": "x" for i in range(11)}
    result = deliver(one_event(json.dumps(fits), "fits"), one_event(json.dumps(too_many), "over"))
    assert (result["indexed"], result["fallback"]) == (1, 1)
    stored = real_opensearch.sources()
    assert "f489" in stored["fits"]
    assert stored["over"]["@fallback_reason"].startswith(
        "illegal_argument_exception: Limit of total fields [1000] has been exceeded"
    )
    assert json.loads(stored["over"]["@fields_json"]) == too_many


def test_a_dotted_key_under_a_text_field_is_refused_and_kept_whole(real_opensearch: RealOpenSearch) -> None:
    result = deliver(one_event('{"a": "x"}', "text"), one_event('{"a.b": 1}', "dotted"))
    assert (result["indexed"], result["fallback"]) == (1, 1)
    stored = real_opensearch.sources()
    assert stored["dotted"]["@fallback_reason"].startswith(
        "mapper_parsing_exception: Could not dynamically add mapping for field [a.b]"
    )
    assert json.loads(stored["dotted"]["@fields_json"]) == {"a.b": 1}


def test_integers_past_long_are_kept_exactly_in_the_safe_form(real_opensearch: RealOpenSearch) -> None:
    # Integers up to 64 bits are written exactly; a long holds 63 bits and a sign.
    result = deliver(
        one_event('{"n": 9223372036854775807}', "max"),
        one_event('{"n": 9223372036854775808}', "over"),
        one_event('{"n": 18446744073709551615}', "u64"),
        one_event('{"f": 18446744073709551616}', "past64"),  # a double from here on, as in JavaScript
    )
    assert (result["indexed"], result["fallback"]) == (2, 2)
    stored = real_opensearch.sources()
    assert stored["max"]["n"] == 9223372036854775807
    assert stored["past64"]["f"] == 1.8446744073709552e19
    for doc_id, digits in (("over", "9223372036854775808"), ("u64", "18446744073709551615")):
        assert "out of range of long" in stored[doc_id]["@fallback_reason"]
        assert f'"n":{digits}' in stored[doc_id]["@fields_json"], "the digits, not a rounded float"


def test_the_bootstraps_template_maps_new_indices_and_its_types_hold(real_opensearch: RealOpenSearch) -> None:
    config = put_template(real_opensearch)
    stored_template = real_opensearch.client.indices.get_index_template(name=config.template_name)
    assert stored_template["index_templates"][0]["index_template"]["index_patterns"] == [f"{real_opensearch.prefix}-*"]
    result = deliver(
        one_event('{"level": "INFO"}', "plain"),
        # @fields_json is text by the template: an object there is refused, then the safe form fits.
        one_event('{"@fields_json": {"nested": 1}}', "clash"),
    )
    assert (result["indexed"], result["fallback"]) == (1, 1)
    (index,) = real_opensearch.client.indices.get(index=f"{real_opensearch.prefix}-*")
    properties = real_opensearch.client.indices.get_mapping(index=index)[index]["mappings"]["properties"]
    assert properties["@timestamp"] == {"type": "date"}
    keyword = {"keyword": {"type": "keyword", "ignore_above": 256}}
    assert properties["@log_group"] == {"type": "keyword", "fields": keyword}
    assert properties["@id"] == {"type": "keyword", "doc_values": False, "fields": keyword}
    assert properties["@fields_json"] == {"type": "text"}
    stored = real_opensearch.sources()
    assert stored["clash"]["@fallback_reason"].startswith("mapper_parsing_exception")
    hits = real_opensearch.client.search(index=index, body={"query": {"term": {"@log_group": GROUP}}}, size=10)["hits"][
        "total"
    ]["value"]
    assert hits == 2, "@log_group is a keyword: the exact group name matches"


def _fields_counted(properties: dict[str, Any]) -> int:
    """The mapped fields as the total-fields limit counts them: each field, object and multi-field."""
    counted = 0
    for mapping in properties.values():
        counted += 1 + len(mapping.get("fields", {})) + _fields_counted(mapping.get("properties", {}))
    return counted


@pytest.mark.parametrize(("profile", "per_string"), [("compatible", 2), ("compact", 1)])
def test_each_profile_makes_indices_the_node_takes_up_to_the_field_limit(
    real_opensearch: RealOpenSearch, profile: str, per_string: int
) -> None:
    put_template(real_opensearch, MappingProfile=profile, IndexReplicas="0", RefreshInterval="30s")
    assert deliver(one_event('{"level": "INFO", "status": 500}', "plain"))["indexed"] == 1
    (index,) = real_opensearch.client.indices.get(index=f"{real_opensearch.prefix}-*")
    settings = real_opensearch.client.indices.get_settings(index=index)[index]["settings"]["index"]
    assert (settings["codec"], settings["refresh_interval"]) == ("best_compression", "30s")
    assert (settings["number_of_shards"], settings["number_of_replicas"]) == ("1", "0")
    assert settings["mapping"]["total_fields"]["limit"] == "1000"
    # Fill the index to its limit, then one more field: the safe form's fields are mapped already.
    mapped = real_opensearch.client.indices.get_mapping(index=index)[index]["mappings"]["properties"]
    room = (1000 - _fields_counted(mapped)) // per_string
    fill = {f"f{i}": "x" for i in range(room)}
    result = deliver(one_event(json.dumps(fill), "fill"), one_event('{"g1": "y", "g2": "z"}', "over"))
    assert (result["indexed"], result["fallback"]) == (1, 1)
    stored = real_opensearch.sources()
    assert stored["over"]["@fallback_reason"].startswith("illegal_argument_exception: Limit of total fields [1000]")
    assert json.loads(stored["over"]["@fields_json"]) == {"g1": "y", "g2": "z"}
    client = real_opensearch.refreshed()

    def count(query: dict[str, Any]) -> int:
        return int(client.count(index=index, body={"query": query})["count"])

    assert count({"term": {"@log_group": GROUP}}) == 3
    assert count({"match": {"@message": "INFO"}}) == 1
    assert count({"term": {"status": 500}}) == 1
    if profile == "compatible":  # what dashboards built on the blueprint's indices ask
        assert count({"term": {"@log_group.keyword": GROUP}}) == 3
        assert count({"match": {"level": "info"}}) == 1
    else:
        assert count({"term": {"level": "INFO"}}) == 1 and count({"ids": {"values": ["plain"]}}) == 1
        with pytest.raises(RequestError, match="not indexed"):  # @id repeats _id: search _id instead
            count({"term": {"@id": "plain"}})


def test_the_bootstraps_template_update_and_delete_on_the_node(real_opensearch: RealOpenSearch) -> None:
    config = put_template(real_opensearch)
    put_template(real_opensearch)  # an Update puts it again: the node takes the same body twice
    bootstrap = Bootstrap(OpenSearchSink(Settings.from_env()), Deadline(30))
    bootstrap.remove_template(config)
    assert real_opensearch.client.indices.exists_index_template(name=config.template_name) is False
    bootstrap.remove_template(config)  # a Delete of what is already gone is no error


def test_the_index_names_of_every_log_group_shape_in_the_tests_are_accepted(real_opensearch: RealOpenSearch) -> None:
    rng = payload_gen.random.Random(3)
    groups = {payload_gen.log_group(rng) for _ in range(40)} | {
        GROUP,
        "/aws/lambda/orders-handler",
        "/aws/eks/prod/cluster",
        "API-Gateway-Execution-Logs_abc123/prod",
        "#weird.Group_name-",
        "/" + "x" * 511,
        "_leading-underscore",
    }
    for number, group in enumerate(sorted(groups)):
        result = deliver(one_event(f"line {number}", f"g{number}"), group=group)
        assert result["indexed"] == 1, group
    assert real_opensearch.count() == len(groups)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(group=st.text(alphabet=string.ascii_letters + string.digits + "._-/#", min_size=1, max_size=512))
def test_any_cloudwatch_log_group_name_makes_an_index_name_the_node_accepts(
    real_opensearch: RealOpenSearch, group: str
) -> None:
    """CloudWatch allows [.-_/#A-Za-z0-9]{1,512} in a log-group name."""
    name = naming.valid_index_name(f"{naming.index_base(group, real_opensearch.prefix)}-2026.11.22")
    answer = real_opensearch.client.index(index=name, body={"@message": "x"}, params={"refresh": "false"})
    assert answer["result"] == "created", name


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    namespace=st.one_of(st.text(max_size=300), st.integers(), st.booleans()),
    date_format=st.sampled_from(schema.DATE_FORMATS),
)
def test_any_field_value_in_an_index_pattern_makes_a_name_the_node_accepts(
    real_opensearch: RealOpenSearch, namespace: object, date_format: str
) -> None:
    """INDEX_PATTERN by a document field: whatever an app logs there, the name is one OpenSearch takes."""
    pattern = naming.IndexPattern.parse("{prefix}-{field.kubernetes.namespace_name}-{date}", date_format)
    facts = naming.Facts(real_opensearch.prefix, GROUP, "s", "123456789012", "us-east-1")
    (name,), _ = pattern.names(facts, [{"kubernetes": {"namespace_name": namespace}}], [{}], [20_414])
    answer = real_opensearch.client.index(index=name, body={"@message": "x"}, params={"refresh": "false"})
    assert answer["result"] == "created", name


def test_a_256_kib_line_and_unicode_are_stored_as_sent(real_opensearch: RealOpenSearch) -> None:
    long_line = ("0123456789abcdef" * 16_384)[: 256 * 1024 - 1] + "\n"
    texts = {
        "long": long_line,
        "cjk": "東京で注文 42 件を処理",
        "emoji": "deploy 🚀 ok ✅",
        "combining": "café vs cafe\u0301",
        "rtl": "שלום عالم",
        "controls": "tab\there\x01and\x1fbell\x07",
        "astral": "\U0001d518\U0001d52b \U0010fffd",  # Fraktur letters and a last-plane code point
    }
    result = deliver(*(one_event(text, doc_id) for doc_id, text in texts.items()))
    assert result["indexed"] == len(texts)
    stored = real_opensearch.sources()
    assert {doc_id: stored[doc_id]["@message"] for doc_id in texts} == texts
    hits = real_opensearch.client.search(
        index=f"{real_opensearch.prefix}-*", body={"query": {"match": {"@message": "東京"}}}
    )["hits"]["hits"]
    assert [hit["_id"] for hit in hits] == ["cjk"]


def test_a_local_run_needs_no_aws_credentials_and_says_it_does_not_sign(
    real_opensearch: RealOpenSearch, tmp_path: Path
) -> None:
    # README's "Try it locally" as a new user runs it: no keys, no profile, no ~/.aws.
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(HOME=str(tmp_path), AWS_REGION="us-east-1", AWS_EC2_METADATA_DISABLED="true")
    done = subprocess.run(
        [Path(sys.executable).parent / "forwarder", "invoke", str(REPO / "events" / "eks-fluentd.json")],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert done.stderr == (
        f"forwarder: warning: no AWS credentials: requests to {real_opensearch.url} go unsigned (a local node "
        "needs none; a domain, even through a tunnel, needs https:// and credentials)\n"
    )
    assert json.loads(done.stdout)["indexed"] == 5 == real_opensearch.count()


def test_backfills_id_check_and_create_op_on_the_node(real_opensearch: RealOpenSearch) -> None:
    """What the stand-in answers for backfill, checked here: the ids query over the prefix, and create's 409."""
    from forwarder import pipeline
    from forwarder.delivery import bulk
    from forwarder.sources.decode import Payload
    from forwarder.tools import backfill

    live = {"id": "e-1", "timestamp": TS, "message": "live", "extractedFields": {"tenant": "t"}}
    assert deliver(live)["indexed"] == 1
    run = handler.runtime()
    real_opensearch.refreshed()  # a search sees what was refreshed: what comes later, create refuses
    assert backfill.already_indexed(run, ["e-1", "e-2"]) == {"e-1"}
    read_back = {"id": "e-1", "timestamp": TS, "message": "live"}
    payload = Payload("DATA_MESSAGE", "123456789012", GROUP, "s-1", [], [read_back, {**read_back, "id": "e-2"}])  # type: ignore[list-item]
    report = pipeline.forward_payload(payload, run, Deadline(30), op=bulk.CREATE)
    assert isinstance(report, reports.Report) and (report.indexed, report.already_indexed) == (1, 1)
    assert real_opensearch.sources()["e-1"]["tenant"] == "t", "the node kept the live document"


def test_a_thousand_tenants_in_one_payload_make_twenty_one_indices_on_the_node(
    real_opensearch: RealOpenSearch, monkeypatch
) -> None:
    """The hostile case that made 1,000 indices: bounded, every event stored once, within one request's time."""
    monkeypatch.setenv("INDEX_PATTERN", "{prefix}-{field.tenant}-{date}")
    handler.reset_runtime()
    events = [one_event(json.dumps({"tenant": f"t{n}"}), f"e-{n}") for n in range(1000)]
    report = deliver(*events)
    assert (report["indexed"], report["failed"]) == (1000, 0)
    indices = real_opensearch.client.cat.indices(index=f"{real_opensearch.prefix}-*", format="json")
    assert len(indices) == 21
    intended = f"{real_opensearch.prefix}-t999-2026.11.22"
    found = real_opensearch.refreshed().search(
        index=f"{real_opensearch.prefix}-overflow-*", body={"query": {"term": {"@intended_index.keyword": intended}}}
    )["hits"]["hits"]
    assert [hit["_id"] for hit in found] == ["e-999"], "the value stays searchable in @intended_index"
    assert real_opensearch.count() == 1000


def test_two_stacks_whose_prefixes_overlap_both_put_their_template_and_the_longer_wins(
    real_opensearch: RealOpenSearch,
) -> None:
    """`team` and `team-payments`: at one priority the node refuses the second template (overlapping patterns)."""
    outer, inner = f"{real_opensearch.prefix}team", f"{real_opensearch.prefix}team-payments"
    bootstrap = Bootstrap(OpenSearchSink(Settings.from_env()), Deadline(30))
    for prefix in (outer, inner):
        bootstrap.put_template(Config(prefix, retention_days=30, retain_on_delete=False))
    client = real_opensearch.client
    client.index(index=f"{inner}-2026.11.22", id="1", body={"@id": 1}, refresh=True)
    mapping = client.indices.get_mapping(index=f"{inner}-2026.11.22")[f"{inner}-2026.11.22"]["mappings"]
    assert mapping["properties"]["@id"]["type"] == "keyword", "the template of the longer prefix"
    for prefix in (inner, outer):
        bootstrap.remove_template(Config(prefix, retention_days=30, retain_on_delete=False))


def test_the_node_has_the_modules_users_tools_call(real_opensearch: RealOpenSearch) -> None:
    """_reindex, _update_by_query, _delete_by_query, ingest pipelines and search templates, as on a domain."""
    client = real_opensearch.client
    source, copy = f"{real_opensearch.prefix}-modules-a", f"{real_opensearch.prefix}-modules-b"
    client.index(index=source, id="1", body={"n": 1, "m": "hello"}, refresh=True)
    assert client.reindex(body={"source": {"index": source}, "dest": {"index": copy}}, refresh=True)["created"] == 1
    updated = client.update_by_query(index=copy, body={"script": {"source": "ctx._source.n = 2"}}, refresh=True)
    assert updated["updated"] == 1 and client.get(index=copy, id="1")["_source"]["n"] == 2
    client.ingest.put_pipeline(
        id=f"{real_opensearch.prefix}-p", body={"processors": [{"set": {"field": "x", "value": 1}}]}
    )
    client.index(index=copy, id="2", body={"n": 3}, pipeline=f"{real_opensearch.prefix}-p", refresh=True)
    assert client.get(index=copy, id="2")["_source"]["x"] == 1
    found = client.search_template(
        index=source, body={"source": {"query": {"match": {"m": "{{q}}"}}}, "params": {"q": "hello"}}
    )
    assert found["hits"]["total"]["value"] == 1
    assert client.delete_by_query(index=copy, body={"query": {"match_all": {}}}, refresh=True)["deleted"] == 2
    client.ingest.delete_pipeline(id=f"{real_opensearch.prefix}-p")
