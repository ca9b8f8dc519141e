"""Timing helpers: interleaved rounds and medians."""

import statistics
import time
from collections.abc import Callable, Mapping

# A workload runs `ops` operations and returns nothing; we time it as a whole.
Workload = Callable[[], None]


def rate(workload: Workload, ops: int) -> float:
    start = time.perf_counter()
    workload()
    return ops / (time.perf_counter() - start)


def median_rates(workloads: Mapping[str, tuple[Workload, int]], *, repeats: int) -> dict[str, float]:
    """Operations per second of each workload, median of `repeats` interleaved rounds.

    Interleaving (A, B, C, A, B, C, ...) spreads machine noise evenly over the workloads,
    so the ratios between them are fairer than if each ran its repetitions back to back.
    """
    for workload, _ in workloads.values():  # warm-up: imports, caches, first KMS/keyring calls
        workload()
    samples: dict[str, list[float]] = {name: [] for name in workloads}
    for _ in range(repeats):
        for name, (workload, ops) in workloads.items():
            samples[name].append(rate(workload, ops))
    return {name: statistics.median(values) for name, values in samples.items()}
