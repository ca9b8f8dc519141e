"""What the runtime's containers are told: plain settings only (names from runtime/settings.py); secrets go through
ECS secrets. Each service's callers' identity settings are its own (owner_auth, support_auth); jobs serve no
requests and get none."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from runtime import settings
from stacks.config import BearerIdentity, EnvironmentConfig
from stacks.constructs.runtime_service import HTTP_PORT, HTTPS_PORT

RDS_CA_BUNDLE: Final = "/app/certs/rds-global-bundle.pem"  # baked into the image (runtime/Dockerfile)


@dataclass(frozen=True)
class RuntimeSettings:
    """The environment every runtime container shares; `variables(mode, user)` adds who it is."""

    environment: str
    application_key_arn: str
    database_host: str
    database_port: str  # the cluster's Endpoint.Port (a reference), so the tasks follow the cluster
    database_name: str
    hipaa: bool

    def variables(self, mode: str, db_user: str) -> dict[str, str]:
        return {
            settings.ENVIRONMENT: self.environment,
            settings.SERVICE_MODE: mode,
            settings.KMS_APPLICATION_KEY_ID: self.application_key_arn,
            settings.DATABASE_HOST: self.database_host,
            settings.DATABASE_PORT: self.database_port,
            settings.DATABASE_NAME: self.database_name,
            settings.DATABASE_USER: db_user,
            settings.DATABASE_IAM_AUTH: "true",
            settings.DATABASE_CA_BUNDLE: RDS_CA_BUNDLE,
            settings.SERVICE_HOST: "0.0.0.0",  # noqa: S104 - the task's own ENI; its security group admits the ALB only
            settings.SERVICE_PORT: str(HTTPS_PORT if self.hipaa else HTTP_PORT),
            settings.SERVICE_TLS: "true" if self.hipaa else "false",
            # HIPAA: the task makes its own certificate; the load balancer encrypts to it without verifying.
            settings.SERVICE_TLS_SELF_SIGNED: "true" if self.hipaa else "false",
        }


def owner_auth(env: EnvironmentConfig) -> dict[str, str]:
    """The users' IdP: bearer tokens always; with ALB OIDC (browser paths) also the load balancer's signed
    header (ALB_SIGNER_ARN, added once the load balancer exists)."""
    mode = settings.AUTH_MODE_ALB_OIDC_OR_BEARER_JWT if env.user_sign_in else settings.AUTH_MODE_BEARER_JWT
    return {settings.AUTH_MODE: mode, **bearer_settings(env.user_tokens)}


def support_auth(env: EnvironmentConfig) -> dict[str, str]:
    """P4: the staff IdP only, under the same variable names, and the staff role a caller must hold."""
    staff = {settings.AUTH_STAFF_CLAIM: env.support_staff_claim, settings.AUTH_STAFF_ROLE: env.support_staff_role}
    tokens = env.staff_tokens
    if tokens is None:  # sign-in at the support load balancer (ALB_SIGNER_ARN added once it exists)
        return {settings.AUTH_MODE: settings.AUTH_MODE_ALB_OIDC, **staff}
    return {settings.AUTH_MODE: settings.AUTH_MODE_BEARER_JWT, **bearer_settings(tokens), **staff}


def bearer_settings(identity: BearerIdentity) -> dict[str, str]:
    """An IdP's issuer, audience and keys: by URL (the task fetches and caches them, so they can rotate), or
    the JWKS document of a file (air-gapped installs). Never both."""
    keys = {settings.JWT_JWKS_URL: identity.jwks_url} if identity.jwks_url else {settings.JWT_JWKS: identity.jwks}
    return {settings.JWT_ISSUER: identity.issuer, settings.JWT_AUDIENCE: identity.audience, **keys}
