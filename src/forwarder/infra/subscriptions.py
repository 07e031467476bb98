"""Subscribe log groups to the forwarder: by name, and by name prefix, groups made later included.

One function does it, invoked three ways:
- as the stack's custom resource: Create and Update subscribe every named group and every
  group under a prefix (and, on Update, unsubscribe what is no longer chosen); Delete removes
  our filters and permissions, and nothing else;
- by an EventBridge rule on CloudTrail's CreateLogGroup: a new group under a prefix is
  subscribed within seconds;
- hourly: the same sweep as Create, which also catches groups made while no trail
  recorded CreateLogGroup (EventBridge sees those calls only through a trail). A sweep
  of filters, not `forwarder reconcile`, which compares the events themselves.

Each group gets the permission that lets CloudWatch Logs invoke the forwarder, scoped to that
group (or to the prefix), before its filter. A group that already has two filters of others
(CloudWatch's limit) is left alone and reported: a log line at ERROR and the custom resource's
`Full` attribute; our filter is never put in place of another.

Configuration (custom resource properties, or the environment for the other two ways):
    FilterName       LOG_SUBSCRIPTION_FILTER_NAME   ours, e.g. "<stack>-opensearch"
    DestinationArn   FORWARDER_ARN                  the forwarder function
    LogGroupNames    LOG_GROUP_NAMES                comma-separated
    LogGroupPrefixes LOG_GROUP_PREFIXES             comma-separated
    FilterPattern    LOG_FILTER_PATTERN
    EmitSystemFields LOG_EMIT_SYSTEM_FIELDS         e.g. "@aws.account,@aws.region"
    ApplyOnTransformedLogs LOG_APPLY_ON_TRANSFORMED "true" or "false"
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from forwarder import budget
from forwarder.bounded import BoundedClient
from forwarder.budget import Deadline
from forwarder.errors import ForwarderError
from forwarder.infra.cloudformation import Answer, comma_list, serve
from forwarder.log import logger

MAX_FILTERS_PER_GROUP = 2  # CloudWatch Logs' limit
CALL_GRACE_SECONDS = (
    20.0  # of budget.SUBSCRIPTIONS_MARGIN_SECONDS, what a call begun before the deadline may use; 10 s stay to answer
)
CALL_SECONDS = 60.0  # one call's bound when there is no deadline (run outside Lambda)
PERMISSION_WAIT_SECONDS = 30.0  # a new permission can take a few seconds before PutSubscriptionFilter sees it


class SubscriptionError(ForwarderError):
    """The configuration is unusable, or CloudWatch Logs refused a filter."""


@dataclass(frozen=True)
class Config:
    filter_name: str
    destination_arn: str
    names: tuple[str, ...] = ()
    prefixes: tuple[str, ...] = ()
    filter_pattern: str = ""
    emit_system_fields: tuple[str, ...] = ()
    apply_on_transformed_logs: bool = False

    @classmethod
    def from_properties(cls, properties: Mapping[str, Any]) -> Config:
        config = cls(
            filter_name=str(properties.get("FilterName", "")).strip(),
            destination_arn=str(properties.get("DestinationArn", "")).strip(),
            names=comma_list(properties.get("LogGroupNames")),
            prefixes=comma_list(properties.get("LogGroupPrefixes")),
            filter_pattern=str(properties.get("FilterPattern", "")),
            emit_system_fields=comma_list(properties.get("EmitSystemFields")),
            apply_on_transformed_logs=str(properties.get("ApplyOnTransformedLogs", "false")).lower() == "true",
        )
        for name, value in (("FilterName", config.filter_name), ("DestinationArn", config.destination_arn)):
            if not value:
                raise SubscriptionError(f"{name} is missing from the subscription settings")
        return config

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Config:
        env = os.environ if env is None else env
        return cls.from_properties(
            {
                "FilterName": env.get("LOG_SUBSCRIPTION_FILTER_NAME", ""),
                "DestinationArn": env.get("FORWARDER_ARN", ""),
                "LogGroupNames": env.get("LOG_GROUP_NAMES", ""),
                "LogGroupPrefixes": env.get("LOG_GROUP_PREFIXES", ""),
                "FilterPattern": env.get("LOG_FILTER_PATTERN", ""),
                "EmitSystemFields": env.get("LOG_EMIT_SYSTEM_FIELDS", ""),
                "ApplyOnTransformedLogs": env.get("LOG_APPLY_ON_TRANSFORMED", "false"),
            }
        )

    def chooses(self, group: str) -> bool:
        return group in self.names or any(group.startswith(prefix) for prefix in self.prefixes)


@dataclass
class Report:
    subscribed: list[str] = field(default_factory=list)
    full: list[str] = field(default_factory=list)  # two filters of others already: left alone
    missing: list[str] = field(default_factory=list)  # named, but no such group (yet)
    unsubscribed: list[str] = field(default_factory=list)
    pending: list[str] = field(default_factory=list)  # not reached before the deadline: the next run does them

    def as_data(self) -> dict[str, Any]:
        """The custom resource's attributes ("none" rather than empty: a stack output cannot be empty)."""
        return {
            "Subscribed": len(self.subscribed),
            "Full": ",".join(self.full)[:2000] or "none",
            "Missing": ",".join(self.missing)[:2000] or "none",
            "Unsubscribed": len(self.unsubscribed),
            "Pending": len(self.pending),
        }


class Subscriber:
    """CloudWatch Logs filters and the forwarder's resource policy, through botocore clients."""

    def __init__(self, logs: Any, lambda_: Any, deadline: Deadline | None = None) -> None:
        self._logs = BoundedClient(logs, self._call_seconds)
        self._lambda = BoundedClient(lambda_, self._call_seconds)
        self._deadline = deadline
        self._granted: set[str] = set()  # source ARNs granted in this run: one AddPermission each

    def sweep(self, config: Config, previous: Config | None = None) -> Report:
        report = Report()
        wanted = self.chosen_groups(config, report)
        for position, group in enumerate(wanted):
            if self._out_of_time():
                report.pending = wanted[position:]
                logger.warning(
                    "out of time: the next sweep subscribes the rest", extra={"pending": len(report.pending)}
                )
                return report
            self.subscribe(config, group, report)
        if previous:
            for group in self.chosen_groups(previous, Report()):
                if group not in wanted:
                    self.unsubscribe(previous, group, report)
            for source_arn in set(self._source_arns(previous).values()) - set(self._source_arns(config).values()):
                self._remove_permission(previous, source_arn)
        return report

    def remove(self, config: Config) -> Report:
        report = Report()
        for group in self.chosen_groups(config, Report()):
            self.unsubscribe(config, group, report)
        for source_arn in self._source_arns(config).values():
            self._remove_permission(config, source_arn)
        return report

    def _out_of_time(self) -> bool:
        return self._deadline is not None and self._deadline.remaining() <= 0

    def _call_seconds(self) -> float:
        """One API call may use the deadline's time left and the grace past it, never CloudFormation's answer time."""
        return CALL_SECONDS if self._deadline is None else self._deadline.remaining() + CALL_GRACE_SECONDS

    def chosen_groups(self, config: Config, report: Report) -> list[str]:
        return log_groups(self._logs, config.names, config.prefixes, report.missing)

    def subscribe(self, config: Config, group: str, report: Report) -> None:
        filters = self._filters(group)
        if config.filter_name not in filters and len(filters) >= MAX_FILTERS_PER_GROUP:
            report.full.append(group)
            logger.error(
                "log group has two subscription filters already: not subscribed",
                extra={"log_group": group, "filters": sorted(filters)},
            )
            return
        ours = filters.get(config.filter_name)
        current = ours and (ours.get("destinationArn"), ours.get("filterPattern")) == (
            config.destination_arn,
            config.filter_pattern,
        )
        if not current or config.emit_system_fields or config.apply_on_transformed_logs:
            # A filter already as chosen is left as it is: the hourly run over many groups stays short.
            self._add_permission(config, self._source_arn_for(config, group))
            self._put_filter(config, group)
        report.subscribed.append(group)

    def unsubscribe(self, config: Config, group: str, report: Report) -> None:
        if config.filter_name in self._filters(group):
            try:
                self._logs.delete_subscription_filter(logGroupName=group, filterName=config.filter_name)
            except self._logs.exceptions.ResourceNotFoundException:
                return
            report.unsubscribed.append(group)

    # -- CloudWatch Logs ----------------------------------------------------------
    def _filters(self, group: str) -> dict[str, dict[str, Any]]:
        try:
            answer = self._logs.describe_subscription_filters(logGroupName=group)
        except self._logs.exceptions.ResourceNotFoundException:
            return {}
        return {item["filterName"]: item for item in answer.get("subscriptionFilters", [])}

    def _put_filter(self, config: Config, group: str) -> None:
        request: dict[str, Any] = {
            "logGroupName": group,
            "filterName": config.filter_name,
            "filterPattern": config.filter_pattern,
            "destinationArn": config.destination_arn,
        }
        if config.emit_system_fields:
            request["emitSystemFields"] = list(config.emit_system_fields)
        if config.apply_on_transformed_logs:
            request["applyOnTransformedLogs"] = True
        waited_until = time.monotonic() + PERMISSION_WAIT_SECONDS
        while True:
            try:
                self._logs.put_subscription_filter(**request)
                return
            except self._logs.exceptions.InvalidParameterException as err:
                # "Could not execute the lambda function": the permission has not reached Logs yet.
                if "lambda" not in str(err).lower() or time.monotonic() > waited_until or self._out_of_time():
                    raise SubscriptionError(f"{group}: CloudWatch Logs refused the filter: {err}") from err
                time.sleep(2)

    # -- the forwarder's resource policy --------------------------------------------
    def _source_arn_for(self, config: Config, group: str) -> str:
        """The narrowest source a permission can name: the group, or the prefix it was chosen by."""
        chooser = group if group in config.names else next(p for p in config.prefixes if group.startswith(p))
        return self._source_arns(config)[chooser]

    @staticmethod
    def _source_arns(config: Config) -> dict[str, str]:
        """Each name and prefix -> the source ARN of the permission it gets (a name's wins a tie)."""
        # arn:PARTITION:lambda:REGION:ACCOUNT:function:NAME -> arn:PARTITION:logs:REGION:ACCOUNT:log-group:
        _, partition, _, region, account = config.destination_arn.split(":")[:5]
        base = f"arn:{partition}:logs:{region}:{account}:log-group:"
        return {prefix: f"{base}{prefix}*" for prefix in config.prefixes} | {
            name: f"{base}{name}:*" for name in config.names
        }

    def _add_permission(self, config: Config, source_arn: str) -> None:
        if source_arn in self._granted:
            return
        self._granted.add(source_arn)
        account = config.destination_arn.split(":")[4]
        with contextlib.suppress(self._lambda.exceptions.ResourceConflictException):  # there from an earlier run
            self._lambda.add_permission(
                FunctionName=config.destination_arn,
                StatementId=_statement_id(source_arn),
                Action="lambda:InvokeFunction",
                Principal="logs.amazonaws.com",
                SourceArn=source_arn,
                SourceAccount=account,
            )

    def _remove_permission(self, config: Config, source_arn: str) -> None:
        self._granted.discard(source_arn)
        with contextlib.suppress(self._lambda.exceptions.ResourceNotFoundException):
            self._lambda.remove_permission(FunctionName=config.destination_arn, StatementId=_statement_id(source_arn))


def log_groups(logs: Any, names: tuple[str, ...], prefixes: tuple[str, ...], missing: list[str]) -> list[str]:
    """The groups named that exist (the others appended to `missing`), then every group under each prefix."""
    groups: dict[str, None] = {}
    for name in names:
        found = logs.describe_log_groups(logGroupNamePrefix=name).get("logGroups", [])
        if any(group["logGroupName"] == name for group in found):
            groups[name] = None
        else:
            missing.append(name)
    for prefix in prefixes:
        token: dict[str, str] = {}
        while True:  # page by page, each call bounded (a paginator's calls would not be)
            page = logs.describe_log_groups(logGroupNamePrefix=prefix, **token)
            groups.update((group["logGroupName"], None) for group in page.get("logGroups", []))
            if not page.get("nextToken"):
                break
            token = {"nextToken": page["nextToken"]}
    return list(groups)


def _statement_id(source_arn: str) -> str:
    return "logs-" + hashlib.sha256(source_arn.encode()).hexdigest()[:24]


def clients(deadline: Deadline | None = None) -> Subscriber:
    import botocore.session  # here: the forwarder itself never loads it for this
    from botocore.config import Config

    session = botocore.session.get_session()
    config = Config(connect_timeout=5, read_timeout=20, retries={"mode": "standard", "max_attempts": 3})
    logs, lambda_ = session.create_client("logs", config=config), session.create_client("lambda", config=config)
    return Subscriber(logs, lambda_, deadline)


def _deadline(context: Any) -> Deadline | None:
    return Deadline.before_answer(context, budget.SUBSCRIPTIONS_MARGIN_SECONDS)


@logger.inject_lambda_context(clear_state=True)
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """The custom resource, CloudTrail's CreateLogGroup (through EventBridge), or the hourly sweep."""
    if "RequestType" in event:
        _custom_resource(event, context)
        return {}
    config = Config.from_env()
    subscriber = clients(_deadline(context))
    report = Report()
    if event.get("detail-type") == "AWS API Call via CloudTrail":
        group = str((event.get("detail") or {}).get("requestParameters", {}).get("logGroupName", ""))
        if group and config.chooses(group):
            subscriber.subscribe(config, group, report)
    else:
        report = subscriber.sweep(config)
    logger.info("subscriptions", extra={"report": report.as_data(), "subscribed": report.subscribed[:50]})
    return report.as_data()


def _custom_resource(event: dict[str, Any], context: Any) -> None:
    """Do what CloudFormation asks, then answer it, whatever happened."""

    def work(answer: Answer) -> None:
        config = Config.from_properties(event.get("ResourceProperties", {}))
        answer.physical_id = config.filter_name
        subscriber = clients(_deadline(context))
        if event["RequestType"] == "Delete":
            report = subscriber.remove(config)
        else:
            old = event.get("OldResourceProperties")
            previous = Config.from_properties(old) if event["RequestType"] == "Update" and old else None
            report = subscriber.sweep(config, previous)
        answer.data = report.as_data()
        notes = []
        if report.full:
            notes.append(f"not subscribed, two subscription filters there already: {', '.join(report.full)}")
        if report.pending:
            notes.append(f"{len(report.pending)} groups left for the hourly sweep (out of time)")
        answer.reason = "; ".join(notes)[:1000]

    serve(event, context, "log-group-subscriptions", work, "subscriptions")
