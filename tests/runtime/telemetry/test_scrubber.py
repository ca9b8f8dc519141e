import time

import pytest

from runtime.errors import PiiDetectedError
from runtime.telemetry import LOG_KINDS, PiiKind, Scrubber, luhn_valid

CATCHES = [
    (PiiKind.EMAIL, "alice.smith+llm@example.co.uk"),
    (PiiKind.PHONE, "+44 20 7946 0958"),
    (PiiKind.PHONE, "(415) 555-0123"),
    (PiiKind.PHONE, "+14155550123"),
    (PiiKind.CARD_NUMBER, "4111111111111111"),
    (PiiKind.CARD_NUMBER, "5500-0000-0000-0004"),
    (PiiKind.CARD_NUMBER, "3782 822463 10005"),
    (PiiKind.SECRET, "AKIAIOSFODNN7EXAMPLE"),
    (PiiKind.SECRET, "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"),
    (PiiKind.SECRET, "Bearer abcdefghijklmnop"),
    (PiiKind.SECRET, "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0In0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U"),
    (PiiKind.SECRET, "sk-proj-4f9Tq8LmZ2xV7cB1nK3pR6sD"),
    (PiiKind.SECRET, "sk-ant-api03-Xb7Qm2Lk9Pz4Rt6Vw8"),
    (PiiKind.SECRET, "ghp_abcdefghijklmnopqrstuvwxyz0123456789"),
    (PiiKind.SECRET, "-----BEGIN RSA PRIVATE KEY-----"),
    (PiiKind.SECRET, "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"),
    (PiiKind.IP_ADDRESS, "192.168.10.20"),
    (PiiKind.IP_ADDRESS, "2001:db8::8a2e:370:7334"),
    (PiiKind.IP_ADDRESS, "::ffff:10.0.0.1"),
    (PiiKind.FREE_TEXT, "my name is Alice"),
]

CLEAN = [
    "completed",
    "gpt-4o",
    "model_calls",
    "550e8400-e29b-41d4-a716-446655440000",
    "eu-west-1",
    "envelope.cache",
    "request_id_2024_11_27_abc",
    "2024-11-27",
    "3.14159265",
    "v1.2.3",
    "12:30:45",
    "foo::bar",
    "42",
]


@pytest.mark.parametrize(("kind", "text"), CATCHES)
def test_scrubber_pii_kind_is_found(kind: PiiKind, text: str) -> None:
    assert kind in Scrubber().kinds_in(text)


@pytest.mark.parametrize(("kind", "text"), CATCHES)
def test_scrubber_pii_inside_sentence_is_found(kind: PiiKind, text: str) -> None:
    assert kind in Scrubber().kinds_in(f"user said: {text}, then left")


@pytest.mark.parametrize("text", CLEAN)
def test_scrubber_ids_enums_and_numbers_find_nothing(text: str) -> None:
    assert Scrubber().find(text) == []


def test_scrubber_card_failing_luhn_is_not_card() -> None:
    assert PiiKind.CARD_NUMBER not in Scrubber().kinds_in("4111111111111112")


def test_luhn_valid_known_numbers() -> None:
    assert luhn_valid("79927398713")
    assert not luhn_valid("79927398710")


def test_scrubber_check_refuses_and_names_kind_not_value() -> None:
    with pytest.raises(PiiDetectedError, match="email") as raised:
        Scrubber().check("bob@example.org", field="field x")
    assert "bob" not in str(raised.value)


def test_scrubber_redact_replaces_each_finding() -> None:
    text = "from 10.1.2.3 mail bob@example.org key AKIAIOSFODNN7EXAMPLE card 4111 1111 1111 1111 ok"
    redacted = Scrubber(LOG_KINDS).redact(text)
    for secret in ("10.1.2.3", "bob@example.org", "AKIAIOSFODNN7EXAMPLE", "4111"):
        assert secret not in redacted
    assert redacted.startswith("from [REDACTED:ip-address] mail [REDACTED:email]")
    assert redacted.endswith(" ok")


def test_scrubber_log_kinds_keep_prose() -> None:
    assert Scrubber(LOG_KINDS).redact("cache warmed in time") == "cache warmed in time"


ADVERSARIAL = ["1." * 50_000, "A1" * 50_000, "12-" * 30_000, "eyJaaaa." * 12_000, "1:" * 50_000, "a." * 50_000 + "@"]


def test_scrubber_long_adversarial_input_scans_in_linear_time() -> None:
    # Regression guard against catastrophic backtracking (each took seconds to minutes when a
    # pattern could restart inside a run). The bound is loose: linear scanning needs ~0.1 s.
    start = time.perf_counter()
    for text in ADVERSARIAL:
        Scrubber().find(text)
    assert time.perf_counter() - start < 5.0


def test_scrubber_random_uuids_are_never_pii() -> None:
    """About one random UUID in 770 has Luhn-valid digits across its hyphens; ids must still pass."""
    import uuid as uuid_module

    from runtime.telemetry.scrubber import Scrubber

    scrubber = Scrubber()
    flagged = [u for u in (str(uuid_module.uuid4()) for _ in range(20_000)) if scrubber.find(u)]
    assert flagged == []
    # A card number next to an id is still caught.
    assert scrubber.find(f"{uuid_module.uuid4()} 4111 1111 1111 1111")
