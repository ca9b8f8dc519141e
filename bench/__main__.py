"""`python -m bench`: run every benchmark and print each figure as `name: value`.

    encrypt_per_s, decrypt_per_s   the runtime's envelope encryption, 1 KiB values, one process
    esdk_encrypt_per_s             aws-encryption-sdk 4.x, raw AES keyring, AES_256_GCM_HKDF_SHA512_COMMIT_KEY
    speedup_vs_esdk                encrypt_per_s / esdk_encrypt_per_s                 (target >= 25)
    raw_aesgcm_per_s               cryptography's AESGCM alone
    overhead_vs_raw                raw_aesgcm_per_s / encrypt_per_s                   (target <= 3)
    kms_calls_per_million          KMS calls (moto) for 1,000,000 records over 1,000 owners (target <= 1,000)
    rls_overhead_pct, ingest_per_s, ingest_vs_copy   the database benchmarks: see bench/database.py
    export_rows_per_s_*, export_peak_rss_mb_*, erase_rows_per_s   the lifecycle jobs: see bench/lifecycle.py
    api_writes_per_s, api_p99_ms   the data service: 1 KiB model-call logs, 16 clients over loopback, one
                                   process (targets >= 1,000/s, <= 50 ms): see bench/api.py
    api_reads_per_s, api_read_p99_ms   GET by id of those records, the same 16 clients (target >= 1,000/s)
    batch_ingest_records_per_s, api_list_page_ms   batch ingest of 1 KiB model calls (target >= 20,000/s) and
                                   the median 100-record page, one service process: see bench/paging.py
    audit_verify_events_per_s, audit_sequencer_events_per_s   `audit verify` over 1,000,000 events with 2 worker
                                   processes (target >= 300,000) and the sequencer's rate, with the verify's bounds
                                   (one process, COPY alone, hashing alone): see bench/audit.py; the API
                                   benchmark adds audit_sequencing_lag_p99_ms (target <= 1,000)
    breach_impact_s, breach_drill_s   breach response: impact over 10,000,000 audit events and 10,000 organisations
                                   (target <= 30), the drill end to end: see bench/breach.py

Extra reference lines: the ESDK's legacy raw master key path (faster than its keyring), and
the throughput of the 1,000,000-record KMS run (which includes moto's KMS calls).
"""

import sys

from bench.api import api_figures
from bench.audit import audit_figures
from bench.breach import breach_figures
from bench.database import database_figures
from bench.harness import median_rates
from bench.kms_calls import kms_calls_per_million
from bench.lifecycle import lifecycle_figures
from bench.paging import paging_figures
from bench.throughput import VALUE_BYTES, esdk_workloads, raw_aesgcm_workload, runtime_workloads

REPEATS = 7
OPS = 100_000
ESDK_KEYRING_OPS = 400
ESDK_MASTERKEY_OPS = 3_000


def main() -> None:
    print(f"# {REPEATS} interleaved repetitions, medians; values of {VALUE_BYTES} bytes", file=sys.stderr)
    workloads = {
        **runtime_workloads(OPS),
        "raw_aesgcm": raw_aesgcm_workload(OPS),
        **esdk_workloads(ESDK_KEYRING_OPS, ESDK_MASTERKEY_OPS),
    }
    rates = median_rates(workloads, repeats=REPEATS)
    figures = {
        "encrypt_per_s": rates["encrypt"],
        "decrypt_per_s": rates["decrypt"],
        "esdk_encrypt_per_s": rates["esdk_keyring"],
        "speedup_vs_esdk": rates["encrypt"] / rates["esdk_keyring"],
        "raw_aesgcm_per_s": rates["raw_aesgcm"],
        "overhead_vs_raw": rates["raw_aesgcm"] / rates["encrypt"],
        "esdk_masterkey_encrypt_per_s": rates["esdk_masterkey"],
        "speedup_vs_esdk_masterkey": rates["encrypt"] / rates["esdk_masterkey"],
    }
    figures.update(kms_calls_per_million())
    for name, value in figures.items():
        is_ratio = name.startswith(("speedup", "overhead"))
        print(f"{name}: {value:.2f}" if is_ratio else f"{name}: {value:.0f}", flush=True)
    # Database: RLS overhead and audited ingest on a throwaway TLS cluster (bench/database.py, P3 P14).
    for name, text in database_figures().items():
        print(f"{name}: {text}", flush=True)
    # Lifecycle jobs: export throughput and peak RSS at 1M and 3M rows, erasure rate (bench/lifecycle.py, P10 P13).
    for name, text in lifecycle_figures().items():
        print(f"{name}: {text}", flush=True)
    # The data service: API writes over loopback, 16 clients, one process (bench/api.py, P3 P14).
    for name, text in api_figures().items():
        print(f"{name}: {text}", flush=True)
    # Batch ingest and list pages of the data service, one process (bench/paging.py, issue 17).
    for name, text in paging_figures().items():
        print(f"{name}: {text}", flush=True)
    # The audit trail: sequencing and verification of 1,000,000 events (bench/audit.py, P14).
    for name, text in audit_figures().items():
        print(f"{name}: {text}", flush=True)
    # Breach response: impact from a 10,000,000-event ledger, the drill (bench/breach.py, P12 P14).
    for name, text in breach_figures().items():
        print(f"{name}: {text}", flush=True)


if __name__ == "__main__":
    main()
