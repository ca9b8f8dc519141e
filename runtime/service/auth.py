"""Who is calling: one interface, three authenticators (P3).

- `AlbOidcAuthenticator`: the load balancer signed the user in (OIDC) and passes its claims in
  `x-amzn-oidc-data`, an ES256 JWT signed by the load balancer. We check the signer is OUR load
  balancer and verify the signature with the key the load balancer publishes under the token's
  `kid` (the lookup is injected, so tests need no network).
- `BearerJwtAuthenticator`: a self-hosted IdP's access token (`Authorization: Bearer ...`), verified
  with the IdP's key for its `kid` (`runtime.service.jwks`: a static JWKS or the IdP's JWKS URL).
- `HeaderDispatchAuthenticator`: mixed mode; a request with an `Authorization` header is a bearer
  request and nothing else, any other request goes to the ALB path.

Every failure is the same `AuthenticationError` with the same message: the caller learns nothing
about why (no oracle). The reason is a fixed `Refusal` code, for the server's log: never a value
from the credential (P7). Tokens are checked strictly BEFORE any signature check: a bounded size,
three base64url segments, a plain JSON header without key-supplying or critical members, and an
`alg` that is exactly the one the key is for. Nothing but `AuthenticationError` leaves `authenticate`.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import logging
import math
import re
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from enum import StrEnum
from types import MappingProxyType
from typing import Any, Final, Protocol

import jwt
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import load_pem_public_key

from runtime.errors import PlatformError

ALB_HEADER: Final = "x-amzn-oidc-data"
PUBLIC_MESSAGE: Final = "authentication required"
LEEWAY_SECONDS: Final = 30
MAX_TOKEN_CHARS: Final = 8192  # a credential header longer than this is refused before it is parsed
MAX_CLAIM_DEPTH: Final = 8  # nesting of the payload's JSON (e.g. resource_access.client.roles)
# Dates in claims (exp, iat, nbf): seconds from 1970 to 9999-12-31, so no arithmetic on them overflows.
MAX_TIMESTAMP: Final = 253_402_300_799
ALB_KID: Final = re.compile(r"[A-Za-z0-9-]{1,64}")  # the load balancer's key ids (UUIDs)
_KID: Final = re.compile(r"[\x21-\x7e]{1,256}")  # an IdP's key id: visible ASCII
_TOKEN: Final = re.compile(r"[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+")
# Key-supplying members (a token must never choose its own key), critical extensions (we implement
# none), unencoded payloads (RFC 7797) and JWE members.
_REFUSED_HEADER_MEMBERS: Final = frozenset({"jku", "x5u", "jwk", "x5c", "crit", "b64", "zip", "enc", "epk"})
_BEARER_TYPES: Final = frozenset({"jwt", "at+jwt", "application/jwt", "application/at+jwt"})
log = logging.getLogger("platform.service")


class Refusal(StrEnum):
    """Why a credential was refused: fixed codes, safe to log."""

    NO_CREDENTIAL = "no_credential"
    OVERSIZED = "oversized"
    MALFORMED = "malformed"
    UNSUPPORTED_HEADER = "unsupported_header"
    ALG_NOT_ALLOWED = "alg_not_allowed"
    KEY_TYPE_MISMATCH = "key_type_mismatch"
    UNKNOWN_KID = "unknown_kid"
    KEY_UNAVAILABLE = "key_unavailable"
    BAD_SIGNATURE = "bad_signature"
    EXPIRED = "expired"
    NOT_YET_VALID = "not_yet_valid"
    WRONG_ISSUER = "wrong_issuer"
    WRONG_AUDIENCE = "wrong_audience"
    MISSING_CLAIM = "missing_claim"
    WRONG_SIGNER = "wrong_signer"
    NOT_AN_OWNER = "not_an_owner"
    NOT_STAFF = "not_staff"


class AuthenticationError(PlatformError):
    """The request is not authenticated. `str()` is safe to show; `reason` (a `Refusal`) is for the log."""

    def __init__(self, reason: Refusal) -> None:
        super().__init__(PUBLIC_MESSAGE)
        # Transitional: a caller still passing text gets a fixed code; the text itself is never kept.
        self.reason: Refusal = reason if isinstance(reason, Refusal) else _refusal_of(reason)


def _refusal_of(value: object) -> Refusal:
    return Refusal(value) if isinstance(value, str) and value in Refusal.__members__.values() else Refusal.MALFORMED


@dataclass(frozen=True)
class Caller:
    """An authenticated user and the organisation (the contractual owner) it acts for."""

    user_id: str
    organisation_id: str
    expires_at: float | None = field(default=None, compare=False)  # the credential's `exp`, when it has one
    # The verified token's claims, for authorisation rules (e.g. `AdminRule`); never logged.
    claims: Mapping[str, Any] = field(default_factory=dict, compare=False, repr=False)
    # Who vouched for `user_id` (set by the authenticator that verified it): part of the pseudonymous actor id,
    # so the same `sub` from two identity providers (the mixed mode's two paths) names two different actors.
    source: str = ""


ALB_SOURCE: Final = "alb-oidc"


def bearer_source(issuer: str) -> str:
    return f"jwt:{issuer}"


def _expiry(claims: Mapping[str, Any]) -> float | None:
    exp = claims.get("exp")
    return float(exp) if isinstance(exp, int | float) and not isinstance(exp, bool) and math.isfinite(exp) else None


class Authenticator(Protocol):
    def authenticate(self, headers: Mapping[str, str]) -> Caller: ...

    def cached(self, headers: Mapping[str, str]) -> Caller | None:
        """The principal of an already verified credential, without any work that may block; else None."""
        ...


class OrganisationResolver(Protocol):
    """Maps verified claims to a principal: the user's organisation comes from our data, or a claim."""

    def __call__(self, claims: Mapping[str, Any]) -> Caller: ...


@dataclass(frozen=True)
class ClaimResolver:
    """The organisation is a claim the IdP adds (e.g. `org_id`); the user is `sub`."""

    organisation_claim: str = "org_id"

    def __call__(self, claims: Mapping[str, Any]) -> Caller:
        user, organisation = claims.get("sub"), claims.get(self.organisation_claim)
        if not isinstance(user, str) or not user:
            raise AuthenticationError(Refusal.MISSING_CLAIM)
        if not isinstance(organisation, str) or not organisation:
            raise AuthenticationError(Refusal.NOT_AN_OWNER)
        return Caller(user_id=user, organisation_id=organisation, expires_at=_expiry(claims),
                         claims=MappingProxyType(dict(claims)))


@dataclass(frozen=True)
class AdminRule:
    """A caller is its organisation's admin when its verified `claim` (a string, or a list of strings)
    contains `role`. Fails closed: a missing or malformed claim is never an admin."""

    claim: str
    role: str

    def allows(self, principal: Caller) -> bool:
        value = principal.claims.get(self.claim)
        if isinstance(value, str):
            return value == self.role
        if isinstance(value, list | tuple):
            return any(isinstance(item, str) and item == self.role for item in value)
        return False


# --- reading a credential, strictly -------------------------------------------------------------------


def _header(headers: Mapping[str, str], name: str) -> str | None:
    """The header's value; None when absent. Sent twice, it is refused (proxies may disagree on which)."""
    found = [value for key, value in headers.items() if key.lower() == name]
    if len(found) > 1:
        raise AuthenticationError(Refusal.MALFORMED)
    return found[0] if found else None


def _json_object(segment: str, *, max_depth: int) -> dict[str, Any]:
    """A base64url segment holding one JSON object: no duplicate members, no NaN or Infinity, bounded depth."""
    try:
        text = base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4)).decode("utf-8")
        value = json.loads(text, object_pairs_hook=_no_duplicates, parse_constant=_no_constant,
                           parse_float=_finite_float)
    except (binascii.Error, ValueError, RecursionError):
        raise AuthenticationError(Refusal.MALFORMED) from None
    if not isinstance(value, dict) or _depth(value) > max_depth:
        raise AuthenticationError(Refusal.MALFORMED)
    return value


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result = dict(pairs)
    if len(result) != len(pairs):
        raise ValueError("duplicate member")
    return result


def _no_constant(_: str) -> Any:
    raise ValueError("NaN and Infinity are not JSON")


def _finite_float(text: str) -> float:
    number = float(text)
    if not math.isfinite(number):
        raise ValueError("number out of range")
    return number


def _depth(value: Any) -> int:
    if isinstance(value, dict):
        return 1 + max((_depth(v) for v in value.values()), default=0)
    if isinstance(value, list):
        return 1 + max((_depth(v) for v in value), default=0)
    return 0


def _token_header(token: str, *, types: frozenset[str]) -> dict[str, Any]:
    """The token's (unverified) JOSE header, after the checks that hold for every token we accept."""
    if not _TOKEN.fullmatch(token):
        raise AuthenticationError(Refusal.MALFORMED)  # also unsigned tokens: the signature may not be empty
    header = _json_object(token.split(".", 1)[0], max_depth=1)  # scalars only: nothing nested
    if _REFUSED_HEADER_MEMBERS & header.keys():
        raise AuthenticationError(Refusal.UNSUPPORTED_HEADER)
    if any(isinstance(value, str) and len(value) > 2048 for value in header.values()):
        raise AuthenticationError(Refusal.MALFORMED)
    typ = header.get("typ")
    if typ is not None and not (isinstance(typ, str) and typ.lower() in types):
        raise AuthenticationError(Refusal.UNSUPPORTED_HEADER)  # e.g. a DPoP proof or a logout token
    if not isinstance(header.get("alg"), str):
        raise AuthenticationError(Refusal.MALFORMED)
    return header


def _check_claims(claims: Mapping[str, Any]) -> None:
    """Verified claims still have to have sane types (an IdP's bug must not become our 500)."""
    for name in ("exp", "iat", "nbf"):
        value = claims.get(name)
        if name in claims and not (isinstance(value, int) and not isinstance(value, bool)
                                   and 0 <= value <= MAX_TIMESTAMP):
            raise AuthenticationError(Refusal.MALFORMED)
    sub = claims.get("sub")
    if not isinstance(sub, str) or not 0 < len(sub) <= 1024:
        raise AuthenticationError(Refusal.MISSING_CLAIM)


# PyJWT's verdicts, most specific first.
_VERDICTS: Final[tuple[tuple[type[Exception], Refusal], ...]] = (
    (jwt.ExpiredSignatureError, Refusal.EXPIRED),
    (jwt.ImmatureSignatureError, Refusal.NOT_YET_VALID),
    (jwt.InvalidIssuedAtError, Refusal.NOT_YET_VALID),
    (jwt.InvalidIssuerError, Refusal.WRONG_ISSUER),
    (jwt.InvalidAudienceError, Refusal.WRONG_AUDIENCE),
    (jwt.MissingRequiredClaimError, Refusal.MISSING_CLAIM),
    (jwt.InvalidSignatureError, Refusal.BAD_SIGNATURE),
    (jwt.InvalidAlgorithmError, Refusal.ALG_NOT_ALLOWED),
    (jwt.InvalidKeyError, Refusal.KEY_TYPE_MISMATCH),
)


def _refusal_for(exc: jwt.PyJWTError) -> Refusal:
    for kind, refusal in _VERDICTS:
        if isinstance(exc, kind):
            return refusal
    return Refusal.MALFORMED


def _fail_closed(check: Callable[[], Caller]) -> Caller:
    """Run a credential check; anything but an AuthenticationError becomes one (never its text)."""
    try:
        return check()
    except AuthenticationError:
        raise
    except jwt.PyJWTError as exc:
        raise AuthenticationError(_refusal_for(exc)) from None
    except Exception as exc:  # fail closed: an unforeseen failure is a refusal, not a 500
        log.warning("authentication: unexpected %s while checking a credential", type(exc).__name__)
        raise AuthenticationError(Refusal.MALFORMED) from None


# --- the authenticators -------------------------------------------------------------------------------


def _es256_key(key: Any) -> ec.EllipticCurvePublicKey:
    """The load balancer's key as a P-256 public key; anything else is refused before verification."""
    if isinstance(key, str | bytes):
        key = load_pem_public_key(key.encode("ascii") if isinstance(key, str) else key)
    if not isinstance(key, ec.EllipticCurvePublicKey) or not isinstance(key.curve, ec.SECP256R1):
        raise AuthenticationError(Refusal.KEY_TYPE_MISMATCH)
    return key


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

    def cached(self, headers: Mapping[str, str]) -> Caller | None:
        return None

    def authenticate(self, headers: Mapping[str, str]) -> Caller:
        return _fail_closed(lambda: self._authenticate(headers))

    def _authenticate(self, headers: Mapping[str, str]) -> Caller:
        token = _header(headers, ALB_HEADER)
        if not token:
            raise AuthenticationError(Refusal.NO_CREDENTIAL)
        if len(token) > MAX_TOKEN_CHARS:
            raise AuthenticationError(Refusal.OVERSIZED)
        # The load balancer pads its base64url segments; JWT libraries expect them unpadded.
        token = ".".join(part.rstrip("=") for part in token.split("."))
        header = _token_header(token, types=frozenset({"jwt"}))
        if header["alg"] != "ES256":
            raise AuthenticationError(Refusal.ALG_NOT_ALLOWED)
        if header.get("signer") != self._signer:
            raise AuthenticationError(Refusal.WRONG_SIGNER)
        kid = header.get("kid")
        if not isinstance(kid, str) or not ALB_KID.fullmatch(kid):
            raise AuthenticationError(Refusal.MALFORMED)
        try:
            found = self._public_key(kid)
        except AuthenticationError:
            raise
        except Exception as exc:  # the lookup knows no key for this id, or could not fetch it
            refusal = getattr(exc, "refusal", None)  # alb_keys.KeyLookupError says which
            raise AuthenticationError(refusal if isinstance(refusal, Refusal) else Refusal.UNKNOWN_KID) from None
        claims = jwt.decode(token, _es256_key(found), algorithms=["ES256"], options={"require": ["exp", "sub"]},
                            leeway=LEEWAY_SECONDS)
        _check_claims(claims)
        return replace(self._resolve(claims), source=ALB_SOURCE)


# The key type each asymmetric algorithm verifies with: a header naming another family is refused early.
_KEY_TYPE_OF: Final = {
    **dict.fromkeys(("RS256", "RS384", "RS512", "PS256", "PS384", "PS512"), "RSA"),
    **dict.fromkeys(("ES256", "ES384", "ES512"), "EC"),
    "EdDSA": "OKP",
}


@dataclass(frozen=True)
class SigningKey:
    """One IdP key and the one algorithm it verifies (runtime.service.jwks builds them)."""

    jwk: jwt.PyJWK
    algorithm: str

    @property
    def key_type(self) -> str:
        return str(self.jwk.key_type)


class SigningKeys(Protocol):
    def signing_key(self, kid: str) -> SigningKey:
        """The key for `kid`; AuthenticationError(UNKNOWN_KID), or (KEY_UNAVAILABLE) when there is no key set."""
        ...


class BearerJwtAuthenticator:
    def __init__(
        self,
        *,
        keys: SigningKeys,
        issuer: str,
        audience: str,
        resolve: OrganisationResolver,
    ) -> None:
        """`keys` is the IdP's key set (`runtime.service.jwks.StaticJwks` or `RemoteJwks`): each key
        verifies exactly one algorithm."""
        if not issuer or not audience:
            raise ValueError("a bearer authenticator needs the expected issuer and audience")
        self._keys, self._issuer, self._audience, self._resolve = keys, issuer, audience, resolve

    def cached(self, headers: Mapping[str, str]) -> Caller | None:
        return None

    def authenticate(self, headers: Mapping[str, str]) -> Caller:
        return _fail_closed(lambda: self._authenticate(headers))

    def _authenticate(self, headers: Mapping[str, str]) -> Caller:
        authorization = _header(headers, "authorization")
        if not authorization:
            raise AuthenticationError(Refusal.NO_CREDENTIAL)
        if len(authorization) > MAX_TOKEN_CHARS:
            raise AuthenticationError(Refusal.OVERSIZED)
        scheme, _, token = authorization.partition(" ")
        token = token.strip(" ")
        if scheme.lower() != "bearer" or not token:
            raise AuthenticationError(Refusal.NO_CREDENTIAL)
        header = _token_header(token, types=_BEARER_TYPES)
        alg, kid = header["alg"], header.get("kid")
        if alg not in _KEY_TYPE_OF:
            raise AuthenticationError(Refusal.ALG_NOT_ALLOWED)  # "none", HMAC and anything unknown
        if not isinstance(kid, str) or not _KID.fullmatch(kid):
            raise AuthenticationError(Refusal.MALFORMED)
        key = self._keys.signing_key(kid)
        if _KEY_TYPE_OF[alg] != key.key_type:
            raise AuthenticationError(Refusal.KEY_TYPE_MISMATCH)
        if alg != key.algorithm:
            raise AuthenticationError(Refusal.ALG_NOT_ALLOWED)
        claims = jwt.decode(  # the PyJWK binds the algorithm: PyJWT verifies with the key's, not the header's
            token,
            key.jwk,
            algorithms=[key.algorithm],
            audience=self._audience,
            issuer=self._issuer,
            options={"require": ["exp", "iat", "sub"], "enforce_minimum_key_length": True},
            leeway=LEEWAY_SECONDS,
        )
        _check_claims(claims)
        return replace(self._resolve(claims), source=bearer_source(self._issuer))


class HeaderDispatchAuthenticator:
    """Mixed mode: a request carrying `Authorization` is verified as a bearer token only (it never falls
    through to the ALB path, so a bad bearer token cannot be rescued by an ALB header); any other request
    goes to the ALB header path."""

    def __init__(self, *, bearer: Authenticator, alb: Authenticator) -> None:
        self._bearer, self._alb = bearer, alb

    def _route(self, headers: Mapping[str, str]) -> Authenticator:
        has_bearer = any(key.lower() == "authorization" for key in headers)
        return self._bearer if has_bearer else self._alb

    def cached(self, headers: Mapping[str, str]) -> Caller | None:
        return self._route(headers).cached(headers)

    def authenticate(self, headers: Mapping[str, str]) -> Caller:
        return self._route(headers).authenticate(headers)


class CachingAuthenticator:
    """Remembers verified credentials until they expire, so a client reusing its token pays for one
    signature check (~130 us for RS256) instead of one per request. Keyed by the SHA-256 digest of the
    credential (the header's exact value): the cache holds no token. An entry lives until the token's `exp`
    (never past it: no leeway here) and at most `max_age_seconds` (a key withdrawn from the IdP's set stops
    vouching for cached tokens within that time). Failures are never cached: every bad credential is checked,
    and refused, again."""

    def __init__(
        self,
        inner: Authenticator,
        *,
        header: str,
        max_entries: int = 10_000,
        max_age_seconds: float = 60.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._inner, self._header = inner, header.lower()
        self._max_entries, self._max_age, self._clock = max_entries, max_age_seconds, clock
        self._entries: OrderedDict[bytes, tuple[float, Caller]] = OrderedDict()
        self._lock = threading.Lock()

    def _credential(self, headers: Mapping[str, str]) -> bytes | None:
        """The digest of the request's credential; None when there is none (or it was sent twice: never served
        from the cache; the inner check refuses it)."""
        try:
            credential = _header(headers, self._header)
        except AuthenticationError:
            return None
        return hashlib.sha256(credential.encode("utf-8", "surrogatepass")).digest() if credential else None

    def cached(self, headers: Mapping[str, str]) -> Caller | None:
        """The principal of an already verified, unexpired credential; None when it must be checked."""
        return self._lookup(self._credential(headers))

    def _lookup(self, credential: bytes | None) -> Caller | None:
        if credential is None:
            return None
        with self._lock:
            found = self._entries.get(credential)
        return found[1] if found is not None and found[0] > self._clock() else None

    def authenticate(self, headers: Mapping[str, str]) -> Caller:
        credential = self._credential(headers)
        found = self._lookup(credential)
        if found is not None:
            return found
        now = self._clock()
        principal = self._inner.authenticate(headers)
        if credential is not None and principal.expires_at is not None:
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
