"""Migrations: ordered, once each, recorded with checksums, all or nothing, and checked against the
classification registry and the owner-only rules (P2, P3, P4)."""

from pathlib import Path

import pytest

from runtime.db import migrate, schema_problems
from runtime.db.migrate import Migration, load_migrations
from runtime.db.schema import OWNER_ROLE
from runtime.errors import MigrationError, UnclassifiedColumnError
from tests.support.platform_db import PlatformDatabase

pytestmark = pytest.mark.postgres


def _with_extra(sql: str) -> list[Migration]:
    return [*load_migrations(), Migration(99, "0099_extra.sql", sql)]


def _column_exists(db: PlatformDatabase, table: str, column: str) -> bool:
    with db.admin() as conn:
        row = conn.execute(
            "SELECT 1 FROM information_schema.columns WHERE table_schema = 'platform' AND table_name = %s "
            "AND column_name = %s",
            (table, column),
        ).fetchone()
    return row is not None


def test_migrate_second_run_applies_nothing(platform_db: PlatformDatabase) -> None:
    with platform_db.connect(OWNER_ROLE) as conn:
        result = migrate(conn)
    assert result.applied == ()
    assert result.version == max(m.version for m in load_migrations())


def test_migrate_records_every_version_with_its_checksum(platform_db: PlatformDatabase) -> None:
    with platform_db.admin() as conn:
        rows = conn.execute("SELECT version, name, checksum FROM platform.schema_migrations ORDER BY 1").fetchall()
    assert [(v, n, bytes(c)) for v, n, c in rows] == [(m.version, m.name, m.checksum) for m in load_migrations()]


def test_migrate_live_schema_has_no_problems(platform_db: PlatformDatabase) -> None:
    with platform_db.connect(OWNER_ROLE) as conn:
        assert schema_problems(conn) == []


def test_migrate_edited_applied_migration_refused(fresh_db: PlatformDatabase) -> None:
    edited = [Migration(m.version, m.name, m.text + "\n-- edited") if m.version == 1 else m for m in load_migrations()]
    with fresh_db.connect(OWNER_ROLE) as conn, pytest.raises(MigrationError, match="changed after it was applied"):
        migrate(conn, migrations=edited)


def test_migrate_undeclared_column_fails_and_rolls_back(fresh_db: PlatformDatabase) -> None:
    extra = _with_extra("ALTER TABLE platform.prompts ADD COLUMN notes platform.envelope;")
    with fresh_db.connect(OWNER_ROLE) as conn, pytest.raises(UnclassifiedColumnError, match=r"prompts\.notes"):
        migrate(conn, migrations=extra)
    assert not _column_exists(fresh_db, "prompts", "notes")
    with fresh_db.admin() as conn:
        assert conn.execute("SELECT 1 FROM platform.schema_migrations WHERE version = 99").fetchone() is None


def test_migrate_undeclared_table_fails(fresh_db: PlatformDatabase) -> None:
    extra = _with_extra("CREATE TABLE platform.scratch (id uuid PRIMARY KEY);")
    with fresh_db.connect(OWNER_ROLE) as conn, pytest.raises(UnclassifiedColumnError, match=r"platform\.scratch"):
        migrate(conn, migrations=extra)


def test_migrate_sensitive_column_stored_as_plain_bytea_fails(fresh_db: PlatformDatabase) -> None:
    extra = _with_extra("ALTER TABLE platform.prompts ALTER COLUMN body TYPE bytea;")
    with fresh_db.connect(OWNER_ROLE) as conn, pytest.raises(MigrationError, match=r"prompts\.body is bytea"):
        migrate(conn, migrations=extra)


def test_migrate_sensitive_table_without_forced_rls_fails(fresh_db: PlatformDatabase) -> None:
    extra = _with_extra("ALTER TABLE platform.prompts NO FORCE ROW LEVEL SECURITY;")
    with fresh_db.connect(OWNER_ROLE) as conn, pytest.raises(MigrationError, match="lacks forced row-level"):
        migrate(conn, migrations=extra)


def test_migrate_extra_permissive_policy_fails(fresh_db: PlatformDatabase) -> None:
    extra = _with_extra("CREATE POLICY everyone ON platform.prompts USING (true);")
    with fresh_db.connect(OWNER_ROLE) as conn, pytest.raises(MigrationError, match="no other policy"):
        migrate(conn, migrations=extra)


@pytest.mark.parametrize(
    "view",
    [
        "CREATE VIEW support.leak AS SELECT owner_id, body FROM platform.prompts",
        "CREATE VIEW support.leak AS SELECT p FROM platform.prompts p",
    ],
)
def test_migrate_support_view_reading_sensitive_data_fails(fresh_db: PlatformDatabase, view: str) -> None:
    with fresh_db.connect(OWNER_ROLE) as conn, pytest.raises(MigrationError, match=r"support view support\.leak"):
        migrate(conn, migrations=_with_extra(view + ";"))


def test_migrate_table_in_support_schema_fails(fresh_db: PlatformDatabase) -> None:
    extra = _with_extra("CREATE TABLE support.notes (id uuid);")
    with fresh_db.connect(OWNER_ROLE) as conn, pytest.raises(MigrationError, match="not a view"):
        migrate(conn, migrations=extra)


@pytest.mark.parametrize("name", ["1_short.sql", "0001-Dash.sql", "0001_UPPER.sql"])
def test_load_migrations_badly_named_file_refused(tmp_path: Path, name: str) -> None:
    (tmp_path / name).write_text("SELECT 1;")
    with pytest.raises(MigrationError, match="NNNN_lower_snake_case"):
        load_migrations(tmp_path)


def test_load_migrations_duplicate_version_refused(tmp_path: Path) -> None:
    (tmp_path / "0001_a.sql").write_text("SELECT 1;")
    (tmp_path / "0001_b.sql").write_text("SELECT 1;")
    with pytest.raises(MigrationError, match="share a version"):
        load_migrations(tmp_path)
