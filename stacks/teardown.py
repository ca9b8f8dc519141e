"""Tear down one `dev` or `qa` environment: `python -m stacks.teardown --env dev [--yes]`.

Outside prod every store already has `DeletionPolicy: Delete` (stacks/constructs/platform_stack.py
`retain_in_production`; the database cluster takes no final snapshot). What still stops `cdk destroy`
is kept on purpose, because the policy packs require it in every environment: deletion protection on
the database cluster and the load balancers, and versioned buckets and backup vaults that are not empty.
This command removes exactly those, for the environment's own resources (found through its
CloudFormation stacks), then runs `cdk destroy`. It refuses `kind = "prod"` and credentials of another
account. Without `--yes` it only prints what it would do.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from stacks.config import ConfigError, EnvironmentConfig, load_config

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_CONFIG = ROOT / "config" / "operator.toml"
DELETE_BATCH = 1000  # S3 DeleteObjects takes at most 1000 keys
DESTROY = ("npx", "cdk", "destroy")

# (service, region) -> a boto3 client; injected by the tests.
ClientFactory = Callable[[str, str], Any]
Runner = Callable[[Sequence[str]], int]


class TeardownError(Exception):
    """This environment may not, or cannot, be torn down; the message says why."""


@dataclass
class Found:
    """The environment's resources that stop a stack deletion, by region."""

    stacks: list[tuple[str, str]] = field(default_factory=list)  # (region, stack name)
    clusters: list[tuple[str, str]] = field(default_factory=list)  # (region, DB cluster identifier)
    load_balancers: list[tuple[str, str]] = field(default_factory=list)  # (region, ARN)
    buckets: list[tuple[str, str]] = field(default_factory=list)  # (region, bucket name)
    vaults: list[tuple[str, str]] = field(default_factory=list)  # (region, vault name)


def refuse_production(env: EnvironmentConfig, source: str) -> None:
    if env.is_production:
        raise TeardownError(
            f'{source}: environments.{env.name} is kind = "prod": production keeps its stores, backups and '
            "deletion protection (P9), and this command never tears it down."
        )


def stack_prefix(app_name: str, env: EnvironmentConfig) -> str:
    """Every stack of the environment is named `<app_name>-<env>-<purpose>` (PlatformStack); env names have no
    dash, so the prefix names this environment's stacks only."""
    return f"{app_name}-{env.name}-"


def regions(env: EnvironmentConfig) -> tuple[str, ...]:
    return (env.region, env.backup_copy_region) if env.backup_copy_region else (env.region,)


def check_account(clients: ClientFactory, env: EnvironmentConfig) -> None:
    account = clients("sts", env.region).get_caller_identity()["Account"]
    if account != env.account:
        raise TeardownError(
            f"the credentials are of account {account}, environment {env.name} lives in {env.account}: "
            "use that account's credentials (each environment is its own, P1)."
        )


def discover(clients: ClientFactory, env: EnvironmentConfig, prefix: str) -> Found:
    found = Found()
    kinds = {
        "AWS::RDS::DBCluster": found.clusters,
        "AWS::ElasticLoadBalancingV2::LoadBalancer": found.load_balancers,
        "AWS::S3::Bucket": found.buckets,
        "AWS::Backup::BackupVault": found.vaults,
    }
    for region in regions(env):
        cloudformation = clients("cloudformation", region)
        for page in cloudformation.get_paginator("describe_stacks").paginate():
            for stack in page["Stacks"]:
                name = stack["StackName"]
                if not name.startswith(prefix) or stack["StackStatus"] == "DELETE_COMPLETE":
                    continue
                found.stacks.append((region, name))
                for resources in cloudformation.get_paginator("list_stack_resources").paginate(StackName=name):
                    for resource in resources["StackResourceSummaries"]:
                        target = kinds.get(resource["ResourceType"])
                        if target is not None and resource.get("PhysicalResourceId"):
                            target.append((region, resource["PhysicalResourceId"]))
    return found


def lift_deletion_protection(clients: ClientFactory, found: Found) -> None:
    for region, cluster in found.clusters:
        clients("rds", region).modify_db_cluster(
            DBClusterIdentifier=cluster, DeletionProtection=False, ApplyImmediately=True
        )
    for region, arn in found.load_balancers:
        clients("elbv2", region).modify_load_balancer_attributes(
            LoadBalancerArn=arn, Attributes=[{"Key": "deletion_protection.enabled", "Value": "false"}]
        )


def _batches(items: Iterable[dict[str, str]]) -> Iterable[list[dict[str, str]]]:
    batch: list[dict[str, str]] = []
    for item in items:
        batch.append(item)
        if len(batch) == DELETE_BATCH:
            yield batch
            batch = []
    if batch:
        yield batch


def empty_bucket(s3: Any, bucket: str) -> int:
    """Delete the bucket's policy (the export bucket's lets only the lifecycle job delete objects), then every
    object version and delete marker, bypassing GOVERNANCE-mode Object Lock (the audit checkpoints of a dev or qa
    environment; production's are in COMPLIANCE mode and its stacks are never torn down). Returns how many were
    deleted."""
    s3.delete_bucket_policy(Bucket=bucket)

    def versions() -> Iterable[dict[str, str]]:
        for page in s3.get_paginator("list_object_versions").paginate(Bucket=bucket):
            for entry in [*page.get("Versions", []), *page.get("DeleteMarkers", [])]:
                yield {"Key": entry["Key"], "VersionId": entry["VersionId"]}

    deleted = 0
    for batch in _batches(versions()):
        answer = s3.delete_objects(Bucket=bucket, Delete={"Objects": batch, "Quiet": True},
                                   BypassGovernanceRetention=True)
        if answer.get("Errors"):
            first = answer["Errors"][0]
            raise TeardownError(f"s3://{bucket}: could not delete {first['Key']}: {first.get('Message', first)}")
        deleted += len(batch)
    return deleted


def empty_vault(backup: Any, vault: str) -> int:
    """Delete every recovery point in the vault (a vault with recovery points cannot be deleted)."""
    deleted = 0
    for page in backup.get_paginator("list_recovery_points_by_backup_vault").paginate(BackupVaultName=vault):
        for point in page.get("RecoveryPoints", []):
            backup.delete_recovery_point(BackupVaultName=vault, RecoveryPointArn=point["RecoveryPointArn"])
            deleted += 1
    return deleted


def destroy_command(env: EnvironmentConfig, config_path: Path) -> list[str]:
    return [*DESTROY, f"{env.name}/*", "--force", "-c", f"env={env.name}", "-c", f"config={config_path}"]


def teardown(
    env: EnvironmentConfig,
    *,
    source: str,
    app_name: str,
    config_path: Path,
    clients: ClientFactory,
    run: Runner,
    execute: bool,
    say: Callable[[str], None],
) -> int:
    """Prepare the environment for deletion and run `cdk destroy`; with execute=False only report."""
    refuse_production(env, source)
    check_account(clients, env)
    found = discover(clients, env, stack_prefix(app_name, env))
    verb = "" if execute else "would "
    say(f"{env.name}: {len(found.stacks)} stacks ({', '.join(name for _, name in found.stacks) or 'none'})")
    for region, cluster in found.clusters:
        say(f"  {verb}turn off deletion protection of database cluster {cluster} ({region})")
    for region, arn in found.load_balancers:
        say(f"  {verb}turn off deletion protection of load balancer {arn.rpartition(':')[2]} ({region})")
    for region, vault in found.vaults:
        say(f"  {verb}delete every recovery point in backup vault {vault} ({region})")
    for region, bucket in found.buckets:
        say(f"  {verb}delete the policy, every object version and delete marker of s3://{bucket} ({region})")
    command = destroy_command(env, config_path)
    say(f"  {verb}run: {' '.join(command)}")
    if not execute:
        say("Nothing changed. Run again with --yes to tear it down.")
        return 0
    lift_deletion_protection(clients, found)
    for region, vault in found.vaults:
        say(f"  backup vault {vault}: {empty_vault(clients('backup', region), vault)} recovery points deleted")
    for region, bucket in found.buckets:
        say(f"  s3://{bucket}: {empty_bucket(clients('s3', region), bucket)} object versions deleted")
    return run(command)


def _boto3_clients() -> ClientFactory:
    import boto3  # type: ignore[import-untyped]  # an operator's tool: only this command needs it

    cache: dict[tuple[str, str], Any] = {}

    def client(service: str, region: str) -> Any:
        if (service, region) not in cache:
            cache[(service, region)] = boto3.client(service, region_name=region)
        return cache[(service, region)]

    return client


def _run(command: Sequence[str]) -> int:
    return subprocess.run(list(command), cwd=ROOT, check=False).returncode  # noqa: S603


def main(argv: Sequence[str] | None = None, *, clients: ClientFactory | None = None, run: Runner = _run) -> int:
    parser = argparse.ArgumentParser(prog="python -m stacks.teardown", description=__doc__.splitlines()[0])
    parser.add_argument("--env", required=True, help="the dev or qa environment to tear down")
    parser.add_argument("--config", type=Path, default=DEFAULT_CONFIG, help="config file (default: %(default)s)")
    parser.add_argument("--yes", action="store_true", help="do it (without: print what would be done)")
    args = parser.parse_args(argv)
    try:
        config = load_config(args.config)
        env = config.environment(args.env)
        return teardown(
            env,
            source=config.source,
            app_name=config.app_name,
            config_path=args.config,
            clients=clients or _boto3_clients(),
            run=run,
            execute=args.yes,
            say=print,
        )
    except (ConfigError, TeardownError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
