"""THE register of acknowledged (suppressed) policy findings. There is no other.

Each entry names the finding id exactly as the pack reports it (finding-specific where the
rule has findings, e.g. `AwsSolutions-IAM4[Policy::...]`), the construct(s) it applies to
(paths relative to the environment's stage; `*` matches within one path segment), why it
is acknowledged (at least 20 characters), and the promise (P-ID) or risk it concerns.

Rules for adding an entry:
- Fix the resource first. Acknowledge only what is not applicable or cannot be fixed.
- Never a whole stack: a path names at least a construct inside a stack.
- A stale entry (matching no finding) fails the build: remove it when the finding is gone.
- Every entry has a review date; an expired entry fails the build until it is reviewed.
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
# The register is reviewed twice a year; entries carry the date of their next review.
NEXT_REVIEW = date(2027, 5, 31)


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
            review_by=NEXT_REVIEW,
            applies=lambda env: not env.uses_existing_vpc,  # a customer's VPC brings its own routes
        )
        for pack in ("HIPAA.Security", "NIST.800.53.R5", "PCI.DSS.321")
    ),
    *(
        Acknowledgement(
            rule=f"{pack}-RDSInBackupPlan",
            paths=("Data/Cluster/Writer", "Data/Cluster/Reader*"),
            reason=_AURORA_BACKUP,
            concerns="P9",
            review_by=NEXT_REVIEW,
        )
        for pack in ("HIPAA.Security", "NIST.800.53.R5")
    ),
    Acknowledgement(
        rule="AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AmazonRDSEnhancedMonitoringRole]",
        paths=("Data/Cluster/MonitoringRole",),
        reason="AWS's service-role policy for RDS Enhanced Monitoring, maintained by AWS for exactly this role; "
        "it only writes OS metrics to the RDSOSMetrics log group.",
        concerns="least-privilege IAM",
        review_by=NEXT_REVIEW,
    ),
    Acknowledgement(
        rule="AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSBackupServiceRolePolicyForBackup]",
        paths=("Backup/Plan/Database/Role",),
        reason="AWS's service-role policy for AWS Backup jobs, maintained by AWS as services gain backup "
        "support; the role is assumable only by backup.amazonaws.com.",
        concerns="least-privilege IAM, P9",
        review_by=NEXT_REVIEW,
    ),
    Acknowledgement(
        rule="Annotation::@aws-cdk/aws-ec2:noSubnetRouteTableId",
        paths=("Network/Vpc/*Subnet*",),
        reason="A customer's existing VPC is imported from data without route table ids: the stacks never "
        "add routes or gateway endpoints to a VPC they do not own.",
        concerns="P1 (the customer's network stays theirs)",
        review_by=NEXT_REVIEW,
        applies=lambda env: env.uses_existing_vpc,
    ),
    # --- Service, storage and audit stacks (issue #6) ---
    Acknowledgement(
        rule="AwsSolutions-IAM5[Resource::arn:aws:s3:::{app}-{env}-exports-{account}-{region}/*]",
        paths=("Service/LifecycleJobRolePolicy",),
        reason="The lifecycle job writes one object per table of an export under a fresh prefix and presigns "
        "them; object keys are not known in advance. Scoped to the one exports bucket.",
        concerns="P13",
        review_by=NEXT_REVIEW,
    ),
    Acknowledgement(
        rule="AwsSolutions-EC23",
        paths=("Service/PublicAlb/SecurityGroup",),
        reason="The public load balancer is the platform's internet endpoint: it must accept 443 (and 80, which "
        "only redirects to 443) from anywhere. WAF and TLS 1.2+ protect it.",
        concerns="P5",
        review_by=NEXT_REVIEW,
    ),
    *(
        Acknowledgement(
            rule=f"{pack}-ELBv2ACMCertificateRequired",
            paths=("Service/PublicAlb/Redirect80To443",),
            reason="The port-80 listener only answers with a permanent redirect to HTTPS; it carries no data, "
            "so it has no certificate.",
            concerns="P5",
            review_by=NEXT_REVIEW,
        )
        for pack in ("HIPAA.Security", "NIST.800.53.R5", "PCI.DSS.321")
    ),
    Acknowledgement(
        rule="AwsSolutions-ECS2",
        paths=("Service/DataService/Task", "Service/SupportService/Task", "Service/LifecycleJob"),
        reason="Only non-secret settings (names in runtime/settings.py: environment, mode, database host, key ARN) "
        "are plain variables; the only secret reaches the task through ECS secrets.",
        concerns="P7",
        review_by=NEXT_REVIEW,
    ),
    *(
        Acknowledgement(
            rule=rule,
            paths=("Service/AuditChainKey", "Service/ErasureReceiptKey"),
            reason="MAC keys of the audit chain and of erasure receipts cannot rotate on a schedule without breaking "
            "verification of what they already signed; the runtime rolls them with a signed checkpoint.",
            concerns="P14, P10",
            review_by=NEXT_REVIEW,
        )
        for rule in (
            "AwsSolutions-SMG4",
            "HIPAA.Security-SecretsManagerRotationEnabled",
            "NIST.800.53.R5-SecretsManagerRotationEnabled",
        )
    ),
    *(
        Acknowledgement(
            rule=f"{pack}-IAMNoInlinePolicy",
            paths=("Service/*/Task/ExecutionRole/DefaultPolicy", "Service/LifecycleJob/ExecutionRole/DefaultPolicy"),
            reason="CDK writes the execution role's grants (image pull, log stream, its one secret) as the role's "
            "own policy; our task roles use customer-managed policies.",
            concerns="least-privilege IAM",
            review_by=NEXT_REVIEW,
        )
        for pack in ("HIPAA.Security", "NIST.800.53.R5", "PCI.DSS.321")
    ),
    Acknowledgement(
        rule="AwsSolutions-IAM5[Resource::*]",
        paths=("Service/*/Task/ExecutionRole/DefaultPolicy", "Service/LifecycleJob/ExecutionRole/DefaultPolicy"),
        reason="ecr:GetAuthorizationToken has no resource-level permissions in IAM; it only issues a registry "
        "login token, pulls are scoped to the image's repository.",
        concerns="least-privilege IAM",
        review_by=NEXT_REVIEW,
        applies=lambda env: env.image_uri is None or ".dkr.ecr." in env.image_uri,
    ),
    *(
        Acknowledgement(
            rule=rule,
            paths=("Service/DataTaskRole/DefaultPolicy", "Service/SupportTaskRole/DefaultPolicy"),
            reason="ECS Exec (on in this environment by config) needs ssmmessages channels, which have no resource "
            "ARNs, and writes each session to its own encrypted log group.",
            concerns="P7 (sessions logged and encrypted)",
            review_by=NEXT_REVIEW,
            applies=lambda env: env.ecs_exec,
        )
        for rule in (
            "AwsSolutions-IAM5[Resource::*]",
            "AwsSolutions-IAM5[Resource::arn:aws:logs:{region}:{account}:log-group:<ExecSessionsLogGroup69849656>:*]",
            "HIPAA.Security-IAMNoInlinePolicy",
            "NIST.800.53.R5-IAMNoInlinePolicy",
            "PCI.DSS.321-IAMNoInlinePolicy",
        )
    ),
    *(
        Acknowledgement(
            rule=f"{pack}-IAMNoInlinePolicy",
            paths=("Audit/Trail/LogsRole/DefaultPolicy",),
            reason="CDK's CloudTrail construct gives its delivery role one statement for one log group, as the role's "
            "own policy; the role is assumable by cloudtrail.amazonaws.com only.",
            concerns="P14",
            review_by=NEXT_REVIEW,
            applies=lambda env: env.cloudtrail,
        )
        for pack in ("HIPAA.Security", "NIST.800.53.R5", "PCI.DSS.321")
    ),
    *(
        Acknowledgement(
            rule=f"{pack}-S3BucketReplicationEnabled",
            paths=("Storage/Exports", "Storage/AccessLogs", "Audit/TrailBucket"),
            reason="Versioned, lifecycle-bounded buckets; a replica in another region would be one more copy that "
            "retention and erasure (P10) must reach. Durability is S3's own.",
            concerns="P10, P13",
            review_by=NEXT_REVIEW,
        )
        for pack in ("HIPAA.Security", "NIST.800.53.R5", "PCI.DSS.321")
    ),
    *(
        Acknowledgement(
            rule=rule,
            paths=("Storage/AccessLogs",),
            reason="S3 server access logs and ALB access logs can only be delivered to SSE-S3 (AES-256) buckets, "
            "not SSE-KMS; the bucket holds request metadata only.",
            concerns="P6 (AWS limitation)",
            review_by=NEXT_REVIEW,
        )
        for rule in (
            "HIPAA.Security-S3DefaultEncryptionKMS",
            "NIST.800.53.R5-S3DefaultEncryptionKMS",
            "PCI.DSS.321-S3DefaultEncryptionKMS",
            "Platform-Policy::P6-CustomerManagedKeys",
        )
    ),
    Acknowledgement(
        rule="Platform-Policy::P7-SensitiveStoresConfined",
        paths=("Service/ExecSessions",),
        reason="ECS Exec sessions (dev and qa only; off in prod) are logged for accountability and classified "
        "SENSITIVE because an operator's shell could print data; the log group is KMS-encrypted.",
        concerns="P7 (an operator's session in a non-production environment)",
        review_by=NEXT_REVIEW,
        applies=lambda env: env.ecs_exec,
    ),
    # --- cfn-lint and checkov gates (issue #7) ---
    Acknowledgement(
        rule="cfn-lint::W3005",
        paths=("Audit/Trail",),
        reason="CDK's CloudTrail construct makes the trail depend on its CloudWatch Logs role, which the trail's "
        "GetAtt already implies; redundant, with no effect at deploy time.",
        concerns="template hygiene (P14 trail)",
        review_by=NEXT_REVIEW,
        applies=lambda env: env.cloudtrail,
    ),
    *(
        Acknowledgement(
            rule=rule,
            paths=("Network/Custom::VpcRestrictDefaultSGCustomResourceProvider",),
            reason="CDK's deploy-time handler that closes the default security group (P1): CloudFormation runs it "
            "once per VPC change, it calls only the EC2 API and touches no platform data; a failure fails the deploy.",
            concerns="P1 (deploy-time helper)",
            review_by=NEXT_REVIEW,
            applies=lambda env: not env.uses_existing_vpc,
        )
        for rule in ("cfn-lint::W3005", "checkov::CKV_AWS_115", "checkov::CKV_AWS_116", "checkov::CKV_AWS_117")
    ),
    Acknowledgement(
        rule="checkov::CKV_AWS_18",
        paths=("Storage/AccessLogs",),
        reason="The access-log bucket is the destination of the platform's S3 and ALB access logs; logging it into "
        "itself would loop, and into another bucket would only move the finding.",
        concerns="P14 (audit evidence)",
        review_by=NEXT_REVIEW,
    ),
    Acknowledgement(
        rule="checkov::CKV_AWS_260",
        paths=("Service/PublicAlb/SecurityGroup",),
        reason="Port 80 on the public load balancer only answers with a permanent redirect to HTTPS (the policy asks "
        "for it); no request is served over plain HTTP.",
        concerns="P5",
        review_by=NEXT_REVIEW,
    ),
)


def applicable(env_config: EnvironmentConfig, register: Iterable[Acknowledgement] = REGISTER) -> list[Acknowledgement]:
    return [entry for entry in register if entry.applies(env_config)]


def _walk(construct: IConstruct) -> Iterator[IConstruct]:
    yield construct
    for child in construct.node.children:
        yield from _walk(child)


def apply_register(
    stage: Stage, env_config: EnvironmentConfig, app_name: str, register: Iterable[Acknowledgement] = REGISTER
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
