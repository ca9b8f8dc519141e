"""moto in server mode on 127.0.0.1, with IAM access control on, and per-role credentials.

moto checks requests against IAM only when `INITIAL_NO_AUTH_ACTION_COUNT` is set before it is imported
(shared/notes/moto-iam.md), so the server runs in a child process started with that variable. It lets
exactly `BOOTSTRAP_CALLS` requests through unchecked: they create an administrator user, whose keys make
every later stand-in; everything after is judged by IAM, the task processes' calls included.

`MOTO_ACCOUNT_ID` makes moto's account the template's, so ARNs the templates spell out literally (topic,
bucket, log group ARNs) are the stand-ins' own.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
HOST = "127.0.0.1"
ADMIN_USER = "e2e-admin"
BOOTSTRAP_CALLS = 3  # create_user, put_user_policy, create_access_key (see admin_credentials)
_ALLOW_ALL = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}


class MotoError(RuntimeError):
    """The local AWS endpoint did not start or refused the emulation's own set-up."""


@dataclass(frozen=True)
class Credentials:
    access_key_id: str
    secret_access_key: str = field(repr=False)
    session_token: str | None = field(default=None, repr=False)

    def environment(self, endpoint: str, region: str) -> dict[str, str]:
        """The variables a task process gets: its credentials, the endpoint and the region."""
        env = {
            "AWS_ACCESS_KEY_ID": self.access_key_id,
            "AWS_SECRET_ACCESS_KEY": self.secret_access_key,
            "AWS_ENDPOINT_URL": endpoint,
            "AWS_REGION": region,
            "AWS_DEFAULT_REGION": region,
        }
        if self.session_token:
            env["AWS_SESSION_TOKEN"] = self.session_token
        return env


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


@dataclass
class MotoServer:
    endpoint: str
    account: str
    region: str
    process: subprocess.Popen[bytes] = field(repr=False)
    log: Path
    admin: Credentials | None = None

    def client(self, service: str, credentials: Credentials | None = None) -> Any:
        import boto3  # type: ignore[import-untyped]

        creds = credentials or self.admin
        if creds is None:
            raise MotoError("no administrator credentials yet: call admin_credentials() first")
        return boto3.client(
            service,
            endpoint_url=self.endpoint,
            region_name=self.region,
            aws_access_key_id=creds.access_key_id,
            aws_secret_access_key=creds.secret_access_key,
            aws_session_token=creds.session_token,
        )

    def admin_credentials(self) -> Credentials:
        """Spend the unchecked calls on an administrator user; its keys make the stand-ins."""
        bootstrap = Credentials("AKIAE2EBOOTSTRAP0000", "bootstrap")
        iam = self.client("iam", bootstrap)
        iam.create_user(UserName=ADMIN_USER)
        iam.put_user_policy(UserName=ADMIN_USER, PolicyName="everything", PolicyDocument=json.dumps(_ALLOW_ALL))
        key = iam.create_access_key(UserName=ADMIN_USER)["AccessKey"]
        self.admin = Credentials(key["AccessKeyId"], key["SecretAccessKey"])
        return self.admin

    def role_credentials(self, role_arn: str, session: str) -> Credentials:
        """Temporary credentials of `role_arn`, assumed by an IAM user that may do nothing else."""
        iam = self.client("iam")
        user = f"assume-{session}"[:64]
        iam.create_user(UserName=user)
        policy = {"Version": "2012-10-17",
                  "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole", "Resource": role_arn}]}
        iam.put_user_policy(UserName=user, PolicyName="assume-task-role", PolicyDocument=json.dumps(policy))
        key = iam.create_access_key(UserName=user)["AccessKey"]
        sts = self.client("sts", Credentials(key["AccessKeyId"], key["SecretAccessKey"]))
        assumed = sts.assume_role(RoleArn=role_arn, RoleSessionName=session[:64])
        c = assumed["Credentials"]
        return Credentials(c["AccessKeyId"], c["SecretAccessKey"], c["SessionToken"])

    def model_data(self, service: str) -> dict[str, Any]:
        """The backend's state of one service (`/moto-api/data.json`, e2e/moto_launcher.py): every model's
        attributes, by model."""
        url = f"{self.endpoint}/moto-api/data.json?service={service}"
        with urllib.request.urlopen(url, timeout=30) as answer:  # noqa: S310 (the local endpoint)
            return dict(json.loads(answer.read()).get(service, {}))

    def sent_emails(self) -> list[dict[str, Any]]:
        """The messages SES (and SES v2, which stores in SES's backend) accepted for sending."""
        return [dict(m) for m in self.model_data("ses").get("Message", [])]

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def start(*, account: str, region: str, workdir: Path, timeout: float = 30.0) -> MotoServer:
    """Start the server as a child process and wait until it answers on its port."""
    port = free_port()
    log = workdir / "moto.log"
    env = {
        **os.environ,
        "INITIAL_NO_AUTH_ACTION_COUNT": str(BOOTSTRAP_CALLS),
        "MOTO_ACCOUNT_ID": account,
        "AWS_DEFAULT_REGION": region,
        "PYTHONPATH": str(ROOT),  # for e2e.moto_launcher (moto's server, data.json fixed)
    }
    for name in ("AWS_ENDPOINT_URL", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        env.pop(name, None)
    with log.open("wb") as out:
        process = subprocess.Popen(  # noqa: S603 (our own interpreter, fixed arguments)
            [sys.executable, "-m", "e2e.moto_launcher", "-H", HOST, "-p", str(port)],
            stdout=out, stderr=subprocess.STDOUT, env=env, cwd=workdir,
        )
    server = MotoServer(f"http://{HOST}:{port}", account, region, process, log)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise MotoError(f"moto server exited ({process.returncode}): {log.read_text(errors='replace')[-2000:]}")
        try:
            with socket.create_connection((HOST, port), timeout=0.5):
                return server  # a TCP connect is not a request: the unchecked calls stay unspent
        except OSError:
            time.sleep(0.1)
    server.stop()
    raise MotoError(f"moto server did not listen on {HOST}:{port} within {timeout:.0f} s; see {log}")


@contextmanager
def running(*, account: str, region: str, workdir: Path) -> Iterator[MotoServer]:
    server = start(account=account, region=region, workdir=workdir)
    try:
        server.admin_credentials()
        yield server
    finally:
        server.stop()
