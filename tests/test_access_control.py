"""Fine-grained access control on the real security-enabled node (OpenSearch 2.19.4 with the security plugin).

The bootstrap, as the master user of a secret, puts the stack's least-privilege role and its
mapping; the forwarder, as an internal user mapped to that role alone, indexes exactly once and
can do nothing else. The node has no IAM: a backend role's ARN is checked as data in the mapping,
and internal users prove the permissions.
"""

from __future__ import annotations

import itertools
import json
import os
from typing import Any

import boto3
import pytest
from harness import payload_gen, secure_node
from harness.opensearch_node import LocalNode

from forwarder import handler, pipeline
from forwarder.budget import Deadline
from forwarder.errors import NotDeliveredError
from forwarder.infra import access, bootstrap
from forwarder.settings import Settings
from forwarder.sources.decode import decode_data
from forwarder.tools.local import LocalContext
from tests.helpers import FAST_RETRIES, ResponseCatcher, environ

pytestmark = pytest.mark.opensearch
ROLE_ARN = "arn:aws:iam::123456789012:role/logs-forwarder"
_prefixes = itertools.count(1)


def admin(node: LocalNode, method: str, path: str, body: Any = None) -> tuple[int, Any]:
    status, text = secure_node.request(node, method, path, None if body is None else json.dumps(body).encode())
    return status, json.loads(text) if text.startswith(("{", "[")) else text


class Secured:
    """The forwarder's environment for the secure node: an internal user of its own, its secret in moto."""

    def __init__(self, node: LocalNode, moto_server: str, monkeypatch: pytest.MonkeyPatch) -> None:
        self.node, self.prefix = node, f"secure{next(_prefixes)}"
        self.user, self.password = f"{self.prefix}-writer", "Writer-pa55-word!"
        assert admin(node, "PUT", f"/_plugins/_security/api/internalusers/{self.user}", {"password": self.password})[
            0
        ] in (200, 201)
        secrets = boto3.client(
            "secretsmanager", endpoint_url=moto_server, region_name="us-east-1", aws_access_key_id="x",
            aws_secret_access_key="y",
        )  # fmt: skip
        self.user_secret = secrets.create_secret(
            Name=f"{self.prefix}/forwarder", SecretString=json.dumps({"username": self.user, "password": self.password})
        )["ARN"]
        self.master_secret = secrets.create_secret(
            Name=f"{self.prefix}/master",
            SecretString=json.dumps({"username": secure_node.ADMIN_USER, "password": node.admin_password}),
        )["ARN"]
        environ(
            monkeypatch,
            {
                "OPENSEARCH_ENDPOINT": node.url,
                "OPENSEARCH_CA_BUNDLE": str(node.ca),
                "OPENSEARCH_SECRET_ARN": self.user_secret,
                "AWS_ENDPOINT_URL_SECRETS_MANAGER": moto_server,
                "AWS_REGION": "us-east-1",
                "AWS_ACCESS_KEY_ID": "x",
                "AWS_SECRET_ACCESS_KEY": "y",
                "INDEX_PREFIX": self.prefix,
                **FAST_RETRIES,
                "RETRY_MAX_SECONDS": "20",
            },
            "DEAD_LETTER_BUCKET",
            "AWS_SESSION_TOKEN",
        )
        handler.reset_runtime()

    def bootstrap_as_master(self) -> bootstrap.Config:
        """The bootstrap's own path with MasterUserSecretArn: the access, then the index template."""
        properties = {
            "IndexPrefix": self.prefix,
            "RetentionDays": "7",
            "MasterUserSecretArn": self.master_secret,
            "ForwarderRoleArn": ROLE_ARN,
        }
        config = bootstrap.Config.from_properties(properties)
        run, config = bootstrap._bootstrap(config, Settings.from_env(), Deadline(60))
        assert config.access
        run.put_access(config.access)
        run.put_template(config)
        return config

    def count(self) -> int:
        admin(self.node, "POST", f"/{self.prefix}-*/_refresh")
        status, answer = admin(self.node, "GET", f"/{self.prefix}-*/_count")
        return int(answer["count"]) if status == 200 else 0

    def as_user(self, method: str, path: str, body: Any = None) -> int:
        data = None if body is None else json.dumps(body).encode()
        return secure_node.request(self.node, method, path, data, user=self.user, password=self.password)[0]


@pytest.fixture
def secured(secure_node: LocalNode, moto_server: str, monkeypatch: pytest.MonkeyPatch) -> Secured:
    return Secured(secure_node, moto_server, monkeypatch)


def send(events: int, seed: int) -> dict[str, Any]:
    event = payload_gen.event_for(payload_gen.clean_payload(seed=seed, events=events))
    return handler.lambda_handler(event, LocalContext())


def test_the_bootstrap_maps_a_least_privilege_role_and_the_forwarder_indexes_exactly_once(secured: Secured) -> None:
    config = secured.bootstrap_as_master()
    _, roles = admin(secured.node, "GET", f"/_plugins/_security/api/roles/{secured.prefix}-forwarder")
    role = roles[f"{secured.prefix}-forwarder"]
    (index,) = role["index_permissions"]
    assert index["index_patterns"] == [f"{secured.prefix}-*"]
    assert set(index["allowed_actions"]) == set(access.WRITER_INDEX_ACTIONS)
    assert role["cluster_permissions"] == list(access.WRITER_CLUSTER_ACTIONS)
    granted = [*index["allowed_actions"], *role["cluster_permissions"], *index["index_patterns"]]
    assert not {"*", "indices_all", "cluster_all", "all_access"} & set(granted), "no wildcard, no *_all"
    _, mappings = admin(secured.node, "GET", f"/_plugins/_security/api/rolesmapping/{secured.prefix}-forwarder")
    mapping = mappings[f"{secured.prefix}-forwarder"]
    assert mapping["backend_roles"] == [ROLE_ARN], "the forwarder's role ARN, as data: the node has no IAM"
    assert mapping["users"] == [secured.user], "the forwarder's own internal user (OPENSEARCH_SECRET_ARN)"

    first = send(1000, seed=35)
    again = send(1000, seed=35)  # the same events delivered twice, as Lambda may
    assert (first["indexed"], again["indexed"]) == (1000, 1000)
    assert secured.count() == 1000, "each event once: the second delivery overwrote itself by _id"

    secured.bootstrap_as_master()  # an Update: the same role and mapping, not a second of each
    assert admin(secured.node, "GET", f"/_plugins/_security/api/roles/{secured.prefix}-forwarder")[1] == roles
    run, _ = bootstrap._bootstrap(config, Settings.from_env(), Deadline(60))
    assert config.access
    run.remove_access(config.access)  # Delete
    assert admin(secured.node, "GET", f"/_plugins/_security/api/roles/{secured.prefix}-forwarder")[0] == 404
    assert secured.as_user("POST", f"/{secured.prefix}-x/_doc", {"m": 1}) == 403, "unmapped again"


def test_the_forwarders_user_can_do_nothing_else(secured: Secured) -> None:
    secured.bootstrap_as_master()
    assert secured.as_user("POST", f"/{secured.prefix}-x/_doc", {"m": 1}) == 201, "its own prefix: yes"
    assert secured.as_user("PUT", "/.kibana_1/_doc/x", {"m": 1}) == 403
    assert secured.as_user("PUT", "/_cluster/settings", {"persistent": {"cluster.max_shards_per_node": 5}}) == 403
    assert secured.as_user("GET", "/_cat/indices") == 403
    assert secured.as_user("POST", f"/{secured.prefix}-x/_search", {}) == 403, "reading is the reader role's"
    assert secured.as_user("DELETE", f"/{secured.prefix}-x") == 403
    reader = {"users": [secured.user], "backend_roles": [], "hosts": []}
    admin(secured.node, "PUT", f"/_plugins/_security/api/rolesmapping/{secured.prefix}-reader", reader)
    assert secured.as_user("POST", f"/{secured.prefix}-x/_search", {}) == 200, "with the reader role: yes"
    assert secured.as_user("GET", "/_cat/indices") == 403, "and still nothing beyond the prefix"


def test_the_bootstrap_handler_maps_first_and_names_what_the_domain_refused(secured: Secured) -> None:
    """CloudFormation's Create through the real handler: the roles are put before the ISM policy, which this
    node cannot take (Maven Central has no ISM ZIP: docs/development.md), so the answer names that refusal."""
    catcher = ResponseCatcher()
    event = {
        "RequestType": "Create", "ResponseURL": catcher.url, "StackId": "arn:aws:cloudformation:us-east-1:1:stack/s/1",
        "RequestId": "r", "LogicalResourceId": "OpenSearchBootstrap", "ResourceType": "Custom::OpenSearchBootstrap",
        "ResourceProperties": {"IndexPrefix": secured.prefix, "RetentionDays": "7",
                               "MasterUserSecretArn": secured.master_secret, "ForwarderRoleArn": ROLE_ARN},
    }  # fmt: skip
    bootstrap.handler(event, LocalContext())
    (answer,) = catcher.answers
    assert answer["Status"] == "FAILED" and "_plugins/_ism/policies" in answer["Reason"]
    _, mappings = admin(secured.node, "GET", f"/_plugins/_security/api/rolesmapping/{secured.prefix}-forwarder")
    assert mappings[f"{secured.prefix}-forwarder"]["users"] == [secured.user]

    wrong = {"username": "not-the-master", "password": "Not-1t!x"}
    secrets = boto3.client(
        "secretsmanager", endpoint_url=os.environ["AWS_ENDPOINT_URL_SECRETS_MANAGER"], region_name="us-east-1"
    )
    secrets.put_secret_value(SecretId=secured.master_secret, SecretString=json.dumps(wrong))
    bootstrap.handler({**event, "RequestType": "Update", "OldResourceProperties": event["ResourceProperties"]},
                      LocalContext())  # fmt: skip
    refused = catcher.answers[-1]
    assert refused["Status"] == "FAILED" and "MasterUserSecretArn" in refused["Reason"] and "401" in refused["Reason"]
    assert admin(secured.node, "GET", f"/_plugins/_security/api/roles/{secured.prefix}-forwarder")[0] == 200


def test_a_prefix_outside_the_role_creates_nothing_and_says_the_fix(
    secured: Secured, monkeypatch: pytest.MonkeyPatch
) -> None:
    secured.bootstrap_as_master()
    monkeypatch.setenv("INDEX_PREFIX", f"{secured.prefix}x")  # not under <prefix>-*
    handler.reset_runtime()
    payload = decode_data(
        payload_gen.event_for(payload_gen.clean_payload(seed=3, events=20))["awslogs"]["data"], 1 << 24
    )
    with pytest.raises(NotDeliveredError) as refused:
        pipeline.forward_payload(payload, handler.runtime(), Deadline(20))
    report = refused.value.report
    assert report is not None and (report.indexed, report.failed) == (0, 20), "refused: never counted as indexed"
    reason = refused.value.first
    assert "403" in reason and f"may write {secured.prefix}x-*" in reason and "MasterUserSecretArn" in reason
    assert "OPENSEARCH_SECRET_ARN" in reason
    _, listed = admin(secured.node, "GET", f"/_cat/indices/{secured.prefix}x-*?format=json")
    assert listed == [], "no index was made"


def test_only_the_ca_bundle_makes_the_private_ca_trusted(secured: Secured, monkeypatch: pytest.MonkeyPatch) -> None:
    secured.bootstrap_as_master()
    monkeypatch.delenv("OPENSEARCH_CA_BUNDLE")
    handler.reset_runtime()
    payload = decode_data(
        payload_gen.event_for(payload_gen.clean_payload(seed=4, events=5))["awslogs"]["data"], 1 << 24
    )
    with pytest.raises(NotDeliveredError) as refused:
        pipeline.forward_payload(payload, handler.runtime(), Deadline(3))
    assert "CERTIFICATE_VERIFY_FAILED" in refused.value.first + str(refused.value)
    assert secured.count() == 0
