"""Session-wide fixtures: ONE throwaway PostgreSQL cluster (TLS only) for every test that asks for it.

The cluster starts lazily, the first time a test uses a database fixture, so the infrastructure
tests never pay for it, and it is stopped and removed at the end of the session. Layout: a migrated
template database that is never connected to after migration, the shared `platform` database cloned
from it, and `fresh_db` (a clone of its own) for tests that damage their database.

Also ONE synthesis per configuration (`operator`, `selfhosted`), shared by tests/stacks and tests/e2e:
the fixtures live here, not in a sub-directory's conftest, so no second conftest re-registers them (a
re-exported session fixture is a second fixture: it would synthesize again).
"""

from __future__ import annotations

import json
import os
import secrets
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from psycopg_pool import ConnectionPool

from runtime.audit.chain import ChainKey
from runtime.db import Database, OwnerScope, PostgresWrappedKeyStore, Records, open_pool
from runtime.db.ledger import AuditLedger
from runtime.db.schema import APP_ROLE
from runtime.envelope import EnvelopeCipher, KeyMaterial, LocalKeyring
from tests.support.platform_db import PlatformDatabase, copy_of, migrated_database
from tests.support.postgres import PostgresCluster

if TYPE_CHECKING:  # the CDK loads only when a test synthesizes
    from stacks.config import PlatformConfig
    from stacks.policy.outcome import SynthOutcome


@pytest.fixture(scope="session")
def pg_cluster() -> Iterator[PostgresCluster]:
    with PostgresCluster.start() as cluster:
        yield cluster


@pytest.fixture(scope="session")
def template_db(pg_cluster: PostgresCluster) -> PlatformDatabase:
    return migrated_database(pg_cluster, "platform_template")


@pytest.fixture(scope="session")
def platform_db(template_db: PlatformDatabase) -> PlatformDatabase:
    """The shared database: tests keep to their own random owners, so they never see each other's rows."""
    return copy_of(template_db, "platform")


@pytest.fixture
def fresh_db(template_db: PlatformDatabase) -> PlatformDatabase:
    """A database of its own, for a test that tampers with it or breaks its schema."""
    return copy_of(template_db, f"t_{uuid.uuid4().hex[:12]}")


# --- the runtime's data layer on the shared database ------------------------------------------------


@pytest.fixture(scope="session")
def chain_key_text() -> str:
    """Like the deployed secret: 64 characters of text (Secrets Manager's generated string)."""
    return secrets.token_hex(32)


@pytest.fixture(scope="session")
def chain_key(chain_key_text: str) -> ChainKey:
    return ChainKey(chain_key_text.encode())


@pytest.fixture(scope="session")
def app_pool(platform_db: PlatformDatabase) -> Iterator[ConnectionPool]:
    pool = open_pool(platform_db.settings(APP_ROLE, pool_min_size=1, pool_max_size=10),
                     platform_db.password(APP_ROLE), name="test-app")
    yield pool
    pool.close()


@pytest.fixture(scope="session")
def key_pool(platform_db: PlatformDatabase) -> Iterator[ConnectionPool]:
    """The key store's own small pool, as in the service (see runtime/db/key_store.py)."""
    pool = open_pool(platform_db.settings(APP_ROLE, pool_min_size=1, pool_max_size=3),
                     platform_db.password(APP_ROLE), name="test-keys")
    yield pool
    pool.close()


@pytest.fixture(scope="session")
def db_cipher(key_pool: ConnectionPool) -> EnvelopeCipher:
    keyring = LocalKeyring(KeyMaterial(os.urandom(32)), environment="test")
    return EnvelopeCipher(keyring=keyring, store=PostgresWrappedKeyStore(key_pool))


@pytest.fixture(scope="session")
def database(app_pool: ConnectionPool, chain_key: ChainKey) -> Database:
    return Database(app_pool, AuditLedger())


@pytest.fixture(scope="session")
def records(db_cipher: EnvelopeCipher) -> Records:
    return Records(db_cipher)


@pytest.fixture
def make_owner(database: Database, records: Records) -> Callable[[], OwnerScope]:
    """A new organisation (owner) with its row stored; returns a principal acting for it."""

    def make() -> OwnerScope:
        principal = OwnerScope(uuid.uuid4(), uuid.uuid4(), f"req-{uuid.uuid4().hex[:8]}")
        with database.owner_transaction(principal) as tx:
            records.insert(tx, "organisations", [{"name": b"Example Org"}])
        return principal

    return make


# --- the synthesized cloud assemblies: each configuration ONCE per session --------------------------

ROOT = Path(__file__).resolve().parents[1]
OPERATOR_CONFIG = ROOT / "config" / "operator.toml"
SELFHOSTED_CONFIG = ROOT / "config" / "selfhosted.example.toml"


@dataclass
class Assembly:
    """The synthesized templates of one config, by environment and stack name."""

    config: PlatformConfig
    outcome: SynthOutcome
    templates: dict[str, dict[str, dict[str, Any]]]  # env -> stack name -> template

    def env_templates(self, env: str) -> dict[str, dict[str, Any]]:
        return self.templates[env]

    def resources(self, env: str, resource_type: str) -> Iterator[tuple[str, str, dict[str, Any]]]:
        """(stack name, logical id, resource) of every resource of `resource_type` in `env`."""
        for stack_name, template in self.templates[env].items():
            for logical_id, resource in template.get("Resources", {}).items():
                if resource["Type"] == resource_type:
                    yield stack_name, logical_id, resource


def _read_templates(outdir: Path) -> dict[str, dict[str, dict[str, Any]]]:
    from stacks.policy.gates.assembly import stack_templates

    templates: dict[str, dict[str, dict[str, Any]]] = {}
    for stack in stack_templates(outdir):
        templates.setdefault(stack.stage, {})[stack.stack_name] = json.loads(stack.file.read_text())
    return templates


def cdk_json_context() -> dict[str, Any]:
    """The same context `make synth` and the CLI use (feature flags from cdk.json)."""
    return dict(json.loads((ROOT / "cdk.json").read_text())["context"])


def synth_assembly(config: PlatformConfig, outdir: Path) -> Assembly:
    import stacks  # noqa: F401  (jsii environment first)
    from stacks.synth import synthesize

    outcome = synthesize(config, outdir, context=cdk_json_context())
    return Assembly(config=config, outcome=outcome, templates=_read_templates(outdir))


@pytest.fixture(scope="session")
def operator(tmp_path_factory: pytest.TempPathFactory) -> Assembly:
    from stacks.config import load_config

    return synth_assembly(load_config(OPERATOR_CONFIG), tmp_path_factory.mktemp("cdk.out"))


@pytest.fixture(scope="session")
def selfhosted(tmp_path_factory: pytest.TempPathFactory) -> Assembly:
    from stacks.config import load_config

    return synth_assembly(load_config(SELFHOSTED_CONFIG), tmp_path_factory.mktemp("cdk.out.selfhosted"))
