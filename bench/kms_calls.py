"""KMS calls while encrypting 1,000,000 records spread over 1,000 owners, default cache settings.

KMS is moto (in-process, no network). The client is wrapped so calls are counted at the client,
independently of the keyring's own counter; the two must agree.
"""

import os
import random
import time
from typing import Any

from runtime.envelope import (
    AwsKmsKeyring,
    EnvelopeCipher,
    InMemoryWrappedKeyStore,
    KmsOrganisationKeyring,
    KmsOrganisationKeys,
)

RECORDS = 1_000_000
OWNERS = 1_000
VALUE_BYTES = 1024


class CountingKmsClient:
    def __init__(self, client: Any) -> None:
        self._client = client
        self.calls = 0

    def generate_data_key(self, **kwargs: Any) -> Any:
        self.calls += 1
        return self._client.generate_data_key(**kwargs)

    def decrypt(self, **kwargs: Any) -> Any:
        self.calls += 1
        return self._client.decrypt(**kwargs)


def kms_calls_per_million(records: int = RECORDS, owners: int = OWNERS, *,
                          per_organisation: bool = True) -> dict[str, float]:
    """Per organisation (the default keyring mode): each owner's own key, provisioned first (its median time is
    `org_registration_ms`, with moto as the KMS stand-in); shared: the environment's one key."""
    import statistics
    import uuid

    import boto3
    from moto import mock_aws

    figures: dict[str, float] = {}
    with mock_aws():
        kms = boto3.client("kms", region_name="eu-west-1")
        counted = CountingKmsClient(kms)
        keyring: AwsKmsKeyring | KmsOrganisationKeyring
        if per_organisation:
            owner_ids = [str(uuid.UUID(int=i + 1)) for i in range(owners)]
            admin = KmsOrganisationKeys(client=kms, app="bench", environment="bench", account="123456789012",
                                        user_role_arns=["arn:aws:iam::123456789012:role/bench-data"],
                                        admin_role_arn="arn:aws:iam::123456789012:role/bench-jobs")
            took = []
            for owner in owner_ids:
                began = time.perf_counter()
                admin.provision(owner)
                took.append((time.perf_counter() - began) * 1000)
            figures["org_registration_ms"] = statistics.median(took)
            keyring = KmsOrganisationKeyring(client=counted, app="bench", environment="bench")
        else:
            owner_ids = [f"org-{i:04d}" for i in range(owners)]
            key_arn = kms.create_key(Description="bench application key")["KeyMetadata"]["Arn"]
            keyring = AwsKmsKeyring(client=counted, key_id=key_arn, environment="bench")
        cipher = EnvelopeCipher(keyring=keyring, store=InMemoryWrappedKeyStore())

        rng = random.Random(1234)
        # Records arrive in random owner order; row ids are their sequence numbers.
        sequence = rng.choices(owner_ids, k=records)
        value = os.urandom(VALUE_BYTES)
        encrypt = cipher.encrypt
        start = time.perf_counter()
        for row, owner in enumerate(sequence):
            encrypt(value, owner=owner, table="model_calls", column="input", row_id=str(row))
        seconds = time.perf_counter() - start

    if counted.calls != keyring.calls:
        raise RuntimeError(f"KMS call counts disagree: client {counted.calls}, keyring {keyring.calls}")
    return {
        **figures,
        "kms_calls_per_million": counted.calls * 1_000_000 / records,
        "kms_bench_encrypt_per_s": records / seconds,
    }
