"""P4: support staff reach the environment only through its Client VPN, and only the support tier.

- authentication: mutual TLS (client root certificate) or SAML federation with the support group;
- split tunnel, every connection logged to an encrypted log group;
- the VPC's own resolver (its CIDR's base address + 2) as the clients' DNS server, so support staff resolve
  the internal support load balancer's name (and private hosted zones of the VPC) while connected;
- authorization rules name the support subnets only, never the whole VPC;
- the VPN's security group lets traffic out to the support subnets on 443 and nothing else, so
  no packet from a support laptop can reach the app or data tiers or the database.
"""

import ipaddress

from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_iam as iam
from constructs import Construct

from stacks.config import EnvironmentConfig
from stacks.constructs.classification import DataClass
from stacks.constructs.encrypted_log_group import EncryptedLogGroup
from stacks.constructs.platform_stack import PlatformStack, retain_in_production
from stacks.keys import EnvironmentKeys
from stacks.network import NetworkStack


def vpc_resolver(vpc_cidr: str) -> str:
    """The Amazon-provided DNS server of a VPC: the base of its primary CIDR plus two."""
    return str(ipaddress.IPv4Network(vpc_cidr).network_address + 2)


class AccessStack(PlatformStack):
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
            purpose="access",
            summary="support Client VPN into the support tier only (P4)",
        )
        self.security_group = ec2.SecurityGroup(
            self,
            "VpnSecurityGroup",
            vpc=network.vpc,
            description="Support VPN: out to the support subnets on 443 only (P4)",
            allow_all_outbound=False,
        )
        for cidr in network.support_subnet_cidrs:
            self.security_group.add_egress_rule(ec2.Peer.ipv4(cidr), ec2.Port.tcp(443), "HTTPS to the support tier")

        connection_logs = EncryptedLogGroup(
            self,
            "ConnectionLogs",
            key=keys.logs,
            retention_days=env_config.log_retention_days,
            # Who connected when, from where: support staff, not user data (P4 requires these logs).
            data_class=DataClass.NOT_SENSITIVE,
            removal_policy=retain_in_production(env_config),
        )
        saml = (
            ec2.ClientVpnUserBasedAuthentication.federated(
                iam.SamlProvider.from_saml_provider_arn(self, "Idp", env_config.vpn_saml_provider_arn)
            )
            if env_config.vpn_saml_provider_arn
            else None
        )
        self.endpoint = ec2.ClientVpnEndpoint(
            self,
            "Vpn",
            vpc=network.vpc,
            description=f"{app_name} {env_config.name} support access (P4)",
            cidr=env_config.vpn_client_cidr,
            server_certificate_arn=env_config.vpn_server_certificate_arn,
            client_certificate_arn=env_config.vpn_client_root_certificate_arn,
            user_based_authentication=saml,
            split_tunnel=True,
            dns_servers=[vpc_resolver(env_config.vpc_cidr)],
            logging=True,
            log_group=connection_logs.log_group,
            authorize_all_users_to_vpc_cidr=False,
            vpc_subnets=network.support_subnets,
            security_groups=[self.security_group],
            session_timeout=ec2.ClientVpnSessionTimeout.EIGHT_HOURS,
            transport_protocol=ec2.TransportProtocol.TCP,
        )
        for index, cidr in enumerate(network.support_subnet_cidrs):
            self.endpoint.add_authorization_rule(
                f"SupportSubnet{index + 1}",
                cidr=cidr,
                group_id=env_config.vpn_support_group_id if saml else None,
                description="the support tier only",
            )
        # Client VPN authorizes every destination, DNS included: staff resolve the support load balancer's name
        # through the VPC's resolver, and this /32 reaches nothing else (the P4 rule accepts exactly it).
        self.endpoint.add_authorization_rule(
            "VpcResolver",
            cidr=f"{vpc_resolver(env_config.vpc_cidr)}/32",
            group_id=env_config.vpn_support_group_id if saml else None,
            description="the VPC's DNS resolver only",
        )
