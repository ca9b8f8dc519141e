"""The 24-hour clock of P12: declared at T, every impacted user notified by T + 24 h. Pure; the clock is passed in."""

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final

NOTIFY_WITHIN: Final = timedelta(hours=24)


@dataclass(frozen=True, slots=True)
class Deadline:
    declared_at: datetime
    within: timedelta = NOTIFY_WITHIN

    @property
    def due_at(self) -> datetime:
        return self.declared_at + self.within

    def time_left(self, now: datetime) -> timedelta:
        """Negative once the deadline has passed."""
        return self.due_at - now

    def overdue(self, now: datetime, *, complete: bool) -> bool:
        return not complete and now > self.due_at


def format_duration(delta: timedelta) -> str:
    """`5h 07m`, `-1h 30m` (overdue), `0m 42s` under a minute."""
    sign = "-" if delta < timedelta(0) else ""
    seconds = int(abs(delta).total_seconds())
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    if hours == 0 and minutes == 0:
        return f"{sign}0m {secs:02d}s"
    return f"{sign}{hours}h {minutes:02d}m"
