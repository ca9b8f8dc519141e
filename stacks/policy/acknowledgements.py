"""THE register of acknowledged (suppressed) policy findings. There is no other.

Each entry names the finding id exactly as the pack reports it (finding-specific where the
rule has findings, e.g. `AwsSolutions-IAM4[Policy::...]`), the construct(s) it applies to
(paths relative to the environment's stage; `*` matches within one path segment), why it
is acknowledged (at least 20 characters), and the promise (P-ID) or risk it concerns.

Rules for adding an entry:
- Fix the resource first. Acknowledge only what is not applicable or cannot be fixed.
- Never a whole stack: a path names at least a construct inside a stack.
- A stale entry (matching no finding) fails the build: remove it when the finding is gone.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
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

    def matches(self, rule: str, stage_relative_path: str) -> bool:
        """Whether this entry acknowledges finding `rule` on the construct at `stage_relative_path`.
        Like the packs, an acknowledgement on a construct covers everything below it."""
        segments = stage_relative_path.split("/")
        ancestors = ("/".join(segments[:n]) for n in range(1, len(segments) + 1))
        return rule == self.rule and any(self.names(ancestor) for ancestor in ancestors)


def _same_path(pattern: str, path: str) -> bool:
    wanted, segments = pattern.split("/"), path.split("/")
    return len(wanted) == len(segments) and all(fnmatchcase(s, w) for s, w in zip(segments, wanted, strict=True))


_INTERNET_FACING = (
    "The public tier exists only for internet-facing load balancers (HTTPS only, P5); its route "
    "table needs the default route to the internet gateway. App and data tiers have no such route."
)
_AURORA_BACKUP = (
    "Aurora is backed up per cluster: the cluster is selected in the environment's AWS Backup plan "
    "(daily + continuous). The rule looks for each DB instance, which AWS Backup cannot select alone."
)

REGISTER: tuple[Acknowledgement, ...] = (
    *(
        Acknowledgement(
            rule=f"{pack}-VPCNoUnrestrictedRouteToIGW",
            paths=("Network/Vpc/publicSubnet*/DefaultRoute",),
            reason=_INTERNET_FACING,
            concerns="P5 (public endpoints are HTTPS-only load balancers)",
        )
        for pack in ("HIPAA.Security", "NIST.800.53.R5", "PCI.DSS.321")
    ),
    *(
        Acknowledgement(
            rule=f"{pack}-RDSInBackupPlan",
            paths=("Data/Cluster/Writer", "Data/Cluster/Reader*"),
            reason=_AURORA_BACKUP,
            concerns="P9",
        )
        for pack in ("HIPAA.Security", "NIST.800.53.R5")
    ),
    Acknowledgement(
        rule="AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AmazonRDSEnhancedMonitoringRole]",
        paths=("Data/Cluster/MonitoringRole",),
        reason="AWS's service-role policy for RDS Enhanced Monitoring, maintained by AWS for exactly this role; "
        "it only writes OS metrics to the RDSOSMetrics log group.",
        concerns="least-privilege IAM",
    ),
    Acknowledgement(
        rule="AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSBackupServiceRolePolicyForBackup]",
        paths=("Backup/Plan/Database/Role",),
        reason="AWS's service-role policy for AWS Backup jobs, maintained by AWS as services gain backup "
        "support; the role is assumable only by backup.amazonaws.com.",
        concerns="least-privilege IAM, P9",
    ),
)


def applicable(env_config: EnvironmentConfig, register: Iterable[Acknowledgement] = REGISTER) -> list[Acknowledgement]:
    return [entry for entry in register if entry.applies(env_config)]


def _walk(construct: IConstruct) -> Iterator[IConstruct]:
    yield construct
    for child in construct.node.children:
        yield from _walk(child)


def apply_register(
    stage: Stage, env_config: EnvironmentConfig, register: Iterable[Acknowledgement] = REGISTER
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
            Validations.of(construct).acknowledge(Acknowledgment(id=entry.rule, reason=entry.reason))
            applied.append((entry, path))
    return applied
