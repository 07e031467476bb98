"""The invocation's time budget: the only place Lambda's remaining time is read.

A subscription invocation retries until its retry deadline, then the dead letter gets
what was kept back; a custom resource works until its deadline, then answers
CloudFormation in the margin kept back. Outside Lambda (the CLI, tests) there is no
remaining time, and each caller says what bounds it instead.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from forwarder.settings import Settings

FINISH_SECONDS = 0.25  # kept for the report line and metrics after the dead letter gives up
BOOTSTRAP_MARGIN_SECONDS = 10.0  # the bootstrap's calls stop this long before the timeout, to answer CloudFormation
# A long subscriptions sweep stops this long before the timeout: a call begun before
# then may run into the margin (subscriptions.CALL_GRACE_SECONDS), and 10 s stay to answer.
SUBSCRIPTIONS_MARGIN_SECONDS = 30.0
RECONCILE_SEND_SECONDS = 300.0  # of the scheduled reconcile's 900: comparing stops here, and the sends get the rest
ANSWER_OUTSIDE_LAMBDA_SECONDS = 30.0  # how long CloudFormation's answer is retried without a function timeout


def seconds_left(context: Any) -> float | None:
    """What the invocation has left, or None outside Lambda."""
    remaining_ms = getattr(context, "get_remaining_time_in_millis", None)
    return remaining_ms() / 1000 if remaining_ms is not None else None


def answer_seconds(context: Any) -> float:
    """How long CloudFormation's answer may be retried: up to a second before the timeout."""
    left = seconds_left(context)
    return ANSWER_OUTSIDE_LAMBDA_SECONDS if left is None else left - 1


class Deadline:
    """When retrying must stop, and how long the dead letter may still take after that.

    In Lambda the retries stop RETRY_SAFETY_MARGIN_SECONDS (at most a quarter of the
    time left) before the function's timeout, and the dead letter gets what is kept
    back, less FINISH_SECONDS for the report line: never more than the invocation has.
    """

    def __init__(
        self,
        seconds: float,
        clock: Callable[[], float] = time.monotonic,
        bound: str = "RETRY_MAX_SECONDS",
        dead_letter_after: float = 0.0,
    ) -> None:
        self._clock = clock
        self._end = clock() + seconds
        self._dead_letter_end = self._end + dead_letter_after
        self.bound = bound  # what set it, for a person waiting on the retries

    @classmethod
    def for_invocation(cls, context: Any, settings: Settings) -> Deadline:
        remaining = seconds_left(context)
        if remaining is None:  # no function timeout: the dead letter gets the whole margin
            return cls(settings.retry_max_seconds, dead_letter_after=settings.retry_safety_margin)
        usable = max(0.0, remaining - min(FINISH_SECONDS, remaining / 10))
        budget = remaining - min(settings.retry_safety_margin, remaining / 4)
        if budget < settings.retry_max_seconds:
            bound = (
                f"the invocation's {remaining:.0f} s left, less RETRY_SAFETY_MARGIN_SECONDS; "
                "a lower RETRY_MAX_SECONDS shortens it"
            )
            return cls(budget, bound=bound, dead_letter_after=usable - budget)
        return cls(settings.retry_max_seconds, dead_letter_after=usable - settings.retry_max_seconds)

    @classmethod
    def before_answer(cls, context: Any, margin: float) -> Deadline | None:
        """`margin` before the timeout (a custom resource's answer, the scheduled reconcile's sends), or None
        outside Lambda."""
        remaining = seconds_left(context)
        return None if remaining is None else cls(remaining - margin)

    def remaining(self) -> float:
        return self._end - self._clock()

    def dead_letter_time(self) -> float:
        """Seconds the dead letter may still take: what is left of the retries plus what was kept back for it."""
        return max(0.0, self._dead_letter_end - self._clock())

    def expired(self) -> bool:
        return self.remaining() <= 0
