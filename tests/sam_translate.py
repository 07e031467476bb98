"""template.yaml -> plain CloudFormation JSON, as `sam deploy` would have it translated.

Run by the SAM tools' Python (.venv-sam, where aws-sam-translator lives):

    .venv-sam/bin/python tests/sam_translate.py template.yaml LOG_GROUP[,LOG_GROUP...] s3://BUCKET/KEY > out.json

CloudFormation's AWS::LanguageExtensions transform runs before SAM's; here its one use,
`Fn::ForEach` over LogGroupNames in the function's Events, is expanded the same way
(`&{name}` keeps the name's letters and digits). CodeUri is pointed at S3, as
`sam package` does.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from typing import Any

from cfnlint.decode import decode_str
from samtranslator.translator.transform import transform


class NoManagedPolicies:
    """The template names its managed policies by ARN; nothing to look up."""

    def load(self) -> dict[str, str]:
        return {}


def expand_for_each(node: Any, values: dict[str, list[str]]) -> Any:
    if isinstance(node, list):
        return [expand_for_each(item, values) for item in node]
    if not isinstance(node, dict):
        return node
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key.startswith("Fn::ForEach::"):
            identifier, collection, fragment = value
            for item in values[collection["Ref"]]:
                for out_key, out_value in fragment.items():
                    name = out_key.replace(f"&{{{identifier}}}", re.sub(r"[^A-Za-z0-9]", "", item))
                    out[name] = expand_for_each(_substitute(out_value, identifier, item), values)
        else:
            out[key] = expand_for_each(value, values)
    return out


def _substitute(node: Any, identifier: str, item: str) -> Any:
    if isinstance(node, dict):
        if node == {"Ref": identifier}:
            return item
        return {key: _substitute(value, identifier, item) for key, value in node.items()}
    if isinstance(node, list):
        return [_substitute(value, identifier, item) for value in node]
    return node


def main(path: str, log_groups: str, code_uri: str) -> None:
    template, problems = decode_str(Path(path).read_text())
    if problems:
        raise SystemExit(f"{path}: {problems}")
    template = json.loads(json.dumps(template))  # plain dicts and lists
    template["Transform"] = "AWS::Serverless-2016-10-31"
    template = expand_for_each(template, {"LogGroupNames": log_groups.split(",")})
    template["Globals"]["Function"]["CodeUri"] = code_uri
    translated = transform(template, {"AWS::Region": "us-east-1"}, NoManagedPolicies())
    json.dump(translated, sys.stdout, indent=1)


if __name__ == "__main__":
    main(*sys.argv[1:])
