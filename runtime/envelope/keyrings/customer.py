"""BYOK (issue 15, P6/P10): an organisation's own KMS key, in its own AWS account, wraps its data keys instead of
a key of this environment; the organisation alone can then disable or destroy it (and with it every copy).

`check_customer_key` runs before a key is registered (`python -m runtime org register-key`) and says exactly what
is missing. KMS's GetKeyPolicy is not available across accounts (its API reference: "Cross-account use: No"), so
the key's policy cannot be read: the check OBSERVES what the key does for us instead, as the registering role (the
control-plane job's), with the calls that work across accounts:
- the ARN is a key ARN (an alias ARN can be re-pointed by its account at any time: refused);
- DescribeKey: KeySpec SYMMETRIC_DEFAULT, KeyUsage ENCRYPT_DECRYPT, KeyState Enabled;
- GetKeyRotationStatus: automatic rotation on;
- a live round trip: GenerateDataKey with the organisation's encryption context, then Decrypt of that blob with
  the same context (the data key must come back, 256 bits).
Every check runs (one refusal names all that fails). A refusal by KMS (AccessDenied) is a key-policy gap: the
error carries `statement`, the key-policy statements to add, with this environment's runtime role ARNs and the
encryption-context condition the runtime always sends. The data service's role is named in the same statement;
that it works is observed on its first request (a refusal there is the typed 503 organisation-key-unavailable).
"""

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final

from runtime.envelope.keyrings.aws_kms import DENIED, error_code
from runtime.envelope.keyrings.base import PURPOSE
from runtime.envelope.keyrings.organisation import (
    CONTEXT_ORGANISATION,
    organisation_encryption_context,
    organisation_id,
)
from runtime.envelope.keys import KEY_BYTES
from runtime.errors import ConfigurationError, KmsError

KEY_ARN: Final = re.compile(r"^arn:aws[a-z-]*:kms:[a-z0-9-]+:[0-9]{12}:key/(mrk-[0-9a-f]{32}|[0-9a-f-]{36})$")
USE_ACTIONS: Final = ("kms:GenerateDataKey", "kms:Decrypt")
READ_ACTIONS: Final = ("kms:DescribeKey", "kms:GetKeyRotationStatus")
_DENIED = DENIED | {"NotFoundException"}  # across accounts, a key we may not describe is "not found"


@dataclass(frozen=True, slots=True)
class CustomerKeyProblem:
    check: str  # key-arn, key-spec, key-usage, key-state, rotation, key-policy
    detail: str  # what is wrong and how to fix it


class CustomerKeyRejectedError(ConfigurationError):
    """The organisation's own key cannot be registered: `problems` says what is missing; `statement` (when a
    key-policy gap is among them) is the key-policy statement list to add, as JSON-ready dicts."""

    def __init__(self, key_arn: str, problems: Sequence[CustomerKeyProblem],
                 statement: list[dict[str, Any]] | None) -> None:
        lines = "; ".join(f"{p.check}: {p.detail}" for p in problems)
        super().__init__(f"the key {key_arn} cannot be registered: {lines}")
        self.key_arn = key_arn
        self.problems = tuple(problems)
        self.statement = statement


@dataclass(frozen=True, slots=True)
class CustomerKey:
    organisation: str
    key_arn: str


def customer_key_policy_statements(*, environment: str, organisation: str, role_arns: Sequence[str]
                                   ) -> list[dict[str, Any]]:
    """What the organisation adds to its key's policy: this environment's runtime roles may generate and decrypt
    data keys only with this organisation's encryption context, and read the key's state and rotation (those two
    calls carry no encryption context, hence a statement of their own)."""
    if not role_arns:
        raise ConfigurationError("the customer key policy needs this environment's runtime role ARNs "
                                 "(PLATFORM_ORGANISATION_KEY_USER_ROLE_ARNS)")
    org = organisation_id(organisation)
    principal = {"AWS": sorted(role_arns)}
    return [
        {
            "Sid": f"PlatformUsesWithOrganisation{org.replace('-', '')}",
            "Effect": "Allow",
            "Principal": principal,
            "Action": list(USE_ACTIONS),
            "Resource": "*",
            "Condition": {"StringEquals": {
                f"kms:EncryptionContext:{CONTEXT_ORGANISATION}": org,
                "kms:EncryptionContext:environment": environment,
                "kms:EncryptionContext:purpose": PURPOSE,
            }},
        },
        {
            "Sid": "PlatformReadsKeyStateAndRotation",
            "Effect": "Allow",
            "Principal": principal,
            "Action": list(READ_ACTIONS),
            "Resource": "*",
        },
    ]


def check_customer_key(client: Any, key_arn: str, *, environment: str, organisation: str,
                       role_arns: Sequence[str]) -> CustomerKey:
    """The registered key, or CustomerKeyRejectedError naming every check that failed (KmsError when KMS
    itself fails: throttling, connectivity, which say nothing about the key)."""
    org = organisation_id(organisation)
    statements = customer_key_policy_statements(environment=environment, organisation=org, role_arns=role_arns)
    if not KEY_ARN.match(key_arn):
        raise CustomerKeyRejectedError(key_arn, [CustomerKeyProblem(
            "key-arn", "give the key's full ARN, arn:aws:kms:<region>:<account>:key/<key id> (not an alias: its "
            "account can point an alias at another key)")], None)
    problems: list[CustomerKeyProblem] = []
    policy_gaps: list[str] = []

    def ask(operation: str, call: Any, **kwargs: Any) -> Any:
        try:
            return call(**kwargs)
        except Exception as exc:
            code = error_code(exc)
            if code in _DENIED:
                policy_gaps.append(operation)
                return None
            if code in ("DisabledException", "KMSInvalidStateException", "KeyUnavailableException"):
                return None  # the key-state check below names it
            raise KmsError(f"KMS {operation} on {key_arn} failed ({code or type(exc).__name__}); retry, and "
                           "check connectivity to KMS", code=code) from exc

    described = ask("kms:DescribeKey", client.describe_key, KeyId=key_arn)
    meta = described["KeyMetadata"] if described else None
    if meta is not None:
        if meta.get("KeySpec", meta.get("CustomerMasterKeySpec")) != "SYMMETRIC_DEFAULT":
            problems.append(CustomerKeyProblem("key-spec", f"the key is {meta.get('KeySpec')}; register a "
                                               "symmetric encryption key (KeySpec SYMMETRIC_DEFAULT)"))
        if meta.get("KeyUsage") != "ENCRYPT_DECRYPT":
            problems.append(CustomerKeyProblem("key-usage", f"the key's usage is {meta.get('KeyUsage')}; register "
                                               "a key with KeyUsage ENCRYPT_DECRYPT"))
        if meta.get("KeyState") != "Enabled":
            problems.append(CustomerKeyProblem("key-state", f"the key is {meta.get('KeyState')}; enable it "
                                               "(aws kms enable-key, or cancel its deletion first)"))
    unusable = bool(problems)
    rotation = ask("kms:GetKeyRotationStatus", client.get_key_rotation_status, KeyId=key_arn)
    if rotation is not None and not rotation.get("KeyRotationEnabled"):
        problems.append(CustomerKeyProblem("rotation", f"automatic rotation is off; turn it on: aws kms "
                                           f"enable-key-rotation --key-id {key_arn}"))
    context = organisation_encryption_context(environment, org)
    # The round trip only on a key that can do it (an asymmetric or disabled key refuses it for its own reasons,
    # named above); on a key we could not describe, it tells whether we may use it at all.
    generated = None if unusable else ask("kms:GenerateDataKey", client.generate_data_key, KeyId=key_arn,
                                          KeySpec="AES_256", EncryptionContext=context)
    if generated is not None:
        decrypted = ask("kms:Decrypt", client.decrypt, KeyId=key_arn, CiphertextBlob=generated["CiphertextBlob"],
                        EncryptionContext=context)
        plaintext = decrypted.get("Plaintext") if decrypted else None
        if decrypted is not None and (plaintext != generated.get("Plaintext") or len(plaintext or b"") != KEY_BYTES):
            problems.append(CustomerKeyProblem("round-trip", "the key did not give back the data key it "
                                               "generated; register a symmetric encryption key"))
    if policy_gaps:
        problems.append(CustomerKeyProblem("key-policy", f"KMS refused {', '.join(policy_gaps)} to "
                                           f"{', '.join(sorted(role_arns))}; add the statements printed below to "
                                           "the key's policy (and nothing broader)"))
    if problems:
        raise CustomerKeyRejectedError(key_arn, problems, statements if policy_gaps else None)
    return CustomerKey(org, key_arn)


@dataclass(frozen=True)
class CustomerKeyChecker:
    """`check_customer_key` as one process's role sees it: the data service's (an admin's PUT
    /v1/organisation/key) or the control-plane job's (`org register-key`, `org provision-keys --pending`)."""

    client: Any
    environment: str
    role_arns: tuple[str, ...]

    def check(self, organisation: str, key_arn: str) -> CustomerKey:
        return check_customer_key(self.client, key_arn, environment=self.environment, organisation=organisation,
                                  role_arns=self.role_arns)
