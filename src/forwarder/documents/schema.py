"""What every document holds besides its own JSON, and the date an index's name ends with.

transform writes the @-fields, fallback's safe form keeps them, the bootstrap's index
template maps them; naming ends index names with a date of DATE_FORMATS, which the
dead letter reads back with day_of.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime

ID, TIMESTAMP, MESSAGE = "@id", "@timestamp", "@message"
OWNER, LOG_GROUP, LOG_STREAM = "@owner", "@log_group", "@log_stream"
AT_FIELDS = (ID, TIMESTAMP, MESSAGE, OWNER, LOG_GROUP, LOG_STREAM)  # in the order they are set, last in each source
KEYWORD_FIELDS = (ID, OWNER, LOG_GROUP, LOG_STREAM)  # matched whole, never analysed
SYSTEM_FIELDS = ("@aws.account", "@aws.region")  # what a subscription's emitSystemFields adds to each event
FIELDS_JSON = "@fields_json"  # the safe form: the rest of the source, serialized
FALLBACK_REASON = "@fallback_reason"  # the safe form: why the document was refused
INTENDED_INDEX = "@intended_index"  # an overflow document: the index it would have gone to

DATE_FORMATS = ("daily", "weekly", "monthly")
# An index takes writes for its whole period, and ISM counts its age from its creation:
# so that its newest document is kept RetentionDays too, a weekly or monthly index lives longer.
PERIOD_DAYS = {"daily": 0, "weekly": 7, "monthly": 31}
# The date at a name's end: 2026.11.22, 2026.w48 or 2026.11, not preceded by another digit.
_DATE_AT_END = re.compile(r"(?<![0-9])([0-9]{4})\.(?:([0-9]{2})\.([0-9]{2})|w([0-9]{2})|([0-9]{2}))$")


def date_suffix(day: int, date_format: str) -> str:
    """The `{date}` of a day (days since 1970-01-01, UTC) in the chosen granularity."""
    when = datetime.fromtimestamp(day * 86_400, UTC)
    if date_format == "weekly":
        year, week, _ = when.isocalendar()  # the ISO week's own year: 2026-12-31 is in 2026.w53
        return f"{year}.w{week:02d}"
    if date_format == "monthly":
        return f"{when.year}.{when.month:02d}"
    return f"{when.year}.{when.month:02d}.{when.day:02d}"


def day_of(index_name: str) -> date | None:
    """The first day of the period an index's name ends with (a week's Monday), or None for a name without one."""
    found = _DATE_AT_END.search(index_name)
    if found is None:
        return None
    year, month, day, week, only_month = found.groups()
    try:
        if week is not None:
            return date.fromisocalendar(int(year), int(week), 1)
        if only_month is not None:
            return date(int(year), int(only_month), 1)
        return date(int(year), int(month), int(day))
    except ValueError:  # 2026.13.40, 2026.w60: not a date
        return None
