"""`python -m dev` (make dev): admin tokens, the jobs' environment, and a second start refused before it
touches the running one's state."""

from __future__ import annotations

import fcntl
import json
import os
import socket
import uuid
from collections.abc import Iterator
from pathlib import Path

import jwt
import pytest

import dev.__main__ as dev
from runtime import settings
from tests.support.tokens import TokenIssuer


@pytest.fixture
def state(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    folder = tmp_path / "platform-dev"
    monkeypatch.setattr(dev, "STATE", folder)
    monkeypatch.setattr(dev, "LOCK", tmp_path / "platform-dev.lock")
    yield folder


def _running(folder: Path) -> TokenIssuer:
    folder.mkdir()
    issuer = TokenIssuer.generate()
    issuer.save(folder)
    (folder / "users.json").write_text(json.dumps({"alice": str(uuid.uuid4()), "bob": str(uuid.uuid4())}))
    return issuer


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_token_admin_has_the_admin_role(state: Path, capsys: pytest.CaptureFixture[str]) -> None:
    issuer = _running(state)
    assert dev.main(["token", "alice", "--admin"]) == 0
    claims = jwt.decode(capsys.readouterr().out.strip(), issuer.key.public_key(), algorithms=["RS256"],
                        audience=issuer.audience)
    assert settings.DEFAULT_AUTH_ADMIN_ROLE in claims[settings.DEFAULT_AUTH_ADMIN_CLAIM]
    assert claims["org_id"] == json.loads((state / "users.json").read_text())["alice"]


def test_token_member_has_no_admin_role(state: Path, capsys: pytest.CaptureFixture[str]) -> None:
    issuer = _running(state)
    assert dev.main(["token", "bob"]) == 0
    claims = jwt.decode(capsys.readouterr().out.strip(), issuer.key.public_key(), algorithms=["RS256"],
                        audience=issuer.audience)
    assert settings.DEFAULT_AUTH_ADMIN_CLAIM not in claims


def test_token_admin_and_support_together_refused(state: Path) -> None:
    _running(state)
    with pytest.raises(SystemExit):
        dev.main(["token", "alice", "--admin", "--support"])


def test_env_prints_exports_of_the_jobs_settings(state: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _running(state)
    (state / dev.ENV_FILE).write_text(json.dumps({settings.DATABASE_USER: "platform_jobs", "PGPASSFILE": "/x y"}))
    assert dev.main(["env"]) == 0
    assert capsys.readouterr().out.splitlines() == ["export PGPASSFILE='/x y'",
                                                    f"export {settings.DATABASE_USER}=platform_jobs"]


def test_env_without_a_run_fails(state: Path) -> None:
    assert dev.main(["env"]) == 1


def test_second_start_while_one_runs_refused_state_untouched(state: Path) -> None:
    _running(state)
    sentinel = state / "users.json"
    before = sentinel.read_text()
    holder = os.open(dev.LOCK, os.O_RDWR | os.O_CREAT, 0o600)  # the running start's lock
    try:
        fcntl.flock(holder, fcntl.LOCK_EX | fcntl.LOCK_NB)
        assert dev.run(_free_port(), _free_port()) == 1
    finally:
        os.close(holder)
    assert sentinel.read_text() == before and (state / "issuer-key.pem").is_file()


def test_start_on_a_busy_port_refused_state_untouched(state: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _running(state)
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = int(busy.getsockname()[1])
        assert dev.run(port, _free_port()) == 1
    assert f"port {port} is in use" in capsys.readouterr().err
    assert (state / "users.json").is_file()
