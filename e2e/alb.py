"""The load balancer's sign-in, emulated, for a service in `alb-oidc` mode (the self-hosted support service).

Deployed, the ALB signs staff in with the staff IdP (the listener's `authenticate-oidc` action: issuer,
client id) and passes the user's claims to the task in `x-amzn-oidc-data`: a JWT signed with ES256 by the
load balancer, its header naming `signer` (the ALB's ARN), `kid`, `iss` and `client`, its segments padded.
The service fetches the public key from https://public-keys.auth.elb.REGION.amazonaws.com/KID.

Locally: `LocalLoadBalancer` holds an ES256 key of its own and signs that header as the ALB does (padded
base64url segments, the listener's issuer and client id, the template's load balancer ARN as signer); the
service fetches the public key through the service's key-fetch override (`build_context(fetch=...)`): the
service process is started as `python -m e2e.alb KEYS_DIR URL_PREFIX -- serve`, which wires a fetch that
answers exactly the URL the service computes from the signer's region, from the key file, and then runs
`python -m runtime serve` unchanged. Both substitutions are printed as translations.
"""

from __future__ import annotations

import base64
import json
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

from e2e.assembly import Environment
from e2e.resolve import Resolver

HEADER = "x-amzn-oidc-data"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _padded(segment: str) -> str:
    return segment + "=" * (-len(segment) % 4)  # the load balancer pads its base64url segments


@dataclass
class LocalLoadBalancer:
    signer_arn: str
    issuer: str
    client_id: str
    kid: str = field(default_factory=lambda: str(uuid.uuid4()))
    key: ec.EllipticCurvePrivateKey = field(default_factory=lambda: ec.generate_private_key(ec.SECP256R1()),
                                            repr=False)

    @property
    def region(self) -> str:
        return self.signer_arn.split(":")[3]

    @property
    def partition(self) -> str:
        return self.signer_arn.split(":")[1]

    def public_pem(self) -> bytes:
        return self.key.public_key().public_bytes(serialization.Encoding.PEM,
                                                  serialization.PublicFormat.SubjectPublicKeyInfo)

    def write_key(self, folder: Path) -> Path:
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / self.kid
        path.write_bytes(self.public_pem())
        return path

    def data_header(self, claims: dict[str, Any], *, ttl: int = 120) -> dict[str, str]:
        """`x-amzn-oidc-data` for a signed-in user with these (user-info) claims."""
        exp = int(time.time()) + ttl
        header = {"typ": "JWT", "kid": self.kid, "alg": "ES256", "iss": self.issuer, "client": self.client_id,
                  "signer": self.signer_arn, "exp": exp}
        payload = {"iss": self.issuer, "exp": exp, **claims}
        signing_input = f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(payload).encode())}"
        der = self.key.sign(signing_input.encode(), ec.ECDSA(hashes.SHA256()))
        r, s = decode_dss_signature(der)
        signature = r.to_bytes(32, "big") + s.to_bytes(32, "big")
        token = f"{signing_input}.{_b64(signature)}"  # signed unpadded, sent padded (as runtime's tests expect)
        return {HEADER: ".".join(_padded(part) for part in token.split("."))}


def listener_oidc(env: Environment, resolver: Resolver, signer_arn: str) -> tuple[str, str]:
    """(issuer, client id) of the `authenticate-oidc` action of a listener of the load balancer `signer_arn`."""
    for stack, logical_id, resource in env.resources("AWS::ElasticLoadBalancingV2::Listener"):
        props = resource.get("Properties", {})
        where = f"Resources.{logical_id}.Properties"
        if resolver.resolve(stack.name, props.get("LoadBalancerArn"), f"{where}.LoadBalancerArn") != signer_arn:
            continue
        for action in props.get("DefaultActions", []):
            if action.get("Type") == "authenticate-oidc":
                config = action["AuthenticateOidcConfig"]
                return (resolver.resolve_text(stack.name, config["Issuer"], f"{where}.DefaultActions"),
                        resolver.resolve_text(stack.name, config["ClientId"], f"{where}.DefaultActions"))
    raise LookupError(f"no listener of {signer_arn} signs users in (authenticate-oidc)")


def wrap_argv(argv: list[str], keys: Path, url_prefix: str) -> list[str]:
    """`python -m runtime ARGS` -> `python -m e2e.alb KEYS URL_PREFIX -- ARGS` (same interpreter)."""
    if argv[1:3] != ["-m", "runtime"]:
        raise ValueError(f"the ALB key override wraps `python -m runtime ...`, not {argv}")
    return [argv[0], "-m", "e2e.alb", str(keys), url_prefix, "--", *argv[3:]]


def main(argv: list[str]) -> int:
    keys, url_prefix, separator, *runtime_args = argv
    if separator != "--":
        raise SystemExit("usage: python -m e2e.alb KEYS_DIR URL_PREFIX -- RUNTIME_ARGS...")
    folder = Path(keys)

    def fetch(url: str) -> bytes:
        """Answers only the URL the service computes for the signer's region; anything else fails as an
        unknown key id would."""
        kid = url.removeprefix(url_prefix)
        if not url.startswith(url_prefix) or "/" in kid or not (folder / kid).is_file():
            raise LookupError("no such load balancer key")
        return (folder / kid).read_bytes()

    import functools

    from runtime.__main__ import main as runtime_main
    from runtime.service import server, wiring

    build = functools.partial(wiring.build_context, fetch=fetch)
    setattr(server, "build_context", build)  # noqa: B010 (serve: server.run calls its own import of it)
    wiring.build_context = build  # serve --check
    return runtime_main(runtime_args)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
