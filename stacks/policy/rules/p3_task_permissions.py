"""P3, P6: each task role grants what its commands need, on the resources they use, and only the setup step
reaches the master secret.

A task definition declares the runtime commands it runs in PLATFORM_TASK_COMMANDS (runtime/settings.py
TASK_COMMANDS), and the runtime refuses any other; runtime/permissions.py says which IAM actions each command
needs under the task's settings, and on which KIND of resource. This rule reads the task role (`TaskRoleArn`) and
every policy on it (inline `Policies`, `AWS::IAM::Policy` and `AWS::IAM::ManagedPolicy` naming it in `Roles`, its
`ManagedPolicyArns`) and checks:
- every (action, kind) the declared commands need is allowed by one Allow statement whose Action covers the
  action (IAM wildcards honoured) AND whose Resource covers THE resource of that kind for this task (`Targets`
  below says which: what the task's own environment names). A grant of the action on another resource (ECS
  Exec's GenerateDataKey on the compute key, PutObject on the bucket ARN instead of `bucket/*`) does not count;
- no task whose commands do not read the master secret (only `db setup` does) may
  `secretsmanager:GetSecretValue` the database's master secret: by its ARN or token (the cluster's
  `MasterUserSecret.SecretArn`, a secret attached to the cluster), by a wildcard ARN that matches it, by
  `Resource: "*"` or by `NotResource`, through whichever policy.

How a Resource covers a resource: both are rendered to ARN text (`Arns`): literals as written, pseudo parameters
from the environment's config, `Fn::Join`/`Fn::Sub`, cross-stack outputs followed to the template that defines
them, and a `Ref`/`Fn::GetAtt` of a template resource turned into that resource's ARN (or name) around an opaque
token that stands for the part only deployment knows (a key id, a cluster resource id; a literal name such as
`TopicName` or `DBClusterIdentifier` is used as written). The statement's text is then an IAM pattern (`*`, `?`)
over the expected ARN: the same reference matches itself exactly, a literal ARN matches the same literal, a
wildcard matches whatever it spans (tokens included), and `*` covers everything (a grant that is too broad is other
rules' concern, not this one's). A token the rule cannot follow matches nothing but a wildcard. `NotResource`
covers what none of its patterns cover. Conditions are ignored for matching: a condition can only narrow a grant,
and the stacks' conditions (encryption context, kms:ViaService, request tags) narrow it to how the runtime calls.
Deny statements are not credited (a deny that removes a needed action is not seen; one that fences the master
secret does not excuse the grant), nor are grants in key or secret resource policies: the role's own policies
must say it.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from typing import Any

from runtime import permissions as kinds
from runtime import settings
from runtime.contract import DRILL_ROLE, JOBS_ROLE, OWNER_ROLE
from runtime.permissions import CONTRACT, READ_SECRET, Permission, may_read_master_secret, needs, parse_declaration
from stacks.policy.rules.base import AssemblyView, Resource, Result, Rule, walk

TASK_TYPE = "AWS::ECS::TaskDefinition"
POLICY_TYPES = ("AWS::IAM::Policy", "AWS::IAM::ManagedPolicy")
DATABASE_TYPES = ("AWS::RDS::DBCluster", "AWS::RDS::DBInstance")
MASTER_SECRET_ATTRIBUTE = "MasterUserSecret.SecretArn"  # noqa: S105 (an attribute name)
_UNKNOWN = "\x00"  # what a token the rule cannot render becomes in a rendered ARN: matches no pattern


@dataclass(frozen=True)
class Statement:
    where: str  # the construct path of the policy (or role) that holds it
    template_path: str  # the template its references resolve in
    body: dict[str, Any]

    @property
    def allows(self) -> bool:
        return self.body.get("Effect") == "Allow"

    def allows_action(self, action: str) -> bool:
        if not self.allows:
            return False
        if "Action" in self.body:
            return any(_matches(pattern, action) for pattern in _listed(self.body["Action"]))
        return "NotAction" in self.body and not any(_matches(p, action) for p in _listed(self.body["NotAction"]))


@cache
def _regex(pattern: str) -> re.Pattern[str]:
    return re.compile("".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern), re.I | re.S)


def _matches(pattern: object, text: str) -> bool:
    return isinstance(pattern, str) and _regex(pattern).fullmatch(text) is not None


def _listed(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _statements(holder: Resource, where: str, document: Any) -> Iterator[Statement]:
    body = document.get("Statement", []) if isinstance(document, dict) else []
    for statement in _listed(body):
        if isinstance(statement, dict):
            yield Statement(where, holder.template_path, statement)


class MasterSecrets:
    """Which statement resources name one environment's database master secret."""

    def __init__(self, view: AssemblyView, env: str) -> None:
        self._view, self._env = view, env
        config = view.env_config(env)
        self._region, self._account = (config.region, config.account) if config else ("us-east-1", "000000000000")
        self.secrets = self._attached_secrets()
        names = [s.properties.get("Name") for s in self.secrets]
        prefix = f"arn:aws:secretsmanager:{self._region}:{self._account}:secret:"
        # How their ARNs look: RDS names a managed master secret rds!cluster-<uuid>; Secrets Manager adds -XXXXXX.
        self._samples = [f"{prefix}rds!cluster-0a1b2c3d-0000-4000-8000-000000000000-AbCdEf",
                         *(f"{prefix}{n}-AbCdEf" for n in names if isinstance(n, str))]

    def _attached_secrets(self) -> list[Resource]:
        """Secrets a cluster logs its master user in with: attached to it, or resolved in its master fields."""
        found: dict[tuple[str, str], Resource] = {}
        view, env = self._view, self._env
        for attachment in view.resources(env, "AWS::SecretsManager::SecretTargetAttachment"):
            secret = view.resolve(env, attachment.template_path, attachment.properties.get("SecretId"))
            target = view.resolve(env, attachment.template_path, attachment.properties.get("TargetId"))
            if secret is not None and target is not None and target.type in DATABASE_TYPES:
                found[(secret.template_path, secret.logical_id)] = secret
        for database in view.resources(env, *DATABASE_TYPES):
            fields = [database.properties.get(k) for k in ("MasterUsername", "MasterUserPassword")]
            for item in walk(fields):
                if isinstance(item, dict) and ("Ref" in item or "Fn::GetAtt" in item):
                    secret = view.resolve(env, database.template_path, item)
                    if secret is not None and secret.type == "AWS::SecretsManager::Secret":
                        found[(secret.template_path, secret.logical_id)] = secret
        return list(found.values())

    def reached_by(self, statement: Statement) -> bool:
        if "NotResource" in statement.body:
            return True  # everything but what it lists: counted as reaching it (a list cannot prove it does not)
        return any(self._names(statement.template_path, r) for r in _listed(statement.body.get("Resource", [])))

    def _names(self, template_path: str, value: Any) -> bool:
        if isinstance(value, str):
            return self._literal(value)
        if not isinstance(value, dict):
            return isinstance(value, list) and any(self._names(template_path, v) for v in value)
        output = _output(self._view, self._env, value)
        if output is not None:
            return self._names(*output)
        if "Fn::GetAtt" in value:
            target = value["Fn::GetAtt"]
            logical_id, attribute = [*(target if isinstance(target, list) else str(target).split(".", 1)), ""][:2]
            resource = self._view.resource(self._env, template_path, str(logical_id))
            if resource is not None and resource.type in DATABASE_TYPES and attribute == MASTER_SECRET_ATTRIBUTE:
                return True
            return self._is_master(resource)
        if "Ref" in value:
            return self._is_master(self._view.resource(self._env, template_path, str(value["Ref"])))
        if "Fn::Join" in value and self._literal(self._render(template_path, value)):
            return True
        return any(self._names(template_path, v) for v in value.values())

    def _is_master(self, resource: Resource | None) -> bool:
        return resource is not None and any(
            (s.template_path, s.logical_id) == (resource.template_path, resource.logical_id) for s in self.secrets)

    def _render(self, template_path: str, value: Any) -> str:
        """A Fn::Join as text: pseudo parameters filled in, any other token unmatched."""
        if isinstance(value, str):
            return value
        if isinstance(value, dict) and "Fn::Join" in value:
            separator, parts = value["Fn::Join"]
            return str(separator).join(self._render(template_path, p) for p in parts)
        pseudo = {"AWS::Region": self._region, "AWS::AccountId": self._account, "AWS::Partition": "aws"}
        if isinstance(value, dict) and value.get("Ref") in pseudo:
            return pseudo[value["Ref"]]
        return _UNKNOWN

    def _literal(self, arn: str) -> bool:
        if "*" in arn or "?" in arn:
            return any(_matches(arn, sample) for sample in self._samples)
        return ":secret:rds!" in arn  # an RDS-managed master secret, by its ARN


_MARK = "\x01"  # delimits an opaque token in rendered ARN text (`Arns`): "\x01<n>\x01"
_MARK_RE = re.compile("\x01([0-9]+)\x01")
PSEUDO_PARAMETERS = ("AWS::Region", "AWS::AccountId", "AWS::Partition", "AWS::URLSuffix")


@cache
def _resource_regex(pattern: str) -> re.Pattern[str]:
    """A rendered Resource as a regex: IAM wildcards in its text, its tokens literal (case-sensitive, as IAM)."""
    parts = pattern.split(_MARK)
    regex = "".join(re.escape(f"{_MARK}{part}{_MARK}") if i % 2 else
                    "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in part)
                    for i, part in enumerate(parts))
    return re.compile(regex, re.S)


def _covers(pattern: str, arn: str) -> bool:
    return _resource_regex(pattern).fullmatch(arn) is not None


class Arns:
    """Template values of one environment rendered as ARN text, a reference to a template resource as its ARN or
    name around an opaque token (the same token for the same resource and attribute, from whichever template)."""

    def __init__(self, view: AssemblyView, env: str) -> None:
        self._view, self._env = view, env
        config = view.env_config(env)
        self.region, self.account = (config.region, config.account) if config else ("us-east-1", "000000000000")
        self.partition = "aws"
        self._tokens: dict[tuple[str, ...], str] = {}
        self._shown: list[str] = []

    def token(self, *key: str, shown: str) -> str:
        """The token for `key` (a fresh one for each unknown value: it equals nothing)."""
        if key and key in self._tokens:
            return self._tokens[key]
        text = f"{_MARK}{len(self._shown)}{_MARK}"
        self._shown.append(shown)
        if key:
            self._tokens[key] = text
        return text

    def unknown(self, what: str = "unresolved") -> str:
        return self.token(shown=what)

    def show(self, text: str) -> str:
        """Rendered text for a finding: each token as <what it stands for>."""
        return _MARK_RE.sub(lambda m: f"<{self._shown[int(m.group(1))]}>", text)

    def arn(self, service: str, resource: str, *, region: bool = True, account: bool = True) -> str:
        return (f"arn:{self.partition}:{service}:{self.region if region else ''}:"
                f"{self.account if account else ''}:{resource}")

    def render(self, template_path: str, value: Any) -> str:
        if isinstance(value, str):
            return value
        if not isinstance(value, dict):
            return self.unknown()
        if "Ref" in value:
            name = str(value["Ref"])
            if name in PSEUDO_PARAMETERS:
                return self._pseudo(name)
            resource = self._view.resource(self._env, template_path, name)
            return self.attribute(resource, "") if resource else self.unknown(name)
        if "Fn::GetAtt" in value:
            target = value["Fn::GetAtt"]
            logical_id, attribute = [*(target if isinstance(target, list) else str(target).split(".", 1)), ""][:2]
            resource = self._view.resource(self._env, template_path, str(logical_id))
            return self.attribute(resource, str(attribute)) if resource else self.unknown(f"{logical_id}.{attribute}")
        if "Fn::Join" in value:
            joined = value["Fn::Join"]
            if isinstance(joined, list) and len(joined) == 2 and isinstance(joined[1], list):
                return str(joined[0]).join(self.render(template_path, p) for p in joined[1])
            return self.unknown()
        if "Fn::Sub" in value and isinstance(value["Fn::Sub"], str):
            return re.sub(r"\$\{([^}!][^}]*)\}", lambda m: self._substitution(template_path, m.group(1)),
                          value["Fn::Sub"])
        output = _output(self._view, self._env, value)
        if output is not None:
            return self.render(*output)
        return self.unknown()

    def _substitution(self, template_path: str, name: str) -> str:
        if name in PSEUDO_PARAMETERS or "." not in name:
            return self.render(template_path, {"Ref": name})
        return self.render(template_path, {"Fn::GetAtt": name.split(".", 1)})

    def _pseudo(self, name: str) -> str:
        return {"AWS::Region": self.region, "AWS::AccountId": self.account, "AWS::Partition": self.partition,
                "AWS::URLSuffix": "amazonaws.com"}[name]

    def attribute(self, resource: Resource, attribute: str) -> str:
        """What `Ref` (attribute "") or `Fn::GetAtt` of `resource` returns, as ARN text."""
        props = resource.properties

        def token(what: str) -> str:
            return self.token(resource.template_path, resource.logical_id, what, shown=f"{resource.path} {what}")

        def literal(name: str) -> str | None:
            value = props.get(name)
            return value if isinstance(value, str) else None

        if resource.type == "AWS::KMS::Key":
            key_id = token("KeyId")
            return self.arn("kms", f"key/{key_id}") if attribute == "Arn" else key_id
        if resource.type == "AWS::S3::Bucket":
            name = literal("BucketName")
            prefix = literal("BucketNamePrefix")
            if name is None and prefix is not None and props.get("BucketNamespace") == "account-regional":
                name = f"{prefix}-{self.account}-{self.region}-an"
            name = name or token("BucketName")
            return self.arn("s3", name, region=False, account=False) if attribute == "Arn" else name
        if resource.type == "AWS::SNS::Topic":
            name = literal("TopicName") or token("TopicName")
            return name if attribute == "TopicName" else self.arn("sns", name)
        if resource.type == "AWS::SecretsManager::Secret" and attribute in ("", "Id"):
            name = literal("Name")
            return self.arn("secretsmanager", f"secret:{name + '-' if name else ''}{token('SecretId')}")
        if resource.type == "AWS::RDS::DBCluster":
            identifier = (literal("DBClusterIdentifier") or "").lower() or token("DBClusterIdentifier")
            if attribute == "":
                return identifier
            if attribute == "DBClusterArn":
                return self.arn("rds", f"cluster:{identifier}")
            if attribute == MASTER_SECRET_ATTRIBUTE:
                return self.arn("secretsmanager", f"secret:rds!cluster-{token('MasterUserSecret')}")
        return token(attribute or "Ref")

    def key_arn(self, template_path: str, value: Any) -> str:
        """The key ARN a key setting names: a key id or ARN, or an alias (of a template `AWS::KMS::Alias`)."""
        text = self.render(template_path, value)
        alias = text.split(":", 5)[-1] if text.startswith("arn:") else text
        if alias.startswith("alias/"):
            for resource in self._view.resources(self._env, "AWS::KMS::Alias"):
                if resource.properties.get("AliasName") == alias:
                    return self.key_arn(resource.template_path, resource.properties.get("TargetKeyId"))
            return self.arn("kms", f"key/{self.unknown(f'the key of {alias}')}")
        return text if text.startswith("arn:") else self.arn("kms", f"key/{text}")


def _output(view: AssemblyView, env: str, value: dict[str, Any]) -> tuple[str, Any] | None:
    """(template path, value) of the stack output a cross-stack reference reads."""
    if "Fn::GetStackOutput" in value:
        name = str(value["Fn::GetStackOutput"].get("OutputName"))
    elif "Fn::ImportValue" in value:
        name = str(value["Fn::ImportValue"]).split(":", 1)[-1]
    else:
        return None
    for path, template in view.templates(env).items():
        output = template.get("Outputs", {}).get(name)
        if output is not None:
            return path, output.get("Value")
    return None


@dataclass(frozen=True)
class Target:
    """The resource a permission needs, as ARN text; `alternatives`: other ARNs that serve the same call."""

    arn: str
    alternatives: tuple[str, ...] = ()

    @property
    def forms(self) -> tuple[str, ...]:
        return (self.arn, *self.alternatives)


# The RDS resource type each restore action is authorized on. The describe calls read the task's own cluster; the
# create, tag and delete calls act on clusters and instances the restore names at run time (`--target`, or a name
# derived from the source), so their ARN is `arn:...:rds:<region>:<account>:<type>:<any id>`: only a grant whose id
# part is a wildcard covers it (the restore role's `arn:...:rds:<region>:<account>:*`, fenced by tag conditions).
RDS_RESOURCE_TYPES: dict[str, tuple[str, ...]] = {
    "rds:DescribeDBClusters": ("cluster",),
    "rds:DescribeDBInstances": ("db",),
    "rds:DescribeDBClusterParameters": ("cluster-pg",),
    "rds:RestoreDBClusterToPointInTime": ("cluster",),
    "rds:CreateDBInstance": ("db",),
    "rds:AddTagsToResource": ("cluster", "db"),
    "rds:DeleteDBInstance": ("db",),
    "rds:DeleteDBCluster": ("cluster",),
}


class Targets:
    """THE resource of each kind (runtime/permissions.py) for one task, from what its own environment names.

    application key   PLATFORM_KMS_APPLICATION_KEY_ID (key id, ARN or alias) -> the key's ARN
    organisation keys `arn:...:kms:<region>:<account>:key/<any id>`; for CreateAlias also the alias
                      `alias/<PLATFORM_APP_NAME>-<PLATFORM_ENVIRONMENT>-org-<any id>`; CreateKey: only `*` covers it
    customer keys     organisations' own keys (BYOK): `arn:...:kms:<region>:<any account>:key/<any id>`
    receipt signing key  PLATFORM_RECEIPT_SIGNING_KEY_ID -> the key's ARN (the same way); audit signing key:
                      PLATFORM_AUDIT_SIGNING_KEY_ID
    audit checkpoint bucket  PLATFORM_AUDIT_CHECKPOINT_BUCKET, as the exports bucket; its key: that bucket's
                      default KMS key
    exports bucket    PLATFORM_EXPORTS_BUCKET: object actions on `arn:aws:s3:::<bucket>/<any key>` (a grant must
                      cover `<bucket>/*`), bucket actions (`...Bucket...`) on `arn:aws:s3:::<bucket>`
    exports key       PLATFORM_EXPORTS_KMS_KEY_ID -> the key's ARN; unset, the exports bucket's default KMS key
    incident topic    PLATFORM_INCIDENT_TOPIC_ARN; its key: the `KmsMasterKeyId` of the template topic with that ARN
    breach sender     PLATFORM_BREACH_SENDER -> `arn:aws:ses:<region>:<account>:identity/<address>` (or the identity
                      of its domain, which SES authorizes when the address is not verified itself)
    database user     `arn:aws:rds-db:<region>:<account>:dbuser:<cluster resource id>/<PLATFORM_DATABASE_USER>`
    migration owner   the same for runtime.contract.OWNER_ROLE; drill database users: DRILL_ROLE and JOBS_ROLE
    master secret     the cluster's `MasterUserSecret.SecretArn` (or a secret attached to it); its key: the
                      cluster's `MasterUserSecret.KmsKeyId` (or the attached secret's `KmsKeyId`)
    password secret   PLATFORM_DATABASE_PASSWORD_SECRET_ID; its key: that secret's `KmsKeyId`
    database cluster  per action (RDS_RESOURCE_TYPES): the cluster's ARN for DescribeDBClusters, any id otherwise
    database key      the cluster's `KmsKeyId`
    The cluster: the one PLATFORM_DATABASE_HOST resolves to, else the environment's only cluster. What cannot be
    resolved (an unset setting, a topic outside the templates) is an opaque resource only a wildcard covers.
    """

    def __init__(self, view: AssemblyView, task: Resource, arns: Arns, masters: MasterSecrets) -> None:
        self._view, self._task, self._arns, self._masters = view, task, arns, masters
        self._environ = _raw_environment(task)
        self.cluster = self._cluster()

    def of(self, permission: Permission) -> list[Target]:
        """Every resource the permission needs (each must be granted)."""
        kind, action, arns = permission.resource, permission.action, self._arns
        if kind == kinds.APPLICATION_KEY:
            return [Target(self._key(settings.KMS_APPLICATION_KEY_ID))]
        if kind == kinds.EXPORTS_KEY:
            return [Target(self._exports_key())]
        if kind == kinds.RECEIPT_SIGNING_KEY:
            return [Target(self._key(settings.RECEIPT_SIGNING_KEY_ID))]
        if kind == kinds.ORGANISATION_KEYS:
            return self._organisation_keys(action)
        if kind == kinds.CUSTOMER_KEYS:
            account = arns.unknown("the organisation's account")
            return [Target(f"arn:{arns.partition}:kms:{arns.region}:{account}:key/{arns.unknown('its key id')}")]
        if kind == kinds.AUDIT_SIGNING_KEY:
            return [Target(self._key(settings.AUDIT_SIGNING_KEY_ID))]
        if kind == kinds.EXPORTS_BUCKET:
            return [Target(self._bucket(settings.EXPORTS_BUCKET, action))]
        if kind == kinds.CHECKPOINT_BUCKET:
            return [Target(self._bucket(settings.AUDIT_CHECKPOINT_BUCKET, action))]
        if kind == kinds.CHECKPOINT_BUCKET_KEY:
            unknown = arns.arn("kms", f"key/{arns.unknown('the checkpoint bucket has no KMS key')}")
            return [Target(self._bucket_key(settings.AUDIT_CHECKPOINT_BUCKET) or unknown)]
        if kind == kinds.INCIDENT_TOPIC:
            return [Target(self._setting(settings.INCIDENT_TOPIC_ARN))]
        if kind == kinds.INCIDENT_TOPIC_KEY:
            return [Target(self._topic_key())]
        if kind == kinds.SENDER_IDENTITY:
            sender = self._setting(settings.BREACH_SENDER)
            domain = sender.rpartition("@")[2]
            return [Target(arns.arn("ses", f"identity/{sender}"), (arns.arn("ses", f"identity/{domain}"),))]
        if kind == kinds.DATABASE_USER:
            return [Target(self._database_user(self._setting(settings.DATABASE_USER)))]
        if kind == kinds.MIGRATION_OWNER:
            return [Target(self._database_user(OWNER_ROLE))]
        if kind == kinds.DRILL_ROLES:
            return [Target(self._database_user(DRILL_ROLE)), Target(self._database_user(JOBS_ROLE))]
        if kind == kinds.MASTER_SECRET:
            forms = self._master_secrets()
            return [Target(forms[0], tuple(forms[1:]))]
        if kind == kinds.MASTER_SECRET_KEY:
            return [Target(self._master_secret_key())]
        if kind == kinds.PASSWORD_SECRET:
            return [Target(self._secret_arn(self._environ.get(settings.DATABASE_PASSWORD_SECRET_ID)))]
        if kind == kinds.PASSWORD_SECRET_KEY:
            return [Target(self._password_secret_key())]
        if kind == kinds.DATABASE_CLUSTER:
            return [Target(self._rds(action, kind_)) for kind_ in RDS_RESOURCE_TYPES.get(action, ("cluster",))]
        if kind == kinds.DATABASE_KEY:
            return [Target(self._cluster_key("KmsKeyId"))]
        return [Target(arns.unknown(f"the {kind}"))]  # the audit chain key secret: named by an option only

    def _organisation_keys(self, action: str) -> list[Target]:
        """This account's and region's keys, any id (found by alias at run time); CreateAlias also on the alias
        alias/<PLATFORM_APP_NAME>-<environment>-org-<id>; CreateKey on no resource (IAM authorizes it on `*`)."""
        arns = self._arns
        if action == "kms:CreateKey":
            return [Target(arns.unknown("a key not created yet"))]
        key = Target(arns.arn("kms", f"key/{arns.unknown('an organisation key id')}"))
        if action != "kms:CreateAlias":
            return [key]
        environment = self._setting(settings.ENVIRONMENT)
        alias = f"alias/{self._setting(settings.APP_NAME)}-{environment}-org-{arns.unknown('an organisation id')}"
        return [key, Target(arns.arn("kms", alias))]

    def _setting(self, name: str) -> str:
        value = self._environ.get(name)
        return self._arns.unknown(f"{name} unset") if value is None else self._render(value)

    def _render(self, value: Any) -> str:
        return self._arns.render(self._task.template_path, value)

    def _key(self, setting: str) -> str:
        value = self._environ.get(setting)
        if value is None:
            return self._arns.arn("kms", f"key/{self._arns.unknown(f'{setting} unset')}")
        return self._arns.key_arn(self._task.template_path, value)

    def _bucket(self, setting: str, action: str) -> str:
        """Object actions on `arn:aws:s3:::<bucket>/<any key>`, bucket actions (`...Bucket...`) on the bucket."""
        arns = self._arns
        name = self._setting(setting).removeprefix(f"arn:{arns.partition}:s3:::")
        bucket = arns.arn("s3", name, region=False, account=False)
        bucket_level = "Bucket" in action.split(":", 1)[-1]
        return bucket if bucket_level else f"{bucket}/{arns.unknown('any object key')}"

    def _bucket_key(self, setting: str) -> str | None:
        """The default encryption key of the template bucket the setting names (S3 uses it), if any."""
        name = self._setting(setting)
        for bucket in self._view.resources(self._task.environment, "AWS::S3::Bucket"):
            if self._arns.attribute(bucket, "") != name:
                continue
            encryption = bucket.properties.get("BucketEncryption", {})
            for rule in encryption.get("ServerSideEncryptionConfiguration", []):
                default = rule.get("ServerSideEncryptionByDefault", {})
                if "KMSMasterKeyID" in default:
                    return self._arns.key_arn(bucket.template_path, default["KMSMasterKeyID"])
        return None

    def _exports_key(self) -> str:
        """PLATFORM_EXPORTS_KMS_KEY_ID, else the exports bucket's default encryption key (S3 uses it then)."""
        if self._environ.get(settings.EXPORTS_KMS_KEY_ID) is not None:
            return self._key(settings.EXPORTS_KMS_KEY_ID)
        return self._bucket_key(settings.EXPORTS_BUCKET) or self._key(settings.EXPORTS_KMS_KEY_ID)

    def _cluster(self) -> Resource | None:
        view, env = self._view, self._task.environment
        host = self._environ.get(settings.DATABASE_HOST)
        found = view.resolve(env, self._task.template_path, host) if host is not None else None
        if found is not None and found.type == "AWS::RDS::DBInstance":
            found = view.resolve(env, found.template_path, found.properties.get("DBClusterIdentifier"))
        if found is not None and found.type == "AWS::RDS::DBCluster":
            return found
        clusters = list(view.resources(env, "AWS::RDS::DBCluster"))
        return clusters[0] if len(clusters) == 1 else None

    def _database_user(self, user: str) -> str:
        cluster = self.cluster
        resource_id = (self._arns.attribute(cluster, "DBClusterResourceId") if cluster is not None
                       else self._arns.unknown("the database cluster's resource id"))
        return self._arns.arn("rds-db", f"dbuser:{resource_id}/{user}")

    def _master_secrets(self) -> list[str]:
        cluster, arns = self.cluster, self._arns
        forms = [arns.attribute(s, "") for s in self._masters.secrets]
        if cluster is not None and (cluster.properties.get("ManageMasterUserPassword") is True
                                    or "MasterUserSecret" in cluster.properties):
            forms.insert(0, arns.attribute(cluster, MASTER_SECRET_ATTRIBUTE))
        return forms or [arns.unknown("the database's master secret")]

    def _master_secret_key(self) -> str:
        cluster = self.cluster
        managed = cluster.properties.get("MasterUserSecret") if cluster is not None else None
        if cluster is not None and isinstance(managed, dict) and "KmsKeyId" in managed:
            return self._arns.key_arn(cluster.template_path, managed["KmsKeyId"])
        for secret in self._masters.secrets:
            if "KmsKeyId" in secret.properties:
                return self._arns.key_arn(secret.template_path, secret.properties["KmsKeyId"])
        return self._arns.arn("kms", f"key/{self._arns.unknown('the master secret key')}")

    def _cluster_key(self, name: str) -> str:
        cluster = self.cluster
        if cluster is not None and name in cluster.properties:
            return self._arns.key_arn(cluster.template_path, cluster.properties[name])
        return self._arns.arn("kms", f"key/{self._arns.unknown('the database key')}")

    def _secret_arn(self, value: Any) -> str:
        if value is None:
            return self._arns.unknown(f"{settings.DATABASE_PASSWORD_SECRET_ID} unset")
        text = self._render(value)
        if text.startswith("arn:") or _MARK in text:
            return text
        return self._arns.arn("secretsmanager", f"secret:{text}-{self._arns.unknown('secret suffix')}")

    def _password_secret_key(self) -> str:
        value = self._environ.get(settings.DATABASE_PASSWORD_SECRET_ID)
        secret = self._view.resolve(self._task.environment, self._task.template_path, value)
        if secret is not None and "KmsKeyId" in secret.properties:
            return self._arns.key_arn(secret.template_path, secret.properties["KmsKeyId"])
        return self._arns.arn("kms", f"key/{self._arns.unknown('the password secret key')}")

    def _topic_key(self) -> str:
        topic_arn = self._setting(settings.INCIDENT_TOPIC_ARN)
        for topic in self._view.resources(self._task.environment, "AWS::SNS::Topic"):
            if self._arns.attribute(topic, "") == topic_arn and "KmsMasterKeyId" in topic.properties:
                return self._arns.key_arn(topic.template_path, topic.properties["KmsMasterKeyId"])
        return self._arns.arn("kms", f"key/{self._arns.unknown('the incident topic key')}")

    def _rds(self, action: str, resource_type: str) -> str:
        cluster = self.cluster
        if action == "rds:DescribeDBClusters" and cluster is not None:
            return self._arns.attribute(cluster, "DBClusterArn")
        return self._arns.arn("rds", f"{resource_type}:{self._arns.unknown(f'any {resource_type} id')}")


def _grants(arns: Arns, statement: Statement, action: str, target: Target) -> bool:
    """Whether the statement allows `action` on the target (conditions ignored: see the module's docstring)."""
    if not statement.allows_action(action):
        return False
    body = statement.body
    if "Resource" in body:
        patterns = [arns.render(statement.template_path, r) for r in _listed(body["Resource"])]
        return any(_covers(p, form) for p in patterns for form in target.forms)
    if "NotResource" in body:
        excluded = [arns.render(statement.template_path, r) for r in _listed(body["NotResource"])]
        return any(not any(_covers(p, form) for p in excluded) for form in target.forms)
    return False


def _raw_environment(task: Resource) -> dict[str, Any]:
    """The containers' variables as the template writes them (references unresolved)."""
    return {str(v.get("Name")): v.get("Value") for c in task.properties.get("ContainerDefinitions", [])
            for v in c.get("Environment", [])}


def _declaration(task: Resource) -> tuple[tuple[str, ...] | None, dict[str, str | None], list[str]]:
    """(declared commands or None, the containers' variables (None: a computed value), problems)."""
    environ: dict[str, str | None] = {}
    for container in task.properties.get("ContainerDefinitions", []):
        for variable in container.get("Environment", []):
            value = variable.get("Value")
            environ[str(variable.get("Name"))] = value if isinstance(value, str) else None
    if settings.TASK_COMMANDS not in environ:
        return None, environ, []
    raw = environ[settings.TASK_COMMANDS]
    if raw is None:
        return (), environ, [f"{settings.TASK_COMMANDS} must be a literal list of commands, not a computed value"]
    return parse_declaration(raw), environ, []


def _task_role(view: AssemblyView, task: Resource) -> tuple[str, list[Statement], list[str]]:
    """(the role's name for findings, every statement of every policy on it, what could not be read)."""
    reference = task.properties.get("TaskRoleArn")
    if reference is None:
        return "the task (no task role)", [], []
    role = view.resolve(task.environment, task.template_path, reference)
    if role is None or role.type != "AWS::IAM::Role":
        return "its task role", [], [f"its task role {reference!r} is not a role in this environment's templates, "
                                     "so what it grants cannot be checked"]
    statements: list[Statement] = []
    for inline in role.properties.get("Policies", []):
        statements += _statements(role, f"{role.path} (inline {inline.get('PolicyName')})",
                                  inline.get("PolicyDocument"))
    attached: set[tuple[str, str]] = set()
    for policy in view.resources(task.environment, *POLICY_TYPES):
        names = [view.resolve(task.environment, policy.template_path, r) for r in policy.properties.get("Roles", [])]
        if any(r is not None and (r.template_path, r.logical_id) == (role.template_path, role.logical_id)
               for r in names):
            attached.add((policy.template_path, policy.logical_id))
            statements += _statements(policy, policy.path, policy.properties.get("PolicyDocument"))
    unread = []
    for arn in role.properties.get("ManagedPolicyArns", []):
        managed = view.resolve(task.environment, role.template_path, arn)
        if managed is None or managed.type != "AWS::IAM::ManagedPolicy":
            unread.append(f"{role.path} attaches the managed policy {arn!r}, which the rule cannot read: attach "
                          "a policy of the template")
        elif (managed.template_path, managed.logical_id) not in attached:
            attached.add((managed.template_path, managed.logical_id))
            statements += _statements(managed, managed.path, managed.properties.get("PolicyDocument"))
    return role.path, statements, unread


class TaskPermissionContract(Rule):
    id = "P3-TaskPermissionContract"
    # P10: erasure's key deletion, the organisation keys' control plane (create, schedule deletion) and the
    # customer keys (BYOK) are grants of this contract, on the ARN forms of `Targets`.
    promises = ("P3", "P6", "P10")
    title = "Each task role grants what its declared commands need, and only the setup step reads the master secret"
    explanation = (
        "A task declares the runtime commands it runs (PLATFORM_TASK_COMMANDS; the runtime refuses others) and "
        "runtime/permissions.py says which AWS actions each needs and on which resource: a missing grant, or one "
        "on another resource (another key, the bucket instead of its objects), fails at run time, and a role "
        "that can read the database's master secret (rds_superuser, which bypasses row-level security) lets "
        "every command of that task act as the admin. Grant the actions the contract lists on the resources the "
        "task's settings name; give the master secret only to the task that runs `db setup`."
    )

    def evaluate(self, view: AssemblyView) -> Iterator[Result]:
        for env in view.environments:
            masters, arns = MasterSecrets(view, env), Arns(view, env)
            for task in view.resources(env, TASK_TYPE):
                yield self._check(view, task, masters, arns)

    def _check(self, view: AssemblyView, task: Resource, masters: MasterSecrets, arns: Arns) -> Result:
        declared, environ, problems = _declaration(task)
        if declared is None:
            return self.result(task, False, f"declare the commands this task runs: set {settings.TASK_COMMANDS} "
                                            "on its container (names from runtime/permissions.py CONTRACT)")
        problems += [f"declares `{c}`, which is not a runtime command (runtime/permissions.py CONTRACT)"
                     for c in declared if c not in CONTRACT]
        commands = [c for c in declared if c in CONTRACT]
        role, statements, unread = _task_role(view, task)
        problems += unread
        targets = Targets(view, task, arns, masters)
        for command in commands:
            missing: list[str] = []
            expected: dict[str, list[str]] = {}
            for permission in needs(command, environ):
                for target in targets.of(permission):
                    if any(_grants(arns, s, permission.action, target) for s in statements):
                        continue
                    elsewhere = any(s.allows_action(permission.action) for s in statements)
                    missing.append(f"{permission.action} on the {permission.resource}"
                                   + (" (allowed only on other resources)" if elsewhere else ""))
                    expected.setdefault(f"the {permission.resource}", []).append(arns.show(target.arn))
            if missing:
                where = "; ".join(f"{kind}: {', '.join(dict.fromkeys(arn))}" for kind, arn in expected.items())
                problems.append(f"`{command}` needs what {role} does not allow: {', '.join(dict.fromkeys(missing))} "
                                f"(expected {where})")
        if not any(may_read_master_secret(c) for c in commands):
            for statement in statements:
                if statement.allows_action(READ_SECRET) and masters.reached_by(statement):
                    problems.append(f"{role} can read the database's master secret ({statement.where}, "
                                    f"Sid {statement.body.get('Sid', '-')}), but none of its commands "
                                    f"({', '.join(commands) or 'none'}) needs it: only the setup step may")
        summary = f"{role} grants what {', '.join(commands)} need" if commands else "declares no commands"
        return self.result(task, not problems, "; ".join(problems) or summary)
