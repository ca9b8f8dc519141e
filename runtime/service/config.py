"""The data service's settings, read once from the container environment (names: runtime/settings.py).

    config = ServiceConfig.from_environment(os.environ)

Pure: no network, no database. Every problem is collected first and reported in ONE
`ConfigurationError` that names each variable and how to fix it, so a misconfigured task stops at
start-up with the whole list instead of one problem per restart.
"""

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import Any, Final, TypeVar
from urllib.parse import urlsplit

from runtime import settings
from runtime.audit.chain import ChainKey
from runtime.audit.keys import chain_key_from_environment
from runtime.db.config import DatabaseSettings
from runtime.db.self_check import ServiceMode
from runtime.envelope import CacheLimits, LocalKeyring
from runtime.environment import flag, integer, required, text
from runtime.errors import ConfigurationError
from runtime.lifecycle.receipt_signing import ReceiptSignerChoice, choose_receipt_signer, receipt_signer_configured
from runtime.service.auth import ALB_SOURCE, bearer_source, load_jwks
from runtime.service.jwks import signing_keys
from runtime.wiring.keyring import KeyringChoice, choose_keyring

T = TypeVar("T")

ALB_ARN: Final = re.compile(
    r"arn:(?P<partition>aws|aws-cn|aws-us-gov):elasticloadbalancing:(?P<region>[a-z]{2}(?:-[a-z]+)+-\d):"
    r"\d{12}:loadbalancer/app/[\w-]+/[0-9a-f]+"
)
_CLAIM: Final = re.compile(r"[A-Za-z_][A-Za-z0-9_:./-]{0,63}")
_ROLE: Final = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_:./@-]{0,127}")
MIN_BODY_BYTES: Final = 1024
EXAMPLE_STAFF_CLAIM: Final = "staff_roles"
EXAMPLE_STAFF_ROLE: Final = "platform-support"


class AuthMode(Enum):
    ALB_OIDC = settings.AUTH_MODE_ALB_OIDC  # the load balancer signed the user in: signed claims in x-amzn-oidc-data
    BEARER_JWT = settings.AUTH_MODE_BEARER_JWT  # an IdP's access tokens, verified against its JWKS
    # The data service in qa: a request with an Authorization header is verified as a bearer token only (API
    # clients), any other by the load balancer's header (browsers it signed in with OIDC).
    ALB_OIDC_OR_BEARER_JWT = settings.AUTH_MODE_ALB_OIDC_OR_BEARER_JWT

    @property
    def uses_alb(self) -> bool:
        return self is not AuthMode.BEARER_JWT

    @property
    def uses_bearer(self) -> bool:
        return self is not AuthMode.ALB_OIDC


@dataclass(frozen=True, slots=True)
class TlsSettings:
    """HIPAA mode: the service terminates TLS itself (P5). Either files, or a self-made certificate."""

    cert_file: Path | None = None
    key_file: Path | None = None
    self_signed: bool = False


@dataclass(frozen=True, slots=True)
class AuthSettings:
    mode: AuthMode
    organisation_claim: str = settings.DEFAULT_AUTH_ORGANISATION_CLAIM
    admin_claim: str = settings.DEFAULT_AUTH_ADMIN_CLAIM
    admin_role: str = settings.DEFAULT_AUTH_ADMIN_ROLE
    alb_signer_arn: str | None = None
    jwt_issuer: str | None = None
    jwt_audience: str | None = None
    jwks_url: str | None = None  # the IdP's JWKS over HTTPS, or ...
    jwks: Mapping[str, Any] | None = field(default=None, repr=False)  # ... the JWKS itself (air-gapped installs)
    # Support mode: who is staff (the verified claim holds the role). None in owner mode, which ignores them.
    staff_claim: str | None = None
    staff_role: str | None = None

    @property
    def alb_region(self) -> str:
        match = ALB_ARN.fullmatch(self.alb_signer_arn or "")
        if match is None:
            raise ConfigurationError(f"{settings.ALB_SIGNER_ARN} is not an application load balancer ARN")
        return match["region"]

    @property
    def alb_partition(self) -> str:
        match = ALB_ARN.fullmatch(self.alb_signer_arn or "")
        return "aws" if match is None else match["partition"]

    @property
    def identity_source(self) -> str:
        """Who vouches for user ids when a caller does not say (every authenticator sets `Caller.source`, so
        in the mixed mode each path keeps its own: a `sub` of the load balancer's IdP and the same `sub` of the
        bearer tokens' IdP are two different actors)."""
        return ALB_SOURCE if self.mode is AuthMode.ALB_OIDC else bearer_source(self.jwt_issuer or "")

    @property
    def may_block(self) -> bool:
        """Whether authenticating may wait on the network (an ALB key or a JWKS fetch)."""
        return self.mode.uses_alb or self.jwks_url is not None


@dataclass(frozen=True, slots=True)
class ServiceConfig:
    mode: ServiceMode
    environment: str
    database: DatabaseSettings
    auth: AuthSettings
    chain_key: ChainKey = field(repr=False)
    host: str = "0.0.0.0"  # noqa: S104 (in a task, the load balancer reaches the task's own interface)
    port: int = settings.DEFAULT_SERVICE_PORT
    tls: TlsSettings | None = None
    max_body_bytes: int = settings.DEFAULT_SERVICE_MAX_BODY_BYTES
    kms_key_id: str | None = None  # owner mode: the KMS keyring (deployed), or ...
    local_keyring: LocalKeyring | None = field(default=None, repr=False)  # ... the local one (local runs, tests)
    keyring_choice: KeyringChoice | None = field(default=None, repr=False)  # owner mode: the whole checked choice
    cache_limits: CacheLimits = field(default_factory=CacheLimits)
    # Owner mode: the key whose public key GET /v1/erasure-receipts/public-key publishes (P10); None: no route.
    receipt_signer: ReceiptSignerChoice | None = field(default=None, repr=False)

    @property
    def service_name(self) -> str:
        return "data" if self.mode is ServiceMode.OWNER else "support"

    @classmethod
    def from_environment(cls, environ: Mapping[str, str]) -> "ServiceConfig":
        problems = _Problems()
        attempt = problems.attempt
        mode = attempt(lambda: _service_mode(environ))
        environment = attempt(lambda: required(environ, settings.ENVIRONMENT, "dev, qa, prod or local"))
        database = attempt(lambda: DatabaseSettings.from_environment(environ))
        chain_key = attempt(lambda: chain_key_from_environment(environ))
        auth = _auth(environ, mode, problems)
        host = text(environ, settings.SERVICE_HOST) or "0.0.0.0"  # noqa: S104 (see ServiceConfig.host)
        port = attempt(lambda: integer(environ, settings.SERVICE_PORT, settings.DEFAULT_SERVICE_PORT, 1, 65535))
        tls = attempt(lambda: _tls(environ))
        max_body = attempt(
            lambda: integer(environ, settings.SERVICE_MAX_BODY_BYTES, settings.DEFAULT_SERVICE_MAX_BODY_BYTES,
                             MIN_BODY_BYTES, 64 * 1_048_576)
        )
        cache_limits = attempt(lambda: CacheLimits.from_environment(environ))
        kms_key_id: str | None = None
        local_keyring: LocalKeyring | None = None
        choice: KeyringChoice | None = None
        if mode is ServiceMode.OWNER and environment:
            choice = attempt(lambda: choose_keyring(environ, environment))
            if choice is not None:
                kms_key_id, local_keyring = choice.kms_key_id, choice.local
        receipt_signer: ReceiptSignerChoice | None = None
        if mode is ServiceMode.OWNER and environment and receipt_signer_configured(environ):
            receipt_signer = attempt(lambda: choose_receipt_signer(environ, environment))
        if problems.found:
            listed = "\n- ".join(problems.found)
            raise ConfigurationError(f"the service cannot start; fix these settings (runtime/settings.py):\n- {listed}")
        assert mode and environment and database and chain_key and auth and port and max_body and cache_limits
        return cls(
            mode=mode, environment=environment, database=database, auth=auth, chain_key=chain_key, host=host,
            port=port, tls=tls, max_body_bytes=max_body, kms_key_id=kms_key_id, local_keyring=local_keyring,
            keyring_choice=choice, cache_limits=cache_limits, receipt_signer=receipt_signer,
        )


class _Problems:
    """Every problem found: `attempt(read)` is read()'s value, or None once the reason is noted."""

    def __init__(self) -> None:
        self.found: list[str] = []

    def attempt(self, read: Callable[[], T]) -> T | None:
        try:
            return read()
        except (ConfigurationError, ValueError) as exc:
            self.found.append(str(exc))
            return None


# --- readers: each raises ConfigurationError naming its variable and the fix -----------------------------


def _service_mode(environ: Mapping[str, str]) -> ServiceMode:
    raw = required(environ, settings.SERVICE_MODE, "owner or support")
    try:
        mode = ServiceMode(raw)
    except ValueError:
        raise ConfigurationError(f"{settings.SERVICE_MODE}={raw!r} is not a mode; use owner or support") from None
    if mode is ServiceMode.JOB:
        raise ConfigurationError(
            f"{settings.SERVICE_MODE}=job runs lifecycle commands, not the service; use owner or support for `serve`"
        )
    return mode


def _tls(environ: Mapping[str, str]) -> TlsSettings | None:
    if not flag(environ, settings.SERVICE_TLS):
        return None
    self_signed = flag(environ, settings.SERVICE_TLS_SELF_SIGNED)
    cert, key = text(environ, settings.SERVICE_TLS_CERT_FILE), text(environ, settings.SERVICE_TLS_KEY_FILE)
    if self_signed:
        if cert or key:
            raise ConfigurationError(
                f"set {settings.SERVICE_TLS_SELF_SIGNED}=true or the certificate files "
                f"({settings.SERVICE_TLS_CERT_FILE}, {settings.SERVICE_TLS_KEY_FILE}), not both"
            )
        return TlsSettings(self_signed=True)
    if not cert or not key:
        raise ConfigurationError(
            f"{settings.SERVICE_TLS}=true needs {settings.SERVICE_TLS_CERT_FILE} and {settings.SERVICE_TLS_KEY_FILE} "
            f"(PEM files), or {settings.SERVICE_TLS_SELF_SIGNED}=true"
        )
    for name, path in ((settings.SERVICE_TLS_CERT_FILE, cert), (settings.SERVICE_TLS_KEY_FILE, key)):
        if not Path(path).is_file():
            raise ConfigurationError(f"{name}: {path} does not exist or is not a file")
    return TlsSettings(cert_file=Path(cert), key_file=Path(key))


def _auth(environ: Mapping[str, str], mode: ServiceMode | None, problems: _Problems) -> AuthSettings | None:
    """Who may call. Support mode needs its own identity (P4): the staff IdP's issuer, audience and keys, or the
    internal load balancer's signer, and the staff claim and role; a problem each, all noted."""
    before, read, staff = len(problems.found), problems.attempt, mode is ServiceMode.SUPPORT
    auth_mode = read(lambda: _auth_mode(environ, mode))
    org_claim = read(lambda: _claim(environ, settings.AUTH_ORGANISATION_CLAIM,
                                    settings.DEFAULT_AUTH_ORGANISATION_CLAIM))
    admin_claim = read(lambda: _claim(environ, settings.AUTH_ADMIN_CLAIM, settings.DEFAULT_AUTH_ADMIN_CLAIM))
    admin_role = read(lambda: _role(environ, settings.AUTH_ADMIN_ROLE, settings.DEFAULT_AUTH_ADMIN_ROLE))
    staff_claim = staff_role = signer = issuer = audience = None
    keys: tuple[str | None, Mapping[str, Any] | None] | None = None
    if staff:  # required, no defaults: which claim and role make support staff is the operator's to say
        staff_claim = read(lambda: _claim(environ, settings.AUTH_STAFF_CLAIM, example=EXAMPLE_STAFF_CLAIM,
                                          what="the staff IdP's claim that lists a caller's roles"))
        staff_role = read(lambda: _role(environ, settings.AUTH_STAFF_ROLE, example=EXAMPLE_STAFF_ROLE,
                                        what="the role in that claim that makes a caller support staff"))
    if auth_mode is not None and auth_mode.uses_alb:
        signer = read(lambda: _alb_signer(environ, staff))
    if auth_mode is not None and auth_mode.uses_bearer:
        idp, tokens = ("the staff IdP", "the staff tokens") if staff else ("the IdP", "the tokens")
        issuer = read(lambda: required(environ, settings.JWT_ISSUER, f"{idp}'s issuer URL ({tokens}' iss)"))
        audience = read(lambda: required(environ, settings.JWT_AUDIENCE, f"this API's audience ({tokens}' aud)"))
        keys = read(lambda: _jwks_source(environ, idp))
    if len(problems.found) > before:
        return None
    assert auth_mode and org_claim and admin_claim and admin_role
    jwks_url, jwks = keys or (None, None)
    return AuthSettings(
        auth_mode, org_claim, admin_claim, admin_role, alb_signer_arn=signer, jwt_issuer=issuer,
        jwt_audience=audience, jwks_url=jwks_url, jwks=jwks, staff_claim=staff_claim, staff_role=staff_role,
    )


def _auth_mode(environ: Mapping[str, str], mode: ServiceMode | None) -> AuthMode:
    raw = text(environ, settings.AUTH_MODE) or settings.DEFAULT_AUTH_MODE
    try:
        auth_mode = AuthMode(raw)
    except ValueError:
        choices = ", ".join(m.value for m in AuthMode)
        raise ConfigurationError(f"{settings.AUTH_MODE}={raw!r} is not supported; use one of {choices}") from None
    if mode is ServiceMode.SUPPORT and auth_mode is AuthMode.ALB_OIDC_OR_BEARER_JWT:
        raise ConfigurationError(
            f"{settings.AUTH_MODE}={raw} is for the data service; the support service uses "
            f"{AuthMode.ALB_OIDC.value} (the internal load balancer signs staff in) or {AuthMode.BEARER_JWT.value}"
        )
    return auth_mode


def _claim(environ: Mapping[str, str], name: str, default: str | None = None, *, example: str | None = None,
           what: str = "") -> str:
    value = text(environ, name) or default
    if not value:
        raise ConfigurationError(f"{name} is not set; set it to {what}, e.g. {example}")
    if not _CLAIM.fullmatch(value):
        raise ConfigurationError(
            f"{name} must be a claim name (a letter or _, then letters, digits, _ : . / -), e.g. {example or default}"
        )
    return value


def _role(environ: Mapping[str, str], name: str, default: str | None = None, *, example: str | None = None,
          what: str = "") -> str:
    value = text(environ, name) or default
    if not value:
        raise ConfigurationError(f"{name} is not set; set it to {what}, e.g. {example}")
    if not _ROLE.fullmatch(value):
        raise ConfigurationError(
            f"{name} must be one role name (letters, digits, _ : . / @ -), e.g. {example or default}"
        )
    return value


def _alb_signer(environ: Mapping[str, str], staff: bool) -> str:
    what = (
        "the ARN of the internal load balancer that signs in support staff (OIDC with the staff IdP)"
        if staff else "the ARN of the load balancer that signs in users"
    )
    arn = required(environ, settings.ALB_SIGNER_ARN, what)
    if not ALB_ARN.fullmatch(arn):
        raise ConfigurationError(
            f"{settings.ALB_SIGNER_ARN} is not an application load balancer ARN "
            "(arn:aws:elasticloadbalancing:REGION:ACCOUNT:loadbalancer/app/NAME/ID)"
        )
    return arn


def _jwks_source(environ: Mapping[str, str], idp: str) -> tuple[str | None, Mapping[str, Any] | None]:
    """Exactly one of: the JWKS URL (keys rotate), the JWKS document, or its file (air-gapped installs)."""
    sources = (settings.JWT_JWKS_URL, settings.JWT_JWKS, settings.JWT_JWKS_FILE)
    given = [name for name in sources if text(environ, name)]
    if len(given) > 1:
        raise ConfigurationError(f"set exactly one of {', '.join(sources)}; not {' and '.join(given)}")
    if not given:
        raise ConfigurationError(
            f"{settings.AUTH_MODE_BEARER_JWT} needs {idp}'s public keys: set {settings.JWT_JWKS_URL} (its JWKS over "
            f"HTTPS), or for an air-gapped install {settings.JWT_JWKS} (a JWKS document) or {settings.JWT_JWKS_FILE}"
        )
    url = text(environ, settings.JWT_JWKS_URL)
    if url:
        return _jwks_url(url), None
    return None, _jwks(environ)


def _jwks_url(url: str) -> str:
    try:
        parts = urlsplit(url)
        valid = parts.scheme == "https" and bool(parts.hostname) and parts.port != 0
    except ValueError:
        valid = False
    if not valid or parts.username or parts.password or parts.fragment or any(c.isspace() for c in url):
        raise ConfigurationError(
            f"{settings.JWT_JWKS_URL} must be the https:// URL of the IdP's JWKS, without credentials "
            "(e.g. https://idp.example/.well-known/jwks.json)"
        )
    return url


def _jwks(environ: Mapping[str, str]) -> Mapping[str, Any]:
    inline, path = text(environ, settings.JWT_JWKS), text(environ, settings.JWT_JWKS_FILE)
    source = settings.JWT_JWKS
    if path:
        source = settings.JWT_JWKS_FILE
        try:
            inline = Path(path).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigurationError(f"{source}: cannot read {path} ({type(exc).__name__})") from None
    try:
        document = load_jwks(inline)
        signing_keys(document, strict=True)  # every key usable for exactly one algorithm, as StaticJwks needs
    except ValueError as exc:
        raise ConfigurationError(f"{source}: {exc}") from None
    return document


