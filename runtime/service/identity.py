"""From an authenticated caller to the ids the data layer and the audit ledger use (P3, P14).

- The OWNER is the caller's organisation, a claim the IdP vouches for; it must be an organisation id
  (a UUID). Anything else is refused like a bad token: the caller is not authenticated as an owner.
- SUPPORT STAFF (P4) are whoever the staff IdP says holds the staff role (`StaffResolver`): a `sub` and the
  role in the configured claim. A customer's token, or a staff IdP's token without the role, is refused
  like a bad token on every support route.
- The ACTOR is a pseudonymous id: HMAC-SHA-256 of the identity source and the user's `sub` under the
  audit chain key, cut to a UUID. The ledger never holds the `sub` (which may be an e-mail address),
  the same user always gets the same actor id, and whoever holds the chain key (an auditor, breach
  response) can compute the actor id of a known user to search the ledger.
"""

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, Final

from runtime.audit.chain import ChainKey
from runtime.db import OwnerScope
from runtime.db.session import parse_id
from runtime.errors import InvalidOwnerError
from runtime.service.auth import AdminRule, AuthenticationError, Caller, Refusal

ACTOR_LABEL: Final = b"platform/actor-id/v1"


class Identities:
    MAX_REMEMBERED: Final = 10_000  # (owner, actor) pairs of callers seen; emptied when full

    def __init__(self, key: ChainKey, *, source: str) -> None:
        if not source:
            raise ValueError("the identity source (issuer) is needed to derive actor ids")
        self._key = key
        self._source = source.encode()
        # A caller's (owner, actor) ids by (organisation, user, source): a client sends the same credential again
        # and again, and the HMAC and the parsing are the same every time. Refusals are never remembered.
        self._ids: dict[tuple[str, str, str], tuple[uuid.UUID, uuid.UUID]] = {}

    def __repr__(self) -> str:
        return f"Identities(source={self._source.decode()!r})"

    def actor_id(self, user_id: str, source: str = "") -> uuid.UUID:
        """`source`: who vouched for the user (the caller's `source`); the service's own identity source when
        the caller carries none."""
        vouched_by = source.encode() if source else self._source
        digest = self._key.mac(ACTOR_LABEL + b"\x00" + vouched_by + b"\x00" + user_id.encode("utf-8", "replace"))
        return uuid.UUID(bytes=digest[:16], version=5)  # name-based (keyed), not random

    def owner_scope(self, caller: Caller, request_id: str) -> OwnerScope:
        """The data layer's principal: the caller's organisation as owner, its pseudonymous actor id."""
        key = (caller.organisation_id, caller.user_id, caller.source)
        ids = self._ids.get(key)
        if ids is None:
            try:
                owner = parse_id(caller.organisation_id, "organisation")
            except InvalidOwnerError:
                raise AuthenticationError(Refusal.NOT_AN_OWNER) from None
            ids = (owner, self.actor_id(caller.user_id, caller.source))
            if len(self._ids) >= self.MAX_REMEMBERED:
                self._ids.clear()
            self._ids[key] = ids
        return OwnerScope(*ids, request_id)


@dataclass(frozen=True)
class StaffMember(Caller):
    """A caller `StaffResolver` vouched for: the only kind the support routes serve. It has no organisation."""


@dataclass(frozen=True)
class StaffResolver:
    """Support staff (P4): a verified `sub`, and a `claim` (a string or a list of strings) that holds `role`.
    Staff are not owners: no organisation is resolved, so no owner route can ever serve them."""

    claim: str
    role: str

    def __post_init__(self) -> None:
        if not self.claim or not self.role:
            raise ValueError("support staff need a claim and a role (PLATFORM_AUTH_STAFF_CLAIM, _ROLE)")

    def allows(self, caller: Caller) -> bool:
        """Whether `caller` is staff: resolved as staff (no organisation, whatever its token says), and the
        same rule as an admin's on the staff claim and role. An owner's principal never is."""
        return (isinstance(caller, StaffMember) and bool(caller.user_id) and not caller.organisation_id
                and AdminRule(claim=self.claim, role=self.role).allows(caller))

    def __call__(self, claims: Mapping[str, Any]) -> Caller:
        user = claims.get("sub")
        if not isinstance(user, str) or not user:
            raise AuthenticationError(Refusal.MISSING_CLAIM)
        exp = claims.get("exp")
        expires_at = float(exp) if isinstance(exp, int | float) and not isinstance(exp, bool) else None
        caller = StaffMember(user_id=user, organisation_id="", expires_at=expires_at,
                             claims=MappingProxyType(dict(claims)))
        if not self.allows(caller):
            raise AuthenticationError(Refusal.NOT_STAFF)
        return caller
