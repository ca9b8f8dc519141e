"""docs/DEPLOY.md names only things that exist, so it cannot drift from the code.

What counts as a mention (the conventions the page is written in):
- config fields: a backticked snake_case name (`certificate_arn`), a prefix pattern (`support_oidc_*`), the left
  side of a backticked assignment (`hipaa = true`, also single words), a `<field>` placeholder with an
  underscore (`<app_name>-<env>`), and `-c <env>.<field>=...` overrides anywhere, code blocks included. Each must
  be a settable field of `stacks/config.py` (its dataclasses, imported). The few other snake_case names the page
  uses (token claims, a database role, a request field) are checked against the code they come from;
- make targets: a backticked `make X ...` or a code-block line `make X ...`: X must be a Makefile target;
- stack outputs: a backticked CamelCase name in a clause that says "output", and the first cell of the
  "output" table: each must be the id of a `CfnOutput(scope, "Id", ...)` in stacks/**/*.py; and every such
  output is in that table (a new output gets documented);
- module constants (`INTERFACE_ENDPOINTS`) are assigned in stacks/ or runtime/; repository paths and relative
  links exist.
"""

from __future__ import annotations

import ast
import re
from dataclasses import fields
from pathlib import Path

import pytest

from runtime import contract, settings
from stacks import config

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "DEPLOY.md"
TEXT = DOC.read_text(encoding="utf-8")
FENCE = re.compile(r"^```[^\n]*\n(.*?)^```", re.S | re.M)
CODE_BLOCKS = FENCE.findall(TEXT)
PROSE = FENCE.sub("", TEXT)
INLINE = re.findall(r"`([^`\n]+)`", PROSE)

SNAKE = re.compile(r"^[a-z][a-z0-9]*(?:_[a-z0-9]+)+$")
PREFIX_PATTERN = re.compile(r"^([a-z][a-z0-9_]*_)\*$")
ASSIGNMENT = re.compile(r"^([a-z][a-z0-9_]*) = ")
PLACEHOLDER = re.compile(r"<([a-z][a-z0-9]*(?:_[a-z0-9]+)+)>")
OVERRIDE = re.compile(r"-c [a-z][a-z0-9]*\.([a-z][a-z0-9_]*)=")
CAMEL = re.compile(r"^[A-Z][a-z0-9]+(?:[A-Z][a-z0-9]*)+$")
CONSTANT = re.compile(r"^[A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+$")
REPO_PATH = re.compile(r"^[A-Za-z_][A-Za-z0-9_.-]*(?:/[A-Za-z0-9_.-]+)*(?:/[A-Za-z0-9_.-]+\.[a-z]+|/Dockerfile|/)$")

# snake_case names on the page that are not config fields, each with the value in the code it must equal.
OTHER_NAMES = {
    "org_id": settings.DEFAULT_AUTH_ORGANISATION_CLAIM,  # the organisation claim the tasks read
    "org_roles": settings.DEFAULT_AUTH_ADMIN_CLAIM,  # the admin claim
    "platform_owner": contract.OWNER_ROLE,  # the migration owner the setup step connects as
}
# ... and names whose definition is a string literal in a file.
NAMES_IN_FILES = {"billing_email": ROOT / "runtime" / "service" / "resources.py"}  # the organisation's fields


def config_fields() -> set[str]:
    settable = getattr(config, "SETTABLE", None)
    environment = set(settable) if settable else {f.name for f in fields(config.EnvironmentConfig)}
    return environment | {"app_name"}


def make_targets() -> set[str]:
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    targets = set(re.findall(r"^([A-Za-z0-9][A-Za-z0-9_.-]*)\s*:(?!=)", makefile, re.M))
    for phony in re.findall(r"^\.PHONY\s*:(.*)$", makefile, re.M):
        targets |= set(phony.split())
    return targets


def stack_outputs() -> set[str]:
    ids = set()
    for path in (ROOT / "stacks").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not isinstance(node, ast.Call) or len(node.args) < 2:
                continue
            name = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", "")
            if name == "CfnOutput" and isinstance(node.args[1], ast.Constant) and isinstance(node.args[1].value, str):
                ids.add(node.args[1].value)
    return ids


def mentioned_fields() -> set[str]:
    names = set()
    for token in INLINE:
        if SNAKE.fullmatch(token):
            names.add(token)
        if (assigned := ASSIGNMENT.match(token)) is not None:
            names.add(assigned[1])
        names |= set(PLACEHOLDER.findall(token))
    names |= set(OVERRIDE.findall(TEXT))
    return names


def test_every_config_field_mentioned_exists() -> None:
    known = config_fields()
    mentioned = mentioned_fields()
    unknown = sorted(name for name in mentioned - known if name not in OTHER_NAMES and name not in NAMES_IN_FILES)
    assert not unknown, f"docs/DEPLOY.md names config fields that stacks/config.py does not have: {unknown}"
    assert len(mentioned & known) >= 40, "the page's config fields were not found: has the convention changed?"


def test_every_field_pattern_matches_a_field() -> None:
    known = config_fields()
    patterns = [m[1] for token in INLINE if (m := PREFIX_PATTERN.fullmatch(token))]
    assert patterns, "no field patterns found"
    for prefix in patterns:
        assert any(name.startswith(prefix) for name in known), f"`{prefix}*` matches no config field"


@pytest.mark.parametrize("name", sorted(OTHER_NAMES))
def test_other_names_are_the_codes(name: str) -> None:
    assert OTHER_NAMES[name] == name, f"the page says `{name}`; the code says {OTHER_NAMES[name]!r}"


@pytest.mark.parametrize("name", sorted(NAMES_IN_FILES))
def test_names_in_files_exist(name: str) -> None:
    assert f'"{name}"' in NAMES_IN_FILES[name].read_text(encoding="utf-8")


def test_every_make_target_mentioned_exists() -> None:
    commands = [token for token in INLINE if token.startswith("make ")]
    lines = [line.strip() for block in CODE_BLOCKS for line in block.splitlines()]
    commands += [line for line in lines if line.startswith("make ")]
    targets = make_targets()
    mentioned = set()
    for command in commands:
        words = [w for w in command.split()[1:] if "=" not in w and not w.startswith("-")]
        if words and not words[0].startswith("#"):
            mentioned.add(words[0])
    assert mentioned, "no make commands found on the page"
    unknown = sorted(mentioned - targets)
    assert not unknown, f"docs/DEPLOY.md runs make targets the Makefile lacks: {unknown}"


def _output_table() -> list[str]:
    """The first cell of each row of the table whose header's first cell is `output`."""
    rows, inside = [], False
    for line in PROSE.splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")] if line.startswith("|") else []
        if cells and cells[0] == "output":
            inside = True
        elif not cells:
            inside = False
        elif inside and not set(cells[0]) <= set("-: "):
            rows.append(cells[0].strip("`"))
    return rows


def mentioned_outputs() -> set[str]:
    names = set(_output_table())
    for clause in re.split(r"[.;|()\n]", PROSE.replace("e.g.", "eg")):
        if "output" in clause.lower():
            names |= {token for token in re.findall(r"`([^`]+)`", clause) if CAMEL.fullmatch(token)}
    return names


def test_every_stack_output_mentioned_exists() -> None:
    outputs = stack_outputs()
    mentioned = mentioned_outputs()
    assert {"PointDnsTo", "RequiredAwsServices"} <= mentioned, "the page's outputs were not found"
    assert not mentioned - outputs, f"docs/DEPLOY.md names outputs no stack has: {sorted(mentioned - outputs)}"


def test_every_stack_output_is_in_the_table() -> None:
    missing = stack_outputs() - set(_output_table())
    assert not missing, f"outputs missing from docs/DEPLOY.md's 'Stack outputs' table: {sorted(missing)}"


def test_every_constant_mentioned_is_defined() -> None:
    sources = "\n".join(
        path.read_text(encoding="utf-8") for folder in ("stacks", "runtime") for path in (ROOT / folder).rglob("*.py")
    )
    constants = {token for token in INLINE if CONSTANT.fullmatch(token) and token != "ROLLBACK_COMPLETE"}
    undefined = sorted(c for c in constants if not re.search(rf"^{c}\b[^=\n]*=", sources, re.M))
    assert not undefined, f"docs/DEPLOY.md names constants defined nowhere in stacks/ or runtime/: {undefined}"


def test_every_path_and_link_exists() -> None:
    paths = {token for token in INLINE if REPO_PATH.fullmatch(token)}
    missing = sorted(p for p in paths if not (ROOT / p).exists())
    links = re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", PROSE)
    missing += sorted(link for link in links if "://" not in link and not (DOC.parent / link).exists())
    assert not missing, f"docs/DEPLOY.md names files that do not exist: {missing}"


def test_anchors_and_fences() -> None:
    """The contents' links point at headers that exist, and every code fence is closed."""
    slugs = {
        re.sub(r"[^a-z0-9 -]", "", header.lower()).replace(" ", "-")
        for header in re.findall(r"^#+ (.+)$", PROSE, re.M)
    }
    anchors = set(re.findall(r"\]\(#([^)]+)\)", PROSE))
    assert anchors and anchors <= slugs, f"broken anchors: {sorted(anchors - slugs)}"
    assert TEXT.count("\n```") % 2 == 0 or TEXT.startswith("```"), "an unclosed code fence"
