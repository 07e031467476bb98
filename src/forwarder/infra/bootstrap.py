"""CloudFormation custom resource: the ISM delete policy, the index template, and (with a master user) access.

Create and Update put both (an ISM update needs the policy's `_seq_no` and
`_primary_term`, read first); when the retention changes, the indices already
managed by the old version are moved to the new one with `change_policy`.
Delete removes both, unless `RetainOnDelete` is "true". CloudFormation is
always answered, on failure too and before this function's own timeout, so a
stack never waits an hour for a custom resource.

Resource properties (CloudFormation passes them as strings):
    IndexPrefix       e.g. "mydata": the policy and template cover "<prefix>-*"
    RetentionDays     e.g. "30": indices are deleted this many days after creation
    RetainOnDelete    "true" keeps the policy and template when the stack is deleted
    Revision          any change runs the bootstrap again
    MasterUserSecretArn  a secret {"username", "password"} of the domain's master user: the bootstrap
                      calls as that user and puts the stack's roles and mappings (access.py)
    ForwarderRoleArn, ReconcileRoleArn, BootstrapRoleArn, ForwarderUsers  whom they map; the
                      forwarder's own internal user (OPENSEARCH_SECRET_ARN) is added to ForwarderUsers

Without a master user, a 401/403 (the role not yet mapped under fine-grained access control,
as on a first deploy) is answered SUCCESS with the reason, so that the stack is not rolled back.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field, replace
from typing import Any
from urllib.parse import quote

from forwarder import budget
from forwarder.budget import Deadline
from forwarder.delivery.basic_auth import SecretCredentials
from forwarder.delivery.sink import OpenSearchSink, Response
from forwarder.documents import schema
from forwarder.errors import ForwarderError
from forwarder.infra import access
from forwarder.infra.cloudformation import Answer, comma_list, serve
from forwarder.infra.index_design import IndexDesign
from forwarder.log import logger
from forwarder.settings import Settings

TEMPLATE_PRIORITY = 100  # plus the prefix's length: see Config.priority


class BootstrapError(ForwarderError):
    """OpenSearch refused the policy or the template."""


class NotMappedYetError(BootstrapError):
    """401/403: with fine-grained access control, the role is not mapped in the security plugin yet."""


@dataclass(frozen=True)
class Config:
    index_prefix: str
    retention_days: int
    retain_on_delete: bool
    date_format: str = "daily"  # INDEX_DATE_FORMAT: one index per day, ISO week or month
    design: IndexDesign = field(default_factory=IndexDesign)  # the template's mappings and settings (index_design.py)
    master_secret_arn: str = ""  # with it, the calls are the master user's and the access is put too
    access: access.Access | None = None  # the roles and mappings to put: only with a master user
    bootstrap_role_arn: str = ""  # named in the message when it is refused

    @classmethod
    def from_properties(cls, properties: dict[str, Any]) -> Config:
        prefix = str(properties.get("IndexPrefix", "")).strip()
        if not prefix:
            raise BootstrapError("IndexPrefix is missing from the resource properties")
        try:
            retention = int(str(properties.get("RetentionDays", "")))
        except ValueError:
            retention = 0
        if retention < 1:
            raise BootstrapError(f"RetentionDays={properties.get('RetentionDays')!r}: give a whole number of days >= 1")
        retain = str(properties.get("RetainOnDelete", "false")).strip().lower() == "true"
        date_format = str(properties.get("IndexDateFormat", "daily")).strip().lower() or "daily"
        if date_format not in schema.PERIOD_DAYS:
            raise BootstrapError(f"IndexDateFormat={date_format!r}: give daily, weekly or monthly")
        master = str(properties.get("MasterUserSecretArn", "")).strip()
        forwarder, reconciler = (
            str(properties.get(name, "")).strip() for name in ("ForwarderRoleArn", "ReconcileRoleArn")
        )
        granted = access.Access(
            prefix,
            writer_roles=tuple(filter(None, (forwarder, reconciler))),
            writer_users=comma_list(properties.get("ForwarderUsers")),
            reader_roles=tuple(filter(None, (reconciler,))),
        )
        design = IndexDesign.from_properties(properties)
        bootstrap_role = str(properties.get("BootstrapRoleArn", "")).strip()
        return cls(prefix, retention, retain, date_format, design, master, granted if master else None, bootstrap_role)

    @property
    def priority(self) -> int:
        """The index template's and the ISM template's priority: the longer prefix wins.

        OpenSearch refuses two overlapping templates of the same priority, and stacks with the
        prefixes `team` and `team-payments` overlap (`team-*` matches `team-payments-*`). Two
        different prefixes of the same length never overlap, so their length decides.
        """
        return TEMPLATE_PRIORITY + len(self.index_prefix)

    @property
    def min_index_age_days(self) -> int:
        """When ISM deletes an index: RetentionDays after its last day of writes."""
        return self.retention_days + schema.PERIOD_DAYS[self.date_format]

    @property
    def pattern(self) -> str:
        return f"{self.index_prefix}-*"

    @property
    def policy_id(self) -> str:
        return f"{self.index_prefix}-delete-after-retention"

    @property
    def template_name(self) -> str:
        return f"{self.index_prefix}-logs"

    def policy(self) -> dict[str, Any]:
        return {
            "policy": {
                "description": f"cwl-opensearch-forwarder: delete {self.pattern} after {self.retention_days} days"
                + (
                    f" ({self.date_format} indices: {self.min_index_age_days} days from creation)"
                    if schema.PERIOD_DAYS[self.date_format]
                    else ""
                ),
                "default_state": "hot",
                "states": [
                    {
                        "name": "hot",
                        "actions": [],
                        "transitions": [
                            {"state_name": "delete", "conditions": {"min_index_age": f"{self.min_index_age_days}d"}}
                        ],
                    },
                    {"name": "delete", "actions": [{"delete": {}}], "transitions": []},
                ],
                "ism_template": [{"index_patterns": [self.pattern], "priority": self.priority}],
            }
        }

    def index_template(self) -> dict[str, Any]:
        return {
            "index_patterns": [self.pattern],
            "priority": self.priority,
            "template": {"settings": self.design.settings(), "mappings": self.design.mappings()},
        }


class Bootstrap:
    """The requests, over the forwarder's own signed connection pool."""

    def __init__(self, sink: OpenSearchSink, deadline: Deadline, as_master: bool = False, role_arn: str = "") -> None:
        self._sink = sink
        self._deadline = deadline
        self._as_master = as_master  # calls are the master user's: a 401/403 is the secret's fault
        self._role_arn = role_arn

    def apply(self, config: Config, previous: Config | None) -> dict[str, Any]:
        if config.access:  # first: the forwarder may write as soon as the stack is up
            self.put_access(config.access)
            if previous and previous.access and previous.index_prefix != config.index_prefix:
                self.remove_access(previous.access)
        self._put_policy(config)
        self.put_template(config)
        moved = 0
        if (
            previous
            and previous.policy_id == config.policy_id
            and previous.min_index_age_days != config.min_index_age_days
        ):
            answer = self._call(
                "POST", f"/_plugins/_ism/change_policy/{quote(config.pattern)}", {"policy_id": config.policy_id}
            )
            moved = int(answer.get("updated_indices", 0))
        return {
            "PolicyId": config.policy_id,
            "TemplateName": config.template_name,
            "IndicesMoved": moved,
            **self.shard_bill(config),
        }

    def shard_bill(self, config: Config) -> dict[str, Any]:
        """How many indices the pattern made in the last whole period, and the shards that many make live
        at RetentionDays (docs/deploy.md, "Shards"); empty strings where the count cannot be read."""
        period = max(1, schema.PERIOD_DAYS[config.date_format])  # a week or a month; a day for daily indices
        last = schema.date_suffix(int(time.time() // 86_400) - period, config.date_format)
        try:
            listed = self._call("GET", f"/_cat/indices/{quote(config.pattern)}?format=json&h=index", None, True)
        except BootstrapError as err:  # a count is news, not a reason to fail the deploy
            logger.warning("indices not counted", extra={"reason": str(err)})
            return {"IndicesLastPeriod": "", "ShardsAtRetention": ""}
        names = [row.get("index", "") for row in listed if isinstance(row, dict)] if isinstance(listed, list) else []
        count = sum(1 for name in names if name.endswith(f"-{last}"))
        periods_live = -(-config.min_index_age_days // period) + 1  # the live ones, the one taking writes too
        shards = count * config.design.shards * (1 + config.design.replicas) * periods_live
        return {"IndicesLastPeriod": count, "ShardsAtRetention": shards}

    def remove(self, config: Config) -> None:
        self._call("DELETE", f"/_plugins/_ism/policies/{quote(config.policy_id)}", None, missing_ok=True)
        self.remove_template(config)
        if config.access:
            self.remove_access(config.access)

    def put_access(self, granted: access.Access) -> None:
        for method, path, body in access.requests(granted):
            self._call(method, path, body)

    def remove_access(self, granted: access.Access) -> None:
        for method, path in access.removals(granted):
            self._call(method, path, None, missing_ok=True)

    def put_template(self, config: Config) -> None:
        self._call("PUT", f"/_index_template/{quote(config.template_name)}", config.index_template())

    def remove_template(self, config: Config) -> None:
        self._call("DELETE", f"/_index_template/{quote(config.template_name)}", None, missing_ok=True)

    def _put_policy(self, config: Config) -> None:
        path = f"/_plugins/_ism/policies/{quote(config.policy_id)}"
        current = self._call("GET", path, None, missing_ok=True)
        if current:  # an update must name the version it replaces, or ISM answers 409
            path += f"?if_seq_no={current['_seq_no']}&if_primary_term={current['_primary_term']}"
        self._call("PUT", path, config.policy())

    def _call(self, method: str, path: str, body: dict[str, Any] | None, missing_ok: bool = False) -> Any:
        data = json.dumps(body).encode() if body is not None else b""
        headers = {"Content-Type": "application/json"} if body is not None else {}
        answer: Response = self._sink.request(method, path, data, headers, time_left=self._deadline.remaining())
        if answer.status == 404 and missing_ok:
            return {}
        if answer.status in (401, 403) and self._as_master:
            raise BootstrapError(
                f"{method} {path.split('?')[0]} answered HTTP {answer.status} to the master user of "
                f"MasterUserSecretArn: check that the secret holds the domain's master user ({answer.excerpt()})"
            )
        if answer.status in (401, 403):
            raise NotMappedYetError(
                f"{method} {path.split('?')[0]} answered HTTP {answer.status}: map this function's role "
                f"({self._role_arn or 'the stack output BootstrapRoleArn'}) in OpenSearch's security plugin, then "
                "change BootstrapRevision and deploy again; or give MasterUserSecretArn and the stack maps its roles"
            )
        if not 200 <= answer.status < 300:
            raise BootstrapError(f"{method} {path.split('?')[0]} answered HTTP {answer.status}: {answer.excerpt()}")
        return json.loads(answer.body or b"{}")


@logger.inject_lambda_context(clear_state=True)
def handler(event: dict[str, Any], context: Any) -> None:
    """Do what CloudFormation asks, then answer it, whatever happened."""

    def work(answer: Answer) -> None:
        config = Config.from_properties(event.get("ResourceProperties", {}))
        answer.physical_id = config.policy_id
        settings = Settings.from_env()
        deadline = Deadline.before_answer(context, budget.BOOTSTRAP_MARGIN_SECONDS) or Deadline(
            settings.retry_max_seconds
        )
        run, config = _bootstrap(config, settings, deadline)
        request = event["RequestType"]
        try:
            if request == "Delete":
                if not config.retain_on_delete:
                    run.remove(config)
            else:
                old = event.get("OldResourceProperties")
                answer.data = run.apply(config, Config.from_properties(old) if request == "Update" and old else None)
        except NotMappedYetError as err:
            # The usual first deploy with fine-grained access control: the role can only be mapped
            # once it exists. Failing would roll the whole stack back, so say so and carry on.
            answer.reason = f"ISM policy and index template not made yet: {err}"
            answer.data = {"PolicyId": "", "TemplateName": "", "IndicesMoved": 0, "Pending": answer.reason}
            logger.error("bootstrap pending", extra={"reason": answer.reason})

    serve(event, context, "opensearch-bootstrap", work, "bootstrap", left="policy and template left in place: ")


def _bootstrap(config: Config, settings: Settings, deadline: Deadline) -> tuple[Bootstrap, Config]:
    """Calls as the master user where there is one, else as the function (SigV4, or OPENSEARCH_SECRET_ARN's
    user); with a master user, the forwarder's own internal user is mapped too."""
    if not config.master_secret_arn:
        return Bootstrap(OpenSearchSink(settings), deadline, role_arn=config.bootstrap_role_arn), config
    master = SecretCredentials(config.master_secret_arn, settings.region, setting="MasterUserSecretArn")
    if settings.secret_arn and config.access:
        forwarder = SecretCredentials(settings.secret_arn, settings.region)
        forwarder.header(deadline.remaining())
        users = tuple(dict.fromkeys((*config.access.writer_users, forwarder.username)))
        config = replace(config, access=replace(config.access, writer_users=users))
    return Bootstrap(OpenSearchSink(settings, master), deadline, as_master=True), config
