"""Point-in-time restore of the Aurora cluster (P11): plan (pure), RDS adapter, apply with verification and
cut-over steps, and the restore drill. Nothing touches the source cluster: a restore creates a new one.

The job's IAM permissions are exactly `RESTORE_IAM_ACTIONS` (the infrastructure's restore role grants them).
"""

from typing import Final

# What `python -m runtime restore ...` calls, by purpose. Deletes are only for the drill's own clusters: grant
# them on the condition aws:ResourceTag/platform:purpose = drill.
RESTORE_IAM_ACTIONS: Final[dict[str, tuple[str, ...]]] = {
    "read": ("rds:DescribeDBClusters", "rds:DescribeDBInstances", "rds:DescribeDBClusterParameters",
             "rds:ListTagsForResource"),
    "restore": ("rds:RestoreDBClusterToPointInTime", "rds:CreateDBInstance", "rds:AddTagsToResource"),
    "drill-cleanup": ("rds:DeleteDBInstance", "rds:DeleteDBCluster"),
    # On the database KMS key (storage and Performance Insights): RDS takes a grant to use it for the new cluster.
    "database-key": ("kms:CreateGrant", "kms:DescribeKey"),
}
