"""The machinery of the acknowledgement register: the entry type and its checks, matching a finding
id and construct path, and applying entries to a stage. The entries themselves are data, in
`stacks/policy/acknowledgements.py`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date
from fnmatch import fnmatchcase

from aws_cdk import Acknowledgment, Stage, Validations
from constructs import IConstruct

from stacks.config import EnvironmentConfig

MIN_REASON_LENGTH = 20


def _always(_: EnvironmentConfig) -> bool:
    return True


class RegisterError(Exception):
    """An acknowledgement entry is malformed or names no construct."""


@dataclass(frozen=True)
class Acknowledgement:
    rule: str
    paths: tuple[str, ...]
    reason: str
    concerns: str
    review_by: date  # after this date the entry has expired: review it, renew or remove it
    applies: Callable[[EnvironmentConfig], bool] = field(default=_always, compare=False)

    def __post_init__(self) -> None:
        if len(self.reason.strip()) < MIN_REASON_LENGTH:
            raise RegisterError(f"{self.rule}: the reason must say why, in at least {MIN_REASON_LENGTH} characters.")
        for path in self.paths:
            if len(path.split("/")) < 2 or "*" in path.split("/")[0]:
                raise RegisterError(
                    f"{self.rule}: {path!r} would acknowledge a whole stack; name the construct(s) inside it."
                )

    def names(self, stage_relative_path: str) -> bool:
        """Whether one of this entry's paths names the construct at `stage_relative_path`."""
        return any(_same_path(pattern, stage_relative_path) for pattern in self.paths)

    def rule_for(self, env_config: EnvironmentConfig, app_name: str) -> str:
        """The finding id in one environment: `{app}`, `{env}`, `{account}`, `{region}` are filled in
        (finding ids of named resources, such as IAM5 resource ARNs, contain them)."""
        return self.rule.format(app=app_name, env=env_config.name, account=env_config.account, region=env_config.region)

    def matches(self, rule: str, stage_relative_path: str, env_config: EnvironmentConfig, app_name: str) -> bool:
        """Whether this entry acknowledges finding `rule` on the construct at `stage_relative_path`.
        Like the packs, an acknowledgement on a construct covers everything below it."""
        segments = stage_relative_path.split("/")
        ancestors = ("/".join(segments[:n]) for n in range(1, len(segments) + 1))
        return rule == self.rule_for(env_config, app_name) and any(self.names(ancestor) for ancestor in ancestors)


def _same_path(pattern: str, path: str) -> bool:
    wanted, segments = pattern.split("/"), path.split("/")
    return len(wanted) == len(segments) and all(fnmatchcase(s, w) for s, w in zip(segments, wanted, strict=True))


def applicable(env_config: EnvironmentConfig, register: Iterable[Acknowledgement]) -> list[Acknowledgement]:
    return [entry for entry in register if entry.applies(env_config)]


def _walk(construct: IConstruct) -> Iterator[IConstruct]:
    yield construct
    for child in construct.node.children:
        yield from _walk(child)


def apply_register(
    stage: Stage, env_config: EnvironmentConfig, app_name: str, register: Iterable[Acknowledgement]
) -> list[tuple[Acknowledgement, str]]:
    """Acknowledge every applicable entry on the constructs it names; returns (entry, path) pairs.

    An entry that names no construct of this stage is an error: the register must stay exact.
    """
    prefix = stage.node.path + "/"
    constructs = {c.node.path[len(prefix) :]: c for c in _walk(stage) if c.node.path.startswith(prefix)}
    applied: list[tuple[Acknowledgement, str]] = []
    for entry in applicable(env_config, register):
        named = [(path, construct) for path, construct in constructs.items() if entry.names(path)]
        if not named:
            raise RegisterError(
                f"acknowledgement {entry.rule} on {', '.join(entry.paths)} names no construct in environment "
                f"{env_config.name!r}: remove the entry or fix its path (stacks/policy/acknowledgements.py)."
            )
        for path, construct in named:
            Validations.of(construct).acknowledge(
                Acknowledgment(id=entry.rule_for(env_config, app_name), reason=entry.reason)
            )
            applied.append((entry, path))
    return applied
