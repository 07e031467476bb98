"""Typed errors: each names what was wrong so a person can act on it."""

from typing import Any

from forwarder.reports import Report
from forwarder.scrub import scrubbed


class ForwarderError(Exception):
    """Base of every error the forwarder raises on purpose; its message never holds a quoted credential."""

    def __init__(self, *args: Any) -> None:
        # Lambda's runtime prints an error that leaves the handler itself, past our log stream.
        super().__init__(*(scrubbed(arg) if isinstance(arg, str) else arg for arg in args))


class ConfigError(ForwarderError):
    """An environment variable is missing or holds a value we do not accept."""


class PayloadError(ForwarderError):
    """The event is not a decodable CloudWatch Logs subscription payload."""


class NotBase64Error(PayloadError):
    pass


class NotGzipError(PayloadError):
    pass


class TruncatedGzipError(PayloadError):
    pass


class PayloadTooLargeError(PayloadError):
    pass


class NotJsonError(PayloadError):
    pass


class NotAwslogsPayloadError(PayloadError):
    """Valid JSON, but not the shape CloudWatch Logs sends."""


class MissingAwslogsDataError(PayloadError):
    """The Lambda event has no `awslogs.data` string."""


class DeliveryError(ForwarderError):
    """OpenSearch could not be reached or refused the whole request."""

    def __init__(self, message: str, status: int | None = None, body: bytes = b"") -> None:
        super().__init__(message)
        self.status = status
        self.body = body


class TransportError(DeliveryError):
    """No HTTP answer came back: refused, reset, or timed out.

    `maybe_processed` is True when the request had been sent, so OpenSearch may
    have indexed it (a read timeout or a connection dropped mid-answer).
    """

    def __init__(self, message: str, maybe_processed: bool) -> None:
        super().__init__(message)
        self.maybe_processed = maybe_processed


class NotDeliveredError(DeliveryError):
    """Documents are neither indexed nor in the dead letter: the invocation fails so Lambda keeps the event."""

    def __init__(self, message: str, report: Report | None = None, first: str = "", summary: str = "") -> None:
        super().__init__(message)
        self.report = report  # the payload's report, status "failed", where one was made
        self.first = first  # the first undelivered document's error type and reason
        self.summary = summary  # the message without what Lambda does next, for a local command


class DeadLetterError(ForwarderError):
    """The dead-letter store could not be written or read."""


class QueueError(ForwarderError):
    """The on-failure queue could not be read, or a replayed message not removed from it."""
