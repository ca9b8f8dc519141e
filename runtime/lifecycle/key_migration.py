"""`org migrate-keys` (issue 15, P6/P10): re-wrap an organisation's existing data keys, wrapped under the
environment's old shared key, under the organisation's own key, so that erasure can destroy them with it.

Per organisation, in one owner-bound transaction (RLS) that commits before the next organisation: provision its
key (idempotent), lock its wrapped keys, and for each: if it already unwraps under the organisation's key it is
left as it is (a re-run continues where the last stopped; idempotent), else it is unwrapped with the shared key and
wrapped under the organisation's key (the data key itself, and every ciphertext, are unchanged). One audit ledger
event per organisation (write on data_keys, with the count re-wrapped). A key neither keyring opens fails the
organisation (typed error), never silently.
"""

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from runtime.audit.events import Action
from runtime.db.errors import translated
from runtime.db.session import Database, OwnerScope
from runtime.envelope import KeyMaterial, Keyring, OrganisationKeyAdmin
from runtime.errors import DecryptionError


class RewrappingKeyring(Protocol):
    def unwrap_data_key(self, owner: str, wrapped: bytes) -> KeyMaterial: ...

    def wrap_data_key(self, owner: str, material: KeyMaterial) -> bytes: ...


@dataclass(frozen=True, slots=True)
class MigratedOrganisation:
    organisation: uuid.UUID
    rewrapped: int
    already: int


def migrate_organisation_keys(*, database: Database, shared: Keyring, target: RewrappingKeyring,
                              admin: OrganisationKeyAdmin, principals: Sequence[OwnerScope]
                              ) -> list[MigratedOrganisation]:
    results = []
    for principal in principals:
        owner = str(principal.owner_id)
        admin.provision(owner)
        rewrapped = already = 0
        with translated(), database.owner_transaction(principal) as tx:
            conn = tx.connection
            rows = conn.execute("SELECT key_id, wrapped_key FROM platform.data_keys ORDER BY key_id FOR UPDATE"
                                ).fetchall()
            for key_id, wrapped in rows:
                try:
                    target.unwrap_data_key(owner, bytes(wrapped))
                    already += 1
                    continue
                except DecryptionError:
                    pass
                material = shared.unwrap_data_key(owner, bytes(wrapped))  # DecryptionError: neither opens it
                conn.execute("UPDATE platform.data_keys SET wrapped_key = %s WHERE key_id = %s",
                             (target.wrap_data_key(owner, material), bytes(key_id)))
                rewrapped += 1
            tx.record(Action.WRITE, "data_keys", (), row_count=rewrapped)
        results.append(MigratedOrganisation(principal.owner_id, rewrapped, already))
    return results
