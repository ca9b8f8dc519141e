"""The permission contract (runtime/permissions.py) against the runtime's source, boto3, and the CLI.

How a call the contract misses is found: an `ast` scan of every module under runtime/ for attribute access on
a boto3 client (a receiver named `*client*`: `client.get_secret_value`, `self._client.publish`, and
references passed on, like `_bind(self._client.describe_db_cluster_parameters, ...)`). Chosen over
botocore's `before-call` hooks under moto because a hook only sees the calls the tests happen to exercise,
never fires for `generate_db_auth_token` or `generate_presigned_url` (signed locally, no API call), and most
command tests inject fakes rather than boto3 clients; the scan sees every call site whether tested or not.
Its assumption, that the runtime keeps clients in names containing "client", is itself checked: every
client factory call names a service of the contract, and the scan finds the calls known to exist.
"""

from __future__ import annotations

import argparse
import ast
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3  # type: ignore[import-untyped]
import pytest

from runtime import permissions, settings
from runtime.cli import build_parser
from runtime.permissions import CONTRACT, DATABASE_CLUSTER, DATABASE_KEY, MASTER_SECRET, Use, When
from runtime.restore import RESTORE_IAM_ACTIONS

RUNTIME = Path(__file__).resolve().parents[2] / "runtime"
IAM_PREFIX = {"kms": "kms", "rds": "rds", "secretsmanager": "secretsmanager", "s3": "s3", "sesv2": "ses", "sns": "sns",
              "ec2": "ec2", "elbv2": "elasticloadbalancing", "wafv2": "wafv2", "backup": "backup",
              "cloudtrail": "cloudtrail", "guardduty": "guardduty", "securityhub": "securityhub", "ecs": "ecs"}
# Client methods whose first permission is not `<prefix>:<their API name>`, and why.
OWN_ACTION = {
    "generate_db_auth_token": "rds-db:connect",  # a token signed locally; the database checks the grant
    "generate_presigned_url": "s3:GetObject",  # signed locally for get_object
    "create_multipart_upload": "s3:PutObject",  # S3 authorises every multipart step as PutObject
    "upload_part": "s3:PutObject",
    "complete_multipart_upload": "s3:PutObject",
    "list_objects_v2": "s3:ListBucket",
    "list_object_versions": "s3:ListBucketVersions",
    "delete_objects": "s3:DeleteObject",  # one DeleteObject(Version) per key
    "head_object": "s3:GetObject",  # HEAD is authorised as GetObject
    # S3's IAM names for these reads (verify-deployed)
    "list_buckets": "s3:ListAllMyBuckets",
    "get_bucket_encryption": "s3:GetEncryptionConfiguration",
    "get_public_access_block": "s3:GetBucketPublicAccessBlock",
    "get_object_lock_configuration": "s3:GetBucketObjectLockConfiguration",
}


def _uses() -> Iterator[Use]:
    for uses in CONTRACT.values():
        yield from uses


def _is_client(node: ast.expr) -> bool:
    name = node.id if isinstance(node, ast.Name) else node.attr if isinstance(node, ast.Attribute) else ""
    return "client" in name.lower()


def _client(service: str) -> object:
    return boto3.session.Session(region_name="eu-west-1", aws_access_key_id="x", aws_secret_access_key="x") \
        .client(service)


def _client_methods() -> set[str]:
    """Every public method of a boto3 client of the services the runtime builds clients for."""
    services = _factory_services() | {use.service for use in _uses()}
    return {name for service in services for name in dir(_client(service))
            if not name.startswith("_") and name not in ("meta", "exceptions", "waiter_names")}


def _client_calls() -> dict[str, list[str]]:
    """method -> where (path:line): every boto3 client method named on a client-named receiver under runtime/
    (`client.x`, `self._client.x`; a receiver like `self._clients.get`, a dict of clients, is not a client)."""
    methods = _client_methods()
    found: dict[str, list[str]] = {}
    for path in sorted(RUNTIME.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Attribute) and _is_client(node.value) and node.attr in methods:
                found.setdefault(node.attr, []).append(f"{path.relative_to(RUNTIME.parent)}:{node.lineno}")
    return found


def _factory_services() -> set[str]:
    """Services named as a string literal in a call of a client factory (`clients("kms")`, `partial(f, "s3")`)."""
    known = set(boto3.session.Session().get_available_services())
    services: set[str] = set()
    for path in RUNTIME.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call) and (_is_client(node.func) or any(
                    isinstance(a, ast.expr) and _is_client(a) for a in node.args[:1])):
                services |= {str(a.value) for a in node.args if isinstance(a, ast.Constant) and a.value in known}
    return services


def test_contract_client_call_in_runtime_not_declared_fails() -> None:
    declared = {use.method for use in _uses()}
    missing = {method: where for method, where in _client_calls().items() if method not in declared}
    assert not missing, f"AWS calls the permission contract (runtime/permissions.py) does not declare: {missing}"


def test_contract_declared_call_runtime_no_longer_makes_fails() -> None:
    stale = {use.method for use in _uses()} - set(_client_calls())
    assert not stale, f"runtime/permissions.py declares calls the runtime does not make: {sorted(stale)}"


def test_scanner_known_call_sites_found() -> None:
    calls = _client_calls()
    assert any("envelope/keyrings/aws_kms.py" in where for where in calls["generate_data_key"])
    assert any("restore/rds.py" in where for where in calls["describe_db_cluster_parameters"])  # passed on


def test_contract_client_factories_services_all_declared() -> None:
    assert _factory_services() == {use.service for use in _uses()}


def _by_call(use: Use) -> tuple[str, str]:
    return use.service, use.method


DISTINCT_USES: list[Use] = sorted(set(_uses()), key=_by_call)


@pytest.mark.parametrize("use", DISTINCT_USES, ids=lambda u: f"{u.service}.{u.method}")
def test_contract_call_own_action_matches_boto3(use: Use) -> None:
    client: Any = _client(use.service)
    assert hasattr(client, use.method), f"{use.service} clients have no {use.method}"
    api = client.meta.method_to_api_mapping.get(use.method)
    expected = OWN_ACTION.get(use.method) or f"{IAM_PREFIX[use.service]}:{api}"
    assert use.permissions[0].action == expected


def test_contract_restore_actions_outside_restore_iam_actions_fail() -> None:
    granted = {action for group in RESTORE_IAM_ACTIONS.values() for action in group}
    restore = {p.action for c in ("restore plan", "restore apply", "restore drill") for u in CONTRACT[c]
               for p in u.permissions if p.resource in (DATABASE_CLUSTER, DATABASE_KEY)}
    assert restore - granted == set()


def _leaf_commands(parser: argparse.ArgumentParser, prefix: str = "") -> Iterator[str]:
    subparsers = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    if prefix and parser.get_default("handler") is not None:
        yield prefix
    for action in subparsers:
        for name, child in action.choices.items():
            yield from _leaf_commands(child, f"{prefix} {name}".strip())


def test_contract_every_cli_command_declared_once() -> None:
    commands = {c for c in _leaf_commands(build_parser()) if c != "serve"} | {"serve owner", "serve support"}
    assert commands == set(CONTRACT)


def test_needs_iam_auth_off_password_secret_instead() -> None:
    actions = [p.action for p in permissions.needs("serve support", {
        settings.DATABASE_IAM_AUTH: "false", settings.DATABASE_PASSWORD_SECRET_ID: "db-password"})]
    assert actions == ["secretsmanager:GetSecretValue", "kms:Decrypt"]


def test_needs_computed_value_assumed_set() -> None:
    owner = {p.action for p in permissions.needs("serve owner", {settings.KMS_APPLICATION_KEY_ID: None})}
    assert {"kms:GenerateDataKey", "kms:Decrypt"} <= owner


def test_needs_unset_setting_not_needed() -> None:
    actions = {p.action for p in permissions.needs("breach declare", {settings.DATABASE_IAM_AUTH: "true"})}
    assert actions == {"rds-db:connect"}  # no key, no sender, no topic: local keyring, nothing sent


def test_needs_option_only_never_required() -> None:
    assert not When(option="--key-secret-id").holds({})
    assert [p.action for p in permissions.needs("audit verify", {})] == []


def test_may_read_master_secret_setup_only() -> None:
    assert {c for c in CONTRACT if permissions.may_read_master_secret(c)} == {"db setup"}
    assert all(p.resource != MASTER_SECRET or c == "db setup"
               for c in CONTRACT for u in CONTRACT[c] for p in u.permissions)


def test_breach_drill_needs_the_drill_users_not_the_master_secret() -> None:
    needed = set(permissions.needs("breach drill", {settings.DATABASE_IAM_AUTH: "true"}))
    assert needed == {permissions.Permission("rds-db:connect", permissions.DATABASE_USER),
                      permissions.Permission("rds-db:connect", permissions.DRILL_ROLES)}


def test_declaration_unknown_command_raises() -> None:
    with pytest.raises(ValueError, match="export all"):
        permissions.declaration("export", "export all")


def test_parse_declaration_spaces_and_blanks_normalised() -> None:
    assert permissions.parse_declaration(" export ,export   verify,, ") == ("export", "export verify")


def test_command_of_serve_named_by_service_mode() -> None:
    args = build_parser().parse_args(["serve"])
    assert permissions.command_of(args, {settings.SERVICE_MODE: "support"}) == "serve support"
    assert permissions.command_of(args, {}) == "serve owner"


def test_command_of_sub_command_named_with_group() -> None:
    assert permissions.command_of(build_parser().parse_args(["export", "verify", "x"]), {}) == "export verify"
    assert permissions.command_of(build_parser().parse_args(["export", "--org", "7" * 8 + "-7777-4777-8777-"
                                                              + "7" * 12, "--format", "csv"]), {}) == "export"


def test_undeclared_command_not_in_declaration_refused() -> None:
    args = build_parser().parse_args(["db", "setup"])
    refused = permissions.undeclared_command(args, {settings.TASK_COMMANDS: "serve owner"})
    assert refused is not None and "`db setup`" in refused


def test_undeclared_command_declared_or_no_declaration_runs() -> None:
    args = build_parser().parse_args(["db", "setup"])
    assert permissions.undeclared_command(args, {settings.TASK_COMMANDS: "db setup"}) is None
    assert permissions.undeclared_command(args, {}) is None


def test_main_undeclared_command_exits_before_running() -> None:
    env = {**os.environ, settings.TASK_COMMANDS: "export verify", settings.SERVICE_MODE: "owner"}
    done = subprocess.run([sys.executable, "-m", "runtime", "serve", "--check"], env=env, capture_output=True,
                          text=True, cwd=RUNTIME.parent, timeout=60, check=False)
    assert done.returncode == 1
    assert "not `serve owner`" in done.stderr


def test_permissions_module_loads_no_boto3_or_cdk() -> None:
    code = "import sys, runtime.permissions; print(' '.join(sys.modules))"
    loaded = {m.split(".")[0] for m in subprocess.run([sys.executable, "-c", code], check=True, capture_output=True,
                                                      text=True, cwd=RUNTIME.parent).stdout.split()}
    assert not loaded & {"boto3", "botocore", "aws_cdk", "constructs", "psycopg"}
