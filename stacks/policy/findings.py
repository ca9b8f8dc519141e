"""What every check reports, whoever ran it: a `Finding` (cdk-nag's packs, the platform pack, the
template gates), and the one id the register acknowledges it by."""

from __future__ import annotations

from dataclasses import dataclass

from stacks.policy.packs import PACKS


@dataclass(frozen=True)
class Finding:
    plugin: str
    rule: str
    severity: str
    environment: str
    path: str  # relative to the environment's stage
    description: str

    def __str__(self) -> str:
        return f"{self.severity.upper()} {self.rule} at {self.environment}/{self.path}: {self.description}"


def qualified_rule_id(plugin: str, rule: str) -> str:
    """The id that acknowledges a finding: cdk-nag rules carry their pack already
    ('AwsSolutions-IAM4[...]'), construct annotations theirs ('Annotation::...'); every other
    plugin's or gate's rules are addressed as 'Plugin-Name::RULE'."""
    if rule.startswith(tuple(f"{pack}-" for pack in PACKS)) or "::" in rule:
        return rule
    return f"{plugin.replace(' ', '-')}::{rule}"
