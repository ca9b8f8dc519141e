"""`breach drill` (P12): the whole procedure on a synthetic incident in a scratch database, each step timed,
the result checked against what the drill staged, a drill record written, everything cleaned up.

Steps: provision (create + migrate a scratch database, as the drill role platform_drill) -> seed (organisations
and users through the record API, owners' ordinary traffic) -> attack (an attacker actor reads some
organisations' data) -> declare (verify the chain, compute the impact, fill the outbox) -> deliver (to files;
the first attempt of one notification fails, to prove retries) -> redeliver (must send nothing) -> status
(complete, in time) -> check (impacted set and delivered files equal the staged truth) -> cleanup (drop the
database, remove files).
The scratch data is synthetic, encrypted under a throwaway local key and chained with a throwaway chain key.
"""

import json
import os
import random
import shutil
import tempfile
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Final

from runtime.audit.chain import ChainKey
from runtime.breach.directory import PostgresUserDirectory
from runtime.breach.notifiers import FileNotifier, Notifier, Outgoing
from runtime.breach.outbox import RetryPolicy
from runtime.breach.response import BreachResponse, utc_now
from runtime.breach.scope import BreachScope
from runtime.breach.scratch import PostgresScratchDatabases, ScratchDatabase
from runtime.breach.store import PostgresIncidentStore
from runtime.breach.synthetic import (
    SyntheticOrganisation,
    append_events,
    attacker_reads,
    background_activity,
    bracket,
    seed_organisations,
)
from runtime.breach.trail import PostgresTrail
from runtime.db.key_store import PostgresWrappedKeyStore
from runtime.db.ledger import AuditLedger
from runtime.db.records import Records
from runtime.db.schema import JOBS_ROLE
from runtime.db.sequencer import Sequencer, SequencerConfig
from runtime.db.session import Database
from runtime.drill.record import DrillLog, DrillRecord, StepTimer
from runtime.envelope import EnvelopeCipher, KeyMaterial, LocalKeyring
from runtime.errors import NotificationError
from runtime.signing import LocalReceiptSigner

DRILL_CONTACT: Final = "the drill has no contact"
DRILL_POLICY: Final = RetryPolicy(base_backoff=timedelta(milliseconds=50))


@dataclass(frozen=True, slots=True)
class DrillSize:
    organisations: int = 20
    users_per_organisation: int = 3
    attacked: int = 8


class FlakyOnce:
    """Fails the first attempt of the first notification (retryably), so every drill exercises a retry."""

    def __init__(self, inner: Notifier) -> None:
        self._inner = inner
        self.failed: str | None = None

    def send(self, outgoing: Outgoing) -> str:
        if self.failed is None:
            self.failed = outgoing.idempotency_key
            raise NotificationError("drill: injected failure", code="DrillInjectedFailure", retryable=True)
        return self._inner.send(outgoing)


def run_breach_drill(
    scratch_databases: PostgresScratchDatabases,
    *,
    log: DrillLog | None,
    size: DrillSize = DrillSize(),
    files_dir: Path | None = None,
    clock: Callable[[], datetime] = utc_now,
    seed: int | None = None,
) -> DrillRecord:
    """Run the drill; always clean up; write and return the record (a failed drill is recorded too)."""
    timer = StepTimer(clock=clock)
    figures: dict[str, Any] = {"organisations": size.organisations,
                               "users": size.organisations * size.users_per_organisation}
    scratch: ScratchDatabase | None = None
    own_dir = files_dir is None
    directory = Path(tempfile.mkdtemp(prefix="breach-drill-")) if files_dir is None else files_dir
    try:
        with timer.step("provision"):
            scratch = scratch_databases.create()
        _drill(scratch, timer, figures, size, directory, clock, random.Random(seed))  # noqa: S311 (not crypto)
    except Exception as exc:  # the record says which step failed and with which error class
        timer.fail(f"drill:{type(exc).__name__}")
    try:
        with timer.step("cleanup"):
            if scratch is not None:
                scratch_databases.drop(scratch)
            if own_dir:
                shutil.rmtree(directory, ignore_errors=True)
    except Exception as exc:
        timer.fail(f"cleanup:{type(exc).__name__}")
        figures["left_behind"] = scratch.name if scratch is not None else None
    record = timer.finish("breach", figures)
    if log is not None:
        log.add(record)
    return record


def _drill(scratch: ScratchDatabase, timer: StepTimer, figures: dict[str, Any], size: DrillSize,
           directory: Path, clock: Callable[[], datetime], rng: random.Random) -> None:
    chain_key = ChainKey(os.urandom(32))
    ledger = AuditLedger()
    keyring = LocalKeyring(KeyMaterial(os.urandom(32)), environment="drill")
    # Seeding and the owners' traffic as the scratch database's owner (bound by forced RLS like everyone), the
    # breach procedure as the jobs role, as in production.
    owner_pool, jobs_pool = scratch.pool(scratch.owner_role), scratch.pool(JOBS_ROLE)
    key_pool = scratch.pool(scratch.owner_role, size=2)
    records = Records(EnvelopeCipher(keyring=keyring, store=PostgresWrappedKeyStore(key_pool)))
    with timer.step("seed"):
        organisations = seed_organisations(Database(owner_pool, ledger), records, count=size.organisations,
                                           users_per_organisation=size.users_per_organisation, tag="drill")
        owners = [uuid.uuid4() for _ in range(3)]
        append_events(owner_pool, ledger, background_activity(organisations, actors=owners, request="req-drill",
                                                              rng=rng))
    attacker = uuid.uuid4()
    attacked = rng.sample(organisations, size.attacked)
    with timer.step("attack"), bracket(owner_pool) as window:
        append_events(owner_pool, ledger, attacker_reads(attacked, attacker, request="req-drill-attack", rng=rng))
        append_events(owner_pool, ledger, background_activity(organisations, actors=owners,
                                                              request="req-drill", rng=rng))
    signer = LocalReceiptSigner.generate()
    with timer.step("sequence"), owner_pool.connection() as conn:
        sequencer = Sequencer(SequencerConfig("drill", every=1000, seconds=60), signer, None)
        while sequencer.step(conn):
            pass
        sequencer.checkpoint_if_due(conn, force=True)
    notifier = FlakyOnce(FileNotifier(directory))
    with jobs_pool.connection() as trail_conn:
        response = BreachResponse(
            store=PostgresIncidentStore(jobs_pool),
            trail=PostgresTrail(trail_conn, public_key=signer.public_key().key, environment="drill"),
            directory=PostgresUserDirectory(jobs_pool, Database(jobs_pool, ledger), records),
            notifier=notifier,
            key=chain_key,
            contact=DRILL_CONTACT,
            clock=clock,
            policy=DRILL_POLICY,
        )
        scope = BreachScope(window[0], window[1], actors=frozenset({attacker}))
        with timer.step("declare"):
            declared = response.declare(scope, "Breach drill: a synthetic attacker read stored prompts.")
        figures["declare_steps"] = {k: round(v, 4) for k, v in declared.timings.items()}
        figures["chain_checked_events"] = declared.verification.report.checked
        with timer.step("deliver"):
            delivery = response.deliver(declared.incident.id, max_wait=timedelta(seconds=30))
        with timer.step("redeliver"):
            again = response.deliver(declared.incident.id)
        with timer.step("status"):
            status = response.status(declared.incident.id)
    figures.update(impacted_organisations=len(declared.impact.organisations),
                   impacted_users=len(declared.impact.users), notified=status.counts.sent,
                   retried=delivery.failed_attempts, resent_on_rerun=again.sent,
                   seconds_to_notify_all=round((clock() - declared.incident.declared_at).total_seconds(), 3))
    with timer.step("check"):
        problems = _check(attacked, declared.impact.users, directory, declared.verification.ok,
                          status.counts.complete and not status.overdue, again.sent, delivery.failed_attempts)
        figures["problems"] = problems
        if problems:
            timer.fail(f"check:{problems[0]}")


def _check(attacked: list[SyntheticOrganisation], impacted: Any, directory: Path, chain_ok: bool,
           complete: bool, resent: int, retried: int) -> list[str]:
    """What must be true after a good run; each problem is a short code."""
    problems: list[str] = []
    expected = {(o.owner_id, u) for o in attacked for u in o.user_ids}
    if {(u.owner_id, u.user_id) for u in impacted} != expected:
        problems.append("impacted-set-differs")
    if any("prompts" not in u.tables for u in impacted):
        problems.append("data-classes-differ")
    delivered = {json.loads(p.read_text())["to"] for p in directory.glob("*.json")}
    if delivered != {o.addresses[u] for o in attacked for u in o.user_ids}:
        problems.append("delivered-files-differ")
    if not chain_ok:
        problems.append("chain-not-verified")
    if not complete:
        problems.append("not-complete")
    if resent:
        problems.append("sent-twice")
    if retried != 1:
        problems.append("retry-not-exercised")
    return problems
