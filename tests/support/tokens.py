"""A development token issuer: an RSA key, its JWKS, and signed access tokens for made-up users.

Used by the service tests, the API benchmark and `make dev` (the local run), in place of a real IdP.
Never in a deployment: its key lives in a file on this machine.
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


@dataclass
class TokenIssuer:
    key: rsa.RSAPrivateKey = field(repr=False)
    issuer: str = DEV_ISSUER
    audience: str = DEV_AUDIENCE
    kid: str = "dev-1"

    @classmethod
    def generate(cls, **kwargs: Any) -> TokenIssuer:
        return cls(rsa.generate_private_key(public_exponent=65537, key_size=2048), **kwargs)

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

    # --- kept in a folder between `make dev` and `python -m dev token` -------------------------------

    def save(self, folder: Path) -> None:
        pem = self.key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        descriptor = os.open(folder / "issuer-key.pem", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(descriptor, "wb") as out:
            out.write(pem)
        (folder / "jwks.json").write_text(json.dumps(self.jwks()))

    @classmethod
    def load(cls, folder: Path) -> TokenIssuer:
        key = serialization.load_pem_private_key((folder / "issuer-key.pem").read_bytes(), password=None)
        assert isinstance(key, rsa.RSAPrivateKey)
        return cls(key)
