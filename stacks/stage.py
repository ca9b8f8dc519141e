"""PlatformStage: wires the stacks of ONE environment and does the grants between them (P1).

A stage never receives anything of another environment: only its own `EnvironmentConfig`.
"""

from aws_cdk import Environment, Stage, Tags
from constructs import Construct

from stacks.access import AccessStack
from stacks.audit import AuditStack
from stacks.backup import BackupCopyStack, BackupStack
from stacks.config import EnvironmentConfig
from stacks.data import DataStack
from stacks.keys import KeysStack
from stacks.network import NetworkStack
from stacks.service import ServiceStack
from stacks.storage import StorageStack


class PlatformStage(Stage):
    def __init__(self, scope: Construct, *, env_config: EnvironmentConfig, app_name: str) -> None:
        super().__init__(scope, env_config.name, env=Environment(account=env_config.account, region=env_config.region))
        self.env_config = env_config
        self.app_name = app_name
        env, app = env_config, app_name

        self.keys = KeysStack(self, "Keys", env_config=env, app_name=app)
        keys = self.keys.keys
        self.network = NetworkStack(self, "Network", env_config=env, app_name=app, keys=keys)
        self.data = DataStack(self, "Data", env_config=env, app_name=app, keys=keys, network=self.network)
        self.backup = BackupStack(
            self, "Backup", env_config=env, app_name=app, backups_key=keys.backups, cluster=self.data.cluster
        )
        self.storage = StorageStack(self, "Storage", env_config=env, app_name=app, keys=keys)
        self.access = AccessStack(self, "Access", env_config=env, app_name=app, keys=keys, network=self.network)
        self.service = ServiceStack(
            self,
            "Service",
            env_config=env,
            app_name=app,
            keys=keys,
            network=self.network,
            data=self.data,
            storage=self.storage,
            vpn_security_group=self.access.security_group,
        )
        self.audit = AuditStack(
            self,
            "Audit",
            env_config=env,
            app_name=app,
            keys=keys,
            storage=self.storage,
            data=self.data,
            service=self.service,
        )
        if env.backup_copy_region:
            self.backup_copy = BackupCopyStack(
                self, "BackupCopy", env_config=env, app_name=app, region=env.backup_copy_region
            )
            self.backup.add_stack_dependency(self.backup_copy)

        Tags.of(self).add("app", app_name)
        Tags.of(self).add("environment", env_config.name)
