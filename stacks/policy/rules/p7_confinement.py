"""P7: sensitive data is processed only in ECS and stored only in Aurora (and the export bucket)."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator

from runtime.contract import CLASSIFICATION_TAG, DataClass
from stacks.policy.rules.base import AssemblyView, Result, Rule
from stacks.policy.rules.p2_classification import DATA_STORE_TYPES

# A variable that NAMES a secret (…_SECRET_ID, …_SECRET_ARN) is fine; one that holds it is not.
SECRET_NAME = re.compile(r"PASSWORD|PASSWD|SECRET(?!_ID|_ARN)|TOKEN|PRIVATE_KEY|CREDENTIAL|API_KEY", re.IGNORECASE)
SECRET_VALUE = re.compile(
    r"(AKIA|ASIA)[0-9A-Z]{16}"  # AWS access key ids
    r"|-----BEGIN [A-Z ]*PRIVATE KEY"
    r"|eyJ[\w-]{10,}\.[\w-]{10,}"  # JWTs
    r"|\bsk-[A-Za-z0-9]{20,}|ghp_[A-Za-z0-9]{30,}"  # API keys, GitHub tokens
)
PURPOSE_TAG = "data-purpose"
EXPORT_PURPOSE = "portability-export"
# The database, its backups, and the portability export bucket may hold SENSITIVE data.
SENSITIVE_STORE_TYPES = ("AWS::RDS::DBCluster", "AWS::RDS::DBInstance", "AWS::Backup::BackupVault")


class NoSecretsInTaskEnvironment(Rule):
    id = "P7-NoSecretsInTaskEnvironment"
    promises = ("P7", "P6")
    title = "Task definitions pass no secret-looking names or values as plain environment variables"
    explanation = (
        "Plain environment variables show in the console, the API and every describe call. Secrets reach tasks "
        "through ECS secrets from Secrets Manager."
    )

    def evaluate(self, view: AssemblyView) -> Iterator[Result]:
        for env in view.environments:
            for task in view.resources(env, "AWS::ECS::TaskDefinition"):
                problems = []
                for container in task.properties.get("ContainerDefinitions", []):
                    for variable in container.get("Environment", []):
                        name, value = str(variable.get("Name")), json.dumps(variable.get("Value"))
                        if SECRET_NAME.search(name):
                            problems.append(f"{container.get('Name')}: variable {name} looks like a secret")
                        if SECRET_VALUE.search(value):
                            problems.append(f"{container.get('Name')}: variable {name} holds secret-looking material")
                yield self.result(task, not problems, "; ".join(problems) or "plain settings only")


class SensitiveStoresConfined(Rule):
    id = "P7-SensitiveStoresConfined"
    promises = ("P7", "P2")
    title = "Only the database, its backups and the portability export bucket hold SENSITIVE data"
    explanation = (
        "Sensitive data is stored only in Aurora (and its encrypted backups), plus the export bucket during a "
        "portability export. Any other store classified SENSITIVE (a log group, a topic, a queue) breaks P7."
    )

    def evaluate(self, view: AssemblyView) -> Iterator[Result]:
        for env in view.environments:
            for store in view.resources(env, *DATA_STORE_TYPES):
                if store.tags.get(CLASSIFICATION_TAG) != DataClass.SENSITIVE.value:
                    continue
                allowed = store.type in SENSITIVE_STORE_TYPES or (
                    store.type == "AWS::S3::Bucket" and store.tags.get(PURPOSE_TAG) == EXPORT_PURPOSE
                )
                yield self.result(store, allowed, f"a SENSITIVE {store.type}")
