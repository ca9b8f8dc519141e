"""Where the audit chain key comes from: a Secrets Manager secret encrypted with the environment's
KMS key, which ECS injects into the task as PLATFORM_AUDIT_CHAIN_KEY, or which a tool (an auditor
running `audit verify` from outside the task) reads through an injected client.
"""

from collections.abc import Mapping

from runtime import settings
from runtime.audit.chain import MIN_KEY_BYTES, ChainKey
from runtime.aws_protocols import SecretsManagerClient
from runtime.errors import AuditKeyError


def _key_from_text(text: str, source: str) -> ChainKey:
    secret = text.strip().encode()
    if len(secret) < MIN_KEY_BYTES:
        raise AuditKeyError(
            f"{source} holds fewer than {MIN_KEY_BYTES} bytes; the service stack generates a 64-character secret"
        )
    return ChainKey(secret)


def chain_key_from_environment(environ: Mapping[str, str]) -> ChainKey:
    text = environ.get(settings.AUDIT_CHAIN_KEY, "")
    if not text.strip():
        raise AuditKeyError(
            f"{settings.AUDIT_CHAIN_KEY} is not set; ECS injects it from the AuditChainKey secret (P14)"
        )
    return _key_from_text(text, settings.AUDIT_CHAIN_KEY)


def chain_key_from_secrets_manager(client: SecretsManagerClient, secret_id: str) -> ChainKey:
    try:
        response = client.get_secret_value(SecretId=secret_id)
    except Exception as exc:
        code = getattr(exc, "response", {}).get("Error", {}).get("Code", type(exc).__name__)
        raise AuditKeyError(
            f"could not read the audit chain key {secret_id} ({code}); grant secretsmanager:GetSecretValue on it "
            "and kms:Decrypt on the application key"
        ) from None
    text = response.get("SecretString") if isinstance(response, dict) else None
    if not isinstance(text, str):
        raise AuditKeyError(f"the secret {secret_id} has no SecretString")
    return _key_from_text(text, f"the secret {secret_id}")
