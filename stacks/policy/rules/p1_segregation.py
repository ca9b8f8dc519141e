"""P1: environments are segregated: nothing of one references another's, address spaces apart."""

from __future__ import annotations

import ipaddress
import json
from collections.abc import Iterator

from stacks.policy.rules.base import AssemblyView, Result, Rule, referenced_stacks

PEERING_TYPES = (
    "AWS::EC2::VPCPeeringConnection",
    "AWS::EC2::TransitGatewayAttachment",
    "AWS::EC2::TransitGatewayVpcAttachment",
    "AWS::EC2::TransitGatewayPeeringAttachment",
)


class NoCrossEnvironmentReference(Rule):
    id = "P1-NoCrossEnvironmentReference"
    promises = ("P1",)
    title = "No resource of one environment references another environment's resources"
    explanation = (
        "Each environment has its own VPC, keys, roles, secrets and buckets. A cross-stack reference, an ARN "
        "in another environment's account, or another environment's key alias would create a path or a grant "
        "across environments."
    )

    def evaluate(self, view: AssemblyView) -> Iterator[Result]:
        for env in view.environments:
            own_prefix = f"{view.config.app_name}-{env}-"
            others = [e for e in view.config.environments if e.name != env]
            own_config = view.env_config(env)
            for resource in view.resources(env):
                text = json.dumps(resource.properties)
                problems = [
                    f"references stack {stack}"
                    for stack in sorted(referenced_stacks(resource.properties))
                    if not stack.startswith(own_prefix)
                ]
                for other in others:
                    if own_config is not None and other.account != own_config.account and other.account in text:
                        problems.append(f"names {other.name}'s account {other.account}")
                    app = view.config.app_name
                    if f"alias/{app}/{other.name}/" in text or f"{app}-{other.name}-" in text:
                        problems.append(f"names a resource of {other.name}")
                if resource.type in PEERING_TYPES:
                    problems.append(f"is a {resource.type}: no network path between environments")
                yield self.result(resource, not problems, "; ".join(problems) or "references only its own environment")


class DisjointAddressSpaces(Rule):
    id = "P1-DisjointAddressSpaces"
    promises = ("P1",)
    title = "Environments' VPC address ranges do not overlap"
    explanation = "Overlapping ranges invite peering or routing mistakes between environments; each gets its own."

    def evaluate(self, view: AssemblyView) -> Iterator[Result]:
        vpcs = [(env, vpc) for env in view.environments for vpc in view.resources(env, "AWS::EC2::VPC")]
        for env, vpc in vpcs:
            cidr = vpc.properties.get("CidrBlock")
            if not isinstance(cidr, str):
                yield self.result(vpc, False, "the VPC's CIDR is not a literal, so it cannot be checked")
                continue
            network = ipaddress.ip_network(cidr)
            clashes = [
                f"{other_env} ({other.properties['CidrBlock']})"
                for other_env, other in vpcs
                if other_env != env
                and isinstance(other.properties.get("CidrBlock"), str)
                and network.overlaps(ipaddress.ip_network(other.properties["CidrBlock"]))
            ]
            yield self.result(vpc, not clashes, f"overlaps {', '.join(clashes)}" if clashes else f"{cidr} is its own")
