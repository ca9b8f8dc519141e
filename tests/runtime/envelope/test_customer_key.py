"""BYOK registration checks (issue 15): a customer's own KMS key is refused with every missing property named
(spec, usage, state, rotation, key policy, ARN form), a key-policy gap comes with the exact statements to add,
and a good key passes. moto serves the states it keeps; botocore's Stubber the refusals it cannot (moto does not
enforce key policies) and impossible combinations."""

import uuid
from typing import Any

import pytest
from botocore.stub import Stubber

from runtime.envelope.keyrings.customer import (
    CustomerKeyRejectedError,
    check_customer_key,
    customer_key_policy_statements,
)

ENV = "qa"
ROLES = ("arn:aws:iam::111111111111:role/platform-qa-data", "arn:aws:iam::111111111111:role/platform-qa-lifecycle")


def _check(client: Any, arn: str, org: str | None = None) -> Any:
    return check_customer_key(client, arn, environment=ENV, organisation=org or str(uuid.uuid4()), role_arns=ROLES)


def _refused(client: Any, arn: str) -> CustomerKeyRejectedError:
    with pytest.raises(CustomerKeyRejectedError) as caught:
        _check(client, arn)
    return caught.value


def _key(kms_client: Any, *, rotation: bool = True, **kwargs: Any) -> str:
    kwargs.setdefault("KeyUsage", "ENCRYPT_DECRYPT")
    arn = str(kms_client.create_key(Description="the customer's key", **kwargs)["KeyMetadata"]["Arn"])
    if rotation:
        kms_client.enable_key_rotation(KeyId=arn)
    return arn


def test_customer_key_symmetric_enabled_rotating_usable_is_registered(kms_client: Any) -> None:
    arn, org = _key(kms_client), str(uuid.uuid4())
    key = _check(kms_client, arn, org)
    assert key.key_arn == arn and key.organisation == org


def test_customer_key_rotation_off_refused_with_the_command_to_turn_it_on(kms_client: Any) -> None:
    arn = _key(kms_client, rotation=False)
    error = _refused(kms_client, arn)
    assert [p.check for p in error.problems] == ["rotation"]
    assert f"enable-key-rotation --key-id {arn}" in str(error) and error.statement is None


def test_customer_key_disabled_refused_as_not_enabled(kms_client: Any) -> None:
    arn = _key(kms_client)
    kms_client.disable_key(KeyId=arn.rsplit("/", 1)[1])  # moto: by key id only
    error = _refused(kms_client, arn)
    assert [p.check for p in error.problems] == ["key-state"] and "Disabled" in str(error)


def test_customer_key_asymmetric_refused_for_spec_and_usage(kms_client: Any) -> None:
    arn = _key(kms_client, rotation=False, KeySpec="RSA_2048", KeyUsage="SIGN_VERIFY")
    error = _refused(kms_client, arn)
    checks = [p.check for p in error.problems]
    assert checks[:2] == ["key-spec", "key-usage"] and "SYMMETRIC_DEFAULT" in str(error)


def _described(arn: str, **meta: Any) -> dict[str, Any]:
    return {"KeyMetadata": {"KeyId": arn.rsplit("/", 1)[1], "Arn": arn, "KeySpec": "SYMMETRIC_DEFAULT",
                            "KeyUsage": "ENCRYPT_DECRYPT", "KeyState": "Enabled", **meta}}


def test_customer_key_usage_alone_wrong_is_named(kms_client: Any) -> None:
    arn = f"arn:aws:kms:eu-west-1:222222222222:key/{uuid.uuid4()}"
    with Stubber(kms_client) as stub:
        stub.add_response("describe_key", _described(arn, KeyUsage="GENERATE_VERIFY_MAC"), {"KeyId": arn})
        stub.add_response("get_key_rotation_status", {"KeyRotationEnabled": True}, {"KeyId": arn})
        error = _refused(kms_client, arn)
    assert [p.check for p in error.problems] == ["key-usage"] and "ENCRYPT_DECRYPT" in str(error)


def test_customer_key_policy_gap_refused_with_the_statements_to_add(kms_client: Any) -> None:
    arn, org = f"arn:aws:kms:eu-west-1:222222222222:key/{uuid.uuid4()}", str(uuid.uuid4())
    with Stubber(kms_client) as stub:
        stub.add_response("describe_key", _described(arn), {"KeyId": arn})
        stub.add_response("get_key_rotation_status", {"KeyRotationEnabled": True}, {"KeyId": arn})
        stub.add_client_error("generate_data_key", "AccessDeniedException", "not authorized")
        with pytest.raises(CustomerKeyRejectedError) as caught:
            _check(kms_client, arn, org)
    error = caught.value
    assert [p.check for p in error.problems] == ["key-policy"] and "kms:GenerateDataKey" in str(error)
    assert error.statement is not None
    use, read = error.statement
    assert use["Principal"] == {"AWS": sorted(ROLES)} and use["Action"] == ["kms:GenerateDataKey", "kms:Decrypt"]
    assert use["Condition"]["StringEquals"] == {"kms:EncryptionContext:organisation": org,
                                                 "kms:EncryptionContext:environment": ENV,
                                                 "kms:EncryptionContext:purpose": "field-envelope-data-key"}
    assert read["Action"] == ["kms:DescribeKey", "kms:GetKeyRotationStatus"] and "Condition" not in read


def test_customer_key_not_describable_across_accounts_is_a_policy_gap(kms_client: Any) -> None:
    arn = f"arn:aws:kms:eu-west-1:222222222222:key/{uuid.uuid4()}"
    with Stubber(kms_client) as stub:
        stub.add_client_error("describe_key", "NotFoundException", "not found")  # what a foreign key says
        stub.add_client_error("get_key_rotation_status", "AccessDeniedException", "not authorized")
        stub.add_client_error("generate_data_key", "AccessDeniedException", "not authorized")
        error = _refused(kms_client, arn)
    assert [p.check for p in error.problems] == ["key-policy"] and error.statement is not None
    assert "kms:DescribeKey, kms:GetKeyRotationStatus, kms:GenerateDataKey" in str(error)


@pytest.mark.parametrize("arn", ["alias/theirs", "arn:aws:kms:eu-west-1:222222222222:alias/theirs", "key/1", ""])
def test_customer_key_not_a_key_arn_refused_before_any_call(arn: str) -> None:
    error = _refused(object(), arn)  # no client method is called
    assert [p.check for p in error.problems] == ["key-arn"]


def test_customer_key_policy_statements_need_the_role_arns() -> None:
    with pytest.raises(Exception, match="role ARNs"):
        customer_key_policy_statements(environment=ENV, organisation=str(uuid.uuid4()), role_arns=())
