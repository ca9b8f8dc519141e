"""Fixtures for the lifecycle tests: the data layer as the owner API (platform_app) writes it and as the
lifecycle job (platform_jobs) reads and erases it, sharing one keyring, plus organisations with every table
filled with awkward values."""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pytest
from psycopg_pool import ConnectionPool

from runtime.audit.chain import ChainKey
from runtime.db import Database, OwnerScope, PostgresWrappedKeyStore, Records, open_pool
from runtime.db.ledger import AuditLedger
from runtime.db.schema import APP_ROLE, JOBS_ROLE
from runtime.envelope import EnvelopeCipher, KeyMaterial, LocalKeyring
from runtime.lifecycle.erasure import Eraser, ErasureSettings
from runtime.lifecycle.jobs import ExportJob
from runtime.lifecycle.receipt import ReceiptKey, ReceiptKeys
from runtime.lifecycle.receipt_signing import LocalReceiptSigner
from tests.support.platform_db import PlatformDatabase

RETENTION_DAYS = 35
# Values that break naive exports: unicode, CR/LF, commas and quotes, empty, NUL, binary, formulas, separators.
ODD_VALUES: tuple[bytes, ...] = (
    b"plain text",
    "unicod\u00e9 \u65e5\u672c\u8a9e \U0001f680 \u202e rtl".encode(),
    b"line one\nline two\r\nline three\rend",
    b'comma, "quoted", ""doubled"" and a trailing comma,',
    b"",
    b"\x00nul inside\x00",
    bytes(range(256)),
    b"\xff\xfe\xfd not utf-8",
    b"=SUM(A1:A9)",
    b"  leading and trailing spaces  ",
    "\u2028line separator\u2029".encode(),
    b"\ttab;semicolon:colon",
    b"{\"base64\": \"looks like an encoding\"}",
)


@dataclass
class Stack:
    """The runtime's data layer on one database."""

    db: PlatformDatabase
    keyring: LocalKeyring
    chain_key: ChainKey
    pools: list[ConnectionPool] = field(default_factory=list)

    def pool(self, role: str, size: int = 4) -> ConnectionPool:
        pool = open_pool(self.db.settings(role, pool_min_size=1, pool_max_size=size), self.db.password(role),
                         name=f"lc-{role}-{len(self.pools)}")
        self.pools.append(pool)
        return pool

    def __post_init__(self) -> None:
        self.app = Database(self.pool(APP_ROLE), AuditLedger())
        self.app_cipher = EnvelopeCipher(keyring=self.keyring, store=PostgresWrappedKeyStore(self.pool(APP_ROLE, 2)))
        self.records = Records(self.app_cipher)
        self.jobs_pool = self.pool(JOBS_ROLE)
        self.jobs = Database(self.jobs_pool, AuditLedger())
        self.jobs_keys = PostgresWrappedKeyStore(self.pool(JOBS_ROLE, 2))
        self.jobs_cipher = EnvelopeCipher(keyring=self.keyring, store=self.jobs_keys)
        self.snapshot_pool = self.pool(JOBS_ROLE, 2)
        self.mac_key = ReceiptKey(os.urandom(32))  # old (version 1) receipts only
        self.receipt_key = ReceiptKeys(LocalReceiptSigner.generate(), self.mac_key)

    def fresh_jobs_cipher(self) -> EnvelopeCipher:
        """A cipher with an empty cache, as a new task would have."""
        return EnvelopeCipher(keyring=self.keyring, store=self.jobs_keys)

    def export_job(self, **overrides: Any) -> ExportJob:
        values: dict[str, Any] = {"database": self.jobs, "snapshot_connections": self.snapshot_pool,
                                  "cipher": self.jobs_cipher}
        values.update(overrides)
        return ExportJob(**values)

    def eraser(self, **overrides: Any) -> Eraser:
        values: dict[str, Any] = {
            "database": self.jobs, "key_store": self.jobs_keys, "cipher": self.jobs_cipher,
            "receipt_key": self.receipt_key,
            "settings": ErasureSettings("test", RETENTION_DAYS, 300.0),
        }
        values.update(overrides)
        return Eraser(**values)

    def close(self) -> None:
        for pool in self.pools:
            pool.close()


@dataclass
class Organisation:
    principal: OwnerScope
    rows: dict[str, dict[uuid.UUID, dict[str, object]]]  # table -> id -> column -> value written

    @property
    def owner_id(self) -> uuid.UUID:
        return self.principal.owner_id

    @property
    def total(self) -> int:
        return sum(len(r) for r in self.rows.values())


def _values(n: int, offset: int = 0) -> list[bytes]:
    return [ODD_VALUES[(i + offset) % len(ODD_VALUES)] for i in range(n)]


def fill_organisation(stack: Stack, *, per_table: int = len(ODD_VALUES)) -> Organisation:
    """An organisation with every SENSITIVE table filled, values cycling through ODD_VALUES, some NULLs."""
    principal = OwnerScope(uuid.uuid4(), uuid.uuid4(), f"req-{uuid.uuid4().hex[:8]}")
    rows: dict[str, dict[uuid.UUID, dict[str, object]]] = {}
    records = stack.records

    def put(tx: Any, table: str, batch: list[dict[str, object]]) -> list[uuid.UUID]:
        ids = records.insert(tx, table, batch)
        rows.setdefault(table, {}).update(zip(ids, batch, strict=True))
        return ids

    with stack.app.owner_transaction(principal) as tx:
        put(tx, "organisations", [{"name": "Acme \u00e9, \"Ltd\"\n".encode(), "billing_email": b"billing@acme.test"}])
        v = _values(per_table)
        put(tx, "users", [{"email": f"u{i}@acme.test".encode(), "display_name": v[i] if i % 3 else None}
                          for i in range(per_table)])
        prompts = put(tx, "prompts", [{"name": v[i], "body": v[-1 - i] or b"body"} for i in range(per_table)])
        calls = put(tx, "model_calls", [
            {"prompt_id": prompts[i] if i % 4 else None, "model": b"gpt-x", "input": v[i] or b"in",
             "output": v[(i + 3) % per_table], "input_tokens": b"12", "output_tokens": None, "metadata": v[i - 1]}
            for i in range(per_table)
        ])
        datasets = put(tx, "datasets", [{"name": b"golden set", "description": v[1]}])
        items = put(tx, "dataset_items", [{"dataset_id": datasets[0], "input": v[i] or b"x",
                                           "expected_output": v[(i + 5) % per_table]} for i in range(per_table)])
        put(tx, "evaluation_results", [
            {"model_call_id": calls[i], "dataset_item_id": items[i] if i % 2 else None, "evaluator": b"exact-match",
             "score": b"0.75", "details": v[(i + 7) % per_table]}
            for i in range(per_table)
        ])
    return Organisation(principal, rows)


@pytest.fixture(scope="session")
def lc_stack(platform_db: PlatformDatabase, chain_key: ChainKey) -> Iterator[Stack]:
    stack = Stack(platform_db, LocalKeyring(KeyMaterial(os.urandom(32)), environment="test"), chain_key)
    yield stack
    stack.close()


@pytest.fixture
def make_org(lc_stack: Stack) -> Callable[..., Organisation]:
    def make(**kwargs: Any) -> Organisation:
        return fill_organisation(lc_stack, **kwargs)

    return make


class FixedClock:
    def __init__(self, at: datetime | None = None) -> None:
        self.at = at or datetime(2026, 3, 1, 12, 0, 0, 123456, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.at
