"""P4: the support Client VPN logs every connection and authorizes the support subnets (and the VPC's resolver)
only: exactly the destinations the templates authorize, never the whole VPC or everything."""

from __future__ import annotations

from runtime.verify_deployed.context import Context, Unreadable, check, reading
from runtime.verify_deployed.expected import APP_TAG, ENVIRONMENT_TAG
from runtime.verify_deployed.result import Checker, Result


@check("vpn", "logging-and-authorization", ("P4",))
def logging_and_authorization(ctx: Context, result: Checker) -> list[Result]:
    wanted = {str(p["TargetNetworkCidr"]) for _, _, p in ctx.expected.resources("AWS::EC2::ClientVpnAuthorizationRule")
              if isinstance(p.get("TargetNetworkCidr"), str)}
    if not ctx.expected.has("AWS::EC2::ClientVpnEndpoint"):
        return [result.not_applicable("the templates have no support VPN")]
    client = ctx.clients("ec2")
    with reading("ec2", "DescribeClientVpnEndpoints"):
        endpoints = client.describe_client_vpn_endpoints(Filters=[
            {"Name": f"tag:{APP_TAG}", "Values": [ctx.app]},
            {"Name": f"tag:{ENVIRONMENT_TAG}", "Values": [ctx.environment]}]).get("ClientVpnEndpoints", [])
    if len(endpoints) != 1:
        raise Unreadable(f"expected one Client VPN endpoint tagged for this environment, found {len(endpoints)}")
    endpoint = endpoints[0]
    endpoint_id = str(endpoint["ClientVpnEndpointId"])
    with reading("ec2", "DescribeClientVpnAuthorizationRules"):
        rules = client.describe_client_vpn_authorization_rules(ClientVpnEndpointId=endpoint_id)["AuthorizationRules"]
    logs = endpoint.get("ConnectionLogOptions", {})
    problems = [] if logs.get("Enabled") else ["connection logging off"]
    live = {str(r.get("DestinationCidr")) for r in rules if r.get("Status", {}).get("Code") != "revoking"}
    extra = sorted(live - wanted)
    everyone = [str(r.get("DestinationCidr")) for r in rules if r.get("AccessAll")]
    if extra:
        problems.append(f"authorizes destinations the templates do not: {', '.join(extra)}")
    if everyone:
        problems.append(f"authorizes every user to {', '.join(everyone)} (no group)")
    if wanted and not live & wanted:
        problems.append("authorizes none of the support subnets")
    return [result.verdict(not problems, "; ".join(problems) if problems else
                           f"connections logged to {logs.get('CloudwatchLogGroup', '?')}; authorized: "
                           f"{', '.join(sorted(live))}", [endpoint_id])]


CHECKS = (logging_and_authorization,)
