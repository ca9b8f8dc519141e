"""Checks of what moto (and so the local emulation) cannot answer, with botocore's Stubber: the backup jobs, the
Client VPN, an AWS-managed vault key; and how an unsupported API or a refused call is reported."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import boto3  # type: ignore[import-untyped]
import pytest
from botocore.stub import Stubber  # type: ignore[import-untyped]

from runtime.verify_deployed import backup, vpn
from runtime.verify_deployed.context import Check, Context
from runtime.verify_deployed.result import Result, Status
from runtime.verify_deployed.run import run
from tests.runtime.verify_deployed.healthy import ACCOUNT, CLUSTER, REGION, RESOLVER, SUPPORT_CIDR, VAULT, at, expected

NOW = at(2026, 6, 1)
VAULT_ARN = f"arn:aws:backup:{REGION}:{ACCOUNT}:backup-vault:{VAULT}"
CLUSTER_ARN = f"arn:aws:rds:{REGION}:{ACCOUNT}:cluster:{CLUSTER}"
KEY_ARN = f"arn:aws:kms:{REGION}:{ACCOUNT}:key/1234abcd-12ab-34cd-56ef-1234567890ab"


@pytest.fixture
def stubs() -> Iterator[dict[str, Stubber]]:
    made: dict[str, Stubber] = {}
    yield made
    for stub in made.values():
        stub.assert_no_pending_responses()
        stub.deactivate()


def _context(stubs: dict[str, Stubber]) -> Context:
    clients: dict[str, Any] = {}

    def factory(service: str) -> Any:
        if service not in clients:
            clients[service] = boto3.client(service, region_name=REGION, aws_access_key_id="x",
                                            aws_secret_access_key="x")
            stubs[service] = Stubber(clients[service])
        return clients[service]
    context = Context(expected(), factory, clock=lambda: NOW)
    context.cache["vault"] = {"BackupVaultName": VAULT, "BackupVaultArn": VAULT_ARN, "EncryptionKeyArn": KEY_ARN,
                              "Locked": True, "MinRetentionDays": 7}
    context.cache["cluster"] = {"DBClusterIdentifier": CLUSTER, "DBClusterArn": CLUSTER_ARN}
    return context


def _stub(context: Context, stubs: dict[str, Stubber], service: str, method: str, response: dict[str, Any],
          parameters: dict[str, Any] | None = None) -> None:
    context.clients(service)
    stubs[service].add_response(method, response, parameters)
    stubs[service].activate()


def _one(check: Check, context: Context) -> Result:
    return run([check], aws=context, database=None)[0]


def _jobs(*jobs: tuple[str, timedelta]) -> dict[str, Any]:
    return {"BackupJobs": [{"BackupJobId": f"job-{i}", "State": state, "CompletionDate": NOW - age,
                            "ResourceArn": CLUSTER_ARN} for i, (state, age) in enumerate(jobs)]}


_JOB_QUERY = {"ByBackupVaultName": VAULT, "ByResourceArn": CLUSTER_ARN, "ByCreatedAfter": NOW - backup.RECENT}


def test_backup_job_completed_within_26_hours_passes(stubs: dict[str, Stubber]) -> None:
    context = _context(stubs)
    _stub(context, stubs, "backup", "list_backup_jobs", _jobs(("COMPLETED", timedelta(hours=20)),
                                                             ("FAILED", timedelta(hours=2))), _JOB_QUERY)
    result = _one(backup.recent_job, context)
    assert result.status is Status.PASS and "job-0" in result.resources


def test_backup_jobs_none_completed_recently_fails(stubs: dict[str, Stubber]) -> None:
    context = _context(stubs)
    _stub(context, stubs, "backup", "list_backup_jobs", _jobs(("FAILED", timedelta(hours=2)),
                                                             ("RUNNING", timedelta(hours=1))), _JOB_QUERY)
    result = _one(backup.recent_job, context)
    assert result.status is Status.FAIL and "no completed backup job since" in result.detail


def test_vault_on_an_aws_managed_key_fails(stubs: dict[str, Stubber]) -> None:
    context = _context(stubs)
    _stub(context, stubs, "kms", "describe_key", {"KeyMetadata": {"KeyId": "k", "Arn": KEY_ARN,
                                                                  "KeyManager": "AWS"}}, {"KeyId": KEY_ARN})
    assert _one(backup.vault_encrypted, context).status is Status.FAIL


def _endpoints(logging: bool) -> dict[str, Any]:
    return {"ClientVpnEndpoints": [{"ClientVpnEndpointId": "cvpn-endpoint-0123456789abcdef0", "ConnectionLogOptions": {
        "Enabled": logging, "CloudwatchLogGroup": "adp-dev-access-connectionlogs"}}]}


def _rules(*cidrs: str, everyone: bool = False) -> dict[str, Any]:
    return {"AuthorizationRules": [{"DestinationCidr": c, "AccessAll": everyone, "Status": {"Code": "active"}}
                                   for c in cidrs]}


@pytest.mark.parametrize(("logging", "cidrs", "everyone", "passes"), [
    (True, (SUPPORT_CIDR, RESOLVER), False, True),
    (False, (SUPPORT_CIDR, RESOLVER), False, False),  # connection logging switched off
    (True, (SUPPORT_CIDR, RESOLVER, "10.0.0.0/16"), False, False),  # the whole VPC authorized
    (True, (SUPPORT_CIDR, "0.0.0.0/0"), False, False),  # everything
    (True, (SUPPORT_CIDR,), True, False),  # every user, not the support group
])
def test_vpn_logging_and_authorization(stubs: dict[str, Stubber], logging: bool, cidrs: tuple[str, ...],
                                       everyone: bool, passes: bool) -> None:
    context = _context(stubs)
    context.clients("ec2")
    stubs["ec2"].add_response("describe_client_vpn_endpoints", _endpoints(logging))
    stubs["ec2"].add_response("describe_client_vpn_authorization_rules", _rules(*cidrs, everyone=everyone),
                              {"ClientVpnEndpointId": "cvpn-endpoint-0123456789abcdef0"})
    stubs["ec2"].activate()
    result = _one(vpn.logging_and_authorization, context)
    assert result.status is (Status.PASS if passes else Status.FAIL), result.detail
    assert result.resources == ("cvpn-endpoint-0123456789abcdef0",)


@pytest.mark.parametrize(("code", "status", "said"), [
    ("404", 404, "could not check: ec2 DescribeClientVpnEndpoints unsupported by endpoint"),
    ("InvalidAction", 400, "could not check: ec2 DescribeClientVpnEndpoints unsupported by endpoint"),
    ("UnauthorizedOperation", 403, "could not check: ec2 DescribeClientVpnEndpoints refused (UnauthorizedOperation): "
     "the auditor role lacks it"),
])
def test_unreadable_api_could_not_check_never_passes(stubs: dict[str, Stubber], code: str, status: int,
                                                     said: str) -> None:
    context = _context(stubs)
    context.clients("ec2")
    stubs["ec2"].add_client_error("describe_client_vpn_endpoints", code, "no", status)
    stubs["ec2"].activate()
    result = _one(vpn.logging_and_authorization, context)
    assert (result.status, result.detail) == (Status.NOT_CHECKED, said)
