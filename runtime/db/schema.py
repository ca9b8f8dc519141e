"""The Postgres schema as the runtime sees it: names, roles, and the registry it must match (P2, P3, P4).

The platform registry (runtime.classification) declares the data tables; the database adds a few
bookkeeping tables of its own (migrations, the audit chain head and checkpoints), declared here with
`Registry.with_table`, so the migration check can demand that EVERY column is classified.

Conventions the migration check enforces, so Python and SQL cannot drift:
- every SENSITIVE column has the type `platform.envelope` (bytea holding envelope ciphertext), except a
  blind index column (ColumnKind.BLIND_INDEX), which has the type `platform.blind_index` (one term) or
  `platform.blind_index_set` (terms), both integers CHECKed to the index's range;
- every NOT_SENSITIVE column of a SENSITIVE table is a uuid, except `created_at` (timestamptz);
- every SENSITIVE table has row-level security enabled AND forced, keyed on its owner column.
"""

from dataclasses import dataclass
from typing import Final

from runtime.classification import PLATFORM_REGISTRY, DataClass, Registry, Table, not_sensitive, table
from runtime.contract import APP_ROLE as APP_ROLE
from runtime.contract import DRILL_ROLE as DRILL_ROLE
from runtime.contract import JOBS_ROLE as JOBS_ROLE
from runtime.contract import OWNER_ROLE as OWNER_ROLE
from runtime.contract import SEQUENCER_ROLE as SEQUENCER_ROLE
from runtime.contract import SUPPORT_ROLE as SUPPORT_ROLE

SCHEMA: Final = "platform"  # the data; only the owner role creates objects in it
SUPPORT_SCHEMA: Final = "support"  # NOT_SENSITIVE views, the only thing the support role can read (P4)
ENVELOPE_DOMAIN: Final = "envelope"  # platform.envelope: bytea CHECKed to look like envelope ciphertext
# Blind index columns (keyed, truncated HMACs: runtime/envelope/blind_index.py): one term, or a set of terms.
BLIND_INDEX_DOMAINS: Final = ("blind_index", "blind_index_set")
OWNER_SETTING: Final = "platform.owner_id"  # the transaction-local setting RLS policies read (P3)

# The database roles are named in runtime/contract.py (the stacks grant rds-db:connect to the same names) and
# re-exported above; the services' login roles:
SERVICE_ROLES: Final = (APP_ROLE, SUPPORT_ROLE, JOBS_ROLE, SEQUENCER_ROLE)

_PLATFORM = "bookkeeping of the platform; no user data"

DATABASE_REGISTRY: Final[Registry] = (
    PLATFORM_REGISTRY.with_table(
        table(
            "schema_migrations",
            "Which migrations ran, and a checksum of each, so an edited migration is caught.",
            not_sensitive("version", _PLATFORM),
            not_sensitive("name", "file name of a migration shipped with the runtime"),
            not_sensitive("checksum", _PLATFORM),
            not_sensitive("applied_at", _PLATFORM),
        )
    )
    .with_table(
        table(
            "audit_chain_head",
            "Position and hash of the last sequenced audit event; only the sequencer moves it (P14).",
            not_sensitive("singleton", "always true: the table has one row"),
            not_sensitive("seq", "hash chain position"),
            not_sensitive("hash", "hash chain link"),
            not_sensitive("cutover", "last position of the HMAC-linked chain (before migration 0012)"),
        )
    )
    .with_table(
        table(
            "audit_checkpoints",
            "Keyed checkpoints of the audit chain, written periodically (P14).",
            not_sensitive("seq", "hash chain position"),
            not_sensitive("at", "time of the checkpoint"),
            not_sensitive("hash", "hash chain link"),
            not_sensitive("mac", "keyed MAC of the checkpoint"),
        )
    )
    .with_table(
        table(
            "audit_signed_checkpoints",
            "Checkpoints of the audit chain signed with the environment's KMS key, also kept in S3 (P14).",
            not_sensitive("seq", "hash chain position"),
            not_sensitive("at", "time of the checkpoint"),
            not_sensitive("hash", "hash chain link"),
            not_sensitive("body", "the signed document: position, hash, time, cadence"),
            not_sensitive("signature", "ECDSA P-256 signature of the body"),
            not_sensitive("key_id", "ARN of the signing key"),
        )
    )
)

# Tables whose rows belong to an owner: RLS binds them to the owner in the current transaction (P3).
# The owner column is `owner_id`, except for the owners themselves.
ID_COLUMN: Final = "id"
OWNER_COLUMNS: Final = {"organisations": ID_COLUMN}
DEFAULT_OWNER_COLUMN: Final = "owner_id"
CREATED_AT: Final = "created_at"


@dataclass(frozen=True, slots=True)
class RecordTable:
    """A SENSITIVE table as the record API writes it: ids, references, and ciphertext columns."""

    name: str
    owner_column: str
    sensitive_columns: tuple[str, ...]  # envelope-encrypted bytes
    reference_columns: tuple[str, ...]  # uuids of other rows of the same owner
    blind_index_columns: tuple[str, ...] = ()  # keyed HMACs of sensitive values (runtime/envelope/blind_index.py)

    @property
    def writable_columns(self) -> frozenset[str]:
        return frozenset(self.sensitive_columns + self.reference_columns)

    @property
    def is_owner_table(self) -> bool:
        """The owners themselves (organisations): a row's id IS its owner, so there is no separate owner column."""
        return self.owner_column == ID_COLUMN


def owner_column(table_name: str) -> str:
    return OWNER_COLUMNS.get(table_name, DEFAULT_OWNER_COLUMN)


def record_table(t: Table) -> RecordTable:
    owner = owner_column(t.name)
    sensitive = t.sensitive_columns
    fixed = {"id", owner, CREATED_AT, *t.blind_index_columns}
    references = tuple(c for c in t.columns if c not in fixed and c not in sensitive)
    return RecordTable(t.name, owner, sensitive, references, t.blind_index_columns)


def sensitive_tables(registry: Registry = DATABASE_REGISTRY) -> tuple[Table, ...]:
    return tuple(t for t in registry if t.data_class is DataClass.SENSITIVE)


RECORD_TABLES: Final = {t.name: record_table(t) for t in sensitive_tables()}

# Tables that are NOT_SENSITIVE but still owner-scoped by RLS: an owner's wrapped data keys.
OWNER_SCOPED_TABLES: Final = (*RECORD_TABLES, "data_keys")
