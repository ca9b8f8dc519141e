"""The one AWS client factory of the runtime: `aws_client("kms")`, and `ClientFactory`, the type every adapter
builder takes so tests can pass their own.

Every client retries in botocore's adaptive mode (the standard retries with backoff, plus client-side rate
limiting once AWS throttles) and has connect and read timeouts, so a throttled or unreachable endpoint slows a
process down instead of failing it at the first error or hanging it. Endpoints are botocore's own:
AWS_ENDPOINT_URL (or AWS_ENDPOINT_URL_<SERVICE>) points every client at a local AWS stand-in (moto in
`make e2e`); unset, the regional endpoint (in a VPC, the interface endpoint its private DNS resolves to). The
region is AWS_DEFAULT_REGION's, else AWS_REGION's (what ECS sets), else the profile's.

Clients are built when first asked for, never at import, then kept: one per service, region and endpoint per
process. botocore clients are thread-safe (building one is not, hence the lock), and the adaptive rate limiter
works best when a process shares it. Credentials are the client's own chain (the task role's, refreshed by
botocore before they expire).
"""

import os
import threading
from collections.abc import Callable
from typing import Any, Final

ClientFactory = Callable[[str], Any]  # AWS service name ("kms", "rds", "s3", ...) -> boto3 client

RETRY_MODE: Final = "adaptive"
MAX_ATTEMPTS: Final = 5  # the first call and four retries
CONNECT_TIMEOUT_SECONDS: Final = 5
READ_TIMEOUT_SECONDS: Final = 30
SIGV4_SERVICES: Final = frozenset({"s3"})  # SSE-KMS objects and presigned URLs need SigV4
# What botocore reads from the environment when it builds a client; a client is kept per value of these.
_WHERE: Final = ("AWS_REGION", "AWS_DEFAULT_REGION", "AWS_PROFILE", "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS")
_ENDPOINT_PREFIX: Final = "AWS_ENDPOINT_URL"


def client_config(service: str) -> Any:
    """The botocore `Config` of every client of `service`."""
    from botocore.config import Config  # type: ignore[import-untyped]  # loaded when a client is built

    options: dict[str, Any] = {
        "retries": {"mode": RETRY_MODE, "max_attempts": MAX_ATTEMPTS},
        "connect_timeout": CONNECT_TIMEOUT_SECONDS,
        "read_timeout": READ_TIMEOUT_SECONDS,
    }
    if service in SIGV4_SERVICES:
        options["signature_version"] = "s3v4"
    return Config(**options)


class AwsClients:
    """A `ClientFactory` that builds each client once per process (per service, region and endpoint)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._clients: dict[tuple[str, ...], Any] = {}

    def __repr__(self) -> str:
        return f"AwsClients({sorted({key[0] for key in self._clients})})"

    def __call__(self, service: str) -> Any:
        key = (service, *_where())
        with self._lock:
            client = self._clients.get(key)
            if client is None:
                client = self._clients[key] = _build(service)
            return client

    def clear(self) -> None:
        """Forget every client built so far (the next call builds afresh)."""
        with self._lock:
            self._clients.clear()


def _where() -> tuple[str, ...]:
    endpoints = sorted(f"{name}={value}" for name, value in os.environ.items() if name.startswith(_ENDPOINT_PREFIX))
    return (*(os.environ.get(name, "") for name in _WHERE), *endpoints)


def _build(service: str) -> Any:
    import boto3  # type: ignore[import-untyped]  # built when first asked for, never at import

    # botocore reads AWS_DEFAULT_REGION; ECS, Lambda and the other SDKs set AWS_REGION, so it counts too.
    region = os.environ.get("AWS_DEFAULT_REGION") or os.environ.get("AWS_REGION") or None
    return boto3.client(service, region_name=region, config=client_config(service))


aws_client: Final = AwsClients()
