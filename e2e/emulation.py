"""One environment of cdk.out, brought up locally: moto, PostgreSQL, stand-ins, setup step, services.

    with emulation.up(outdir, "dev") as running:
        running.services["owner"].url
        running.job(["python", "-m", "runtime", "export", ...])
"""

from __future__ import annotations

import json
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from e2e import alb, database, moto_server, standins, tasks
from e2e.assembly import Environment, read_environment
from e2e.moto_server import Credentials, MotoServer
from e2e.processes import Finished, ProcessError, Service, run_job, start_service, start_worker
from e2e.resolve import Resolver
from e2e.tasks import LocalPaths, ProcessSpec, TaskDefinition
from e2e.translate import Translation, Translations
from tests.support.postgres import HOST, PostgresCluster
from tests.support.tokens import TokenIssuer

SETUP_COMMAND = ["python", "-m", "runtime", "db", "setup"]
SERVICE_MODES = ("owner", "support")
WORKER_MODES = ("sequencer",)  # background services without HTTP: the audit sequencer (P14)
JOB_MODE = "job"
Say = Callable[[str], None]


@dataclass
class Running:
    env: Environment
    workdir: Path
    moto: MotoServer
    cluster: PostgresCluster
    made: standins.StandIns
    say: Say
    services: dict[str, Service] = field(default_factory=dict)
    issuers: dict[str, TokenIssuer] = field(default_factory=dict)  # by service mode: the local IdP stand-ins
    load_balancers: dict[str, alb.LocalLoadBalancer] = field(default_factory=dict)  # by mode, alb-oidc services
    translations: Translations = field(default_factory=Translations)
    warnings: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)  # service mode -> why it did not start
    _credentials: dict[str, Credentials] = field(default_factory=dict)

    @property
    def resolver(self) -> Resolver:
        return self.made.resolver

    @property
    def db(self) -> standins.DatabaseStandIn:
        if self.made.database is None:
            raise ProcessError(f"environment {self.env.name} has no database cluster to play")
        return self.made.database

    def credentials(self, role_arn: str) -> Credentials:
        if role_arn not in self._credentials:
            session = f"{role_arn.rsplit('/', 1)[-1][:48]}-{len(self._credentials)}"
            self._credentials[role_arn] = self.moto.role_credentials(role_arn, session)
        return self._credentials[role_arn]

    def aws_environment(self, role_arn: str | None) -> dict[str, str]:
        if role_arn is None:
            return {"AWS_ENDPOINT_URL": self.moto.endpoint, "AWS_REGION": self.env.region}
        return self.credentials(role_arn).environment(self.moto.endpoint, self.env.region)

    def read_secret(self, execution_role: str | None) -> tasks.SecretReader:
        def read(secret_id: str, json_key: str | None) -> str:
            creds = self.credentials(execution_role) if execution_role else None
            value = str(self.moto.client("secretsmanager", creds).get_secret_value(SecretId=secret_id)["SecretString"])
            return str(json.loads(value)[json_key]) if json_key else value
        return read

    def spec(self, task: TaskDefinition, *, command: list[str] | None = None, port: int | None = None,
             name: str | None = None) -> ProcessSpec:
        label = name or task.path
        scratch = self.workdir / "tasks" / task.path.replace("/", "_")
        paths = LocalPaths(database_ca=self.workdir / "certs" / "rds-global-bundle.pem", scratch=scratch)
        execution_role = tasks._role(self.resolver, task, "ExecutionRoleArn")
        spec = tasks.process_spec(task, self.env, self.resolver, paths=paths,
                                  read_secret=self.read_secret(execution_role),
                                  port=port, db_port=self.db.port, command=command, name=label)
        for warning in spec.warnings:
            self.warn(warning)
        self.translations.extend(spec.translations)
        return spec

    def warn(self, warning: str) -> None:
        if warning not in self.warnings:
            self.warnings.append(warning)
            self.say(f"WARNING: {warning}")

    def job(self, command: list[str], *, timeout: float = 120.0) -> Finished:
        """Run `command` in the task definition that declares it (as `aws ecs run-task --overrides` would)."""
        try:
            task = tasks.for_command(self.env, command)
        except tasks.TaskError as exc:
            raise ProcessError(str(exc)) from None
        spec = self.spec(task, command=command, name=f"{task.path} `{tasks.command_name(command)}`")
        return run_job(spec, self.aws_environment(spec.task_role_arn), timeout=timeout)


@contextmanager
def up(outdir: Path, env_name: str, *, say: Say = print, keep: bool = False) -> Iterator[Running]:
    env = read_environment(outdir, env_name)
    workdir = Path(tempfile.mkdtemp(prefix=f"e2e-{env_name}-"))
    with ExitStack() as stack:
        if not keep:
            stack.callback(shutil.rmtree, workdir, True)
        started = time.monotonic()
        cluster = stack.enter_context(PostgresCluster.start())
        moto = stack.enter_context(moto_server.running(account=env.account, region=env.region, workdir=workdir))
        say(f"local AWS endpoint {moto.endpoint} (account {env.account}, {env.region}, IAM enforced); "
            f"PostgreSQL {HOST}:{cluster.port} (TLS)  [{time.monotonic() - started:.1f} s]")
        resolver = Resolver({s.name: s.template for s in env.stacks.values()}, env.account, env.region)
        made = standins.create(env, moto, resolver, db_host=HOST, db_port=cluster.port)
        say("stand-ins: " + ", ".join(f"{len(v)} {k}" for k, v in made.created.items())
            + f"  [{time.monotonic() - started:.1f} s]")
        running = Running(env, workdir, moto, cluster, made, say, translations=Translations(say))
        running.translations.extend(made.translations)
        (workdir / "certs").mkdir()
        shutil.copyfile(cluster.ca_file, workdir / "certs" / "rds-global-bundle.pem")
        database.play_aurora(cluster, running.db)
        setup(running)
        say(f"database set up  [{time.monotonic() - started:.1f} s]")
        starts = [(mode, start) for mode in SERVICE_MODES] + [(mode, start_background) for mode in WORKER_MODES]
        for mode, starter in starts:
            try:
                starter(running, mode, stack)
            except ProcessError as exc:
                running.failed[mode] = str(exc)
                say(f"FAILED: {mode} service did not start: {exc}")
        ready = ", ".join(f"{m} {s.url or '(no HTTP)'}" for m, s in running.services.items())
        say(f"services ready: {ready}  "
            f"[{time.monotonic() - started:.1f} s]")
        yield running


def _local_load_balancer(running: Running, spec: ProcessSpec, mode: str) -> alb.LocalLoadBalancer:
    """The ALB's sign-in for a service in alb-oidc mode: a local ES256 key signs x-amzn-oidc-data as the
    template's load balancer (signer) with its listener's issuer and client; the service gets the key
    through its fetch override (e2e/alb.py)."""
    from runtime.service.alb_keys import key_url

    signer = spec.env.get("PLATFORM_ALB_SIGNER_ARN", "")
    issuer, client = alb.listener_oidc(running.env, running.resolver, signer)
    balancer = alb.LocalLoadBalancer(signer_arn=signer, issuer=issuer, client_id=client)
    keys = running.workdir / "alb-keys" / mode
    balancer.write_key(keys)
    prefix = key_url(balancer.region, "", balancer.partition)
    spec.argv = alb.wrap_argv(spec.argv, keys, prefix)
    running.translations.add(Translation(
        "load balancer key", f"{prefix}<kid> (AWS's keys of {signer.rsplit('/', 2)[-2]})",
        f"{keys}/<kid> through the service's key-fetch override (python -m e2e.alb ... -- serve)",
        "the ALB's signing key is AWS's: a local ES256 key signs x-amzn-oidc-data for the template's signer ARN, "
        f"issuer {issuer} and client {client}"))
    return balancer


def setup(running: Running) -> None:
    """The deploy-time setup step: the task definition each `Custom::DatabaseSetup` runs (as its handler's
    ecs:RunTask does), else any that runs `python -m runtime db setup`; without one, the runtime's
    bootstrap and migration (with a warning)."""
    steps = tasks.setup_tasks(running.env, SETUP_COMMAND)
    for task in steps:
        spec = running.spec(task, name=f"{task.path} (deploy-time setup)")
        done = run_job(spec, running.aws_environment(spec.task_role_arn), timeout=120)
        if done.returncode != 0:
            raise ProcessError(f"setup step {task.path} failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
        last = (done.stdout.strip() or done.stderr.strip() or "ok").splitlines()[-1]
        running.say(f"setup step {task.path} ({done.seconds:.1f} s): {last}")
    if not steps:
        running.warn("the template has no setup step (no Custom::DatabaseSetup, no task definition runs "
                     "`python -m runtime db setup`); bootstrapping roles and migrating with the runtime's own "
                     "functions instead")
        _fallback_setup(running)


def _fallback_setup(running: Running) -> None:
    import psycopg

    from runtime.db.migrate import migrate
    from runtime.db.roles import bootstrap_roles
    from runtime.db.schema import OWNER_ROLE

    db = running.db
    with psycopg.connect(database.master_conninfo(running.cluster, db)) as admin:
        bootstrap_roles(admin, dbname=db.dbname)
    owner = running.cluster.conninfo(user=OWNER_ROLE, password="", dbname=db.dbname)
    with psycopg.connect(owner) as conn:
        migrate(conn)


def start_background(running: Running, mode: str, stack: ExitStack) -> None:
    """A service without a load balancer (the audit sequencer), as ECS runs it: its task's own command."""
    found = tasks.select(running.env, mode=mode)
    if len(found) != 1:
        raise ProcessError(f"expected one task definition with PLATFORM_SERVICE_MODE={mode}, found {len(found)}")
    spec = running.spec(found[0], name=f"{mode} service")
    service = start_worker(spec, running.aws_environment(spec.task_role_arn),
                           log=running.workdir / f"{mode}-service.log")
    stack.callback(service.stop)
    time.sleep(0.5)
    if service.process.poll() is not None:
        raise ProcessError(f"{spec.name} exited ({service.process.returncode}):\n{service.log_tail()}")
    running.services[mode] = service


def start(running: Running, mode: str, stack: ExitStack) -> None:
    found = tasks.select(running.env, mode=mode)
    if len(found) != 1:
        raise ProcessError(f"expected one task definition with PLATFORM_SERVICE_MODE={mode}, found {len(found)}")
    spec = running.spec(found[0], port=moto_server.free_port(), name=f"{mode} service")
    auth_mode = spec.env.get("PLATFORM_AUTH_MODE", "alb-oidc")
    if "bearer-jwt" in auth_mode:
        issuer = TokenIssuer.generate(issuer=spec.env.get("PLATFORM_JWT_ISSUER", ""),
                                      audience=spec.env.get("PLATFORM_JWT_AUDIENCE", ""))
        translation = tasks.use_local_issuer(spec, json.dumps(issuer.jwks()), issuer.issuer)
        if translation:
            running.translations.add(translation)
        running.issuers[mode] = issuer
    if "alb-oidc" in auth_mode:
        running.load_balancers[mode] = _local_load_balancer(running, spec, mode)
    service = start_service(spec, running.aws_environment(spec.task_role_arn),
                            log=running.workdir / f"{mode}-service.log")
    stack.callback(service.stop)
    service.wait_ready()
    running.services[mode] = service
