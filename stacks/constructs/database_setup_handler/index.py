"""CloudFormation custom resource: run the database setup task on ECS, wait for it, report its outcome.

CloudFormation sends Create and Update (a new task definition revision is a new `TaskDefinitionArn`
property, so every deploy that changes the image, command or settings runs it again) and Delete (a
no-op: migrations are forward-only). The handler starts ONE Fargate task of the setup task definition,
polls `DescribeTasks` until it is STOPPED, and answers SUCCESS only when the setup container exited 0;
otherwise FAILED with a reason that names the task, its exit code or stop reason, its log stream, and
the last lines it printed (the `db setup` output: steps and errors, never data). The stack event shows
that reason and the deployment rolls back before any service changes.

Stdlib and boto3 only (the Lambda runtime's). Clients, sleep and clock are injectable for tests.
"""

from __future__ import annotations

import json
import time
import urllib.request
from collections.abc import Callable, Mapping
from typing import Any

POLL_SECONDS = 10.0
# Stop waiting this long before the Lambda's own timeout, to stop the task and still answer CloudFormation.
MARGIN_SECONDS = 60.0
STARTED_BY = "database-setup"  # ecs:RunTask startedBy (at most 36 characters); find its tasks with it
LOG_LINES = 15
MAX_REASON = 3000  # the whole response must stay under CloudFormation's 4096 bytes


class SetupTaskFailedError(Exception):
    """The setup task could not start, failed, or did not finish in time; the message says which and why."""


def handler(event: Mapping[str, Any], context: Any) -> None:
    import boto3  # type: ignore[import-untyped]  # the Lambda runtime's; imported here: tests need no AWS

    remaining = context.get_remaining_time_in_millis() / 1000.0
    deadline = time.monotonic() + remaining - MARGIN_SECONDS
    answer(event, *outcome(event, ecs=boto3.client("ecs"), logs=boto3.client("logs"), deadline=deadline))


def outcome(
    event: Mapping[str, Any],
    *,
    ecs: Any,
    logs: Any,
    deadline: float,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> tuple[str, str, dict[str, str]]:
    """(status, reason, data) for the CloudFormation response; never raises."""
    if event.get("RequestType") == "Delete":
        return "SUCCESS", "nothing to undo: migrations are forward-only", {}
    try:
        task_arn = run_setup_task(
            ecs, event["ResourceProperties"], deadline=deadline, logs=logs, sleep=sleep, clock=clock
        )
    except SetupTaskFailedError as exc:
        return "FAILED", str(exc), {}
    except Exception as exc:  # anything else (a throttled call, a bad property): still answer, with the cause
        return "FAILED", f"the database setup step could not run: {type(exc).__name__}: {exc}", {}
    return "SUCCESS", f"database setup task {task_arn} exited 0", {"TaskArn": task_arn}


def run_setup_task(
    ecs: Any,
    properties: Mapping[str, Any],
    *,
    deadline: float,
    logs: Any = None,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> str:
    """Start the task, wait until it stops, and return its ARN when the setup container exited 0."""
    cluster = str(properties["Cluster"])
    response = ecs.run_task(
        cluster=cluster,
        taskDefinition=str(properties["TaskDefinitionArn"]),
        launchType="FARGATE",
        count=1,
        startedBy=STARTED_BY,
        networkConfiguration={
            "awsvpcConfiguration": {
                "subnets": list(properties["Subnets"]),
                "securityGroups": list(properties["SecurityGroups"]),
                "assignPublicIp": "DISABLED",
            }
        },
    )
    tasks = response.get("tasks") or []
    if not tasks:
        failures = "; ".join(f"{f.get('reason', '?')} ({f.get('arn', '')})" for f in response.get("failures", []))
        raise SetupTaskFailedError(
            f"ECS did not start the database setup task: {failures or 'no task and no reason given'}; check the "
            "cluster's capacity, the subnets and the task definition, then deploy again"
        )
    task_arn = str(tasks[0]["taskArn"])
    task = _wait_until_stopped(ecs, cluster, task_arn, deadline=deadline, sleep=sleep, clock=clock)
    container_name = str(properties["ContainerName"])
    container: Mapping[str, Any] = next(
        (c for c in task.get("containers", []) if c.get("name") == container_name), {}
    )
    exit_code = container.get("exitCode")
    if exit_code == 0:
        return task_arn
    task_id = task_arn.rsplit("/", 1)[-1]
    stream = f"{properties['LogStreamPrefix']}/{container_name}/{task_id}"
    how = f"exited with code {exit_code}" if exit_code is not None else "did not run to completion"
    why = container.get("reason") or task.get("stoppedReason") or "no reason given"
    tail = _log_tail(logs, str(properties["LogGroup"]), stream)
    message = (
        f"the database setup task {task_id} {how} ({why}); nothing after it was deployed. Its log: group "
        f"{properties['LogGroup']}, stream {stream}."
    )
    if tail:
        message += " Last lines:\n" + tail
    raise SetupTaskFailedError(_clip(message))


def _wait_until_stopped(
    ecs: Any, cluster: str, task_arn: str, *, deadline: float, sleep: Callable[[float], None],
    clock: Callable[[], float],
) -> Mapping[str, Any]:
    while True:
        described = ecs.describe_tasks(cluster=cluster, tasks=[task_arn])
        found = described.get("tasks") or []
        if found and found[0].get("lastStatus") == "STOPPED":
            return dict(found[0])
        if clock() >= deadline:
            status = found[0].get("lastStatus", "unknown") if found else "not found"
            ecs.stop_task(cluster=cluster, task=task_arn, reason="database setup: the deploy stopped waiting")
            raise SetupTaskFailedError(
                f"the database setup task {task_arn} was still {status} when the deploy had to stop waiting; it "
                "was stopped. Look at its log for a step that hangs (a lock held elsewhere, an unreachable "
                "database), then deploy again"
            )
        sleep(POLL_SECONDS)


def _log_tail(logs: Any, group: str, stream: str) -> str:
    """The last lines the setup printed, or "" when they cannot be read (the reason still names the stream)."""
    if logs is None:
        return ""
    try:
        events = logs.get_log_events(logGroupName=group, logStreamName=stream, limit=LOG_LINES, startFromHead=False)
    except Exception:  # a missing stream (the task never started), no permission: the reason names the stream
        return ""
    return "\n".join(str(e.get("message", "")).rstrip() for e in events.get("events", []))


def _clip(text: str) -> str:
    return text if len(text) <= MAX_REASON else "..." + text[-(MAX_REASON - 3):]


def answer(event: Mapping[str, Any], status: str, reason: str, data: Mapping[str, str],
           put: Callable[[str, bytes], None] | None = None) -> None:
    """Send the response CloudFormation waits for to the request's pre-signed URL."""
    body = json.dumps(
        {
            "Status": status,
            "Reason": _clip(reason),
            # One id for the resource's whole life: an Update is never a replacement.
            "PhysicalResourceId": event.get("PhysicalResourceId") or f"database-setup-{event['LogicalResourceId']}",
            "StackId": event["StackId"],
            "RequestId": event["RequestId"],
            "LogicalResourceId": event["LogicalResourceId"],
            "Data": dict(data),
        }
    ).encode()
    (put or _put)(str(event["ResponseURL"]), body)


def _put(url: str, body: bytes) -> None:
    if not url.startswith("https://"):
        raise ValueError("the CloudFormation response URL must be https")
    request = urllib.request.Request(  # noqa: S310 - an https URL CloudFormation signed, checked above
        url, data=body, method="PUT", headers={"Content-Type": "", "Content-Length": str(len(body))}
    )
    with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310
        response.read()
