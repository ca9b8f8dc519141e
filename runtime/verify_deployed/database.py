"""P3, P5, P6, P8, P9, P11, P1/P7: the Aurora cluster as RDS describes it: instances in two or more zones, storage
encrypted with a customer-managed key (the environment's database key), rds.force_ssl=1 and TLS 1.2+ in the
parameter group in effect, IAM authentication, deletion protection where the templates ask for it, the
point-in-time window, and no snapshot shared publicly or with another account."""

from __future__ import annotations

from typing import Any

from runtime import contract
from runtime.verify_deployed.context import Context, Unreadable, check, reading
from runtime.verify_deployed.keys import environment_keys
from runtime.verify_deployed.result import Checker, Result

TLS_VERSIONS = ("TLSv1.2", "TLSv1.3")


def cluster(ctx: Context) -> dict[str, Any]:
    identifier = contract.database_cluster_identifier(ctx.app, ctx.environment)

    def read() -> dict[str, Any]:
        client = ctx.clients("rds")
        with reading("rds", "DescribeDBClusters"):
            found = client.describe_db_clusters(DBClusterIdentifier=identifier)["DBClusters"]
        if not found:
            raise Unreadable(f"no database cluster {identifier}")
        return dict(found[0])
    found: dict[str, Any] = ctx.once("cluster", read)
    return found


def _template_cluster(ctx: Context) -> dict[str, Any]:
    clusters = ctx.expected.resources("AWS::RDS::DBCluster")
    return clusters[0][2] if clusters else {}


def _arn(db: dict[str, Any]) -> str:
    return str(db.get("DBClusterArn") or db.get("DBClusterIdentifier"))


@check("database", "multi-az", ("P8",))
def multi_az(ctx: Context, result: Checker) -> list[Result]:
    db = cluster(ctx)
    client = ctx.clients("rds")
    with reading("rds", "DescribeDBInstances"):
        instances = client.describe_db_instances(
            Filters=[{"Name": "db-cluster-id", "Values": [db["DBClusterIdentifier"]]}])["DBInstances"]
    zones = sorted({str(i.get("AvailabilityZone")) for i in instances if i.get("AvailabilityZone")})
    writers = [m for m in db.get("DBClusterMembers", []) if m.get("IsClusterWriter")]
    ok = len(zones) >= 2 and len(instances) >= 2
    return [result.verdict(ok, f"{len(instances)} instance(s) in {len(zones)} zone(s) ({', '.join(zones)}), "
                           f"{len(writers)} writer; a failover target in another zone: {'yes' if ok else 'no'}",
                           [_arn(db), *(i["DBInstanceIdentifier"] for i in instances)])]


@check("database", "encrypted", ("P6",))
def encrypted(ctx: Context, result: Checker) -> list[Result]:
    db = cluster(ctx)
    key = str(db.get("KmsKeyId", ""))
    if not db.get("StorageEncrypted") or not key:
        return [result.verdict(False, "storage is not encrypted", [_arn(db)])]
    client = ctx.clients("kms")
    with reading("kms", "DescribeKey"):
        metadata = client.describe_key(KeyId=key)["KeyMetadata"]
    expected = [k for k in environment_keys(ctx) if k.alias.endswith("/database")]
    right = not expected or metadata["Arn"] == expected[0].metadata.get("Arn")
    ok = metadata.get("KeyManager") == "CUSTOMER" and right
    return [result.verdict(ok, f"storage encrypted with {metadata.get('KeyManager', '?').lower()}-managed key "
                           f"{metadata['Arn']}" + ("" if right else f", not the environment's database key "
                                                   f"{expected[0].alias}"), [_arn(db), metadata["Arn"]])]


def _parameters(ctx: Context, group: str) -> dict[str, str]:
    client = ctx.clients("rds")
    values: dict[str, str] = {}
    marker: dict[str, str] = {}
    with reading("rds", "DescribeDBClusterParameters"):
        while True:
            page = client.describe_db_cluster_parameters(DBClusterParameterGroupName=group, **marker)
            values.update({p["ParameterName"]: str(p.get("ParameterValue", "")) for p in page.get("Parameters", [])})
            if not page.get("Marker"):
                return values
            marker = {"Marker": page["Marker"]}


@check("database", "force-ssl", ("P5",))
def force_ssl(ctx: Context, result: Checker) -> list[Result]:
    db = cluster(ctx)
    group = str(db.get("DBClusterParameterGroup", ""))
    values = _parameters(ctx, group)
    pending = [m["DBInstanceIdentifier"] for m in db.get("DBClusterMembers", [])
               if m.get("DBClusterParameterGroupStatus", "in-sync") != "in-sync"]
    ok = values.get("rds.force_ssl") == "1" and values.get("ssl_min_protocol_version") in TLS_VERSIONS and not pending
    return [result.verdict(ok, f"parameter group {group}: rds.force_ssl={values.get('rds.force_ssl', 'unset')}, "
                           f"ssl_min_protocol_version={values.get('ssl_min_protocol_version', 'unset')}"
                           + (f"; not in effect on {', '.join(pending)} (pending reboot)" if pending else
                              "; in effect on every instance"), [_arn(db), group])]


@check("database", "iam-authentication", ("P3",))
def iam_authentication(ctx: Context, result: Checker) -> list[Result]:
    db = cluster(ctx)
    on = bool(db.get("IAMDatabaseAuthenticationEnabled"))
    return [result.verdict(on, f"IAM database authentication {'on' if on else 'off'}", [_arn(db)])]


@check("database", "deletion-protection", ("P9",))
def deletion_protection(ctx: Context, result: Checker) -> list[Result]:
    db = cluster(ctx)
    if not _template_cluster(ctx).get("DeletionProtection"):
        return [result.not_applicable("the templates leave deletion protection off here (config "
                                      "deletion_protection = false)", [_arn(db)])]
    on = bool(db.get("DeletionProtection"))
    return [result.verdict(on, f"deletion protection {'on' if on else 'OFF'}", [_arn(db)])]


@check("database", "point-in-time-window", ("P11",))
def point_in_time_window(ctx: Context, result: Checker) -> list[Result]:
    db = cluster(ctx)
    wanted = int(_template_cluster(ctx).get("BackupRetentionPeriod") or 1)
    days = int(db.get("BackupRetentionPeriod") or 0)
    return [result.verdict(days >= wanted, f"backup retention {days} day(s) (templates: {wanted}); restorable "
                           f"from {db.get('EarliestRestorableTime', '?')}", [_arn(db)])]


@check("database", "snapshots-private", ("P1", "P7"))
def snapshots_private(ctx: Context, result: Checker) -> list[Result]:
    db = cluster(ctx)
    client = ctx.clients("rds")
    with reading("rds", "DescribeDBClusterSnapshots"):
        snapshots = client.describe_db_cluster_snapshots(DBClusterIdentifier=db["DBClusterIdentifier"],
                                                         SnapshotType="manual")["DBClusterSnapshots"]
    shared = []
    for snapshot in snapshots:
        name = snapshot["DBClusterSnapshotIdentifier"]
        with reading("rds", "DescribeDBClusterSnapshotAttributes"):
            attributes = client.describe_db_cluster_snapshot_attributes(DBClusterSnapshotIdentifier=name)[
                "DBClusterSnapshotAttributesResult"]["DBClusterSnapshotAttributes"]
        for attribute in attributes:
            if attribute.get("AttributeName") == "restore" and attribute.get("AttributeValues"):
                shared.append(f"{name} restorable by {', '.join(attribute['AttributeValues'])}")
    return [result.verdict(not shared, f"{len(snapshots)} manual snapshot(s); " + (
        "; ".join(shared) if shared else "none shared publicly or with another account"),
        [_arn(db), *(s["DBClusterSnapshotIdentifier"] for s in snapshots)])]


CHECKS = (multi_az, encrypted, force_ssl, iam_authentication, deletion_protection, point_in_time_window,
          snapshots_private)
