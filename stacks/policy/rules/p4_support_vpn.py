"""P4: support staff reach only the support tier, through a logged VPN."""

from __future__ import annotations

import ipaddress
import json
from collections.abc import Iterator

from stacks.policy.rules.base import AssemblyView, Resource, Result, Rule

SUPPORT_TIER = "support"


def support_cidrs(view: AssemblyView, env: str) -> list[str]:
    """The support subnets' ranges: from the network template, or from config for an existing VPC."""
    found = [
        str(subnet.properties["CidrBlock"])
        for subnet in view.resources(env, "AWS::EC2::Subnet")
        if subnet.tags.get("aws-cdk:subnet-name") == SUPPORT_TIER
        and isinstance(subnet.properties.get("CidrBlock"), str)
    ]
    config = view.env_config(env)
    if not found and config is not None:
        found = list(config.existing_support_subnet_cidrs)
    return found


def vpc_resolvers(view: AssemblyView, env: str) -> set[str]:
    """The Amazon-provided DNS servers (a VPC's base address + 2) of the environment's VPCs."""
    cidrs = [str(vpc.properties["CidrBlock"]) for vpc in view.resources(env, "AWS::EC2::VPC")
             if isinstance(vpc.properties.get("CidrBlock"), str)]
    config = view.env_config(env)
    if config is not None:
        cidrs.append(config.vpc_cidr)
    found = set()
    for cidr in cidrs:
        try:
            found.add(str(ipaddress.ip_network(cidr).network_address + 2))
        except ValueError:
            continue
    return found


def _key(resource: Resource) -> tuple[str, str]:
    return resource.template_path, resource.logical_id


def _within(cidr: str, allowed: list[str]) -> bool:
    try:
        network = ipaddress.ip_network(cidr)
    except ValueError:
        return False
    return any(network.subnet_of(ipaddress.ip_network(a)) for a in allowed)  # type: ignore[arg-type]


class SupportVpnConfined(Rule):
    id = "P4-SupportVpnConfined"
    promises = ("P4",)
    title = "Client VPN: connections logged, no authorize-all, rules and security groups reach the support tier only"
    explanation = (
        "Support staff may read NOT_SENSITIVE data only, over the VPN. Every authorization rule must target a "
        "support subnet (or exactly the VPC's DNS resolver, the VPN's DNS server), the VPN's security group "
        "may only leave towards the support subnets, and no security "
        "group may admit the VPN except the support load balancer's."
    )

    def evaluate(self, view: AssemblyView) -> Iterator[Result]:
        for env in view.environments:
            allowed = support_cidrs(view, env)
            resolvers = vpc_resolvers(view, env)
            rules = list(view.resources(env, "AWS::EC2::ClientVpnAuthorizationRule"))
            for endpoint in view.resources(env, "AWS::EC2::ClientVpnEndpoint"):
                yield self._endpoint(view, endpoint, allowed, resolvers, rules)

    def _endpoint(
        self, view: AssemblyView, endpoint: Resource, allowed: list[str], resolvers: set[str], rules: list[Resource]
    ) -> Result:
        env, props = endpoint.environment, endpoint.properties
        problems = []
        if not props.get("ConnectionLogOptions", {}).get("Enabled"):
            problems.append("connection logging is off")
        if not allowed:
            problems.append("no support subnets found to authorize")
        dns_servers = [str(server) for server in props.get("DnsServers", [])]
        problems += [f"DNS server {server} is not the VPC's resolver" for server in dns_servers
                     if server not in resolvers]
        resolver_targets = {f"{server}/32" for server in dns_servers if server in resolvers}
        for rule in rules:
            target = str(rule.properties.get("TargetNetworkCidr"))
            if not _within(target, allowed) and target not in resolver_targets:
                problems.append(f"authorization rule {rule.path} targets {target}, outside the support tier")
        vpn_groups = [view.resolve(env, endpoint.template_path, g) for g in props.get("SecurityGroupIds", [])]
        vpn_ids = {_key(g) for g in vpn_groups if g is not None}
        if not vpn_ids:
            problems.append("no security group of its own: its egress cannot be proven")
        for group in (g for g in vpn_groups if g is not None):
            for egress in group.properties.get("SecurityGroupEgress", []):
                cidr = egress.get("CidrIp")
                if not isinstance(cidr, str) or not _within(cidr, allowed):
                    problems.append(f"VPN security group lets traffic out to {cidr or egress}")
        problems += self._admitted_by(view, env, vpn_ids)
        return self.result(endpoint, not problems, "; ".join(problems) or "support tier only, connections logged")

    @staticmethod
    def _admitted_by(view: AssemblyView, env: str, vpn_ids: set[tuple[str, str]]) -> list[str]:
        """Security groups that admit the VPN's group must belong to internal load balancers in support subnets."""
        support_albs = {
            _key(group)
            for alb in view.resources(env, "AWS::ElasticLoadBalancingV2::LoadBalancer")
            if alb.properties.get("Scheme") == "internal"
            for group in (view.resolve(env, alb.template_path, g) for g in alb.properties.get("SecurityGroups", []))
            if group is not None
        }
        problems = []
        for ingress in view.resources(env, "AWS::EC2::SecurityGroupIngress"):
            source = view.resolve(env, ingress.template_path, ingress.properties.get("SourceSecurityGroupId"))
            if source is None or _key(source) not in vpn_ids:
                continue
            target = view.resolve(env, ingress.template_path, ingress.properties.get("GroupId"))
            if target is None or _key(target) not in support_albs:
                problems.append(f"{ingress.path} admits the VPN to {target.path if target else 'an unknown group'}")
        for group in view.resources(env, "AWS::EC2::SecurityGroup"):
            for rule in group.properties.get("SecurityGroupIngress", []):
                source = view.resolve(env, group.template_path, rule.get("SourceSecurityGroupId"))
                if source is not None and _key(source) in vpn_ids and _key(group) not in support_albs:
                    problems.append(f"{group.path} admits the VPN: {json.dumps(rule)}")
        return problems
