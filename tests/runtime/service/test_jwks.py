"""The IdP's keys: one algorithm per key, a static JWKS, and a JWKS URL fetched over real HTTPS (a local
server with its own CA) with caching, a rate-limited refresh on unknown kids and a bounded stale period."""

from __future__ import annotations

import datetime
import ipaddress
import json
import ssl
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import jwt
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.x509.oid import NameOID

from runtime.service.auth import AuthenticationError, BearerJwtAuthenticator, ClaimResolver, Refusal
from runtime.service.jwks import RemoteJwks, StaticJwks, signing_key

ISSUER, AUDIENCE = "https://idp.example/", "api"


def _jwk(private: Any, kid: str, **extra: Any) -> dict[str, Any]:
    public = private.public_key()
    if isinstance(public, rsa.RSAPublicKey):
        data = jwt.algorithms.RSAAlgorithm.to_jwk(public, as_dict=True)
    elif isinstance(public, ec.EllipticCurvePublicKey):
        data = jwt.algorithms.ECAlgorithm.to_jwk(public, as_dict=True)
    else:
        data = jwt.algorithms.OKPAlgorithm.to_jwk(public, as_dict=True)
    return {**data, "kid": kid, **extra}


@pytest.fixture(scope="module")
def rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _token(key: Any, kid: str, alg: str) -> str:
    now = int(time.time())
    claims = {"iss": ISSUER, "aud": AUDIENCE, "sub": "u", "org_id": "o", "iat": now, "exp": now + 60}
    return jwt.encode(claims, key, algorithm=alg, headers={"kid": kid})


def _authenticator(keys: Any) -> BearerJwtAuthenticator:
    return BearerJwtAuthenticator(keys=keys, issuer=ISSUER, audience=AUDIENCE, resolve=ClaimResolver())


def _refusal(authenticator: BearerJwtAuthenticator, token: str) -> Refusal:
    with pytest.raises(AuthenticationError) as raised:
        authenticator.authenticate({"Authorization": f"Bearer {token}"})
    return raised.value.reason


# --- one algorithm per key -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("make", "alg", "expected"),
    [
        ("rsa", None, "RS256"), ("rsa", "PS256", "PS256"), ("rsa", "RS512", "RS512"),
        ("p256", None, "ES256"), ("p384", None, "ES384"), ("p521", None, "ES512"), ("p256", "ES256", "ES256"),
        ("ed25519", None, "EdDSA"),
    ],
)
def test_signing_key_algorithm_comes_from_alg_or_key_type(make: str, alg: str | None, expected: str) -> None:
    private = _private(make)
    key = signing_key(_jwk(private, "k", **({"alg": alg} if alg else {})))
    assert key.algorithm == expected
    authenticator = _authenticator(StaticJwks({"keys": [_jwk(private, "k", **({"alg": alg} if alg else {}))]}))
    assert authenticator.authenticate({"Authorization": f"Bearer {_token(private, 'k', expected)}"}).user_id == "u"


def _private(make: str) -> Any:
    return {
        "rsa": lambda: rsa.generate_private_key(public_exponent=65537, key_size=2048),
        "p256": lambda: ec.generate_private_key(ec.SECP256R1()),
        "p384": lambda: ec.generate_private_key(ec.SECP384R1()),
        "p521": lambda: ec.generate_private_key(ec.SECP521R1()),
        "k256": lambda: ec.generate_private_key(ec.SECP256K1()),
        "ed25519": ed25519.Ed25519PrivateKey.generate,
    }[make]()


@pytest.mark.parametrize(
    ("jwk", "message"),
    [
        (lambda: _jwk(_private("p256"), "k", alg="ES384"), "does not fit"),
        (lambda: _jwk(_private("p384"), "k", alg="ES256"), "does not fit"),
        (lambda: _jwk(_private("rsa"), "k", alg="HS256"), "does not fit"),
        (lambda: _jwk(_private("rsa"), "k", alg="none"), "does not fit"),
        (lambda: _jwk(_private("rsa"), "k", alg="ES256"), "does not fit"),
        (lambda: _jwk(_private("ed25519"), "k", alg="ES256"), "does not fit"),
        (lambda: _jwk(_private("k256"), "k"), "not an RSA, EC"),
        (lambda: {"kty": "oct", "k": "c2VjcmV0", "kid": "k"}, "secret key material"),
        (lambda: {**_jwk(_private("p256"), "k"), "d": "AAAA"}, "private"),
        (lambda: {"kty": "OKP", "crv": "Ed448", "x": "AA", "kid": "k"}, "not an RSA, EC"),
        (lambda: _jwk(rsa.generate_private_key(public_exponent=65537, key_size=1024), "k"), "1024-bit"),  # noqa: S505 (refused)
        (lambda: {"kty": "RSA", "n": "!!", "e": "AQAB", "kid": "k"}, "could not be read"),
    ],
)
def test_signing_key_inconsistent_or_unsafe_key_is_refused_at_load(jwk: Any, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        StaticJwks({"keys": [jwk()]})


def test_static_jwks_bad_documents_are_refused(rsa_key: rsa.RSAPrivateKey) -> None:
    with pytest.raises(ValueError, match="twice"):
        StaticJwks({"keys": [_jwk(rsa_key, "k"), _jwk(rsa_key, "k")]})
    with pytest.raises(ValueError, match="has no kid"):
        StaticJwks({"keys": [{k: v for k, v in _jwk(rsa_key, "k").items() if k != "kid"}]})
    with pytest.raises(ValueError, match="no usable signing keys"):
        StaticJwks({"keys": [_jwk(rsa_key, "k", use="enc")]})
    with pytest.raises(ValueError, match='"keys" list'):
        StaticJwks({"keys": {}})


@pytest.mark.parametrize(("alg", "refusal"), [("ES256", Refusal.KEY_TYPE_MISMATCH), ("PS256", Refusal.ALG_NOT_ALLOWED),
                                              ("RS384", Refusal.ALG_NOT_ALLOWED), ("EdDSA", Refusal.KEY_TYPE_MISMATCH)])
def test_bearer_token_alg_other_than_the_keys_is_refused_before_verification(
    rsa_key: rsa.RSAPrivateKey, alg: str, refusal: Refusal
) -> None:
    """Even a valid signature by the right key: the key verifies RS256 only."""
    signer = rsa_key if alg[0] in "RP" else _private("p256") if alg == "ES256" else _private("ed25519")
    assert _refusal(_authenticator(StaticJwks({"keys": [_jwk(rsa_key, "k")]})), _token(signer, "k", alg)) is refusal


def test_bearer_each_key_verifies_only_its_own_algorithm() -> None:
    p256, ed = _private("p256"), _private("ed25519")
    authenticator = _authenticator(StaticJwks({"keys": [_jwk(p256, "ec"), _jwk(ed, "ed")]}))
    assert authenticator.authenticate({"Authorization": f"Bearer {_token(ed, 'ed', 'EdDSA')}"}).user_id == "u"
    assert _refusal(authenticator, _token(p256, "ed", "ES256")) is Refusal.KEY_TYPE_MISMATCH
    assert _refusal(authenticator, _token(ed, "ec", "EdDSA")) is Refusal.KEY_TYPE_MISMATCH
    assert _refusal(authenticator, _token(p256, "nope", "ES256")) is Refusal.UNKNOWN_KID


# --- a JWKS URL over real HTTPS --------------------------------------------------------------------------


class _Idp:
    """A local HTTPS JWKS endpoint: what it serves, whether it is up, and how often it was asked."""

    def __init__(self) -> None:
        self.document: dict[str, Any] = {"keys": []}
        self.status = 200
        self.hits = 0
        self.lock = threading.Lock()


def _ca_and_server_cert(folder: Path) -> tuple[str, Path, Path]:
    now = datetime.datetime.now(datetime.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "test IdP CA")])
    ca = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name).public_key(ca_key.public_key())
          .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(minutes=5))
          .not_valid_after(now + datetime.timedelta(days=1))
          .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
          .sign(ca_key, hashes.SHA256()))
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")]))
            .issuer_name(ca_name).public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                           critical=False)
            .sign(ca_key, hashes.SHA256()))
    cert_path, key_path = folder / "server.pem", folder / "server.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return ca.public_bytes(serialization.Encoding.PEM).decode(), cert_path, key_path


@pytest.fixture(scope="module")
def https_idp(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[_Idp, str, ssl.SSLContext]]:
    ca_pem, cert_path, key_path = _ca_and_server_cert(tmp_path_factory.mktemp("idp-tls"))
    idp = _Idp()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            with idp.lock:
                idp.hits += 1
                status, body = idp.status, json.dumps(idp.document).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert_path, key_path)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    client_context = ssl.create_default_context(cadata=ca_pem)
    yield idp, f"https://127.0.0.1:{server.server_address[1]}/.well-known/jwks.json", client_context
    server.shutdown()
    server.server_close()


class _Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _remote(https_idp: tuple[_Idp, str, ssl.SSLContext], clock: _Clock) -> tuple[_Idp, RemoteJwks]:
    idp, url, context = https_idp
    with idp.lock:
        idp.hits, idp.status = 0, 200
    return idp, RemoteJwks(url, ssl_context=context, clock=clock, timeout_seconds=2)


@pytest.mark.parametrize("url", ["http://idp.example/jwks", "file:///etc/passwd", "https://", "idp.example/jwks"])
def test_remote_jwks_url_not_https_is_refused_at_construction(url: str) -> None:
    with pytest.raises(ValueError, match="https://"):
        RemoteJwks(url)


def test_remote_jwks_verifies_tokens_and_caches_the_key_set(
    https_idp: tuple[_Idp, str, ssl.SSLContext], rsa_key: rsa.RSAPrivateKey
) -> None:
    clock = _Clock()
    idp, keys = _remote(https_idp, clock)
    idp.document = {"keys": [_jwk(rsa_key, "k1", use="sig", alg="RS256")]}
    authenticator = _authenticator(keys)
    for _ in range(5):
        assert authenticator.authenticate({"Authorization": f"Bearer {_token(rsa_key, 'k1', 'RS256')}"}).user_id
    assert idp.hits == 1
    clock.now += 301  # past the lifespan: fetched again
    keys.signing_key("k1")
    assert idp.hits == 2


def test_remote_jwks_rotation_is_picked_up_and_random_kids_are_rate_limited(
    https_idp: tuple[_Idp, str, ssl.SSLContext], rsa_key: rsa.RSAPrivateKey
) -> None:
    clock = _Clock()
    idp, keys = _remote(https_idp, clock)
    idp.document = {"keys": [_jwk(rsa_key, "old")]}
    keys.signing_key("old")
    for n in range(50):  # random kids within the refresh interval: no fetch at all
        with pytest.raises(AuthenticationError) as raised:
            keys.signing_key(f"random-{n}")
        assert raised.value.reason is Refusal.UNKNOWN_KID
    assert idp.hits == 1
    new_key = _private("p256")
    idp.document = {"keys": [_jwk(rsa_key, "old"), _jwk(new_key, "new")]}
    clock.now += 31  # the IdP rotated; an unknown kid may refresh once per 30 s
    assert keys.signing_key("new").algorithm == "ES256"
    for n in range(50):
        with pytest.raises(AuthenticationError):
            keys.signing_key(f"again-{n}")
    assert idp.hits == 2


def test_remote_jwks_outage_serves_the_last_key_set_for_a_bounded_time(
    https_idp: tuple[_Idp, str, ssl.SSLContext], rsa_key: rsa.RSAPrivateKey
) -> None:
    clock = _Clock()
    idp, keys = _remote(https_idp, clock)
    idp.document = {"keys": [_jwk(rsa_key, "k1")]}
    keys.signing_key("k1")
    idp.status = 503
    clock.now += 3600  # an hour without the IdP: the last good set still serves
    assert keys.signing_key("k1").algorithm == "RS256"
    clock.now += 10  # refresh attempts are rate-limited even while the IdP is down
    keys.signing_key("k1")
    attempts = idp.hits
    clock.now += 86_400 - 3600  # past the stale bound: fail closed
    with pytest.raises(AuthenticationError) as raised:
        keys.signing_key("k1")
    assert raised.value.reason is Refusal.KEY_UNAVAILABLE
    assert attempts == 2 and idp.hits == 3
    idp.status = 200
    clock.now += 31  # the IdP is back
    assert keys.signing_key("k1").algorithm == "RS256"


def test_remote_jwks_bad_document_keeps_the_last_good_set_and_skips_bad_keys(
    https_idp: tuple[_Idp, str, ssl.SSLContext], rsa_key: rsa.RSAPrivateKey
) -> None:
    clock = _Clock()
    idp, keys = _remote(https_idp, clock)
    idp.document = {"keys": [_jwk(rsa_key, "k1"), {"kty": "oct", "k": "c2VjcmV0", "kid": "hmac", "alg": "HS256"},
                             _jwk(_private("p256"), "mismatch", alg="RS256")]}
    assert keys.signing_key("k1").algorithm == "RS256"
    for kid in ("hmac", "mismatch"):  # left out, never usable
        with pytest.raises(AuthenticationError):
            keys.signing_key(kid)
    idp.document = {"keys": [{"kty": "oct", "k": "c2VjcmV0", "kid": "k1"}]}
    clock.now += 301
    assert keys.signing_key("k1").algorithm == "RS256"  # the bad set was not taken


def test_remote_jwks_untrusted_certificate_is_key_unavailable(
    https_idp: tuple[_Idp, str, ssl.SSLContext], rsa_key: rsa.RSAPrivateKey
) -> None:
    idp, url, _ = https_idp
    idp.document = {"keys": [_jwk(rsa_key, "k1")]}
    keys = RemoteJwks(url, timeout_seconds=2)  # the system's CAs: our test CA is not among them
    with pytest.raises(AuthenticationError) as raised:
        keys.signing_key("k1")
    assert raised.value.reason is Refusal.KEY_UNAVAILABLE
