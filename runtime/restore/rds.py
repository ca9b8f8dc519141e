"""The RDS calls of `restore` (P11), on an injected boto3 RDS client. Errors become typed restore errors that
name the AWS error code (never a credential) and leave the next step to the caller, which knows the state."""

from collections.abc import Callable
from typing import Any, Final

from runtime.aws_protocols import RdsClient
from runtime.errors import RestoreError, RestoreSourceNotFoundError
from runtime.restore.cluster import ClusterFacts, cluster_facts
from runtime.restore.plan import InstancePlan, RestorePlan

NOT_FOUND: Final = frozenset({"DBClusterNotFoundFault", "DBClusterNotFound"})


def error_code(exc: Exception) -> str:
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        code = response.get("Error", {}).get("Code")
        if isinstance(code, str) and code:
            return code
    return type(exc).__name__


class AwsCallError(RestoreError):
    """An RDS call failed; `code` is AWS's error code."""

    def __init__(self, message: str, *, code: str) -> None:
        super().__init__(message)
        self.code = code


def _call(what: str, call: Callable[[], Any]) -> Any:
    try:
        return call()
    except Exception as exc:
        code = error_code(exc)
        raise AwsCallError(f"{what} failed ({code})", code=code) from None


def _bind(call: Callable[..., Any], kwargs: dict[str, Any]) -> Callable[[], Any]:
    return lambda: call(**kwargs)


class RdsClusters:
    def __init__(self, client: RdsClient, *, region: str | None = None) -> None:
        self._client = client
        self.region = region

    def __repr__(self) -> str:
        return f"RdsClusters(region={self.region!r})"

    def describe(self, identifier: str) -> ClusterFacts:
        try:
            clusters = self._client.describe_db_clusters(DBClusterIdentifier=identifier)["DBClusters"]
        except Exception as exc:
            code = error_code(exc)
            if code in NOT_FOUND:
                where = f" in {self.region}" if self.region else ""
                raise RestoreSourceNotFoundError(
                    f"no cluster {identifier}{where} in this account: list them with `aws rds describe-db-clusters "
                    "--query 'DBClusters[].DBClusterIdentifier'` (the platform's is <app>-<env>-db)"
                ) from None
            raise AwsCallError(f"describing cluster {identifier} failed ({code}); the job needs "
                               "rds:DescribeDBClusters", code=code) from None
        raw = clusters[0]
        instances = _call(f"describing the instances of {identifier}", lambda: self._client.describe_db_instances(
            Filters=[{"Name": "db-cluster-id", "Values": [identifier]}]))["DBInstances"]
        parameters: list[Any] = []
        group = raw.get("DBClusterParameterGroup")
        if group:
            parameters = self._parameters(group)
        return cluster_facts(raw, instances, parameters)

    def _parameters(self, group: str) -> list[Any]:
        found: list[Any] = []
        marker: str | None = None
        while True:
            kwargs: dict[str, Any] = {"DBClusterParameterGroupName": group}
            if marker:
                kwargs["Marker"] = marker
            page = _call(f"reading the parameter group {group}", _bind(self._client.describe_db_cluster_parameters,
                                                                          kwargs))
            found.extend(page.get("Parameters") or ())
            marker = page.get("Marker")
            if not marker:
                return found

    def exists(self, identifier: str) -> bool:
        try:
            self._client.describe_db_clusters(DBClusterIdentifier=identifier)
        except Exception as exc:
            if error_code(exc) in NOT_FOUND:
                return False
            raise AwsCallError(f"describing cluster {identifier} failed ({error_code(exc)})",
                               code=error_code(exc)) from None
        return True

    def restore_cluster(self, plan: RestorePlan) -> None:
        _call(f"restoring {plan.source} to {plan.target}",
              lambda: self._client.restore_db_cluster_to_point_in_time(**plan.cluster_request()))

    def create_instance(self, plan: RestorePlan, instance: InstancePlan) -> None:
        _call(f"creating instance {instance.identifier}",
              lambda: self._client.create_db_instance(**plan.instance_request(instance)))

    def delete_instance(self, identifier: str) -> None:
        _call(f"deleting instance {identifier}",
              lambda: self._client.delete_db_instance(DBInstanceIdentifier=identifier, SkipFinalSnapshot=True))

    def delete_cluster(self, identifier: str) -> None:
        _call(f"deleting cluster {identifier}",
              lambda: self._client.delete_db_cluster(DBClusterIdentifier=identifier, SkipFinalSnapshot=True))
