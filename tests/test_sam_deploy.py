"""`sam deploy` as a user runs it: SAM CLI's own deploy code, against moto's server on loopback.

Guided (the answers on stdin, as a user types them), then `sam deploy --config-env default`
(what `make deploy` runs after `make build`), and a plain `sam deploy --parameter-overrides`.
Each goes through SAM CLI's prompts and checks, writes samconfig.toml, uploads the code and
the template to S3 and asks CloudFormation for a change set.

Where the emulation stops, and why: moto answers CreateChangeSet with NoSuchBucket, because it
cannot fetch a TemplateURL of the form SAM CLI sends (and it could not run the
AWS::LanguageExtensions and AWS::Serverless transforms if it could). What a change set would
create is deployed into moto from the translated template in tests/test_template.py. Also,
moto's change-set execution leaves SAM CLI's own bucket stack (aws-sam-cli-managed-default)
without Outputs, which SAM CLI refuses as "not in a healthy state"; so the fixture makes that
stack the way SAM CLI would find it in an account that has deployed before.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import tomllib
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest

from tests.helpers import environ
from tests.sam import REGION, REPO, sam_build

pytestmark = pytest.mark.template

ENDPOINT = "https://search-logs-abc.us-east-1.es.amazonaws.com"
MANAGED_STACK = "aws-sam-cli-managed-default"


@pytest.fixture(scope="module")
def built(sam_tools: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """`make build`'s output: build/sam/ with the template and the functions."""
    build_dir = tmp_path_factory.mktemp("build") / "sam"
    sam_build(sam_tools, build_dir, "arm64")
    return build_dir


@pytest.fixture
def aws(moto_server: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, str]]:
    """moto's server, and the environment that sends SAM CLI there."""
    env = {
        "AWS_ENDPOINT_URL": moto_server,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": REGION,
        "SAM_CLI_TELEMETRY": "0",
    }
    environ(monkeypatch, env, "AWS_SESSION_TOKEN", "AWS_PROFILE")
    cloudformation = boto3.client("cloudformation", region_name=REGION)
    cloudformation.create_stack(
        StackName=MANAGED_STACK,
        TemplateBody=json.dumps(
            {
                "Resources": {"SamCliSourceBucket": {"Type": "AWS::S3::Bucket"}},
                "Outputs": {"SourceBucket": {"Value": {"Ref": "SamCliSourceBucket"}}},
            }
        ),
        Tags=[{"Key": "ManagedStackSource", "Value": "AwsSamCli"}],
    )
    yield env


@pytest.fixture
def project(built: Path, tmp_path: Path) -> Path:
    """A checkout after `make build`: samconfig.toml as committed, build/sam/ beside it."""
    shutil.copy(REPO / "samconfig.toml", tmp_path / "samconfig.toml")
    shutil.copytree(built, tmp_path / "build" / "sam")
    return tmp_path


def sam(sam_tools: Path, project: Path, env: dict[str, str], *args: str, answers: str | None = None):
    done = subprocess.run(
        [str(sam_tools / "sam"), "deploy", *args],
        cwd=project,
        input=answers,
        capture_output=True,
        text=True,
        env={**os.environ, **env},
        timeout=600,
    )
    return done.returncode, done.stdout + done.stderr


def reached_cloudformation(output: str) -> None:
    """SAM CLI did all its own work and asked for the change set; moto's refusal is the only error."""
    assert "Traceback" not in output and "unexpected error" not in output.lower(), output[-3000:]
    assert "Error: Failed to create changeset for the stack" in output, output[-3000:]
    assert "when calling the CreateChangeSet operation" in output


def uploaded() -> list[str]:
    s3 = boto3.client("s3", region_name=REGION)
    (bucket,) = [b["Name"] for b in s3.list_buckets()["Buckets"] if b["Name"].startswith(MANAGED_STACK)]
    return [item["Key"] for item in s3.list_objects_v2(Bucket=bucket).get("Contents", [])]


def template_parameters() -> list[str]:
    text = (REPO / "template.yaml").read_text()
    section = text.split("\nParameters:\n", 1)[1].split("\n\n", 1)[0]
    return re.findall(r"^  (\w+):$", section, re.MULTILINE)


# One answer per prompt, in SAM CLI's order; an empty line takes the default shown.
GUIDED_ANSWERS = "\n".join(
    [
        "",  # Stack Name [cwl-opensearch-forwarder]
        REGION,  # AWS Region
        ENDPOINT,  # Parameter OpenSearchEndpoint
        "",  # OpenSearchService [es]
        "logs",  # OpenSearchDomainName
        "",  # ServerlessCollectionId
        "/aws/lambda/checkout",  # LogGroupNames
        "/aws/containerinsights/prod/",  # LogGroupPrefixes
        *[""] * (len(template_parameters()) - 6),  # the other parameters, at their defaults
        "n",  # Confirm changes before deploy
        "",  # Allow SAM CLI IAM role creation [Y/n]
        "",  # Disable rollback [y/N]
        "",  # Save arguments to configuration file [Y/n]
        "",  # SAM configuration file [samconfig.toml]
        "",  # SAM configuration environment [default]
        *[""] * 10,
    ]
)


def test_guided_asks_for_every_parameter_saves_the_answers_and_reaches_cloudformation(
    sam_tools: Path,
    project: Path,
    aws: dict[str, str],
) -> None:
    config_file = str(project / "samconfig.toml")
    # As `make deploy-guided` runs it (the Makefile's SAMCONFIG): answers saved in ./samconfig.toml.
    status, output = sam(
        sam_tools,
        project,
        aws,
        "--guided",
        "--config-file",
        config_file,
        "--config-env",
        "default",
        answers=GUIDED_ANSWERS,
    )
    assert status == 1
    for name in template_parameters():
        assert f"Parameter {name} [" in output, f"not asked for {name}"
    reached_cloudformation(output)
    config = tomllib.loads((project / "samconfig.toml").read_text())["default"]
    saved = config["deploy"]["parameters"]
    assert config["global"]["parameters"]["region"] == REGION, "make deploy knows the region"
    assert config["global"]["parameters"]["stack_name"] == "cwl-opensearch-forwarder"
    assert f'OpenSearchEndpoint="{ENDPOINT}"' in saved["parameter_overrides"]
    assert 'LogGroupPrefixes="/aws/containerinsights/prod/"' in saved["parameter_overrides"]
    assert saved["template_file"] == "build/sam/template.yaml", "make deploy's template is kept"
    keys = uploaded()
    assert any(key.endswith(".template") for key in keys), keys
    assert len(keys) >= 2, "the functions' code and the template"

    assert not (project / "build" / "sam" / "samconfig.toml").exists(), "not beside the template, where make build is"

    # `make deploy` afterwards: the saved answers, no prompt.
    status, output = sam(
        sam_tools, project, aws, "--config-file", config_file, "--config-env", "default", "--no-confirm-changeset"
    )
    assert status == 1
    reached_cloudformation(output)
    assert f'"OpenSearchEndpoint": "{ENDPOINT}"' in output


def test_a_plain_deploy_with_parameter_overrides_reaches_cloudformation(
    sam_tools: Path,
    project: Path,
    aws: dict[str, str],
) -> None:
    (project / "samconfig.toml").unlink()  # nothing saved: everything on the command line
    status, output = sam(
        sam_tools,
        project,
        aws,
        "--template-file",
        "build/sam/template.yaml",
        "--stack-name",
        "logs-forwarder",
        "--region",
        REGION,
        "--resolve-s3",
        "--capabilities",
        "CAPABILITY_NAMED_IAM",
        "CAPABILITY_AUTO_EXPAND",
        "--no-confirm-changeset",
        "--parameter-overrides",
        f"OpenSearchEndpoint={ENDPOINT}",
        "OpenSearchDomainName=logs",
        "SubscribeAllLogGroups=true",
    )
    assert status == 1
    reached_cloudformation(output)
    assert '"SubscribeAllLogGroups": "true"' in output
    assert any(key.endswith(".template") for key in uploaded())


@pytest.mark.parametrize(
    ("given", "said"),
    [
        ({}, "make: no AWS credentials found: set AWS_PROFILE"),
        ({"AWS_ACCESS_KEY_ID": "AKIDTEST", "AWS_SECRET_ACCESS_KEY": "test"}, "make: no AWS region: set AWS_REGION"),
        ({"AWS_PROFILE": "nowhere", "AWS_REGION": REGION}, "make: the AWS credentials do not resolve"),
        ({"AWS_ACCESS_KEY_ID": "AKIDTEST", "AWS_SECRET_ACCESS_KEY": "test", "AWS_REGION": REGION}, ""),
    ],
)
def test_deploy_guided_checks_credentials_and_a_region_before_its_questions(
    sam_tools: Path, tmp_path: Path, given: dict[str, str], said: str
) -> None:
    # What `make deploy-guided` runs first, with SAM CLI's botocore, on a machine with no ~/.aws.
    env = {"PATH": os.environ["PATH"], "HOME": str(tmp_path), "AWS_EC2_METADATA_DISABLED": "true", **given}
    done = subprocess.run(
        [str(sam_tools / "python"), "scripts/aws_ready.py"], cwd=REPO, capture_output=True, text=True, env=env
    )
    assert (done.returncode, done.stdout) == ((1 if said else 0), "")
    assert done.stderr.startswith(said) and done.stderr.count("\n") == (1 if said else 0), done.stderr
