"""P6, P1: the environment's KMS keys (its purpose keys and every organisation's key) exist, are enabled, rotate
(symmetric keys; KMS cannot rotate the asymmetric receipt-signing key), and their key policies admit only this
environment: the account's root (IAM policies decide, as the stacks write them) and roles or users named with the
environment's prefix (`<app>-<env>-`: its stacks' names lead every role CloudFormation names), nobody of another
account or another environment of this one (AWS service principals aside, which the stacks scope by condition)."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from runtime import contract
from runtime.verify_deployed.context import Context, check, reading
from runtime.verify_deployed.result import Checker, Result

SYMMETRIC = "SYMMETRIC_DEFAULT"


@dataclass(frozen=True)
class Key:
    alias: str
    key_id: str
    metadata: dict[str, Any]


def _prefixes(ctx: Context) -> tuple[str, ...]:
    # The organisations' keys: runtime/envelope/keyrings/organisation.py organisation_key_alias.
    return (contract.environment_key_alias_prefix(ctx.app, ctx.environment),
            f"alias/{contract.environment_name_prefix(ctx.app, ctx.environment)}-org-")


def environment_keys(ctx: Context) -> list[Key]:
    def read() -> list[Key]:
        client = ctx.clients("kms")
        aliases: list[dict[str, Any]] = []
        with reading("kms", "ListAliases"):
            marker: dict[str, str] = {}
            while True:
                page = client.list_aliases(**marker)
                aliases += page.get("Aliases", [])
                if not page.get("Truncated"):
                    break
                marker = {"Marker": page["NextMarker"]}
        keys = []
        for alias in aliases:
            if alias["AliasName"].startswith(_prefixes(ctx)) and alias.get("TargetKeyId"):
                with reading("kms", "DescribeKey"):
                    metadata = client.describe_key(KeyId=alias["TargetKeyId"])["KeyMetadata"]
                keys.append(Key(alias["AliasName"], str(metadata["KeyId"]), metadata))
        return keys
    found: list[Key] = ctx.once("keys", read)
    return found


def _ids(keys: list[Key]) -> list[str]:
    return [k.metadata.get("Arn", k.key_id) for k in keys]


@check("keys", "present", ("P6",))
def present(ctx: Context, result: Checker) -> list[Result]:
    keys = environment_keys(ctx)
    wanted = {str(p["AliasName"]) for _, _, p in ctx.expected.resources("AWS::KMS::Alias")
              if isinstance(p.get("AliasName"), str)}
    missing = sorted(wanted - {k.alias for k in keys})
    return [result.verdict(not missing, f"{len(wanted)} key alias(es) of the templates; "
                           + (f"missing: {', '.join(missing)}" if missing else "all present"), _ids(keys))]


def _usable(key: Key) -> bool:
    return bool(key.metadata.get("Enabled")) and key.metadata.get("KeyState") == "Enabled"


@check("keys", "enabled", ("P6",))
def enabled(ctx: Context, result: Checker) -> list[Result]:
    keys = environment_keys(ctx)
    # An erased organisation's key is pending deletion on purpose (P10, crypto-shredding); every other key is usable.
    bad = [f"{k.alias} ({k.metadata.get('KeyState')})" for k in keys
           if not _usable(k) and not (k.alias.startswith(_prefixes(ctx)[1])
                                      and k.metadata.get("KeyState") == "PendingDeletion")]
    return [result.verdict(bool(keys) and not bad, f"{len(keys)} key(s); " + (
        f"not enabled: {', '.join(bad)}" if bad else "every key enabled (or an erased organisation's, pending "
        "deletion)" if keys else "no key found"), _ids(keys))]


@check("keys", "rotation", ("P6",))
def rotation(ctx: Context, result: Checker) -> list[Result]:
    keys = [k for k in environment_keys(ctx) if k.metadata.get("KeyState") == "Enabled"]
    symmetric = [k for k in keys if k.metadata.get("KeySpec", SYMMETRIC) == SYMMETRIC]
    client = ctx.clients("kms")
    off = []
    for key in symmetric:
        with reading("kms", "GetKeyRotationStatus"):
            if not client.get_key_rotation_status(KeyId=key.key_id).get("KeyRotationEnabled"):
                off.append(key.alias)
    asymmetric = len(keys) - len(symmetric)
    return [result.verdict(bool(symmetric) and not off, f"{len(symmetric)} symmetric key(s); "
                           + (f"rotation off: {', '.join(off)}" if off else "rotation on for every one")
                           + (f"; {asymmetric} asymmetric (KMS cannot rotate them)" if asymmetric else ""),
                           _ids(keys))]


_IAM_PRINCIPAL = re.compile(r"arn:aws[\w-]*:(?:iam|sts)::(\d{12}):(root|role|user|assumed-role)(?:/(.*))?")


def _of_this_environment(arn: str, account: str, prefix: str) -> bool:
    """The account itself, or a role or user of it whose name starts with the environment's prefix."""
    if arn == account:
        return True
    match = _IAM_PRINCIPAL.fullmatch(arn)
    if match is None or match.group(1) != account:
        return False
    kind, path = match.group(2), match.group(3) or ""
    if kind == "root":
        return True
    # role/[path/]name, user/[path/]name; assumed-role/name/session
    name = path.split("/")[0] if kind == "assumed-role" else path.rsplit("/", 1)[-1]
    return name.startswith(prefix)


def foreign_principals(policy: dict[str, Any], account: str, prefix: str) -> list[str]:
    """AWS principals an Allow statement admits that are not of this environment ("*" without an account
    condition, another account, or a role or user of this account named for something else)."""
    statements = policy.get("Statement", [])
    foreign = []
    for statement in statements if isinstance(statements, list) else [statements]:
        if statement.get("Effect") != "Allow":
            continue
        principal = statement.get("Principal", {})
        named = [principal] if principal == "*" else principal.get("AWS", []) if isinstance(principal, dict) else []
        conditions = json.dumps(statement.get("Condition", {}))
        for arn in [named] if isinstance(named, str) else named:
            if arn == "*" and account in conditions:
                continue  # anyone, but only of this account (aws:PrincipalAccount / kms:CallerAccount)
            if not _of_this_environment(str(arn), account, prefix):
                foreign.append(str(arn))
    return foreign


@check("keys", "policy-this-account", ("P1", "P6"))
def policy_this_account(ctx: Context, result: Checker) -> list[Result]:
    keys = environment_keys(ctx)
    client = ctx.clients("kms")
    prefix = f"{contract.environment_name_prefix(ctx.app, ctx.environment)}-"
    bad = []
    for key in keys:
        with reading("kms", "GetKeyPolicy"):
            policy = json.loads(client.get_key_policy(KeyId=key.key_id, PolicyName="default")["Policy"])
        foreign = foreign_principals(policy, ctx.expected.account, prefix)
        if foreign:
            bad.append(f"{key.alias} admits {', '.join(foreign)}")
    admitted = f"each admits only account {ctx.expected.account}'s root and its {prefix}* roles"
    return [result.verdict(not bad, f"{len(keys)} key polic(ies); " + ("; ".join(bad) if bad else admitted),
                           _ids(keys))]


CHECKS = (present, enabled, rotation, policy_this_account)
