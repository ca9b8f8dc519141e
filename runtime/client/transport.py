"""How the client reaches the service: a `Transport` sends one request and returns the answer. The default,
`UrllibTransport`, uses the standard library only (verified TLS by default; pass an `ssl.SSLContext` for a
private CA); tests pass one over an in-process application."""

from __future__ import annotations

import re
import ssl
import urllib.error
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Protocol

from runtime.client.errors import ConnectionFailedError


@dataclass(frozen=True)
class Answer:
    status: int
    headers: Mapping[str, str] = field(default_factory=dict)  # names in lower case
    body: bytes = b""


class Transport(Protocol):
    def send(self, method: str, target: str, *, headers: Mapping[str, str], body: bytes | None) -> Answer:
        """Send `method` to `target` (path and query string, e.g. /v1/prompts?limit=10)."""
        ...


class UrllibTransport:
    def __init__(self, base_url: str, *, ssl_context: ssl.SSLContext | None = None, timeout: float = 30.0) -> None:
        if not base_url.startswith(("https://", "http://")):
            raise ValueError("base_url must start with https:// (or http:// for a local run)")
        self._base = base_url.rstrip("/")
        self._context = ssl_context
        self._timeout = timeout

    def send(self, method: str, target: str, *, headers: Mapping[str, str], body: bytes | None) -> Answer:
        request = urllib.request.Request(self._base + target, data=body, method=method,  # noqa: S310 (https or a local run)
                                         headers=dict(headers))
        try:
            with urllib.request.urlopen(request, timeout=self._timeout, context=self._context) as answer:  # noqa: S310
                return Answer(answer.status, {k.lower(): v for k, v in answer.headers.items()}, answer.read())
        except urllib.error.HTTPError as error:
            return Answer(error.code, {k.lower(): v for k, v in error.headers.items()}, error.read())
        except (urllib.error.URLError, OSError) as exc:
            raise ConnectionFailedError(f"{method} {target}: {type(exc).__name__}: {exc}") from exc


def fetch(url: str, *, ssl_context: ssl.SSLContext | None = None, timeout: float = 60.0) -> bytes:
    """GET a presigned download URL (it carries its own signature: no credential is sent)."""
    if not url.startswith(("https://", "http://")):
        raise ValueError("a download URL starts with https://")
    try:
        with urllib.request.urlopen(url, timeout=timeout, context=ssl_context) as answer:  # noqa: S310
            return bytes(answer.read())
    except urllib.error.HTTPError as error:
        code = re.search(rb"<Code>(\w{1,64})</Code>", error.read(4096))  # S3's error code, e.g. AccessDenied
        raise ConnectionFailedError(f"the download answered HTTP {error.code} {code[1].decode() if code else ''} "
                                    "(expired? ask for new URLs)") from None
    except (urllib.error.URLError, OSError) as exc:
        raise ConnectionFailedError(f"the download failed: {type(exc).__name__}") from exc
