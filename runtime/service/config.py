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

from runtime import settings
from runtime.audit.chain import ChainKey
from runtime.audit.keys import chain_key_from_environment
from runtime.db.config import DatabaseSettings
from runtime.db.self_check import ServiceMode
from runtime.envelope import CacheLimits, LocalKeyring
from runtime.environment import flag, integer, required, text
from runtime.errors import ConfigurationError
from runtime.service.auth import load_jwks

T = TypeVar("T")

# The local keyring keeps its master key in a variable or a file: for local runs and tests only.
LOCAL_KEYRING_ENVIRONMENTS: Final = ("local", "test")
ALB_ARN: Final = re.compile(
    r"arn:(?P<partition>aws|aws-cn|aws-us-gov):elasticloadbalancing:(?P<region>[a-z]{2}(?:-[a-z]+)+-\d):"
    r"\d{12}:loadbalancer/app/[\w-]+/[0-9a-f]+"
)
_CLAIM: Final = re.compile(r"[A-Za-z_][A-Za-z0-9_:./-]{0,63}")
_ROLE: Final = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_:./@-]{0,127}")
MIN_BODY_BYTES: Final = 1024


class AuthMode(Enum):
    ALB_OIDC = "alb-oidc"  # the load balancer signed the user in; it passes signed claims in x-amzn-oidc-data
    BEARER_JWT = "bearer-jwt"  # a self-hosted IdP's access tokens, verified against its JWKS


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
    jwks: Mapping[str, Any] | None = field(default=None, repr=False)

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
        """Who vouches for user ids: part of the pseudonymous actor id, so two IdPs' `sub`s never collide."""
        return f"jwt:{self.jwt_issuer}" if self.mode is AuthMode.BEARER_JWT else "alb-oidc"


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
    cache_limits: CacheLimits = field(default_factory=CacheLimits)

    @property
    def service_name(self) -> str:
        return "data" if self.mode is ServiceMode.OWNER else "support"

    @classmethod
    def from_environment(cls, environ: Mapping[str, str]) -> "ServiceConfig":
        problems: list[str] = []

        def attempt(read: Callable[[], T]) -> T | None:
            try:
                return read()
            except (ConfigurationError, ValueError) as exc:
                problems.append(str(exc))
                return None

        mode = attempt(lambda: _service_mode(environ))
        environment = attempt(lambda: required(environ, settings.ENVIRONMENT, "dev, qa, prod or local"))
        database = attempt(lambda: DatabaseSettings.from_environment(environ))
        chain_key = attempt(lambda: chain_key_from_environment(environ))
        auth = attempt(lambda: _auth(environ, mode))
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
        if mode is ServiceMode.OWNER and environment:
            keyring = attempt(lambda: _keyring(environ, environment))
            if keyring is not None:
                kms_key_id, local_keyring = keyring
        if problems:
            listed = "\n- ".join(problems)
            raise ConfigurationError(f"the service cannot start; fix these settings (runtime/settings.py):\n- {listed}")
        assert mode and environment and database and chain_key and auth and port and max_body and cache_limits
        return cls(
            mode=mode, environment=environment, database=database, auth=auth, chain_key=chain_key, host=host,
            port=port, tls=tls, max_body_bytes=max_body, kms_key_id=kms_key_id, local_keyring=local_keyring,
            cache_limits=cache_limits,
        )


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


def _auth(environ: Mapping[str, str], mode: ServiceMode | None) -> AuthSettings:
    raw = text(environ, settings.AUTH_MODE) or settings.DEFAULT_AUTH_MODE
    try:
        auth_mode = AuthMode(raw)
    except ValueError:
        choices = " or ".join(m.value for m in AuthMode)
        raise ConfigurationError(f"{settings.AUTH_MODE}={raw!r} is not supported; use {choices}") from None
    claim = text(environ, settings.AUTH_ORGANISATION_CLAIM) or settings.DEFAULT_AUTH_ORGANISATION_CLAIM
    if not _CLAIM.fullmatch(claim):
        raise ConfigurationError(f"{settings.AUTH_ORGANISATION_CLAIM} must be a claim name, e.g. org_id")
    admin_claim = text(environ, settings.AUTH_ADMIN_CLAIM) or settings.DEFAULT_AUTH_ADMIN_CLAIM
    if not _CLAIM.fullmatch(admin_claim):
        raise ConfigurationError(
            f"{settings.AUTH_ADMIN_CLAIM} must be a claim name, e.g. {settings.DEFAULT_AUTH_ADMIN_CLAIM}"
        )
    admin_role = text(environ, settings.AUTH_ADMIN_ROLE) or settings.DEFAULT_AUTH_ADMIN_ROLE
    if not _ROLE.fullmatch(admin_role):
        raise ConfigurationError(
            f"{settings.AUTH_ADMIN_ROLE} must be one role name (letters, digits, _ : . / @ -), "
            f"e.g. {settings.DEFAULT_AUTH_ADMIN_ROLE}"
        )
    if auth_mode is AuthMode.ALB_OIDC:
        arn = required(environ, settings.ALB_SIGNER_ARN, "the ARN of the load balancer that signs in users")
        if not ALB_ARN.fullmatch(arn):
            raise ConfigurationError(
                f"{settings.ALB_SIGNER_ARN} is not an application load balancer ARN "
                "(arn:aws:elasticloadbalancing:REGION:ACCOUNT:loadbalancer/app/NAME/ID)"
            )
        return AuthSettings(auth_mode, claim, admin_claim, admin_role, alb_signer_arn=arn)
    issuer = required(environ, settings.JWT_ISSUER, "the IdP's issuer URL (the tokens' iss)")
    audience = required(environ, settings.JWT_AUDIENCE, "this API's audience (the tokens' aud)")
    return AuthSettings(auth_mode, claim, admin_claim, admin_role, jwt_issuer=issuer, jwt_audience=audience,
                        jwks=_jwks(environ))


def _jwks(environ: Mapping[str, str]) -> Mapping[str, Any]:
    inline, path = text(environ, settings.JWT_JWKS), text(environ, settings.JWT_JWKS_FILE)
    if inline and path:
        raise ConfigurationError(f"set {settings.JWT_JWKS} or {settings.JWT_JWKS_FILE}, not both")
    if not inline and not path:
        raise ConfigurationError(
            f"bearer-jwt needs the IdP's public keys: {settings.JWT_JWKS} (a JWKS document) or {settings.JWT_JWKS_FILE}"
        )
    source = settings.JWT_JWKS
    if path:
        source = settings.JWT_JWKS_FILE
        try:
            inline = Path(path).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigurationError(f"{source}: cannot read {path} ({type(exc).__name__})") from None
    try:
        document = load_jwks(inline)
    except ValueError as exc:
        raise ConfigurationError(f"{source}: {exc}") from None
    if not any(isinstance(k, dict) and k.get("kid") for k in document["keys"]):
        raise ConfigurationError(f"{source}: the JWKS has no key with a kid")
    return document


def _keyring(environ: Mapping[str, str], environment: str) -> tuple[str | None, LocalKeyring | None]:
    kms_key = text(environ, settings.KMS_APPLICATION_KEY_ID)
    local = text(environ, settings.LOCAL_MASTER_KEY) or text(environ, settings.LOCAL_MASTER_KEY_FILE)
    if kms_key and local:
        raise ConfigurationError(
            f"set {settings.KMS_APPLICATION_KEY_ID} (KMS) or a local master key, not both: the owner API must use "
            "one keyring"
        )
    if kms_key:
        return kms_key, None
    if not local:
        raise ConfigurationError(
            f"the owner API needs a keyring: {settings.KMS_APPLICATION_KEY_ID} (the service stack sets it), or for a "
            f"local run {settings.LOCAL_MASTER_KEY} / {settings.LOCAL_MASTER_KEY_FILE}"
        )
    if environment not in LOCAL_KEYRING_ENVIRONMENTS:
        raise ConfigurationError(
            f"the local keyring is for local runs and tests only ({settings.ENVIRONMENT} "
            f"{' or '.join(LOCAL_KEYRING_ENVIRONMENTS)}); environment {environment!r} must use "
            f"{settings.KMS_APPLICATION_KEY_ID}"
        )
    return None, LocalKeyring.from_environment(environ, environment=environment)
