"""What `restore` needs to know about an Aurora cluster, read from the RDS API's answers. Pure: the
functions take the response dictionaries of describe_db_clusters / describe_db_instances /
describe_db_cluster_parameters (runtime/restore/rds.py calls them)."""

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final

TLS_PARAMETER: Final = "rds.force_ssl"
TAG_RESTORE_OF: Final = "platform:restore-of"
TAG_RESTORE_TO: Final = "platform:restore-to"
TAG_PURPOSE: Final = "platform:purpose"


@dataclass(frozen=True, slots=True)
class InstanceFacts:
    identifier: str
    instance_class: str
    status: str
    writer: bool
    availability_zone: str | None = None
    parameter_group: str | None = None
    promotion_tier: int | None = None
    ca_certificate: str | None = None
    performance_insights_key: str | None = None  # KMS key of Performance Insights, when on
    auto_minor_version_upgrade: bool = True


@dataclass(frozen=True, slots=True)
class ClusterFacts:
    identifier: str
    arn: str
    status: str
    engine: str
    engine_version: str
    port: int | None
    storage_encrypted: bool
    kms_key_id: str | None
    subnet_group: str | None
    security_groups: tuple[str, ...]
    parameter_group: str | None
    iam_auth: bool
    deletion_protection: bool
    backup_retention_days: int | None
    earliest_restorable: datetime | None
    latest_restorable: datetime | None
    endpoint: str | None
    log_exports: tuple[str, ...] = ()
    copy_tags_to_snapshot: bool = False
    tags: Mapping[str, str] = field(default_factory=dict)
    instances: tuple[InstanceFacts, ...] = ()
    force_ssl: str | None = None  # rds.force_ssl in the cluster parameter group ("1" = TLS only)

    @property
    def writer(self) -> InstanceFacts | None:
        return next((i for i in self.instances if i.writer), self.instances[0] if self.instances else None)


def _tags(items: Iterable[Mapping[str, Any]] | None) -> dict[str, str]:
    return {str(t["Key"]): str(t.get("Value", "")) for t in items or ()}


def instance_facts(raw: Mapping[str, Any], writers: set[str]) -> InstanceFacts:
    groups = raw.get("DBParameterGroups") or []
    return InstanceFacts(
        identifier=raw["DBInstanceIdentifier"],
        instance_class=raw["DBInstanceClass"],
        status=raw.get("DBInstanceStatus", "unknown"),
        writer=raw["DBInstanceIdentifier"] in writers,
        availability_zone=raw.get("AvailabilityZone"),
        parameter_group=groups[0]["DBParameterGroupName"] if groups else None,
        promotion_tier=raw.get("PromotionTier"),
        ca_certificate=raw.get("CACertificateIdentifier"),
        performance_insights_key=raw.get("PerformanceInsightsKMSKeyId") if raw.get("PerformanceInsightsEnabled")
        else None,
        auto_minor_version_upgrade=bool(raw.get("AutoMinorVersionUpgrade", True)),
    )


def cluster_facts(raw: Mapping[str, Any], instances: Sequence[Mapping[str, Any]],
                  parameters: Sequence[Mapping[str, Any]] = ()) -> ClusterFacts:
    members = raw.get("DBClusterMembers") or []
    writers = {m["DBInstanceIdentifier"] for m in members if m.get("IsClusterWriter")}
    force_ssl = next((str(p.get("ParameterValue")) for p in parameters if p.get("ParameterName") == TLS_PARAMETER
                      and p.get("ParameterValue") is not None), None)
    return ClusterFacts(
        identifier=raw["DBClusterIdentifier"],
        arn=raw.get("DBClusterArn", ""),
        status=raw.get("Status", "unknown"),
        engine=raw.get("Engine", ""),
        engine_version=raw.get("EngineVersion", ""),
        port=raw.get("Port"),
        storage_encrypted=bool(raw.get("StorageEncrypted")),
        kms_key_id=raw.get("KmsKeyId"),
        subnet_group=raw.get("DBSubnetGroup"),
        security_groups=tuple(g["VpcSecurityGroupId"] for g in raw.get("VpcSecurityGroups") or ()),
        parameter_group=raw.get("DBClusterParameterGroup"),
        iam_auth=bool(raw.get("IAMDatabaseAuthenticationEnabled")),
        deletion_protection=bool(raw.get("DeletionProtection")),
        backup_retention_days=raw.get("BackupRetentionPeriod"),
        earliest_restorable=raw.get("EarliestRestorableTime"),
        latest_restorable=raw.get("LatestRestorableTime"),
        endpoint=raw.get("Endpoint"),
        log_exports=tuple(raw.get("EnabledCloudwatchLogsExports") or ()),
        copy_tags_to_snapshot=bool(raw.get("CopyTagsToSnapshot")),
        tags=_tags(raw.get("TagList")),
        instances=tuple(sorted((instance_facts(i, writers) for i in instances), key=lambda i: (not i.writer,
                                                                                            i.identifier))),
        force_ssl=force_ssl,
    )


def same_key(a: str | None, b: str | None) -> bool:
    """KMS key references name the same key (an ARN and a bare key id compare by the id)."""
    if not a or not b:
        return False
    return a == b or a.rsplit("/", 1)[-1] == b.rsplit("/", 1)[-1]
