"""Point-in-time restore (P11): `python -m runtime restore plan|apply|drill` in a task definition and role of its
own, granted exactly runtime.restore.RESTORE_IAM_ACTIONS:

- read (describe clusters, instances, cluster parameters; list tags): metadata only, in this region and account;
- restore (restore to a point in time, create instances, tag them): only requests that tag what they create as a
  restore of THIS environment's cluster (`aws:RequestTag/platform:restore-of`, which runtime/restore/plan.py sets);
- drill cleanup (delete instances and clusters): only what is tagged as a drill of this cluster
  (`aws:ResourceTag/platform:purpose = drill` and `platform:restore-of`): never the source, never a real restore;
- the database key: `kms:CreateGrant` only for an AWS resource (RDS encrypting the new cluster), `kms:DescribeKey`.
Row counts on the restored cluster and the drill's record log in as the jobs role with an IAM token: the restored
cluster's resource id exists only once it does, so that grant names the user on any cluster of the account.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

from aws_cdk import RemovalPolicy
from aws_cdk import aws_ecs as ecs
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from constructs import Construct

from runtime.contract import JOBS_ROLE
from runtime.restore import RESTORE_IAM_ACTIONS
from runtime.restore.cluster import TAG_PURPOSE, TAG_RESTORE_OF
from stacks.services.one_off_task import OneOffTask
from stacks.services.roles import DatabaseUsers

COMMANDS: Final = ("restore plan", "restore apply", "restore drill")
COMMAND: Final = ("python", "-m", "runtime", "restore", "--help")  # the operator names the subcommand at run-task
DRILL_PURPOSE: Final = "drill"  # runtime/restore/plan.py's purpose tag of a drill's cluster


def restore_statements(
    database: DatabaseUsers, *, source_cluster: str, database_key_arn: str
) -> list[iam.PolicyStatement]:
    rds_resources = [f"arn:{database.partition}:rds:{database.region}:{database.account}:*"]
    return [
        iam.PolicyStatement(sid="ReadClusterMetadata", actions=list(RESTORE_IAM_ACTIONS["read"]),
                            resources=rds_resources),
        iam.PolicyStatement(
            sid="RestoreThisClusterOnlyTaggedAsItsRestore",
            actions=list(RESTORE_IAM_ACTIONS["restore"]),
            resources=rds_resources,
            conditions={"StringEquals": {f"aws:RequestTag/{TAG_RESTORE_OF}": source_cluster}},
        ),
        iam.PolicyStatement(
            sid="DeleteOnlyThisClustersDrills",
            actions=list(RESTORE_IAM_ACTIONS["drill-cleanup"]),
            resources=rds_resources,
            conditions={"StringEquals": {f"aws:ResourceTag/{TAG_PURPOSE}": DRILL_PURPOSE,
                                         f"aws:ResourceTag/{TAG_RESTORE_OF}": source_cluster}},
        ),
        iam.PolicyStatement(
            sid="DatabaseKeyGrantForRds",
            actions=["kms:CreateGrant"],
            resources=[database_key_arn],
            conditions={"Bool": {"kms:GrantIsForAWSResource": "true"}},
        ),
        iam.PolicyStatement(sid="DescribeDatabaseKey", actions=["kms:DescribeKey"], resources=[database_key_arn]),
        iam.PolicyStatement(
            sid="ConnectAsTheJobsRoleOnRestoredClusters",
            actions=["rds-db:connect"],
            resources=[database.arn(JOBS_ROLE, cluster_resource_id="*")],
        ),
    ]


class Restore(OneOffTask):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        database: DatabaseUsers,
        source_cluster: str,
        database_key_arn: str,
        image: ecs.ContainerImage,
        environment: Mapping[str, str],
        logs_key: kms.IKey,
        log_retention_days: int,
        removal: RemovalPolicy,
    ) -> None:
        super().__init__(
            scope,
            construct_id,
            description="Restore task",
            commands=COMMANDS,
            command=COMMAND,
            statements=restore_statements(database, source_cluster=source_cluster, database_key_arn=database_key_arn),
            image=image,
            environment=environment,
            secrets={},  # no secret: RDS API calls and IAM-token logins only
            logs_key=logs_key,
            log_retention_days=log_retention_days,
            removal=removal,
        )
