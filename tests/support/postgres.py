"""A throwaway PostgreSQL cluster for tests and benchmarks: TLS only, loopback only, removed after use.

    with PostgresCluster.start() as cluster:
        cluster.conninfo(user="postgres", password=cluster.superuser_password)

- finds `initdb`/`pg_ctl` in PATH or under /usr/lib/postgresql/<version>/bin (newest first);
- makes its own CA and a server certificate for `localhost`/127.0.0.1 with `cryptography`;
- `pg_hba.conf` has `hostssl` lines only and no Unix socket is opened, so every connection,
  setup included, is TLS with a verified server certificate (P5);
- PostgreSQL refuses to run as root: when we are root, the server runs as the `postgres` user.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import glob
import ipaddress
import os
import pwd
import secrets
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

SERVER_USER = "postgres"
HOST = "127.0.0.1"

# Throwaway data: durability buys nothing, speed does.
FAST_SETTINGS: Mapping[str, str] = {
    "fsync": "off",
    "synchronous_commit": "off",
    "full_page_writes": "off",
}


class ClusterError(RuntimeError):
    """The test cluster could not be created or started."""


def find_binaries() -> Path:
    """Directory holding initdb and pg_ctl: PATH first, then the newest /usr/lib/postgresql/*/bin."""
    on_path = shutil.which("initdb")
    if on_path and shutil.which("pg_ctl"):
        return Path(os.path.realpath(on_path)).parent
    candidates = sorted(
        glob.glob("/usr/lib/postgresql/*/bin/initdb"),
        key=lambda p: int(Path(p).parent.parent.name) if Path(p).parent.parent.name.isdigit() else 0,
        reverse=True,
    )
    if not candidates:
        raise ClusterError(
            "PostgreSQL server binaries not found (initdb): install the Debian package `postgresql` "
            "(.ci/run does this) or put its bin directory on PATH"
        )
    return Path(candidates[0]).parent


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


@dataclass(frozen=True)
class Certificates:
    ca_pem: bytes
    server_cert_pem: bytes
    server_key_pem: bytes


def make_certificates(common_name: str = "localhost") -> Certificates:
    """A fresh CA, and a server certificate it signs for localhost and 127.0.0.1."""
    now = dt.datetime.now(dt.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "platform test CA")])
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=2))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True, key_cert_sign=True, crl_sign=True, content_commitment=False,
                key_encipherment=False, data_encipherment=False, key_agreement=False, encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    server_key = ec.generate_private_key(ec.SECP256R1())
    server_cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)]))
        .issuer_name(ca_name)
        .public_key(server_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=2))
        .add_extension(
            x509.SubjectAlternativeName([x509.DNSName(common_name), x509.IPAddress(ipaddress.ip_address(HOST))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    return Certificates(
        ca_pem=ca_cert.public_bytes(serialization.Encoding.PEM),
        server_cert_pem=server_cert.public_bytes(serialization.Encoding.PEM),
        server_key_pem=server_key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        ),
    )


@dataclass
class PostgresCluster:
    root: Path
    port: int
    bindir: Path
    superuser_password: str = field(repr=False)
    run_as: str | None  # OS user the server runs as when we are root

    @property
    def data_dir(self) -> Path:
        return self.root / "data"

    @property
    def ca_file(self) -> Path:
        """The CA bundle clients verify the server with (sslrootcert)."""
        return self.root / "client" / "ca.pem"

    @classmethod
    @contextlib.contextmanager
    def start(cls, *, settings: Mapping[str, str] = FAST_SETTINGS) -> Iterator[PostgresCluster]:
        cluster = cls._create(settings)
        try:
            cluster._pg_ctl("start", "-w", "-t", "60", "-l", str(cluster.root / "server.log"))
            yield cluster
        finally:
            cluster._stop_and_remove()

    def conninfo(self, *, user: str, password: str, dbname: str = "postgres", sslmode: str = "verify-full") -> str:
        """A libpq conninfo string that verifies the server against the cluster's CA."""
        from psycopg.conninfo import make_conninfo  # only tests and benchmarks use this module

        return make_conninfo(
            host="localhost",
            hostaddr=HOST,
            port=self.port,
            user=user,
            password=password,
            dbname=dbname,
            sslmode=sslmode,
            sslrootcert=str(self.ca_file),
            connect_timeout=10,
        )

    def superuser_conninfo(self, dbname: str = "postgres") -> str:
        return self.conninfo(user="postgres", password=self.superuser_password, dbname=dbname)

    def log_tail(self, lines: int = 40) -> str:
        try:
            return "\n".join((self.root / "server.log").read_text().splitlines()[-lines:])
        except OSError:
            return ""

    # --- internals ----------------------------------------------------------------------------------

    @classmethod
    def _create(cls, settings: Mapping[str, str]) -> PostgresCluster:
        bindir = find_binaries()
        run_as = SERVER_USER if os.geteuid() == 0 else None
        if run_as:
            try:
                pwd.getpwnam(run_as)
            except KeyError:
                raise ClusterError(
                    f"running as root, and PostgreSQL refuses to: the server runs as the OS user {run_as!r}, which "
                    "does not exist; install the Debian package `postgresql` (it creates the user) or run as non-root"
                ) from None
            if shutil.which("runuser") is None:
                raise ClusterError("running as root needs `runuser` (util-linux) to start the server as postgres")
        root = Path(tempfile.mkdtemp(prefix="platform-pg-"))
        cluster = cls(root, free_port(), bindir, secrets.token_urlsafe(24), run_as)
        try:
            cluster._write_files(settings)
            return cluster
        except BaseException:
            shutil.rmtree(root, ignore_errors=True)
            raise

    def _write_files(self, settings: Mapping[str, str]) -> None:
        certs = make_certificates()
        server, client = self.root / "server", self.root / "client"
        server.mkdir()
        client.mkdir()
        (server / "server.crt").write_bytes(certs.server_cert_pem)
        (server / "server.key").write_bytes(certs.server_key_pem)
        (server / "server.key").chmod(0o600)
        self.ca_file.write_bytes(certs.ca_pem)
        pwfile = server / "pwfile"
        pwfile.write_text(self.superuser_password + "\n")
        pwfile.chmod(0o600)
        if self.run_as:
            owner = pwd.getpwnam(self.run_as)
            self.root.chmod(0o755)
            for path in (self.root, server, *server.iterdir()):
                os.chown(path, owner.pw_uid, owner.pw_gid)
        self._run(
            [
                str(self.bindir / "initdb"), "-D", str(self.data_dir), "-U", "postgres", "--pwfile", str(pwfile),
                "--auth=scram-sha-256", "--encoding=UTF8", "--locale=C", "--no-sync",
            ]
        )
        pwfile.unlink()
        conf = {
            "listen_addresses": f"'{HOST}'",
            "port": str(self.port),
            "unix_socket_directories": "''",  # no socket: TCP + TLS only
            "ssl": "on",
            "ssl_cert_file": f"'{server / 'server.crt'}'",
            "ssl_key_file": f"'{server / 'server.key'}'",
            "ssl_min_protocol_version": "'TLSv1.2'",
            "password_encryption": "'scram-sha-256'",
            "max_connections": "60",
            **settings,
        }
        with (self.data_dir / "postgresql.conf").open("a") as f:
            f.write("\n# written by tests/support/postgres.py\n")
            f.writelines(f"{k} = {v}\n" for k, v in conf.items())
        hba = "# TLS only (P5): no `host`, no `local` lines.\nhostssl all all 127.0.0.1/32 scram-sha-256\n"
        (self.data_dir / "pg_hba.conf").write_text(hba)
        if self.run_as:
            owner = pwd.getpwnam(self.run_as)
            os.chown(self.data_dir / "pg_hba.conf", owner.pw_uid, owner.pw_gid)

    def _pg_ctl(self, *args: str) -> None:
        try:
            self._run([str(self.bindir / "pg_ctl"), "-D", str(self.data_dir), *args])
        except ClusterError as exc:
            raise ClusterError(f"{exc}\n--- server log ---\n{self.log_tail()}") from None

    def _run(self, argv: Sequence[str]) -> None:
        command = ["runuser", "-u", self.run_as, "--", *argv] if self.run_as else list(argv)
        done = subprocess.run(command, capture_output=True, text=True, check=False, cwd=self.root)
        if done.returncode != 0:
            raise ClusterError(f"{' '.join(argv[:2])} failed ({done.returncode}): {done.stderr.strip()[-2000:]}")

    def _stop_and_remove(self) -> None:
        try:
            if (self.data_dir / "postmaster.pid").exists():
                self._pg_ctl("stop", "-m", "immediate", "-w")
        finally:
            shutil.rmtree(self.root, ignore_errors=True)
