"""The platform's own policy pack: a CDK validation plugin that runs the rules of `rules/` over
the synthesized templates of every environment, next to cdk-nag's packs.

Findings are acknowledged like any other, in the one register, with ids
`Platform-Policy::<rule id>`. Every result (compliant ones too) stays on the pack for the
compliance report.
"""

from __future__ import annotations

import jsii
from aws_cdk import (
    IPolicyValidationContext,
    IPolicyValidationPlugin,
    PolicyValidationPluginReport,
    PolicyViolatingResource,
    PolicyViolation,
)

from stacks.config import PlatformConfig
from stacks.policy.rules import ALL_RULES, AssemblyView, Result, Rule, Status

PACK_NAME = "Platform Policy"
PACK_VERSION = "1.0.0"


@jsii.implements(IPolicyValidationPlugin)
class PlatformPolicyPack:
    def __init__(self, config: PlatformConfig, rules: tuple[Rule, ...] = ALL_RULES) -> None:
        self._config = config
        self._rules = rules
        self.results: list[Result] = []

    @property
    def name(self) -> str:
        return PACK_NAME

    @property
    def version(self) -> str:
        return PACK_VERSION

    @property
    def rule_ids(self) -> list[str]:
        return [rule.id for rule in self._rules]

    def validate(self, context: IPolicyValidationContext) -> PolicyValidationPluginReport:
        view = AssemblyView(list(context.template_paths), self._config)
        self.results = [result for rule in self._rules for result in rule.evaluate(view)]
        rules = {rule.id: rule for rule in self._rules}
        violations = [
            PolicyViolation(
                rule_name=result.rule,
                description=f"{rules[result.rule].title} [{', '.join(result.promises)}]: {result.detail}",
                fix=rules[result.rule].explanation,
                severity="error",
                violating_resources=[
                    PolicyViolatingResource(
                        resource_logical_id=result.resource.logical_id,
                        template_path=result.resource.template_path,
                        locations=["Properties"],
                    )
                ],
            )
            for result in self.results
            if result.status is Status.NON_COMPLIANT
        ]
        return PolicyValidationPluginReport(success=not violations, violations=violations)
