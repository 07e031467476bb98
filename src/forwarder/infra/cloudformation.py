"""A custom resource's life: do what CloudFormation asks, then answer it with a PUT to the pre-signed ResponseURL.

Shared by the bootstrap (ISM policy, index template) and the log-group subscriptions.
The URL's query is a credential (its signature): it never goes into a log line or an error.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import urllib3

from forwarder import budget
from forwarder.errors import ForwarderError
from forwarder.log import logger
from forwarder.scrub import scrubbed

ANSWER_ATTEMPTS = 5


def comma_list(value: Any) -> tuple[str, ...]:
    """A CloudFormation CommaDelimitedList (a list, or a comma-separated string) without blanks."""
    parts = value if isinstance(value, list) else str(value or "").split(",")
    return tuple(part.strip() for part in parts if str(part).strip())


class NotAnsweredError(ForwarderError):
    """CloudFormation could not be answered within the function's time."""


@dataclass
class Answer:
    """What CloudFormation hears; the work sets it as it learns it (the physical id first)."""

    physical_id: str
    data: dict[str, Any] = field(default_factory=dict)
    reason: str = ""


def serve(
    event: dict[str, Any], context: Any, default_id: str, work: Callable[[Answer], None], what: str, left: str = ""
) -> None:
    """Do `work`, then answer CloudFormation, whatever happened: it must hear of anything at all, not wait an hour.

    A failed Create or Update is FAILED with its one-line reason. A failed Delete still
    succeeds, its reason prefixed by `left` (what stays in place): a domain, group or function
    already gone must not keep the stack from being deleted.
    """
    answer, status = Answer(event.get("PhysicalResourceId") or default_id), "SUCCESS"
    try:
        work(answer)
    except Exception as err:  # anything at all
        reason = f"{type(err).__name__}: {err}"[:1000]
        logger.exception(f"{what} failed")
        if event.get("RequestType") == "Delete":
            answer.reason = f"{left}{reason}"
        else:
            status, answer.reason = "FAILED", reason
    answer_cloudformation(event, status, answer.reason, answer.physical_id, answer.data, context)


def answer_cloudformation(
    event: dict[str, Any], status: str, reason: str, physical_id: str, data: dict[str, Any], context: Any = None
) -> None:
    """PUT the answer to the pre-signed URL, retried while the function's time lasts (30 s outside Lambda)."""
    body = json.dumps(
        {
            "Status": status,
            "Reason": scrubbed(reason) or f"See CloudWatch Logs for {physical_id}",
            "PhysicalResourceId": physical_id,
            "StackId": event.get("StackId", ""),
            "RequestId": event.get("RequestId", ""),
            "LogicalResourceId": event.get("LogicalResourceId", ""),
            "Data": data,
        }
    ).encode()
    url = str(event.get("ResponseURL", ""))
    where = url.split("?", 1)[0]  # its query holds the signature: never in a log line or an error
    until = time.monotonic() + budget.answer_seconds(context)
    problem = "no time left"
    for attempt in range(ANSWER_ATTEMPTS):
        left = until - time.monotonic()
        if left <= 0:
            break
        try:
            # The pre-signed S3 URL is signed without a content type: send none.
            answer = urllib3.request(
                "PUT",
                url,
                body=body,
                headers={"Content-Type": "", "Content-Length": str(len(body))},
                retries=False,
                timeout=urllib3.Timeout(connect=min(5.0, left), read=min(10.0, left)),
            )
        except (urllib3.exceptions.HTTPError, ValueError) as err:
            problem = type(err).__name__  # its message would quote the signed URL
        else:
            if answer.status < 500:
                logger.info(
                    "answered CloudFormation", extra={"status": status, "reason": reason, "http_status": answer.status}
                )
                return
            problem = f"HTTP {answer.status}"
        time.sleep(max(0.0, min(0.5 * 2**attempt, until - time.monotonic())))
    logger.error("CloudFormation not answered", extra={"response_url": where, "error": problem})
    raise NotAnsweredError(f"could not answer CloudFormation at {where}: {problem}")
