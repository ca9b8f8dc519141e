"""What both load balancers share: HTTPS listeners with TLS 1.2+, target groups that check readiness, and
optional OIDC sign-in at the load balancer (P5)."""

from __future__ import annotations

from dataclasses import dataclass

from aws_cdk import Duration, SecretValue
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_elasticloadbalancingv2 as elbv2
from constructs import Construct

from runtime.routes import READINESS_PATH
from stacks.config import OidcClient
from stacks.constructs.runtime_service import RuntimeService


@dataclass(frozen=True)
class Endpoint:
    """A load balancer's front: the name callers use, its certificate, and who signs in at it (or nobody)."""

    domain_name: str
    certificate_arn: str
    sign_in: OidcClient | None
    deletion_protection: bool


def target_group(
    scope: Construct, construct_id: str, *, vpc: ec2.IVpc, service: RuntimeService, https: bool
) -> elbv2.ApplicationTargetGroup:
    """HTTPS to the tasks in HIPAA mode (`https`), so traffic inside the VPC is encrypted too (P5)."""
    protocol = elbv2.ApplicationProtocol.HTTPS if https else elbv2.ApplicationProtocol.HTTP
    return elbv2.ApplicationTargetGroup(
        scope,
        construct_id,
        vpc=vpc,
        port=service.port,
        protocol=protocol,
        target_type=elbv2.TargetType.IP,
        targets=[service.service],
        # Readiness, not liveness: a task whose database or self-check fails gets no traffic.
        health_check=elbv2.HealthCheck(path=READINESS_PATH, protocol=elbv2.Protocol(protocol.value)),
        deregistration_delay=Duration.seconds(30),
    )


def signed_in(client: OidcClient | None, targets: elbv2.ApplicationTargetGroup) -> elbv2.ListenerAction:
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
