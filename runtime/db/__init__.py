"""The Postgres data layer (P3, P4, P5): verified-TLS connections, migrations with a classification
check, owner-bound transactions under row-level security, the startup self-check, and the record
API that encrypts and audits every access.

Adapters take their connections and AWS clients injected; nothing connects at import time.
"""

from runtime.db.config import DatabaseSettings, require_verified_tls
from runtime.db.connect import ConnectionSource, connect, open_pool
from runtime.db.credentials import IamAuthToken, PasswordSource, SecretsManagerPassword, StaticPassword
from runtime.db.key_store import PostgresWrappedKeyStore
from runtime.db.migrate import migrate, schema_problems
from runtime.db.records import FieldCipher, Record, Records
from runtime.db.roles import bootstrap_roles
from runtime.db.self_check import SelfCheckReport, ServiceMode, inspect, require_safe
from runtime.db.session import Database, OwnerScope, OwnerTransaction, bind_owner

__all__ = [
    "ConnectionSource",
    "Database",
    "DatabaseSettings",
    "FieldCipher",
    "IamAuthToken",
    "OwnerScope",
    "OwnerTransaction",
    "PasswordSource",
    "PostgresWrappedKeyStore",
    "Record",
    "Records",
    "SecretsManagerPassword",
    "SelfCheckReport",
    "ServiceMode",
    "StaticPassword",
    "bind_owner",
    "bootstrap_roles",
    "connect",
    "inspect",
    "migrate",
    "open_pool",
    "require_safe",
    "require_verified_tls",
    "schema_problems",
]
