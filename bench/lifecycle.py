"""Lifecycle job benchmarks (P10, P13) on a throwaway TLS cluster, as `name: value` figures.

    export_rows_per_s_jsonl, export_rows_per_s_csv   rows exported per second by `python -m runtime export`
                                    (a child process, to a directory), organisation of 1,000,000 rows
                                    (target >= 50,000); wall time of the whole command, start-up included
    export_peak_rss_mb_1m, export_peak_rss_mb_3m      peak RSS of that child at 1,000,000 and 3,000,000 rows
                                    (target <= 200, and no growth with size): the export's own high-water
                                    mark, measured through a fresh launcher (bench/peak_rss.py), not wait4()
                                    on a child of this process, which includes this process's RSS at fork
    erase_rows_per_s                 rows erased per second by the erasure job (Eraser), 1,000,000 rows

Rows are prompts of a 32-byte name and a 256-byte body, envelope-encrypted with the runtime's cipher and
loaded with binary COPY (the loading is not timed). Baseline line: `export_rss_baseline_mb`, the peak RSS of
the same command exporting an organisation of 1 row (interpreter, imports, pools). Check lines, measured
after the loads: `bare_child_rss_mb`, a bare `python -c pass` through the same launcher (about 10: the
figures are the child's own), and `bare_child_rss_mb_naive`, the same child read the old way (about this
process's RSS at that moment).

    python -m bench.lifecycle [ROWS ...]        (default 1000000 3000000)
"""

import base64
import json
import os
import shutil
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from bench import peak_rss
from bench.postgres import bench_database
from runtime import settings
from runtime.audit.chain import ChainKey
from runtime.db import Database, OwnerScope, PostgresWrappedKeyStore, Records
from runtime.db.ledger import AuditLedger
from runtime.db.schema import APP_ROLE, JOBS_ROLE
from runtime.envelope import EnvelopeCipher, KeyMaterial, LocalKeyring
from runtime.lifecycle.erasure import Eraser, ErasureSettings
from runtime.lifecycle.receipt import ReceiptKeys
from runtime.lifecycle.receipt_signing import LocalReceiptSigner
from tests.support.platform_db import PlatformDatabase

BATCH = 20_000
ENVIRONMENT = "local"  # the runtime allows the local keyring in local runs and tests only


class _One:
    def __init__(self, conn: Any) -> None:
        self._conn = conn

    def connection(self, timeout: float | None = None) -> Any:
        from contextlib import nullcontext

        return nullcontext(self._conn)


def _load(db: PlatformDatabase, cipher: EnvelopeCipher, chain_key: ChainKey, rows: int) -> OwnerScope:
    principal = OwnerScope(uuid.uuid4(), uuid.uuid4(), "bench-load")
    app = db.connect(APP_ROLE, autocommit=True)
    with Database(_One(app), AuditLedger()).owner_transaction(principal) as tx:
        Records(cipher).insert(tx, "organisations", [{"name": b"bench organisation"}])
    app.close()
    records = Records(cipher)
    name, body = b"n" * 32, bytes(range(256))
    with db.admin() as admin:
        for start in range(0, rows, BATCH):
            n = min(BATCH, rows - start)
            sealed = records.seal(principal.owner_id, "prompts", [{"name": name, "body": body}] * n)
            with admin.cursor() as cur, cur.copy(
                "COPY platform.prompts (owner_id, id, name, body) FROM STDIN (FORMAT BINARY)"
            ) as copy:
                copy.set_types(["uuid", "uuid", "bytea", "bytea"])
                for i, row_id in enumerate(sealed.ids):
                    copy.write_row((principal.owner_id, row_id, sealed.sensitive["name"][i],
                                    sealed.sensitive["body"][i]))
            admin.commit()
        admin.execute("ANALYZE platform.prompts")
        admin.commit()
    return principal


def _export(db: PlatformDatabase, env: dict[str, str], owner: uuid.UUID, fmt: str) -> tuple[float, float]:
    """(seconds, peak RSS in MiB) of `python -m runtime export` in a child process."""
    dest = Path(tempfile.mkdtemp(prefix="bench-export-"))
    try:
        done = peak_rss.run(
            [sys.executable, "-m", "runtime", "export", "--org", str(owner), "--format", fmt, "--dest", str(dest)],
            env=env,
        )
        if done.returncode != 0:
            raise RuntimeError(f"export failed: {done.stderr.decode(errors='replace')[-3000:]}")
        return done.seconds, done.peak_rss_mib
    finally:
        shutil.rmtree(dest, ignore_errors=True)


def lifecycle_figures(sizes: tuple[int, ...] = (1_000_000, 3_000_000)) -> dict[str, str]:
    figures: dict[str, str] = {}
    with bench_database() as db:
        master = os.urandom(32)
        chain_key = ChainKey(os.urandom(32))
        keyring = LocalKeyring(KeyMaterial(master), environment=ENVIRONMENT)
        key_conn = db.connect(APP_ROLE, autocommit=True)
        cipher = EnvelopeCipher(keyring=keyring, store=PostgresWrappedKeyStore(_One(key_conn)))
        env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("PLATFORM_")},
            settings.ENVIRONMENT: ENVIRONMENT, settings.LOCAL_MASTER_KEY: base64.b64encode(master).decode(),
            settings.AUDIT_CHAIN_KEY: "c" * 64,
            settings.DATABASE_HOST: "localhost", settings.DATABASE_PORT: str(db.cluster.port),
            settings.DATABASE_NAME: db.dbname, settings.DATABASE_USER: JOBS_ROLE,
            settings.DATABASE_CA_BUNDLE: str(db.cluster.ca_file), "PGPASSWORD": db.passwords[JOBS_ROLE],
            "PGHOSTADDR": "127.0.0.1",
        }
        tiny = _load(db, cipher, chain_key, 1)
        figures["export_rss_baseline_mb"] = f"{_export(db, env, tiny.owner_id, 'jsonl')[1]:.0f}"
        biggest: OwnerScope | None = None
        for rows in sizes:
            started = time.perf_counter()
            principal = _load(db, cipher, chain_key, rows)
            print(f"# loaded {rows:,} rows in {time.perf_counter() - started:.0f} s", file=sys.stderr)
            label = f"{rows // 1_000_000}m" if rows % 1_000_000 == 0 else str(rows)
            seconds, rss = _export(db, env, principal.owner_id, "jsonl")
            figures[f"export_peak_rss_mb_{label}"] = f"{rss:.0f}"
            if rows == sizes[0]:
                figures["export_rows_per_s_jsonl"] = f"{rows / seconds:.0f}"
                seconds, rss_csv = _export(db, env, principal.owner_id, "csv")
                figures["export_rows_per_s_csv"] = f"{rows / seconds:.0f}"
                figures[f"export_peak_rss_mb_csv_{label}"] = f"{rss_csv:.0f}"
                biggest = principal
        assert biggest is not None
        figures.update(peak_rss.self_check())  # bare_child_rss_mb, bare_child_rss_mb_naive
        jobs = db.connect(JOBS_ROLE, autocommit=True)
        jobs_keys = db.connect(JOBS_ROLE, autocommit=True)
        store = PostgresWrappedKeyStore(_One(jobs_keys))
        eraser = Eraser(
            database=Database(_One(jobs), AuditLedger()), key_store=store,
            cipher=EnvelopeCipher(keyring=keyring, store=store), receipt_key=ReceiptKeys(LocalReceiptSigner.generate()),
            settings=ErasureSettings(ENVIRONMENT, 35, 300.0),
        )
        started = time.perf_counter()
        receipt = eraser.erase(OwnerScope(biggest.owner_id, uuid.uuid4(), "bench-erase"))
        seconds = time.perf_counter() - started
        figures["erase_rows_per_s"] = f"{int(json.loads(json.dumps(receipt))['rows_total']) / seconds:.0f}"
        for conn in (jobs, jobs_keys, key_conn):
            conn.close()
    return figures


if __name__ == "__main__":
    sizes = tuple(int(a) for a in sys.argv[1:]) or (1_000_000, 3_000_000)
    for name, value in lifecycle_figures(sizes).items():
        print(f"{name}: {value}", flush=True)
