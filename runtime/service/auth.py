"""Who is calling: one interface, two authenticators (P3).

- `AlbOidcAuthenticator`: the load balancer signed the user in (OIDC) and passes its claims in
  `x-amzn-oidc-data`, an ES256 JWT signed by the load balancer. We check the signer is OUR load
  balancer and verify the signature with the key the load balancer publishes under the token's
  `kid` (the lookup is injected, so tests need no network).
- `BearerJwtAuthenticator`: a self-hosted IdP's access token (`Authorization: Bearer ...`),
  verified against its JWKS, issuer and audience.

Every failure is the same `AuthenticationError` with the same message: the caller learns
nothing about why (no oracle). The reason is kept on the error for the server's own log.
"""

from __future__ import annotations

import json
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Protocol

import jwt
from jwt import PyJWK

from runtime.errors import PlatformError

ALB_HEADER = "x-amzn-oidc-data"
PUBLIC_MESSAGE = "authentication required"
# Asymmetric algorithms only: "none" and the HMAC family (alg-confusion with a public key) never verify.
BEARER_ALGORITHMS = ("RS256", "RS384", "RS512", "ES256", "ES384", "PS256")
LEEWAY_SECONDS = 30


class AuthenticationError(PlatformError):
    """The request is not authenticated. `str()` is safe to show; `reason` is for the server log."""

    def __init__(self, reason: str) -> None:
        super().__init__(PUBLIC_MESSAGE)
        self.reason = reason


@dataclass(frozen=True)
class Principal:
    """An authenticated user and the organisation (the contractual owner) it acts for."""

    user_id: str
    organisation_id: str
    expires_at: float | None = field(default=None, compare=False)  # the credential's `exp`, when it has one
    # The verified token's claims, for authorisation rules (e.g. `AdminRule`); never logged.
    claims: Mapping[str, Any] = field(default_factory=dict, compare=False, repr=False)


def _expiry(claims: Mapping[str, Any]) -> float | None:
    exp = claims.get("exp")
    return float(exp) if isinstance(exp, int | float) and not isinstance(exp, bool) else None


class Authenticator(Protocol):
    def authenticate(self, headers: Mapping[str, str]) -> Principal: ...


class OrganisationResolver(Protocol):
    """Maps verified claims to a principal: the user's organisation comes from our data, or a claim."""

    def __call__(self, claims: Mapping[str, Any]) -> Principal: ...


@dataclass(frozen=True)
class ClaimResolver:
    """The organisation is a claim the IdP adds (e.g. `org_id`); the user is `sub`."""

    organisation_claim: str = "org_id"

    def __call__(self, claims: Mapping[str, Any]) -> Principal:
        user, organisation = claims.get("sub"), claims.get(self.organisation_claim)
        if not isinstance(user, str) or not user or not isinstance(organisation, str) or not organisation:
            raise AuthenticationError(f"token lacks sub or {self.organisation_claim}")
        return Principal(user_id=user, organisation_id=organisation, expires_at=_expiry(claims),
                         claims=MappingProxyType(dict(claims)))


@dataclass(frozen=True)
class AdminRule:
    """A caller is its organisation's admin when its verified `claim` (a string, or a list of strings)
    contains `role`. Fails closed: a missing or malformed claim is never an admin."""

    claim: str
    role: str

    def allows(self, principal: Principal) -> bool:
        value = principal.claims.get(self.claim)
        if isinstance(value, str):
            return value == self.role
        if isinstance(value, list | tuple):
            return any(isinstance(item, str) and item == self.role for item in value)
        return False


def _header(headers: Mapping[str, str], name: str) -> str | None:
    for key, value in headers.items():
        if key.lower() == name:
            return value
    return None


def _unverified_header(token: str) -> dict[str, Any]:
    try:
        header = jwt.get_unverified_header(token)
    except jwt.PyJWTError as exc:
        raise AuthenticationError(f"malformed token header: {exc}") from None
    return dict(header)


class AlbOidcAuthenticator:
    def __init__(
        self,
        *,
        expected_signer_arn: str,
        public_key: Callable[[str], Any],
        resolve: OrganisationResolver,
    ) -> None:
        """`public_key(kid)` returns the load balancer's key (PEM text or a key object) for `kid`; in
        production it fetches https://public-keys.auth.elb.<region>.amazonaws.com/<kid> and caches it."""
        if not expected_signer_arn.startswith("arn:"):
            raise ValueError("expected_signer_arn must be the load balancer's ARN")
        self._signer = expected_signer_arn
        self._public_key = public_key
        self._resolve = resolve

    def authenticate(self, headers: Mapping[str, str]) -> Principal:
        token = _header(headers, ALB_HEADER)
        if not token:
            raise AuthenticationError("no ALB OIDC header")
        # The load balancer pads its base64url segments; JWT libraries expect them unpadded.
        token = ".".join(part.rstrip("=") for part in token.split("."))
        header = _unverified_header(token)
        if header.get("alg") != "ES256":
            raise AuthenticationError(f"ALB token alg {header.get('alg')!r}")
        if header.get("signer") != self._signer:
            raise AuthenticationError("ALB token signed by another load balancer")
        kid = header.get("kid")
        if not isinstance(kid, str) or not kid:
            raise AuthenticationError("ALB token without kid")
        try:
            key = self._public_key(kid)
            claims = jwt.decode(
                token, key, algorithms=["ES256"], options={"require": ["exp", "sub"]}, leeway=LEEWAY_SECONDS
            )
        except AuthenticationError:
            raise
        except Exception as exc:  # any failure to verify is the same 401
            raise AuthenticationError(f"ALB token rejected: {type(exc).__name__}: {exc}") from None
        return self._resolve(claims)


class BearerJwtAuthenticator:
    def __init__(
        self,
        *,
        jwks: Mapping[str, Any],
        issuer: str,
        audience: str,
        resolve: OrganisationResolver,
        algorithms: Sequence[str] = BEARER_ALGORITHMS,
    ) -> None:
        """`jwks` is the IdP's JSON Web Key Set (`{"keys": [...]}`), loaded from configuration."""
        if not issuer or not audience:
            raise ValueError("a bearer authenticator needs the expected issuer and audience")
        unsafe = set(algorithms) - set(BEARER_ALGORITHMS)
        if unsafe:
            raise ValueError(f"algorithms {sorted(unsafe)} are not allowed; use asymmetric ones")
        self._keys = {str(k.get("kid")): PyJWK(k) for k in jwks.get("keys", []) if k.get("kid")}
        if not self._keys:
            raise ValueError("the JWKS has no keys with a kid")
        self._issuer, self._audience, self._algorithms = issuer, audience, list(algorithms)
        self._resolve = resolve

    def authenticate(self, headers: Mapping[str, str]) -> Principal:
        authorization = _header(headers, "authorization") or ""
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise AuthenticationError("no bearer token")
        token = token.strip()
        header = _unverified_header(token)
        if header.get("alg") not in self._algorithms:
            raise AuthenticationError(f"bearer alg {header.get('alg')!r} not allowed")
        key = self._keys.get(str(header.get("kid")))
        if key is None:
            raise AuthenticationError("bearer token signed by an unknown key")
        try:
            claims = jwt.decode(
                token,
                key.key,
                algorithms=[str(header["alg"])],
                audience=self._audience,
                issuer=self._issuer,
                options={"require": ["exp", "iat", "sub"]},
                leeway=LEEWAY_SECONDS,
            )
        except jwt.PyJWTError as exc:
            raise AuthenticationError(f"bearer token rejected: {type(exc).__name__}: {exc}") from None
        return self._resolve(claims)


class CachingAuthenticator:
    """Remembers verified credentials until they expire, so a client reusing its token pays for one
    signature check instead of one per request. Keyed by the credential itself (the header's exact value);
    an entry lives until the token's `exp` (never past it: no leeway here) and at most `max_age_seconds`.
    Failures are never cached: every bad credential is checked, and refused, again."""

    def __init__(
        self,
        inner: Authenticator,
        *,
        header: str,
        max_entries: int = 10_000,
        max_age_seconds: float = 300.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._inner, self._header = inner, header.lower()
        self._max_entries, self._max_age, self._clock = max_entries, max_age_seconds, clock
        self._entries: OrderedDict[str, tuple[float, Principal]] = OrderedDict()
        self._lock = threading.Lock()

    def cached(self, headers: Mapping[str, str]) -> Principal | None:
        """The principal of an already verified, unexpired credential; None when it must be checked."""
        credential = _header(headers, self._header)
        if not credential:
            return None
        with self._lock:
            found = self._entries.get(credential)
        return found[1] if found is not None and found[0] > self._clock() else None

    def authenticate(self, headers: Mapping[str, str]) -> Principal:
        found = self.cached(headers)
        if found is not None:
            return found
        credential = _header(headers, self._header)
        now = self._clock()
        principal = self._inner.authenticate(headers)
        if credential and principal.expires_at is not None:
            until = min(principal.expires_at, now + self._max_age)
            with self._lock:
                self._entries[credential] = (until, principal)
                while len(self._entries) > self._max_entries:
                    self._entries.popitem(last=False)
        return principal


def load_jwks(text: str) -> dict[str, Any]:
    """Parse a JWKS document from configuration, with a clear error for a bad one."""
    try:
        document = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"the JWKS is not valid JSON ({exc})") from None
    if not isinstance(document, dict) or not isinstance(document.get("keys"), list):
        raise ValueError('the JWKS must be a JSON object with a "keys" list')
    return document
