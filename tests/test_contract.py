"""One fact, one place: every name the stacks and the runtime share is written once, in runtime/contract.py.

The scan reads the Python sources of stacks/ and runtime/ with `ast`: every string constant, f-string
literal parts included, docstrings excluded (prose may mention a name; code may not spell it). The SQL
migrations must name the roles themselves (they are checksummed, so they are never templated): for them
the check is that every role they grant to is a contract role.
"""

import ast
import re
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from runtime import contract

ROOT = Path(__file__).resolve().parent.parent
SCANNED = ("stacks", "runtime")
CONTRACT = ROOT / "runtime" / "contract.py"
MIGRATIONS = ROOT / "runtime" / "db" / "migrations"

# Copies in modules this change could not edit yet, each with the edit that removes it. Shrink only.
KNOWN_COPIES: dict[tuple[str, str], str] = {}


def _token(name: str) -> Callable[[str], bool]:
    """`name` as a whole word of the string (a role name inside a message is a copy too)."""
    pattern = re.compile(rf"(?<![\w-]){re.escape(name)}(?![\w-])")
    return lambda text: pattern.search(text) is not None


def _exact(name: str) -> Callable[[str], bool]:
    """The whole constant (or f-string part) is `name`: for values that are also English words."""
    return lambda text: text == name


def _part(name: str) -> Callable[[str], bool]:
    """`name` anywhere in the string: the suffixes that make a resource name."""
    return lambda text: name in text


@dataclass(frozen=True)
class Literal:
    name: str  # the contract's attribute, for the report
    value: str
    matches: Callable[[str], bool]


LITERALS = [
    *(Literal(n, getattr(contract, n), _token(getattr(contract, n)))
      for n in ("OWNER_ROLE", "APP_ROLE", "SUPPORT_ROLE", "JOBS_ROLE", "DRILL_ROLE", "SEQUENCER_ROLE",
                "CLASSIFICATION_TAG")),
    *(Literal(f"DataClass.{c.name}", c.value, _exact(c.value)) for c in contract.DataClass),
    *(Literal(n, getattr(contract, n), _part(getattr(contract, n)))
      for n in ("INCIDENTS_SUFFIX", "EXPORTS_SUFFIX", "LIFECYCLE_JOB_ROLE_SUFFIX", "AUDIT_CHECKPOINTS_SUFFIX",
                "AUDIT_SEQUENCER_ROLE_SUFFIX")),
]


def _skipped(tree: ast.AST) -> set[int]:
    """Docstrings (prose) and the names listed in `__all__` (a function may be called `sensitive`)."""
    ids: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef) and node.body:
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
                ids.add(id(first.value))
        if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == "__all__" for t in node.targets):
            ids.update(id(n) for n in ast.walk(node.value))
    return ids


def string_constants(source: str) -> Iterator[tuple[int, str]]:
    """(line, text) of every string constant of `source`, f-string literal parts included, docstrings and
    `__all__` not."""
    tree = ast.parse(source)
    skipped = _skipped(tree)
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in skipped:
            yield node.lineno, node.value


def _sources() -> Iterator[Path]:
    for top in SCANNED:
        for path in sorted((ROOT / top).rglob("*.py")):
            if path != CONTRACT and "__pycache__" not in path.parts:
                yield path


SOURCES = {path.relative_to(ROOT).as_posix(): path.read_text(encoding="utf-8") for path in _sources()}


def test_string_constants_fstring_parts_and_docstrings_found_and_skipped() -> None:
    source = (
        '"""platform_app"""\n__all__ = ["sensitive"]\n'
        'def f(app):\n    """platform_app"""\n    return f"{app}-x-incidents", "a"\n'
    )
    assert sorted(text for _, text in string_constants(source)) == ["-x-incidents", "a"]


@pytest.mark.parametrize("literal", LITERALS, ids=lambda literal: literal.name)
def test_contract_literal_outside_contract_absent(literal: Literal) -> None:
    copies = [
        f"{rel}:{line}: {text!r}"
        for rel, source in SOURCES.items()
        for line, text in string_constants(source)
        if literal.matches(text) and (rel, literal.value) not in KNOWN_COPIES
    ]
    assert not copies, (
        f"{literal.value!r} is runtime.contract.{literal.name}; import it instead of writing it again:\n"
        + "\n".join(copies)
    )


def test_known_copies_still_present() -> None:
    """An allowance for a copy that is gone must go too."""
    by_value = {literal.value: literal for literal in LITERALS}
    for (rel, value), _why in KNOWN_COPIES.items():
        assert any(by_value[value].matches(text) for _, text in string_constants(SOURCES[rel])), (
            f"{rel} no longer holds {value!r}: delete its KNOWN_COPIES entry"
        )


_GRANTEES = re.compile(r"\bTO\s+((?:[a-z_][a-z0-9_]*)(?:\s*,\s*[a-z_][a-z0-9_]*)*)\s*;", re.IGNORECASE)


def _granted_roles() -> set[str]:
    roles: set[str] = set()
    for path in sorted(MIGRATIONS.glob("*.sql")):
        sql = re.sub(r"--[^\n]*", "", path.read_text(encoding="utf-8"))
        for grantees in _GRANTEES.findall(sql):
            roles.update(role.strip().lower() for role in grantees.split(","))
    return roles


def test_migrations_grant_to_contract_roles_only() -> None:
    granted = _granted_roles()
    service_roles = set(contract.DATABASE_ROLES.values())
    assert granted, "no GRANT ... TO found in the migrations: the pattern no longer matches them"
    assert granted <= service_roles | {"public"}, f"migrations grant to roles the contract lacks: {granted}"
    assert service_roles <= granted, f"a service role gets no grant in the migrations: {service_roles - granted}"


def test_contract_import_loads_no_cdk_boto3_or_psycopg() -> None:
    code = "import sys, runtime.contract; print('\\n'.join(sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True, cwd=ROOT).stdout
    loaded = {name.split(".")[0] for name in out.split()}
    assert not loaded & {"aws_cdk", "constructs", "boto3", "botocore", "psycopg"}


def test_database_roles_every_service_connects_as_its_own_role() -> None:
    roles = list(contract.DATABASE_ROLES.values())
    assert len(set(roles)) == len(roles)
    assert contract.OWNER_ROLE not in roles  # the schema owner serves nothing (it could switch RLS off)


def test_name_functions_plain_values_expected_names() -> None:
    assert contract.incident_topic_name("adp", "prod") == "adp-prod-incidents"
    assert contract.exports_bucket_name("adp", "prod", "123456789012", "eu-west-1") == (
        "adp-prod-exports-123456789012-eu-west-1-an"
    )
    assert contract.exports_bucket_name("adp", "prod", "123456789012", "eu-west-1").startswith(
        contract.exports_bucket_prefix("adp", "prod") + "-")
    assert contract.lifecycle_job_role_name("adp", "prod") == "adp-prod-lifecycle-job"
    assert contract.data_service_role_name("adp", "prod") == "adp-prod-data-service"
