"""P5: every load balancer of the environment listens with HTTPS under a TLS 1.2+ security policy (plain HTTP
only redirects to HTTPS) and has the web ACL the templates associate with it."""

from __future__ import annotations

from typing import Any, Final

from runtime.verify_deployed.context import Context, Missing, Unreadable, check, reading, tags
from runtime.verify_deployed.expected import APP_TAG, ENVIRONMENT_TAG
from runtime.verify_deployed.result import Checker, Result

# ELB security policies that negotiate nothing older than TLS 1.2 (the synth-time rule P5-ListenersHttpsOnly,
# stacks/policy/rules/p5_tls.py, uses this set too).
TLS12_PLUS_POLICIES: Final = frozenset({
    "ELBSecurityPolicy-TLS13-1-2-2021-06",
    "ELBSecurityPolicy-TLS13-1-2-Res-2021-06",
    "ELBSecurityPolicy-TLS13-1-2-Ext1-2021-06",
    "ELBSecurityPolicy-TLS13-1-2-Ext2-2021-06",
    "ELBSecurityPolicy-TLS13-1-2-PQ-2025-09",
    "ELBSecurityPolicy-TLS13-1-2-Res-PQ-2025-09",
    "ELBSecurityPolicy-TLS13-1-3-2021-06",
    "ELBSecurityPolicy-TLS13-1-3-PQ-2025-09",
    "ELBSecurityPolicy-TLS-1-2-2017-01",
    "ELBSecurityPolicy-TLS-1-2-Ext-2018-06",
    "ELBSecurityPolicy-FS-1-2-Res-2020-10",
    "ELBSecurityPolicy-FS-1-2-Res-2019-08",
    "ELBSecurityPolicy-FS-1-2-2019-08",
})
_TAGS_PER_CALL = 20  # DescribeTags takes up to 20 ARNs


def load_balancers(ctx: Context) -> list[str]:
    def read() -> list[str]:
        client = ctx.clients("elbv2")
        with reading("elbv2", "DescribeLoadBalancers"):
            arns = [lb["LoadBalancerArn"] for lb in client.describe_load_balancers().get("LoadBalancers", [])]
        mine = []
        for at in range(0, len(arns), _TAGS_PER_CALL):
            with reading("elbv2", "DescribeTags"):
                described = client.describe_tags(ResourceArns=arns[at:at + _TAGS_PER_CALL])["TagDescriptions"]
            for item in described:
                found = tags(item.get("Tags"))
                if found.get(APP_TAG) == ctx.app and found.get(ENVIRONMENT_TAG) == ctx.environment:
                    mine.append(str(item["ResourceArn"]))
        wanted = len(ctx.expected.resources("AWS::ElasticLoadBalancingV2::LoadBalancer"))
        if len(mine) < wanted:
            raise Unreadable(f"{len(mine)} load balancer(s) tagged for this environment, the templates have {wanted}")
        return mine
    found: list[str] = ctx.once("load_balancers", read)
    return found


def _redirects_to_https(listener: dict[str, Any]) -> bool:
    actions = listener.get("DefaultActions", [])
    return bool(actions) and all(a.get("Type") == "redirect" and a.get("RedirectConfig", {}).get("Protocol") == "HTTPS"
                                 for a in actions)


@check("edge", "listeners-https", ("P5",))
def listeners_https(ctx: Context, result: Checker) -> list[Result]:
    client = ctx.clients("elbv2")
    bad, seen = [], []
    for arn in load_balancers(ctx):
        with reading("elbv2", "DescribeListeners"):
            listeners = client.describe_listeners(LoadBalancerArn=arn)["Listeners"]
        for listener in listeners:
            protocol, port, policy = listener.get("Protocol"), listener.get("Port"), listener.get("SslPolicy")
            seen.append(listener["ListenerArn"])
            if protocol == "HTTPS" and policy not in TLS12_PLUS_POLICIES:
                bad.append(f"{arn.rsplit('/', 2)[-2]}:{port} HTTPS with {policy} (older than TLS 1.2 allowed)")
            elif protocol != "HTTPS" and not _redirects_to_https(listener):
                bad.append(f"{arn.rsplit('/', 2)[-2]}:{port} serves {protocol}")
    return [result.verdict(bool(seen) and not bad, "; ".join(bad) if bad else f"{len(seen)} listener(s): HTTPS "
                           "with TLS 1.2+ policies, HTTP only redirects", [*load_balancers(ctx), *seen])]


@check("edge", "waf-associated", ("P5",))
def waf_associated(ctx: Context, result: Checker) -> list[Result]:
    if not ctx.expected.has("AWS::WAFv2::WebACLAssociation"):
        return [result.not_applicable("the templates associate no web ACL")]
    client = ctx.clients("wafv2")
    bad, acls = [], []
    for arn in load_balancers(ctx):
        try:
            with reading("wafv2", "GetWebACLForResource"):
                acl = client.get_web_acl_for_resource(ResourceArn=arn).get("WebACL")
        except Missing:
            acl = None  # WAFNonexistentItemException: nothing associated
        if acl:
            acls.append(str(acl["ARN"]))
        else:
            bad.append(arn.rsplit("/", 2)[-2])
    return [result.verdict(not bad, f"no web ACL on {', '.join(bad)}" if bad else
                           f"every load balancer has its web ACL ({len(acls)})", [*load_balancers(ctx), *acls])]


CHECKS = (listeners_https, waf_associated)
