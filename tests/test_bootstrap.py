"""The CloudFormation custom resource: ISM delete policy and index template, against the stand-in.

Each test sends the event CloudFormation would send and captures the answer the
handler PUTs to the pre-signed ResponseURL (a local server here).
"""

from __future__ import annotations

import re
import time
import traceback
from typing import Any

import pytest
from harness.standin import Fault, StandIn

from forwarder.documents import schema
from forwarder.infra import bootstrap
from forwarder.infra.cloudformation import NotAnsweredError
from forwarder.tools.local import LocalContext
from tests.helpers import ResponseCatcher

POLICY = "mydata-delete-after-retention"


def cfn_event(catcher: ResponseCatcher, request: str, retention: str = "30", **extra: Any) -> dict[str, Any]:
    return {
        "RequestType": request,
        "ResponseURL": catcher.url,
        "StackId": "arn:aws:cloudformation:us-east-1:123456789012:stack/logs/1",
        "RequestId": "req-1",
        "LogicalResourceId": "OpenSearchBootstrap",
        "ResourceType": "Custom::OpenSearchBootstrap",
        "ResourceProperties": {"ServiceToken": "arn:...", "IndexPrefix": "mydata", "RetentionDays": retention},
        **extra,
    }


def test_create_puts_the_delete_policy_and_the_index_template(forwarder_env: StandIn, catcher) -> None:
    bootstrap.handler(cfn_event(catcher, "Create"), LocalContext())
    (answer,) = catcher.answers
    assert answer["Status"] == "SUCCESS" and answer["PhysicalResourceId"] == POLICY
    assert (answer["StackId"], answer["RequestId"], answer["LogicalResourceId"]) == (
        "arn:aws:cloudformation:us-east-1:123456789012:stack/logs/1",
        "req-1",
        "OpenSearchBootstrap",
    )
    assert catcher.content_types == [""], "the pre-signed URL is signed without a content type"
    policy = forwarder_env.ism_policies[POLICY]["policy"]
    assert policy["default_state"] == "hot"
    hot, delete = policy["states"]
    assert hot["transitions"] == [{"state_name": "delete", "conditions": {"min_index_age": "30d"}}]
    assert delete["actions"] == [{"delete": {}}]
    assert policy["ism_template"] == [{"index_patterns": ["mydata-*"], "priority": 106}]
    template = forwarder_env.index_templates["mydata-logs"]
    assert template["index_patterns"] == ["mydata-*"]
    mapped = template["template"]["mappings"]["properties"]
    keyword = {"keyword": {"type": "keyword", "ignore_above": 256}}  # what a dynamic string gets too
    assert mapped["@timestamp"] == {"type": "date"} and mapped["@message"] == {"type": "text", "fields": keyword}
    for name in ("@owner", "@log_group", "@log_stream"):
        assert mapped[name] == {"type": "keyword", "fields": keyword}
    assert mapped["@id"] == {"type": "keyword", "doc_values": False, "fields": keyword}
    assert "@fields_json" in mapped and "@fallback_reason" in mapped
    assert "dynamic_templates" not in template["template"]["mappings"], "compatible: strings as OpenSearch maps them"
    assert template["template"]["settings"] == {
        "index.codec": "best_compression",
        "index.refresh_interval": "5s",
        "index.number_of_shards": 1,
        "index.number_of_replicas": 1,
        "index.mapping.total_fields.limit": 1000,
    }
    assert all(seen.status == 200 or seen.status == 201 or seen.status == 404 for seen in forwarder_env.seen)


def test_update_replaces_the_policy_version_and_moves_managed_indices(forwarder_env: StandIn, catcher) -> None:
    bootstrap.handler(cfn_event(catcher, "Create"), LocalContext())
    forwarder_env.indices["mydata-payments-api-2026.11.22"] = {}
    forwarder_env.indices["other-2026.11.22"] = {}
    old = {"ServiceToken": "arn:...", "IndexPrefix": "mydata", "RetentionDays": "30"}
    event = cfn_event(catcher, "Update", retention="7", PhysicalResourceId=POLICY, OldResourceProperties=old)
    bootstrap.handler(event, LocalContext())
    answer = catcher.answers[-1]
    assert answer["Status"] == "SUCCESS", answer["Reason"]
    assert answer["Data"] == {
        "PolicyId": POLICY,
        "TemplateName": "mydata-logs",
        "IndicesMoved": 1,
        "IndicesLastPeriod": 0,  # mydata-payments-api-2026.11.22 is not yesterday's
        "ShardsAtRetention": 0,
    }
    stored = forwarder_env.ism_policies[POLICY]
    assert stored["version"] == 2
    assert stored["policy"]["states"][0]["transitions"][0]["conditions"] == {"min_index_age": "7d"}
    assert forwarder_env.policy_changes == [("mydata-*", POLICY)]
    put = [seen.path for seen in forwarder_env.seen if seen.method == "PUT" and "policies" in seen.path]
    assert put[-1].startswith(f"/_plugins/_ism/policies/{POLICY}?if_seq_no=") and "if_primary_term=1" in put[-1]


def test_an_update_that_keeps_the_retention_moves_nothing(forwarder_env: StandIn, catcher) -> None:
    bootstrap.handler(cfn_event(catcher, "Create"), LocalContext())
    old = {"IndexPrefix": "mydata", "RetentionDays": "30"}
    bootstrap.handler(cfn_event(catcher, "Update", OldResourceProperties=old), LocalContext())
    assert catcher.answers[-1]["Data"]["IndicesMoved"] == 0 and forwarder_env.policy_changes == []


def test_delete_removes_both_or_keeps_them_when_asked(forwarder_env: StandIn, catcher) -> None:
    bootstrap.handler(cfn_event(catcher, "Create"), LocalContext())
    retained = cfn_event(catcher, "Delete", PhysicalResourceId=POLICY)
    retained["ResourceProperties"]["RetainOnDelete"] = "true"
    bootstrap.handler(retained, LocalContext())
    assert POLICY in forwarder_env.ism_policies and "mydata-logs" in forwarder_env.index_templates
    bootstrap.handler(cfn_event(catcher, "Delete", PhysicalResourceId=POLICY), LocalContext())
    assert forwarder_env.ism_policies == {} and forwarder_env.index_templates == {}
    assert [answer["Status"] for answer in catcher.answers] == ["SUCCESS"] * 3


def test_a_refusal_is_answered_as_failed_with_the_reason(forwarder_env: StandIn, catcher) -> None:
    forwarder_env.request_fault = lambda path: Fault(status=500)
    bootstrap.handler(cfn_event(catcher, "Create"), LocalContext())
    (answer,) = catcher.answers
    assert answer["Status"] == "FAILED"
    assert answer["Reason"].startswith("BootstrapError: GET /_plugins/_ism/policies/mydata-delete-after-retention")
    assert "HTTP 500" in answer["Reason"]


def test_an_unmapped_role_does_not_roll_the_stack_back_and_says_what_to_do(forwarder_env: StandIn, catcher) -> None:
    forwarder_env.request_fault = lambda path: Fault(status=403)
    bootstrap.handler(cfn_event(catcher, "Create"), LocalContext())
    (answer,) = catcher.answers
    assert answer["Status"] == "SUCCESS"
    assert "map this function's role (the stack output BootstrapRoleArn)" in answer["Reason"]
    assert "change BootstrapRevision and deploy again" in answer["Data"]["Pending"]
    forwarder_env.request_fault = None  # mapped; BootstrapRevision changed: CloudFormation sends an Update
    old = {"IndexPrefix": "mydata", "RetentionDays": "30", "Revision": "1"}
    bootstrap.handler(cfn_event(catcher, "Update", OldResourceProperties=old), LocalContext())
    assert catcher.answers[-1]["Status"] == "SUCCESS" and POLICY in forwarder_env.ism_policies


def test_bad_properties_are_answered_as_failed(forwarder_env: StandIn, catcher) -> None:
    bootstrap.handler(cfn_event(catcher, "Create", retention="thirty"), LocalContext())
    (answer,) = catcher.answers
    assert answer["Status"] == "FAILED" and "RetentionDays='thirty'" in answer["Reason"]


@pytest.mark.parametrize(
    ("date_format", "days_back", "periods_live"),
    [("daily", 1, 31), ("weekly", 7, 7), ("monthly", 31, 3)],  # RetentionDays 30: 30 + 1, ceil(37/7) + 1, ...
)
def test_the_answer_names_the_shards_the_last_periods_indices_make_live(
    forwarder_env: StandIn, catcher, date_format: str, days_back: int, periods_live: int
) -> None:
    last = schema.date_suffix(int(time.time() // 86_400) - days_back, date_format)
    for name in ("payments-api", "orders-api", "web"):
        forwarder_env.indices[f"mydata-{name}-{last}"] = {}
    forwarder_env.indices["mydata-web-2020.01.01"] = {}
    forwarder_env.indices[f"other-x-{last}"] = {}
    event = cfn_event(catcher, "Create")
    event["ResourceProperties"].update(IndexDateFormat=date_format, IndexShards="2")
    bootstrap.handler(event, LocalContext())
    data = catcher.answers[0]["Data"]
    assert (data["IndicesLastPeriod"], data["ShardsAtRetention"]) == (3, 3 * 2 * 2 * periods_live)


def test_an_unreadable_index_count_leaves_the_shard_bill_empty_not_the_deploy_failed(
    forwarder_env: StandIn, catcher
) -> None:
    forwarder_env.request_fault = lambda path: Fault(status=403) if "_cat/indices" in path else None
    bootstrap.handler(cfn_event(catcher, "Create"), LocalContext())
    answer = catcher.answers[0]
    assert answer["Status"] == "SUCCESS" and (
        answer["Data"]["IndicesLastPeriod"],
        answer["Data"]["ShardsAtRetention"],
    ) == ("", "")
    assert "mydata-logs" in forwarder_env.index_templates


def test_the_compact_profile_and_its_settings_come_from_the_properties(forwarder_env: StandIn, catcher) -> None:
    event = cfn_event(catcher, "Create")
    event["ResourceProperties"].update(
        MappingProfile="compact", IndexShards="2", IndexReplicas="0", RefreshInterval="30s"
    )
    bootstrap.handler(event, LocalContext())
    assert catcher.answers[0]["Status"] == "SUCCESS"
    template = forwarder_env.index_templates["mydata-logs"]["template"]
    mapped = template["mappings"]["properties"]
    assert mapped["@message"] == {"type": "match_only_text"}
    assert mapped["@id"] == {"type": "keyword", "index": False, "doc_values": False}
    assert mapped["@log_group"] == {"type": "keyword"}
    (strings,) = template["mappings"]["dynamic_templates"]
    assert strings["strings_as_keywords"]["mapping"] == {"type": "keyword", "ignore_above": 1024}
    settings = template["settings"]
    assert (settings["index.number_of_shards"], settings["index.number_of_replicas"]) == (2, 0)
    assert settings["index.refresh_interval"] == "30s"


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("MappingProfile", "smallest"),
        ("IndexShards", "0"),
        ("IndexReplicas", "-1"),
        ("IndexShards", "two"),
        ("RefreshInterval", "5 seconds"),
    ],
)
def test_a_bad_index_design_property_is_failed_in_one_line_and_nothing_is_put(
    forwarder_env: StandIn, catcher, name: str, value: str
) -> None:
    event = cfn_event(catcher, "Create")
    event["ResourceProperties"][name] = value
    bootstrap.handler(event, LocalContext())
    (answer,) = catcher.answers
    assert answer["Status"] == "FAILED" and f"{name}={value!r}" in answer["Reason"] and "\n" not in answer["Reason"]
    assert forwarder_env.seen == [] and forwarder_env.index_templates == {} and forwarder_env.ism_policies == {}


def test_an_unreachable_domain_is_answered_before_the_function_times_out(forwarder_env: StandIn, catcher) -> None:
    forwarder_env.request_fault = lambda path: Fault(delay=30)
    started = time.monotonic()
    bootstrap.handler(cfn_event(catcher, "Create"), LocalContext(timeout_ms=12_000))  # 10 s kept to answer
    elapsed = time.monotonic() - started
    (answer,) = catcher.answers
    assert answer["Status"] == "FAILED" and re.search("ReadTimeoutError|no whole answer", answer["Reason"])
    assert elapsed < 4, elapsed


def test_deleting_a_stack_whose_domain_is_gone_still_succeeds(forwarder_env: StandIn, catcher) -> None:
    forwarder_env.stop()
    bootstrap.handler(cfn_event(catcher, "Delete", PhysicalResourceId=POLICY), LocalContext())
    (answer,) = catcher.answers
    assert answer["Status"] == "SUCCESS" and answer["Reason"].startswith("policy and template left in place")


def test_an_answer_that_cannot_be_sent_never_shows_the_signed_url(forwarder_env: StandIn, capfd) -> None:
    """The pre-signed URL's query is a credential: not in the error, the traceback or any log line."""
    import socket

    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]  # nothing listens there once the socket is closed
    event = {
        "RequestType": "Create",
        "ResponseURL": f"http://127.0.0.1:{port}/cfn-response?X-Amz-Signature=deadbeefcafe&X-Amz-Credential=AKIAEXAMPLE",
        "StackId": "arn:aws:cloudformation:us-east-1:123456789012:stack/logs/1",
        "RequestId": "req-1",
        "LogicalResourceId": "OpenSearchBootstrap",
        "ResourceProperties": {"IndexPrefix": "mydata", "RetentionDays": "30"},
    }
    with pytest.raises(NotAnsweredError) as failed:
        bootstrap.handler(event, LocalContext())
    shown = str(failed.value) + "".join(traceback.format_exception(failed.value)) + "".join(capfd.readouterr())
    assert f"127.0.0.1:{port}/cfn-response" in str(failed.value)
    assert "deadbeefcafe" not in shown and "AKIAEXAMPLE" not in shown


class FewSecondsLeft(LocalContext):
    def get_remaining_time_in_millis(self) -> int:
        return 4_000


def test_an_answer_url_that_never_answers_is_given_up_within_the_functions_time(forwarder_env: StandIn) -> None:
    """An S3 that takes the request and never answers must not hold the function past its timeout."""
    import socket

    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen()  # accepts (the kernel does), never reads, never answers
    event = {
        "RequestType": "Delete",
        "ResponseURL": f"http://127.0.0.1:{silent.getsockname()[1]}/cfn-response?X-Amz-Signature=abc",
        "StackId": "arn:aws:cloudformation:us-east-1:123456789012:stack/logs/1",
        "RequestId": "req-1",
        "LogicalResourceId": "OpenSearchBootstrap",
        "ResourceProperties": {"IndexPrefix": "mydata", "RetentionDays": "30", "RetainOnDelete": "true"},
    }
    started = time.monotonic()
    with pytest.raises(NotAnsweredError, match="ReadTimeoutError"):
        bootstrap.handler(event, FewSecondsLeft())
    assert time.monotonic() - started < 4, "within the 4 s the function has left"
    silent.close()
