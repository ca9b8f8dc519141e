"""Startup self-check: refuse to serve when the connection could read past row-level security (P3, P4).

Run once on a fresh connection before the service takes traffic. It refuses (SelfCheckError, listing
every finding) when the connected role
- is superuser or has BYPASSRLS, or can SET ROLE / inherit from a role that is or does;
- owns a SENSITIVE table, or is a member of its owner (owners can switch RLS off);
and when any SENSITIVE table is missing or lacks enabled AND forced RLS with an owner policy.
In support mode it also refuses when the role holds any privilege on a SENSITIVE table (P4).
"""

from collections.abc import Sequence
from dataclasses import dataclass
from enum import Enum

from runtime import contract
from runtime.classification import Registry
from runtime.db.connect import Connection
from runtime.db.errors import translated
from runtime.db.migrate import rls_problems
from runtime.db.schema import DATABASE_REGISTRY, SCHEMA, SERVICE_ROLES, sensitive_tables
from runtime.errors import SelfCheckError

_SERVICE_ROLES_TEXT = ", ".join(SERVICE_ROLES[:-1]) + f" or {SERVICE_ROLES[-1]}"


class ServiceMode(Enum):
    """The modes a serving or job task self-checks in (values: runtime.contract.ServiceMode, what the stacks set)."""

    OWNER = contract.ServiceMode.OWNER.value  # the owner API (platform_app)
    SUPPORT = contract.ServiceMode.SUPPORT.value  # NOT_SENSITIVE views only (platform_support)
    JOB = contract.ServiceMode.JOB.value  # lifecycle jobs (platform_jobs)


@dataclass(frozen=True, slots=True)
class SelfCheckReport:
    role: str
    findings: tuple[str, ...]

    @property
    def ok(self) -> bool:
        return not self.findings


def inspect(conn: Connection, mode: ServiceMode = ServiceMode.OWNER,
            registry: Registry = DATABASE_REGISTRY) -> SelfCheckReport:
    findings: list[str] = []
    with translated(), conn.transaction():
        role_row = conn.execute(
            "SELECT current_user, rolsuper, rolbypassrls FROM pg_roles WHERE rolname = current_user"
        ).fetchone()
        assert role_row is not None
        role, superuser, bypass = role_row
        if superuser:
            findings.append(f"role {role} is a superuser, which ignores row-level security")
        if bypass:
            findings.append(f"role {role} has BYPASSRLS, which ignores row-level security")
        for (other,) in conn.execute(
            """
            SELECT r.rolname FROM pg_roles r
            WHERE r.rolname <> current_user AND (r.rolsuper OR r.rolbypassrls)
              AND pg_has_role(current_user, r.oid, 'MEMBER')
            """
        ).fetchall():
            findings.append(f"role {role} is a member of {other}, which is superuser or BYPASSRLS (SET ROLE)")
        names = [t.name for t in sensitive_tables(registry)]
        for table_name, owner in conn.execute(
            """
            SELECT c.relname, pg_get_userbyid(c.relowner) FROM pg_class c
            JOIN pg_namespace n ON n.oid = c.relnamespace
            WHERE n.nspname = %s AND c.relname = ANY(%s) AND pg_has_role(current_user, c.relowner, 'MEMBER')
            """,
            (SCHEMA, names),
        ).fetchall():
            how = "owns" if owner == role else f"is a member of {owner}, which owns"
            findings.append(f"role {role} {how} the SENSITIVE table {SCHEMA}.{table_name} and could disable its RLS")
        findings.extend(rls_problems(conn, registry))
        if mode is ServiceMode.SUPPORT:
            for (table_name,) in conn.execute(
                """
                SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                WHERE n.nspname = %s AND c.relname = ANY(%s)
                  AND has_table_privilege(c.oid, 'SELECT,INSERT,UPDATE,DELETE,TRUNCATE,REFERENCES,TRIGGER')
                """,
                (SCHEMA, names),
            ).fetchall():
                findings.append(f"support role {role} holds a privilege on the SENSITIVE table {SCHEMA}.{table_name}")
    return SelfCheckReport(str(role), tuple(findings))


def require_safe(conn: Connection, mode: ServiceMode = ServiceMode.OWNER,
                 registry: Registry = DATABASE_REGISTRY) -> SelfCheckReport:
    """`inspect`, raising SelfCheckError when there is any finding: the service must not start."""
    report = inspect(conn, mode, registry)
    if not report.ok:
        raise SelfCheckError(_message(report.role, report.findings))
    return report


def _message(role: str, findings: Sequence[str]) -> str:
    return (
        f"refusing to serve as database role {role}:\n- " + "\n- ".join(findings)
        + f"\nConnect as the service's own role ({_SERVICE_ROLES_TEXT}, created by "
        "`python -m runtime db bootstrap-roles`) and run `python -m runtime db migrate`."
    )
