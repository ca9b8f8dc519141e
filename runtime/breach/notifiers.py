"""Delivering breach notifications (P12): the notifier interface and its file adapter.

A notifier gets one `Outgoing` at a time: the address (SENSITIVE, in a `Sensitive` box, never logged), the
rendered message, and an idempotency key unique to (incident, organisation, user). It returns the provider's
message id, or raises `NotificationError` with the provider's error CODE (its message may quote the address)
and whether another attempt may succeed. The AWS adapters (SES for users, SNS for the incident topic) are in
runtime/breach/aws.py.
"""

import hashlib
import json
import os
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from runtime.breach.content import Message
from runtime.classification import Sensitive
from runtime.errors import NotificationError, NotifierConfigurationError


@dataclass(frozen=True, slots=True)
class Outgoing:
    incident_id: uuid.UUID
    owner_id: uuid.UUID
    user_id: uuid.UUID
    address: Sensitive[str] = field(repr=False)
    message: Message = field(repr=False)

    @property
    def idempotency_key(self) -> str:
        return f"{self.incident_id}.{self.owner_id}.{self.user_id}"


class Notifier(Protocol):
    def send(self, outgoing: Outgoing) -> str:
        """Deliver one notification; return the provider's message id."""
        ...


class IncidentAlerts(Protocol):
    """The operators' incident channel (the SNS incident topic): counts and ids only, never personal data."""

    def alert(self, subject: str, text: str) -> None: ...


class FileNotifier:
    """Writes each notification as a JSON file named after its idempotency key, created exclusively (mode 0600):
    a second delivery of the same notification finds the file and writes nothing. For drills and for installs
    that hand notifications to their own mail system. The files hold addresses: keep the directory on encrypted
    storage inside the environment (P6, P7)."""

    def __init__(self, directory: Path) -> None:
        if not directory.is_dir():
            raise NotifierConfigurationError(f"the notification directory {directory} does not exist; create it")
        self._directory = directory

    def __repr__(self) -> str:
        return f"FileNotifier({self._directory})"

    def path_for(self, key: str) -> Path:
        return self._directory / f"{hashlib.sha256(key.encode()).hexdigest()[:32]}.json"

    def send(self, outgoing: Outgoing) -> str:
        path = self.path_for(outgoing.idempotency_key)
        document = {
            "idempotency_key": outgoing.idempotency_key,
            "to": outgoing.address.reveal(),
            "subject": outgoing.message.subject,
            "text": outgoing.message.text,
        }
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            return path.name  # delivered before: the same notification is never written twice
        except OSError as exc:
            raise NotificationError(f"could not write {path.name}: {exc.strerror}", code="FileWriteFailed",
                                    retryable=True) from None
        with os.fdopen(fd, "w") as f:
            json.dump(document, f, indent=2)
            f.write("\n")
        return path.name


class PrintedAlerts:
    """Incident alerts to stderr when no topic is configured (the job's log reaches the operators)."""

    def __init__(self, write: "WriteText") -> None:
        self._write = write

    def alert(self, subject: str, text: str) -> None:
        self._write(f"ALERT: {subject}\n{text}\n")


class WriteText(Protocol):
    def __call__(self, text: str, /) -> object: ...
