"""HIPAA mode (P5): the service terminates TLS itself, so load balancer to task traffic is encrypted.

With certificate files configured they are used as they are. With `PLATFORM_SERVICE_TLS_SELF_SIGNED`
the task makes a key and a self-signed certificate at start-up, in a private directory under /tmp
(the only writable place of the read-only task): the load balancer encrypts to its targets but does
not verify their certificates, so a per-task certificate is enough, and no key is shipped anywhere.
Either way the server accepts TLS 1.2 or newer only.
"""

import datetime as dt
import os
import ssl
import tempfile
from pathlib import Path
from typing import Final

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from runtime.errors import ConfigurationError
from runtime.service.config import TlsSettings

MIN_VERSION: Final = ssl.TLSVersion.TLSv1_2
SELF_SIGNED_DAYS: Final = 365


def self_signed(directory: Path | None = None, *, common_name: str = "platform-service") -> tuple[Path, Path]:
    """A fresh P-256 key and a self-signed server certificate; returns (certificate file, key file)."""
    folder = Path(directory or tempfile.mkdtemp(prefix="platform-tls-"))
    folder.chmod(0o700)
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    now = dt.datetime.now(dt.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=SELF_SIGNED_DAYS))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(common_name)]), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = folder / "service.crt", folder / "service.key"
    descriptor = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "wb") as out:
        out.write(
            key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                              serialization.NoEncryption())
        )
    cert_file.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    return cert_file, key_file


def certificate_files(tls: TlsSettings) -> tuple[Path, Path]:
    if tls.self_signed:
        return self_signed()
    if tls.cert_file is None or tls.key_file is None:
        raise ConfigurationError("TLS is on but no certificate and key files are configured")
    return tls.cert_file, tls.key_file


def harden(context: ssl.SSLContext) -> ssl.SSLContext:
    """TLS 1.2+ only (P5), no compression, no renegotiation."""
    context.minimum_version = MIN_VERSION
    context.options |= ssl.OP_NO_COMPRESSION | ssl.OP_NO_RENEGOTIATION
    return context
