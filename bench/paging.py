"""`batch_ingest_records_per_s` and `api_list_page_ms`: batch ingest and list pages of the data service (issue 17).

Set-up as bench/api.py: a throwaway TLS PostgreSQL and ONE service process started as a task starts.

    batch_ingest_records_per_s  records stored per second by `POST /v1/model-calls/batch` (each answer a 201
                                listing BATCH_ITEMS ids), BATCH_ITEMS 1 KiB model calls a request (~1 MiB, just
                                under the body limit), 16 clients of 4 organisations; each request is one owner
                                transaction and one audit event; the median of ROUNDS measured rounds of
                                BATCH_REQUESTS requests (target >= 20,000)
    batch_server_cpu_us_per_record   the service process's CPU time per stored record over those rounds
                                (median): one process can store at most 1,000,000 / this a second
    batch_database_cpu_us_per_record PostgreSQL's CPU time per stored record (its server processes, median):
                                with the service's, what a record costs the machine (2 cores: 2,000,000 / the
                                sum a second at most)
    api_list_page_ms            median latency of `GET /v1/model-calls?limit=100` (a page of 100 1 KiB records,
                                decrypted), one client walking the pages with their cursors
    api_list_filtered_page_ms   the same with `model=` (a blind index filter matching a tenth of the records)
"""

from __future__ import annotations

import asyncio
import json
import os
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path
from urllib.parse import quote

import uvloop

from bench.api import ORGANISATIONS, _answer, _cpu_seconds, _database_pids, _request, _run_load, service_process
from bench.postgres import bench_database
from tests.support.platform_db import PlatformDatabase
from tests.support.postgres import HOST
from tests.support.tokens import TokenIssuer

BATCH_ITEMS = 900  # 1 KiB inputs: ~0.95 MiB a body, under the 1 MiB default limit
BATCH_REQUESTS = 32
ROUNDS = 5
PAGES = 200


async def _walk(port: int, token: str, path: str, pages: int) -> list[float]:
    reader, writer = await asyncio.open_connection(HOST, port)
    latencies: list[float] = []
    cursor: str | None = None
    try:
        while len(latencies) < pages:
            query = path + (f"&cursor={quote(cursor)}" if cursor else "")
            t0 = time.perf_counter()
            writer.write(_request("GET", query, token))
            status, body = await _answer(reader)
            latencies.append(time.perf_counter() - t0)
            if status != 200:
                raise RuntimeError(f"the service answered {status}: {body[:300]!r}")
            document = json.loads(body)
            assert len(document["items"]) == 100 or document["next_cursor"] is None
            cursor = document["next_cursor"]
    finally:
        writer.close()
    return latencies


def _database_cpu(db: PlatformDatabase) -> dict[int, float]:
    """CPU seconds of each PostgreSQL server process (one started during a round counts from zero)."""
    return {pid: _cpu_seconds([pid]) for pid in _database_pids(db)}


def paging_figures() -> dict[str, str]:
    started = time.perf_counter()
    issuer = TokenIssuer.generate()
    owners = [uuid.uuid4() for _ in range(ORGANISATIONS)]
    with bench_database() as db, tempfile.TemporaryDirectory(prefix="bench-paging-") as scratch, \
            service_process(db, issuer, Path(scratch)) as (port, pid):
        tokens = [issuer.token(f"bench-user-{i}", owners[i % ORGANISATIONS], ttl=3600) for i in range(16)]
        for token in tokens[:ORGANISATIONS]:
            register = _request("PUT", "/v1/organisation", token, json.dumps({"name": "bench"}).encode())
            _run_load(port, [register], total=1, seconds=10, expect=201)
        items = [{"model": f"bench-{i % 10}", "input": "x" * 1024, "metadata": {"run": str(i % 7)}}
                 for i in range(BATCH_ITEMS)]
        body = json.dumps({"items": items}).encode()
        batches = [_request("POST", "/v1/model-calls/batch", token, body) for token in tokens]
        _run_load(port, batches, total=16, seconds=60, expect=201)  # warm-up
        rates, cpu, database_cpu = [], [], []
        for _ in range(ROUNDS):
            before, database_before = _cpu_seconds([pid]), _database_cpu(db)
            latencies, elapsed = _run_load(port, batches, total=BATCH_REQUESTS, seconds=120, expect=201)
            stored = len(latencies) * BATCH_ITEMS
            rates.append(stored / elapsed)
            cpu.append((_cpu_seconds([pid]) - before) / stored * 1e6)
            spent = sum(seconds - database_before.get(p, 0.0) for p, seconds in _database_cpu(db).items())
            database_cpu.append(spent / stored * 1e6)
        with db.admin(autocommit=True) as admin:  # the rates count records the database really holds
            [(count,)] = admin.execute("SELECT count(*) FROM platform.model_calls").fetchall()
        if count != (16 + ROUNDS * BATCH_REQUESTS) * BATCH_ITEMS:
            raise RuntimeError(f"{count} model calls stored, not {(16 + ROUNDS * BATCH_REQUESTS) * BATCH_ITEMS}")
        pages = uvloop.run(_walk(port, tokens[0], "/v1/model-calls?limit=100", PAGES))
        filtered = uvloop.run(_walk(port, tokens[0], "/v1/model-calls?limit=100&model=bench-3", PAGES // 4))
    print(f"# paging benchmark: {ROUNDS} rounds of {BATCH_REQUESTS} batches, records/s "
          f"{', '.join(f'{r:.0f}' for r in rates)}; {time.perf_counter() - started:.0f} s in all; load "
          f"{os.getloadavg()[0]:.2f}", file=sys.stderr)
    return {
        "batch_ingest_records_per_s": f"{statistics.median(rates):.0f}",
        "batch_server_cpu_us_per_record": f"{statistics.median(cpu):.1f}",
        "batch_database_cpu_us_per_record": f"{statistics.median(database_cpu):.1f}",
        "api_list_page_ms": f"{statistics.median(pages) * 1000:.1f}",
        "api_list_filtered_page_ms": f"{statistics.median(filtered) * 1000:.1f}",
    }


if __name__ == "__main__":
    for name, value in paging_figures().items():
        print(f"{name}: {value}", flush=True)
