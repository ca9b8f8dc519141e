"""Adapters wired into the service: pools, keyring, cipher, ledger, authenticator. The only place the
service opens connections, and only when `build_context` is called; AWS clients, the password source and
the keyring come from runtime.wiring, as in every job command.

Start-up refuses to serve (raises) when the database cannot be reached over verified TLS, or when the
self-check finds the role could read past row-level security (P3) or, in support mode, holds any
privilege on a SENSITIVE table (P4).

Who may call: owner mode resolves a caller's organisation from its token (`ClaimResolver`); support mode
admits support staff only (`StaffResolver`: the staff IdP's token with the staff role), so a customer's
credentials never open a support route (P4).
"""

import dataclasses
import os
from collections.abc import Callable, Mapping

from fastapi import APIRouter

from runtime.db import Database, PostgresWrappedKeyStore, Records, open_pool, require_safe
from runtime.db.connect import ConnectionSource, async_pool
from runtime.db.credentials import PasswordSource
from runtime.db.ledger import AuditLedger
from runtime.db.organisation_keys import KeyUnavailableAudit, PostgresCustomerKeys
from runtime.db.self_check import ServiceMode
from runtime.db.session import AsyncDatabase
from runtime.envelope import DataKeyCache, EnvelopeCipher
from runtime.envelope.keyrings.customer import CustomerKeyChecker
from runtime.environment import integer, text
from runtime.errors import ConfigurationError
from runtime.lifecycle.downloads import (
    DEFAULT_DOWNLOAD_URL_EXPIRY_SECONDS,
    MAX_DOWNLOAD_URL_EXPIRY_SECONDS,
    ExportDownloads,
)
from runtime.service.alb_keys import AlbPublicKeys, Fetch, https_get
from runtime.service.auth import (
    ALB_HEADER,
    AdminRule,
    AlbOidcAuthenticator,
    Authenticator,
    BearerJwtAuthenticator,
    CachingAuthenticator,
    ClaimResolver,
    HeaderDispatchAuthenticator,
    OrganisationResolver,
)
from runtime.service.config import AuthSettings, ServiceConfig
from runtime.service.context import OwnerData, ServiceContext, admin_scope
from runtime.service.health import Readiness
from runtime.service.identity import Identities, StaffResolver
from runtime.service.jwks import RemoteJwks, SigningKeys, StaticJwks
from runtime.service.lifecycle_routes import lifecycle_router, receipt_key_router
from runtime.service.organisation_key_routes import organisation_key_router
from runtime.settings import (
    AUTH_STAFF_CLAIM,
    AUTH_STAFF_ROLE,
    EXPORT_DOWNLOAD_URL_EXPIRY_SECONDS,
    EXPORTS_BUCKET,
    ORGANISATION_KEY_USER_ROLE_ARNS,
)
from runtime.wiring.clients import ClientFactory, aws_client
from runtime.wiring.keyring import KeyringChoice
from runtime.wiring.passwords import password_source

KEY_POOL_MAX = 3  # the key store's own pool: a cache miss never waits for the connection its request holds


def authenticator(auth: AuthSettings, mode: ServiceMode, *, fetch: Fetch = https_get) -> Authenticator:
    """The configured authenticator, each credential path behind its own cache of verified credentials.
    The mixed mode sends a request with an Authorization header to the bearer path only, any other to the
    load balancer's header."""
    resolve = _resolver(auth, mode)
    alb: Authenticator | None = None
    bearer: Authenticator | None = None
    if auth.mode.uses_alb:
        assert auth.alb_signer_arn is not None
        keys = AlbPublicKeys(region=auth.alb_region, partition=auth.alb_partition, fetch=fetch)
        alb = CachingAuthenticator(
            AlbOidcAuthenticator(expected_signer_arn=auth.alb_signer_arn, public_key=keys, resolve=resolve),
            header=ALB_HEADER,
        )
    if auth.mode.uses_bearer:
        assert auth.jwt_issuer and auth.jwt_audience
        bearer = CachingAuthenticator(
            BearerJwtAuthenticator(keys=_signing_keys(auth), issuer=auth.jwt_issuer, audience=auth.jwt_audience,
                                   resolve=resolve),
            header="authorization",
        )
    if alb is not None and bearer is not None:
        return HeaderDispatchAuthenticator(bearer=bearer, alb=alb)
    found = alb or bearer
    assert found is not None
    return found


def staff_resolver(auth: AuthSettings) -> StaffResolver:
    """Support mode's rule of who is staff (P4); without the staff claim and role nobody is."""
    if not auth.staff_claim or not auth.staff_role:
        raise ConfigurationError(f"the support service needs {AUTH_STAFF_CLAIM} and {AUTH_STAFF_ROLE}: the staff "
                                 "IdP's claim and the role in it that makes a caller support staff")
    return StaffResolver(auth.staff_claim, auth.staff_role)


def _resolver(auth: AuthSettings, mode: ServiceMode) -> OrganisationResolver:
    if mode is ServiceMode.OWNER:
        return ClaimResolver(auth.organisation_claim)
    if mode is ServiceMode.SUPPORT:
        return staff_resolver(auth)
    raise ConfigurationError(f"the {mode.value} mode serves no API")


def _signing_keys(auth: AuthSettings) -> SigningKeys:
    if auth.jwks_url:
        return RemoteJwks(auth.jwks_url)
    assert auth.jwks is not None
    return StaticJwks(auth.jwks)


def service_routers(config: ServiceConfig, *, environ: Mapping[str, str] | None = None,
                    clients: ClientFactory = aws_client) -> list[APIRouter]:
    """The routers `serve` mounts beside the built-in API. Owner mode: the lifecycle routes (export and
    erasure requests), admin per the configured claim; the lifecycle job runs the requests (no launcher);
    with EXPORTS_BUCKET set, the admin's download URLs of complete exports (signed with the task role).
    The organisation's admin sees its key's state (GET /v1/organisation/key). Support mode: none."""
    if config.mode is not ServiceMode.OWNER:
        return []
    rule = AdminRule(claim=config.auth.admin_claim, role=config.auth.admin_role)
    return [lifecycle_router(admin_scope=admin_scope(rule), downloads=export_downloads(environ, clients)),
            organisation_key_router(admin_scope=admin_scope(rule),
                                    checker=customer_key_checker(config, environ, clients)),
            *receipt_routers(config, clients)]


def customer_key_checker(config: ServiceConfig, environ: Mapping[str, str] | None,
                         clients: ClientFactory) -> CustomerKeyChecker | None:
    """Organisations' own keys checked as this service's role: with KMS organisation keys and the runtime role
    ARNs the key-policy statement names (ORGANISATION_KEY_USER_ROLE_ARNS); None otherwise (a local run)."""
    environ = os.environ if environ is None else environ
    roles = tuple(a.strip() for a in text(environ, ORGANISATION_KEY_USER_ROLE_ARNS).split(",") if a.strip())
    if config.keyring_choice is None or not config.keyring_choice.app or not roles:
        return None
    return CustomerKeyChecker(clients("kms"), config.environment, roles)


def export_downloads(environ: Mapping[str, str] | None, clients: ClientFactory) -> ExportDownloads | None:
    """The admin's export downloads (P13) when the task names the exports bucket; None otherwise (a 503)."""
    environ = os.environ if environ is None else environ
    bucket = text(environ, EXPORTS_BUCKET)
    if not bucket:
        return None
    expiry = integer(environ, EXPORT_DOWNLOAD_URL_EXPIRY_SECONDS, DEFAULT_DOWNLOAD_URL_EXPIRY_SECONDS, 60,
                     MAX_DOWNLOAD_URL_EXPIRY_SECONDS)
    return ExportDownloads(clients("s3"), bucket=bucket, expiry_seconds=expiry)


def receipt_routers(config: ServiceConfig, clients: ClientFactory = aws_client) -> list[APIRouter]:
    """Owner mode with a receipt-signing key configured: GET /v1/erasure-receipts/public-key (P10). The KMS
    signer reads the public key on the first request and keeps it; nothing is called at start-up."""
    if config.mode is not ServiceMode.OWNER or config.receipt_signer is None:
        return []
    return [receipt_key_router(public_key=config.receipt_signer.signer(clients).public_key)]


def build_context(
    config: ServiceConfig,
    *,
    clients: ClientFactory = aws_client,
    passwords: PasswordSource | None = None,
    fetch: Fetch = https_get,
) -> ServiceContext:
    """Open the pools, run the self-check and assemble the service. `passwords` overrides the password
    source chosen from the settings (IAM token, Secrets Manager secret, libpq's own)."""
    # Who may call, first: a bad key set or staff rule stops start-up before any connection is opened.
    who = authenticator(config.auth, config.mode, fetch=fetch)
    staff = staff_resolver(config.auth) if config.mode is ServiceMode.SUPPORT else None
    source = passwords if passwords is not None else password_source(config.database, clients)
    closers: list[Callable[[], None]] = []
    try:
        pool = open_pool(config.database, source, name=f"{config.service_name}-api")
        closers.append(pool.close)
        with pool.connection() as conn:
            require_safe(conn, config.mode)
        owner = _owner_data(config, pool, source, clients, closers) if config.mode is ServiceMode.OWNER else None
    except BaseException:
        for close in reversed(closers):
            close()
        raise
    return ServiceContext(
        mode=config.mode,
        authenticate_in_thread=config.auth.may_block,  # a key fetch may block on the network
        authenticator=who,
        identities=Identities(config.chain_key, source=config.auth.identity_source),
        readiness=Readiness(pool, config.mode),
        owner=owner,
        support=pool if config.mode is ServiceMode.SUPPORT else None,
        staff=staff,
        www_authenticate="Bearer" if config.auth.mode.uses_bearer else None,
        worker_threads=config.database.pool_max_size,
        pool_stats=((f"{config.service_name}-api", pool.get_stats),),
        closers=tuple(reversed(closers)),
    )


def _owner_data(
    config: ServiceConfig,
    pool: ConnectionSource,
    source: PasswordSource | None,
    clients: ClientFactory,
    closers: list[Callable[[], None]],
) -> OwnerData:
    key_settings = dataclasses.replace(config.database, pool_min_size=1, pool_max_size=KEY_POOL_MAX)
    key_pool = open_pool(key_settings, source, name="data-keys")
    closers.append(key_pool.close)
    choice = config.keyring_choice or KeyringChoice(config.environment, config.kms_key_id, config.local_keyring)
    keyring = choice.keyring(clients, customer_keys=PostgresCustomerKeys(key_pool))
    audit_unavailable = KeyUnavailableAudit(Database(key_pool, AuditLedger()),
                                            interval_seconds=config.cache_limits.max_age_seconds)
    cipher = EnvelopeCipher(
        keyring=keyring, store=PostgresWrappedKeyStore(key_pool), cache=DataKeyCache(config.cache_limits),
        on_key_unavailable=audit_unavailable,
    )
    ledger = AuditLedger()
    return OwnerData(Database(pool, ledger), Records(cipher), cipher, live=lambda: AsyncDatabase(
        async_pool(config.database, source, name=f"{config.service_name}-owner-api"), ledger))
