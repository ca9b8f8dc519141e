"""AWS checks whose failure moto cannot make by mutation (a cluster's key, IAM authentication), templates that ask for
more or less, and a missing resource: each test with a healthy environment of its own."""

from __future__ import annotations

from typing import Any

from runtime.verify_deployed.result import Result, Status
from runtime.verify_deployed.run import AWS_FAMILIES, run, selected
from tests.runtime.verify_deployed.healthy import CLUSTER, TRAIL, VAULT, Healthy, client, template_body


def _results(healthy: Healthy, body: dict[str, Any] | None = None) -> dict[str, Result]:
    return {r.check: r for r in run(selected(AWS_FAMILIES), aws=healthy.context(body), database=None)}


def _database_check(healthy: Healthy, name: str, **described: Any) -> Result:
    """The database check `name` on the cluster as described, with `described` changed (moto's ModifyDBCluster
    does not change IAM authentication, and no API changes a cluster's key)."""
    context = healthy.context()
    cluster = client("rds").describe_db_clusters(DBClusterIdentifier=CLUSTER)["DBClusters"][0]
    context.cache["cluster"] = {**cluster, **described}
    return run([c for c in selected(["database"]) if c.name == name], aws=context, database=None)[0]


def test_iam_authentication_off_fails(healthy: Healthy) -> None:
    assert _database_check(healthy, "iam-authentication").status is Status.PASS
    assert _database_check(healthy, "iam-authentication", IAMDatabaseAuthenticationEnabled=False).status \
        is Status.FAIL


def test_database_on_another_key_fails(healthy: Healthy) -> None:
    result = _database_check(healthy, "encrypted", KmsKeyId=healthy.key_arn("exports"))
    assert result.status is Status.FAIL and "not the environment's database key alias/adp/dev/database" in \
        result.detail


def test_bucket_without_required_object_lock_fails(healthy: Healthy) -> None:
    body = template_body()
    body["Resources"]["Exports"]["Properties"]["ObjectLockEnabled"] = True
    body["Resources"]["Logs"] = {"Type": "AWS::S3::Bucket", "Properties": {"ObjectLockEnabled": True}}
    assert _results(healthy, body)["storage.object-lock"].status is Status.FAIL


def test_not_applicable_where_templates_ask_nothing(healthy: Healthy) -> None:
    body = template_body()
    for name in ("Vault", "Trail", "GuardDutyRule", "Vpn"):
        if name == "Vault":
            body["Resources"][name]["Properties"].pop("LockConfiguration")
        else:
            del body["Resources"][name]
    client("backup").delete_backup_vault_lock_configuration(BackupVaultName=VAULT)
    client("cloudtrail").stop_logging(Name=TRAIL)
    results = _results(healthy, body)
    for check in ("backup.vault-lock", "monitoring.trail-logging", "monitoring.guardduty",
                  "vpn.logging-and-authorization"):
        assert results[check].status is Status.NOT_APPLICABLE, check


def test_missing_resource_could_not_check_never_passes(healthy: Healthy) -> None:
    client("rds").modify_db_cluster(DBClusterIdentifier=CLUSTER, DeletionProtection=False)
    client("rds").delete_db_instance(DBInstanceIdentifier=f"{CLUSTER}-0")
    client("rds").delete_db_instance(DBInstanceIdentifier=f"{CLUSTER}-1")
    client("rds").delete_db_cluster(DBClusterIdentifier=CLUSTER, SkipFinalSnapshot=True)
    results = _results(healthy)
    assert results["database.force-ssl"].status is Status.NOT_CHECKED
    assert "DescribeDBClusters" in results["database.force-ssl"].detail
