"""The organisation-key flows of the control plane and the owner API (issue 15, P6/P10).

- `provision_pending` (`org provision-keys --pending`, run by the scheduled control-plane task): every
  registration waiting for its key gets it and is marked active, each audited: a platform key is created
  (recorded by PUT /v1/organisation, or by migration 0011 for organisations that predate it); an organisation's
  own key (requested by its admin, checked then as the data service's role) is checked again as the job's role,
  then activated, or reported rejected and left pending. The request path never calls kms:CreateKey.
- `request_customer_key` (PUT /v1/organisation/key): the admin's own key, checked as the data service's role,
  recorded as pending (the owner API can never activate it: restrictive row policies, migration 0011).
- `register_customer_key` (`org register-key`): checked as the job's role and activated at once (the data
  service's role is observed at its first request).
- `organisations_to_migrate` (`org migrate-keys --all`): every organisation on record with a platform key, from
  ids and states alone.
Both registrations are refused once the organisation has data keys: they are wrapped under another key, which its
own key cannot open.
"""

import uuid
from collections.abc import Callable, Iterator
from typing import Any

from runtime.db.connect import ConnectionSource
from runtime.db.errors import translated
from runtime.db.organisation_keys import CUSTOMER, PENDING, PLATFORM, activate, list_organisations
from runtime.db.organisation_keys import request_customer_key as record_customer_request
from runtime.db.session import Database, OwnerScope
from runtime.envelope import KeyStatus, OrganisationKeyAdmin
from runtime.envelope.keyrings.customer import CustomerKey, CustomerKeyChecker, CustomerKeyRejectedError
from runtime.errors import ConfigurationError

_HAS_DATA_KEYS = "SELECT EXISTS (SELECT FROM platform.data_keys)"


class OrganisationHasDataKeysError(ConfigurationError):
    """The organisation already has data keys (wrapped under another key): its own key comes too late."""


def public_status(status: KeyStatus) -> dict[str, Any]:
    return {"organisation": status.organisation, "state": status.state.value, "key_id": status.key_id,
            "deletion_date": status.deletion_date.isoformat() if status.deletion_date else None}


def provision_pending(*, database: Database, connections: ConnectionSource, admin: OrganisationKeyAdmin,
                      checker: CustomerKeyChecker | None,
                      principal_of: Callable[[uuid.UUID], OwnerScope]) -> Iterator[dict[str, Any]]:
    """Each pending organisation's key, one at a time (a run that stops is continued by the next): one JSON-ready
    line each, with its source."""
    for record in list_organisations(connections, state=PENDING):
        owner = str(record.owner_id)
        if record.source == CUSTOMER:
            if checker is None or record.key_arn is None:
                yield {"organisation": owner, "source": CUSTOMER, "state": "pending",
                       "problems": ["this process cannot check customer keys (KMS organisation keys only)"]}
                continue
            try:
                checker.check(owner, record.key_arn)
            except CustomerKeyRejectedError as exc:
                yield {"organisation": owner, "source": CUSTOMER, "state": "rejected", "key_arn": record.key_arn,
                       "problems": [f"{p.check}: {p.detail}" for p in exc.problems], "statement": exc.statement}
                continue
            with translated(), database.owner_transaction(principal_of(record.owner_id)) as tx:
                activate(tx, source=CUSTOMER, key_arn=record.key_arn)
            yield {"organisation": owner, "source": CUSTOMER, "state": "active", "key_arn": record.key_arn}
            continue
        status = admin.provision(owner)
        with translated(), database.owner_transaction(principal_of(record.owner_id)) as tx:
            activate(tx, source=PLATFORM)
        yield {**public_status(status), "source": PLATFORM}


def _refuse_with_data_keys(database: Database, principal: OwnerScope) -> None:
    with translated(), database.owner_transaction(principal) as tx:
        row = tx.connection.execute(_HAS_DATA_KEYS).fetchone()
    if row is not None and row[0]:
        raise OrganisationHasDataKeysError(
            f"organisation {principal.owner_id} already has data keys, wrapped under another key: its own key can be "
            "registered only before the organisation's first write (register it before PUT /v1/organisation)")


def register_customer_key(*, database: Database, checker: CustomerKeyChecker, principal: OwnerScope,
                          key_arn: str) -> CustomerKey:
    _refuse_with_data_keys(database, principal)
    key = checker.check(str(principal.owner_id), key_arn)
    with translated(), database.owner_transaction(principal) as tx:
        activate(tx, source=CUSTOMER, key_arn=key.key_arn)
    return key


def request_customer_key(*, database: Database, checker: CustomerKeyChecker, principal: OwnerScope,
                         key_arn: str) -> CustomerKey:
    _refuse_with_data_keys(database, principal)
    key = checker.check(str(principal.owner_id), key_arn)
    with translated(), database.owner_transaction(principal) as tx:
        record_customer_request(tx, key.key_arn)
    return key


def organisations_to_migrate(connections: ConnectionSource) -> list[uuid.UUID]:
    return [r.owner_id for r in list_organisations(connections, source=PLATFORM)]
