"""P4, P5, P6, P7: the ECS cluster and the runtime's services of ONE environment, composed of the units in
stacks/services/:

- data service: the owner API behind the public ALB (stacks/services/data_service.py);
- support service: NOT_SENSITIVE views behind an internal ALB, reachable from the VPN only (support_service.py, P4);
- lifecycle job: the task definition that exports and erasure jobs run as (lifecycle_job.py, P10, P13);
- breach drill and restore: one-off tasks with roles of their own (breach_drill.py P12, restore.py P11);
- database setup: roles and schema during every deploy, before the services (stacks/constructs/database_setup.py):
  the only task that may read the master secret.
Every task declares the commands it runs (PLATFORM_TASK_COMMANDS); P3-TaskPermissionContract checks its role.
Each task role may use the application key only under this environment's encryption context,
connect to the database only as its own user, and read only its own secret.
"""

from aws_cdk import CfnOutput, Fn, Token
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_ecs as ecs
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_secretsmanager as secretsmanager
from constructs import Construct

from runtime import contract, settings
from runtime.contract import DATABASE_ROLES, JOBS_ROLE, OWNER_ROLE, ServiceMode
from runtime.permissions import SERVE_OWNER, SERVE_SUPPORT, declaration
from stacks.config import EnvironmentConfig
from stacks.constructs.classification import DataClass, classify
from stacks.constructs.database_setup import DatabaseSetup, SetupKeys
from stacks.constructs.platform_stack import PlatformStack, retain_in_production
from stacks.data import DATABASE_NAME, DataStack
from stacks.keys import EnvironmentKeys, cluster_name
from stacks.network import APP_TIER, NetworkStack
from stacks.services.audit_sequencer import AuditSequencer
from stacks.services.base import ServiceBase
from stacks.services.breach_drill import BreachDrill
from stacks.services.cluster import runtime_cluster
from stacks.services.data_service import DataService
from stacks.services.image import runtime_image
from stacks.services.key_provisioning import KeyProvisioningSchedule
from stacks.services.lifecycle_job import JobSettings, LifecycleJob
from stacks.services.load_balancing import Endpoint
from stacks.services.restore import Restore
from stacks.services.roles import (
    DatabaseUsers,
    OrganisationKeys,
    audit_signing_statement,
    checkpoint_bucket_statements,
    decrypt_secrets_through_secrets_manager,
    envelope_statement,
    receipt_signing_statement,
    task_role,
)
from stacks.services.settings import RuntimeSettings, owner_auth, support_auth
from stacks.services.support_dns import SupportDns
from stacks.services.support_service import SupportService
from stacks.storage import StorageStack

# Database users, one per role of issue #4's schema; each task connects only as its own.
DB_USERS = DATABASE_ROLES
# What the lifecycle job's task runs (PLATFORM_TASK_COMMANDS): never the drill (BreachDrill) or a restore (Restore),
# which have task definitions and roles of their own.
JOB_COMMANDS = (
    "export", "export verify", "export status",
    "erase", "erase verify", "erase register",
    "breach declare", "breach deliver", "breach status",
    "audit verify",
    "verify-deployed",  # its database families (runtime, drills) as the jobs role; the AWS ones run as the auditor
)
# With per-organisation keys the job is also their control plane (P6, P10): the one role that creates them (the
# scheduled `org provision-keys --pending`) is the one their key policies let administer them, so erasure (this
# job) can schedule their deletion; KMS refuses a CreateKey whose policy would lock its caller out.
ORG_KEY_COMMANDS = ("org provision-keys", "org key-state", "org register-key", "org cancel-key-deletion",
                    "org migrate-keys")
PER_ORGANISATION = settings.DEFAULT_KEYRING_MODE  # runtime/wiring/keyring.py's modes (config keyring_mode)
SHARED = "shared"


class ServiceStack(PlatformStack):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        env_config: EnvironmentConfig,
        app_name: str,
        keys: EnvironmentKeys,
        network: NetworkStack,
        data: DataStack,
        storage: StorageStack,
        vpn_security_group: ec2.ISecurityGroup,
    ) -> None:
        super().__init__(
            scope,
            construct_id,
            env_config=env_config,
            app_name=app_name,
            purpose="service",
            summary="ECS services behind TLS load balancers, WAF (P4 P5 P7)",
        )
        env, removal = env_config, retain_in_production(env_config)
        self._env, self._removal, self._app = env, removal, app_name
        # Erasure receipts (P10): the job signs with this key, the data service publishes its public key.
        self._receipt_key_arn = keys.receipt_signing.key_arn
        self._receipt_key = {settings.RECEIPT_SIGNING_KEY_ID: self._receipt_key_arn}
        # The audit trail's signed checkpoints (P14): the sequencer signs and writes them, jobs verify them.
        self._audit_key_arn, self._audit_bucket_key_arn = keys.audit_signing.key_arn, keys.audit.key_arn
        checkpoints = contract.audit_checkpoints_bucket_name(app_name, env.name, env.account, env.region)
        self._checkpoints_arn = f"arn:{self.partition}:s3:::{checkpoints}"
        self._audit_trail = {
            settings.AUDIT_SIGNING_KEY_ID: self._audit_key_arn, settings.AUDIT_CHECKPOINT_BUCKET: checkpoints,
            settings.AUDIT_CHECKPOINT_EVERY: str(env.audit_checkpoint_every),
            settings.AUDIT_CHECKPOINT_SECONDS: str(env.audit_checkpoint_seconds),
        }
        self.cluster = runtime_cluster(
            self, cluster_name=cluster_name(app_name, env), vpc=network.vpc, compute_key=keys.compute,
            logs_key=keys.logs, log_retention_days=env.log_retention_days, ecs_exec=env.ecs_exec, removal=removal,
        )
        image = runtime_image(self, env.image_uri)
        # Referenced by ARN: ECS grants its execution role the secret through the key's *policy*, which
        # would make the keys stack depend on this one. The execution roles get kms:Decrypt themselves.
        secret_key = kms.Key.from_key_arn(self, "SecretsKey", keys.application.key_arn)
        self.audit_secret = self._mac_key("AuditChainKey", secret_key, f"{app_name} {env.name}: secret key of "
                                          "the audit hash chain (P14)")
        secrets = {settings.AUDIT_CHAIN_KEY: ecs.Secret.from_secrets_manager(self.audit_secret)}
        runtime = RuntimeSettings(
            environment=env.name, application_key_arn=keys.application.key_arn,
            database_host=data.cluster.cluster_endpoint.hostname,
            database_port=Token.as_string(data.cluster.cluster_endpoint.port),
            database_name=DATABASE_NAME, hipaa=env.hipaa,
        )
        database = DatabaseUsers(self.partition, env.region, env.account, data.cluster.cluster_resource_identifier)
        envelope = envelope_statement(keys.application.key_arn, env.name)
        self.organisation_keys = (
            OrganisationKeys(self.partition, env.region, env.account, app_name, env.name,
                             env.key_deletion_pending_days)
            if env.keyring_mode == PER_ORGANISATION else None
        )
        self._app_name = app_name
        self._exports = self._job_settings(app_name, env, keys)
        base = ServiceBase(env, self.cluster, image, network.app_subnets, keys.logs, secrets, storage.access_logs)
        self._services(base, network, runtime, database, envelope, vpn_security_group)
        self._one_off_tasks(app_name, keys, network, data, runtime, database, envelope, secret_key, image, secrets)
        self._database_setup(keys, network, data, runtime, image)

    def _services(
        self,
        base: ServiceBase,
        network: NetworkStack,
        runtime: RuntimeSettings,
        database: DatabaseUsers,
        envelope: iam.PolicyStatement,
        vpn_security_group: ec2.ISecurityGroup,
    ) -> None:
        """The data service (owner API, public load balancer) and the support service (VPN only)."""
        env = base.env_config
        org_keys = self.organisation_keys
        # The data service: owner API behind the public load balancer.
        self.data_task_role = task_role(self, "DataTaskRole", [
            database.connect(DB_USERS["data"]), envelope,
            *([org_keys.use_statement(), *org_keys.customer_key_statements(check=True)] if org_keys else []),
            receipt_signing_statement(self._receipt_key_arn, sign=False), *self._exports.download_statements()],
            role_name=contract.data_service_role_name(self._app_name, env.name))
        self.data_service = DataService(
            self, "DataService", base=base, public_subnets=network.public_subnets,
            task_role=self.data_task_role,
            environment={**runtime.variables(ServiceMode.OWNER.value, DB_USERS["data"]), **owner_auth(env),
                         **self._keyring(), **self._key_users(), **self._receipt_key,
                         settings.TASK_COMMANDS: declaration(SERVE_OWNER),
                         settings.EXPORTS_BUCKET: self._exports.exports_bucket_name},  # the admin's downloads (P13)
            endpoint=Endpoint(env.domain_name, env.certificate_arn, env.user_sign_in, env.deletion_protection),
        )
        self.public_alb, self.web_acl = self.data_service.load_balancer, self.data_service.web_acl

        # The support service: NOT_SENSITIVE views only, reachable from the VPN only (P4).
        self.support_service = SupportService(
            self, "SupportService", base=base, support_subnets=network.support_subnets,
            vpn_security_group=vpn_security_group,
            task_role=task_role(self, "SupportTaskRole", [database.connect(DB_USERS["support"])]),
            environment={**runtime.variables(ServiceMode.SUPPORT.value, DB_USERS["support"]), **support_auth(env),
                         settings.TASK_COMMANDS: declaration(SERVE_SUPPORT)},
            endpoint=Endpoint(env.domain_name, env.support_certificate_arn or env.certificate_arn,
                              env.staff_sign_in, env.deletion_protection),
        )
        self.support_alb, self.support_web_acl = self.support_service.load_balancer, self.support_service.web_acl

        # The audit sequencer (P14): chains queued events, signs checkpoints (stacks/services/audit_sequencer.py).
        sequencer_role = task_role(self, "AuditSequencerRole", [
            database.connect(DB_USERS[contract.AUDIT_SEQUENCER]),
            audit_signing_statement(self._audit_key_arn, sign=True),
            *checkpoint_bucket_statements(self._checkpoints_arn, self._audit_bucket_key_arn, write=True),
        ], role_name=contract.audit_sequencer_role_name(self._app, env.name))
        self.audit_sequencer = AuditSequencer(
            self, "AuditSequencer", base=base, task_role=sequencer_role,
            environment={**runtime.variables(ServiceMode.SEQUENCER.value, DB_USERS[contract.AUDIT_SEQUENCER]),
                         **self._audit_trail, settings.TASK_COMMANDS: declaration("audit sequence")},
        )
        self.support_dns = SupportDns(self, "SupportDns", domain_name=env.domain_name, vpc=network.vpc,
                                      load_balancer=self.support_alb)
        CfnOutput(self, "SupportUrl", value=f"https://{self.support_dns.domain_name}",
                  description="The support API, from the support VPN (a private hosted zone of this VPC). The support "
                  "certificate (support_certificate_arn, else certificate_arn) must cover this name")

    def _one_off_tasks(
        self,
        app_name: str,
        keys: EnvironmentKeys,
        network: NetworkStack,
        data: DataStack,
        runtime: RuntimeSettings,
        database: DatabaseUsers,
        envelope: iam.PolicyStatement,
        secret_key: kms.IKey,
        image: ecs.ContainerImage,
        secrets: dict[str, ecs.Secret],
    ) -> None:
        """Tasks run on demand: the lifecycle job, the breach drill, restore; each its own role and commands."""
        env, removal = self._env, self._removal
        # One-off lifecycle jobs (export, erasure) run with their own group, named in the outputs.
        self.job_security_group = ec2.SecurityGroup(
            self, "LifecycleJobSecurityGroup", vpc=network.vpc,
            description="Lifecycle job tasks (export, erasure): no inbound traffic", allow_all_outbound=True,
        )
        self._admit_to_database(data, env.db_port, {
            "DataService": self.data_service.security_group,
            "SupportService": self.support_service.security_group,
            "LifecycleJob": self.job_security_group,
            "AuditSequencer": self.audit_sequencer.security_group,
        })
        # Receipts are signed (the receipt-signing key); this MAC key only verifies receipts issued before.
        self.receipt_secret = self._mac_key("ErasureReceiptKey", secret_key, f"{app_name} {env.name}: secret key "
                                            "that MACed erasure receipts before they were signed: verifies those "
                                            "old receipts only (P10)")
        job = self._exports
        org_keys = self.organisation_keys
        job_role_name = contract.lifecycle_job_role_name(app_name, env.name)
        job_keys: list[iam.PolicyStatement] = []
        job_keyring = self._keyring()
        commands: tuple[str, ...] = JOB_COMMANDS
        if org_keys is not None:
            job_keys = [org_keys.use_statement(rewrap=True), *org_keys.customer_key_statements(check=True),
                        *org_keys.administer_statements()]
            commands = (*JOB_COMMANDS, *ORG_KEY_COMMANDS)
            job_keyring = {**job_keyring, **self._key_users(),
                           settings.ORGANISATION_KEY_ADMIN_ROLE_ARN: self._job_role_arn(org_keys.app)}
        self.job_task_definition = LifecycleJob(
            self, "LifecycleJob", image=image, logs_key=keys.logs, log_retention_days=env.log_retention_days,
            removal=removal,
            task_role=task_role(
                self, "LifecycleJobRole",
                [database.connect(DB_USERS["job"]), envelope, *job_keys, *job.export_statements(),
                 *job.breach_statements(), receipt_signing_statement(self._receipt_key_arn, sign=True),
                 audit_signing_statement(self._audit_key_arn, sign=False),
                 *checkpoint_bucket_statements(self._checkpoints_arn, self._audit_bucket_key_arn, write=False)],
                role_name=job_role_name,
            ),
            environment={**runtime.variables(ServiceMode.JOB.value, DB_USERS["job"]), **job.variables(),
                         **job_keyring, settings.KEY_DELETION_PENDING_DAYS: str(env.key_deletion_pending_days),
                         **self._receipt_key, **self._audit_trail, settings.TASK_COMMANDS: declaration(*commands)},
            secrets={**secrets, settings.ERASURE_RECEIPT_KEY: ecs.Secret.from_secrets_manager(self.receipt_secret)},
        )
        if org_keys is not None:
            self.key_provisioning = KeyProvisioningSchedule(
                self, "KeyProvisioning", cluster=self.cluster, task_definition=self.job_task_definition,
                subnets=ec2.SubnetSelection(subnet_group_name=APP_TIER), security_group=self.job_security_group)
        self.breach_drill = BreachDrill(
            self, "BreachDrill", database=database, secrets=secrets, image=image, logs_key=keys.logs,
            log_retention_days=env.log_retention_days, removal=removal,
            environment=runtime.variables(ServiceMode.JOB.value, JOBS_ROLE),
        )
        self.restore = Restore(
            self, "Restore", database=database, source_cluster=data.cluster.cluster_identifier,
            database_key_arn=keys.database.key_arn, image=image, logs_key=keys.logs,
            log_retention_days=env.log_retention_days, removal=removal,
            environment=runtime.variables(ServiceMode.JOB.value, JOBS_ROLE),
        )
        self._job_outputs(network)
        for task in (self.data_service.task_definition, self.support_service.task_definition, self.job_task_definition,
                     self.breach_drill.task_definition):
            decrypt_secrets_through_secrets_manager(task, keys.application.key_arn, env.region)

    def _database_setup(
        self, keys: EnvironmentKeys, network: NetworkStack, data: DataStack, runtime: RuntimeSettings,
        image: ecs.ContainerImage,
    ) -> None:
        env = self._env
        # Roles and schema BEFORE any new service task serves, on every deploy (issue 14 A).
        if data.cluster.secret is None:
            raise ValueError("the database setup reads the cluster's master secret: the cluster must have one")
        self.database_setup = DatabaseSetup(
            self, "DatabaseSetup", env_config=env, cluster=self.cluster, vpc=network.vpc,
            subnets=network.app_subnets, image=image,
            keys=SetupKeys(database=keys.database, logs=keys.logs, compute=keys.compute), database=data.cluster,
            master_secret=data.cluster.secret, database_security_group=data.security_group,
            environment=runtime.variables(ServiceMode.SETUP.value, OWNER_ROLE),
        )
        self.database_setup.run_before(self.data_service.service, self.support_service.service,
                                       self.audit_sequencer.service)

    def _job_role_arn(self, app_name: str) -> str:
        """The named job role's ARN as text: its own role in its own environment, without a reference cycle."""
        name = contract.lifecycle_job_role_name(app_name, self._env.name)
        return f"arn:{self.partition}:iam::{self._env.account}:role/{name}"

    def _key_users(self) -> dict[str, str]:
        """The runtime roles an organisation key's policy admits (data service and job): the job writes them into
        the policies it creates, and both name them in the statement a customer adds to its own key (BYOK)."""
        if self.organisation_keys is None:
            return {}
        return {settings.ORGANISATION_KEY_USER_ROLE_ARNS: Fn.join(
            ",", [self.data_task_role.role_arn, self._job_role_arn(self.organisation_keys.app)])}

    def _keyring(self) -> dict[str, str]:
        """Whose key wraps the organisations' data keys (runtime/wiring/keyring.py): per organisation (their KMS
        keys, found by alias alias/<app>-<env>-org-<id>) or, where config asks for it (never prod), shared."""
        if self.organisation_keys is None:
            return {settings.KEYRING_MODE: SHARED}
        return {settings.KEYRING_MODE: PER_ORGANISATION, settings.APP_NAME: self.organisation_keys.app}

    def _mac_key(self, construct_id: str, key: kms.IKey, description: str) -> secretsmanager.Secret:
        """A NOT_SENSITIVE MAC key, generated by Secrets Manager under the application key."""
        secret = secretsmanager.Secret(
            self,
            construct_id,
            description=description,
            encryption_key=key,
            generate_secret_string=secretsmanager.SecretStringGenerator(password_length=64, exclude_punctuation=True),
            removal_policy=self._removal,
        )
        classify(secret, DataClass.NOT_SENSITIVE)
        return secret

    def _admit_to_database(self, data: DataStack, port: int, clients: dict[str, ec2.ISecurityGroup]) -> None:
        for name, group in clients.items():
            # The database admits the runtime's tasks only, on its port (P5 keeps it TLS-only).
            ec2.CfnSecurityGroupIngress(
                self,
                f"DatabaseFrom{name}",
                group_id=data.security_group.security_group_id,
                source_security_group_id=group.security_group_id,
                ip_protocol="tcp",
                from_port=port,
                to_port=port,
                description=f"{name} tasks to Aurora",
            )

    def _job_settings(self, app_name: str, env: EnvironmentConfig, keys: EnvironmentKeys) -> JobSettings:
        # The incident topic is named in stacks/audit.py; built from its name so this stack needs no reference.
        topic_name = contract.incident_topic_name(app_name, env.name)
        topic = f"arn:{self.partition}:sns:{env.region}:{env.account}:{topic_name}"
        return JobSettings(
            partition=self.partition, region=env.region, account=env.account,
            exports_bucket_name=contract.exports_bucket_name(app_name, env.name, env.account, env.region),
            exports_key_arn=keys.exports.key_arn, incident_topic_arn=topic, incident_topic_key_arn=keys.audit.key_arn,
            breach_contact=env.breach_contact, breach_sender=env.breach_sender,
            longest_backup_retention_days=env.longest_backup_retention_days,
        )

    def _job_outputs(self, network: NetworkStack) -> None:
        CfnOutput(self, "JobTaskDefinitionArn", value=self.job_task_definition.task_definition_arn,
                  description=f"Exports, erasures, breach response and audit: {', '.join(JOB_COMMANDS)}")
        CfnOutput(self, "BreachDrillTaskDefinitionArn", value=self.breach_drill.task_definition.task_definition_arn,
                  description="The yearly breach drill (P12): runs `breach drill`")
        CfnOutput(self, "RestoreTaskDefinitionArn", value=self.restore.task_definition.task_definition_arn,
                  description="Point-in-time restore (P11): restore plan, apply or drill (name it in the command)")
        CfnOutput(self, "JobSecurityGroupId", value=self.job_security_group.security_group_id)
        CfnOutput(
            self,
            "JobSubnetIds",
            value=",".join(network.vpc.select_subnets(subnet_group_name=APP_TIER).subnet_ids),
            description="Run one-off tasks (aws ecs run-task: lifecycle jobs, drills, restores) in these subnets with "
            "the group above",
        )
