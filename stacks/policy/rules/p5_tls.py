"""P5: TLS 1.2+ everywhere data moves: public listeners, the database, and (HIPAA) inside the VPC."""

from __future__ import annotations

from collections.abc import Iterator

from runtime.verify_deployed.edge import TLS12_PLUS_POLICIES  # ELB policies with nothing older than TLS 1.2
from stacks.policy.rules.base import AssemblyView, Result, Rule


class ListenersHttpsOnly(Rule):
    id = "P5-ListenersHttpsOnly"
    promises = ("P5",)
    title = "Load balancer listeners serve HTTPS with a TLS 1.2+ policy; plain HTTP only redirects to HTTPS"
    explanation = "Data in transit is always encrypted with TLS 1.2 or newer; port 80 may exist only to redirect."

    def evaluate(self, view: AssemblyView) -> Iterator[Result]:
        for env in view.environments:
            for listener in view.resources(env, "AWS::ElasticLoadBalancingV2::Listener"):
                props = listener.properties
                if props.get("Protocol") == "HTTPS":
                    policy = props.get("SslPolicy")
                    yield self.result(listener, policy in TLS12_PLUS_POLICIES, f"HTTPS with {policy}")
                    continue
                actions = props.get("DefaultActions", [])
                redirects = bool(actions) and all(
                    a.get("Type") == "redirect" and a.get("RedirectConfig", {}).get("Protocol") == "HTTPS"
                    for a in actions
                )
                yield self.result(
                    listener, redirects, f"{props.get('Protocol')} " + ("redirects" if redirects else "serves")
                )


class DatabaseForcesTls(Rule):
    id = "P5-DatabaseForcesTls"
    promises = ("P5",)
    title = "The database cluster's parameter group sets rds.force_ssl = 1"
    explanation = "The server refuses plaintext connections, whatever a client asks for."

    def evaluate(self, view: AssemblyView) -> Iterator[Result]:
        for env in view.environments:
            for cluster in view.resources(env, "AWS::RDS::DBCluster"):
                group = view.resolve(env, cluster.template_path, cluster.properties.get("DBClusterParameterGroupName"))
                value = group.properties.get("Parameters", {}).get("rds.force_ssl") if group else None
                yield self.result(cluster, str(value) == "1", f"rds.force_ssl={value}")


class HipaaTargetsHttps(Rule):
    id = "P5-HipaaTargetsHttps"
    promises = ("P5",)
    title = "In HIPAA mode, load balancers reach the tasks over HTTPS"
    explanation = (
        "Self-hosted HIPAA installs encrypt traffic inside the VPC too: target groups and health checks use HTTPS."
    )

    def evaluate(self, view: AssemblyView) -> Iterator[Result]:
        for env in view.environments:
            config = view.env_config(env)
            hipaa = bool(config and config.hipaa)
            for group in view.resources(env, "AWS::ElasticLoadBalancingV2::TargetGroup"):
                protocol, health = group.properties.get("Protocol"), group.properties.get("HealthCheckProtocol")
                ok = protocol == "HTTPS" and health in (None, "HTTPS") if hipaa else None
                yield self.result(group, ok, f"{protocol} (HIPAA mode {'on' if hipaa else 'off'})")
