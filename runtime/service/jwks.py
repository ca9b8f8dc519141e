"""The IdP's signing keys for `BearerJwtAuthenticator`, by key id: static, or fetched from the IdP.

    StaticJwks(document)                      # air-gapped installs: the JWKS from configuration
    RemoteJwks("https://idp.example/jwks")   # the IdP's JWKS URL: key rotation without a redeploy

Each key verifies exactly ONE algorithm: its JWK `alg` member when it has one (which must be an
asymmetric algorithm for its `kty`/`crv`), else RS256 for RSA, ES256/ES384/ES512 for EC P-256/P-384/
P-521, EdDSA for Ed25519. Symmetric keys, private keys, unknown types and short RSA keys are refused.

`RemoteJwks` fetches with PyJWT's `PyJWKClient` (HTTPS only, no redirects) and keeps its own cache,
so that the clock is ours: the key set is fetched again after `lifespan_seconds`; a token naming an
unknown kid may trigger a refresh, but at most one fetch starts per `refresh_interval_seconds`
(random kids cannot make us hammer the IdP); when the IdP cannot be reached, the last good key set
serves for at most `max_stale_seconds` after it was fetched, then every lookup fails closed.
"""

from __future__ import annotations

import logging
import ssl
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any, Final
from urllib.parse import urlparse

from cryptography.hazmat.primitives.asymmetric import rsa
from jwt import PyJWK, PyJWKClient, PyJWTError

# The interface the bearer authenticator takes is defined next to it (runtime.service.auth imports nothing from
# here); re-exported for the wiring.
from runtime.service.auth import AuthenticationError, Refusal, SigningKey, SigningKeys

RSA_ALGORITHMS: Final = ("RS256", "RS384", "RS512", "PS256", "PS384", "PS512")
EC_ALGORITHMS: Final = {"P-256": "ES256", "P-384": "ES384", "P-521": "ES512"}
MIN_RSA_BITS: Final = 2048
_PRIVATE_MEMBERS: Final = frozenset({"d", "p", "q", "dp", "dq", "qi", "oth", "k"})
log = logging.getLogger("platform.service")
__all__ = ["RemoteJwks", "SigningKey", "SigningKeys", "StaticJwks", "signing_key", "signing_keys"]


def signing_key(jwk: Mapping[str, Any]) -> SigningKey:
    """One JWK as a signing key with its one algorithm; ValueError saying what is wrong with it."""
    name = f"key {jwk.get('kid')!r}"
    kty, crv, alg = jwk.get("kty"), jwk.get("crv"), jwk.get("alg")
    if _PRIVATE_MEMBERS & jwk.keys():
        raise ValueError(f"{name} holds private or secret key material; publish only public signing keys")
    if kty == "RSA":
        allowed: tuple[str, ...] = RSA_ALGORITHMS
    elif kty == "EC" and isinstance(crv, str) and crv in EC_ALGORITHMS:
        allowed = (EC_ALGORITHMS[crv],)
    elif kty == "OKP" and crv == "Ed25519":
        allowed = ("EdDSA",)
    else:
        raise ValueError(f"{name} is not an RSA, EC (P-256, P-384, P-521) or Ed25519 public key (kty {kty!r}, "
                         f"crv {crv!r})")
    if alg is None:
        alg = allowed[0]
    elif alg not in allowed:
        raise ValueError(f"{name}: alg {alg!r} does not fit a {kty} key; use one of {', '.join(allowed)} or omit it")
    try:
        parsed = PyJWK(dict(jwk), algorithm=alg)
    except PyJWTError as exc:
        raise ValueError(f"{name} could not be read as a {kty} key ({type(exc).__name__})") from None
    if isinstance(parsed.key, rsa.RSAPublicKey) and parsed.key.key_size < MIN_RSA_BITS:
        raise ValueError(f"{name} is a {parsed.key.key_size}-bit RSA key; use at least {MIN_RSA_BITS} bits")
    return SigningKey(parsed, alg)


def signing_keys(document: Mapping[str, Any], *, strict: bool = True) -> dict[str, SigningKey]:
    """The signing keys of a JWKS by kid; keys for encryption (`use: enc`) are not signing keys.
    `strict`: a bad key is a ValueError (configuration); else it is left out (an IdP's published set)."""
    entries = document.get("keys")
    if not isinstance(entries, list):
        raise ValueError('the JWKS must be a JSON object with a "keys" list')
    keys: dict[str, SigningKey] = {}
    for position, entry in enumerate(entries):
        try:
            if not isinstance(entry, dict):
                raise ValueError(f"JWKS entry {position} is not a JSON object")
            if entry.get("use", "sig") != "sig":
                continue
            kid = entry.get("kid")
            if not isinstance(kid, str) or not kid:
                raise ValueError(f"JWKS entry {position} has no kid; give every signing key a kid")
            if kid in keys:
                raise ValueError(f"kid {kid!r} appears twice in the JWKS; key ids must be unique")
            keys[kid] = signing_key(entry)
        except ValueError as exc:
            if strict:
                raise
            log.warning("IdP JWKS: a key was left out: %s", exc)
    if not keys:
        raise ValueError("the JWKS has no usable signing keys with a kid")
    return keys


class StaticJwks:
    """A JWKS from configuration (air-gapped installs); rotating keys means a new configuration."""

    def __init__(self, document: Mapping[str, Any]) -> None:
        self._keys = signing_keys(document, strict=True)

    def __repr__(self) -> str:
        return f"StaticJwks(kids={sorted(self._keys)})"

    def signing_key(self, kid: str) -> SigningKey:
        key = self._keys.get(kid)
        if key is None:
            raise AuthenticationError(Refusal.UNKNOWN_KID)
        return key


class RemoteJwks:
    def __init__(
        self,
        url: str,
        *,
        lifespan_seconds: float = 300.0,
        refresh_interval_seconds: float = 30.0,
        max_stale_seconds: float = 86_400.0,
        timeout_seconds: float = 5.0,
        ssl_context: ssl.SSLContext | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """`url` is the IdP's JWKS endpoint (https only). `ssl_context` defaults to the system's trusted
        CAs with host name checks; pass one to trust a private CA."""
        parsed = urlparse(url)
        if parsed.scheme != "https" or not parsed.hostname:
            raise ValueError("the JWKS URL must be an https:// URL of the IdP (e.g. https://idp.example/.well-known/"
                             "jwks.json); plain http would let anyone on the path replace the keys")
        if not 0 < refresh_interval_seconds <= lifespan_seconds <= max_stale_seconds:
            raise ValueError("need 0 < refresh_interval_seconds <= lifespan_seconds <= max_stale_seconds")
        self._url = url
        # The cache is ours (injectable clock); PyJWKClient only fetches and parses.
        self._client = PyJWKClient(url, cache_jwk_set=False, timeout=timeout_seconds, ssl_context=ssl_context,
                                   headers={"User-Agent": "platform-jwks/1", "Accept": "application/json"})
        self._lifespan, self._interval, self._max_stale = lifespan_seconds, refresh_interval_seconds, max_stale_seconds
        self._clock = clock
        self._lock = threading.Lock()
        self._keys: dict[str, SigningKey] = {}
        self._fetched_at: float | None = None  # of the key set in use
        self._attempted_at: float | None = None  # the last fetch started, successful or not

    def __repr__(self) -> str:
        return f"RemoteJwks({self._url!r}, kids={sorted(self._keys)})"

    def signing_key(self, kid: str) -> SigningKey:
        now = self._clock()
        with self._lock:
            key = self._keys.get(kid)
            expired = self._fetched_at is None or now - self._fetched_at >= self._lifespan
            due = self._attempted_at is None or now - self._attempted_at >= self._interval
            fetch = due and (expired or key is None)
            if fetch:
                self._attempted_at = now  # claim the slot: other threads use what we have meanwhile
        if fetch:
            self._refresh()
        with self._lock:
            if self._fetched_at is None or self._clock() - self._fetched_at > self._max_stale:
                raise AuthenticationError(Refusal.KEY_UNAVAILABLE)
            key = self._keys.get(kid)
        if key is None:
            raise AuthenticationError(Refusal.UNKNOWN_KID)
        return key

    def _refresh(self) -> None:
        try:
            keys = signing_keys(self._client.fetch_data(), strict=False)
        except Exception as exc:  # unreachable, not JSON, no usable key: keep the last good set
            log.warning("IdP JWKS could not be refreshed (%s); keeping the last key set", type(exc).__name__)
            return
        with self._lock:
            self._keys, self._fetched_at = keys, self._clock()
