"""`api_writes_per_s`, `api_p99_ms`, `api_reads_per_s`, `api_read_p99_ms`: the data service writing and
reading 1 KiB model-call logs over loopback.

Set-up, all on this machine (127.0.0.1 only): a throwaway TLS PostgreSQL (bench/postgres.py), and ONE
service process started the way a task starts (`python -m runtime serve`, settings from the
environment: owner mode, local keyring, bearer tokens from a development issuer, libpq password
file), uvicorn with uvloop and httptools, a database pool of POOL_CONNECTIONS (6) connections.

Load: 16 concurrent clients in this process (asyncio on uvloop, raw HTTP/1.1 keep-alive, one connection
each), each sending `POST /v1/model-calls` with a 1 KiB `input` (bodies ~1.1 KiB) as its own user of one
of 4 organisations, the next request as soon as the last answer is read. A warm-up, then a measured run
bounded by count and time. Each request is a full API write: token verification (RS256), validation,
envelope encryption, an owner-bound transaction under RLS, the insert, the audit events queued, commit.
Beside the service runs the audit sequencer (`python -m runtime audit sequence`, its own process and database
role, a local signing key) chaining the queued events, as its own ECS service does.

Figures (the baseline is measured in the same run, at the same concurrency):
    api_writes_per_s        answered 201s per second during the measured run
    api_p99_ms, api_p50_ms  latency of those requests, send to last byte of the answer
    direct_writes_per_s     the same writes through the data layer in one process, 16 threads, no HTTP
    api_vs_direct           api_writes_per_s / direct_writes_per_s: what HTTP, JSON and tokens cost
    api_reads_per_s, api_read_p99_ms, api_read_p50_ms
                            GET /v1/model-calls/{id} by the same 16 clients, each reading in turn records
                            of its organisation (1 KiB input, decrypted, the read audited): answered 200s
                            per second and their latencies (target >= 1,000/s)
    api_server_cpu_ms_per_read  the service process's CPU time per read
    healthz_per_s           GET /healthz by the same 16 clients: the HTTP floor of one process
    healthz_server_cpu_ms   the service process's CPU time per /healthz: the floor of every request's cost
                            (server, framework, middleware, telemetry), whatever else shares the machine
    api_cpu_server_pct, api_cpu_database_pct, api_cpu_client_pct
                            CPU used during the measured write run, in % of ONE core (2 cores here)
    api_server_cpu_ms_per_write
                            the service process's CPU time per write: what one process can do at most is
                            1000 / this (its Python runs under one GIL), whatever else shares the machine
    api_cpu_sequencer_pct   the sequencer's CPU during the measured write run
    audit_sequencing_lag_p99_ms
                            p99 of (chained - queued) over the measured run's audit events, on the database's
                            clock (target <= 1,000)
"""

from __future__ import annotations

import asyncio
import base64
import itertools
import json
import os
import secrets
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import uvloop

from bench.postgres import bench_database
from runtime import settings
from runtime.db.schema import APP_ROLE, SEQUENCER_ROLE
from tests.support.platform_db import PlatformDatabase
from tests.support.postgres import HOST, free_port
from tests.support.tokens import TokenIssuer

CLIENTS = 16
# Database connections of the service process (PLATFORM_DATABASE_POOL_MAX_SIZE). The owner API groups each
# organisation's concurrent creates (and reads) into one transaction at a time (runtime/db/groups.py), so 4
# organisations keep at most 4 of them busy; 6 leaves room for the key store's misses and the probes.
POOL_CONNECTIONS = 6
ORGANISATIONS = 4
PAYLOAD_CHARS = 1024
WARMUP_REQUESTS = 500
MAX_REQUESTS = 12_000
MAX_SECONDS = 20.0
START_TIMEOUT_SECONDS = 60.0
READ_RECORDS = 250  # records of each organisation that its clients read in turn


# --- the service process -------------------------------------------------------------------------------


@contextmanager
def service_process(db: PlatformDatabase, issuer: TokenIssuer, folder: Path) -> Iterator[tuple[int, int]]:
    """The service, started as a task starts; yields (port, pid)."""
    pgpass = folder / "pgpass"
    pgpass.write_text(f"{HOST}:{db.cluster.port}:{db.dbname}:{APP_ROLE}:{db.passwords[APP_ROLE]}\n")
    pgpass.chmod(0o600)
    issuer.save(folder)
    port = free_port()
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("PLATFORM_")},
        "PGPASSFILE": str(pgpass),
        settings.ENVIRONMENT: "local",
        settings.SERVICE_MODE: "owner",
        settings.SERVICE_HOST: HOST,
        settings.SERVICE_PORT: str(port),
        settings.DATABASE_HOST: HOST,
        settings.DATABASE_PORT: str(db.cluster.port),
        settings.DATABASE_NAME: db.dbname,
        settings.DATABASE_USER: APP_ROLE,
        settings.DATABASE_IAM_AUTH: "false",
        settings.DATABASE_CA_BUNDLE: str(db.cluster.ca_file),
        settings.LOCAL_MASTER_KEY: base64.b64encode(os.urandom(32)).decode(),
        settings.AUDIT_CHAIN_KEY: secrets.token_urlsafe(48),
        settings.AUTH_MODE: "bearer-jwt",
        settings.JWT_ISSUER: issuer.issuer,
        settings.JWT_AUDIENCE: issuer.audience,
        settings.JWT_JWKS_FILE: str(folder / "jwks.json"),
        settings.DATABASE_POOL_MAX_SIZE: str(POOL_CONNECTIONS),
    }
    log = (folder / "service.log").open("wb")
    process = subprocess.Popen([sys.executable, "-m", "runtime", "serve"], env=env, stdout=log,
                               stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        while asyncio.run(_status(port, "GET", "/readyz")) != 200:
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the service did not start; its log: {folder / 'service.log'}\n"
                                   + (folder / "service.log").read_text()[-2000:])
            time.sleep(0.2)
        yield port, process.pid
    finally:
        _stop(process)
        log.close()


def _stop(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM, as ECS stops a task; SIGKILL after 30 s."""
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()


@contextmanager
def sequencer_process(db: PlatformDatabase, folder: Path) -> Iterator[int]:
    """The audit sequencer (`python -m runtime audit sequence`) beside the service, as its own service runs it:
    its own database role, a local signing key, the database's copy of the checkpoints only; yields its pid."""
    from runtime.signing import LocalReceiptSigner

    pgpass = folder / "pgpass-sequencer"
    pgpass.write_text(f"{HOST}:{db.cluster.port}:{db.dbname}:{SEQUENCER_ROLE}:{db.passwords[SEQUENCER_ROLE]}\n")
    pgpass.chmod(0o600)
    key = folder / "audit-signing.pem"
    key.write_bytes(LocalReceiptSigner.generate().private_pem())
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("PLATFORM_")},
        "PGPASSFILE": str(pgpass),
        settings.ENVIRONMENT: "local",
        settings.SERVICE_MODE: "sequencer",
        settings.DATABASE_HOST: HOST,
        settings.DATABASE_PORT: str(db.cluster.port),
        settings.DATABASE_NAME: db.dbname,
        settings.DATABASE_USER: SEQUENCER_ROLE,
        settings.DATABASE_IAM_AUTH: "false",
        settings.DATABASE_CA_BUNDLE: str(db.cluster.ca_file),
        settings.LOCAL_AUDIT_SIGNING_KEY_FILE: str(key),
    }
    log = (folder / "sequencer.log").open("wb")
    process = subprocess.Popen([sys.executable, "-m", "runtime", "audit", "sequence"], env=env, stdout=log,
                               stderr=subprocess.STDOUT)
    try:
        yield process.pid
    finally:
        _stop(process)
        log.close()
        if process.returncode not in (0, -signal.SIGTERM):
            raise RuntimeError(f"the sequencer failed ({process.returncode}): "
                               + (folder / "sequencer.log").read_text()[-2000:])


def _sequencing_lag_p99_ms(db: PlatformDatabase, window: tuple[Any, Any]) -> float:
    """p99 of (sequenced - queued) over the events of the measured run, once the sequencer has chained them."""
    deadline = time.monotonic() + 60
    with db.admin() as admin:
        while admin.execute("SELECT count(*) FROM platform.audit_events WHERE seq IS NULL").fetchone() != (0,):
            if time.monotonic() > deadline:
                raise RuntimeError("the sequencer did not catch up within 60 s")
            time.sleep(0.2)
        row = admin.execute(
            "SELECT percentile_cont(0.99) WITHIN GROUP (ORDER BY extract(epoch FROM sequenced_at - at)) "
            "FROM platform.audit_events WHERE at >= %s AND at < %s", window).fetchone()
    assert row is not None and row[0] is not None
    return float(row[0]) * 1000


def _database_clock(db: PlatformDatabase) -> Any:
    with db.admin() as admin:
        row = admin.execute("SELECT clock_timestamp()").fetchone()
    assert row is not None
    return row[0]


async def _status(port: int, method: str, path: str) -> int:
    try:
        reader, writer = await asyncio.open_connection(HOST, port)
    except OSError:
        return 0
    try:
        writer.write(f"{method} {path} HTTP/1.1\r\nhost: {HOST}\r\n\r\n".encode())
        status, _ = await _answer(reader)
        return status
    except (OSError, asyncio.IncompleteReadError):
        return 0
    finally:
        writer.close()


# --- a lean HTTP/1.1 client -----------------------------------------------------------------------------


async def _answer(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head[9:12])
    length = 0
    for line in head.split(b"\r\n")[1:]:
        if line[:15].lower() == b"content-length:":
            length = int(line[15:])
    body = await reader.readexactly(length) if length else b""
    return status, body


def _request(method: str, path: str, token: str | None, body: bytes = b"") -> bytes:
    lines = [f"{method} {path} HTTP/1.1", f"host: {HOST}"]
    if token:
        lines.append(f"authorization: Bearer {token}")
    if body:
        lines += ["content-type: application/json", f"content-length: {len(body)}"]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


async def _load(port: int, requests: Sequence[bytes | Sequence[bytes]], *, total: int, seconds: float,
                expect: int) -> tuple[list[float], float]:
    """CLIENTS connections, client i sending requests[i % len(requests)] (a request, or requests it takes in
    turn) again as soon as it has the answer; returns the latencies (seconds) and the elapsed time. Stops at
    `total` requests or after `seconds`."""
    latencies: list[float] = []
    sent = 0
    started = time.perf_counter()
    deadline = started + seconds

    async def client(mine: bytes | Sequence[bytes]) -> None:
        nonlocal sent
        turns = itertools.cycle([mine] if isinstance(mine, bytes) else mine)
        reader, writer = await asyncio.open_connection(HOST, port)
        try:
            while sent < total and time.perf_counter() < deadline:
                sent += 1
                raw = next(turns)
                t0 = time.perf_counter()
                writer.write(raw)
                status, body = await _answer(reader)
                latencies.append(time.perf_counter() - t0)
                if status != expect:
                    raise RuntimeError(f"the service answered {status}: {body[:300]!r}")
        finally:
            writer.close()

    await asyncio.gather(*(client(requests[i % len(requests)]) for i in range(CLIENTS)))
    return latencies, time.perf_counter() - started


def _run_load(port: int, requests: Sequence[bytes | Sequence[bytes]], *, total: int, seconds: float,
              expect: int) -> tuple[list[float], float]:
    return uvloop.run(_load(port, requests, total=total, seconds=seconds, expect=expect))


async def _exchange(port: int, raw: bytes) -> tuple[int, bytes]:
    reader, writer = await asyncio.open_connection(HOST, port)
    try:
        writer.write(raw)
        return await _answer(reader)
    finally:
        writer.close()


def _stored_ids(port: int, token: str, count: int, payload: str) -> list[str]:
    """Store `count` model calls in one batch; their ids."""
    body = json.dumps({"items": [{"model": "bench-1", "input": payload}] * count}).encode()
    status, answer = uvloop.run(_exchange(port, _request("POST", "/v1/model-calls/batch", token, body)))
    if status != 201:
        raise RuntimeError(f"the service answered {status}: {answer[:300]!r}")
    return [str(i) for i in json.loads(answer)["ids"]]


# --- the baseline: the data layer alone, same concurrency ---------------------------------------------------


def _direct_writes(db: PlatformDatabase, owners: list[uuid.UUID], payload: bytes, *, total: int,
                   seconds: float) -> float:
    from runtime.db import Database, OwnerScope, PostgresWrappedKeyStore, Records, open_pool
    from runtime.db.ledger import AuditLedger
    from runtime.envelope import EnvelopeCipher, KeyMaterial, LocalKeyring

    pool = open_pool(db.settings(APP_ROLE, pool_min_size=POOL_CONNECTIONS, pool_max_size=POOL_CONNECTIONS),
                     db.password(APP_ROLE), name="direct")
    key_pool = open_pool(db.settings(APP_ROLE, pool_min_size=1, pool_max_size=3), db.password(APP_ROLE), name="keys")
    try:
        cipher = EnvelopeCipher(keyring=LocalKeyring(KeyMaterial(os.urandom(32)), environment="local"),
                                store=PostgresWrappedKeyStore(key_pool))
        database, records = Database(pool, AuditLedger()), Records(cipher)
        for owner in owners:  # organisations of its own: their data keys are this keyring's
            with database.owner_transaction(OwnerScope(owner, uuid.uuid4(), "bench-direct-setup")) as tx:
                records.insert(tx, "organisations", [{"name": b"bench"}])
        row = {"model": b"bench-1", "input": payload}

        def run(count: int) -> float:
            """`count` writes (or as many as fit in `seconds`) by CLIENTS threads; writes per second."""
            remaining, lock = [count], threading.Lock()
            deadline = time.perf_counter() + seconds

            def worker(index: int) -> None:
                principal = OwnerScope(owners[index % len(owners)], uuid.uuid4(), f"bench-direct-{index}")
                while time.perf_counter() < deadline:
                    with lock:
                        if remaining[0] == 0:
                            return
                        remaining[0] -= 1
                    with database.owner_transaction(principal) as tx:
                        records.insert(tx, "model_calls", [row])

            threads = [threading.Thread(target=worker, args=(i,)) for i in range(CLIENTS)]
            started = time.perf_counter()
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            return (count - remaining[0]) / (time.perf_counter() - started)

        run(WARMUP_REQUESTS)
        return run(total)
    finally:
        pool.close()
        key_pool.close()


# --- CPU accounting -----------------------------------------------------------------------------------------


def _cpu_seconds(pids: list[int]) -> float:
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / ticks  # utime + stime
    return total


def _database_pids(db: PlatformDatabase) -> list[int]:
    postmaster = int((db.cluster.data_dir / "postmaster.pid").read_text().split()[0])
    children = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == postmaster:
            children.append(int(stat.parent.name))
    return [postmaster, *children]


def _measured(run: Callable[[], tuple[list[float], float]], pids: dict[str, Callable[[], list[int]]]) -> Any:
    before = {name: _cpu_seconds(get()) for name, get in pids.items()}
    client_before = time.process_time()
    latencies, elapsed = run()
    cpu = {name: (_cpu_seconds(get()) - before[name]) / elapsed * 100 for name, get in pids.items()}
    cpu["client"] = (time.process_time() - client_before) / elapsed * 100
    return latencies, elapsed, cpu


# --- the figures ----------------------------------------------------------------------------------------------


def api_figures() -> dict[str, str]:
    started = time.perf_counter()
    issuer = TokenIssuer.generate()
    owners = [uuid.uuid4() for _ in range(ORGANISATIONS)]
    payload = ("x" * PAYLOAD_CHARS).encode()
    with bench_database() as db, tempfile.TemporaryDirectory(prefix="bench-api-") as scratch:
        folder = Path(scratch)
        with service_process(db, issuer, folder) as (port, pid), sequencer_process(db, folder) as sequencer:
            tokens = [issuer.token(f"bench-user-{i}", owners[i % ORGANISATIONS], ttl=3600) for i in range(CLIENTS)]
            for token in tokens[:ORGANISATIONS]:
                register = _request("PUT", "/v1/organisation", token, json.dumps({"name": "bench"}).encode())
                _run_load(port, [register], total=1, seconds=10, expect=201)
            body = json.dumps({"model": "bench-1", "input": payload.decode()}).encode()
            writes = [_request("POST", "/v1/model-calls", token, body) for token in tokens]
            _run_load(port, writes, total=WARMUP_REQUESTS, seconds=MAX_SECONDS, expect=201)
            measured_from = _database_clock(db)
            latencies, elapsed, cpu = _measured(
                lambda: _run_load(port, writes, total=MAX_REQUESTS, seconds=MAX_SECONDS, expect=201),
                {"server": lambda: [pid], "database": lambda: _database_pids(db), "sequencer": lambda: [sequencer]},
            )
            lag_p99_ms = _sequencing_lag_p99_ms(db, (measured_from, _database_clock(db)))
            # Reads: each client GETs, in turn, READ_RECORDS records of its organisation stored for it.
            stored = {i: _stored_ids(port, tokens[i], READ_RECORDS, payload.decode()) for i in range(ORGANISATIONS)}
            reads = [[_request("GET", f"/v1/model-calls/{record}", token) for record in stored[i % ORGANISATIONS]]
                     for i, token in enumerate(tokens)]
            _run_load(port, reads, total=WARMUP_REQUESTS, seconds=MAX_SECONDS, expect=200)
            read_latencies, read_elapsed, read_cpu = _measured(
                lambda: _run_load(port, reads, total=MAX_REQUESTS, seconds=MAX_SECONDS / 2, expect=200),
                {"server": lambda: [pid]},
            )
            probe = [_request("GET", "/healthz", None)]
            healthz, healthz_elapsed, healthz_cpu = _measured(
                lambda: _run_load(port, probe, total=MAX_REQUESTS, seconds=MAX_SECONDS / 4, expect=200),
                {"server": lambda: [pid]},
            )
        direct_owners = [uuid.uuid4() for _ in range(ORGANISATIONS)]
        direct = _direct_writes(db, direct_owners, payload, total=MAX_REQUESTS, seconds=MAX_SECONDS)
    rate = len(latencies) / elapsed
    quantiles = statistics.quantiles(latencies, n=100)
    read_rate = len(read_latencies) / read_elapsed
    read_quantiles = statistics.quantiles(read_latencies, n=100)
    print(f"# api benchmark: {len(latencies)} writes in {elapsed:.1f} s, {time.perf_counter() - started:.0f} s in all",
          file=sys.stderr)
    return {
        "api_writes_per_s": f"{rate:.0f}",
        "api_p99_ms": f"{quantiles[98] * 1000:.1f}",
        "api_p50_ms": f"{quantiles[49] * 1000:.1f}",
        "direct_writes_per_s": f"{direct:.0f}",
        "api_vs_direct": f"{rate / direct:.2f}",
        "api_reads_per_s": f"{read_rate:.0f}",
        "api_read_p99_ms": f"{read_quantiles[98] * 1000:.1f}",
        "api_read_p50_ms": f"{read_quantiles[49] * 1000:.1f}",
        "api_server_cpu_ms_per_read": f"{read_cpu['server'] * 10 / read_rate:.2f}",
        "healthz_per_s": f"{len(healthz) / healthz_elapsed:.0f}",
        "healthz_server_cpu_ms": f"{healthz_cpu['server'] * 10 / (len(healthz) / healthz_elapsed):.3f}",
        "api_cpu_server_pct": f"{cpu['server']:.0f}",
        "api_server_cpu_ms_per_write": f"{cpu['server'] * 10 / rate:.2f}",
        "api_cpu_database_pct": f"{cpu['database']:.0f}",
        "api_cpu_client_pct": f"{cpu['client']:.0f}",
        "api_cpu_sequencer_pct": f"{cpu['sequencer']:.0f}",
        "audit_sequencing_lag_p99_ms": f"{lag_p99_ms:.0f}",
    }


if __name__ == "__main__":
    for name, value in api_figures().items():
        print(f"{name}: {value}", flush=True)
