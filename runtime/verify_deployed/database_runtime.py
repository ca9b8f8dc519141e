"""P3, P14, checked inside the database as the jobs role (in the lifecycle job's task): the RLS self-check finds
no way past row-level security, and the audit trail verifies against the checkpoints signed with the environment's
KMS key and kept in the Object Lock bucket (`audit verify`'s check: runtime/db/audit_verify.py)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from typing import Any

from runtime.audit.verify import VerifyReport
from runtime.db import self_check
from runtime.db.connect import Connection
from runtime.verify_deployed.context import check
from runtime.verify_deployed.result import Checker, Clock, Result, utc_now


@dataclass
class DatabaseContext:
    connection: Connection
    # verify_audit_trail with the environment's trust (public key, bucket); None: the trail is not checked
    audit_trail: Callable[[], VerifyReport] | None
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
    if ctx.audit_trail is None:
        return [result.not_checked("no audit trail verification (the signing key and checkpoint bucket settings)")]
    report = ctx.audit_trail()
    return [result.verdict(report.ok, report.describe() + " (against the signed checkpoints of the Object Lock "
                           "bucket)", [f"audit ledger 1..{report.last_seq}"])]


CHECKS = (rls_self_check, audit_chain)
