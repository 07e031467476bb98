"""template.yaml -> plain CloudFormation JSON, as `sam deploy` would have it translated.

Run by the SAM tools' Python (.venv-sam, where aws-sam-translator lives):

    .venv-sam/bin/python tests/sam_translate.py template.yaml s3://BUCKET/KEY > out.json

CloudFormation's AWS::LanguageExtensions transform runs before SAM's; its one use here,
`Fn::ToJsonString` in the account-level subscription policy, is left in place (SAM passes
it through). CodeUri is pointed at S3, as `sam package` does.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from cfnlint.decode import decode_str
from samtranslator.translator.transform import transform


class NoManagedPolicies:
    """The template names its managed policies by ARN; nothing to look up."""

    def load(self) -> dict[str, str]:
        return {}


def main(path: str, code_uri: str) -> None:
    template, problems = decode_str(Path(path).read_text())
    if problems:
        raise SystemExit(f"{path}: {problems}")
    template = json.loads(json.dumps(template))  # plain dicts and lists
    template["Transform"] = "AWS::Serverless-2016-10-31"
    template["Globals"]["Function"]["CodeUri"] = code_uri
    translated = transform(template, {"AWS::Region": "us-east-1"}, NoManagedPolicies())
    json.dump(translated, sys.stdout, indent=1)


if __name__ == "__main__":
    main(*sys.argv[1:])
