"""Development token issuers: an RSA key, its JWKS, and signed access tokens for made-up users.

Two, as deployed: the customers' IdP (`TokenIssuer.generate()`: owner tokens with an `org_id`) and the
support staff's own IdP (`TokenIssuer.generate_staff()`: its own key, issuer and audience; `staff_token`
adds the staff role), so no customer token is ever a staff token (P4). Used by the service tests, the
API benchmark and `make dev` (the local run), in place of a real IdP. Never in a deployment: the keys
live in files on this machine.
"""

from __future__ import annotations

import json
import os
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

DEV_ISSUER = "https://dev-issuer.localhost/"
DEV_AUDIENCE = "platform-api"
DEV_STAFF_ISSUER = "https://dev-staff-issuer.localhost/"
DEV_STAFF_AUDIENCE = "platform-support-api"
DEV_STAFF_CLAIM = "staff_roles"  # the support service's PLATFORM_AUTH_STAFF_CLAIM and _ROLE in tests and make dev
DEV_STAFF_ROLE = "platform-support"


@dataclass
class TokenIssuer:
    key: rsa.RSAPrivateKey = field(repr=False)
    issuer: str = DEV_ISSUER
    audience: str = DEV_AUDIENCE
    kid: str = "dev-1"

    @classmethod
    def generate(cls, **kwargs: Any) -> TokenIssuer:
        return cls(rsa.generate_private_key(public_exponent=65537, key_size=2048), **kwargs)

    @classmethod
    def generate_staff(cls) -> TokenIssuer:
        """The support staff's IdP: a key, issuer, audience and kid of its own."""
        return cls.generate(issuer=DEV_STAFF_ISSUER, audience=DEV_STAFF_AUDIENCE, kid="dev-staff-1")

    def jwks(self) -> dict[str, Any]:
        jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(self.key.public_key()))
        return {"keys": [{**jwk, "kid": self.kid, "use": "sig", "alg": "RS256"}]}

    def token(self, sub: str, organisation: uuid.UUID | str | None, *, ttl: int = 3600, **claims: Any) -> str:
        now = int(time.time())
        payload: dict[str, Any] = {"iss": self.issuer, "aud": self.audience, "sub": sub, "iat": now, "exp": now + ttl}
        if organisation is not None:
            payload["org_id"] = str(organisation)
        payload.update(claims)
        return jwt.encode(payload, self.key, algorithm="RS256", headers={"kid": self.kid})

    def headers(self, sub: str, organisation: uuid.UUID | str | None, **claims: Any) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token(sub, organisation, **claims)}"}

    def staff_token(self, sub: str, *, ttl: int = 3600, **claims: Any) -> str:
        """A token of a support engineer: no organisation, the staff role in the staff claim."""
        return self.token(sub, None, ttl=ttl, **{DEV_STAFF_CLAIM: [DEV_STAFF_ROLE], **claims})

    def staff_headers(self, sub: str, **claims: Any) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.staff_token(sub, **claims)}"}

    # --- kept in a folder between `make dev` and `python -m dev token` -------------------------------

    def save(self, folder: Path, *, prefix: str = "") -> None:
        """`issuer-key.pem`, `issuer.json` (issuer, audience, kid) and `jwks.json`, each name after `prefix`
        (e.g. "staff-" for the staff issuer beside the customers' one)."""
        pem = self.key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        descriptor = os.open(folder / f"{prefix}issuer-key.pem", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(descriptor, "wb") as out:
            out.write(pem)
        identity = {"issuer": self.issuer, "audience": self.audience, "kid": self.kid}
        (folder / f"{prefix}issuer.json").write_text(json.dumps(identity))
        (folder / f"{prefix}jwks.json").write_text(json.dumps(self.jwks()))

    @classmethod
    def load(cls, folder: Path, *, prefix: str = "") -> TokenIssuer:
        key = serialization.load_pem_private_key((folder / f"{prefix}issuer-key.pem").read_bytes(), password=None)
        assert isinstance(key, rsa.RSAPrivateKey)
        identity = folder / f"{prefix}issuer.json"
        return cls(key, **json.loads(identity.read_text())) if identity.is_file() else cls(key)
