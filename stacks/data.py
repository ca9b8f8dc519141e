"""P5, P6, P8: the environment's Aurora PostgreSQL cluster, the only store of sensitive data (P7).

Multi-AZ (a writer and readers pinned to other zones, automatic failover), storage and
Performance Insights encrypted with the database key, TLS forced by the cluster parameter
group, IAM database authentication, pgaudit, PostgreSQL logs into an encrypted log group,
and an RDS-managed master secret (encrypted with the database key, rotated by RDS).
"""

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_rds as rds
from constructs import Construct

from runtime import contract
from stacks.config import EnvironmentConfig
from stacks.constructs.classification import DataClass, classify
from stacks.constructs.encrypted_log_group import EncryptedLogGroup
from stacks.constructs.platform_stack import PlatformStack, retain_in_production
from stacks.keys import EnvironmentKeys
from stacks.network import NetworkStack

ENGINE_VERSION = rds.AuroraPostgresEngineVersion.VER_16_13
DATABASE_NAME = "platform"
MASTER_USERNAME = "platform_admin"

# The cluster parameter group is where P5 is enforced on the server side.
CLUSTER_PARAMETERS = {
    "rds.force_ssl": "1",  # refuse plaintext connections
    "ssl_min_protocol_version": "TLSv1.2",
    "shared_preload_libraries": "pg_stat_statements,pgaudit",
    # Audit schema and role changes; statement parameters are never logged (P7: no payloads in logs).
    "pgaudit.log": "ddl,role",
    "pgaudit.log_parameter": "0",
    "pgaudit.role": "rds_pgaudit",
    "log_connections": "1",
    "log_disconnections": "1",
}


class DataStack(PlatformStack):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        env_config: EnvironmentConfig,
        app_name: str,
        keys: EnvironmentKeys,
        network: NetworkStack,
    ) -> None:
        super().__init__(
            scope,
            construct_id,
            env_config=env_config,
            app_name=app_name,
            purpose="data",
            summary="multi-AZ Aurora PostgreSQL, TLS-only, CMK-encrypted (P5 P6 P8)",
        )
        cluster_identifier = contract.database_cluster_identifier(app_name, env_config.name)
        engine = rds.DatabaseClusterEngine.aurora_postgres(version=ENGINE_VERSION)

        self.security_group = ec2.SecurityGroup(
            self,
            "DatabaseSecurityGroup",
            vpc=network.vpc,
            description="Aurora: admits nothing by default; the service stack grants the data service only",
            allow_all_outbound=False,
        )
        # RDS writes PostgreSQL logs to this exact name; creating it first makes it ours: encrypted, bounded.
        postgres_logs = EncryptedLogGroup(
            self,
            "PostgresLogs",
            log_group_name=f"/aws/rds/cluster/{cluster_identifier}/postgresql",
            key=keys.logs,
            retention_days=env_config.log_retention_days,
            data_class=DataClass.NOT_SENSITIVE,
            removal_policy=retain_in_production(env_config),
        )

        azs = env_config.availability_zones
        instance_type = ec2.InstanceType(env_config.db_instance_class)

        def instance(name: str, zone: str, **extra: object) -> rds.IClusterInstance:
            return rds.ClusterInstance.provisioned(
                name,
                instance_type=instance_type,
                availability_zone=zone,
                publicly_accessible=False,
                auto_minor_version_upgrade=True,
                ca_certificate=rds.CaCertificate.RDS_CA_RSA2048_G1,
                enable_performance_insights=True,
                performance_insight_encryption_key=keys.database,
                **extra,  # type: ignore[arg-type]
            )

        self.cluster = rds.DatabaseCluster(
            self,
            "Cluster",
            cluster_identifier=cluster_identifier,
            engine=engine,
            port=env_config.db_port,
            default_database_name=DATABASE_NAME,
            writer=instance("Writer", azs[0]),
            # Readers go to the other zones first, so a zone failure always leaves a failover target (P8).
            readers=[
                instance(f"Reader{i + 1}", azs[(i + 1) % len(azs)], promotion_tier=1)
                for i in range(env_config.db_reader_count)
            ],
            vpc=network.vpc,
            vpc_subnets=network.data_subnets,
            security_groups=[self.security_group],
            parameter_group=rds.ParameterGroup(
                self,
                "ClusterParameters",
                engine=engine,
                description="TLS-only, pgaudit (P5)",
                parameters=CLUSTER_PARAMETERS,
            ),
            storage_encrypted=True,
            storage_encryption_key=keys.database,
            iam_authentication=True,
            manage_master_user_password=True,
            credentials=rds.Credentials.from_username(MASTER_USERNAME, encryption_key=keys.database),
            cloudwatch_logs_exports=["postgresql"],
            monitoring_interval=Duration.seconds(60),
            backup=rds.BackupProps(
                retention=Duration.days(env_config.pitr_retention_days), preferred_window="02:00-03:00"
            ),
            preferred_maintenance_window="sun:03:30-sun:04:30",
            copy_tags_to_snapshot=True,
            deletion_protection=env_config.deletion_protection,
            # prod: a final snapshot when the cluster is deleted; dev/qa: none (they are torn down, and a copy
            # left behind would outlive every erasure receipt, P10).
            removal_policy=RemovalPolicy.SNAPSHOT if env_config.is_production else RemovalPolicy.DESTROY,
        )
        self.cluster.node.add_dependency(postgres_logs)
        self.postgres_log_group = postgres_logs.log_group
        classify(self.cluster, DataClass.SENSITIVE)
