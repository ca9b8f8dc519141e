"""The resolver on small template snippets: every supported intrinsic, and the errors it names."""

from __future__ import annotations

from typing import Any

import pytest

from e2e.resolve import Physical, Resolver, UnresolvedError

KEYS: dict[str, Any] = {
    "Resources": {"Key": {"Type": "AWS::KMS::Key"}, "Bucket": {"Type": "AWS::S3::Bucket"}},
    "Outputs": {
        "KeyArn": {"Value": {"Fn::GetAtt": ["Key", "Arn"]}, "Export": {"Name": "keys:KeyArn"}},
        "Plain": {"Value": "a,b,c"},
    },
}
SERVICE: dict[str, Any] = {
    "Parameters": {"Size": {"Type": "String", "Default": "3"}},
    "Conditions": {
        "IsDev": {"Fn::Equals": ["dev", "dev"]},
        "NotDev": {"Fn::Not": [{"Condition": "IsDev"}]},
        "Both": {"Fn::And": [{"Condition": "IsDev"}, {"Fn::Or": [{"Condition": "NotDev"}, True]}]},
    },
    "Resources": {"Role": {"Type": "AWS::IAM::Role"}},
}


@pytest.fixture
def resolver() -> Resolver:
    physical = {
        ("keys", "Key"): Physical("key-1", {"Arn": "arn:aws:kms:eu-west-1:111111111111:key/key-1"}),
        ("keys", "Bucket"): Physical("bucket-1", {"Arn": "arn:aws:s3:::bucket-1"}),
        ("service", "Role"): Physical("role-1", {"Arn": "arn:aws:iam::111111111111:role/role-1"}),
    }
    return Resolver({"keys": KEYS, "service": SERVICE}, "111111111111", "eu-west-1", physical)


def test_resolve_ref_to_resource_gives_physical_id(resolver: Resolver) -> None:
    assert resolver.resolve("keys", {"Ref": "Key"}) == "key-1"


@pytest.mark.parametrize(("name", "value"), [
    ("AWS::Region", "eu-west-1"), ("AWS::AccountId", "111111111111"), ("AWS::Partition", "aws"),
    ("AWS::URLSuffix", "amazonaws.com"), ("AWS::StackName", "keys"),
])
def test_resolve_ref_to_pseudo_parameter_gives_its_value(resolver: Resolver, name: str, value: str) -> None:
    assert resolver.resolve("keys", {"Ref": name}) == value


def test_resolve_ref_to_parameter_gives_default(resolver: Resolver) -> None:
    assert resolver.resolve("service", {"Ref": "Size"}) == "3"


def test_resolve_novalue_drops_property_and_item(resolver: Resolver) -> None:
    value = {"A": {"Ref": "AWS::NoValue"}, "B": ["x", {"Ref": "AWS::NoValue"}]}
    assert resolver.resolve("keys", value) == {"B": ["x"]}


def test_resolve_getatt_list_and_dotted_forms_agree(resolver: Resolver) -> None:
    arn = "arn:aws:kms:eu-west-1:111111111111:key/key-1"
    assert resolver.resolve("keys", {"Fn::GetAtt": ["Key", "Arn"]}) == arn
    assert resolver.resolve("keys", {"Fn::GetAtt": "Key.Arn"}) == arn


def test_resolve_join_concatenates_resolved_parts(resolver: Resolver) -> None:
    value = {"Fn::Join": ["", ["arn:", {"Ref": "AWS::Partition"}, ":s3:::", {"Ref": "Bucket"}, "/*"]]}
    assert resolver.resolve("keys", value) == "arn:aws:s3:::bucket-1/*"


def test_resolve_sub_string_form_replaces_refs_attributes_and_escapes(resolver: Resolver) -> None:
    value = {"Fn::Sub": "${AWS::AccountId}.dkr.ecr.${AWS::Region}.${AWS::URLSuffix}/${Key}:${Key.Arn}:${!Literal}"}
    assert resolver.resolve("keys", value) == (
        "111111111111.dkr.ecr.eu-west-1.amazonaws.com/key-1:arn:aws:kms:eu-west-1:111111111111:key/key-1:${Literal}"
    )


def test_resolve_sub_list_form_uses_variables_first(resolver: Resolver) -> None:
    value = {"Fn::Sub": ["${Name}-${Key}", {"Name": {"Ref": "Bucket"}}]}
    assert resolver.resolve("keys", value) == "bucket-1-key-1"


def test_resolve_select_of_split_picks_item(resolver: Resolver) -> None:
    value = {"Fn::Select": [1, {"Fn::Split": [",", {"Fn::GetStackOutput": {
        "StackName": "keys", "OutputName": "Plain", "Region": "eu-west-1"}}]}]}
    assert resolver.resolve("service", value) == "b"


def test_resolve_importvalue_reads_exporting_stacks_output(resolver: Resolver) -> None:
    assert resolver.resolve("service", {"Fn::ImportValue": "keys:KeyArn"}) == (
        "arn:aws:kms:eu-west-1:111111111111:key/key-1"
    )


def test_resolve_getstackoutput_reads_other_stacks_output(resolver: Resolver) -> None:
    value = {"Fn::GetStackOutput": {"StackName": "keys", "OutputName": "KeyArn", "Region": "eu-west-1"}}
    assert resolver.resolve("service", value) == "arn:aws:kms:eu-west-1:111111111111:key/key-1"


def test_resolve_if_follows_conditions(resolver: Resolver) -> None:
    assert resolver.resolve("service", {"Fn::If": ["IsDev", "yes", "no"]}) == "yes"
    assert resolver.resolve("service", {"Fn::If": ["NotDev", "yes", "no"]}) == "no"
    assert resolver.resolve("service", {"Fn::If": ["Both", "yes", "no"]}) == "yes"


def test_resolve_unknown_resource_names_stack_resource_and_path(resolver: Resolver) -> None:
    pattern = r"stack service, resource Task, at Resources\.Task\.Properties\.Env.*Nope"
    with pytest.raises(UnresolvedError, match=pattern):
        resolver.resolve("service", {"Ref": "Nope"}, "Resources.Task.Properties.Env")


def test_resolve_missing_attribute_names_what_stand_in_has(resolver: Resolver) -> None:
    with pytest.raises(UnresolvedError, match=r"no attribute KeyId.*it has: Arn"):
        resolver.resolve("keys", {"Fn::GetAtt": ["Key", "KeyId"]})


def test_resolve_missing_export_is_an_error(resolver: Resolver) -> None:
    with pytest.raises(UnresolvedError, match="exports 'nobody:exports-this'"):
        resolver.resolve("service", {"Fn::ImportValue": "nobody:exports-this"})


def test_resolve_unsupported_intrinsic_is_an_error(resolver: Resolver) -> None:
    with pytest.raises(UnresolvedError, match="does not resolve Fn::Cidr"):
        resolver.resolve("keys", {"Fn::Cidr": ["10.0.0.0/16", 2, 8]})


def test_resolve_imported_literal_is_rewritten_to_its_stand_in(resolver: Resolver) -> None:
    imported = "arn:aws:kms:eu-west-1:111111111111:key/11111111-2222-3333-4444-555555555555"
    resolver.literals[imported] = "arn:aws:kms:eu-west-1:111111111111:key/stand-in"
    assert resolver.resolve("adp-dev-service", imported) == "arn:aws:kms:eu-west-1:111111111111:key/stand-in"
    joined = resolver.resolve("adp-dev-service", {"Fn::Join": ["", [imported, "/*"]]})
    assert joined == "arn:aws:kms:eu-west-1:111111111111:key/stand-in/*"
    assert resolver.resolve("adp-dev-service", {"Statement": [{"Resource": imported}]}) == {
        "Statement": [{"Resource": "arn:aws:kms:eu-west-1:111111111111:key/stand-in"}]}
