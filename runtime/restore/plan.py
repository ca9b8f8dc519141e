"""Planning a point-in-time restore (P11). Pure: from the source cluster's facts and the requested time, a
plan that copies every security-relevant setting (same KMS key, subnet group, security groups, parameter
groups with TLS forced, IAM authentication, deletion protection) into a NEW cluster; the source is never
touched. A time outside the restorable window is refused with an explanation of the window and what to do.
"""

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Final

from runtime.bounds import RESTORE_INSTANCES
from runtime.errors import RestorePlanError, RestoreWindowError
from runtime.restore.cluster import TAG_PURPOSE, TAG_RESTORE_OF, TAG_RESTORE_TO, ClusterFacts, InstanceFacts

_IDENTIFIER: Final = re.compile(r"[a-z](?:[a-z0-9]|-(?!-))*")
MAX_IDENTIFIER: Final = 63


def check_identifier(value: str, what: str = "--target") -> str:
    value = value.lower()
    if len(value) > MAX_IDENTIFIER or not _IDENTIFIER.fullmatch(value) or value.endswith("-"):
        raise RestorePlanError(
            f"{what} {value!r} is not a valid cluster id: 1-63 letters, digits and single hyphens, starting with a "
            "letter and not ending with a hyphen"
        )
    return value


def _when(at: datetime) -> str:
    return at.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _ago(delta: timedelta) -> str:
    minutes = int(delta.total_seconds() // 60)
    if minutes < 120:
        return f"{minutes} min"
    hours = minutes // 60
    return f"{hours} h" if hours < 72 else f"{hours // 24} days"


def check_window(facts: ClusterFacts, to: datetime, now: datetime) -> None:
    """Refuse a time the cluster cannot be restored to, saying why and which times it can."""
    if to.tzinfo is None:
        raise RestoreWindowError("--to needs a zone, e.g. 2026-11-02T08:00Z")
    earliest, latest = facts.earliest_restorable, facts.latest_restorable
    if earliest is None or latest is None:
        raise RestoreWindowError(
            f"cluster {facts.identifier} reports no restorable window (status {facts.status}, backup retention "
            f"{facts.backup_retention_days} days): point-in-time restore needs automated backups; check the "
            "backup stack (P9, P11)"
        )
    window = f"the restorable window of {facts.identifier} is {_when(earliest)} to {_when(latest)}"
    if to > now:
        raise RestoreWindowError(f"--to {_when(to)} is in the future; {window}")
    if to < earliest:
        raise RestoreWindowError(
            f"--to {_when(to)} is {_ago(earliest - to)} before the earliest restorable time: {window} "
            f"(continuous backups are kept {facts.backup_retention_days} days). Choose a time inside it; for older "
            f"data restore a daily recovery point of the backup vault instead: aws backup "
            f"list-recovery-points-by-resource --resource-arn {facts.arn}"
        )
    if to > latest:
        raise RestoreWindowError(
            f"--to {_when(to)} is after the latest restorable time ({_ago(to - latest)} later): {window}. The "
            "latest restorable time trails the present by about five minutes: wait, or choose an earlier time"
        )


@dataclass(frozen=True, slots=True)
class InstancePlan:
    identifier: str
    instance_class: str
    parameter_group: str | None
    availability_zone: str | None
    promotion_tier: int | None
    ca_certificate: str | None
    performance_insights_key: str | None
    auto_minor_version_upgrade: bool


@dataclass(frozen=True, slots=True)
class RestorePlan:
    source: str
    source_arn: str
    target: str
    restore_to: datetime
    engine: str
    engine_version: str
    port: int | None
    kms_key_id: str
    subnet_group: str | None
    security_groups: tuple[str, ...]
    parameter_group: str | None
    iam_auth: bool
    deletion_protection: bool
    log_exports: tuple[str, ...]
    copy_tags_to_snapshot: bool
    instances: tuple[InstancePlan, ...]
    purpose: str = "restore"  # or "drill"
    tags: dict[str, str] = field(default_factory=dict)

    @property
    def instance_class(self) -> str:
        return self.instances[0].instance_class

    def cluster_request(self) -> dict[str, Any]:
        """Arguments of rds.restore_db_cluster_to_point_in_time."""
        request: dict[str, Any] = {
            "DBClusterIdentifier": self.target,
            "SourceDBClusterIdentifier": self.source,
            "RestoreType": "full-copy",
            "RestoreToTime": self.restore_to,
            "KmsKeyId": self.kms_key_id,
            "VpcSecurityGroupIds": list(self.security_groups),
            "EnableIAMDatabaseAuthentication": self.iam_auth,
            "DeletionProtection": self.deletion_protection,
            "CopyTagsToSnapshot": self.copy_tags_to_snapshot,
            "Tags": [{"Key": k, "Value": v} for k, v in sorted(self.tags.items())],
        }
        if self.subnet_group:
            request["DBSubnetGroupName"] = self.subnet_group
        if self.parameter_group:
            request["DBClusterParameterGroupName"] = self.parameter_group
        if self.port:
            request["Port"] = self.port
        if self.log_exports:
            request["EnableCloudwatchLogsExports"] = list(self.log_exports)
        return request

    def instance_request(self, instance: InstancePlan) -> dict[str, Any]:
        """Arguments of rds.create_db_instance for one instance of the restored cluster."""
        request: dict[str, Any] = {
            "DBInstanceIdentifier": instance.identifier,
            "DBClusterIdentifier": self.target,
            "Engine": self.engine,
            "DBInstanceClass": instance.instance_class,
            "PubliclyAccessible": False,
            "AutoMinorVersionUpgrade": instance.auto_minor_version_upgrade,
            "Tags": [{"Key": k, "Value": v} for k, v in sorted(self.tags.items())],
        }
        optional = {
            "DBParameterGroupName": instance.parameter_group,
            "AvailabilityZone": instance.availability_zone,
            "PromotionTier": instance.promotion_tier,
            "CACertificateIdentifier": instance.ca_certificate,
        }
        request.update({k: v for k, v in optional.items() if v is not None})
        if instance.performance_insights_key:
            request["EnablePerformanceInsights"] = True
            request["PerformanceInsightsKMSKeyId"] = instance.performance_insights_key
        return request

    def describe(self) -> str:
        lines = [
            f"restore plan ({self.purpose}): {self.source} as it was at {_when(self.restore_to)}",
            f"  new cluster         {self.target} (the source is not changed)",
            f"  engine              {self.engine} {self.engine_version}",
            f"  KMS key             {self.kms_key_id} (the source's)",
            f"  subnet group        {self.subnet_group}",
            f"  security groups     {', '.join(self.security_groups) or '(none)'}",
            f"  parameter group     {self.parameter_group} (TLS forced: rds.force_ssl=1)",
            f"  instances           {len(self.instances)} x {self.instance_class}: "
            f"{', '.join(i.identifier for i in self.instances)}",
            f"  IAM authentication  {'on' if self.iam_auth else 'off'}",
            f"  deletion protection {'on' if self.deletion_protection else 'off'}",
        ]
        return "\n".join(lines)


def default_target(source: str, to: datetime, purpose: str = "restore") -> str:
    suffix = f"-{'pitr' if purpose == 'restore' else 'drill'}-{to.astimezone(UTC):%Y%m%d%H%M}"
    return check_identifier(source[: MAX_IDENTIFIER - len(suffix)].rstrip("-") + suffix)


def _instance_ids(target: str, count: int) -> list[str]:
    width = len(str(count))
    return [check_identifier(f"{target[: MAX_IDENTIFIER - width - 1].rstrip('-')}-{n + 1}", "instance id")
            for n in range(count)]


def make_plan(
    facts: ClusterFacts,
    to: datetime,
    *,
    now: datetime,
    target: str | None = None,
    instances: int | None = None,
    deletion_protection: bool | None = None,
    purpose: str = "restore",
) -> RestorePlan:
    """The plan to restore `facts` (the source cluster) to `to`; raises when it cannot be done safely."""
    check_window(facts, to, now)
    if not facts.storage_encrypted or not facts.kms_key_id:
        raise RestorePlanError(f"cluster {facts.identifier} is not encrypted with a KMS key; P6 forbids restoring "
                               "it as is")
    if facts.writer is None:
        raise RestorePlanError(f"cluster {facts.identifier} has no instances to copy the instance class from; "
                               "pass --instance-class")
    if facts.force_ssl != "1":
        raise RestorePlanError(
            f"the parameter group {facts.parameter_group} of {facts.identifier} does not force TLS "
            f"(rds.force_ssl={facts.force_ssl}); fix the source's parameter group first (P5)"
        )
    target = check_identifier(target) if target else default_target(facts.identifier, to, purpose)
    if target == facts.identifier:
        raise RestorePlanError("--target must differ from the source: a restore never overwrites the live cluster")
    count = len(facts.instances) if instances is None else instances
    if not RESTORE_INSTANCES.minimum <= count <= RESTORE_INSTANCES.maximum:
        raise RestorePlanError(f"--instances must be from {RESTORE_INSTANCES.describe()}")
    # Copy each source instance's shape in order (writer first); extra instances copy the writer.
    templates: list[InstanceFacts] = [*facts.instances, *[facts.writer] * max(0, count - len(facts.instances))]
    planned = tuple(
        InstancePlan(identifier, t.instance_class, t.parameter_group, t.availability_zone, t.promotion_tier,
                     t.ca_certificate, t.performance_insights_key, t.auto_minor_version_upgrade)
        for identifier, t in zip(_instance_ids(target, count), templates, strict=False)
    )
    tags = {TAG_RESTORE_OF: facts.identifier, TAG_RESTORE_TO: to.astimezone(UTC).isoformat(), TAG_PURPOSE: purpose}
    return RestorePlan(
        source=facts.identifier, source_arn=facts.arn, target=target, restore_to=to, engine=facts.engine,
        engine_version=facts.engine_version, port=facts.port, kms_key_id=facts.kms_key_id,
        subnet_group=facts.subnet_group, security_groups=facts.security_groups,
        parameter_group=facts.parameter_group, iam_auth=facts.iam_auth,
        deletion_protection=facts.deletion_protection if deletion_protection is None else deletion_protection,
        log_exports=facts.log_exports, copy_tags_to_snapshot=facts.copy_tags_to_snapshot, instances=planned,
        purpose=purpose, tags=tags,
    )
