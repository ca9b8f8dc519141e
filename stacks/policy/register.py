"""The machinery of the acknowledgement register: the entry type and its checks, matching a finding
id and construct path, applying entries to a stage, and judging a synth's findings against the
register (acknowledged, unacknowledged, stale, overdue). The entries themselves are data, in
`stacks/policy/acknowledgements.py`.

An entry past its review date is *overdue*. Overdue entries never break an install: by default they
are listed as warnings and the synth still passes (a release pinned by an operator must keep
synthesizing after its review dates). In strict mode (the project's own CI, `make synth STRICT=1`,
`PLATFORM_STRICT=1`) an overdue entry is *expired* and fails the build until it is reviewed.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date
from fnmatch import fnmatchcase

from aws_cdk import Acknowledgment, Stage, Validations
from constructs import IConstruct

from stacks.config import EnvironmentConfig
from stacks.policy.findings import Finding

MIN_REASON_LENGTH = 20
REGISTER_FILE = "stacks/policy/acknowledgements.py"  # where the entries are, for messages and the report


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
    review_by: date  # after this date the entry is overdue: review it, renew or remove it
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

    def covers(self, stage_relative_path: str) -> bool:
        """Whether this entry names the construct at `stage_relative_path` or one of its ancestors:
        like the packs, an acknowledgement on a construct covers everything below it."""
        segments = stage_relative_path.split("/")
        return any(self.names("/".join(segments[:n])) for n in range(1, len(segments) + 1))

    def rule_for(self, env_config: EnvironmentConfig, app_name: str) -> str:
        """The finding id in one environment: `{app}`, `{env}`, `{account}`, `{region}` are filled in
        (finding ids of named resources, such as IAM5 resource ARNs, contain them)."""
        return self.rule.format(app=app_name, env=env_config.name, account=env_config.account, region=env_config.region)

    def matches(self, rule: str, stage_relative_path: str, env_config: EnvironmentConfig, app_name: str) -> bool:
        """Whether this entry acknowledges finding `rule` on the construct at `stage_relative_path`."""
        return rule == self.rule_for(env_config, app_name) and self.covers(stage_relative_path)


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
                f"{env_config.name!r}: remove the entry or fix its path ({REGISTER_FILE})."
            )
        for path, construct in named:
            Validations.of(construct).acknowledge(
                Acknowledgment(id=entry.rule_for(env_config, app_name), reason=entry.reason)
            )
            applied.append((entry, path))
    return applied


@dataclass(frozen=True)
class Judgement:
    acknowledged: list[tuple[Finding, Acknowledgement]]
    unacknowledged: list[Finding]
    stale: list[tuple[str, Acknowledgement]]  # (environment, entry that acknowledged nothing there)
    expired: list[Acknowledgement]  # overdue entries that fail the build: strict mode only
    overdue: list[Acknowledgement] = field(default_factory=list)  # past their review date, strict or not


def overdue_entries(register: Iterable[Acknowledgement], today: date) -> list[Acknowledgement]:
    """The entries whose review date has passed (an entry is due on its review date, overdue the day after)."""
    return [entry for entry in register if entry.review_by < today]


def overdue_warning(entry: Acknowledgement) -> str:
    """One line naming an overdue entry, its review date and its reason."""
    return (
        f"{entry.rule} on {', '.join(entry.paths)}: review was due on {entry.review_by.isoformat()} "
        f"(reason: {entry.reason})"
    )


def judge(
    findings: Iterable[Finding],
    env_configs: Sequence[EnvironmentConfig],
    app_name: str,
    register: Sequence[Acknowledgement],
    *,
    today: date,
    strict: bool = False,
    unchecked_rule_prefixes: tuple[str, ...] = (),
) -> Judgement:
    """Each finding meets the first applicable entry (in register order) that acknowledges it.
    An applicable entry that acknowledged nothing in an environment is stale, unless its rule
    starts with one of `unchecked_rule_prefixes` (a check that did not run has nothing to match).
    An entry past its review date is overdue; only with `strict` is it also expired (a failure)."""
    entries = {env.name: applicable(env, register) for env in env_configs}
    by_rule: dict[tuple[str, str], list[Acknowledgement]] = {}  # (environment, finding id) -> entries
    for env in env_configs:
        for candidate in entries[env.name]:
            by_rule.setdefault((env.name, candidate.rule_for(env, app_name)), []).append(candidate)
    acknowledged: list[tuple[Finding, Acknowledgement]] = []
    unacknowledged: list[Finding] = []
    used: set[tuple[str, Acknowledgement]] = set()
    for finding in findings:
        candidates = by_rule.get((finding.environment, finding.rule), [])
        entry = next((e for e in candidates if e.covers(finding.path)), None)
        if entry is None:
            unacknowledged.append(finding)
        else:
            acknowledged.append((finding, entry))
            used.add((finding.environment, entry))
    stale = [
        (env, entry)
        for env, env_entries in entries.items()
        for entry in env_entries
        if (env, entry) not in used and not entry.rule.startswith(unchecked_rule_prefixes)
    ]
    late = overdue_entries(register, today)
    return Judgement(
        acknowledged=acknowledged,
        unacknowledged=unacknowledged,
        stale=stale,
        expired=list(late) if strict else [],
        overdue=late,
    )
