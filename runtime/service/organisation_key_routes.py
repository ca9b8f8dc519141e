"""/v1/organisation/key (issue 15, P6/P10): the organisation's admin sees which key wraps its data keys and
whether it works now, and registers its own key (BYOK).

    GET /v1/organisation/key                                                               admin   200

    {"source": "platform" | "customer" | null, "state": "pending" | "active" | null,
     "key_arn": ARN | null (its own key, BYOK), "usable": bool, "problem": KMS code | null}

`usable` is observed, not remembered: one keyring call with the cache bypassed (runtime.envelope.EnvelopeCipher.
probe_owner_key), so an admin whose requests get 503 organisation-key-unavailable sees why (DisabledException: the
key was disabled; AccessDeniedException: its policy no longer admits us; NotFoundException: not provisioned yet).
Admin only; audited (a read of organisation_keys).

    PUT /v1/organisation/key   {"key_arn": "arn:aws:kms:<region>:<account>:key/<id>"}          admin   202
                                                                                   422 what is missing

The organisation's own KMS key, checked as the data service's role (runtime/envelope/keyrings/customer.py:
symmetric, ENCRYPT_DECRYPT, enabled, rotation on, a GenerateDataKey + Decrypt with the organisation's context),
recorded as pending; the scheduled control-plane task checks it again as the job's role and activates it (so
both runtime roles are proven), after which PUT /v1/organisation registers the organisation under it. A refusal
is a 422 whose `problems` name every missing property and whose `statement` (a key-policy gap) is the key-policy
statements to add. Only before the organisation's first write (409 after). 409 too where organisation keys are
local (a local run). Audited (a write of organisation_keys).
"""

from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from runtime.audit.events import Action
from runtime.db import OwnerScope
from runtime.db.errors import translated
from runtime.db.organisation_keys import own_record
from runtime.envelope.keyrings.customer import CustomerKeyChecker, CustomerKeyRejectedError
from runtime.lifecycle.organisation_keys import OrganisationHasDataKeysError, request_customer_key
from runtime.service.context import OwnerData, owner_data
from runtime.service.problems import MEDIA_TYPE, problem_document, request_id_of


class CustomerKeyBody(BaseModel):
    key_arn: str = Field(max_length=2048, description="the full key ARN: arn:aws:kms:<region>:<account>:key/<id>")


def organisation_key_router(*, admin_scope: Callable[..., OwnerScope], checker: CustomerKeyChecker | None = None,
                            data: Callable[..., OwnerData] = owner_data) -> APIRouter:
    """`checker`: customer keys as the data service's role sees them (None: organisation keys are local)."""
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

    @api.put("/key", status_code=202, summary="register your organisation's own KMS key (BYOK, admin)")
    def register_own_key(body: CustomerKeyBody, request: Request, principal: Admin, owner: Data) -> Any:
        if checker is None:
            raise HTTPException(409, "this environment does not take organisations' own keys (its organisation keys "
                                "are local)")
        try:
            key = request_customer_key(database=owner.database, checker=checker, principal=principal,
                                       key_arn=body.key_arn)
        except CustomerKeyRejectedError as exc:
            document = problem_document(422, "the key cannot be registered: see problems (and statement, the "
                                        "key-policy statements to add)", request_id_of(request))
            document["problems"] = [{"check": p.check, "detail": p.detail} for p in exc.problems]
            document["statement"] = exc.statement
            return JSONResponse(document, status_code=422, media_type=MEDIA_TYPE)
        except OrganisationHasDataKeysError as exc:
            raise HTTPException(409, str(exc)) from None
        return {"key_arn": key.key_arn, "source": "customer", "state": "pending",
                "detail": "checked as the data service's role; the control plane checks it as its own and "
                          "activates it within minutes, then PUT /v1/organisation registers your organisation"}

    return api
