"""What every check gets (`Context`), how a check is declared (`Check`), and the guard around AWS reads.

A read the endpoint cannot answer (an API moto lacks, a call the auditor's role is refused) raises `Unreadable`;
the runner turns it into a "could not check" result naming the API, never a traceback and never a pass.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from runtime.verify_deployed.expected import Expected
from runtime.verify_deployed.result import Checker, Clock, Result, utc_now
from runtime.wiring.clients import ClientFactory

_UNSUPPORTED_CODES = frozenset({"NotImplemented", "InvalidAction", "UnknownOperationException", "404", "501"})
_DENIED_CODES = frozenset({"AccessDenied", "AccessDeniedException", "UnauthorizedOperation", "AuthorizationError"})


class Unreadable(Exception):
    """The check could not read what it needs; the message says which API and why."""


class Missing(Unreadable):
    """The read found nothing: no such resource or configuration (no tags, no public access block, no policy...).
    A check that treats an absent configuration as a finding catches this, never a refused or unsupported read."""


_MISSING_EXACT = frozenset({"WAFNonexistentItemException", "InvalidAccessException", "NoSuchTagSet",
                            "ObjectLockConfigurationNotFoundError"})


def _missing(code: str) -> bool:
    return code in _MISSING_EXACT or code.startswith("NoSuch") or code.endswith(
        ("NotFound", "NotFoundException", "NotFoundFault"))


@contextmanager
def reading(service: str, api: str) -> Iterator[None]:
    """Around one AWS read: an unsupported API or a refused call becomes `Unreadable`, an absent resource or
    configuration `Missing`. botocore's errors are told by their `response` (boto3 is the client factory's only)."""
    try:
        yield
    except NotImplementedError:  # moto, in process
        raise Unreadable(f"{service} {api} unsupported by endpoint") from None
    except Exception as exc:
        response = getattr(exc, "response", None)
        if not isinstance(response, dict):
            if type(exc).__module__.startswith("botocore"):  # no credentials, endpoint unreachable, ...
                raise Unreadable(f"{service} {api} failed ({type(exc).__name__})") from None
            raise
        code = str(response.get("Error", {}).get("Code", ""))
        message = str(response.get("Error", {}).get("Message", "")).lower()
        if code in _UNSUPPORTED_CODES or "not yet implemented" in message or "not been implemented" in message:
            raise Unreadable(f"{service} {api} unsupported by endpoint") from None
        if code in _DENIED_CODES:
            raise Unreadable(f"{service} {api} refused ({code}): the auditor role lacks it") from None
        if "signaturedoesnotmatch" in message or code == "SignatureDoesNotMatch":
            raise Unreadable(f"{service} {api} rejected by endpoint (SignatureDoesNotMatch)") from None
        if _missing(code):
            raise Missing(f"{service} {api}: {code}") from None
        raise Unreadable(f"{service} {api} failed ({code or 'error'})") from None


@dataclass
class Context:
    expected: Expected
    clients: ClientFactory
    clock: Clock = utc_now
    cache: dict[str, Any] = field(default_factory=dict)  # reads shared by checks of one run (the VPC, the keys)

    @property
    def environment(self) -> str:
        return self.expected.environment

    @property
    def app(self) -> str:
        return self.expected.app_name

    def now(self) -> datetime:
        return self.clock()

    def once(self, name: str, read: Callable[[], Any]) -> Any:
        if name not in self.cache:
            self.cache[name] = read()
        return self.cache[name]


@dataclass(frozen=True)
class Check:
    family: str
    name: str
    promises: tuple[str, ...]
    run: Callable[[Any, Checker], list[Result]]  # (context, checker) -> results
    needs: str = "aws"  # "aws": the templates and the auditor's AWS reads; "database": a jobs-role connection

    @property
    def id(self) -> str:
        return f"{self.family}.{self.name}"


def check(family: str, name: str, promises: tuple[str, ...], *, needs: str = "aws",
          ) -> Callable[[Callable[[Any, Checker], list[Result]]], Check]:
    def declare(run: Callable[[Any, Checker], list[Result]]) -> Check:
        return Check(family, name, promises, run, needs)
    return declare


def tags(items: list[dict[str, Any]] | None, key: str = "Key", value: str = "Value") -> dict[str, str]:
    return {str(t.get(key)): str(t.get(value)) for t in items or []}
