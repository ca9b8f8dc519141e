"""The policy packs every environment is checked against at synth time."""

from collections.abc import Callable

from aws_cdk import App, IPolicyValidationPlugin, Validations
from cdk_nag import AwsSolutionsChecks, HIPAASecurityChecks, NIST80053R5Checks, PCIDSS321Checks

from stacks.config import PlatformConfig
from stacks.policy.platform_pack import PlatformPolicyPack

# Pack name as it prefixes rule ids in findings -> the pack class.
PACKS: dict[str, Callable[[App], IPolicyValidationPlugin]] = {
    "AwsSolutions": AwsSolutionsChecks,
    "HIPAA.Security": HIPAASecurityChecks,
    "NIST.800.53.R5": NIST80053R5Checks,
    "PCI.DSS.321": PCIDSS321Checks,
}


def register_policy_packs(app: App, config: PlatformConfig) -> PlatformPolicyPack:
    """cdk-nag's four packs and the platform's own; returns the latter, which keeps every result."""
    platform_pack = PlatformPolicyPack(config)
    Validations.of(app).add_plugins(*(pack(app) for pack in PACKS.values()), platform_pack)
    return platform_pack
