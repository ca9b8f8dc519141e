"""The local TLS PostgreSQL (tests/support/postgres.py) made to play the Aurora cluster of the template.

- the master user of the template (`MasterUsername`, the password in its managed secret) is created as RDS
  does it: LOGIN CREATEROLE CREATEDB, owner of the template's `DatabaseName`, admin of `rds_iam`, no superuser;
- `rds_iam` exists, as on RDS; its members log in without a password check (`trust`, over TLS only). On AWS,
  RDS verifies the IAM token against `rds-db:connect`; locally the token is signed with the task role's
  credentials but nobody checks it: that grant is proven by the static permission check, not here.
- everyone else (the superuser, the master user) authenticates with SCRAM.
"""

from __future__ import annotations

import psycopg
from psycopg import sql

from e2e.standins import DatabaseStandIn
from tests.support.postgres import PostgresCluster


def _hba(master_user: str) -> str:
    return (
        "# written by e2e/database.py: TLS only; IAM users (rds_iam) are not password-checked locally\n"
        "hostssl all postgres 127.0.0.1/32 scram-sha-256\n"
        f'hostssl all "{master_user}" 127.0.0.1/32 scram-sha-256\n'
        "hostssl all +rds_iam 127.0.0.1/32 trust\n"
        "hostssl all all 127.0.0.1/32 scram-sha-256\n"
    )


def play_aurora(cluster: PostgresCluster, database: DatabaseStandIn) -> None:
    """Create the master user, `rds_iam` and the database as the template describes them."""
    with psycopg.connect(cluster.superuser_conninfo(), autocommit=True) as conn:
        if conn.execute("SELECT 1 FROM pg_roles WHERE rolname = 'rds_iam'").fetchone() is None:
            conn.execute("CREATE ROLE rds_iam NOLOGIN")
        master = sql.Identifier(database.master_user)
        if database.master_user != "postgres":
            conn.execute(sql.SQL("CREATE ROLE {} LOGIN CREATEROLE CREATEDB PASSWORD {}").format(
                master, sql.Literal(database.master_password)))
            conn.execute(sql.SQL("GRANT rds_iam TO {} WITH ADMIN OPTION").format(master))
        else:
            conn.execute(sql.SQL("ALTER ROLE postgres PASSWORD {}").format(sql.Literal(database.master_password)))
        conn.execute(sql.SQL("CREATE DATABASE {} OWNER {}").format(sql.Identifier(database.dbname), master))
    (cluster.data_dir / "pg_hba.conf").write_text(_hba(database.master_user))
    cluster._pg_ctl("reload")


def master_conninfo(cluster: PostgresCluster, database: DatabaseStandIn) -> str:
    return cluster.conninfo(user=database.master_user, password=database.master_password, dbname=database.dbname)
