"""P9, P11: encrypted daily backups with point-in-time recovery, every copy with a bounded life.

- A vault encrypted with the environment's backups key; in production a vault lock in
  compliance mode (after a 3-day grace period nobody, root included, can shorten or delete).
- A plan with a daily snapshot rule and a continuous-backup rule (point-in-time recovery).
- Every rule has `delete_after`, so the longest life of any copy is known: erasure receipts
  (P10) compute "erased everywhere by" from `EnvironmentConfig.longest_backup_retention_days`.
- Optional cross-region copy into a vault of the same environment in another region.
"""

from aws_cdk import Duration
from aws_cdk import aws_backup as backup
from aws_cdk import aws_events as events
from aws_cdk import aws_kms as kms
from aws_cdk import aws_rds as rds
from constructs import Construct

from runtime import contract
from stacks.config import EnvironmentConfig
from stacks.constructs.classification import DataClass, classify
from stacks.constructs.platform_stack import PlatformStack, retain_in_production

VAULT_LOCK_GRACE_DAYS = 3  # the minimum AWS allows before a lock becomes immutable (compliance mode)


def vault_name(app_name: str, env_config: EnvironmentConfig, suffix: str = "") -> str:
    return contract.backup_vault_name(app_name, env_config.name, suffix)


def _lock(env_config: EnvironmentConfig) -> backup.LockConfiguration | None:
    if env_config.vault_lock_min_retention_days is None:
        return None
    return backup.LockConfiguration(
        min_retention=Duration.days(env_config.vault_lock_min_retention_days),
        max_retention=Duration.days(env_config.longest_backup_retention_days),
        changeable_for=Duration.days(VAULT_LOCK_GRACE_DAYS),
    )


def _vault(scope: Construct, env_config: EnvironmentConfig, name: str, key: kms.IKey) -> backup.BackupVault:
    vault = backup.BackupVault(
        scope,
        "Vault",
        backup_vault_name=name,
        encryption_key=key,
        lock_configuration=_lock(env_config),
        removal_policy=retain_in_production(env_config),
    )
    classify(vault, DataClass.SENSITIVE)
    return vault


class BackupCopyStack(PlatformStack):
    """The destination of cross-region copies: a vault and its own key in `backup_copy_region`."""

    def __init__(
        self, scope: Construct, construct_id: str, *, env_config: EnvironmentConfig, app_name: str, region: str
    ) -> None:
        super().__init__(
            scope,
            construct_id,
            env_config=env_config,
            app_name=app_name,
            purpose="backup-copy",
            summary="cross-region backup copy vault (P9)",
            region=region,
        )
        key = kms.Key(
            self,
            "BackupsCopyKey",
            alias=f"alias/{app_name}/{env_config.name}/backups-copy",
            description=f"{app_name} {env_config.name}: cross-region backup copies (P6)",
            enable_key_rotation=True,
            removal_policy=retain_in_production(env_config),
        )
        self.vault = _vault(self, env_config, vault_name(app_name, env_config, "-copy"), key)


class BackupStack(PlatformStack):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        env_config: EnvironmentConfig,
        app_name: str,
        backups_key: kms.IKey,
        cluster: rds.DatabaseCluster,
    ) -> None:
        super().__init__(
            scope,
            construct_id,
            env_config=env_config,
            app_name=app_name,
            purpose="backup",
            summary="daily + continuous backups, bounded retention (P9 P11)",
        )
        self.vault = _vault(self, env_config, vault_name(app_name, env_config), backups_key)
        daily = events.Schedule.cron(minute="0", hour="3")

        copy_actions = []
        if env_config.backup_copy_region:
            copy_vault_arn = (
                f"arn:{self.partition}:backup:{env_config.backup_copy_region}:{env_config.account}:"
                f"backup-vault:{vault_name(app_name, env_config, '-copy')}"
            )
            copy_actions.append(
                backup.BackupPlanCopyActionProps(
                    destination_backup_vault=backup.BackupVault.from_backup_vault_arn(
                        self, "CopyVault", copy_vault_arn
                    ),
                    delete_after=Duration.days(env_config.backup_retention_days),
                )
            )

        self.plan = backup.BackupPlan(
            self, "Plan", backup_plan_name=f"{app_name}-{env_config.name}-database", backup_vault=self.vault
        )
        self.plan.add_rule(
            backup.BackupPlanRule(
                rule_name="DailySnapshot",
                schedule_expression=daily,
                start_window=Duration.hours(1),
                completion_window=Duration.hours(4),
                delete_after=Duration.days(env_config.backup_retention_days),
                copy_actions=copy_actions or None,
            )
        )
        self.plan.add_rule(
            backup.BackupPlanRule(
                rule_name="ContinuousPointInTime",
                schedule_expression=daily,
                enable_continuous_backup=True,
                delete_after=Duration.days(env_config.pitr_retention_days),
            )
        )
        self.plan.add_selection(
            "Database",
            resources=[backup.BackupResource.from_rds_database_cluster(cluster)],
            allow_restores=False,
        )
