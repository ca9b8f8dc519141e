import pytest

from runtime.classification import (
    PLATFORM_REGISTRY,
    DataClass,
    Registry,
    RegistryError,
    Sensitive,
    derived_class,
    not_sensitive,
    sensitive,
    table,
)

USER_PAYLOADS = [
    ("organisations", "name"),
    ("users", "email"),
    ("prompts", "body"),
    ("model_calls", "input"),
    ("model_calls", "output"),
    ("datasets", "name"),
    ("dataset_items", "input"),
    ("evaluation_results", "score"),
]


def test_registry_undeclared_column_is_sensitive() -> None:
    assert not PLATFORM_REGISTRY.is_declared("prompts", "shadow_copy")
    assert PLATFORM_REGISTRY.classify("prompts", "shadow_copy") is DataClass.SENSITIVE


def test_registry_undeclared_table_is_sensitive() -> None:
    assert not PLATFORM_REGISTRY.is_declared("scratch")
    assert PLATFORM_REGISTRY.classify("scratch", "id") is DataClass.SENSITIVE


@pytest.mark.parametrize(("table_name", "column"), USER_PAYLOADS)
def test_registry_user_payload_column_is_sensitive(table_name: str, column: str) -> None:
    assert PLATFORM_REGISTRY.is_declared(table_name, column)
    assert PLATFORM_REGISTRY.classify(table_name, column) is DataClass.SENSITIVE


@pytest.mark.parametrize("table_name", ["audit_events", "telemetry_events"])
def test_registry_audit_and_telemetry_tables_are_not_sensitive(table_name: str) -> None:
    declared = PLATFORM_REGISTRY.table(table_name)
    assert declared is not None
    assert declared.data_class is DataClass.NOT_SENSITIVE
    assert declared.sensitive_columns == ()


def test_registry_table_with_one_sensitive_column_is_sensitive() -> None:
    users = PLATFORM_REGISTRY.table("users")
    assert users is not None
    assert users.data_class is DataClass.SENSITIVE
    assert set(users.sensitive_columns) == {"email", "display_name"}


def test_registry_every_not_sensitive_column_says_why() -> None:
    for declared in PLATFORM_REGISTRY:
        for column in declared.columns.values():
            assert column.is_sensitive or column.why, f"{declared.name}.{column.name}"


def test_registry_with_table_extends_copy_and_keeps_original() -> None:
    extra = table("notes", "customer notes", not_sensitive("id", "generated"), sensitive("body"))
    extended = PLATFORM_REGISTRY.with_table(extra)
    assert extended.classify("notes", "id") is DataClass.NOT_SENSITIVE
    assert not PLATFORM_REGISTRY.is_declared("notes")
    assert len(extended) == len(PLATFORM_REGISTRY) + 1


def test_registry_table_declared_twice_raises() -> None:
    with pytest.raises(RegistryError, match="already declared"):
        PLATFORM_REGISTRY.with_table(table("users", "again", sensitive("email")))


def test_registry_column_declared_twice_raises() -> None:
    with pytest.raises(RegistryError, match="twice"):
        table("t", "", sensitive("a"), not_sensitive("a", "x"))


@pytest.mark.parametrize("bad", ["", "Users", "1table", "drop table", "a;b"])
def test_registry_bad_identifier_raises(bad: str) -> None:
    with pytest.raises(RegistryError, match="snake_case"):
        Registry.of([table(bad, "", sensitive("a"))])


def test_derived_class_any_sensitive_source_is_sensitive() -> None:
    assert derived_class([DataClass.NOT_SENSITIVE, DataClass.SENSITIVE]) is DataClass.SENSITIVE
    assert derived_class([DataClass.NOT_SENSITIVE, DataClass.NOT_SENSITIVE]) is DataClass.NOT_SENSITIVE


def test_derived_class_no_sources_is_sensitive() -> None:
    assert derived_class([]) is DataClass.SENSITIVE


def test_sensitive_repr_and_format_hide_value() -> None:
    boxed = Sensitive("alice@example.com")
    assert "alice" not in repr(boxed)
    assert "alice" not in str(boxed)
    assert "alice" not in f"{boxed}"
    assert boxed.reveal() == "alice@example.com"
