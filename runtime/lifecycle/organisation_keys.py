"""The control plane's organisation-key flows (issue 15, P6/P10), run by `python -m runtime org ...` as the jobs role.

- `provision_pending`: every registration waiting for its key (recorded by PUT /v1/organisation, or by
  migration 0011 for organisations that predate it) gets it, then is marked active; each audited. The scheduled
  control-plane task runs it, so a registration completes without an operator; the request path never calls
  kms:CreateKey.
- `register_customer_key` (BYOK): the organisation's own KMS key is checked (runtime/envelope/keyrings/customer.py)
  and recorded as the key that wraps its data keys; audited. Refused once the organisation has data keys (they
  are wrapped under another key, which the customer key cannot open).
- `organisations_to_migrate`: every organisation on record with a platform key (`org migrate-keys --all`), from
  ids and states alone.
"""

import uuid
from collections.abc import Callable, Iterator

from runtime.db.connect import ConnectionSource
from runtime.db.errors import translated
from runtime.db.organisation_keys import CUSTOMER, PENDING, PLATFORM, activate, list_organisations
from runtime.db.session import Database, OwnerScope
from runtime.envelope import KeyStatus, OrganisationKeyAdmin
from runtime.envelope.keyrings.customer import CustomerKey, check_customer_key
from runtime.errors import ConfigurationError

_HAS_DATA_KEYS = "SELECT EXISTS (SELECT FROM platform.data_keys)"


def provision_pending(*, database: Database, connections: ConnectionSource, admin: OrganisationKeyAdmin,
                      principal_of: Callable[[uuid.UUID], OwnerScope]) -> Iterator[KeyStatus]:
    """Provision each pending organisation's key (idempotent), then record it active; one at a time, so a run that
    stops is continued by the next."""
    for record in list_organisations(connections, source=PLATFORM, state=PENDING):
        status = admin.provision(str(record.owner_id))
        with translated(), database.owner_transaction(principal_of(record.owner_id)) as tx:
            activate(tx, source=PLATFORM)
        yield status


def register_customer_key(*, database: Database, kms: object, principal: OwnerScope, key_arn: str,
                          environment: str, role_arns: tuple[str, ...]) -> CustomerKey:
    owner = str(principal.owner_id)
    with translated(), database.owner_transaction(principal) as tx:
        row = tx.connection.execute(_HAS_DATA_KEYS).fetchone()
    if row is not None and row[0]:
        raise ConfigurationError(
            f"organisation {owner} already has data keys, wrapped under another key: its own key can be registered "
            "only before the organisation's first write (register it before PUT /v1/organisation)")
    key = check_customer_key(kms, key_arn, environment=environment, organisation=owner, role_arns=role_arns)
    with translated(), database.owner_transaction(principal) as tx:
        activate(tx, source=CUSTOMER, key_arn=key.key_arn)
    return key


def organisations_to_migrate(connections: ConnectionSource) -> list[uuid.UUID]:
    return [r.owner_id for r in list_organisations(connections, source=PLATFORM)]
