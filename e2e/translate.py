"""The one translation table: every place the local run differs from what the template says, and why.

Nothing about a task is hand-copied: argv, environment, secrets and roles come from the template. What
cannot be as deployed locally is substituted, and every substitution is recorded here, once, and printed:

    kind            the template's value                      the local value
    image path      /app/certs/rds-global-bundle.pem    ->    the local PostgreSQL's CA
    port            PLATFORM_SERVICE_PORT=8080           ->    a free local port
    key source      PLATFORM_JWT_JWKS_URL=https://...    ->    the local IdP stand-in's JWKS
    imported ARN    arn:aws:kms:...:key/1111...          ->    the stand-in key's ARN (moto chooses key ids)
    image           444...dkr.ecr...:1.0.0               ->    this checkout's runtime (runtime/Dockerfile)

The rules (which values, why) live next to the code that applies them: tasks.IMAGE_PATHS and
tasks.LOCAL_OVERRIDES for task settings, resolve.Resolver.literals for imported ids, standins for what the
local endpoint cannot hold as the template says. This module only keeps and prints the entries.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Translation:
    kind: str  # "image path", "port", "key source", "imported ARN", "image", "load balancer", ...
    template: str  # what the template says (a value, or NAME=value)
    local: str  # what the local run uses instead
    why: str

    def line(self) -> str:
        return f"translate  {self.kind}: {self.template} -> {self.local}  ({self.why})"


@dataclass
class Translations:
    """Entries in the order first made; `add` prints a new entry through `say` and ignores repeats."""

    say: Callable[[str], None] = print
    entries: list[Translation] = field(default_factory=list)

    def add(self, entry: Translation) -> None:
        if entry not in self.entries:
            self.entries.append(entry)
            self.say(entry.line())

    def extend(self, entries: list[Translation]) -> None:
        for entry in entries:
            self.add(entry)

    def of_kind(self, kind: str) -> list[Translation]:
        return [entry for entry in self.entries if entry.kind == kind]
