"""The support load balancer's name (issue 14 item 12): a Route 53 private hosted zone for `support.<domain_name>`,
associated with this environment's VPC only, whose apex is an alias to the internal support ALB. Support staff on
the VPN resolve it through the VPC's resolver; nothing outside the VPC sees it.

The zone is the support name itself, not `<domain_name>`: a private zone for the public API's name would answer
for every name under it inside the VPC and hide the public record from the tasks. The support certificate
(`support_certificate_arn`, else `certificate_arn`) must cover this name, e.g. `support.<domain_name>` or
`*.<domain_name>`."""

from __future__ import annotations

from typing import Final

from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_elasticloadbalancingv2 as elbv2
from aws_cdk import aws_route53 as route53
from aws_cdk import aws_route53_targets as targets
from constructs import Construct

SUPPORT_LABEL: Final = "support"


def support_domain_name(domain_name: str) -> str:
    """`api.example.com` -> `support.api.example.com`: derived, so it needs no config of its own."""
    return f"{SUPPORT_LABEL}.{domain_name}"


class SupportDns(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        domain_name: str,
        vpc: ec2.IVpc,
        load_balancer: elbv2.IApplicationLoadBalancer,
    ) -> None:
        super().__init__(scope, construct_id)
        self.domain_name = support_domain_name(domain_name)
        self.zone = route53.PrivateHostedZone(
            self,
            "Zone",
            zone_name=self.domain_name,
            vpc=vpc,
            comment="The support API's name, inside this environment's VPC only (P4)",
        )
        self.record = route53.ARecord(
            self,
            "Alias",
            zone=self.zone,
            target=route53.RecordTarget.from_alias(targets.LoadBalancerTarget(load_balancer)),
            comment="The internal support load balancer",
        )
