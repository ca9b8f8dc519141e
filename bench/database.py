"""The database benchmarks (P3, P14), on one throwaway TLS cluster, as `name: value` figures.

    rls_overhead_pct                owner-scoped query: app role under RLS vs table owner with an explicit filter
                                    (target <= 10; bench/rls_overhead.py says exactly what is timed)
    rls_transaction_overhead_pct    the same, timing whole transactions: adds the per-transaction owner binding
    ingest_per_s                    1 KiB SENSITIVE records encrypted, inserted and audited per second, one
                                    connection (target >= 10,000)
    ingest_vs_copy                  ingest_per_s / plain binary COPY of the same rows unencrypted (target >= 0.33)

Reference lines: both sides' latencies and the COPY rate.
"""

import sys
import time

from bench import ingest, rls_overhead
from bench.postgres import bench_database


def database_figures() -> dict[str, str]:
    started = time.perf_counter()
    with bench_database() as db:
        ingested = ingest.measure(db)  # first, on empty tables
        owners = rls_overhead.load(db)
        rls = rls_overhead.measure(db, owners)
    print(f"# database benchmarks: {time.perf_counter() - started:.0f} s", file=sys.stderr)
    return {
        "rls_overhead_pct": f"{rls['rls_overhead_pct']:.2f}",
        "ingest_per_s": f"{ingested['ingest_per_s']:.0f}",
        "ingest_vs_copy": f"{ingested['ingest_vs_copy']:.2f}",
        "rls_query_us": f"{rls['rls_query_us']:.0f}",
        "owner_filter_query_us": f"{rls['owner_filter_query_us']:.0f}",
        "rls_transaction_overhead_pct": f"{rls['rls_transaction_overhead_pct']:.2f}",
        "rls_transaction_us": f"{rls['rls_transaction_us']:.0f}",
        "owner_filter_transaction_us": f"{rls['owner_filter_transaction_us']:.0f}",
        "copy_per_s": f"{ingested['copy_per_s']:.0f}",
    }


if __name__ == "__main__":
    for name, value in database_figures().items():
        print(f"{name}: {value}", flush=True)
