"""`RecordTable.is_owner_table`: the one place that knows the owners' table has no separate owner column."""

from runtime.db.schema import ID_COLUMN, RECORD_TABLES


def test_record_tables_only_organisations_is_the_owner_table() -> None:
    assert {name for name, t in RECORD_TABLES.items() if t.is_owner_table} == {"organisations"}
    assert RECORD_TABLES["organisations"].owner_column == ID_COLUMN


def test_record_tables_every_other_table_has_an_owner_column() -> None:
    assert all(t.owner_column == "owner_id" for t in RECORD_TABLES.values() if not t.is_owner_table)
