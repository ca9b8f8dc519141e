"""Backstop that finds personal data and secrets in strings bound for NOT_SENSITIVE sinks (P7).

Plain regular expressions plus a few validators (Luhn, `ipaddress`, Shannon entropy): no NLP
model. It errs on the side of refusing: a false positive costs a telemetry field, a false
negative leaks data.
"""

import ipaddress
import math
import re
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from enum import Enum

from runtime.errors import PiiDetectedError


class PiiKind(Enum):
    EMAIL = "email"
    PHONE = "phone"
    CARD_NUMBER = "card-number"
    SECRET = "secret"  # noqa: S105 (a label, not a password) -- API keys, tokens, private keys, long high-entropy strings
    IP_ADDRESS = "ip-address"
    FREE_TEXT = "free-text"  # prose may name people or quote user data; no model can vouch for it


@dataclass(frozen=True, slots=True)
class Finding:
    kind: PiiKind
    start: int
    end: int


# Lookbehinds pin each match to the start of a run, which keeps scanning linear on long input.
_EMAIL = re.compile(r"(?<![A-Za-z0-9._%+-])[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}")
_CARD = re.compile(r"(?<![\d-])\d(?:[ -]?\d){12,18}(?![\d-])")
_PHONE = re.compile(
    r"(?<![\w.+-])(?:\+\d{1,3}[\s.-]?)?(?:\(\d{1,4}\)[\s.-]?)?\d{2,4}(?:[\s.-]?\d{2,4}){1,4}(?![\w.-]*\d)"
)
_IPV4 = re.compile(r"(?<![\d.])(?:\d{1,3}\.){3}\d{1,3}(?![\d.])")
# One character class, so matching stays linear; `_is_ipv6` does the parsing.
_IPV6 = re.compile(r"(?<![\w:.])[0-9A-Fa-f:.]{2,}(?:%\w+)?")
_SECRETS = re.compile(
    "|".join(
        [
            r"\b(?:AKIA|ASIA|ABIA|ACCA|AGPA|AIDA|AROA|ANPA|ANVA|APKA)[A-Z0-9]{16}\b",  # AWS access key ids
            r"(?i:\bbearer\s+[A-Za-z0-9._~+/=-]{8,})",  # Authorization header values
            r"\beyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*",  # JWTs
            r"\b(?:sk|pk|rk)-[A-Za-z0-9_-]{16,}",  # OpenAI/Anthropic-style keys (sk-..., sk-ant-...)
            r"\b(?:sk|pk|rk)_(?:live|test)_[A-Za-z0-9]{10,}",  # Stripe-style keys
            r"\bgh[pousr]_[A-Za-z0-9]{30,}",  # GitHub tokens
            r"\bxox[abprs]-[A-Za-z0-9-]{10,}",  # Slack tokens
            r"-----BEGIN [A-Z ]*PRIVATE KEY-----",
        ]
    )
)
_TOKEN = re.compile(r"[A-Za-z0-9+/=_-]{20,}")
_UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_DECIMAL = re.compile(r"\d+\.\d+")
_FREE_TEXT = re.compile(r"\S\s+\S")

# Random 20+ character tokens over base64/hex alphabets land above this; words and slugs below.
_MIN_SECRET_ENTROPY_BITS = 3.5


def is_uuid_text(text: str) -> bool:
    """A UUID's text: an id, which `Scrubber.find` passes at once (no rule can match it once masked)."""
    return _UUID.fullmatch(text) is not None


def luhn_valid(digits: str) -> bool:
    """The Luhn checksum every payment card number satisfies."""
    total = 0
    for i, char in enumerate(reversed(digits)):
        d = int(char)
        if i % 2 == 1:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def looks_like_card_number(number: int) -> bool:
    if -10**12 < number < 10**12:
        return False  # under 13 digits: the common case (counts, status codes) without a conversion
    digits = str(abs(number))
    return 13 <= len(digits) <= 19 and luhn_valid(digits)


def _is_card(candidate: str) -> bool:
    digits = re.sub(r"\D", "", candidate)
    return 13 <= len(digits) <= 19 and luhn_valid(digits)


def _is_phone(candidate: str) -> bool:
    digits = sum(c.isdigit() for c in candidate)
    if not 8 <= digits <= 15:
        return False
    # Dates, decimals and IPv4 addresses are digit runs too; they are not phone numbers.
    return not (_DATE.fullmatch(candidate) or _DECIMAL.fullmatch(candidate) or _IPV4.fullmatch(candidate))


def _is_ipv4(candidate: str) -> bool:
    try:
        ipaddress.IPv4Address(candidate)
    except ValueError:
        return False
    return True


def _is_ipv6(candidate: str) -> bool:
    if candidate.count(":") < 2 or len(candidate) > 64:
        return False
    try:
        ipaddress.IPv6Address(candidate)
    except ValueError:
        return False
    return True


def _shannon_entropy(text: str) -> float:
    counts = Counter(text)
    n = len(text)
    return -sum(c / n * math.log2(c / n) for c in counts.values())


def _is_high_entropy_secret(candidate: str) -> bool:
    if is_uuid_text(candidate):
        return False  # structured identifiers, not secrets
    has_digit = any(c.isdigit() for c in candidate)
    has_letter = any(c.isalpha() for c in candidate)
    # Slugs like request_id_2024_11_27 are words joined by separators; random tokens rarely are.
    separators = sum(c in "_-." for c in candidate)
    return (
        has_digit
        and has_letter
        and separators <= len(candidate) // 8
        and _shannon_entropy(candidate) >= _MIN_SECRET_ENTROPY_BITS
    )


_Rule = tuple[PiiKind, re.Pattern[str], Callable[[str], bool] | None]

_RULES: tuple[_Rule, ...] = (
    (PiiKind.EMAIL, _EMAIL, None),
    (PiiKind.SECRET, _SECRETS, None),
    (PiiKind.SECRET, _TOKEN, _is_high_entropy_secret),
    (PiiKind.CARD_NUMBER, _CARD, _is_card),
    (PiiKind.IP_ADDRESS, _IPV4, _is_ipv4),
    (PiiKind.IP_ADDRESS, _IPV6, _is_ipv6),
    (PiiKind.PHONE, _PHONE, _is_phone),
    (PiiKind.FREE_TEXT, _FREE_TEXT, None),
)

ALL_KINDS = frozenset(PiiKind)
# Log messages are prose written by developers: redact the rest of the kinds in them, not the prose.
LOG_KINDS = ALL_KINDS - {PiiKind.FREE_TEXT}


class Scrubber:
    """Finds, redacts or refuses PII and secrets in text."""

    def __init__(self, kinds: Iterable[PiiKind] = ALL_KINDS) -> None:
        self._kinds = frozenset(kinds)

    def find(self, text: str) -> list[Finding]:
        if is_uuid_text(text):
            return []  # the masked text below ("u" * 36) matches no rule: the common case (ids) answered at once
        findings: list[Finding] = []
        # UUIDs are ids, not PII; their hex groups must not read as card or phone numbers (about one random
        # UUID in 770 has Luhn-valid digits across its hyphens). Masking keeps every other match's position.
        masked = _UUID.sub(lambda uuid_match: "u" * len(uuid_match.group()), text)
        for kind, pattern, is_real in _RULES:
            if kind not in self._kinds:
                continue
            for match in pattern.finditer(masked):
                if is_real is None or is_real(match.group()):
                    findings.append(Finding(kind, match.start(), match.end()))
        return findings

    def kinds_in(self, text: str) -> frozenset[PiiKind]:
        return frozenset(f.kind for f in self.find(text))

    def check(self, text: str, *, field: str = "value") -> None:
        """Raise `PiiDetectedError` naming the kinds found (never the text itself)."""
        kinds = self.kinds_in(text)
        if kinds:
            names = ", ".join(sorted(k.value for k in kinds))
            raise PiiDetectedError(
                f"{field} looks like it holds {names}; NOT_SENSITIVE sinks accept ids, enums, numbers and "
                "timestamps only: send the data through the encrypted store instead"
            )

    def redact(self, text: str) -> str:
        """`text` with every finding replaced by `[REDACTED:<kind>]` (overlapping findings merged)."""
        spans = sorted(self.find(text), key=lambda f: (f.start, -f.end))
        out: list[str] = []
        position = 0
        for finding in spans:
            if finding.end <= position:
                continue
            start = max(finding.start, position)
            out.append(text[position:start])
            out.append(f"[REDACTED:{finding.kind.value}]")
            position = finding.end
        out.append(text[position:])
        return "".join(out)
