"""The audit trail's signer, public key, checkpoint bucket and cadence, from the task's settings (P14).

- signer: the KMS key PLATFORM_AUDIT_SIGNING_KEY_ID (kms:Sign; the sequencer's task role alone may), or in local
  runs and tests an EC P-256 PEM file (PLATFORM_LOCAL_AUDIT_SIGNING_KEY_FILE); exactly one, as for receipts.
- public key: kms:GetPublicKey of the same key (or the local file's public half): what verification trusts.
- bucket: PLATFORM_AUDIT_CHECKPOINT_BUCKET, the Object Lock bucket (stacks/audit.py).
Each reader fails with a ConfigurationError that names the variable to set.
"""

import os
from collections.abc import Mapping
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric import ec

from runtime import bounds, settings
from runtime.audit.published import Cadence
from runtime.checkpoint_bucket import CheckpointBucket
from runtime.environment import integer, required, text
from runtime.errors import ConfigurationError
from runtime.signing import (
    LOCAL_SIGNER_ENVIRONMENTS,
    KmsReceiptSigner,
    LocalReceiptSigner,
    fetch_public_key,
)
from runtime.wiring.clients import ClientFactory, aws_client

Signer = KmsReceiptSigner | LocalReceiptSigner


def environment_name(environ: Mapping[str, str]) -> str:
    return required(environ, settings.ENVIRONMENT, "the environment's name (the stacks set it)")


def _local(environ: Mapping[str, str], environment: str) -> LocalReceiptSigner | None:
    path = text(environ, settings.LOCAL_AUDIT_SIGNING_KEY_FILE)
    if not path:
        return None
    if environment not in LOCAL_SIGNER_ENVIRONMENTS:
        raise ConfigurationError(f"{settings.LOCAL_AUDIT_SIGNING_KEY_FILE} is for local runs and tests only; "
                                 f"environment {environment!r} signs with {settings.AUDIT_SIGNING_KEY_ID}")
    try:
        return LocalReceiptSigner.from_pem(Path(path).read_bytes())
    except OSError:
        raise ConfigurationError(f"{settings.LOCAL_AUDIT_SIGNING_KEY_FILE}: cannot read {path}") from None


def checkpoint_signer(environ: Mapping[str, str] = os.environ, clients: ClientFactory = aws_client) -> Signer:
    environment = environment_name(environ)
    key_id, local = text(environ, settings.AUDIT_SIGNING_KEY_ID), _local(environ, environment)
    if bool(key_id) == (local is not None):
        raise ConfigurationError(f"set exactly one of {settings.AUDIT_SIGNING_KEY_ID} (the KMS key the audit "
                                 f"checkpoints are signed with) and {settings.LOCAL_AUDIT_SIGNING_KEY_FILE} (local "
                                 "runs and tests)")
    return local if local is not None else KmsReceiptSigner(clients("kms"), key_id)


def checkpoint_public_key(environ: Mapping[str, str] = os.environ,
                          clients: ClientFactory = aws_client) -> ec.EllipticCurvePublicKey:
    """The public key checkpoints must verify with (never a key a checkpoint names itself)."""
    key_id = text(environ, settings.AUDIT_SIGNING_KEY_ID)
    if key_id:
        return fetch_public_key(clients("kms"), key_id).key
    local = _local(environ, environment_name(environ))
    if local is None:
        raise ConfigurationError(f"set {settings.AUDIT_SIGNING_KEY_ID} (the KMS key of the audit checkpoints): "
                                 "its public key is what verification trusts")
    return local.public_key().key


def checkpoint_bucket(environ: Mapping[str, str] = os.environ, clients: ClientFactory = aws_client,
                      ) -> CheckpointBucket | None:
    """The Object Lock bucket; None (the database's copy only) in local runs and tests that name none."""
    if not text(environ, settings.AUDIT_CHECKPOINT_BUCKET) and environment_name(environ) in LOCAL_SIGNER_ENVIRONMENTS:
        return None
    name = required(environ, settings.AUDIT_CHECKPOINT_BUCKET, "the audit checkpoint bucket (the stacks set it)")
    return CheckpointBucket(clients("s3"), name)


def cadence(environ: Mapping[str, str] = os.environ) -> Cadence:
    every, seconds = bounds.AUDIT_CHECKPOINT_EVERY, bounds.AUDIT_CHECKPOINT_SECONDS
    return Cadence(
        integer(environ, settings.AUDIT_CHECKPOINT_EVERY, settings.DEFAULT_AUDIT_CHECKPOINT_EVERY,
                every.minimum, every.maximum),
        integer(environ, settings.AUDIT_CHECKPOINT_SECONDS, settings.DEFAULT_AUDIT_CHECKPOINT_SECONDS,
                seconds.minimum, seconds.maximum),
    )
