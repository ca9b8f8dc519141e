"""P1: the environment's VPC has no path to another network: no peering, no transit gateway attachment, no route
through either (or a virtual private gateway)."""

from __future__ import annotations

from typing import Any

from runtime.verify_deployed.context import Context, Unreadable, check, reading
from runtime.verify_deployed.expected import APP_TAG, ENVIRONMENT_TAG
from runtime.verify_deployed.result import Checker, Result

_LIVE = ("active", "pending-acceptance", "provisioning", "initiating-request")
# Route targets that lead out of this environment's own network (local, internet, NAT and endpoints stay inside).
_CROSSING = ("VpcPeeringConnectionId", "TransitGatewayId", "CoreNetworkArn", "LocalGatewayId", "CarrierGatewayId")


def vpc_id(ctx: Context) -> str:
    """The flow log's VPC: a literal id where the install brought its VPC, else the one tagged for this env."""
    given = [str(p["ResourceId"]) for _, _, p in ctx.expected.resources("AWS::EC2::FlowLog")
             if isinstance(p.get("ResourceId"), str)]

    def find() -> str:
        client = ctx.clients("ec2")
        if given:  # it must exist: checks of a VPC that is not there would pass on nothing
            with reading("ec2", "DescribeVpcs"):
                client.describe_vpcs(VpcIds=given[:1])
            return given[0]
        with reading("ec2", "DescribeVpcs"):
            vpcs = client.describe_vpcs(Filters=[{"Name": f"tag:{APP_TAG}", "Values": [ctx.app]},
                                                 {"Name": f"tag:{ENVIRONMENT_TAG}", "Values": [ctx.environment]}])
        found = [v["VpcId"] for v in vpcs.get("Vpcs", [])]
        if len(found) != 1:
            raise Unreadable(f"expected one VPC tagged {APP_TAG}={ctx.app}, {ENVIRONMENT_TAG}={ctx.environment}; "
                             f"found {len(found)}")
        return str(found[0])
    return str(ctx.once("vpc", find))


@check("network", "no-peering", ("P1",))
def no_peering(ctx: Context, result: Checker) -> list[Result]:
    vpc = vpc_id(ctx)
    client = ctx.clients("ec2")
    found: list[dict[str, Any]] = []
    with reading("ec2", "DescribeVpcPeeringConnections"):
        for side in ("requester-vpc-info.vpc-id", "accepter-vpc-info.vpc-id"):
            found += client.describe_vpc_peering_connections(
                Filters=[{"Name": side, "Values": [vpc]}]).get("VpcPeeringConnections", [])
    live = sorted({p["VpcPeeringConnectionId"] for p in found if p.get("Status", {}).get("Code") in _LIVE})
    return [result.verdict(not live, f"{len(live)} live peering connection(s)" + (f": {', '.join(live)}" if live
                                                                                   else ""), [vpc, *live])]


@check("network", "no-transit-gateway", ("P1",))
def no_transit_gateway(ctx: Context, result: Checker) -> list[Result]:
    vpc = vpc_id(ctx)
    client = ctx.clients("ec2")
    with reading("ec2", "DescribeTransitGatewayAttachments"):
        attachments = client.describe_transit_gateway_attachments(
            Filters=[{"Name": "resource-id", "Values": [vpc]}]).get("TransitGatewayAttachments", [])
    live = sorted(a["TransitGatewayAttachmentId"] for a in attachments
                  if a.get("State") not in ("deleted", "deleting", "rejected", "failed"))
    return [result.verdict(not live, f"{len(live)} transit gateway attachment(s)", [vpc, *live])]


@check("network", "routes-stay-inside", ("P1",))
def routes_stay_inside(ctx: Context, result: Checker) -> list[Result]:
    vpc = vpc_id(ctx)
    client = ctx.clients("ec2")
    with reading("ec2", "DescribeRouteTables"):
        tables = client.describe_route_tables(
            Filters=[{"Name": "vpc-id", "Values": [vpc]}]).get("RouteTables", [])
    crossing = []
    for table in tables:
        for route in table.get("Routes", []):
            target = next((str(route[k]) for k in _CROSSING if route.get(k)), "")
            if not target and str(route.get("GatewayId", "")).startswith("vgw-"):
                target = str(route["GatewayId"])
            if target:
                crossing.append(f"{table['RouteTableId']}: {route.get('DestinationCidrBlock', '?')} -> {target}")
    ids = [vpc, *(t["RouteTableId"] for t in tables)]
    return [result.verdict(not crossing, f"{len(tables)} route table(s); " + (
        "routes out of the environment: " + "; ".join(crossing) if crossing else "no route out of the environment"),
        ids)]


CHECKS = (no_peering, no_transit_gateway, routes_stay_inside)
