"""P8: the database replicates across availability zones, with a failover target."""

from __future__ import annotations

from collections.abc import Iterator

from stacks.policy.rules.base import AssemblyView, Result, Rule


class MultiAzDatabase(Rule):
    id = "P8-MultiAzDatabase"
    promises = ("P8",)
    title = "Each database cluster has instances pinned to at least two availability zones"
    explanation = (
        "A writer and at least one reader in another zone give Aurora a failover target when a zone fails. "
        "Zones left to chance cannot be proven at synth time, so every instance names its zone."
    )

    def evaluate(self, view: AssemblyView) -> Iterator[Result]:
        for env in view.environments:
            instances = list(view.resources(env, "AWS::RDS::DBInstance"))
            for cluster in view.resources(env, "AWS::RDS::DBCluster"):
                members = [
                    i
                    for i in instances
                    if view.resolve(env, i.template_path, i.properties.get("DBClusterIdentifier")) == cluster
                ]
                zones = {i.properties.get("AvailabilityZone") for i in members}
                unpinned = None in zones
                ok = len(members) >= 2 and not unpinned and len(zones) >= 2
                detail = f"{len(members)} instances in zones {sorted(z for z in zones if z)}"
                yield self.result(cluster, ok, detail + (" (some not pinned)" if unpinned else ""))
