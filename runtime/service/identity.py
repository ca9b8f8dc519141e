"""From an authenticated caller to the ids the data layer and the audit ledger use (P3, P14).

- The OWNER is the caller's organisation, a claim the IdP vouches for; it must be an organisation id
  (a UUID). Anything else is refused like a bad token: the caller is not authenticated as an owner.
- The ACTOR is a pseudonymous id: HMAC-SHA-256 of the identity source and the user's `sub` under the
  audit chain key, cut to a UUID. The ledger never holds the `sub` (which may be an e-mail address),
  the same user always gets the same actor id, and whoever holds the chain key (an auditor, breach
  response) can compute the actor id of a known user to search the ledger.
"""

import uuid
from collections.abc import Mapping
from typing import Any, Final

from runtime.audit.chain import ChainKey
from runtime.db import Principal as OwnerPrincipal
from runtime.db.session import parse_id
from runtime.errors import InvalidOwnerError
from runtime.service.auth import AuthenticationError, Principal

ACTOR_LABEL: Final = b"platform/actor-id/v1"


class Identities:
    def __init__(self, key: ChainKey, *, source: str) -> None:
        if not source:
            raise ValueError("the identity source (issuer) is needed to derive actor ids")
        self._key = key
        self._source = source.encode()

    def __repr__(self) -> str:
        return f"Identities(source={self._source.decode()!r})"

    def actor_id(self, user_id: str) -> uuid.UUID:
        digest = self._key.mac(ACTOR_LABEL + b"\x00" + self._source + b"\x00" + user_id.encode("utf-8", "replace"))
        return uuid.UUID(bytes=digest[:16], version=5)  # name-based (keyed), not random

    def owner_principal(self, caller: Principal, request_id: str) -> OwnerPrincipal:
        """The data layer's principal: the caller's organisation as owner, its pseudonymous actor id."""
        try:
            owner = parse_id(caller.organisation_id, "organisation")
        except InvalidOwnerError:
            raise AuthenticationError("the organisation claim is not an organisation id (UUID)") from None
        return OwnerPrincipal(owner, self.actor_id(caller.user_id), request_id)


class SubjectResolver:
    """Support staff are not owners: only `sub` is needed, and no organisation is resolved."""

    def __call__(self, claims: Mapping[str, Any]) -> Principal:
        user = claims.get("sub")
        if not isinstance(user, str) or not user:
            raise AuthenticationError("token lacks sub")
        exp = claims.get("exp")
        expires_at = float(exp) if isinstance(exp, int | float) and not isinstance(exp, bool) else None
        return Principal(user_id=user, organisation_id="", expires_at=expires_at)
