"""Moves the clock of every Python process `make test-any-day` starts (on PYTHONPATH there only).

ANY_DAY_SHIFT_DAYS=N sets the wall clock N days ahead with time-machine, ticking from there:
time.time, datetime.now and their kin move, the monotonic clock (retry deadlines) does not.
A process started with an environment of its own keeps the variable and PYTHONPATH to move too.
"""

import os

_days = os.environ.get("ANY_DAY_SHIFT_DAYS")
if _days:
    from datetime import UTC, datetime, timedelta

    import time_machine

    time_machine.travel(datetime.now(UTC) + timedelta(days=int(_days)), tick=True).start()
