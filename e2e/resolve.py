"""Resolve CloudFormation intrinsic functions against the physical ids of the local stand-ins.

Supported: `Ref` (resources, parameters with a default, the pseudo parameters AWS::Region, AccountId,
Partition, URLSuffix, StackName, StackId, NoValue), `Fn::GetAtt` (list or "Id.Attr" form), `Fn::Join`,
`Fn::Sub` (string and [string, variables] forms, `${!Literal}` escapes), `Fn::Select`, `Fn::Split`,
`Fn::ImportValue` (from the exporting stack's `Outputs.*.Export.Name`), `Fn::GetStackOutput` (CDK's
cross-stack reference: {StackName, OutputName, Region}), `Fn::If` with `Conditions` (`Fn::Equals`,
`Fn::And`, `Fn::Or`, `Fn::Not`, `Condition`), `Fn::FindInMap`, `Fn::Base64` and `Fn::GetAZs`.

`literals` is the one table of literal values the local run replaces: an imported resource the templates
name by a literal ARN or id (an existing KMS key, subnets) whose stand-in got another id, because the local
endpoint chooses the ids (moto cannot create a KMS key with a given id). Every resolved text has each
literal replaced by its stand-in's; `standins` fills the table and prints every entry.

Anything else, and any reference to a resource or attribute the stand-ins did not provide, raises
`UnresolvedError` naming the stack, the resource and the path of the value inside it.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Mapping, MutableMapping
from dataclasses import dataclass, field
from typing import Any

from e2e.assembly import Template


class UnresolvedError(LookupError):
    """A template value the emulation cannot resolve: names where it is and what is missing."""


@dataclass
class Physical:
    """A stand-in's physical id (what `Ref` returns) and attributes (what `Fn::GetAtt` returns)."""

    ref: str
    attributes: dict[str, Any] = field(default_factory=dict)


class _NoValue:
    def __repr__(self) -> str:
        return "AWS::NoValue"


NO_VALUE: Any = _NoValue()  # `Ref: AWS::NoValue`: the property (or list item) disappears
_SUB = re.compile(r"\$\{([^}]*)\}")


@dataclass
class Resolver:
    """Resolves values of the templates of one environment. `physical` is keyed by (stack name, logical id)
    and may grow while stand-ins are created (each resolves its properties against those made before it)."""

    templates: Mapping[str, Template]  # stack name -> template
    account: str
    region: str
    physical: MutableMapping[tuple[str, str], Physical] = field(default_factory=dict)
    partition: str = "aws"
    url_suffix: str = "amazonaws.com"
    literals: dict[str, str] = field(default_factory=dict)  # imported literal ARN or id -> its stand-in's

    def translate(self, text: str) -> str:
        """`text` with every literal of the table replaced by its stand-in's (longest first)."""
        for literal in sorted(self.literals, key=len, reverse=True):
            if literal in text:
                text = text.replace(literal, self.literals[literal])
        return text

    def resolve(self, stack: str, value: Any, where: str = "") -> Any:
        """`value` (from stack `stack`) with every intrinsic replaced; `where` is its path, for errors."""
        if isinstance(value, list):
            items = [self.resolve(stack, item, f"{where}[{i}]") for i, item in enumerate(value)]
            return [item for item in items if item is not NO_VALUE]
        if isinstance(value, str):
            return self.translate(value) if self.literals else value
        if not isinstance(value, dict):
            return value
        if len(value) == 1:
            (key, argument), = value.items()
            if key == "Ref" or key.startswith("Fn::") or key == "Condition":
                found = self._intrinsic(stack, key, argument, where)
                return self.translate(found) if isinstance(found, str) and self.literals else found
        resolved = {k: self.resolve(stack, v, f"{where}.{k}" if where else k) for k, v in value.items()}
        return {k: v for k, v in resolved.items() if v is not NO_VALUE}

    def resolve_text(self, stack: str, value: Any, where: str = "") -> str:
        resolved = self.resolve(stack, value, where)
        if isinstance(resolved, str):
            return resolved
        if isinstance(resolved, bool):
            return "true" if resolved else "false"
        if isinstance(resolved, int | float):
            return str(resolved)
        raise UnresolvedError(f"{self._at(stack, where)}: expected text, got {resolved!r}")

    def output(self, stack: str, name: str, where: str = "") -> Any:
        """The resolved value of stack `stack`'s output `name`."""
        outputs = self._template(stack, where).get("Outputs", {})
        if name not in outputs:
            raise UnresolvedError(f"{self._at(stack, where)}: stack {stack} has no output {name}")
        return self.resolve(stack, outputs[name]["Value"], f"Outputs.{name}.Value")

    def condition(self, stack: str, name: str, where: str = "") -> bool:
        conditions = self._template(stack, where).get("Conditions", {})
        if name not in conditions:
            raise UnresolvedError(f"{self._at(stack, where)}: no condition {name} in stack {stack}")
        return self._truth(stack, conditions[name], f"Conditions.{name}")

    # --- intrinsics --------------------------------------------------------------------------------

    def _intrinsic(self, stack: str, key: str, argument: Any, where: str) -> Any:
        at = f"{where}.{key}" if where else key
        if key == "Ref":
            return self._ref(stack, str(argument), at)
        if key == "Fn::GetAtt":
            logical_id, attribute = argument.split(".", 1) if isinstance(argument, str) else argument
            return self._get_att(stack, str(logical_id), self.resolve_text(stack, attribute, at), at)
        if key == "Fn::Join":
            delimiter, items = argument
            parts = self.resolve(stack, items, at)
            return str(delimiter).join(self._text(stack, part, at) for part in self._list(stack, parts, at))
        if key == "Fn::Sub":
            return self._sub(stack, argument, at)
        if key == "Fn::Select":
            index, items = argument
            chosen = self._list(stack, self.resolve(stack, items, at), at)
            position = int(self.resolve_text(stack, index, at))
            if not 0 <= position < len(chosen):
                raise UnresolvedError(f"{self._at(stack, at)}: index {position} outside a list of {len(chosen)}")
            return chosen[position]
        if key == "Fn::Split":
            delimiter, text = argument
            return self.resolve_text(stack, text, at).split(str(delimiter))
        if key == "Fn::ImportValue":
            return self._import(stack, self.resolve_text(stack, argument, at), at)
        if key == "Fn::GetStackOutput":
            return self.output(self.resolve_text(stack, argument["StackName"], at),
                               self.resolve_text(stack, argument["OutputName"], at), at)
        if key == "Fn::If":
            name, when_true, when_false = argument
            return self.resolve(stack, when_true if self.condition(stack, str(name), at) else when_false, at)
        if key == "Fn::FindInMap":
            mapping, top, second = (self.resolve_text(stack, part, at) for part in argument)
            try:
                return self._template(stack, at)["Mappings"][mapping][top][second]
            except KeyError:
                raise UnresolvedError(f"{self._at(stack, at)}: no mapping {mapping}.{top}.{second}") from None
        if key == "Fn::Base64":
            return base64.b64encode(self.resolve_text(stack, argument, at).encode()).decode()
        if key == "Fn::GetAZs":
            return [f"{self.region}{suffix}" for suffix in "abc"]
        if key in ("Fn::Equals", "Fn::And", "Fn::Or", "Fn::Not", "Condition"):
            return self._truth(stack, {key: argument}, at)
        raise UnresolvedError(f"{self._at(stack, at)}: the emulation does not resolve {key}")

    def _ref(self, stack: str, name: str, at: str) -> Any:
        pseudo = {
            "AWS::Region": self.region,
            "AWS::AccountId": self.account,
            "AWS::Partition": self.partition,
            "AWS::URLSuffix": self.url_suffix,
            "AWS::StackName": stack,
            "AWS::StackId": f"arn:{self.partition}:cloudformation:{self.region}:{self.account}:stack/{stack}/local",
        }
        if name == "AWS::NoValue":
            return NO_VALUE
        if name in pseudo:
            return pseudo[name]
        parameters = self._template(stack, at).get("Parameters", {})
        if name in parameters:
            if "Default" not in parameters[name]:
                raise UnresolvedError(f"{self._at(stack, at)}: parameter {name} has no default to run with")
            return parameters[name]["Default"]
        return self._physical(stack, name, at).ref

    def _get_att(self, stack: str, logical_id: str, attribute: str, at: str) -> Any:
        attributes = self._physical(stack, logical_id, at).attributes
        if attribute not in attributes:
            raise UnresolvedError(
                f"{self._at(stack, at)}: the stand-in for {logical_id} has no attribute {attribute} "
                f"(it has: {', '.join(sorted(attributes)) or 'none'})"
            )
        return attributes[attribute]

    def _physical(self, stack: str, logical_id: str, at: str) -> Physical:
        if logical_id not in self._template(stack, at).get("Resources", {}):
            raise UnresolvedError(f"{self._at(stack, at)}: no resource or parameter {logical_id} in stack {stack}")
        try:
            return self.physical[(stack, logical_id)]
        except KeyError:
            raise UnresolvedError(f"{self._at(stack, at)}: no stand-in (yet) for {stack}/{logical_id}") from None

    def _sub(self, stack: str, argument: Any, at: str) -> str:
        text, variables = (argument, {}) if isinstance(argument, str) else argument
        values = {k: self._text(stack, self.resolve(stack, v, f"{at}.{k}"), at) for k, v in variables.items()}

        def replace(match: re.Match[str]) -> str:
            name = match.group(1)
            if name.startswith("!"):
                return "${" + name[1:] + "}"
            if name in values:
                return values[name]
            if "." in name:
                logical_id, attribute = name.split(".", 1)
                return self._text(stack, self._get_att(stack, logical_id, attribute, at), at)
            return self._text(stack, self._ref(stack, name, at), at)

        return _SUB.sub(replace, str(text))

    def _import(self, stack: str, export: str, at: str) -> Any:
        for name, template in self.templates.items():
            for output_name, output in template.get("Outputs", {}).items():
                exported = output.get("Export", {}).get("Name")
                if exported is not None and self.resolve(name, exported, f"Outputs.{output_name}.Export") == export:
                    return self.output(name, output_name, at)
        raise UnresolvedError(f"{self._at(stack, at)}: no stack of this environment exports {export!r}")

    def _truth(self, stack: str, value: Any, at: str) -> bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str):
            return value.lower() == "true"
        (key, argument), = value.items()
        if key == "Condition":
            return self.condition(stack, str(argument), at)
        if key == "Fn::Equals":
            left, right = (self.resolve(stack, part, at) for part in argument)
            return bool(left == right)
        if key == "Fn::And":
            return all(self._truth(stack, part, at) for part in argument)
        if key == "Fn::Or":
            return any(self._truth(stack, part, at) for part in argument)
        if key == "Fn::Not":
            return not self._truth(stack, argument[0], at)
        return bool(self.resolve(stack, value, at))

    # --- helpers -----------------------------------------------------------------------------------

    def _template(self, stack: str, at: str) -> Template:
        if stack not in self.templates:
            raise UnresolvedError(f"{at}: no stack {stack} in this environment ({', '.join(self.templates)})")
        return self.templates[stack]

    def _list(self, stack: str, value: Any, at: str) -> list[Any]:
        if not isinstance(value, list):
            raise UnresolvedError(f"{self._at(stack, at)}: expected a list, got {value!r}")
        return value

    def _text(self, stack: str, value: Any, at: str) -> str:
        if isinstance(value, str):
            return value
        if isinstance(value, int | float) and not isinstance(value, bool):
            return str(value)
        raise UnresolvedError(f"{self._at(stack, at)}: expected text, got {value!r}")

    @staticmethod
    def _at(stack: str, where: str) -> str:
        resource = where.split(".", 2)[1] if where.startswith("Resources.") else ""
        return f"stack {stack}" + (f", resource {resource}" if resource else "") + f", at {where or '<top>'}"
