"""Imported by every Python process `make test-any-day` starts (it is on PYTHONPATH there only).

Debian bookworm's libfaketime 0.9.10 rewrites an absolute clock_nanosleep on the monotonic
clock as if that clock were faked even when it is not (fixed in libfaketime 0.9.11), and
Python 3.11+ sleeps exactly that way: every time.sleep fails with EINVAL. Where it does,
sleep with select, which libfaketime leaves alone; anywhere else nothing changes.
"""

import select
import time

try:
    time.sleep(1e-6)
except OSError:

    def _sleep(seconds: float) -> None:
        if seconds < 0:
            raise ValueError("sleep length must be non-negative")
        select.select([], [], [], seconds)

    time.sleep = _sleep
