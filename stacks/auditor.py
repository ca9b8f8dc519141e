"""The read-only auditor role of ONE environment: what `python -m runtime verify-deployed` runs as (P1-P14 checked
on the live environment, runtime/verify_deployed/).

Assumable only by the principal in config (`auditor_principal_arn`; the config refuses another environment's
account, P1), it is granted exactly the actions the deployed-state checks call (runtime/permissions.py
DEPLOYED_READS): Describe, List and Get calls, no data plane. Most have no resource-level permissions, hence
`Resource: *` (acknowledged in stacks/policy/acknowledgements.py); the database families do not run as this role
(they connect as the jobs role, in the lifecycle job's task).
"""

from aws_cdk import Duration
from aws_cdk import aws_iam as iam
from constructs import Construct

from runtime import contract
from runtime.permissions import deployed_read_actions
from stacks.config import EnvironmentConfig


class AuditorRole(Construct):
    def __init__(self, scope: Construct, construct_id: str, *, env_config: EnvironmentConfig, app_name: str,
                 principal_arn: str) -> None:
        super().__init__(scope, construct_id)
        self.role = iam.Role(
            self,
            "Role",
            role_name=contract.auditor_role_name(app_name, env_config.name),
            assumed_by=iam.ArnPrincipal(principal_arn),
            description=f"{app_name} {env_config.name}: read-only deployed-state verification (verify-deployed)",
            max_session_duration=Duration.hours(1),
        )
        self.policy = iam.ManagedPolicy(
            self,
            "Policy",
            roles=[self.role],
            description="Exactly the reads of the deployed-state checks (runtime/permissions.py DEPLOYED_READS)",
            statements=[iam.PolicyStatement(sid="DeployedStateReads", actions=deployed_read_actions(),
                                            resources=["*"])],
        )
