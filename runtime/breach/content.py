"""What a breach notification says (P12): what happened, which data classes, consequences, mitigations, contact.

Pure. The message names no person and no organisation and quotes no data: the only personal data a
notification carries is the address it is sent to, which the notifier adds. Everything else comes from
the incident (scrubbed operator text, times, ids) and the fixed notices below.
"""

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Final

from runtime.classification import PLATFORM_REGISTRY, Registry
from runtime.errors import InvalidScopeError, PiiDetectedError
from runtime.telemetry.scrubber import LOG_KINDS, Scrubber

MAX_TEXT: Final = 2000
# Operator text is prose by nature; what must not be in it is an address, number, secret or IP.
_OPERATOR_TEXT = Scrubber(LOG_KINDS)


@dataclass(frozen=True, slots=True)
class DataClassNotice:
    label: str  # "logs of your model calls (inputs and outputs)"
    consequence: str
    mitigation: str


NOTICES: Final[dict[str, DataClassNotice]] = {
    "organisations": DataClassNotice(
        "your organisation's name and billing email address",
        "someone could use them to send convincing phishing or fake invoices to your organisation",
        "treat unexpected payment or login requests that mention this platform with suspicion and confirm them "
        "through a known channel",
    ),
    "users": DataClassNotice(
        "your account's email address and display name",
        "your address could receive targeted phishing that mentions this platform",
        "do not follow links in unexpected messages asking you to sign in; sign in only through your usual "
        "address, and enable multi-factor authentication where your identity provider offers it",
    ),
    "prompts": DataClassNotice(
        "your stored prompt templates",
        "their content, and any personal data or credentials written into them, may have been read",
        "review your prompts for credentials or personal data and rotate any credential that appears in one",
    ),
    "model_calls": DataClassNotice(
        "logs of your model calls (inputs, outputs, token counts and metadata)",
        "personal data your own end users sent to your AI applications may have been read",
        "review what your applications log; as the controller of your end users' data you may have to inform "
        "them or your supervisory authority; rotate any credential that appeared in logged inputs",
    ),
    "datasets": DataClassNotice(
        "the names and descriptions of your evaluation datasets",
        "their content may have been read",
        "review the datasets for personal data or confidential material",
    ),
    "dataset_items": DataClassNotice(
        "the examples in your evaluation datasets",
        "their content, including any personal data in them, may have been read",
        "review the examples for personal data and inform the people concerned where you must",
    ),
    "evaluation_results": DataClassNotice(
        "your evaluation results (evaluators, scores and details)",
        "results that quote model inputs or outputs may have exposed their content",
        "review evaluation details for quoted personal data",
    ),
}


def notice_for(table: str, registry: Registry = PLATFORM_REGISTRY) -> DataClassNotice:
    notice = NOTICES.get(table)
    if notice is not None:
        return notice
    declared = registry.table(table)
    label = declared.description.rstrip(".").lower() if declared is not None and declared.description else table
    return DataClassNotice(label, "this data may have been read", "review what this data holds")


def check_operator_text(text: str, what: str) -> str:
    """Operator-written text stored with the incident (NOT_SENSITIVE) and sent to every impacted user:
    refuse addresses, phone numbers, card numbers, secrets and IP addresses, by kind, never echoing it."""
    stripped = " ".join(text.split())
    if not stripped:
        raise InvalidScopeError(f"{what} is empty; say in one or two sentences what happened")
    if len(stripped) > MAX_TEXT:
        raise InvalidScopeError(f"{what} is longer than {MAX_TEXT} characters; keep it short, details go to the "
                                "contact")
    try:
        _OPERATOR_TEXT.check(stripped, field=what)
    except PiiDetectedError as exc:
        raise InvalidScopeError(
            f"{exc}. {what} goes into every notification and the incident record: describe the incident without "
            "personal data, identifiers of people, addresses or secrets"
        ) from None
    return stripped


@dataclass(frozen=True, slots=True)
class IncidentFacts:
    """What every notification of an incident shares."""

    incident_id: uuid.UUID
    declared_at: datetime
    window_start: datetime
    window_end: datetime
    summary: str
    mitigations: tuple[str, ...]
    contact: str

    @property
    def reference(self) -> str:
        return f"INC-{self.incident_id.hex[:8].upper()}"


@dataclass(frozen=True, slots=True)
class Message:
    subject: str
    text: str


def _when(at: datetime) -> str:
    return at.strftime("%Y-%m-%d %H:%M UTC") if at.utcoffset() is not None else at.isoformat()


def render(facts: IncidentFacts, tables: Sequence[str], registry: Registry = PLATFORM_REGISTRY) -> Message:
    """The notification for one impacted user, whose data classes are `tables`."""
    notices = [notice_for(t, registry) for t in sorted(tables)]
    lines = [
        "We are writing to tell you about a security incident that involved data held for your organisation "
        "on our platform.",
        "",
        f"Reference: {facts.reference}",
        f"Period concerned: {_when(facts.window_start)} to {_when(facts.window_end)}",
        f"Declared: {_when(facts.declared_at)}",
        "",
        "What happened",
        facts.summary,
        "",
        "Which of your data was involved",
        *(f"- {n.label}" for n in notices),
        "",
        "What this may mean for you",
        *(f"- {n.consequence}" for n in notices),
        "",
        "What we have done and what you can do",
        *(f"- {m}" for m in facts.mitigations),
        *(f"- {n.mitigation}" for n in notices),
        "",
        "Contact",
        f"Questions about this incident: {facts.contact} (quote {facts.reference}).",
        "",
        "We will never ask for your password in connection with this notice.",
    ]
    return Message(f"Security notice {facts.reference}: data held for your organisation was involved",
                   "\n".join(lines) + "\n")


def labels(tables: Iterable[str]) -> list[str]:
    return [notice_for(t).label for t in sorted(tables)]
