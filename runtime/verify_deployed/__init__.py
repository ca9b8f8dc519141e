"""Deployed-state verification (`python -m runtime verify-deployed --env ENV`): read-only checks of a live
environment against the policy's promises (P1-P14), reported promise by promise like the compliance report.

Synth-time rules prove the templates; these checks prove what is running: a key disabled, a vault lock removed,
a snapshot made public, a listener downgraded, a trail stopped, a drill overdue, a task definition changed.
One module per family of checks (network, keys, database, backup, storage, edge, vpn, monitoring, drift,
database_runtime, drills); each check returns `Result`s (result.py) naming the promises, the status, the resource
ids examined and when. The AWS families read with the auditor's role (stacks/auditor.py), which is granted
exactly the calls they make (runtime/permissions.py DEPLOYED_READS); the two database families read as the
jobs role, in the lifecycle job's task.
"""
