"""The support service: the same image in support mode behind an internal load balancer in the support subnets,
reachable from the support VPN on 443 only. It accepts only the staff IdP's identity (staff bearer tokens, or
sign-in at the support load balancer) with the staff role, never a customer's (P4)."""

from __future__ import annotations

from collections.abc import Mapping

from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_elasticloadbalancingv2 as elbv2
from aws_cdk import aws_iam as iam
from constructs import Construct

from runtime import settings
from stacks.constructs.runtime_service import RuntimeService
from stacks.constructs.web_acl import LoadBalancerWebAcl
from stacks.services.base import ServiceBase
from stacks.services.load_balancing import Endpoint, signed_in, target_group

SUPPORT_MIN_TASKS = 1
SUPPORT_MAX_TASKS = 2


class SupportService(RuntimeService):
    """The support API's tasks (this node) and, beside them in `scope`, the internal load balancer, its group,
    target group and web ACL (paths kept from before the split: their logical ids stay)."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        base: ServiceBase,
        support_subnets: ec2.SubnetSelection,
        vpn_security_group: ec2.ISecurityGroup,
        task_role: iam.IRole,
        environment: Mapping[str, str],
        endpoint: Endpoint,
    ) -> None:
        env_config, cluster, logs_key = base.env_config, base.cluster, base.logs_key
        super().__init__(scope, construct_id, **base.service_props(
            task_role=task_role, environment=environment, min_tasks=SUPPORT_MIN_TASKS, max_tasks=SUPPORT_MAX_TASKS,
        ))
        vpc = cluster.vpc
        self.alb_security_group = ec2.SecurityGroup(
            scope,
            "SupportAlbSecurityGroup",
            vpc=vpc,
            description="Internal support ALB: HTTPS from the support VPN only (P4)",
            allow_all_outbound=False,
        )
        self.alb_security_group.add_ingress_rule(vpn_security_group, ec2.Port.tcp(443), "HTTPS from the support VPN")
        self.load_balancer = elbv2.ApplicationLoadBalancer(
            scope,
            "SupportAlb",
            vpc=vpc,
            internet_facing=False,
            vpc_subnets=support_subnets,
            security_group=self.alb_security_group,
            drop_invalid_header_fields=True,
            deletion_protection=endpoint.deletion_protection,
        )
        self.load_balancer.log_access_logs(base.access_logs, prefix="alb/support")
        self.web_acl = LoadBalancerWebAcl(
            scope, "SupportWebAcl", env_config=env_config, logs_key=logs_key, load_balancer=self.load_balancer,
            purpose="support",
        )
        self._listener(scope, vpc, endpoint, https=env_config.hipaa)
        if endpoint.sign_in is not None:
            # Staff sign in at the support load balancer: the support service trusts ITS signed header only.
            self.container.add_environment(settings.ALB_SIGNER_ARN, self.load_balancer.load_balancer_arn)

    def _listener(self, scope: Construct, vpc: ec2.IVpc, endpoint: Endpoint, *, https: bool) -> None:
        targets = target_group(scope, "SupportTargets", vpc=vpc, service=self, https=https)
        group = self.alb_security_group
        group.add_egress_rule(self.security_group, ec2.Port.tcp(self.port), "to the support tasks")
        self.security_group.add_ingress_rule(group, ec2.Port.tcp(self.port), "from the support ALB")
        if endpoint.sign_in is not None:
            # The load balancer itself calls the staff IdP's token and user-info endpoints during sign-in.
            group.add_egress_rule(
                ec2.Peer.any_ipv4(), ec2.Port.tcp(443), "HTTPS to the staff IdP (OIDC token and user info)"
            )
        self.load_balancer.add_listener(
            "Https",
            port=443,
            protocol=elbv2.ApplicationProtocol.HTTPS,
            certificates=[elbv2.ListenerCertificate.from_arn(endpoint.certificate_arn)],
            ssl_policy=elbv2.SslPolicy.RECOMMENDED_TLS,
            default_action=signed_in(endpoint.sign_in, targets),
            open=False,
        )
