"""The dev environment of the session's cdk.out, brought up locally (tests/e2e/conftest.py `dev`, shared with
the life-cycle test): stand-ins exist and the data service runs with the environment its task definition
describes."""

from __future__ import annotations

import pytest

from e2e import tasks
from e2e.emulation import Running


def test_emulation_dev_every_alias_and_bucket_stands_in(dev: Running) -> None:
    aliases = {a["AliasName"] for a in dev.moto.client("kms").list_aliases()["Aliases"]}
    buckets = {b["Name"] for b in dev.moto.client("s3").list_buckets()["Buckets"]}
    for _, _, resource in dev.env.resources("AWS::KMS::Alias"):
        assert resource["Properties"]["AliasName"] in aliases
    for stack, logical_id, _ in dev.env.resources("AWS::S3::Bucket"):
        assert dev.resolver.physical[(stack.name, logical_id)].ref in buckets


def test_emulation_dev_data_service_gets_the_task_definitions_environment(dev: Running) -> None:
    assert "owner" in dev.services, dev.failed.get("owner")
    spec = dev.services["owner"].spec
    (task,) = tasks.select(dev.env, mode="owner")
    translated = {*tasks.LOCAL_OVERRIDES, tasks.DATABASE_PORT}
    for variable in task.container["Environment"]:
        name, value = variable["Name"], variable["Value"]
        if name in translated:
            continue
        if isinstance(value, str):
            assert spec.env[name] == tasks.local_path(value, tasks.LocalPaths(
                database_ca=dev.workdir / "certs" / "rds-global-bundle.pem", scratch=dev.workdir)) or \
                value.startswith("/tmp"), name
        else:
            assert spec.env[name], name
    key = dev.moto.client("kms").describe_key(KeyId=spec.env["PLATFORM_KMS_APPLICATION_KEY_ID"])["KeyMetadata"]
    assert key["Arn"] == spec.env["PLATFORM_KMS_APPLICATION_KEY_ID"]
    assert spec.env["PLATFORM_DATABASE_HOST"] == "127.0.0.1"
    assert spec.env["PLATFORM_DATABASE_CA_BUNDLE"] == str(dev.workdir / "certs" / "rds-global-bundle.pem")
    assert spec.task_role_arn == dev.resolver.resolve(task.stack.name, task.properties["TaskRoleArn"])


def test_emulation_dev_task_role_is_refused_what_its_policy_lacks(dev: Running) -> None:
    spec = dev.services["owner"].spec
    assert spec.task_role_arn is not None
    s3 = dev.moto.client("s3", dev.credentials(spec.task_role_arn))
    with pytest.raises(Exception, match=r"AccessDenied|403"):
        s3.list_buckets()


def test_emulation_dev_master_secret_only_the_setup_task_role_reads_it(dev: Running) -> None:
    """moto's access control, with each task definition's own role: only the deploy-time setup step's
    role may read the cluster's master secret (rds_superuser bypasses RLS, P3)."""
    secret = dev.db.master_secret_arn
    assert secret is not None
    readers = []
    for task in tasks.task_definitions(dev.env):
        role = task.properties.get("TaskRoleArn")
        if role is None:
            continue
        client = dev.moto.client("secretsmanager", dev.credentials(dev.resolver.resolve(task.stack.name, role)))
        try:
            client.get_secret_value(SecretId=secret)
        except Exception as exc:  # botocore's ClientError: the 403 is the point
            assert "403" in str(exc) or "AccessDenied" in str(exc), exc
        else:
            readers.append(task.path)
    assert readers == [task.path for task in tasks.setup_tasks(dev.env, ["python", "-m", "runtime", "db", "setup"])]
