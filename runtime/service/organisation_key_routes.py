"""GET /v1/organisation/key (issue 15, P6/P10): the organisation's admin sees which key wraps its data keys and
whether it works now.

    {"source": "platform" | "customer" | null, "state": "pending" | "active" | null,
     "key_arn": ARN | null (its own key, BYOK), "usable": bool, "problem": KMS code | null}

`usable` is observed, not remembered: one keyring call with the cache bypassed (runtime.envelope.EnvelopeCipher.
probe_owner_key), so an admin whose requests get 503 organisation-key-unavailable sees why (DisabledException: the
key was disabled; AccessDeniedException: its policy no longer admits us; NotFoundException: not provisioned yet).
Admin only; audited (a read of organisation_keys).
"""

from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Depends

from runtime.audit.events import Action
from runtime.db import OwnerScope
from runtime.db.errors import translated
from runtime.db.organisation_keys import own_record
from runtime.service.context import OwnerData, owner_data


def organisation_key_router(*, admin_scope: Callable[..., OwnerScope],
                            data: Callable[..., OwnerData] = owner_data) -> APIRouter:
    api = APIRouter(prefix="/v1/organisation", tags=["organisation"])
    Admin = Annotated[OwnerScope, Depends(admin_scope)]
    Data = Annotated[OwnerData, Depends(data)]

    @api.get("/key", summary="your organisation's key: whose, its state, and whether it works now (admin)")
    def organisation_key(principal: Admin, owner: Data) -> dict[str, Any]:
        with translated(), owner.database.owner_transaction(principal) as tx:
            record = own_record(tx)
            tx.record(Action.READ, "organisation_keys", (), row_count=0 if record is None else 1)
        problem = owner.cipher.probe_owner_key(str(principal.owner_id))
        return {"source": record.source if record else None, "state": record.state if record else None,
                "key_arn": record.key_arn if record else None, "usable": problem is None, "problem": problem}

    return api
