"""P9: the backup vault is encrypted with a customer-managed key and, where the templates lock it (prod), its
vault lock is in place; a backup job of the database completed in the last 26 hours (the plan runs daily)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from runtime import contract
from runtime.verify_deployed.context import Context, check, reading
from runtime.verify_deployed.database import cluster
from runtime.verify_deployed.result import Checker, Result

RECENT = timedelta(hours=26)  # a daily plan, its start and completion windows


def _vault(ctx: Context) -> dict[str, Any]:
    name = contract.backup_vault_name(ctx.app, ctx.environment)

    def read() -> dict[str, Any]:
        client = ctx.clients("backup")
        with reading("backup", "DescribeBackupVault"):
            return dict(client.describe_backup_vault(BackupVaultName=name))
    found: dict[str, Any] = ctx.once("vault", read)
    return found


def _template_lock(ctx: Context) -> dict[str, Any] | None:
    for _, _, props in ctx.expected.resources("AWS::Backup::BackupVault"):
        if props.get("BackupVaultName") == contract.backup_vault_name(ctx.app, ctx.environment):
            lock = props.get("LockConfiguration")
            return dict(lock) if lock else None
    return None


@check("backup", "vault-encrypted", ("P6", "P9"))
def vault_encrypted(ctx: Context, result: Checker) -> list[Result]:
    vault = _vault(ctx)
    key = str(vault.get("EncryptionKeyArn", ""))
    if not key:
        return [result.verdict(False, "the vault names no encryption key", [vault["BackupVaultArn"]])]
    client = ctx.clients("kms")
    with reading("kms", "DescribeKey"):
        manager = client.describe_key(KeyId=key)["KeyMetadata"].get("KeyManager")
    return [result.verdict(manager == "CUSTOMER", f"encrypted with {str(manager).lower()}-managed key {key}",
                           [vault["BackupVaultArn"], key])]


@check("backup", "vault-lock", ("P9",))
def vault_lock(ctx: Context, result: Checker) -> list[Result]:
    vault = _vault(ctx)
    arn = str(vault["BackupVaultArn"])
    wanted = _template_lock(ctx)
    if wanted is None:
        return [result.not_applicable("the templates lock no vault here (config vault_lock_min_retention_days "
                                      "unset: prod only)", [arn])]
    minimum = vault.get("MinRetentionDays")
    lock_date = vault.get("LockDate")
    if minimum is None:
        return [result.verdict(False, "the vault lock is removed (no MinRetentionDays)", [arn])]
    in_grace = not vault.get("Locked") and lock_date is not None and lock_date > ctx.now()
    ok = int(minimum) >= int(wanted.get("MinRetentionDays", 1)) and (bool(vault.get("Locked")) or in_grace)
    state = "locked (immutable)" if vault.get("Locked") else f"in its grace period until {lock_date}" \
        if in_grace else "not locked"
    return [result.verdict(ok, f"vault lock {state}, minimum retention {minimum} day(s) (templates: "
                           f"{wanted.get('MinRetentionDays')})", [arn])]


@check("backup", "recent-job", ("P9",))
def recent_job(ctx: Context, result: Checker) -> list[Result]:
    vault = _vault(ctx)
    db = cluster(ctx)
    since = ctx.now() - RECENT
    client = ctx.clients("backup")
    with reading("backup", "ListBackupJobs"):
        jobs = client.list_backup_jobs(ByBackupVaultName=vault["BackupVaultName"],
                                                      ByResourceArn=db["DBClusterArn"],
                                                      ByCreatedAfter=since)["BackupJobs"]
    done = sorted((j for j in jobs if j.get("State") == "COMPLETED"), key=lambda j: j.get("CompletionDate"))
    detail = (f"last completed backup job {done[-1]['BackupJobId']} at {done[-1].get('CompletionDate')}" if done
              else f"no completed backup job since {since:%Y-%m-%d %H:%M} UTC ({len(jobs)} job(s) in other states)")
    return [result.verdict(bool(done), detail, [vault["BackupVaultArn"], db["DBClusterArn"],
                                                *(j["BackupJobId"] for j in done[-1:])])]


CHECKS = (vault_encrypted, vault_lock, recent_job)
