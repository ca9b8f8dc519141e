"""P1, P4, P7: one VPC per environment with four tiers, flow logs, and private AWS endpoints.

- public: load balancers only; instances launched there get no public IP.
- app: private subnets for the ECS tasks; internet egress only through NAT when configured.
- data: isolated subnets for Aurora; no route to an internet or NAT gateway.
- support: isolated subnets where the support VPN lands and the internal support load balancer
  listens; the VPN is authorized for these subnets only (P4).
Tasks reach every AWS API they call through VPC endpoints (`INTERFACE_ENDPOINTS`, S3 through a
gateway endpoint), with or without NAT: no AWS traffic of theirs needs the internet.
A self-hosted install may bring its own VPC (`existing_vpc_id` and subnet ids as data); the
stacks then add only a flow log to it, never routes or endpoints. What that VPC must give the app
subnets instead (endpoints or egress to the same services) is the stack output `RequiredAwsServices`,
made from the same list.
"""

from aws_cdk import CfnOutput
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_iam as iam
from aws_cdk import aws_logs as logs
from constructs import Construct

from runtime import contract
from stacks.config import EnvironmentConfig
from stacks.constructs.classification import DataClass
from stacks.constructs.encrypted_log_group import EncryptedLogGroup
from stacks.constructs.platform_stack import PlatformStack, retain_in_production
from stacks.keys import EnvironmentKeys

PUBLIC_TIER = "public"
APP_TIER = "app"
DATA_TIER = "data"
SUPPORT_TIER = "support"

# The AWS APIs the tasks call, the one list of them: endpoints of a new VPC, requirements of an existing one.
INTERFACE_ENDPOINTS = {
    "Kms": ec2.InterfaceVpcEndpointAwsService.KMS,  # envelope keys, secrets, logs
    "SecretsManager": ec2.InterfaceVpcEndpointAwsService.SECRETS_MANAGER,  # the tasks' secrets
    "EcrApi": ec2.InterfaceVpcEndpointAwsService.ECR,  # image pulls
    "EcrDocker": ec2.InterfaceVpcEndpointAwsService.ECR_DOCKER,
    "Logs": ec2.InterfaceVpcEndpointAwsService.CLOUDWATCH_LOGS,  # task logs
    "Sts": ec2.InterfaceVpcEndpointAwsService.STS,
    "Sns": ec2.InterfaceVpcEndpointAwsService.SNS,  # incidents to the incident topic (P12)
    "Email": ec2.InterfaceVpcEndpointAwsService.EMAIL,  # SES API (sesv2): breach notifications (P12)
    "Rds": ec2.InterfaceVpcEndpointAwsService.RDS,  # the RDS API: restore plan, apply and drill (P11)
    "Ecs": ec2.InterfaceVpcEndpointAwsService.ECS,  # the deploy-time database setup runs its task (issue 14 A)
}
# ECS Exec sessions (only where `ecs_exec` is on): the agent's control and data channels.
EXEC_ENDPOINTS = {"SsmMessages": ec2.InterfaceVpcEndpointAwsService.SSM_MESSAGES}
GATEWAY_ENDPOINTS = {"s3": ec2.GatewayVpcEndpointAwsService.S3}  # exports, the image's layers (ECR)


def required_endpoints(env_config: EnvironmentConfig) -> dict[str, ec2.InterfaceVpcEndpointAwsService]:
    """The interface endpoints the tasks of this environment need."""
    return {**INTERFACE_ENDPOINTS, **(EXEC_ENDPOINTS if env_config.ecs_exec else {})}


def required_services(env_config: EnvironmentConfig) -> list[str]:
    """The endpoint service names the app subnets must reach, e.g. com.amazonaws.eu-west-1.kms."""
    short_names = [
        *(service.short_name for service in required_endpoints(env_config).values()),
        *GATEWAY_ENDPOINTS,
    ]
    return [f"com.amazonaws.{env_config.region}.{name}" for name in short_names]


class NetworkStack(PlatformStack):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        env_config: EnvironmentConfig,
        app_name: str,
        keys: EnvironmentKeys,
    ) -> None:
        super().__init__(
            scope,
            construct_id,
            env_config=env_config,
            app_name=app_name,
            purpose="network",
            summary="VPC with public/app/data/support tiers, flow logs, endpoints (P1 P4)",
        )
        if env_config.uses_existing_vpc:
            self.vpc = self._existing_vpc(env_config)
            self.support_subnet_cidrs = list(env_config.existing_support_subnet_cidrs)
        else:
            self.vpc = self._new_vpc(env_config, app_name)
            support = self.vpc.select_subnets(subnet_group_name=SUPPORT_TIER).subnets
            self.support_subnet_cidrs = [subnet.ipv4_cidr_block for subnet in support]
        flow_log_group = EncryptedLogGroup(
            self,
            "FlowLogs",
            key=keys.logs,
            retention_days=env_config.log_retention_days,
            # Network metadata (addresses, ports, bytes) of this VPC; no payloads (P2, P7).
            data_class=DataClass.NOT_SENSITIVE,
            removal_policy=retain_in_production(env_config),
        )
        self._flow_log(flow_log_group.log_group, env_config)
        if not env_config.uses_existing_vpc:
            self._endpoints(env_config)
        CfnOutput(
            self,
            "RequiredAwsServices",
            value=" ".join(required_services(env_config)),
            description=(
                "AWS services the app subnets must reach privately: an interface endpoint with private DNS "
                "(S3: a gateway endpoint) for each, or egress to them through NAT"
                + (" (an existing VPC: yours to provide)" if env_config.uses_existing_vpc else " (created here)")
            ),
        )

    def _existing_vpc(self, env_config: EnvironmentConfig) -> ec2.IVpc:
        """The customer's VPC, from data only: no lookup, so synth needs no credentials."""
        return ec2.Vpc.from_vpc_attributes(
            self,
            "Vpc",
            vpc_id=env_config.existing_vpc_id or "",
            vpc_cidr_block=env_config.vpc_cidr,
            availability_zones=list(env_config.availability_zones),
            public_subnet_ids=list(env_config.existing_public_subnet_ids),
            public_subnet_names=[PUBLIC_TIER],
            private_subnet_ids=list(env_config.existing_app_subnet_ids),
            private_subnet_names=[APP_TIER],
            isolated_subnet_ids=[*env_config.existing_data_subnet_ids, *env_config.existing_support_subnet_ids],
            isolated_subnet_names=[DATA_TIER, SUPPORT_TIER],
        )

    def _new_vpc(self, env_config: EnvironmentConfig, app_name: str) -> ec2.Vpc:
        app_subnet_type = (
            ec2.SubnetType.PRIVATE_WITH_EGRESS if env_config.nat_gateways > 0 else ec2.SubnetType.PRIVATE_ISOLATED
        )
        return ec2.Vpc(
            self,
            "Vpc",
            vpc_name=contract.environment_name_prefix(app_name, env_config.name),
            ip_addresses=ec2.IpAddresses.cidr(env_config.vpc_cidr),
            availability_zones=list(env_config.availability_zones),
            nat_gateways=env_config.nat_gateways,
            restrict_default_security_group=True,
            subnet_configuration=[
                ec2.SubnetConfiguration(
                    name=PUBLIC_TIER, subnet_type=ec2.SubnetType.PUBLIC, cidr_mask=24, map_public_ip_on_launch=False
                ),
                ec2.SubnetConfiguration(name=APP_TIER, subnet_type=app_subnet_type, cidr_mask=20),
                ec2.SubnetConfiguration(name=DATA_TIER, subnet_type=ec2.SubnetType.PRIVATE_ISOLATED, cidr_mask=24),
                ec2.SubnetConfiguration(name=SUPPORT_TIER, subnet_type=ec2.SubnetType.PRIVATE_ISOLATED, cidr_mask=24),
            ],
        )

    def _endpoints(self, env_config: EnvironmentConfig) -> None:
        for name, gateway in GATEWAY_ENDPOINTS.items():
            self.vpc.add_gateway_endpoint(name.upper(), service=gateway)
        endpoint_security_group = ec2.SecurityGroup(
            self,
            "EndpointSecurityGroup",
            vpc=self.vpc,
            description="VPC interface endpoints: HTTPS from inside this VPC only",
            allow_all_outbound=False,
        )
        # The literal CIDR from config (not a token) keeps the rule provable at synth time.
        endpoint_security_group.add_ingress_rule(
            ec2.Peer.ipv4(env_config.vpc_cidr), ec2.Port.tcp(443), "HTTPS from this environment's VPC"
        )
        for name, service in required_endpoints(env_config).items():
            self.vpc.add_interface_endpoint(
                name,
                service=service,
                subnets=self.app_subnets,
                private_dns_enabled=True,
                open=False,
                security_groups=[endpoint_security_group],
            )

    def _flow_log(self, log_group: logs.ILogGroup, env_config: EnvironmentConfig) -> None:
        """Flow logs to CloudWatch, delivered by a role whose permissions are a customer-managed
        policy scoped to this one log group (no inline policy), assumable only for this account."""
        role = iam.Role(
            self,
            "FlowLogRole",
            assumed_by=iam.ServicePrincipal(
                "vpc-flow-logs.amazonaws.com", conditions={"StringEquals": {"aws:SourceAccount": env_config.account}}
            ),
            description="Delivers this VPC's flow logs to its encrypted log group",
        )
        iam.ManagedPolicy(
            self,
            "FlowLogDelivery",
            roles=[role],
            statements=[
                iam.PolicyStatement(
                    actions=["logs:CreateLogStream", "logs:PutLogEvents", "logs:DescribeLogStreams"],
                    resources=[log_group.log_group_arn],
                )
            ],
        )
        ec2.CfnFlowLog(
            self,
            "FlowLog",
            resource_id=self.vpc.vpc_id,
            resource_type="VPC",
            traffic_type="ALL",
            log_destination_type="cloud-watch-logs",
            log_group_name=log_group.log_group_name,
            deliver_logs_permission_arn=role.role_arn,
        )

    @property
    def app_subnets(self) -> ec2.SubnetSelection:
        return ec2.SubnetSelection(subnet_group_name=APP_TIER)

    @property
    def data_subnets(self) -> ec2.SubnetSelection:
        return ec2.SubnetSelection(subnet_group_name=DATA_TIER)

    @property
    def public_subnets(self) -> ec2.SubnetSelection:
        return ec2.SubnetSelection(subnet_group_name=PUBLIC_TIER)

    @property
    def support_subnets(self) -> ec2.SubnetSelection:
        return ec2.SubnetSelection(subnet_group_name=SUPPORT_TIER)
