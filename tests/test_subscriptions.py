"""Choosing log groups by name and by prefix, against moto's CloudWatch Logs and Lambda.

The subscriptions function as CloudFormation, EventBridge (CloudTrail's CreateLogGroup) and the
hourly schedule invoke it: the right groups get our filter, each after the permission that lets
CloudWatch Logs invoke the forwarder, narrowed to the group or the prefix; a group with two
filters of others is reported and left alone; Update and Delete take away only what is ours.
"""

from __future__ import annotations

import io
import json
import re
import time
import zipfile
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from forwarder import budget
from forwarder.infra import subscriptions
from forwarder.tools.local import LocalContext
from tests.helpers import ResponseCatcher, client_for, environ

REGION, ACCOUNT = "us-east-1", "123456789012"
FILTER = "logs-opensearch"
GROUPS = ["/aws/eks/prod/app-a", "/aws/eks/prod/app-b", "/aws/lambda/checkout", "/aws/lambda/other", "/team/x"]
FULL = "/aws/eks/prod/full"  # two filters of others already


class World:
    def __init__(self) -> None:
        self.logs = boto3.client("logs", region_name=REGION)
        self.lambda_ = boto3.client("lambda", region_name=REGION)
        self.calls: list[tuple[str, str]] = []  # (operation, log group or source ARN), in order
        self.requests: list[tuple[str, dict[str, Any]]] = []  # (operation, its parameters)
        for client in (self.logs, self.lambda_):
            client.meta.events.register("provide-client-params.*.*", self._record)
        role = boto3.client("iam", region_name=REGION).create_role(
            RoleName="forwarder", AssumeRolePolicyDocument="{}", Path="/"
        )["Role"]["Arn"]
        self.forwarder_arn = self._function("forwarder", role)
        self.other_arn = self._function("someone-elses", role)
        for group in [*GROUPS, FULL]:
            self.logs.create_log_group(logGroupName=group)
        for name in ("theirs-1", "theirs-2"):
            self.logs.put_subscription_filter(
                logGroupName=FULL, filterName=name, filterPattern="", destinationArn=self.other_arn
            )
        self.calls.clear()
        self.requests.clear()

    def _function(self, name: str, role: str) -> str:
        code = io.BytesIO()
        with zipfile.ZipFile(code, "w") as archive:
            archive.writestr("index.py", "def handler(event, context):\n    return None\n")
        return str(
            self.lambda_.create_function(
                FunctionName=name,
                Runtime="python3.13",
                Role=role,
                Handler="index.handler",
                Code={"ZipFile": code.getvalue()},
            )["FunctionArn"]
        )

    def _record(self, model: Any, params: dict[str, Any], **_: Any) -> None:
        self.calls.append((model.name, params.get("logGroupName") or params.get("SourceArn") or ""))
        self.requests.append((model.name, dict(params)))

    def config(self, **changes: Any) -> subscriptions.Config:
        base: dict[str, Any] = {
            "filter_name": FILTER,
            "destination_arn": self.forwarder_arn,
            "names": ("/aws/lambda/checkout",),
            "prefixes": ("/aws/eks/prod/",),
        }
        return subscriptions.Config(**{**base, **changes})

    def subscriber(self, deadline: Any = None) -> subscriptions.Subscriber:
        return subscriptions.Subscriber(self.logs, self.lambda_, deadline)

    def ours(self) -> set[str]:
        found = set()
        for group in self.logs.describe_log_groups()["logGroups"]:
            name = group["logGroupName"]
            filters = self.logs.describe_subscription_filters(logGroupName=name)["subscriptionFilters"]
            if any(item["filterName"] == FILTER for item in filters):
                found.add(name)
        return found

    def filters_of(self, group: str) -> dict[str, dict[str, Any]]:
        filters = self.logs.describe_subscription_filters(logGroupName=group)["subscriptionFilters"]
        return {item["filterName"]: item for item in filters}

    def permissions(self) -> dict[str, dict[str, Any]]:
        """SourceArn -> statement of the forwarder's resource policy."""
        try:
            policy = json.loads(self.lambda_.get_policy(FunctionName="forwarder")["Policy"])
        except self.lambda_.exceptions.ResourceNotFoundException:
            return {}
        return {s["Condition"]["ArnLike"]["AWS:SourceArn"]: s for s in policy["Statement"]}


@pytest.fixture
def world(monkeypatch: pytest.MonkeyPatch) -> Iterator[World]:
    credentials = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}
    environ(monkeypatch, {**credentials, "AWS_DEFAULT_REGION": REGION, "AWS_REGION": REGION}, "AWS_SESSION_TOKEN")
    monkeypatch.setattr(subscriptions, "clients", lambda deadline=None: world_now.subscriber(deadline))
    with mock_aws():
        world_now = World()
        yield world_now


def arn(group_or_prefix: str) -> str:
    return f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:{group_or_prefix}"


def test_names_and_prefixes_are_subscribed_each_after_its_narrow_permission(world: World) -> None:
    report = world.subscriber().sweep(world.config())
    assert world.ours() == {"/aws/lambda/checkout", "/aws/eks/prod/app-a", "/aws/eks/prod/app-b"}
    assert sorted(report.subscribed) == sorted(world.ours())
    permissions = world.permissions()
    assert set(permissions) == {arn("/aws/lambda/checkout:*"), arn("/aws/eks/prod/*")}
    for statement in permissions.values():
        assert statement["Principal"] == {"Service": "logs.amazonaws.com"}
        assert statement["Action"] == "lambda:InvokeFunction"
        assert statement["Condition"]["StringEquals"] == {"AWS:SourceAccount": ACCOUNT}
    puts = [(i, group) for i, (operation, group) in enumerate(world.calls) if operation == "PutSubscriptionFilter"]
    for position, group in puts:
        source = arn(f"{group}:*") if group == "/aws/lambda/checkout" else arn("/aws/eks/prod/*")
        granted = [i for i, (operation, value) in enumerate(world.calls) if operation == "AddPermission"]
        assert any(i < position and world.calls[i][1] == source for i in granted), f"{group}: filter before permission"


def test_a_group_with_two_filters_of_others_is_reported_and_left_alone(world: World, capfd) -> None:
    report = world.subscriber().sweep(world.config())
    assert report.full == [FULL]
    assert set(world.filters_of(FULL)) == {"theirs-1", "theirs-2"}
    assert "log group has two subscription filters already" in capfd.readouterr().out


def test_the_filter_carries_the_pattern_and_the_destination(world: World) -> None:
    world.subscriber().sweep(world.config(filter_pattern='{ $.level = "ERROR" }'))
    ours = world.filters_of("/aws/eks/prod/app-a")[FILTER]
    assert ours["destinationArn"] == world.forwarder_arn
    assert ours["filterPattern"] == '{ $.level = "ERROR" }'


def test_system_fields_and_transformed_logs_are_asked_of_cloudwatch_when_chosen(world: World) -> None:
    world.subscriber().sweep(world.config(prefixes=()))
    world.subscriber().sweep(
        world.config(prefixes=(), emit_system_fields=("@aws.account", "@aws.region"), apply_on_transformed_logs=True)
    )
    plain, chosen = [params for name, params in world.requests if name == "PutSubscriptionFilter"]
    assert "emitSystemFields" not in plain and "applyOnTransformedLogs" not in plain
    assert chosen["emitSystemFields"] == ["@aws.account", "@aws.region"] and chosen["applyOnTransformedLogs"] is True


def test_running_again_changes_nothing_and_puts_nothing(world: World) -> None:
    world.subscriber().sweep(world.config())
    before = (world.ours(), world.permissions().keys())
    world.calls.clear()
    again = world.subscriber().sweep(world.config())
    assert (world.ours(), world.permissions().keys()) == before
    assert len(again.subscribed) == 3
    writes = {"PutSubscriptionFilter", "AddPermission", "DeleteSubscriptionFilter", "RemovePermission"}
    assert not [call for call in world.calls if call[0] in writes], "filters already as chosen are left alone"


def test_a_group_created_later_under_a_prefix_is_subscribed_by_the_cloudtrail_event(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in {
        "LOG_SUBSCRIPTION_FILTER_NAME": FILTER,
        "FORWARDER_ARN": world.forwarder_arn,
        "LOG_GROUP_PREFIXES": "/aws/eks/prod/",
        "LOG_GROUP_NAMES": "/aws/lambda/checkout,/aws/lambda/later",
    }.items():
        monkeypatch.setenv(name, value)
    for group in ("/aws/eks/prod/new-app", "/elsewhere/new", "/aws/lambda/later"):
        world.logs.create_log_group(logGroupName=group)
        event = {
            "detail-type": "AWS API Call via CloudTrail",
            "source": "aws.logs",
            "detail": {"eventName": "CreateLogGroup", "requestParameters": {"logGroupName": group}},
        }
        subscriptions.handler(event, LocalContext())
    assert world.ours() == {"/aws/eks/prod/new-app", "/aws/lambda/later"}, "only what the names and prefixes choose"


def test_the_hourly_sweep_catches_groups_no_event_announced(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LOG_SUBSCRIPTION_FILTER_NAME", FILTER)
    monkeypatch.setenv("FORWARDER_ARN", world.forwarder_arn)
    monkeypatch.setenv("LOG_GROUP_PREFIXES", "/aws/eks/prod/")
    world.logs.create_log_group(logGroupName="/aws/eks/prod/quiet")
    scheduled = {"detail-type": "Scheduled Event", "source": "aws.events", "detail": {}}
    data = subscriptions.handler(scheduled, LocalContext())
    assert "/aws/eks/prod/quiet" in world.ours()
    assert data["Subscribed"] == 3 and data["Full"] == FULL


def cfn(catcher: ResponseCatcher, request: str, properties: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {
        "RequestType": request,
        "ResponseURL": catcher.url,
        "StackId": "arn:aws:cloudformation:us-east-1:123456789012:stack/logs/1",
        "RequestId": "req-1",
        "LogicalResourceId": "LogGroupSubscriptions",
        "ResourceType": "Custom::LogGroupSubscriptions",
        "ResourceProperties": {"ServiceToken": "arn:...", **properties},
        **extra,
    }


def test_create_update_and_delete_as_cloudformation_sends_them(world: World, catcher: ResponseCatcher) -> None:
    first = {
        "FilterName": FILTER,
        "DestinationArn": world.forwarder_arn,
        "LogGroupNames": ["/aws/lambda/checkout", "/aws/lambda/not-yet"],
        "LogGroupPrefixes": ["/aws/eks/prod/"],
    }
    subscriptions.handler(cfn(catcher, "Create", first), LocalContext())
    answer = catcher.answers[-1]
    assert answer["Status"] == "SUCCESS" and answer["PhysicalResourceId"] == FILTER
    assert answer["Data"] == {
        "Subscribed": 3,
        "Full": FULL,
        "Missing": "/aws/lambda/not-yet",
        "Unsubscribed": 0,
        "Pending": 0,
    }
    assert FULL in answer["Reason"]

    second = {**first, "LogGroupNames": ["/aws/lambda/other"], "LogGroupPrefixes": []}
    subscriptions.handler(cfn(catcher, "Update", second, OldResourceProperties=first), LocalContext())
    assert catcher.answers[-1]["Status"] == "SUCCESS"
    assert world.ours() == {"/aws/lambda/other"}
    assert set(world.permissions()) == {arn("/aws/lambda/other:*")}, "the old ones taken back"

    subscriptions.handler(cfn(catcher, "Delete", second, PhysicalResourceId=FILTER), LocalContext())
    assert catcher.answers[-1]["Status"] == "SUCCESS"
    assert world.ours() == set() and world.permissions() == {}
    assert set(world.filters_of(FULL)) == {"theirs-1", "theirs-2"}, "others' filters are never touched"


class AlmostOutOfTime(LocalContext):
    def get_remaining_time_in_millis(self) -> int:
        return int((budget.SUBSCRIPTIONS_MARGIN_SECONDS - 1) * 1000)


def test_a_sweep_that_runs_out_of_time_answers_cloudformation_and_leaves_the_rest_to_the_schedule(
    world: World, catcher: ResponseCatcher
) -> None:
    properties = {"FilterName": FILTER, "DestinationArn": world.forwarder_arn, "LogGroupPrefixes": ["/aws/eks/prod/"]}
    subscriptions.handler(cfn(catcher, "Create", properties), AlmostOutOfTime())
    answer = catcher.answers[-1]
    assert answer["Status"] == "SUCCESS", "the stack is not held up; the hourly sweep finishes"
    assert answer["Data"]["Pending"] == 3 and answer["Data"]["Subscribed"] == 0
    assert "3 groups left for the hourly sweep" in answer["Reason"]
    assert world.ours() == set()


def test_bad_properties_are_answered_as_failed(world: World, catcher: ResponseCatcher) -> None:
    subscriptions.handler(cfn(catcher, "Create", {"LogGroupNames": ["/x"]}), LocalContext())
    answer = catcher.answers[-1]
    assert answer["Status"] == "FAILED"
    assert "FilterName is missing" in answer["Reason"]


def test_a_cloudwatch_logs_that_never_answers_is_answered_as_failed_well_before_the_timeout(
    catcher: ResponseCatcher, silent_endpoint: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """botocore's timeouts are per attempt (5 attempts of 5 s + 20 s here): each call is bounded as a whole."""
    environ(monkeypatch, {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}, "AWS_SESSION_TOKEN")
    config = {"connect_timeout": 5, "read_timeout": 20, "retries": {"mode": "standard", "max_attempts": 5}}
    logs, lambda_ = client_for("logs", silent_endpoint, **config), client_for("lambda", silent_endpoint, **config)
    monkeypatch.setattr(
        subscriptions, "clients", lambda deadline=None: subscriptions.Subscriber(logs, lambda_, deadline)
    )
    monkeypatch.setattr(subscriptions, "CALL_GRACE_SECONDS", 1.0)
    context = LocalContext(timeout_ms=int((budget.SUBSCRIPTIONS_MARGIN_SECONDS + 2) * 1000))  # a deadline in 2 s
    properties = {"FilterName": FILTER, "DestinationArn": f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:f"}
    started = time.monotonic()
    subscriptions.handler(cfn(catcher, "Create", {**properties, "LogGroupNames": ["/x"]}), context)
    elapsed = time.monotonic() - started
    answer = catcher.answers[-1]
    assert answer["Status"] == "FAILED"
    assert re.search(r"describe_log_groups: no answer within [23]\.\d s", answer["Reason"]), answer["Reason"]
    assert elapsed < 5, f"{elapsed:.1f} s: the deadline (2 s) and the grace past it (1 s), then the answer"
