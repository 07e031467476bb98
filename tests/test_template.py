"""template.yaml: linted, built without Docker, translated, and deployed into moto's CloudFormation.

The SAM tools live in .venv-sam (`make sam-tools`: SAM CLI pins an older botocore
than the function's). What moto cannot create (subscription filters, the custom
resource, the Lambda's event invoke config) is checked in the translated template.
"""

from __future__ import annotations

import ast
import importlib
import io
import json
import os
import re
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Any

import boto3
import pytest
from harness import payload_gen
from harness.standin import StandIn
from moto import mock_aws

from forwarder.tools import scheduled_reconcile
from tests.sam import ACCOUNT, REGION, REPO, TOOLS_ENV, moved_clock_path, sam_build

LOG_GROUPS = ["/aws/containerinsights/prod/application", "/aws/lambda/checkout"]

pytestmark = pytest.mark.template


def run(args: list[str], **kwargs: Any) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, cwd=REPO, capture_output=True, text=True, env=TOOLS_ENV, timeout=600, **kwargs)


def test_sam_validate_lint_and_cfn_lint_pass(sam_tools: Path) -> None:
    validated = run([str(sam_tools / "sam"), "validate", "--lint", "--region", REGION])
    assert validated.returncode == 0, validated.stdout + validated.stderr
    assert "is a valid SAM Template" in validated.stdout + validated.stderr
    linted = run([str(sam_tools / "cfn-lint"), "template.yaml"])
    assert linted.returncode == 0, linted.stdout + linted.stderr


ELF_AARCH64 = 0xB7  # e_machine, the ELF header's bytes 18-19


def _elf_machine(path: Path) -> int:
    with path.open("rb") as library:
        return int.from_bytes(library.read(20)[18:20], "little")


def test_sam_build_makes_an_arm64_artifact_without_docker(sam_tools: Path, tmp_path: Path) -> None:
    artifact = sam_build(sam_tools, tmp_path / "arm64", "arm64")
    compiled = {path.relative_to(artifact).as_posix(): _elf_machine(path) for path in artifact.rglob("*.so*")}
    assert {"orjson", "isal", "pybase64"} <= {name.split("/")[0] for name in compiled}
    assert {name for name, machine in compiled.items() if machine != ELF_AARCH64} == set(), (
        "wheels for the function's architecture (arm64), not this machine's"
    )
    assert (artifact / "forwarder" / "handler.py").exists() and (artifact / "urllib3").is_dir()
    assert not (artifact / "boto3").exists(), (
        "boto3 is not bundled: the runtime has it and the forwarder does not use it"
    )


def test_the_built_artifact_imports_and_serves_an_event(sam_tools: Path, tmp_path: Path) -> None:
    artifact = sam_build(sam_tools, tmp_path / "x86", "x86_64")  # this machine's architecture, to run it
    handler_modules = {
        name.rsplit(".", 1)[0] for name in re.findall(r"Handler: (\S+)", (REPO / "template.yaml").read_text())
    }
    assert len(handler_modules) == 4, handler_modules
    event = payload_gen.event_for(payload_gen.clean_payload(seed=5, events=50))
    serve = (
        "import json, os, sys\n"
        "if os.environ.get('ANY_DAY_SHIFT_DAYS'):\n"
        "    import sitecustomize  # make test-any-day's moved clock (-S skips it)\n"
        "import importlib\n"
        "for name in sys.argv[2].split(','):  # every function's handler module, with what it imports\n"
        "    assert importlib.import_module(name).__file__.startswith(sys.argv[1]), name\n"
        "from forwarder import handler\n"
        "class Context:\n"
        "    function_name, memory_limit_in_mb, function_version = 'f', 256, '$LATEST'\n"
        "    invoked_function_arn, aws_request_id = 'arn:aws:lambda:us-east-1:0:function:f', 'r'\n"
        "    def get_remaining_time_in_millis(self): return 60_000\n"
        "print(json.dumps(handler.lambda_handler(json.loads(sys.stdin.read()), Context())))\n"
    )
    with StandIn() as standin:
        env = {
            "PATH": os.environ["PATH"],
            # Only the artifact, the Lambda runtime's view (and under test-any-day what moves the clock).
            "PYTHONPATH": os.pathsep.join([str(artifact), *moved_clock_path(tmp_path / "clock")]),
            **{key: value for key, value in os.environ.items() if key == "ANY_DAY_SHIFT_DAYS"},
            "AWS_LAMBDA_FUNCTION_NAME": "forwarder",
            **standin.env(),
        }
        python = Path(sys.base_exec_prefix) / "bin" / "python3.13"
        done = subprocess.run(
            [str(python), "-S", "-c", serve, str(artifact), ",".join(handler_modules)],  # -S: only the artifact
            input=json.dumps(event),
            capture_output=True,
            text=True,
            env=env,
            timeout=120,
        )
        assert done.returncode == 0, done.stderr
        result = json.loads(done.stdout.splitlines()[-1])
        assert (result["status"], result["indexed"]) == ("ok", 50) and standin.count() == 50


@pytest.fixture(scope="module")
def translated(sam_tools: Path) -> dict[str, Any]:
    done = run(
        [
            str(sam_tools / "python"),
            "tests/sam_translate.py",
            "template.yaml",
            "s3://forwarder-code/forwarder.zip",
        ]
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def resources_of(template: dict[str, Any], kind: str) -> dict[str, dict[str, Any]]:
    return {name: body for name, body in template["Resources"].items() if body["Type"] == kind}


def test_named_and_prefixed_groups_are_left_to_the_subscriptions_function(translated: dict[str, Any]) -> None:
    """No filter or permission in the template itself: the function puts each permission before its filter."""
    assert not resources_of(translated, "AWS::Logs::SubscriptionFilter")
    (subscriptions,) = resources_of(translated, "Custom::LogGroupSubscriptions").values()
    assert subscriptions["Condition"] == "SubscribesGroups"
    properties = subscriptions["Properties"]
    assert properties["ServiceToken"] == {"Fn::GetAtt": ["SubscriptionsFunction", "Arn"]}
    assert properties["DestinationArn"] == {"Fn::GetAtt": ["ForwarderFunction", "Arn"]}
    assert (properties["LogGroupNames"], properties["LogGroupPrefixes"]) == (
        {"Ref": "LogGroupNames"},
        {"Ref": "LogGroupPrefixes"},
    )
    assert properties["FilterName"] == {"Fn::Sub": "${AWS::StackName}-opensearch"}
    assert (properties["EmitSystemFields"], properties["ApplyOnTransformedLogs"]) == (
        {"Ref": "EmitSystemFields"},
        {"Ref": "ApplyOnTransformedLogs"},
    )
    function = translated["Resources"]["SubscriptionsFunction"]["Properties"]
    assert function["Handler"] == "forwarder.infra.subscriptions.handler"
    rules = resources_of(translated, "AWS::Events::Rule")
    patterns = [body["Properties"].get("EventPattern") for body in rules.values()]
    assert {
        "source": ["aws.logs"],
        "detail-type": ["AWS API Call via CloudTrail"],
        "detail": {"eventSource": ["logs.amazonaws.com"], "eventName": ["CreateLogGroup"]},
    } in patterns
    assert "rate(1 hour)" in [body["Properties"].get("ScheduleExpression") for body in rules.values()]


def test_account_wide_is_one_policy_after_its_permission_leaving_our_own_groups_out(
    translated: dict[str, Any],
) -> None:
    policy = translated["Resources"]["AccountSubscriptionPolicy"]
    assert policy["Condition"] == "SubscribesAccount" and policy["DependsOn"] == "AccountPolicyPermission"
    properties = policy["Properties"]
    assert (properties["PolicyType"], properties["Scope"]) == ("SUBSCRIPTION_FILTER_POLICY", "ALL")
    document = properties["PolicyDocument"]["Fn::ToJsonString"]  # escaped by CloudFormation: a pattern may hold quotes
    assert document["DestinationArn"] == {"Fn::GetAtt": ["ForwarderFunction", "Arn"]}
    assert document["FilterPattern"] == {"Ref": "FilterPattern"}
    template, names = properties["SelectionCriteria"]["Fn::Sub"]
    assert template == 'LogGroupName NOT IN ["${Names}"]'
    own = names["Names"]["Fn::Join"][1]
    assert own[0] == {"Ref": "ForwarderLogGroup"}
    assert {"Fn::Sub": "/aws/lambda/${AWS::StackName}-bootstrap"} in own
    assert {"Fn::Sub": "/aws/lambda/${AWS::StackName}-subscriptions"} in own
    assert own[-1] == {"Fn::Join": ['", "', {"Ref": "ExcludedLogGroups"}]}
    for logical, group in (("BootstrapLogGroup", "bootstrap"), ("SubscriptionsLogGroup", "subscriptions")):
        assert translated["Resources"][logical]["Properties"]["LogGroupName"] == {
            "Fn::Sub": f"/aws/lambda/${{AWS::StackName}}-{group}"
        }, "the names the exclusion list gives are the functions' own"
    permission = translated["Resources"]["AccountPolicyPermission"]["Properties"]
    assert permission["Principal"] == "logs.amazonaws.com"
    assert permission["SourceAccount"] == {"Ref": "AWS::AccountId"}
    assert permission["SourceArn"] == {
        "Fn::Sub": "arn:${AWS::Partition}:logs:${AWS::Region}:${AWS::AccountId}:log-group:*"
    }


def test_one_way_to_choose_log_groups_is_required_and_account_wide_stands_alone(translated: dict[str, Any]) -> None:
    rules = translated["Rules"]
    assert "ChooseLogGroups" in rules and "AccountWideAlone" in rules
    for name in ("LogGroupNames", "LogGroupPrefixes", "ExcludedLogGroups"):
        assert translated["Parameters"][name]["Default"] == ""


def test_the_custom_resource_and_async_invoke_config(translated: dict[str, Any]) -> None:
    (bootstrap,) = resources_of(translated, "Custom::OpenSearchBootstrap").values()
    assert bootstrap["Condition"] == "IsDomain"
    assert bootstrap["Properties"]["ServiceToken"] == {"Fn::GetAtt": ["BootstrapFunction", "Arn"]}
    assert set(bootstrap["Properties"]) == {
        "ServiceToken",
        "IndexPrefix",
        "RetentionDays",
        "IndexDateFormat",
        "MappingProfile",
        "IndexShards",
        "IndexReplicas",
        "RefreshInterval",
        "RetainOnDelete",
        "Revision",
        "MasterUserSecretArn",
        "ForwarderRoleArn",
        "BootstrapRoleArn",
        "ReconcileRoleArn",
    }
    (invoke,) = resources_of(translated, "AWS::Lambda::EventInvokeConfig").values()
    assert invoke["Properties"]["MaximumRetryAttempts"] == 2
    destination = invoke["Properties"]["DestinationConfig"]["OnFailure"]["Destination"]
    assert destination == {"Fn::GetAtt": ["OnFailureQueue", "Arn"]}


def role_statements(template: dict[str, Any], role: str, conditional: bool = False) -> list[dict[str, Any]]:
    """The statements of a role's inline policies (`conditional`: only the true sides of its !If statements)."""
    body = template["Resources"][role]["Properties"]
    statements = [
        statement for policy in body.get("Policies", []) for statement in policy["PolicyDocument"]["Statement"]
    ]
    if not conditional:
        return statements
    return [statement["Fn::If"][1] for statement in statements if "Fn::If" in statement]


def actions_of(statements: list[dict[str, Any]]) -> set[str]:
    found: set[str] = set()
    for statement in statements:
        for branch in statement.get("Fn::If", [None, statement])[1:]:  # both sides of an !If statement
            if branch == {"Ref": "AWS::NoValue"}:
                continue
            action = branch["Action"]
            found.update([action] if isinstance(action, str) else action)
    return found


def calls_in(module: str, client: str) -> set[str]:
    """The botocore operations a module calls on `self.<client>` or on a variable `<client>`, as IAM actions'
    names (PutSubscriptionFilter)."""
    source = Path(importlib.import_module(module).__file__ or "").read_text()
    names = re.findall(rf"(?:self\.|\b){client}\.(\w+)\(", source)
    names += re.findall(rf'(?:self\.|\b){client}\.get_paginator\("(\w+)"\)', source)
    return {"".join(part.title() for part in name.split("_")) for name in names if name != "get_paginator"}


def test_least_privilege_no_action_the_code_never_calls(translated: dict[str, Any]) -> None:
    forwarder = role_statements(translated, "ForwarderRole")
    assert actions_of(forwarder) == {"es:ESHttpPost", "aoss:APIAccessAll", "s3:PutObject", "sqs:SendMessage"}
    (domain,) = [s for s in forwarder if "Fn::If" in s]
    assert domain["Fn::If"][2]["Resource"]["Fn::Sub"].endswith("domain/${OpenSearchDomainName}/_bulk")

    bootstrap = role_statements(translated, "BootstrapRole")
    named = {
        resource["Fn::Sub"].split("${OpenSearchDomainName}/")[1]
        for statement in bootstrap
        if "Fn::If" not in statement  # the master user's secret (test_with_a_master_user...)
        for resource in (statement["Resource"] if isinstance(statement["Resource"], list) else [statement["Resource"]])
    }
    assert named == {
        "_plugins/_ism/policies/${IndexPrefix}-delete-after-retention",
        "_index_template/${IndexPrefix}-logs",
        "_plugins/_ism/change_policy/${IndexPrefix}-*",
        "_cat/indices/${IndexPrefix}-*",  # counted for the shard bill, read only
    }, "the bootstrap may touch its own policy, template and indices only"
    assert actions_of(bootstrap) == {
        "es:ESHttpGet",
        "es:ESHttpPut",
        "es:ESHttpDelete",
        "es:ESHttpPost",
        "secretsmanager:GetSecretValue",  # the master user's, only where MasterUserSecretArn is given
    }

    subscriber = role_statements(translated, "SubscriptionsRole")
    logs = {action for action in actions_of(subscriber) if action.startswith("logs:")}
    called = calls_in("forwarder.infra.subscriptions", "_logs") | calls_in("forwarder.infra.subscriptions", "logs")
    assert logs == {f"logs:{name}" for name in called}
    lambda_ = {action for action in actions_of(subscriber) if action.startswith("lambda:")}
    assert lambda_ == {f"lambda:{name}" for name in calls_in("forwarder.infra.subscriptions", "_lambda")}
    (grant,) = [s for s in subscriber if s["Action"] == ["lambda:AddPermission", "lambda:RemovePermission"]]
    assert grant["Resource"] == {"Fn::GetAtt": ["ForwarderFunction", "Arn"]}, "permissions on the forwarder only"


MOTO_CANNOT = {
    "Custom::LogGroupSubscriptions",
    "AWS::Logs::AccountPolicy",
    "Custom::OpenSearchBootstrap",
    "AWS::Lambda::EventInvokeConfig",
    "AWS::S3::BucketPolicy",
    "AWS::Logs::MetricFilter",
    "AWS::CloudWatch::Alarm",
}


def deployable(template: dict[str, Any]) -> dict[str, Any]:
    template = json.loads(json.dumps(template))
    template["Resources"] = {
        name: body for name, body in template["Resources"].items() if body["Type"] not in MOTO_CANNOT
    }
    template.pop("Rules", None)  # moto does not evaluate template rules
    template["Outputs"] = {
        name: body
        for name, body in template.get("Outputs", {}).items()
        if body["Value"].get("Fn::GetAtt", [None])[0] in (None, *template["Resources"])
    }
    return template


def deploy_into_moto(template: dict[str, Any], more: dict[str, str] | None = None) -> dict[str, str]:
    s3 = boto3.client("s3", region_name=REGION)
    s3.create_bucket(Bucket="forwarder-code")
    code = io.BytesIO()
    with zipfile.ZipFile(code, "w") as archive:
        archive.writestr("forwarder/__init__.py", "")
    s3.put_object(Bucket="forwarder-code", Key="forwarder.zip", Body=code.getvalue())
    cloudformation = boto3.client("cloudformation", region_name=REGION)
    parameters = {
        "OpenSearchEndpoint": "https://vpc-logs-abc.us-east-1.es.amazonaws.com",
        "OpenSearchDomainName": "logs",
        "LogGroupNames": ",".join(LOG_GROUPS),
        "AlarmEmail": "oncall@example.com",
        **(more or {}),
    }
    cloudformation.create_stack(
        StackName="forwarder",
        TemplateBody=json.dumps(deployable(template)),
        Parameters=[{"ParameterKey": key, "ParameterValue": value} for key, value in parameters.items()],
        Capabilities=["CAPABILITY_NAMED_IAM", "CAPABILITY_AUTO_EXPAND"],
    )
    stack = cloudformation.describe_stacks(StackName="forwarder")["Stacks"][0]
    assert stack["StackStatus"] == "CREATE_COMPLETE", stack.get("StackStatusReason")
    listed = cloudformation.list_stack_resources(StackName="forwarder")["StackResourceSummaries"]
    return {item["LogicalResourceId"]: item["PhysicalResourceId"] for item in listed}


def test_the_translated_template_deploys_into_moto(translated: dict[str, Any], monkeypatch) -> None:
    with mock_aws():
        physical = deploy_into_moto(translated)
        lambda_ = boto3.client("lambda", region_name=REGION)
        function = lambda_.get_function_configuration(FunctionName=physical["ForwarderFunction"])
        assert (function["Runtime"], function["Handler"]) == ("python3.13", "forwarder.handler.lambda_handler")
        assert (function["Timeout"], function["MemorySize"]) == (300, 256)
        variables = function["Environment"]["Variables"]
        assert variables["DEAD_LETTER_BUCKET"] == physical["DeadLetterBucket"]
        assert variables["OPENSEARCH_ENDPOINT"] == "https://vpc-logs-abc.us-east-1.es.amazonaws.com"
        assert (variables["OPENSEARCH_SERVICE"], variables["INDEX_PREFIX"]) == ("es", "mydata")

        subscriber = lambda_.get_function_configuration(FunctionName=physical["SubscriptionsFunction"])
        assert subscriber["Handler"] == "forwarder.infra.subscriptions.handler"
        chosen = subscriber["Environment"]["Variables"]
        assert chosen["LOG_GROUP_NAMES"] == ",".join(LOG_GROUPS)
        assert chosen["FORWARDER_ARN"] == function["FunctionArn"]
        assert chosen["LOG_SUBSCRIPTION_FILTER_NAME"] == "forwarder-opensearch"

        iam = boto3.client("iam", region_name=REGION)
        role_name = function["Role"].rsplit("/", 1)[-1]
        assert role_name == "forwarder-forwarder", "<stack>-forwarder: known, so it can be mapped before deploying"
        statements = []
        for name in iam.list_role_policies(RoleName=role_name)["PolicyNames"]:
            document = iam.get_role_policy(RoleName=role_name, PolicyName=name)["PolicyDocument"]
            if isinstance(document, str):  # moto keeps a policy from CloudFormation as the str() of its dict
                document = ast.literal_eval(document)
            statements += document["Statement"]
        granted = {json.dumps(statement["Action"]): statement["Resource"] for statement in statements}
        assert granted == {
            '"es:ESHttpPost"': f"arn:aws:es:{REGION}:{ACCOUNT}:domain/logs/_bulk",
            '"s3:PutObject"': f"arn:aws:s3:::{physical['DeadLetterBucket']}/*",
            '"sqs:SendMessage"': f"arn:aws:sqs:{REGION}:{ACCOUNT}:{physical['OnFailureQueue'].rsplit('/', 1)[-1]}",
        }, "nothing with * that can be narrowed"

        s3 = boto3.client("s3", region_name=REGION)
        bucket = physical["DeadLetterBucket"]
        encryption = s3.get_bucket_encryption(Bucket=bucket)["ServerSideEncryptionConfiguration"]["Rules"][0]
        assert encryption["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"] == "AES256"

        sqs = boto3.client("sqs", region_name=REGION)
        queue = sqs.get_queue_attributes(QueueUrl=physical["OnFailureQueue"], AttributeNames=["All"])["Attributes"]
        assert queue["SqsManagedSseEnabled"] == "true" and queue["MessageRetentionPeriod"] == "1209600"

        assert physical["AlarmTopic"].startswith(f"arn:aws:sns:{REGION}:{ACCOUNT}:")


def test_arm64_alarms_metric_filter_and_a_private_tls_only_bucket(translated: dict[str, Any]) -> None:
    """What moto's CloudFormation does not create, read from the translated template."""
    function = translated["Resources"]["ForwarderFunction"]["Properties"]
    assert function["Architectures"] == [{"Ref": "Architecture"}]
    assert translated["Parameters"]["Architecture"]["Default"] == "arm64"
    alarms = resources_of(translated, "AWS::CloudWatch::Alarm")
    assert {body["Properties"].get("MetricName") for body in alarms.values()} == {
        "Errors",
        "DeadLetteredDocuments",
        "ApproximateNumberOfMessagesVisible",
        None,  # the reconcile alarm, on two metrics (test_the_scheduled_reconcile...)
    }
    for body in alarms.values():
        assert body["Properties"]["AlarmActions"] == {
            "Fn::If": ["HasAlarmEmail", [{"Ref": "AlarmTopic"}], {"Ref": "AWS::NoValue"}]
        }
    (metric,) = resources_of(translated, "AWS::Logs::MetricFilter").values()
    assert metric["Properties"]["FilterPattern"] == '{ $.message = "bulk report" && $.report.dead_lettered > 0 }'
    assert metric["Properties"]["MetricTransformations"][0]["MetricValue"] == "$.report.dead_lettered"
    bucket = translated["Resources"]["DeadLetterBucket"]["Properties"]
    blocked = bucket["PublicAccessBlockConfiguration"]  # moto's CloudFormation does not apply it
    assert set(blocked) == {"BlockPublicAcls", "BlockPublicPolicy", "IgnorePublicAcls", "RestrictPublicBuckets"}
    assert all(value is True for value in blocked.values())
    (rule,) = bucket["LifecycleConfiguration"]["Rules"]  # nor the lifecycle
    assert rule["ExpirationInDays"] == {"Ref": "DeadLetterExpirationDays"} and rule["Status"] == "Enabled"
    assert translated["Parameters"]["DeadLetterExpirationDays"]["Default"] == 90
    (policy,) = resources_of(translated, "AWS::S3::BucketPolicy").values()
    (statement,) = policy["Properties"]["PolicyDocument"]["Statement"]
    assert statement["Effect"] == "Deny" and statement["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}


def test_cloudwatch_alarms_can_publish_to_the_encrypted_alarm_topic(translated: dict[str, Any]) -> None:
    """An AWS-managed key (alias/aws/sns) would drop every alarm: its policy cannot admit CloudWatch."""
    topic = translated["Resources"]["AlarmTopic"]["Properties"]
    key_ref = topic["KmsMasterKeyId"]
    assert not (isinstance(key_ref, str) and key_ref.startswith("alias/aws/")), key_ref
    key = translated["Resources"][key_ref["Ref"]]
    assert key["Type"] == "AWS::KMS::Key" and key["Condition"] == "HasAlarmEmail"
    grants = [
        statement
        for statement in key["Properties"]["KeyPolicy"]["Statement"]
        if statement["Principal"] == {"Service": "cloudwatch.amazonaws.com"} and statement["Effect"] == "Allow"
    ]
    (grant,) = grants
    assert set(grant["Action"]) == {"kms:Decrypt", "kms:GenerateDataKey*"}
    assert grant["Condition"] == {"StringEquals": {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}}


def test_a_kinesis_stream_is_consumed_with_partial_batch_failures(translated: dict[str, Any]) -> None:
    (mapping,) = resources_of(translated, "AWS::Lambda::EventSourceMapping").values()
    assert mapping["Condition"] == "HasStream" and mapping["DependsOn"] == "StreamReadPolicy"
    assert mapping["Properties"]["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert mapping["Properties"]["EventSourceArn"] == {"Ref": "KinesisStreamArn"}
    policy = translated["Resources"]["StreamReadPolicy"]
    (statement,) = policy["Properties"]["PolicyDocument"]["Statement"]
    assert statement["Resource"] == {"Ref": "KinesisStreamArn"} and "kinesis:GetRecords" in statement["Action"]


def test_an_internal_users_secret_is_readable_by_both_functions_and_nothing_else(translated: dict[str, Any]) -> None:
    policy = translated["Resources"]["SecretReadPolicy"]
    assert policy["Condition"] == "HasSecret"
    (statement,) = policy["Properties"]["PolicyDocument"]["Statement"]
    assert (statement["Action"], statement["Resource"]) == (
        "secretsmanager:GetSecretValue",
        {"Ref": "OpenSearchSecretArn"},
    )
    variables = translated["Resources"]["ForwarderFunction"]["Properties"]["Environment"]["Variables"]
    assert variables["OPENSEARCH_SECRET_ARN"] == {"Ref": "OpenSearchSecretArn"}


def test_the_scheduled_reconcile_reads_the_chosen_groups_and_its_alarm_watches_what_it_emits(
    translated: dict[str, Any],
) -> None:
    function = translated["Resources"]["ReconcileFunction"]
    assert function["Condition"] == "Reconciles"
    assert translated["Conditions"]["Reconciles"]["Fn::And"][1:] == [{"Condition": "SubscribesGroups"},
                                                                     {"Condition": "IsDomain"}]  # fmt: skip
    properties = function["Properties"]
    assert (properties["Handler"], properties["Timeout"]) == ("forwarder.tools.scheduled_reconcile.handler", 900)
    variables = properties["Environment"]["Variables"]
    assert variables["LOG_FILTER_PATTERN"] == {"Ref": "FilterPattern"}, "what the subscription delivers, no more"
    assert variables["DEAD_LETTER_BUCKET"] == {"Ref": "DeadLetterBucket"}
    (rule,) = [body for body in resources_of(translated, "AWS::Events::Rule").values()
               if body["Properties"]["Targets"][0]["Arn"] == {"Fn::GetAtt": ["ReconcileFunction", "Arn"]}]  # fmt: skip
    assert rule["Properties"]["ScheduleExpression"] == {"Ref": "ReconcileSchedule"}

    statements = role_statements(translated, "ReconcileRole")
    logs = {action for action in actions_of(statements) if action.startswith("logs:")}
    called = calls_in("forwarder.tools.backfill", "logs") | calls_in("forwarder.infra.subscriptions", "logs")
    assert logs == {f"logs:{name}" for name in called} == {"logs:DescribeLogGroups", "logs:FilterLogEvents"}
    (search,) = [s for s in statements if s["Action"] == "es:ESHttpPost"]
    paths = {resource["Fn::Sub"].split("${OpenSearchDomainName}/")[1] for resource in search["Resource"]}
    assert paths == {"${IndexPrefix}-*/_search", "_bulk"}, "its own prefix's counts and ids, and _bulk"
    assert "s3:DeleteObject" not in actions_of(statements)

    alarm = translated["Resources"]["ReconcileAlarm"]["Properties"]
    watched = [query["MetricStat"]["Metric"] for query in alarm["Metrics"] if "MetricStat" in query]
    source = Path(scheduled_reconcile.__file__).read_text()
    globals_ = properties["Environment"]["Variables"]
    for metric in watched:
        assert f"{metric['MetricName']}=" in source, "the alarm watches a metric the function emits"
        assert metric["Namespace"] == globals_["POWERTOOLS_METRICS_NAMESPACE"]
        assert metric["Dimensions"] == [
            {"Name": "service", "Value": globals_["POWERTOOLS_SERVICE_NAME"]},
            {"Name": "IndexPrefix", "Value": {"Ref": "IndexPrefix"}},
        ], "Powertools' dimensions, as metrics.count sets them"
    assert {metric["MetricName"] for metric in watched} == {"EventsStillMissing", "LogGroupsNotReconciled"}
    assert alarm["TreatMissingData"] == "ignore", "between runs the last run's state stands"


def test_the_scheduled_reconcile_deploys_into_moto_only_when_scheduled(translated: dict[str, Any]) -> None:
    with mock_aws():
        physical = deploy_into_moto(translated, {"ReconcileSchedule": "rate(1 day)"})
        lambda_ = boto3.client("lambda", region_name=REGION)
        function = lambda_.get_function_configuration(FunctionName=physical["ReconcileFunction"])
        assert function["Role"].rsplit("/", 1)[-1] == "forwarder-reconcile"
        assert function["Environment"]["Variables"]["LOG_GROUP_NAMES"] == ",".join(LOG_GROUPS)
        events = boto3.client("events", region_name=REGION)
        (daily,) = [rule for rule in events.list_rules()["Rules"] if rule.get("ScheduleExpression") == "rate(1 day)"]
        (target,) = events.list_targets_by_rule(Rule=daily["Name"])["Targets"]
        assert target["Arn"] == function["FunctionArn"]
    with mock_aws():
        assert "ReconcileFunction" not in deploy_into_moto(translated, {}), "empty ReconcileSchedule: none"


def test_with_a_master_user_the_bootstrap_maps_the_stacks_roles_and_alone_reads_its_secret(
    translated: dict[str, Any],
) -> None:
    properties = translated["Resources"]["OpenSearchBootstrap"]["Properties"]
    assert properties["MasterUserSecretArn"] == {"Ref": "MasterUserSecretArn"}
    assert properties["ForwarderRoleArn"] == {"Fn::GetAtt": ["ForwarderRole", "Arn"]}
    assert properties["BootstrapRoleArn"] == {"Fn::GetAtt": ["BootstrapRole", "Arn"]}
    assert properties["ReconcileRoleArn"] == {"Fn::If": ["Reconciles", {"Fn::GetAtt": ["ReconcileRole", "Arn"]}, ""]}
    (read,) = role_statements(translated, "BootstrapRole", conditional=True)
    assert (read["Action"], read["Resource"]) == ("secretsmanager:GetSecretValue", {"Ref": "MasterUserSecretArn"})
    for role in ("ForwarderRole", "SubscriptionsRole", "ReconcileRole"):
        granted = json.dumps(translated["Resources"][role]["Properties"])
        assert "MasterUserSecretArn" not in granted, f"{role} never sees the master user"
    for function, role in (("ForwarderFunction", "ForwarderRole"), ("ReconcileFunction", "ReconcileRole")):
        variables = translated["Resources"][function]["Properties"]["Environment"]["Variables"]
        assert variables["FUNCTION_ROLE_ARN"] == {"Fn::GetAtt": [role, "Arn"]}, "a 403 names the role to map"


def test_serverless_gets_a_data_access_policy_on_its_own_indices_only(translated: dict[str, Any]) -> None:
    (policy,) = resources_of(translated, "AWS::OpenSearchServerless::AccessPolicy").values()
    assert policy["Condition"] == "IsServerless" and policy["Properties"]["Type"] == "data"
    (grant,) = policy["Properties"]["Policy"]["Fn::ToJsonString"]
    (rule,) = grant["Rules"]
    assert rule["ResourceType"] == "index"
    assert rule["Resource"] == [{"Fn::Sub": "index/${ServerlessCollectionName}/${IndexPrefix}-*"}]
    assert set(rule["Permission"]) == {"aoss:CreateIndex", "aoss:UpdateIndex", "aoss:WriteDocument"}
    assert grant["Principal"] == [{"Fn::GetAtt": ["ForwarderRole", "Arn"]}]
    assert "ServerlessCollectionName" in json.dumps(translated["Rules"]["ServerlessNeedsTheCollectionArn"])
