"""Create the database roles and their attributes, idempotently. Run once per database by an admin
(the RDS master user, or the test cluster's superuser): `python -m runtime db bootstrap-roles`.

- platform_owner owns the schemas and runs the migrations; it never serves requests.
- platform_app, platform_support, platform_jobs, platform_sequencer are the services' login roles: never
  superuser, never BYPASSRLS, no CREATEROLE/CREATEDB, and no membership in anything but rds_iam (IAM login on RDS).
- platform_drill creates and drops the breach drill's scratch databases: CREATEDB and nothing else (no
  membership in any platform role, no privilege on any schema), so a drill never needs the master user.
  It owns what it creates: it migrates its scratch database itself and grants the jobs role CONNECT on it.
Attributes are (re)applied on every run, so a role that drifted (say, someone granted BYPASSRLS) is
brought back. Only a true superuser may touch SUPERUSER/BYPASSRLS/REPLICATION (the RDS master user
may not): without one, the run checks them instead and refuses a role that has any.
"""

from collections.abc import Mapping

from psycopg import sql

from runtime import settings
from runtime.db.connect import Connection
from runtime.db.errors import translated
from runtime.db.schema import APP_ROLE, DRILL_ROLE, JOBS_ROLE, OWNER_ROLE, SEQUENCER_ROLE, SUPPORT_ROLE
from runtime.errors import SchemaError

ALL_ROLES = (OWNER_ROLE, APP_ROLE, SUPPORT_ROLE, JOBS_ROLE, DRILL_ROLE, SEQUENCER_ROLE)
_SAFE_ATTRIBUTES = sql.SQL("LOGIN NOCREATEDB NOCREATEROLE INHERIT")
# The drill role's one extra attribute: it creates (and, as their owner, drops) scratch databases.
_DRILL_ATTRIBUTES = sql.SQL("LOGIN CREATEDB NOCREATEROLE INHERIT")
# Only a true superuser may even name these (RDS's master user is not one); they are also the defaults.
_SUPERUSER_ONLY_ATTRIBUTES = sql.SQL("NOSUPERUSER NOBYPASSRLS NOREPLICATION")


def bootstrap_roles(
    admin: Connection,
    *,
    dbname: str,
    passwords: Mapping[str, str] | None = None,
    require_rds_iam: bool = False,
) -> None:
    """Create or repair the five roles and the database-level grants. `passwords` is for installs
    without IAM authentication (and tests); with IAM, every role, the migration owner included, gets
    `rds_iam` (Aurora and RDS have it) and no password. `require_rds_iam` refuses a cluster without it,
    where an IAM login (the deploy-time setup's, as platform_owner) could never work."""
    passwords = passwords or {}
    unknown = set(passwords) - set(ALL_ROLES)
    if unknown:
        raise ValueError(f"no such platform role(s): {', '.join(sorted(unknown))}")
    with translated(), admin.transaction():
        has_rds_iam = admin.execute("SELECT 1 FROM pg_roles WHERE rolname = 'rds_iam'").fetchone() is not None
        if require_rds_iam and not has_rds_iam:
            raise SchemaError(
                "this cluster has no rds_iam role, so no role can log in with an IAM token; run against Aurora or "
                f"RDS PostgreSQL, or set {settings.DATABASE_IAM_AUTH}=false and give the roles passwords"
            )
        is_superuser = admin.execute("SELECT rolsuper FROM pg_roles WHERE rolname = current_user").fetchone()
        superuser = is_superuser is not None and bool(is_superuser[0])
        for role in ALL_ROLES:
            ident = sql.Identifier(role)
            attributes: sql.Composable = _DRILL_ATTRIBUTES if role == DRILL_ROLE else _SAFE_ATTRIBUTES
            if superuser:
                attributes = sql.SQL("{} {}").format(attributes, _SUPERUSER_ONLY_ATTRIBUTES)
            exists = admin.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (role,)).fetchone()
            if not exists:
                admin.execute(sql.SQL("CREATE ROLE {} {}").format(ident, attributes))
            admin.execute(sql.SQL("ALTER ROLE {} {}").format(ident, attributes))
            if role in passwords:
                # ALTER ROLE takes no bind parameters; sql.Literal quotes the password safely.
                admin.execute(sql.SQL("ALTER ROLE {} PASSWORD {}").format(ident, sql.Literal(passwords[role])))
            if has_rds_iam:
                admin.execute(sql.SQL("GRANT rds_iam TO {}").format(ident))
            admin.execute(sql.SQL("GRANT CONNECT ON DATABASE {} TO {}").format(sql.Identifier(dbname), ident))
        # Only the owner creates schemas; nobody else connects by default.
        admin.execute(sql.SQL("GRANT CREATE ON DATABASE {} TO {}").format(sql.Identifier(dbname),
                                                                          sql.Identifier(OWNER_ROLE)))
        admin.execute(sql.SQL("REVOKE ALL ON DATABASE {} FROM PUBLIC").format(sql.Identifier(dbname)))
        admin.execute("REVOKE CREATE ON SCHEMA public FROM PUBLIC")
        unsafe = admin.execute(
            "SELECT rolname FROM pg_roles WHERE rolname = ANY(%s) AND (rolsuper OR rolbypassrls OR rolreplication)",
            (list(ALL_ROLES),),
        ).fetchall()
        if unsafe:
            names = ", ".join(r[0] for r in unsafe)
            raise SchemaError(
                f"role(s) {names} are superuser, BYPASSRLS or REPLICATION and this admin may not change that; "
                "have a superuser run `ALTER ROLE ... NOSUPERUSER NOBYPASSRLS NOREPLICATION`, or drop and re-create "
                "them"
            )
