"""`restore apply` and `restore drill` (P11) against moto: without --confirm nothing changes; with it the new
cluster is restored, waited for with progress, verified (available, the source's key, TLS forced, row counts
through the runtime when reachable) and the cut-over steps are printed; failures leave a clear state and next
step, and running again resumes; the drill restores to a scratch cluster and removes it."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from psycopg_pool import ConnectionPool

from runtime import cli
from runtime.cli import restore as restore_cli
from runtime.db import open_pool
from runtime.db.schema import JOBS_ROLE
from runtime.drill import FileDrillLog
from runtime.drill.postgres import PostgresDrillLog
from runtime.errors import RestorePlanError, RestoreStepError, RestoreVerificationError
from runtime.restore.drill import run_restore_drill
from runtime.restore.plan import make_plan
from runtime.restore.procedure import Restorer, cut_over_steps
from runtime.restore.rds import RdsClusters
from runtime.restore.rows import PostgresRowCounter
from tests.runtime.restore.conftest import SOURCE, Account
from tests.support.platform_db import PlatformDatabase

TO = "2026-01-01T00:00Z"


class FakeTime:
    def __init__(self) -> None:
        self.now = datetime.now(UTC)
        self.slept = 0.0

    def __call__(self) -> datetime:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept += seconds
        self.now += timedelta(seconds=seconds)


def _restorer(rds: Any, progress: list[str] | None = None, *, timeout: timedelta = timedelta(hours=1)) -> Restorer:
    time = FakeTime()
    lines = progress if progress is not None else []
    return Restorer(RdsClusters(rds), progress=lines.append, sleep=time.sleep, clock=time, timeout=timeout, poll=30)


def _plan(account: Account, **options: Any) -> Any:
    now = datetime.now(UTC)
    return make_plan(RdsClusters(account.rds).describe(SOURCE), now - timedelta(hours=2), now=now, **options)


def _cluster_ids(account: Account) -> set[str]:
    return {c["DBClusterIdentifier"] for c in account.raw.describe_db_clusters()["DBClusters"]}


@pytest.fixture
def cli_on(account: Account, monkeypatch: pytest.MonkeyPatch) -> Account:
    monkeypatch.setattr(restore_cli, "make_clients", lambda service: account.rds)
    monkeypatch.setattr(restore_cli, "make_restorer", lambda clusters: Restorer(clusters, progress=print,
                                                                                sleep=lambda s: None))
    monkeypatch.delenv("PLATFORM_DATABASE_HOST", raising=False)
    return account


def _to() -> str:
    return (datetime.now(UTC) - timedelta(hours=2)).isoformat()


def test_cli_apply_without_confirm_changes_nothing(cli_on: Account, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["restore", "apply", "--cluster", SOURCE, "--to", _to()]) == 0
    out = capsys.readouterr().out
    assert "restore plan" in out and "nothing changed: add --confirm" in out
    assert _cluster_ids(cli_on) == {SOURCE}


def test_cli_plan_prints_the_plan(cli_on: Account, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["restore", "plan", "--cluster", SOURCE, "--to", _to(), "--target", "recovered-db"]) == 0
    out = capsys.readouterr().out
    assert "new cluster         recovered-db" in out and cli_on.kms_key in out and "3 x db.r6g.large" in out
    assert _cluster_ids(cli_on) == {SOURCE}


def test_cli_apply_with_confirm_restores_verifies_and_prints_cut_over(
    cli_on: Account, capsys: pytest.CaptureFixture[str]
) -> None:
    code = cli.main(["restore", "apply", "--cluster", SOURCE, "--to", _to(), "--target", "recovered-db",
                     "--confirm"])
    out = capsys.readouterr().out
    assert code == 0, out
    assert _cluster_ids(cli_on) == {SOURCE, "recovered-db"}
    restored = cli_on.raw.describe_db_clusters(DBClusterIdentifier="recovered-db")["DBClusters"][0]
    assert restored["KmsKeyId"] == cli_on.kms_key and restored["DBClusterParameterGroup"] == f"{SOURCE}-params"
    assert restored["DeletionProtection"] and restored["IAMDatabaseAuthenticationEnabled"]
    assert len(restored["DBClusterMembers"]) == 3
    for check in ("available", "encrypted", "tls-enforced", "network", "iam-auth", "deletion-protection"):
        assert f"[ok] {check}" in out
    assert "row counts skipped" in out and "cut-over (nothing has switched yet)" in out
    assert "--new-db-cluster-identifier platform-prod-db" in out
    source = cli_on.raw.describe_db_clusters(DBClusterIdentifier=SOURCE)["DBClusters"][0]
    assert source["Status"] == "available" and len(source["DBClusterMembers"]) == 3  # untouched


def test_cli_restore_of_unknown_cluster_is_one_line(cli_on: Account, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["restore", "plan", "--cluster", "nope", "--to", _to()]) == cli.EXIT_FAILED
    err = capsys.readouterr().err
    assert err.startswith("error: no cluster nope") and err.count("\n") == 1


def test_cli_restore_outside_window_is_one_line(cli_on: Account, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["restore", "apply", "--cluster", SOURCE, "--to", TO, "--confirm"]) == cli.EXIT_FAILED
    assert "before the earliest restorable time" in capsys.readouterr().err
    assert _cluster_ids(cli_on) == {SOURCE}


class FailingInstances:
    """The moto client, but create_db_instance fails `failures` times (a quota, say)."""

    def __init__(self, client: Any, failures: int) -> None:
        self._client, self.failures = client, failures

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)

    def create_db_instance(self, **kwargs: Any) -> Any:
        if self.failures:
            self.failures -= 1
            from botocore.exceptions import ClientError

            raise ClientError({"Error": {"Code": "InstanceQuotaExceeded", "Message": "quota"}}, "CreateDBInstance")
        return self._client.create_db_instance(**kwargs)


def test_apply_failure_names_the_state_and_the_next_step_and_resumes(account: Account) -> None:
    plan = _plan(account, target="recovered-db")
    flaky = FailingInstances(account.rds, failures=1)
    with pytest.raises(RestoreStepError) as caught:
        _restorer(flaky).apply(plan)
    message = str(caught.value)
    assert "InstanceQuotaExceeded" in message and "cluster recovered-db exists" in message
    assert "Run the same command again to resume" in message and "delete-db-cluster" in message

    progress: list[str] = []
    applied = _restorer(flaky, progress).apply(plan)
    assert applied.resumed and applied.ok
    assert any(line.startswith("resuming") for line in progress)
    assert len(account.raw.describe_db_clusters(DBClusterIdentifier="recovered-db")["DBClusters"][0]
               ["DBClusterMembers"]) == 3


def test_apply_refuses_a_target_that_is_another_cluster(account: Account) -> None:
    account.raw.create_db_cluster(DBClusterIdentifier="someone-else", Engine="aurora-postgresql",
                                  MasterUsername="x", MasterUserPassword="password123",
                                  DBClusterParameterGroupName=f"{SOURCE}-params")
    with pytest.raises(RestorePlanError, match="already exists and is not a restore"):
        _restorer(account.rds).apply(_plan(account, target="someone-else"))


class Stuck:
    """The moto client, but the restored cluster stays in `status`."""

    def __init__(self, client: Any, status: str) -> None:
        self._client, self._status = client, status

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)

    def describe_db_clusters(self, **kwargs: Any) -> Any:
        response = self._client.describe_db_clusters(**kwargs)
        for cluster in response["DBClusters"]:
            if cluster["DBClusterIdentifier"] != SOURCE:
                cluster["Status"] = self._status
        return response


def test_apply_wait_reports_progress_and_times_out_with_a_resumable_state(account: Account) -> None:
    plan = _plan(account, target="recovered-db")
    progress: list[str] = []
    with pytest.raises(RestoreStepError, match=r"still not available after 0:05:00.*run the same command again"):
        _restorer(Stuck(account.rds, "creating"), progress, timeout=timedelta(minutes=5)).apply(plan)
    assert progress[0].startswith("restore of platform-prod-db")
    assert any("recovered-db: creating" in line for line in progress)
    assert len([line for line in progress if "creating" in line]) == 1  # printed on change, not every poll


def test_apply_reports_a_failed_restore(account: Account) -> None:
    with pytest.raises(RestoreStepError, match=r"the restore failed.*describe-events"):
        _restorer(Stuck(account.rds, "inaccessible-encryption-credentials")).apply(_plan(account))


class OtherKey:
    """The moto client, but the restored cluster reports another KMS key."""

    def __init__(self, client: Any) -> None:
        self._client = client

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)

    def describe_db_clusters(self, **kwargs: Any) -> Any:
        response = self._client.describe_db_clusters(**kwargs)
        for cluster in response["DBClusters"]:
            if cluster["DBClusterIdentifier"] != SOURCE:
                cluster["KmsKeyId"] = "arn:aws:kms:eu-west-1:123456789012:key/another"
        return response


def test_apply_verification_failure_says_do_not_cut_over(account: Account) -> None:
    with pytest.raises(RestoreVerificationError, match=r"encrypted.*Do NOT cut over"):
        _restorer(OtherKey(account.rds)).apply(_plan(account))


@pytest.fixture
def jobs_pool(platform_db: PlatformDatabase) -> Iterator[ConnectionPool]:
    pool = open_pool(platform_db.settings(JOBS_ROLE, pool_max_size=2), platform_db.password(JOBS_ROLE),
                     name="restore-tests")
    yield pool
    pool.close()


class LocalCounter:
    """Counts rows of the test database whatever endpoint the restored cluster reports (moto's is fake)."""

    def __init__(self, platform_db: PlatformDatabase) -> None:
        self._inner = PostgresRowCounter(platform_db.settings(JOBS_ROLE), lambda s: platform_db.password(JOBS_ROLE))
        self._port = platform_db.cluster.port

    def counts(self, endpoint: str, port: int | None) -> Mapping[str, int | None]:
        return self._inner.counts("localhost", self._port)


@pytest.mark.postgres
def test_apply_counts_rows_through_the_runtime_when_reachable(account: Account,
                                                              platform_db: PlatformDatabase) -> None:
    applied = _restorer(account.rds).apply(_plan(account), counter=LocalCounter(platform_db))
    assert applied.row_counts is not None and "read through the runtime" in applied.rows_note
    assert applied.row_counts["audit_chain_head"] is not None
    assert "prompts (estimated)" in applied.row_counts and "audit_events (estimated)" in applied.row_counts
    assert any(c.name == "audit-trail" and c.ok for c in applied.checks)
    steps = cut_over_steps(applied.plan, applied.restored)
    assert len(steps) == 7 and "desired-count 0" in steps[0] and "erase register" in steps[2]


@pytest.mark.postgres
def test_apply_unreachable_database_skips_row_counts_without_failing(account: Account,
                                                                     platform_db: PlatformDatabase) -> None:
    counter = PostgresRowCounter(platform_db.settings(JOBS_ROLE), lambda s: platform_db.password(JOBS_ROLE),
                                 connect_timeout=2)
    applied = _restorer(account.rds).apply(_plan(account), counter=counter)  # moto's endpoint does not resolve
    assert applied.ok and applied.row_counts is None and "not reachable from here" in applied.rows_note


@pytest.mark.postgres
def test_restore_drill_restores_verifies_removes_and_records(account: Account, jobs_pool: ConnectionPool) -> None:
    log = PostgresDrillLog(jobs_pool)
    record = run_restore_drill(RdsClusters(account.rds), _restorer(account.rds), SOURCE, log=log)
    assert record.passed, record.describe()
    assert [s.name for s in record.steps] == ["plan", "restore", "instances", "wait", "verify", "cleanup"]
    assert record.figures["target"].startswith(f"{SOURCE}-drill-") and record.figures["instance_class"]
    assert all(record.figures["checks"].values())
    assert _cluster_ids(account) == {SOURCE}  # the scratch cluster is gone
    assert log.last_passed("restore") == record.finished_at


def test_restore_drill_failure_is_recorded_and_cleaned_up(account: Account, tmp_path: Path) -> None:
    record = run_restore_drill(RdsClusters(OtherKey(account.rds)), _restorer(OtherKey(account.rds)), SOURCE,
                               log=FileDrillLog(tmp_path))
    assert not record.passed and record.failure == "verify:encrypted"
    assert record.steps[-1].name == "cleanup" and record.steps[-1].ok
    assert _cluster_ids(account) == {SOURCE}
    assert len(list(tmp_path.glob("restore-drill-*.json"))) == 1


def test_cli_restore_drill(cli_on: Account, capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    assert cli.main(["restore", "drill", "--cluster", SOURCE, "--record-dir", str(tmp_path)]) == 0
    assert "restore drill" in capsys.readouterr().out
    assert _cluster_ids(cli_on) == {SOURCE}
