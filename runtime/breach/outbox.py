"""The notification outbox's state machine (P12). Pure: the Postgres store applies these rules.

    pending --claim--> sending --sent--> sent                (final)
                          \\--failure--> failed --claim--> sending ...   (while attempts < max_attempts)
    a `sending` row whose lease ran out is IN DOUBT: the send may or may not have happened.

One row per (incident, organisation, user): writing the outbox twice adds nothing. A row is claimed
(state `sending`, attempts + 1, committed) BEFORE the notifier is called, so a crash after the send
can never lead to a second automatic send: an in-doubt row is resent only when an operator asks for it.
"""

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import Enum
from typing import Final

DEFAULT_MAX_ATTEMPTS: Final = 5
DEFAULT_LEASE: Final = timedelta(minutes=15)
BASE_BACKOFF: Final = timedelta(seconds=2)
MAX_BACKOFF: Final = timedelta(minutes=5)


class State(Enum):
    PENDING = "pending"
    SENDING = "sending"
    SENT = "sent"
    FAILED = "failed"


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    max_attempts: int = DEFAULT_MAX_ATTEMPTS
    base_backoff: timedelta = BASE_BACKOFF
    max_backoff: timedelta = MAX_BACKOFF
    lease: timedelta = DEFAULT_LEASE

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError("max_attempts must be >= 1")

    def backoff(self, attempts: int) -> timedelta:
        """Wait before the next attempt, after `attempts` attempts: 2 s, 4 s, 8 s, ... capped."""
        backoff: timedelta = self.base_backoff * (2 ** max(attempts - 1, 0))
        return min(backoff, self.max_backoff)

    def after_failure(self, attempts: int, now: datetime, *, retryable: bool) -> datetime | None:
        """When to try again, or None when this row has had its last attempt."""
        if not retryable or attempts >= self.max_attempts:
            return None
        return now + self.backoff(attempts)


@dataclass(frozen=True, slots=True)
class Counts:
    impacted: int = 0
    sent: int = 0
    pending: int = 0  # not yet attempted, or failed and due for another attempt, or being sent now
    failed: int = 0  # gave up: out of attempts, or a permanent failure (retry with `breach deliver --retry-failed`)
    in_doubt: int = 0  # claimed, lease expired: check the provider, then `breach deliver --resend-in-doubt`

    @property
    def complete(self) -> bool:
        return self.impacted == self.sent
