"""P3, P6: each task role grants what its commands need, and only the setup step reaches the master secret.

A task definition declares the runtime commands it runs in PLATFORM_TASK_COMMANDS (runtime/settings.py
TASK_COMMANDS), and the runtime refuses any other; runtime/permissions.py says which IAM actions each command
needs under the task's settings. This rule reads the task role (`TaskRoleArn`) and every policy on it (inline
`Policies`, `AWS::IAM::Policy` and `AWS::IAM::ManagedPolicy` naming it in `Roles`, its `ManagedPolicyArns`)
and checks:
- every action the declared commands need is allowed by an Allow statement (IAM wildcards honoured);
- no task whose commands do not read the master secret (only `db setup` and, today, `breach drill` do) may
  `secretsmanager:GetSecretValue` the database's master secret: by its ARN or token (the cluster's
  `MasterUserSecret.SecretArn`, a secret attached to the cluster), by a wildcard ARN that matches it, by
  `Resource: "*"` or by `NotResource`, through whichever policy.
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

from runtime import settings
from runtime.permissions import CONTRACT, READ_SECRET, may_read_master_secret, needs, parse_declaration
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
        output = self._output(value)
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

    def _output(self, value: dict[str, Any]) -> tuple[str, Any] | None:
        """(template path, value) of the stack output a cross-stack reference reads."""
        if "Fn::GetStackOutput" in value:
            name = str(value["Fn::GetStackOutput"].get("OutputName"))
        elif "Fn::ImportValue" in value:
            name = str(value["Fn::ImportValue"]).split(":", 1)[-1]
        else:
            return None
        for path, template in self._view.templates(self._env).items():
            output = template.get("Outputs", {}).get(name)
            if output is not None:
                return path, output.get("Value")
        return None

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
    promises = ("P3", "P6")
    title = "Each task role grants what its declared commands need, and only the setup step reads the master secret"
    explanation = (
        "A task declares the runtime commands it runs (PLATFORM_TASK_COMMANDS; the runtime refuses others) and "
        "runtime/permissions.py says which AWS actions each needs: a missing grant fails at run time, and a role "
        "that can read the database's master secret (rds_superuser, which bypasses row-level security) lets "
        "every command of that task act as the admin. Grant the actions the contract lists; give the master "
        "secret only to the task that runs `db setup`."
    )

    def evaluate(self, view: AssemblyView) -> Iterator[Result]:
        for env in view.environments:
            masters = MasterSecrets(view, env)
            for task in view.resources(env, TASK_TYPE):
                yield self._check(view, task, masters)

    def _check(self, view: AssemblyView, task: Resource, masters: MasterSecrets) -> Result:
        declared, environ, problems = _declaration(task)
        if declared is None:
            return self.result(task, False, f"declare the commands this task runs: set {settings.TASK_COMMANDS} "
                                            "on its container (names from runtime/permissions.py CONTRACT)")
        problems += [f"declares `{c}`, which is not a runtime command (runtime/permissions.py CONTRACT)"
                     for c in declared if c not in CONTRACT]
        commands = [c for c in declared if c in CONTRACT]
        role, statements, unread = _task_role(view, task)
        problems += unread
        for command in commands:
            missing = [f"{p.action} on the {p.resource}" for p in needs(command, environ)
                       if not any(s.allows_action(p.action) for s in statements)]
            if missing:
                problems.append(f"`{command}` needs what {role} does not allow: {', '.join(missing)}")
        if not any(may_read_master_secret(c) for c in commands):
            for statement in statements:
                if statement.allows_action(READ_SECRET) and masters.reached_by(statement):
                    problems.append(f"{role} can read the database's master secret ({statement.where}, "
                                    f"Sid {statement.body.get('Sid', '-')}), but none of its commands "
                                    f"({', '.join(commands) or 'none'}) needs it: only the setup step may")
        summary = f"{role} grants what {', '.join(commands)} need" if commands else "declares no commands"
        return self.result(task, not problems, "; ".join(problems) or summary)
