"""P3, P14, checked inside the database as the jobs role (in the lifecycle job's task): the RLS self-check finds
no way past row-level security, and the audit chain verifies (MACs, links, head and the checkpoints)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from typing import Any

from runtime.audit.chain import ChainKey
from runtime.db import self_check
from runtime.db.connect import Connection
from runtime.db.ledger import verify_ledger
from runtime.verify_deployed.context import check
from runtime.verify_deployed.result import Checker, Clock, Result, utc_now


@dataclass
class DatabaseContext:
    connection: Connection
    chain_key: ChainKey | None  # PLATFORM_AUDIT_CHAIN_KEY (or --key-secret-id); None: the chain is not checked
    clock: Clock = utc_now

    def connections(self) -> Any:
        """A ConnectionSource lending this one connection (runtime.db.connect.ConnectionSource)."""
        connection = self.connection

        class _One:
            def connection(self, timeout: float | None = None) -> AbstractContextManager[Connection]:
                @contextmanager
                def lend() -> Iterator[Connection]:
                    yield connection
                return lend()
        return _One()


@check("runtime", "rls-self-check", ("P3",), needs="database")
def rls_self_check(ctx: DatabaseContext, result: Checker) -> list[Result]:
    report = self_check.inspect(ctx.connection, self_check.ServiceMode.JOB)
    return [result.verdict(report.ok, f"as database role {report.role}: " + (
        "; ".join(report.findings) if report.findings else "no way past row-level security, every SENSITIVE table "
        "has enabled and forced RLS with an owner policy"), [f"role:{report.role}"])]


@check("runtime", "audit-chain", ("P14",), needs="database")
def audit_chain(ctx: DatabaseContext, result: Checker) -> list[Result]:
    if ctx.chain_key is None:
        return [result.not_checked("no audit chain key (PLATFORM_AUDIT_CHAIN_KEY, or --key-secret-id)")]
    report = verify_ledger(ctx.connection, ctx.chain_key)
    return [result.verdict(report.ok, report.describe() + " (against the checkpoints the database holds)",
                           [f"audit ledger 1..{report.last_seq}"])]


CHECKS = (rls_self_check, audit_chain)
