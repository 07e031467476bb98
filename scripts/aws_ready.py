"""`make deploy-guided` asks some 30 questions before SAM CLI needs AWS: check first that
credentials and a region resolve, and say in one line how to set what is missing.

Run with .venv-sam's Python (botocore, as SAM CLI reads it); exit 1 when something is missing.
"""

from __future__ import annotations

import os
import sys

import botocore.exceptions
import botocore.session

HOW = (
    "set AWS_PROFILE (after `aws configure` or `aws sso login`), "
    "or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, then run it again"
)


def main() -> int:
    session = botocore.session.get_session()
    try:
        credentials = session.get_credentials()
        if credentials is not None:
            credentials.get_frozen_credentials()  # an expired SSO session fails here, not after the questions
    except botocore.exceptions.BotoCoreError as err:
        print(f"make: the AWS credentials do not resolve ({err}): {HOW}", file=sys.stderr)
        return 1
    if credentials is None:
        print(f"make: no AWS credentials found: {HOW}", file=sys.stderr)
        return 1
    # botocore reads AWS_DEFAULT_REGION and the profile; the Lambda runtime and our README use AWS_REGION.
    if not (session.get_config_variable("region") or os.environ.get("AWS_REGION")):
        print(
            "make: no AWS region: set AWS_REGION or AWS_DEFAULT_REGION (e.g. eu-west-1), or region in your profile",
            file=sys.stderr,
        )
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
