"""P9, P11: daily encrypted backups of the database, point-in-time recovery, and (prod) vault lock."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from stacks.policy.rules.base import AssemblyView, Resource, Result, Rule, walk

_DAILY_CRON = re.compile(r"^cron\(\S+ \S+ [*?] \* [*?] \*\)$")
_DAILY_RATE = re.compile(r"^rate\((1 day|24 hours|1440 minutes)\)$")


def is_daily(expression: object) -> bool:
    return isinstance(expression, str) and bool(_DAILY_CRON.match(expression) or _DAILY_RATE.match(expression))


def _plans_selecting(view: AssemblyView, cluster: Resource) -> list[Resource]:
    """Backup plans with a selection that names this cluster (by reference, or by its identifier's ARN)."""
    env = cluster.environment
    identifier = str(cluster.properties.get("DBClusterIdentifier", ""))
    plans = []
    for selection in view.resources(env, "AWS::Backup::BackupSelection"):
        named = selection.properties.get("BackupSelection", {}).get("Resources", [])
        if any(
            (isinstance(node, dict) and view.resolve(env, selection.template_path, node) == cluster)
            or (isinstance(node, str) and identifier and node.endswith(f"cluster:{identifier}"))
            for node in walk(named)
        ):
            plan = view.resolve(env, selection.template_path, selection.properties.get("BackupPlanId"))
            if plan is not None:
                plans.append(plan)
    return plans


def _rules(plans: list[Resource]) -> list[tuple[Resource, dict[str, Any]]]:
    return [(plan, rule) for plan in plans for rule in plan.properties.get("BackupPlan", {}).get("BackupPlanRule", [])]


class DailyEncryptedBackups(Rule):
    id = "P9-DailyEncryptedBackups"
    promises = ("P9",)
    title = "The database is in a backup plan with a daily rule into a vault encrypted with a customer-managed key"
    explanation = "Data is backed up daily, encrypted, with a bounded retention (delete_after) on every copy."

    def evaluate(self, view: AssemblyView) -> Iterator[Result]:
        for env in view.environments:
            for cluster in view.resources(env, "AWS::RDS::DBCluster"):
                problems = []
                daily = [
                    (p, r) for p, r in _rules(_plans_selecting(view, cluster)) if is_daily(r.get("ScheduleExpression"))
                ]
                if not daily:
                    problems.append("no daily backup rule selects it")
                for plan, rule in daily:
                    vault = view.resolve(env, plan.template_path, rule.get("TargetBackupVault"))
                    if vault is None or not vault.properties.get("EncryptionKeyArn"):
                        problems.append(f"rule {rule.get('RuleName')} targets a vault without a customer-managed key")
                    if not rule.get("Lifecycle", {}).get("DeleteAfterDays"):
                        problems.append(f"rule {rule.get('RuleName')} keeps copies forever")
                yield self.result(cluster, not problems, "; ".join(problems) or f"{len(daily)} daily rule(s)")


class PointInTimeRecovery(Rule):
    id = "P11-PointInTimeRecovery"
    promises = ("P11",)
    title = "The database can be restored to a point in time (continuous backup or automated backup retention)"
    explanation = "Point-in-time recovery needs continuous backups (AWS Backup) or Aurora's automated backup window."

    def evaluate(self, view: AssemblyView) -> Iterator[Result]:
        for env in view.environments:
            for cluster in view.resources(env, "AWS::RDS::DBCluster"):
                rules = _rules(_plans_selecting(view, cluster))
                continuous = any(r.get("EnableContinuousBackup") for _, r in rules)
                retention = int(cluster.properties.get("BackupRetentionPeriod", 1))
                detail = f"continuous backup {'on' if continuous else 'off'}, automated retention {retention} days"
                yield self.result(cluster, continuous or retention >= 1, detail)


class ProductionVaultLock(Rule):
    id = "P9-ProductionVaultLock"
    promises = ("P9",)
    title = "In production, every backup vault is locked (nobody can shorten or delete backups)"
    explanation = "A vault lock with a minimum retention, immutable after its grace period, protects prod backups."

    def evaluate(self, view: AssemblyView) -> Iterator[Result]:
        for env in view.environments:
            config = view.env_config(env)
            production = bool(config and config.is_production)
            for vault in view.resources(env, "AWS::Backup::BackupVault"):
                lock = vault.properties.get("LockConfiguration")
                ok = bool(lock and lock.get("MinRetentionDays")) if production else None
                yield self.result(vault, ok, f"lock {lock}" if lock else "no lock")
