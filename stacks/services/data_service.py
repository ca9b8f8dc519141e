"""The data service: the owner API behind the public load balancer (HTTPS only, TLS 1.2+, WAF, access logs). It
verifies the users' IdP's bearer tokens. With ALB OIDC (qa) browser paths sign in at the load balancer first, API
paths (runtime.routes.API_PATH_PATTERNS) are forwarded as they are, so API clients are never redirected."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

from aws_cdk import CfnOutput
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_elasticloadbalancingv2 as elbv2
from aws_cdk import aws_iam as iam
from aws_cdk import aws_s3 as s3
from constructs import Construct

from runtime import settings
from runtime.routes import API_PATH_PATTERNS
from stacks.constructs.runtime_service import RuntimeService
from stacks.constructs.web_acl import LoadBalancerWebAcl
from stacks.services.base import ServiceBase
from stacks.services.load_balancing import Endpoint, signed_in, target_group

BEARER_API_RULE_PRIORITY: Final = 10  # the public listener's rule that forwards API paths without OIDC sign-in


class DataService(RuntimeService):
    """The owner API's tasks (this node) and, beside them in `scope`, the public load balancer, its target group,
    listener rules and web ACL (paths kept from before the split: their logical ids stay)."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        base: ServiceBase,
        public_subnets: ec2.SubnetSelection,
        task_role: iam.IRole,
        environment: Mapping[str, str],
        endpoint: Endpoint,
    ) -> None:
        env_config, cluster, logs_key = base.env_config, base.cluster, base.logs_key
        super().__init__(scope, construct_id, **base.service_props(
            task_role=task_role, environment=environment,
            min_tasks=env_config.service_min_tasks, max_tasks=env_config.service_max_tasks,
        ))
        self.load_balancer = self._public_load_balancer(
            scope, cluster.vpc, public_subnets, endpoint, base.access_logs, https=env_config.hipaa
        )
        if endpoint.sign_in is not None:
            # The data service trusts the x-amzn-oidc-data header only when THIS load balancer signed it.
            self.container.add_environment(settings.ALB_SIGNER_ARN, self.load_balancer.load_balancer_arn)
        self.web_acl = LoadBalancerWebAcl(
            scope, "WebAcl", env_config=env_config, logs_key=logs_key, load_balancer=self.load_balancer,
            purpose="public",
        )

    def _public_load_balancer(
        self,
        scope: Construct,
        vpc: ec2.IVpc,
        public_subnets: ec2.SubnetSelection,
        endpoint: Endpoint,
        access_logs: s3.IBucket,
        *,
        https: bool,
    ) -> elbv2.ApplicationLoadBalancer:
        alb = elbv2.ApplicationLoadBalancer(
            scope,
            "PublicAlb",
            vpc=vpc,
            internet_facing=True,
            vpc_subnets=public_subnets,
            drop_invalid_header_fields=True,
            deletion_protection=endpoint.deletion_protection,
        )
        alb.log_access_logs(access_logs, prefix="alb/public")
        targets = target_group(scope, "DataTargets", vpc=vpc, service=self, https=https)
        self.security_group.add_ingress_rule(
            alb.connections.security_groups[0], ec2.Port.tcp(self.port), "from the public ALB"
        )
        listener = alb.add_listener(
            "Https",
            port=443,
            protocol=elbv2.ApplicationProtocol.HTTPS,
            certificates=[elbv2.ListenerCertificate.from_arn(endpoint.certificate_arn)],
            ssl_policy=elbv2.SslPolicy.RECOMMENDED_TLS,
            default_action=signed_in(endpoint.sign_in, targets),
            open=True,
        )
        if endpoint.sign_in is not None:
            # API clients send bearer tokens and must never be redirected to a login page: their paths go
            # straight to the service, which verifies the token (401 without one). Browser paths sign in.
            listener.add_action(
                "BearerApi",
                priority=BEARER_API_RULE_PRIORITY,
                conditions=[elbv2.ListenerCondition.path_patterns(list(API_PATH_PATTERNS))],
                action=elbv2.ListenerAction.forward([targets]),
            )
        alb.add_redirect(source_port=80, target_port=443)
        CfnOutput(scope, "ServiceUrl", value=f"https://{endpoint.domain_name}", description="The public API")
        CfnOutput(
            scope,
            "PointDnsTo",
            value=alb.load_balancer_dns_name,
            description=f"Create a DNS alias (or CNAME) from {endpoint.domain_name} to this name",
        )
        return alb
