"""The load balancer's public keys, by key id, for `AlbOidcAuthenticator` (fetched over HTTPS, cached).

    keys = AlbPublicKeys(region="eu-west-1", fetch=https_get)
    AlbOidcAuthenticator(expected_signer_arn=..., public_key=keys, resolve=...)

The key id comes from an unverified token header, so anyone can make us look one up. Lookups are
bounded: the id must look like a key id (no path tricks), known keys are cached, unknown ones are
remembered as unknown for a while, and at most `max_fetches` fetches run per `window_seconds`; past
that, lookups fail (a 401) until the window moves on. The HTTP client is injected; the default uses
the standard library with certificate verification. A failed lookup is a `KeyLookupError`: a fixed
message and a fixed `refusal` code for the log, never the key id or a fetch error's text.
"""

import re
import threading
import time
import urllib.error
import urllib.request
from collections import OrderedDict
from collections.abc import Callable
from typing import Final

from runtime.errors import PlatformError
from runtime.service.auth import ALB_KID, Refusal

KID: Final = ALB_KID
MAX_KEY_BYTES: Final = 16_384
FETCH_TIMEOUT_SECONDS: Final = 3.0


class KeyLookupError(PlatformError):
    """The load balancer's public key for this key id could not be had (the request gets a 401 with
    `refusal` as the logged reason). Messages are fixed text: never the key id."""

    def __init__(self, message: str, refusal: Refusal = Refusal.KEY_UNAVAILABLE) -> None:
        super().__init__(message)
        self.refusal = refusal


Fetch = Callable[[str], bytes]  # URL -> body of a 200 response; raises on anything else


def https_get(url: str) -> bytes:
    """GET over verified HTTPS (the default SSL context checks the certificate and host name)."""
    if not url.startswith("https://"):
        raise KeyLookupError("key URLs must be https")
    request = urllib.request.Request(url, headers={"Accept": "application/x-pem-file, text/plain"})  # noqa: S310
    try:
        with urllib.request.urlopen(request, timeout=FETCH_TIMEOUT_SECONDS) as response:  # noqa: S310 (https only)
            body: bytes = response.read(MAX_KEY_BYTES + 1)
    except (urllib.error.URLError, OSError) as exc:
        raise KeyLookupError(f"fetching the load balancer key failed: {type(exc).__name__}") from None
    if len(body) > MAX_KEY_BYTES:
        raise KeyLookupError("the load balancer key is larger than a public key can be")
    return body


def key_url(region: str, kid: str, partition: str = "aws") -> str:
    """Where AWS publishes the ALB's signing keys (ES256 public keys, PEM)."""
    if partition == "aws-us-gov":
        return f"https://s3-{region}.amazonaws.com/aws-elb-public-keys-prod-{region}/{kid}"
    suffix = "amazonaws.com.cn" if partition == "aws-cn" else "amazonaws.com"
    return f"https://public-keys.auth.elb.{region}.{suffix}/{kid}"


class AlbPublicKeys:
    def __init__(
        self,
        *,
        region: str,
        partition: str = "aws",
        fetch: Fetch = https_get,
        max_entries: int = 64,
        max_fetches: int = 10,
        window_seconds: float = 60.0,
        unknown_ttl_seconds: float = 300.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not re.fullmatch(r"[a-z]{2}(?:-[a-z]+)+-\d", region):
            raise ValueError(f"{region!r} is not an AWS region")
        self._region, self._partition, self._fetch, self._clock = region, partition, fetch, clock
        self._max_entries, self._max_fetches, self._window = max_entries, max_fetches, window_seconds
        self._unknown_ttl = unknown_ttl_seconds
        self._lock = threading.Lock()
        self._keys: OrderedDict[str, str] = OrderedDict()
        self._unknown: OrderedDict[str, float] = OrderedDict()
        self._fetches: list[float] = []

    def __repr__(self) -> str:
        return f"AlbPublicKeys(region={self._region!r}, cached={len(self._keys)})"

    def __call__(self, kid: str) -> str:
        if not KID.fullmatch(kid):
            raise KeyLookupError("the key id is not one the load balancer issues", Refusal.MALFORMED)
        with self._lock:
            cached = self._keys.get(kid)
            if cached is not None:
                self._keys.move_to_end(kid)
                return cached
            now = self._clock()
            seen_unknown = self._unknown.get(kid)
            if seen_unknown is not None and now - seen_unknown < self._unknown_ttl:
                raise KeyLookupError("the key id is unknown to the load balancer", Refusal.UNKNOWN_KID)
            self._fetches = [t for t in self._fetches if now - t < self._window]
            if len(self._fetches) >= self._max_fetches:
                raise KeyLookupError("too many key lookups; try again later", Refusal.KEY_UNAVAILABLE)
            self._fetches.append(now)
        try:
            pem = self._fetch(key_url(self._region, kid, self._partition)).decode("ascii")
        except Exception as exc:
            with self._lock:
                self._unknown[kid] = self._clock()
                while len(self._unknown) > self._max_entries:
                    self._unknown.popitem(last=False)
            raise KeyLookupError(f"no load balancer key for this key id ({type(exc).__name__})",
                                 Refusal.UNKNOWN_KID) from None
        if "BEGIN PUBLIC KEY" not in pem:
            raise KeyLookupError("the load balancer returned something that is not a public key",
                                 Refusal.KEY_UNAVAILABLE)
        with self._lock:
            self._keys[kid] = pem
            while len(self._keys) > self._max_entries:
                self._keys.popitem(last=False)
        return pem
