"""The life-cycle test: what users and operators do, against the emulated deployment, each step timed.

Each step raises `StepFailed` (or any exception) to fail; `run_steps` prints one line per step with its
time and returns the number of failures. Steps after a failed one that they depend on are skipped.
"""

from __future__ import annotations

import hashlib
import json
import os
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg

from e2e.emulation import Running
from runtime import settings
from runtime.client import ApiError, ConnectionFailedError, PlatformClient, UrllibTransport, fetch


class StepFailed(AssertionError):
    """A step's check did not hold."""


@dataclass
class State:
    org: uuid.UUID = field(default_factory=uuid.uuid4)
    user: str = "alice@e2e.example"
    records: dict[str, str] = field(default_factory=dict)
    export_location: str = ""
    org_keys: bool = False  # per-organisation keys (the provisioning step ran)
    registered: bool = False  # a shared key: the first PUT registered it
    started: datetime = field(default_factory=lambda: datetime.now(UTC))


def _call(running: Running, mode: str, method: str, path: str, body: Any = None,
          headers: dict[str, str] | None = None) -> tuple[int, Any]:
    if mode in running.failed:
        raise StepFailed(f"the {mode} service is not running: {running.failed[mode].splitlines()[-1]}")
    url = running.services[mode].url + path
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method=method,  # noqa: S310 (loopback)
                                     headers={"Content-Type": "application/json", **(headers or {})})
    context = _UNVERIFIED
    try:
        with urllib.request.urlopen(request, timeout=30, context=context) as answer:  # noqa: S310
            raw = answer.read()
            return answer.status, json.loads(raw) if raw else None
    except urllib.error.HTTPError as error:
        raw = error.read()
        try:
            return error.code, json.loads(raw)
        except ValueError:
            return error.code, raw.decode(errors="replace")


def _owner_headers(running: Running, state: State, **claims: Any) -> dict[str, str]:
    return running.issuers["owner"].headers(state.user, state.org, **claims)


_UNVERIFIED = ssl._create_unverified_context()  # noqa: S323 (the ALB does not verify targets either)


def _owner(running: Running, state: State, *, admin: bool = False) -> PlatformClient:
    """The typed client (runtime.client) of the data service, as the state's user (its organisation's admin)."""
    if "owner" in running.failed:
        raise StepFailed(f"the owner service is not running: {running.failed['owner'].splitlines()[-1]}")
    env = running.services["owner"].spec.env
    claims = {env.get(settings.AUTH_ADMIN_CLAIM, settings.DEFAULT_AUTH_ADMIN_CLAIM):
              [env.get(settings.AUTH_ADMIN_ROLE, settings.DEFAULT_AUTH_ADMIN_ROLE)]} if admin else {}
    return PlatformClient(UrllibTransport(running.services["owner"].url, ssl_context=_UNVERIFIED),
                          headers=_owner_headers(running, state, **claims))


def _expect(status: int, wanted: int, answer: Any, what: str) -> None:
    if status != wanted:
        raise StepFailed(f"{what}: HTTP {status} (wanted {wanted}): {str(answer)[:400]}")


ORG_KEY_TAGS = ("platform:environment", "platform:app", "platform:organisation")


def _organisation_key_task(running: Running) -> str | None:
    """The task definition that declares `org provision-keys` (per-organisation keys), or None (a shared key)."""
    from e2e import tasks

    declaring = [t for t in tasks.task_definitions(running.env) if "org provision-keys" in (t.declared_commands or ())]
    return declaring[0].path if declaring else None


def _organisation_key(running: Running, state: State) -> dict[str, Any]:
    """The organisation's key as the KMS stand-in holds it (by the alias its task's PLATFORM_APP_NAME names)."""
    task = next(t for t in running.services.values() if t.spec.env.get("PLATFORM_APP_NAME"))
    env = task.spec.env
    alias = f"alias/{env['PLATFORM_APP_NAME']}-{env['PLATFORM_ENVIRONMENT']}-org-{state.org}"
    kms = running.moto.client("kms")
    return {"alias": alias, **kms.describe_key(KeyId=alias)["KeyMetadata"]}


def request_registration(running: Running, state: State) -> str:
    """The organisation registers. Per-organisation keys: it has no key yet, so the data service records a pending
    registration (ids only) and answers the typed 503; the request path creates no key. Shared key: registered."""
    state.org_keys = _organisation_key_task(running) is not None
    status, answer = _call(running, "owner", "PUT", "/v1/organisation", {"name": "E2E organisation"},
                           _owner_headers(running, state))
    if not state.org_keys:
        _expect(status, 201, answer, "PUT /v1/organisation")
        state.registered = True
        return f"organisation {state.org} (shared key: registered at once)"
    _expect(status, 503, answer, "PUT /v1/organisation before the organisation's key exists")
    if not isinstance(answer, dict) or not str(answer.get("type", "")).endswith("/organisation-key-unavailable"):
        raise StepFailed(f"PUT /v1/organisation without a key: {answer}")
    aliases = running.moto.client("kms").list_aliases().get("Aliases", [])
    if any(str(state.org) in a.get("AliasName", "") for a in aliases):
        raise StepFailed("the request path created the organisation's key")
    return "503 organisation-key-unavailable, registration pending (no key created by the request)"


def provision_organisation_key(running: Running, state: State) -> str:
    """The control-plane step (never the request path): the schedule in the templates (an EventBridge rule that
    runs the task declaring `org provision-keys` with `--pending`) creates the organisation's own KMS key (tags,
    rotation, alias); explicit provisioning is idempotent. With a shared key, none."""
    from e2e import tasks

    task = _organisation_key_task(running)
    if task is None:
        return "this environment wraps data keys under its shared key (keyring_mode shared): no organisation key"
    schedules = [s for s in tasks.scheduled_tasks(running.env)
                 if s.command == ["python", "-m", "runtime", "org", "provision-keys", "--pending"]]
    if len(schedules) != 1 or schedules[0].task.path != task:
        raise StepFailed(f"expected one schedule running `org provision-keys --pending` on {task}: "
                         f"{[(s.path, s.task.path, s.command) for s in schedules]}")
    out = _job(running, schedules[0].command[3:], "org provision-keys --pending (scheduled)")
    provisioned = {s["organisation"]: s for s in map(json.loads, out.strip().splitlines())}
    status = provisioned.get(str(state.org), {})
    if status.get("state") != "enabled":
        raise StepFailed(f"the scheduled provisioning left the key {status or 'untouched'}: {out[-300:]}")
    again = json.loads(_job(running, ["org", "provision-keys", str(state.org)], "org provision-keys").splitlines()[-1])
    if again.get("key_id") != status.get("key_id"):
        raise StepFailed(f"a second provisioning made another key: {again.get('key_id')} != {status.get('key_id')}")
    key = _organisation_key(running, state)
    kms = running.moto.client("kms")
    tags = {t["TagKey"]: t["TagValue"] for t in kms.list_resource_tags(KeyId=key["KeyId"])["Tags"]}
    if set(tags) != set(ORG_KEY_TAGS) or tags["platform:organisation"] != str(state.org):
        raise StepFailed(f"the key's tags are {tags}")
    if not kms.get_key_rotation_status(KeyId=key["KeyId"])["KeyRotationEnabled"]:
        raise StepFailed("the organisation key's rotation is off")
    if key.get("KeySpec", "SYMMETRIC_DEFAULT") != "SYMMETRIC_DEFAULT" or key.get("KeyUsage") != "ENCRYPT_DECRYPT":
        raise StepFailed(f"the organisation key is {key.get('KeySpec')} {key.get('KeyUsage')}")
    return (f"{schedules[0].path} ({schedules[0].schedule}) on {task}: {key['alias']} -> {key['KeyId']} (tags "
            f"{', '.join(sorted(tags))}, rotation on; idempotent)")


def register_organisation(running: Running, state: State) -> str:
    registered = _owner(running, state).organisation.put({"name": "E2E organisation"})
    if registered == state.registered:  # 201 for a new organisation, 200 when the first PUT registered it
        raise StepFailed(f"PUT /v1/organisation {'registered' if registered else 'replaced'} the organisation")
    return f"organisation {state.org}"


def write_and_read_records(running: Running, state: State) -> str:
    client = _owner(running, state)
    body = "Say hello to Alice, in French."
    record_id = client.prompts.create({"name": "greeting", "body": body})
    state.records["prompts"] = record_id
    read = client.prompts.get(record_id)
    if read.record["body"] != body:
        raise StepFailed(f"read back {read.record['body']!r}, wrote {body!r}")
    calls = client.model_calls.create_many([{"model": "e2e-1", "input": f"question {i}"} for i in range(3)])
    listed = [c["id"] for c in client.model_calls.iterate(page_size=2, model="e2e-1")]
    if sorted(listed) != sorted(calls):
        raise StepFailed(f"a batch of 3 model calls listed back as {len(listed)} by cursor")
    return f"prompt {record_id} written and read back; a batch of 3 model calls listed back by cursor and filter"


def stored_columns_are_ciphertext(running: Running, state: State) -> str:
    """Look at the row as the database holds it (superuser): the sensitive text is not there in clear."""
    with psycopg.connect(running.cluster.superuser_conninfo(running.db.dbname)) as conn:
        row = conn.execute("SELECT to_jsonb(p) FROM platform.prompts p WHERE id = %s",
                           (state.records["prompts"],)).fetchone()
    if row is None:
        raise StepFailed("the prompt is not in the prompts table")
    stored = json.dumps(row[0])
    if "Say hello to Alice" in stored:
        raise StepFailed("the prompt's body is stored in clear")
    return "the stored row holds no plaintext body"


def _staff_headers(running: Running, who: str) -> tuple[dict[str, str], str]:
    """A support engineer's credential, as the deployed support service receives it: the staff IdP's bearer
    token (its local stand-in), or the load balancer's signed header after the staff IdP signed them in."""
    env = running.services["support"].spec.env if "support" in running.services else {}
    claim, role = env.get("PLATFORM_AUTH_STAFF_CLAIM", ""), env.get("PLATFORM_AUTH_STAFF_ROLE", "")
    if "support" in running.issuers:
        issuer = running.issuers["support"]
        return issuer.headers(who, None, **{claim: [role]}), f"bearer token of {issuer.issuer}"
    if "support" in running.load_balancers:
        balancer = running.load_balancers["support"]
        return (balancer.data_header({"sub": who, "email": who, claim: [role]}),
                f"x-amzn-oidc-data signed as {balancer.signer_arn.rsplit('/', 2)[-2]} for {balancer.issuer}")
    return {}, "no credential"


def support_read(running: Running, state: State) -> str:
    headers, how = _staff_headers(running, "staff@e2e.example")
    status, answer = _call(running, "support", "GET", "/support/v1/audit-chain-head", None, headers)
    _expect(status, 200, answer, "GET /support/v1/audit-chain-head")
    status, refused = _call(running, "support", "GET", "/support/v1/audit-chain-head", None,
                            _owner_headers(running, state) if "owner" in running.issuers else {})
    _expect(status, 401, refused, "a customer's credential on the support API")
    return f"audit chain head at {answer.get('seq')} ({how}); a customer's token is refused (401)"


def _job(running: Running, command: list[str], what: str) -> str:
    done = running.job(["python", "-m", "runtime", *command])
    if done.returncode != 0:
        raise StepFailed(f"{what} ({done.task}) exited {done.returncode}: "
                         f"{(done.stderr or done.stdout).strip()[-600:]}")
    running.say(f"      ran {done.task} with its task role ({done.seconds:.1f} s)")
    return done.stdout


def export_and_verify(running: Running, state: State) -> str:
    """The organisation's admin asks for its export (P13), the job runs it, and the admin downloads it with the
    data service's presigned URLs: the manifest fetched is the one whose digest the request recorded."""
    admin = _owner(running, state, admin=True)
    request = admin.exports.request("json")
    command = ["export", "--org", str(state.org), "--format", "json", "--request", request["id"]]
    report = json.loads(_job(running, command, "export"))
    location = str(report.get("location") or report.get("destination") or "")
    if not location:
        raise StepFailed(f"export printed no location: {report}")
    state.export_location = location
    _job(running, ["export", "verify", location], "export verify")
    recorded = admin.exports.get(request["id"])
    if recorded["status"] != "complete":
        raise StepFailed(f"the export request is {recorded['status']} after the job")
    try:
        download = admin.exports.downloads(request["id"])
    except ApiError as exc:
        raise StepFailed(f"the admin's download URLs were refused: {exc}") from None
    manifest = _follow(running, download["manifest"]["url"])
    if hashlib.sha256(manifest).hexdigest() != recorded["manifest_sha256"]:
        raise StepFailed("the downloaded manifest is not the one the export recorded")
    return (f"exported to {location}, verified; the admin downloaded its manifest ({len(download['files'])} file "
            f"URL(s), presigned for {download['expires_in_seconds']} s by the data service's role), digest as recorded")


def _follow(running: Running, url: str) -> bytes:
    """GET a download URL. A URL acts as the role that signed it: it must be the data service's. moto's IAM
    enforcement cannot authenticate a query-string signature (it answers 500), so there the object is read with
    that role's own credentials, which is what the URL grants (s3:GetObject, and the key through S3)."""
    service = running.services["owner"].spec
    signer = urllib.parse.parse_qs(urllib.parse.urlparse(url).query)["X-Amz-Credential"][0].split("/")[0]
    if service.task_role_arn is None or running.credentials(service.task_role_arn).access_key_id != signer:
        raise StepFailed(f"the download URL is signed by {signer}, not by the data service's role")
    try:
        return fetch(url)
    except ConnectionFailedError as exc:
        if "HTTP 500" not in str(exc):
            raise StepFailed(f"the download failed: {exc}") from None
    bucket, _, key = urllib.parse.urlparse(url).path.lstrip("/").partition("/")
    s3 = running.moto.client("s3", running.credentials(service.task_role_arn))
    running.say("      translate  download: moto cannot check presigned URLs under IAM enforcement; read as the "
                "URL's signer (the data service's role) instead")
    return bytes(s3.get_object(Bucket=bucket, Key=urllib.parse.unquote(key))["Body"].read())


def erase(running: Running, state: State) -> str:
    """Erase the organisation; `erase verify` checks nothing of it is left AND the receipt it printed; the owner
    verifies the receipt offline with the public key the data service publishes (no AWS call, no credentials)."""
    published = _owner(running, state).erasure.receipt_public_key()
    out = _job(running, ["erase", "--org", str(state.org)], "erase")
    try:
        receipt = json.loads(out)
    except ValueError:
        raise StepFailed(f"erase printed no JSON receipt: {out[-300:]}") from None
    if receipt.get("signing_key_id") != published.get("key_id"):
        raise StepFailed(f"the receipt names key {receipt.get('signing_key_id')}, the service publishes "
                         f"{published.get('key_id')}")
    path = running.workdir / f"receipt-{state.org}.json"
    path.write_text(out, encoding="utf-8")
    checked = _job(running, ["erase", "verify", "--org", str(state.org), "--receipt", str(path)], "erase verify")
    passed = [line for line in checked.splitlines() if "[ok]" in line]
    pem = running.workdir / "receipt-signing-key.pem"
    pem.write_text(str(published.get("public_key_pem", "")), encoding="utf-8")
    offline = _verify_offline(path, pem)
    if offline.returncode != 0 or not offline.stdout.startswith("receipt VALID"):
        raise StepFailed(f"verify-receipt --public-key exited {offline.returncode}: "
                         f"{(offline.stdout + offline.stderr).strip()[-400:]}")
    tampered = running.workdir / f"receipt-{state.org}-tampered.json"
    tampered.write_text(json.dumps({**receipt, "rows_total": int(receipt.get("rows_total", 0)) + 1}), encoding="utf-8")
    refused = _verify_offline(tampered, pem)
    if refused.returncode != 1 or "INVALID" not in refused.stdout:
        raise StepFailed(f"a tampered receipt was not refused (exit {refused.returncode}): {refused.stdout[-300:]}")
    shredded = ""
    if state.org_keys:
        key = _organisation_key(running, state)
        if key.get("KeyState") != "PendingDeletion":
            raise StepFailed(f"erasure left the organisation's key {key.get('KeyState')}, not PendingDeletion")
        shredded = f"; its key {key['KeyId']} is pending deletion until {key.get('DeletionDate')}"
    return (f"receipt v{receipt.get('version')} for {receipt.get('owner_id', state.org)}, complete everywhere by "
            f"{receipt.get('complete_everywhere_by')}; erase verify --receipt: {len(passed)} checks ok; verified "
            f"offline with the published key {published.get('key_id')}, a changed copy refused{shredded}")


def _verify_offline(receipt: Path, pem: Path) -> subprocess.CompletedProcess[str]:
    """`erase verify-receipt` as the owner runs it: this machine, no AWS settings or credentials at all."""
    environ = {name: value for name, value in os.environ.items()
               if not name.startswith(("AWS_", "PLATFORM_"))}
    return subprocess.run([sys.executable, "-m", "runtime", "erase", "verify-receipt", str(receipt),  # noqa: S603
                           "--public-key", str(pem)], capture_output=True, text=True, env=environ, timeout=60,
                          check=False, cwd=Path(__file__).resolve().parents[1])


def breach(running: Running, state: State) -> str:
    """A second organisation with a user (the first one is erased by now) has its data read in the breach
    window; the breach is declared for it and the notification must reach that user through SES."""
    victim = State(user="bob@e2e.example")
    request_registration(running, victim)  # registered as the first organisation was: pending, scheduled, again
    if victim.org_keys:
        provision_organisation_key(running, victim)
        register_organisation(running, victim)
    client = _owner(running, victim)
    address = f"bob+{victim.org.hex[:8]}@e2e.example"
    client.users.get(client.users.create({"email": address, "display_name": "Bob"}))  # read in the window
    before = len(running.moto.sent_emails())
    start = (state.started - timedelta(minutes=5)).isoformat()
    end = (datetime.now(UTC) + timedelta(seconds=1)).isoformat()
    out = _job(running, ["breach", "declare", "--from", start, "--to", end, "--orgs", str(victim.org),
                         "--summary", "e2e incident: records read by an unknown actor",
                         "--report-dir", str(running.workdir / "breach-reports")], "breach declare")
    sent = running.moto.sent_emails()[before:]
    to_victim = [m for m in sent if address in json.dumps(m.get("destinations", {}))]
    if not to_victim:
        raise StepFailed(f"no notification to the impacted user reached the SES stand-in; it holds {len(sent)} new "
                         f"message(s); breach declare said: {out.strip()[-300:]}")
    message = to_victim[0]
    return (f"{len(to_victim)} notification(s) from {message.get('source')} to the impacted user reached SES "
            f"(subject {str(message.get('subject'))[:60]!r})")


def breach_drill(running: Running, state: State) -> str:
    """The drill in its own task definition: a synthetic incident in a scratch database, end to end."""
    out = _job(running, ["breach", "drill", "--organisations", "3", "--attacked", "1",
                         "--record-dir", str(running.workdir / "drills")], "breach drill")
    first = out.strip().splitlines()[0] if out.strip() else ""
    if "PASSED" not in first:
        raise StepFailed(f"the drill did not pass: {out[-400:]}")
    return first


def _restore_time(running: Running) -> datetime:
    """A time inside the stand-in cluster's restorable window (created with the emulation, seconds ago)."""
    cluster = running.moto.client("rds").describe_db_clusters(DBClusterIdentifier=running.db.cluster_id)
    facts = cluster["DBClusters"][0]
    earliest, latest = facts["EarliestRestorableTime"], facts["LatestRestorableTime"]
    return earliest + (latest - earliest) / 2  # type: ignore[no-any-return]


def restore_plan(running: Running, state: State) -> str:
    to = _restore_time(running).isoformat()
    out = _job(running, ["restore", "plan", "--cluster", running.db.cluster_id, "--to", to], "restore plan")
    lines = [line.strip() for line in out.strip().splitlines() if line.strip()]
    if not any(running.db.cluster_id in line for line in lines):
        raise StepFailed(f"the plan does not name the source cluster {running.db.cluster_id}: {out[-400:]}")
    return " / ".join(lines[:3]) if lines else "planned"


def audit_trail(running: Running, state: State) -> str:
    """The sequencer service has chained every queued event and published signed checkpoints to the Object Lock
    bucket stand-in; `audit verify` (the job's task role: the public key and the bucket, nothing trusted from the
    database) says intact, and names the checkpoint row a database superuser deletes."""
    deadline = time.monotonic() + 60
    # The cluster's superuser: someone with full database access (more than RDS's master user has).
    with psycopg.connect(running.cluster.superuser_conninfo(running.db.dbname), autocommit=True) as admin:
        while True:
            queued, signed = admin.execute(
                "SELECT (SELECT count(*) FROM platform.audit_events WHERE seq IS NULL), "
                "(SELECT max(seq) FROM platform.audit_signed_checkpoints)").fetchone() or (None, None)
            head = admin.execute("SELECT seq FROM platform.audit_chain_head").fetchone()
            if queued == 0 and head is not None and signed == head[0]:
                break
            if time.monotonic() > deadline:
                raise StepFailed(f"the sequencer left {queued} event(s) queued, signed up to {signed}, head {head}")
            time.sleep(0.5)
        out = _job(running, ["audit", "verify", "--workers", "2"], "audit verify")
        if "audit chain OK" not in out:
            raise StepFailed(f"audit verify: {out.strip()[-300:]}")
        first = admin.execute("SELECT min(seq) FROM platform.audit_signed_checkpoints").fetchone()
        with admin.transaction():
            admin.execute("SET LOCAL session_replication_role = replica")
            admin.execute("DELETE FROM platform.audit_signed_checkpoints WHERE seq = %s", first)
    done = running.job(["python", "-m", "runtime", "audit", "verify"])
    if done.returncode != 1 or "deleted-checkpoint" not in done.stdout:
        raise StepFailed(f"audit verify missed a deleted checkpoint row ({done.returncode}): {done.stdout[-300:]}")
    return f"{out.strip()}; a deleted checkpoint row is caught from the bucket: {done.stdout.strip()[-90:]}"


# The families the emulation plays (e2e/standins.py): no load balancer, WAF or Client VPN stands in, and moto has
# no ListBackupJobs; their checks are tested with moto and botocore's Stubber (tests/runtime/verify_deployed/).
EMULATED_FAMILIES = ("network", "keys", "database", "backup", "storage", "monitoring", "drift")
_REJECTED = "rejected by endpoint (SignatureDoesNotMatch)"  # moto's backup, guardduty, securityhub under IAM auth
NOT_EMULATED: tuple[tuple[str, str, str], ...] = (  # check (or its prefix), status, what its detail says
    ("backup.", "could-not-check", _REJECTED),
    ("monitoring.guardduty", "could-not-check", _REJECTED),
    ("monitoring.security-hub", "could-not-check", _REJECTED),
    ("network.", "could-not-check", "InvalidVpcID.NotFound"),  # a self-hosted install's own VPC has no stand-in
    ("storage.tls-only", "fail", "no Deny of aws:SecureTransport=false"),  # no bucket policy stands in (standins)
)


def _report(folder: Path) -> dict[str, Any]:
    return dict(json.loads((folder / "report.json").read_text(encoding="utf-8")))


def verify_deployed(running: Running, state: State) -> str:
    """`verify-deployed`: the AWS families with the auditor's role (its own credentials, nothing of a task), then
    the database families in the lifecycle job's task (as the jobs role)."""
    from runtime.contract import AUDITOR_ROLE_SUFFIX

    auditor = next((arn for arn in running.made.roles.values() if arn.endswith(AUDITOR_ROLE_SUFFIX)), None)
    if auditor is None:
        raise StepFailed("the templates have no auditor role (config auditor_principal_arn)")
    folder = running.workdir / "verify-deployed"
    families = [arg for family in EMULATED_FAMILIES for arg in ("--family", family)]
    environ = {**{k: os.environ[k] for k in ("PATH", "LANG") if k in os.environ}, **running.aws_environment(auditor)}
    done = subprocess.run([sys.executable, "-m", "runtime", "verify-deployed", "--env", running.env.name,  # noqa: S603
                           "--cdk-out", str(running.env.directory.parent), *families, "--out", str(folder)],
                          capture_output=True, text=True, env=environ, timeout=120, check=False,
                          cwd=Path(__file__).resolve().parents[1])
    checks = _report(folder)["checks"] if (folder / "report.json").is_file() else []
    def expected(check: dict[str, str]) -> bool:
        return check["status"] in ("pass", "not-applicable") or any(
            check["check"].startswith(name) and check["status"] == status and said in check["detail"]
            for name, status, said in NOT_EMULATED)

    unexpected = [f"{c['check']}: {c['status']} ({c['detail'][:200]})" for c in checks if not expected(c)]
    failing = {c["check"] for c in checks if c["status"] == "fail"}
    if done.returncode != (1 if failing else 0) or unexpected or not checks:
        raise StepFailed(f"verify-deployed as {auditor.rsplit('/', 1)[-1]} exited {done.returncode}: "
                         f"{'; '.join(unexpected) or done.stderr[-600:]}")
    job = running.job(["python", "-m", "runtime", "verify-deployed", "--env", running.env.name, "--family", "runtime",
                       "--family", "drills", "--format", "json"])
    inside = {c["check"]: c for c in json.loads(job.stdout)["checks"]} if job.stdout.strip() else {}
    wanted = {"runtime.rls-self-check": "pass", "runtime.audit-chain": "pass", "drills.breach-drill": "pass",
              "drills.restore-drill": "fail"}  # the emulation runs the breach drill (above), never a restore drill
    found = {name: inside.get(name, {}).get("status") for name in wanted}
    if found != wanted or job.returncode != 1:
        raise StepFailed(f"verify-deployed --family runtime --family drills ({job.task}) exited {job.returncode}: "
                         f"{found}; {job.stderr[-300:]}")
    passed = len({c["check"] for c in checks if c["status"] == "pass"})
    held = sorted({c["check"] for c in checks if c["status"] not in ("pass", "not-applicable")})
    total = len({c["check"] for c in checks})
    return (f"{passed} of {total} AWS checks pass as {auditor.rsplit('/', 1)[-1]} (report in {folder}; not "
            f"emulated: {', '.join(held) or 'none'}); in the "
            f"job's task: RLS self-check and audit chain pass, breach drill {inside['drills.breach-drill']['detail']}"
            "; no restore drill ever ran here, so P11's drill check fails (exit 1), as it must")


Step = Callable[[Running, State], str]
STEPS: tuple[tuple[str, Step, tuple[str, ...]], ...] = (  # name, step, the steps it needs
    ("register: the organisation's key pending", request_registration, ()),
    ("the schedule provisions the organisation's key", provision_organisation_key,
     ("register: the organisation's key pending",)),
    ("register an organisation", register_organisation, ("the schedule provisions the organisation's key",)),
    ("write and read records", write_and_read_records, ("register an organisation",)),
    ("stored columns are ciphertext", stored_columns_are_ciphertext, ("write and read records",)),
    ("support read (staff identity)", support_read, ()),
    ("export, verify, the admin downloads it", export_and_verify, ("write and read records",)),
    ("erase and check the receipt", erase, ("export, verify, the admin downloads it",)),
    ("declare a breach, notify through SES", breach, ()),
    ("breach drill", breach_drill, ()),
    ("plan a restore", restore_plan, ()),
    ("verify the deployed state", verify_deployed, ("breach drill",)),
    ("sequence, sign and verify the audit trail", audit_trail, ()),  # last: it tampers with the ledger
)


def run_steps(running: Running, say: Callable[[str], None] = print) -> int:
    state, failed, passed = State(), set(), 0
    for name, step, needs in STEPS:
        started = time.monotonic()
        missing = [n for n in needs if n in failed]
        if missing:
            failed.add(name)
            say(f"SKIP  {name}: needs {', '.join(missing)}")
            continue
        try:
            detail = step(running, state)
        except Exception as exc:
            failed.add(name)
            say(f"FAIL  {name} ({time.monotonic() - started:.2f} s): {type(exc).__name__}: {exc}")
            continue
        passed += 1
        say(f"ok    {name} ({time.monotonic() - started:.2f} s): {detail}")
    say(f"{passed} passed, {len(failed)} failed")
    return len(failed)
