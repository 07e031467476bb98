"""Credentials blanked out of text the forwarder prints, stores or answers with.

AWS answers a signature mismatch (OpenSearch Service, CloudWatch Logs, SQS alike) by
quoting the canonical request, whose headers hold the session token; a proxy may echo
the request's headers as a header block, JSON, a Python dict, XML or an HTML table.
Such answers reach error messages, log lines, dead-letter reasons and CloudFormation's
Reason, so each of those passes through `scrubbed`.

A credential is found by its header or parameter name in any of those quotings: the
name, then quotes, tags, spaces and at least one separator (`:` `=` `>` or a quote),
then the value, which runs to the end of its quoted string, tag, query parameter or
line. The name alone in prose ("no Authorization header") is left as it is.
"""

from __future__ import annotations

import functools
import re

# Lower case, as `text.lower()` holds them; each is matched whole, not inside a longer name (after a JSON
# escape such as \n, it starts a line).
CREDENTIAL_NAMES = (
    "authorization",
    "proxy-authorization",
    "x-amz-security-token",
    "x-amz-credential",
    "x-amz-signature",
    "signature",
    "credential",
    "cookie",
    "set-cookie",
    "x-api-key",
)
_NAME = (
    r"(?:(?<=\\[nrt])|(?<![\w-]))("
    + "|".join(map(re.escape, sorted(CREDENTIAL_NAMES, key=len, reverse=True)))
    + r")(?![\w-])"
)
# Between name and value: quotes (also JSON-escaped or HTML entities), tags, spaces, separators, a list's [.
_BETWEEN = r"((?:\s|\\?[\"']|&quot;|&#0?39;|&#x27;|</?\w+[^<>]{0,40}>|=>|[:=>\[])*)"
_VALUE = r"([^'\"&<\\\r\n]*)"
_SEPARATORS = frozenset(":=>\"'")


def scrubbed(text: str) -> str:
    """`text` with the value of every quoted credential replaced by <redacted>."""
    lowered = text.lower()  # a substring test first: the regex scans every position of every log line
    if not any(name in lowered for name in CREDENTIAL_NAMES):
        return text
    return _credential().sub(_redacted, text)


@functools.cache
def _credential() -> re.Pattern[str]:
    """Compiled on first use: a few milliseconds that a cold start with nothing to scrub never pays."""
    return re.compile(_NAME + _BETWEEN + _VALUE, re.IGNORECASE)


def _redacted(match: re.Match[str]) -> str:
    name, between, value = match.groups()
    if not _SEPARATORS & set(between) or not value.strip():
        return match.group()  # the word in prose, or nothing to hide
    return f"{name}{between}<redacted>"
