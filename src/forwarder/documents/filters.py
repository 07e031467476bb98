"""What is forwarded, and what it may not contain: include/exclude patterns and redaction.

Applied to each event's message (and extracted field values) before the
documents are made, so the embedded JSON, `@message` and the dead letter never
hold what a rule removed. Configured by environment variables:

    INCLUDE_PATTERN   a regular expression: only messages it finds are forwarded
    EXCLUDE_PATTERN   a regular expression: messages it finds are not (exclude wins)
    REDACT_EMAILS     true: e-mail addresses become [EMAIL]
    REDACT_IPS        true: IPv4 and IPv6 addresses become [IP]
    REDACT_RULES      a JSON list of {"pattern": REGEX, "replacement": TEXT}, applied in order

An excluded event is counted (report `excluded`, metric `Excluded`), never dropped silently.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson

from forwarder.errors import ConfigError
from forwarder.sources.decode import LogEvent

EMAIL = (re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}"), "[EMAIL]")
IPV4 = (re.compile(r"\b(?:(?:25[0-5]|2[0-4]\d|1?\d?\d)\.){3}(?:25[0-5]|2[0-4]\d|1?\d?\d)\b"), "[IP]")
_IPV6_CANDIDATE = re.compile(r"(?<![\w:])[0-9A-Fa-f]{0,4}(?::[0-9A-Fa-f]{0,4}){2,7}(?![\w:])")


def _ipv6_or_as_is(match: re.Match[str]) -> str:
    """Only a real IPv6 address: `10:00:22` (a time) has the shape but is not one."""
    try:
        ipaddress.IPv6Address(match.group())
    except ValueError:
        return match.group()
    return "[IP]"


Replacement = str | Callable[[re.Match[str]], str]
IPV6: tuple[re.Pattern[str], Replacement] = (_IPV6_CANDIDATE, _ipv6_or_as_is)


@dataclass(frozen=True)
class Filters:
    include: re.Pattern[str] | None = None
    exclude: re.Pattern[str] | None = None
    redactions: tuple[tuple[re.Pattern[str], Replacement], ...] = field(default_factory=tuple)

    @property
    def active(self) -> bool:
        return bool(self.include or self.exclude or self.redactions)

    @classmethod
    def from_env(cls, env: Mapping[str, str], redact_emails: bool, redact_ips: bool) -> Filters:
        """The patterns and rules from `env`; the two flags as settings.py read them."""
        redactions: list[tuple[re.Pattern[str], Replacement]] = []
        if redact_emails:
            redactions.append(EMAIL)
        if redact_ips:
            redactions += [IPV4, IPV6]
        redactions += _rules(env.get("REDACT_RULES", "").strip())
        return cls(_pattern(env, "INCLUDE_PATTERN"), _pattern(env, "EXCLUDE_PATTERN"), tuple(redactions))

    def apply(self, events: list[LogEvent]) -> tuple[list[LogEvent], int, int]:
        """The events to forward, how many were excluded, and how many had something redacted."""
        kept: list[LogEvent] = []
        redacted = 0
        for event in events:
            message = event.get("message") if isinstance(event, dict) else None
            if not isinstance(message, str):
                kept.append(event)  # transform names what is wrong with it
                continue
            if not self.keeps(message):
                continue
            if self.redactions:
                event, changed = self._redact(event)
                redacted += changed
            kept.append(event)
        return kept, len(events) - len(kept), redacted

    def keeps(self, message: str) -> bool:
        """Whether INCLUDE_PATTERN and EXCLUDE_PATTERN let a message through (exclude wins)."""
        return not (
            (self.include and not self.include.search(message)) or (self.exclude and self.exclude.search(message))
        )

    def _redact(self, event: LogEvent) -> tuple[LogEvent, bool]:
        message = self._scrub(event["message"])
        copy: dict[str, Any] = {**event, "message": message}
        changed = message != event["message"]
        fields = event.get("extractedFields")
        if isinstance(fields, dict):
            scrubbed = {key: self._scrub(value) if isinstance(value, str) else value for key, value in fields.items()}
            changed = changed or scrubbed != fields
            copy["extractedFields"] = scrubbed
        return copy, changed  # type: ignore[return-value]

    def _scrub(self, text: str) -> str:
        for pattern, replacement in self.redactions:
            text = pattern.sub(replacement, text)
        return text


def _pattern(env: Mapping[str, str], name: str) -> re.Pattern[str] | None:
    raw = env.get(name, "")
    if not raw:
        return None
    try:
        return re.compile(raw)
    except re.error as err:
        raise ConfigError(f"{name}={raw!r} is not a regular expression: {err}") from None


def _rules(raw: str) -> list[tuple[re.Pattern[str], Replacement]]:
    if not raw:
        return []
    example = '[{"pattern": "token=\\\\w+", "replacement": "token=[REDACTED]"}]'
    try:
        rules = orjson.loads(raw)
        if not isinstance(rules, list):
            raise ValueError("not a list")
        return [(re.compile(str(rule["pattern"])), str(rule.get("replacement", "[REDACTED]"))) for rule in rules]
    except (ValueError, KeyError, TypeError, re.error) as err:
        raise ConfigError(f"REDACT_RULES is not accepted ({err}): give a JSON list such as {example}") from None
