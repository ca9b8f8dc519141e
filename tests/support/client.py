"""The typed client (runtime.client) over an in-process application: a Transport on Starlette's test client."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from runtime.client import Answer, PlatformClient


class TestClientTransport:
    def __init__(self, http: Any) -> None:  # a fastapi.testclient.TestClient (or any httpx.Client)
        self._http = http

    def send(self, method: str, target: str, *, headers: Mapping[str, str], body: bytes | None) -> Answer:
        answer = self._http.request(method, target, content=body, headers=dict(headers))
        return Answer(answer.status_code, {k.lower(): v for k, v in answer.headers.items()}, answer.content)


def platform_client(http: Any, headers: Mapping[str, str]) -> PlatformClient:
    """A client of the application behind `http`, as the caller whose credential `headers` carry."""
    return PlatformClient(TestClientTransport(http), headers=headers)
