"""The audit sequencer (P14): `python -m runtime audit sequence`, a service of its own with no load balancer.

Why its own service rather than a background task of the data service: the sequencer is the only writer of the
audit chain's positions and head (database role platform_sequencer) and the only principal the audit-signing
key lets sign (its task role, a named role: runtime.contract.audit_sequencer_role_name). Kept out of the
internet-facing data service, a compromised API task can neither reorder the chain nor sign a checkpoint. One task
runs; on a deploy the old one stops before the new one starts, and should two ever overlap, the second waits on
the sequencer's advisory lock (runtime/db/sequencer.py).
"""

from collections.abc import Mapping

from aws_cdk import aws_iam as iam
from constructs import Construct

from stacks.constructs.runtime_service import RuntimeService
from stacks.services.base import ServiceBase

COMMAND = ["python", "-m", "runtime", "audit", "sequence"]


class AuditSequencer(RuntimeService):
    def __init__(self, scope: Construct, construct_id: str, *, base: ServiceBase, task_role: iam.IRole,
                 environment: Mapping[str, str]) -> None:
        props = base.service_props(task_role=task_role, environment=environment, min_tasks=1, max_tasks=1)
        super().__init__(scope, construct_id, **{**props, "secrets": {}}, worker_command=COMMAND)
