"""The breach drill (P12): `python -m runtime breach drill`, yearly, in a task definition and role of its own.

It never reads the master secret (only the deploy-time database setup does, P3): it creates and drops its scratch
database as the drill role (runtime.contract.DRILL_ROLE: CREATEDB and nothing else), which also migrates it (so it
owns the scratch objects), and works in it as the jobs role, each with an IAM token; its record goes to the live
database as the jobs role (the task's PLATFORM_DATABASE_USER). It never logs in as the migration owner, which owns
the live tables and could switch their row-level security off (P3). Nothing leaves the task: a local keyring
and file notifications.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

from aws_cdk import RemovalPolicy
from aws_cdk import aws_ecs as ecs
from aws_cdk import aws_kms as kms
from constructs import Construct

from runtime.contract import DRILL_ROLE, JOBS_ROLE
from stacks.services.one_off_task import OneOffTask
from stacks.services.roles import DatabaseUsers

COMMANDS: Final = ("breach drill",)
COMMAND: Final = ("python", "-m", "runtime", "breach", "drill")
# Who the drill logs in as: the jobs role (its record; the scratch database's procedure), the drill role (creates
# and drops the scratch database) and the owner (migrates it).
DATABASE_USERS: Final = (JOBS_ROLE, DRILL_ROLE)


class BreachDrill(OneOffTask):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        database: DatabaseUsers,
        image: ecs.ContainerImage,
        environment: Mapping[str, str],
        secrets: Mapping[str, ecs.Secret],
        logs_key: kms.IKey,
        log_retention_days: int,
        removal: RemovalPolicy,
    ) -> None:
        super().__init__(
            scope,
            construct_id,
            description="Breach drill task",
            commands=COMMANDS,
            command=COMMAND,
            statements=[database.connect(*DATABASE_USERS, sid="ConnectAsTheDrillUsers")],
            image=image,
            environment=environment,
            secrets=secrets,
            logs_key=logs_key,
            log_retention_days=log_retention_days,
            removal=removal,
            cpu=1024,
            memory_limit_mib=2048,
        )
