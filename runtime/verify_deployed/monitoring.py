"""P12, P14: the environment's CloudTrail trail is logging (multi-region, validated, KMS-encrypted), and GuardDuty
and Security Hub are on where the templates notify their findings (config guardduty/securityhub not "off")."""

from __future__ import annotations

import json

from runtime.verify_deployed.context import Context, Missing, check, reading
from runtime.verify_deployed.result import Checker, Result


def _sources(ctx: Context) -> set[str]:
    """The event sources the templates' EventBridge rules notify the incident topic of."""
    found: set[str] = set()
    for _, _, props in ctx.expected.resources("AWS::Events::Rule"):
        found |= set(json.loads(json.dumps(props.get("EventPattern", {}))).get("source", []))
    return found


@check("monitoring", "trail-logging", ("P14",))
def trail_logging(ctx: Context, result: Checker) -> list[Result]:
    trails = [str(p["TrailName"]) for _, _, p in ctx.expected.resources("AWS::CloudTrail::Trail")
              if isinstance(p.get("TrailName"), str)]
    if not trails:
        return [result.not_applicable("the templates create no trail (config cloudtrail = false: an organisation "
                                      "trail covers the account)")]
    client = ctx.clients("cloudtrail")
    with reading("cloudtrail", "DescribeTrails"):
        described = {t["Name"]: t for t in client.describe_trails(trailNameList=trails)["trailList"]}
    problems, ids = [], []
    for name in trails:
        trail = described.get(name)
        if trail is None:
            problems.append(f"trail {name} is missing")
            continue
        ids.append(str(trail.get("TrailARN", name)))
        with reading("cloudtrail", "GetTrailStatus"):
            logging = client.get_trail_status(Name=name).get("IsLogging")
        problems += [f"{name}: {what}" for what, bad in (
            ("stopped (not logging)", not logging),
            ("log file validation off", not trail.get("LogFileValidationEnabled")),
            ("not multi-region", not trail.get("IsMultiRegionTrail")),
            ("not KMS-encrypted", not trail.get("KmsKeyId"))) if bad]
    return [result.verdict(not problems, "; ".join(problems) if problems else
                           f"{', '.join(trails)} logging, multi-region, validated, KMS-encrypted", ids)]


@check("monitoring", "guardduty", ("P12",))
def guardduty(ctx: Context, result: Checker) -> list[Result]:
    if "aws.guardduty" not in _sources(ctx):
        return [result.not_applicable("config guardduty = off")]
    client = ctx.clients("guardduty")
    with reading("guardduty", "ListDetectors"):
        detectors = client.list_detectors().get("DetectorIds", [])
    enabled = []
    for detector in detectors:
        with reading("guardduty", "GetDetector"):
            if client.get_detector(DetectorId=detector).get("Status") == "ENABLED":
                enabled.append(str(detector))
    return [result.verdict(bool(enabled), f"{len(enabled)} enabled detector(s) of {len(detectors)}", detectors)]


@check("monitoring", "security-hub", ("P12",))
def security_hub(ctx: Context, result: Checker) -> list[Result]:
    if "aws.securityhub" not in _sources(ctx):
        return [result.not_applicable("config securityhub = off")]
    try:
        client = ctx.clients("securityhub")
        with reading("securityhub", "DescribeHub"):
            hub = client.describe_hub()
    except Missing:  # InvalidAccessException: the account is not subscribed
        return [result.verdict(False, "Security Hub is not enabled in this account and region")]
    return [result.verdict(True, f"Security Hub enabled since {hub.get('SubscribedAt', '?')}", [hub["HubArn"]])]


CHECKS = (trail_logging, guardduty, security_hub)
