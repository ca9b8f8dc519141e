"""P4, P5, P6, P7: the ECS cluster and the runtime's services of ONE environment.

- data service: the owner API behind the public ALB (HTTPS only, TLS 1.2+, WAF, access logs); it verifies
  the users' IdP's bearer tokens. With ALB OIDC (qa) browser paths sign in at the load balancer first, API
  paths (runtime.routes.API_PATH_PATTERNS) are forwarded as they are, so API clients are never redirected;
- support service: the same image in support mode behind an internal ALB in the support
  subnets, reachable from the support VPN on 443 only; it accepts only the staff IdP's identity (staff
  bearer tokens, or sign-in at the support ALB) with the staff role, never a customer's (P4);
- lifecycle job: the task definition that exports and erasure jobs run as (P10, P13).
Each task role may use the application key only under this environment's encryption context,
connect to the database only as its own user, and read only its own secret.
"""

import re
from pathlib import Path

from aws_cdk import CfnOutput, Duration, RemovalPolicy, SecretValue
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_ecr as ecr
from aws_cdk import aws_ecs as ecs
from aws_cdk import aws_elasticloadbalancingv2 as elbv2
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_secretsmanager as secretsmanager
from aws_cdk.aws_ecr_assets import Platform
from constructs import Construct

from runtime import settings
from runtime.contract import DATABASE_ROLES, incident_topic_name
from runtime.envelope.keyrings.base import PURPOSE as ENVELOPE_PURPOSE
from runtime.routes import API_PATH_PATTERNS, READINESS_PATH
from stacks.config import BearerIdentity, EnvironmentConfig, OidcClient
from stacks.constructs.classification import DataClass, classify
from stacks.constructs.encrypted_log_group import EncryptedLogGroup
from stacks.constructs.platform_stack import PlatformStack, retain_in_production
from stacks.constructs.runtime_service import HTTP_PORT, HTTPS_PORT, RuntimeService, add_runtime_container
from stacks.constructs.web_acl import LoadBalancerWebAcl
from stacks.data import DATABASE_NAME, DataStack
from stacks.keys import EnvironmentKeys, cluster_name
from stacks.network import APP_TIER, NetworkStack
from stacks.storage import StorageStack, exports_bucket_name, lifecycle_job_role_name

RUNTIME_DIR = Path(__file__).resolve().parent.parent / "runtime"
# Database users, one per role of issue #4's schema; each task connects only as its own.
DB_USERS = DATABASE_ROLES
ECR_IMAGE = re.compile(r"^\d{12}\.dkr\.ecr\.[a-z0-9-]+\.amazonaws\.com/(?P<repository>[^:@]+):(?P<tag>[\w.-]+)$")
RDS_CA_BUNDLE = "/app/certs/rds-global-bundle.pem"  # baked into the image (runtime/Dockerfile)
BEARER_API_RULE_PRIORITY = 10  # the public listener's rule that forwards API paths without OIDC sign-in


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
        self._env = env_config
        self._keys = keys
        self._data = data
        removal = retain_in_production(env_config)

        self.cluster = ecs.Cluster(
            self,
            "Cluster",
            cluster_name=cluster_name(app_name, env_config),
            vpc=network.vpc,
            container_insights_v2=ecs.ContainerInsights.ENABLED,
            managed_storage_configuration=ecs.ManagedStorageConfiguration(
                fargate_ephemeral_storage_kms_key=keys.compute
            ),
            execute_command_configuration=self._exec_configuration(removal) if env_config.ecs_exec else None,
        )
        image = self._image()
        # Referenced by ARN: ECS grants its execution role the secret through the key's *policy*, which
        # would make the keys stack depend on this one. The execution roles get kms:Decrypt themselves.
        secret_key = kms.Key.from_key_arn(self, "SecretsKey", keys.application.key_arn)
        self.audit_secret = secretsmanager.Secret(
            self,
            "AuditChainKey",
            description=f"{app_name} {env_config.name}: secret key of the audit hash chain (P14)",
            encryption_key=secret_key,
            generate_secret_string=secretsmanager.SecretStringGenerator(password_length=64, exclude_punctuation=True),
            removal_policy=removal,
        )
        classify(self.audit_secret, DataClass.NOT_SENSITIVE)
        secrets = {settings.AUDIT_CHAIN_KEY: ecs.Secret.from_secrets_manager(self.audit_secret)}

        # The data service: owner API behind the public load balancer.
        self.data_service = RuntimeService(
            self,
            "DataService",
            env_config=env_config,
            cluster=self.cluster,
            image=image,
            subnets=network.app_subnets,
            task_role=self._task_role("DataTaskRole", DB_USERS["data"], envelope=True),
            logs_key=keys.logs,
            environment={**self._environment("owner", DB_USERS["data"]), **self._owner_auth()},
            secrets=secrets,
            min_tasks=env_config.service_min_tasks,
            max_tasks=env_config.service_max_tasks,
        )
        self.public_alb = self._public_load_balancer(network, storage)
        if env_config.user_sign_in is not None:
            # The data service trusts the x-amzn-oidc-data header only when THIS load balancer signed it.
            self.data_service.container.add_environment(settings.ALB_SIGNER_ARN, self.public_alb.load_balancer_arn)
        self.web_acl = LoadBalancerWebAcl(
            self, "WebAcl", env_config=env_config, logs_key=keys.logs, load_balancer=self.public_alb, purpose="public"
        )

        # The support service: NOT_SENSITIVE views only, reachable from the VPN only (P4).
        self.support_service = RuntimeService(
            self,
            "SupportService",
            env_config=env_config,
            cluster=self.cluster,
            image=image,
            subnets=network.app_subnets,
            task_role=self._task_role("SupportTaskRole", DB_USERS["support"], envelope=False),
            logs_key=keys.logs,
            environment={**self._environment("support", DB_USERS["support"]), **self._support_auth()},
            secrets=secrets,
            min_tasks=1,
            max_tasks=2,
        )
        self.support_alb = self._support_load_balancer(network, storage, vpn_security_group)
        if env_config.staff_sign_in is not None:
            # Staff sign in at the support load balancer: the support service trusts ITS signed header only.
            self.support_service.container.add_environment(settings.ALB_SIGNER_ARN, self.support_alb.load_balancer_arn)

        # One-off lifecycle jobs (export, erasure) run with their own group, named in the outputs.
        self.job_security_group = ec2.SecurityGroup(
            self,
            "LifecycleJobSecurityGroup",
            vpc=network.vpc,
            description="Lifecycle job tasks (export, erasure): no inbound traffic",
            allow_all_outbound=True,
        )
        clients = {
            "DataService": self.data_service.security_group,
            "SupportService": self.support_service.security_group,
            "LifecycleJob": self.job_security_group,
        }
        for name, group in clients.items():
            # The database admits the runtime's tasks only, on its port (P5 keeps it TLS-only).
            ec2.CfnSecurityGroupIngress(
                self,
                f"DatabaseFrom{name}",
                group_id=data.security_group.security_group_id,
                source_security_group_id=group.security_group_id,
                ip_protocol="tcp",
                from_port=env_config.db_port,
                to_port=env_config.db_port,
                description=f"{name} tasks to Aurora",
            )

        self.receipt_secret = secretsmanager.Secret(
            self,
            "ErasureReceiptKey",
            description=f"{app_name} {env_config.name}: secret key that MACs erasure receipts (P10)",
            encryption_key=secret_key,
            generate_secret_string=secretsmanager.SecretStringGenerator(password_length=64, exclude_punctuation=True),
            removal_policy=removal,
        )
        classify(self.receipt_secret, DataClass.NOT_SENSITIVE)
        job_secrets = {**secrets, settings.ERASURE_RECEIPT_KEY: ecs.Secret.from_secrets_manager(self.receipt_secret)}
        self.job_task_definition = self._lifecycle_job(app_name, image, storage, job_secrets)
        CfnOutput(self, "JobTaskDefinitionArn", value=self.job_task_definition.task_definition_arn)
        CfnOutput(self, "JobSecurityGroupId", value=self.job_security_group.security_group_id)
        CfnOutput(
            self,
            "JobSubnetIds",
            value=",".join(network.vpc.select_subnets(subnet_group_name=APP_TIER).subnet_ids),
            description="Run one-off lifecycle jobs (aws ecs run-task) in these subnets with the group above",
        )
        for task in (self.data_service.task_definition, self.support_service.task_definition, self.job_task_definition):
            task.add_to_execution_role_policy(
                iam.PolicyStatement(
                    sid="DecryptItsSecretsThroughSecretsManager",
                    actions=["kms:Decrypt"],
                    resources=[keys.application.key_arn],
                    conditions={
                        "StringEquals": {"kms:ViaService": f"secretsmanager.{env_config.region}.amazonaws.com"}
                    },
                )
            )

    def _image(self) -> ecs.ContainerImage:
        """The runtime's Dockerfile (built by `cdk deploy`, not at synth), or the customer's own image:
        from ECR (the execution role gets pull rights), or any registry."""
        uri = self._env.image_uri
        if not uri:
            # Built for the tasks' X86_64 platform whatever the builder's architecture (an arm64 laptop).
            return ecs.ContainerImage.from_asset(
                str(RUNTIME_DIR), exclude=["**/__pycache__", "**/*.pyc"], platform=Platform.LINUX_AMD64
            )
        ecr_image = ECR_IMAGE.match(uri)
        if ecr_image:
            repository = ecr.Repository.from_repository_name(self, "ImageRepository", ecr_image["repository"])
            return ecs.ContainerImage.from_ecr_repository(repository, tag=ecr_image["tag"])
        return ecs.ContainerImage.from_registry(uri)

    def _exec_configuration(self, removal: RemovalPolicy) -> ecs.ExecuteCommandConfiguration:
        """ECS Exec sessions are encrypted with the compute key and every session is logged."""
        exec_logs = EncryptedLogGroup(
            self,
            "ExecSessions",
            key=self._keys.logs,
            retention_days=self._env.log_retention_days,
            # An operator's shell session in a task could print data: treat it as SENSITIVE (P7).
            data_class=DataClass.SENSITIVE,
            removal_policy=removal,
        )
        return ecs.ExecuteCommandConfiguration(
            kms_key=self._keys.compute,
            logging=ecs.ExecuteCommandLogging.OVERRIDE,
            log_configuration=ecs.ExecuteCommandLogConfiguration(
                cloud_watch_log_group=exec_logs.log_group, cloud_watch_encryption_enabled=True
            ),
        )

    def _environment(self, mode: str, db_user: str) -> dict[str, str]:
        """Plain settings only (names from runtime/settings.py); secrets go through ECS secrets. Callers'
        authentication is per service (_owner_auth, _support_auth); the lifecycle job serves no requests."""
        env = self._env
        return {
            settings.ENVIRONMENT: env.name,
            settings.SERVICE_MODE: mode,
            settings.KMS_APPLICATION_KEY_ID: self._keys.application.key_arn,
            settings.DATABASE_HOST: self._data.cluster.cluster_endpoint.hostname,
            settings.DATABASE_PORT: str(env.db_port),
            settings.DATABASE_NAME: DATABASE_NAME,
            settings.DATABASE_USER: db_user,
            settings.DATABASE_IAM_AUTH: "true",
            settings.DATABASE_CA_BUNDLE: RDS_CA_BUNDLE,
            settings.SERVICE_HOST: "0.0.0.0",  # noqa: S104 - the task's own ENI; its security group admits the ALB only
            settings.SERVICE_PORT: str(HTTPS_PORT if env.hipaa else HTTP_PORT),
            settings.SERVICE_TLS: "true" if env.hipaa else "false",
            # HIPAA: the task makes its own certificate; the load balancer encrypts to it without verifying.
            settings.SERVICE_TLS_SELF_SIGNED: "true" if env.hipaa else "false",
        }

    def _owner_auth(self) -> dict[str, str]:
        """The users' IdP: bearer tokens always; with ALB OIDC (browser paths) also the load balancer's signed
        header (ALB_SIGNER_ARN, added once the load balancer exists)."""
        mode = settings.AUTH_MODE_ALB_OIDC_OR_BEARER_JWT if self._env.user_sign_in else settings.AUTH_MODE_BEARER_JWT
        return {settings.AUTH_MODE: mode, **_bearer_settings(self._env.user_tokens)}

    def _support_auth(self) -> dict[str, str]:
        """P4: the staff IdP only, under the same variable names, and the staff role a caller must hold."""
        env = self._env
        staff = {settings.AUTH_STAFF_CLAIM: env.support_staff_claim, settings.AUTH_STAFF_ROLE: env.support_staff_role}
        tokens = env.staff_tokens
        if tokens is None:  # sign-in at the support load balancer (ALB_SIGNER_ARN added once it exists)
            return {settings.AUTH_MODE: settings.AUTH_MODE_ALB_OIDC, **staff}
        return {settings.AUTH_MODE: settings.AUTH_MODE_BEARER_JWT, **_bearer_settings(tokens), **staff}

    def _task_role(
        self,
        construct_id: str,
        db_user: str,
        *,
        envelope: bool,
        role_name: str | None = None,
        extra: list[iam.PolicyStatement] | None = None,
    ) -> iam.Role:
        role = iam.Role(
            self,
            construct_id,
            role_name=role_name,
            assumed_by=iam.ServicePrincipal("ecs-tasks.amazonaws.com"),
            description=f"{construct_id}: least privilege for the runtime (P6)",
        )
        statements = [
            iam.PolicyStatement(
                sid="ConnectAsItsOwnDatabaseUser",
                actions=["rds-db:connect"],
                resources=[
                    f"arn:{self.partition}:rds-db:{self._env.region}:{self._env.account}:dbuser:"
                    f"{self._data.cluster.cluster_resource_identifier}/{db_user}"
                ],
            )
        ]
        if envelope:
            statements.append(
                iam.PolicyStatement(
                    sid="EnvelopeDataKeysOfThisEnvironmentOnly",
                    actions=["kms:GenerateDataKey", "kms:Decrypt"],
                    resources=[self._keys.application.key_arn],
                    conditions={
                        "StringEquals": {
                            "kms:EncryptionContext:environment": self._env.name,
                            "kms:EncryptionContext:purpose": ENVELOPE_PURPOSE,
                        }
                    },
                )
            )
        iam.ManagedPolicy(self, f"{construct_id}Policy", roles=[role], statements=statements + (extra or []))
        return role

    def _target_group(self, construct_id: str, service: RuntimeService) -> elbv2.ApplicationTargetGroup:
        """HTTPS to the tasks in HIPAA mode, so traffic inside the VPC is encrypted too (P5)."""
        protocol = elbv2.ApplicationProtocol.HTTPS if self._env.hipaa else elbv2.ApplicationProtocol.HTTP
        return elbv2.ApplicationTargetGroup(
            self,
            construct_id,
            vpc=self.cluster.vpc,
            port=service.port,
            protocol=protocol,
            target_type=elbv2.TargetType.IP,
            targets=[service.service],
            # Readiness, not liveness: a task whose database or self-check fails gets no traffic.
            health_check=elbv2.HealthCheck(path=READINESS_PATH, protocol=elbv2.Protocol(protocol.value)),
            deregistration_delay=Duration.seconds(30),
        )

    def _public_load_balancer(self, network: NetworkStack, storage: StorageStack) -> elbv2.ApplicationLoadBalancer:
        env = self._env
        alb = elbv2.ApplicationLoadBalancer(
            self,
            "PublicAlb",
            vpc=network.vpc,
            internet_facing=True,
            vpc_subnets=network.public_subnets,
            drop_invalid_header_fields=True,
            deletion_protection=env.deletion_protection,
        )
        alb.log_access_logs(storage.access_logs, prefix="alb/public")
        targets = self._target_group("DataTargets", self.data_service)
        self.data_service.security_group.add_ingress_rule(
            alb.connections.security_groups[0], ec2.Port.tcp(self.data_service.port), "from the public ALB"
        )
        sign_in = env.user_sign_in
        listener = alb.add_listener(
            "Https",
            port=443,
            protocol=elbv2.ApplicationProtocol.HTTPS,
            certificates=[elbv2.ListenerCertificate.from_arn(env.certificate_arn)],
            ssl_policy=elbv2.SslPolicy.RECOMMENDED_TLS,
            default_action=self._signed_in(sign_in, targets),
            open=True,
        )
        if sign_in is not None:
            # API clients send bearer tokens and must never be redirected to a login page: their paths go
            # straight to the service, which verifies the token (401 without one). Browser paths sign in.
            listener.add_action(
                "BearerApi",
                priority=BEARER_API_RULE_PRIORITY,
                conditions=[elbv2.ListenerCondition.path_patterns(list(API_PATH_PATTERNS))],
                action=elbv2.ListenerAction.forward([targets]),
            )
        alb.add_redirect(source_port=80, target_port=443)
        CfnOutput(self, "ServiceUrl", value=f"https://{env.domain_name}", description="The public API")
        CfnOutput(
            self,
            "PointDnsTo",
            value=alb.load_balancer_dns_name,
            description=f"Create a DNS alias (or CNAME) from {env.domain_name} to this name",
        )
        return alb

    @staticmethod
    def _signed_in(client: OidcClient | None, targets: elbv2.ApplicationTargetGroup) -> elbv2.ListenerAction:
        """Forward, or first sign the caller in with the OIDC provider (then the service verifies the ALB's
        signed x-amzn-oidc-data header). The client secret is resolved at deploy, never in the template."""
        forward = elbv2.ListenerAction.forward([targets])
        if client is None:
            return forward
        return elbv2.ListenerAction.authenticate_oidc(
            issuer=client.issuer,
            authorization_endpoint=client.authorization_endpoint,
            token_endpoint=client.token_endpoint,
            user_info_endpoint=client.user_info_endpoint,
            client_id=client.client_id,
            client_secret=SecretValue.secrets_manager(client.client_secret_name),
            next=forward,
        )

    def _support_load_balancer(
        self, network: NetworkStack, storage: StorageStack, vpn_security_group: ec2.ISecurityGroup
    ) -> elbv2.ApplicationLoadBalancer:
        env = self._env
        alb_security_group = ec2.SecurityGroup(
            self,
            "SupportAlbSecurityGroup",
            vpc=network.vpc,
            description="Internal support ALB: HTTPS from the support VPN only (P4)",
            allow_all_outbound=False,
        )
        alb_security_group.add_ingress_rule(vpn_security_group, ec2.Port.tcp(443), "HTTPS from the support VPN")
        alb = elbv2.ApplicationLoadBalancer(
            self,
            "SupportAlb",
            vpc=network.vpc,
            internet_facing=False,
            vpc_subnets=network.support_subnets,
            security_group=alb_security_group,
            drop_invalid_header_fields=True,
            deletion_protection=env.deletion_protection,
        )
        alb.log_access_logs(storage.access_logs, prefix="alb/support")
        self.support_web_acl = LoadBalancerWebAcl(
            self, "SupportWebAcl", env_config=self._env, logs_key=self._keys.logs, load_balancer=alb, purpose="support"
        )
        targets = self._target_group("SupportTargets", self.support_service)
        alb_security_group.add_egress_rule(
            self.support_service.security_group, ec2.Port.tcp(self.support_service.port), "to the support tasks"
        )
        self.support_service.security_group.add_ingress_rule(
            alb_security_group, ec2.Port.tcp(self.support_service.port), "from the support ALB"
        )
        if env.staff_sign_in is not None:
            # The load balancer itself calls the staff IdP's token and user-info endpoints during sign-in.
            alb_security_group.add_egress_rule(
                ec2.Peer.any_ipv4(), ec2.Port.tcp(443), "HTTPS to the staff IdP (OIDC token and user info)"
            )
        alb.add_listener(
            "Https",
            port=443,
            protocol=elbv2.ApplicationProtocol.HTTPS,
            certificates=[elbv2.ListenerCertificate.from_arn(env.support_certificate_arn or env.certificate_arn)],
            ssl_policy=elbv2.SslPolicy.RECOMMENDED_TLS,
            default_action=self._signed_in(env.staff_sign_in, targets),
            open=False,
        )
        return alb

    def _incident_topic_arn(self, app_name: str) -> str:
        """Named in stacks/audit.py; built from its name so this stack needs no reference to that one."""
        env = self._env
        return f"arn:{self.partition}:sns:{env.region}:{env.account}:{incident_topic_name(app_name, env.name)}"

    def _job_environment(self, app_name: str) -> dict[str, str]:
        env = self._env
        variables = {
            settings.LONGEST_BACKUP_RETENTION_DAYS: str(env.longest_backup_retention_days),
            settings.EXPORTS_BUCKET: exports_bucket_name(app_name, env),
            settings.EXPORTS_KMS_KEY_ID: self._keys.exports.key_arn,
            settings.INCIDENT_TOPIC_ARN: self._incident_topic_arn(app_name),
            settings.BREACH_CONTACT: env.breach_contact,
        }
        if env.breach_sender:
            variables[settings.BREACH_SENDER] = env.breach_sender
        if self._data.cluster.secret is not None:
            # The breach drill creates and drops its scratch database as the admin (P12 drills).
            variables[settings.DATABASE_ADMIN_SECRET_ID] = self._data.cluster.secret.secret_arn
        return variables

    def _breach_statements(self, app_name: str) -> list[iam.PolicyStatement]:
        """Breach response from the job: publish to the incident topic, send notifications from the sender."""
        env = self._env
        statements = [
            iam.PolicyStatement(
                sid="PublishIncidents", actions=["sns:Publish"], resources=[self._incident_topic_arn(app_name)]
            ),
            iam.PolicyStatement(
                sid="IncidentTopicKeyThroughSnsOnly",
                actions=["kms:GenerateDataKey", "kms:Decrypt"],
                resources=[self._keys.audit.key_arn],
                conditions={"StringEquals": {"kms:ViaService": f"sns.{env.region}.amazonaws.com"}},
            ),
        ]
        if env.breach_sender:
            statements.append(
                iam.PolicyStatement(
                    sid="SendBreachNotifications",
                    actions=["ses:SendEmail", "ses:SendRawEmail"],
                    resources=[f"arn:{self.partition}:ses:{env.region}:{env.account}:identity/{env.breach_sender}"],
                )
            )
        if self._data.cluster.secret is not None:
            statements += [
                iam.PolicyStatement(
                    sid="AdminSecretForBreachDrills",
                    actions=["secretsmanager:GetSecretValue"],
                    resources=[self._data.cluster.secret.secret_arn],
                ),
                iam.PolicyStatement(
                    sid="DatabaseKeyThroughSecretsManagerOnly",
                    actions=["kms:Decrypt"],
                    resources=[self._keys.database.key_arn],
                    conditions={"StringEquals": {"kms:ViaService": f"secretsmanager.{env.region}.amazonaws.com"}},
                ),
            ]
        return statements

    def _lifecycle_job(
        self, app_name: str, image: ecs.ContainerImage, storage: StorageStack, secrets: dict[str, ecs.Secret]
    ) -> ecs.FargateTaskDefinition:
        """Exports and erasure run as one-off tasks of this definition; its role is the only one the
        export bucket lets in (a named role, so the bucket policy needs no reference to this stack)."""
        bucket_arn = f"arn:{self.partition}:s3:::{exports_bucket_name(app_name, self._env)}"
        role = self._task_role(
            "LifecycleJobRole",
            DB_USERS["job"],
            envelope=True,
            role_name=lifecycle_job_role_name(app_name, self._env),
            extra=[
                iam.PolicyStatement(
                    sid="WriteAndPresignExports",
                    actions=[
                        "s3:PutObject",
                        "s3:GetObject",
                        "s3:AbortMultipartUpload",
                        # Erasure removes an organisation's exports, every version of them (P10).
                        "s3:DeleteObject",
                        "s3:DeleteObjectVersion",
                    ],
                    resources=[f"{bucket_arn}/*"],
                ),
                iam.PolicyStatement(
                    sid="ListExports", actions=["s3:ListBucket", "s3:ListBucketVersions"], resources=[bucket_arn]
                ),
                iam.PolicyStatement(
                    sid="ExportsKeyThroughS3Only",
                    actions=["kms:GenerateDataKey", "kms:Decrypt"],
                    resources=[self._keys.exports.key_arn],
                    conditions={"StringEquals": {"kms:ViaService": f"s3.{self._env.region}.amazonaws.com"}},
                ),
                *self._breach_statements(app_name),
            ],
        )
        logs = EncryptedLogGroup(
            self,
            "LifecycleJobLogs",
            key=self._keys.logs,
            retention_days=self._env.log_retention_days,
            data_class=DataClass.NOT_SENSITIVE,
            removal_policy=retain_in_production(self._env),
        )
        task = ecs.FargateTaskDefinition(self, "LifecycleJob", cpu=1024, memory_limit_mib=4096, task_role=role)
        add_runtime_container(
            task,
            "job",
            image=image,
            command=["python", "-m", "runtime", "--help"],
            environment={**self._environment("job", DB_USERS["job"]), **self._job_environment(app_name)},
            secrets=secrets,
            logging=ecs.LogDrivers.aws_logs(stream_prefix="job", log_group=logs.log_group),
        )
        return task


def _bearer_settings(identity: BearerIdentity) -> dict[str, str]:
    """An IdP's issuer, audience and keys: by URL (the task fetches and caches them, so they can rotate), or
    the JWKS document of a file (air-gapped installs). Never both."""
    keys = {settings.JWT_JWKS_URL: identity.jwks_url} if identity.jwks_url else {settings.JWT_JWKS: identity.jwks}
    return {settings.JWT_ISSUER: identity.issuer, settings.JWT_AUDIENCE: identity.audience, **keys}
