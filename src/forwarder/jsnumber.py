"""JavaScript's numeric test from the reference: `!isNaN(parseFloat(v)) && isFinite(v)`.

A string passes when, after trimming JavaScript white space, it is a finite
decimal literal (`" 12 "`, `"1.5e3"`, `".5"`, `"+5"`) or a hex/octal/binary
integer literal (`"0x1A"`); `"Infinity"`, `"NaN"`, `""` and `"12abc"` do not.
The value is what `1 * v` gives, except that integers stay exact (JavaScript
rounds them past 2**53). An integer past the largest double (1.8e308, some 309
digits) is Infinity to JavaScript, so not a number: the string is kept, and
Python's 4,300-digit limit on int() is never met.
"""

from __future__ import annotations

import math
import re

# StrWhiteSpaceChar of ECMA-262: white space, line terminators and the BOM.
JS_SPACE = (
    "\t\n\v\f\r \u00a0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a"
    "\u2028\u2029\u202f\u205f\u3000\ufeff"
)
# One match tells which literal it is: an integer, a decimal, or a 0x/0o/0b integer.
_LITERAL = re.compile(
    r"(?P<int>[+-]?[0-9]+)"
    r"|(?P<decimal>[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?)"
    r"|0(?P<radix>[xXoObB])(?P<digits>(?<=[xX])[0-9a-fA-F]+|(?<=[oO])[0-7]+|(?<=[bB])[01]+)"
)
_RADIX_BASE = {"x": 16, "o": 8, "b": 2}
_CAN_START = frozenset("+-.0123456789")
_SHORT = 300  # characters: any integer literal this long is finite as a double


def js_number(value: object) -> int | float | None:
    """The number JavaScript's isNumeric would accept `value` as, else None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if not isinstance(value, str):
        return None
    text = value.strip(JS_SPACE)
    if text.isdigit() and text.isascii() and len(text) <= _SHORT:
        return int(text)  # the common case, without a regular expression
    if not text or text[0] not in _CAN_START:
        return None
    match = _LITERAL.fullmatch(text)
    if match is None:
        return None
    if match.lastgroup == "int":
        return _exact_integer(text)
    if match.lastgroup == "decimal":
        number = float(text)
        return number if math.isfinite(number) else None
    integer = int(match["digits"], _RADIX_BASE[match["radix"].lower()])  # powers of two: no digit limit
    return integer if _finite_as_double(integer) else None


def _finite_as_double(integer: int) -> bool:
    try:
        float(integer)
    except OverflowError:
        return False
    return True


def _exact_integer(text: str) -> int | None:
    """A decimal integer literal, exact; None where JavaScript's double is Infinity."""
    if len(text) <= _SHORT:
        return int(text)
    if not math.isfinite(float(text)):  # float() has no digit limit
        return None
    sign = "-" if text[0] == "-" else ""
    return int(sign + (text.lstrip("+-").lstrip("0") or "0"))  # a long run of leading zeros, then <= 309 digits


def js_truthy(value: object) -> bool:
    """JavaScript truthiness: "", 0, NaN, null and false are falsy; {} and [] are not."""
    if value is None or value is False:
        return False
    if isinstance(value, str):
        return value != ""
    if isinstance(value, int | float):
        return value == value and value != 0
    return True
