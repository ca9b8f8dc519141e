"""`restore plan` (P11) against moto: the plan copies the source's security settings into a new cluster; a time
outside the restorable window, an unknown cluster and an unsafe source are refused with what to do."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from runtime.errors import RestorePlanError, RestoreSourceNotFoundError, RestoreWindowError
from runtime.restore.plan import check_identifier, default_target, make_plan
from runtime.restore.rds import RdsClusters
from tests.runtime.restore.conftest import SOURCE, Account


def _now() -> datetime:
    return datetime.now(UTC)


def test_plan_inside_window_copies_the_sources_security_settings(account: Account) -> None:
    facts = RdsClusters(account.rds).describe(SOURCE)
    to = _now() - timedelta(hours=3)
    plan = make_plan(facts, to, now=_now())

    assert plan.target == f"{SOURCE}-pitr-{to:%Y%m%d%H%M}" and plan.source == SOURCE
    assert plan.kms_key_id == account.kms_key
    assert plan.subnet_group == account.subnet_group and plan.security_groups == (account.security_group,)
    assert plan.parameter_group == f"{SOURCE}-params"
    assert plan.instance_class == "db.r6g.large" and len(plan.instances) == 3
    assert plan.instances[0].availability_zone == "eu-west-1a"  # the writer first, zones as the source's
    assert plan.iam_auth and plan.deletion_protection
    text = plan.describe()
    for expected in (plan.target, account.kms_key, account.subnet_group, account.security_group,
                     f"{SOURCE}-params", "3 x db.r6g.large", "deletion protection on"):
        assert expected in text
    request = plan.cluster_request()
    assert request["RestoreToTime"] == to and request["KmsKeyId"] == account.kms_key
    assert request["Tags"] and request["EnableIAMDatabaseAuthentication"] is True


def test_plan_before_the_earliest_restorable_time_explains_the_window(account: Account) -> None:
    facts = RdsClusters(account.rds).describe(SOURCE)
    with pytest.raises(RestoreWindowError) as caught:
        make_plan(facts, _now() - timedelta(days=8), now=_now())
    message = str(caught.value)
    assert "before the earliest restorable time" in message and "restorable window" in message
    assert "7 days" in message and "aws backup list-recovery-points-by-resource" in message


def test_plan_after_the_latest_restorable_time_says_to_wait(account: Account) -> None:
    facts = RdsClusters(account.rds).describe(SOURCE)
    with pytest.raises(RestoreWindowError, match=r"after the latest restorable time.*wait"):
        make_plan(facts, _now() - timedelta(minutes=1), now=_now())
    with pytest.raises(RestoreWindowError, match="in the future"):
        make_plan(facts, _now() + timedelta(hours=1), now=_now())


def test_plan_of_an_unknown_cluster_says_how_to_list_them(account: Account) -> None:
    with pytest.raises(RestoreSourceNotFoundError, match=r"no cluster nope in eu-west-1.*describe-db-clusters"):
        RdsClusters(account.rds, region="eu-west-1").describe("nope")


def test_plan_refuses_a_source_that_does_not_force_tls(account: Account) -> None:
    account.raw.modify_db_cluster_parameter_group(DBClusterParameterGroupName=f"{SOURCE}-params", Parameters=[
        {"ParameterName": "rds.force_ssl", "ParameterValue": "0", "ApplyMethod": "pending-reboot"}])
    facts = RdsClusters(account.rds).describe(SOURCE)
    with pytest.raises(RestorePlanError, match="does not force TLS"):
        make_plan(facts, _now() - timedelta(hours=1), now=_now())


def test_plan_target_rules(account: Account) -> None:
    facts = RdsClusters(account.rds).describe(SOURCE)
    with pytest.raises(RestorePlanError, match="must differ from the source"):
        make_plan(facts, _now() - timedelta(hours=1), now=_now(), target=SOURCE)
    with pytest.raises(RestorePlanError, match="not a valid cluster id"):
        check_identifier("1-bad--id-")
    long = default_target("x" * 70, _now())
    assert len(long) <= 63 and long.endswith(f"-pitr-{_now():%Y%m%d}" + long[-4:])
    one = make_plan(facts, _now() - timedelta(hours=1), now=_now(), instances=1, deletion_protection=False,
                    purpose="drill")
    assert len(one.instances) == 1 and not one.deletion_protection and "-drill-" in one.target
