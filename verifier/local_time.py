"""The one definition of local time: China Standard Time, UTC+8, with no daylight saving.

Days and minutes in policies, daily limits and a card's once-a-day rule are all local; the
server, the gate program, the issuer and the handheld page count them from here.
"""

from __future__ import annotations

import datetime as dt

LOCAL_TIME = dt.timezone(dt.timedelta(hours=8), "CST")
LOCAL_OFFSET_S = 8 * 3600  # local days and minutes, counted in seconds


def local_day_number(now: float) -> int:
    """Days since 1970-01-01 in local time."""
    return (int(now) + LOCAL_OFFSET_S) // 86400


def local_day_end(day_number: int) -> int:
    """The unix time at which local day `day_number` ends."""
    return (day_number + 1) * 86400 - LOCAL_OFFSET_S
