"""The peak resident memory of a command: its own, not that of the process that starts it.

`os.wait4()` on a child of the benchmark process does not give the child's own peak. Linux
charges a process, when it execs, with the high-water RSS of the image it replaces, and a child
of this process replaces a copy of this process (or, with vfork, shares it): a bare
`python -c pass` started from a 300 MB benchmark process reads about 310 MB.

So `run` starts the command through a launcher: a fresh interpreter (`-I -S`, about 10 MB) that
forks and execs the command and reports the command's `ru_maxrss` from its own `wait4()`. The
image the command replaces is then the launcher's copy, and the figure is the larger of the
launcher's few MB and the command's own peak (`python -c pass` reads about 10 MB). The launcher
passes the command's exit status on; the wall time includes the launcher's start (~20 ms).
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

# argv: launcher.py RESULT_FILE PROGRAM ARG...; writes "MAXRSS_KIB EXIT_CODE" to RESULT_FILE.
_LAUNCHER = """
import os, sys
result, argv = sys.argv[1], sys.argv[2:]
pid = os.fork()
if pid == 0:
    try:
        os.execv(argv[0], argv)
    finally:
        os._exit(127)
_, status, usage = os.wait4(pid, 0)
code = os.waitstatus_to_exitcode(status)
with open(result, "w") as handle:
    handle.write(f"{usage.ru_maxrss} {code}")
sys.exit(code if 0 <= code < 256 else 1)
"""


@dataclass(frozen=True)
class Measured:
    seconds: float
    peak_rss_mib: float  # the command's own high-water RSS (ru_maxrss), MiB
    returncode: int
    stderr: bytes


def run(
    argv: Sequence[str],
    *,
    env: Mapping[str, str] | None = None,
    stdout: int | None = subprocess.DEVNULL,
) -> Measured:
    """Run `argv` (argv[0] an executable path) to completion; its wall time, own peak RSS and exit code."""
    with tempfile.TemporaryDirectory(prefix="peak-rss-") as scratch:
        result = Path(scratch) / "result"
        started = time.perf_counter()
        done = subprocess.run(  # noqa: S603 (our own interpreter and the caller's command)
            [sys.executable, "-I", "-S", "-c", _LAUNCHER, str(result), *argv],
            env=dict(env) if env is not None else None, stdout=stdout, stderr=subprocess.PIPE, check=False,
        )
        seconds = time.perf_counter() - started
        if not result.exists():
            raise RuntimeError(f"launcher failed ({done.returncode}): {done.stderr.decode(errors='replace')[-2000:]}")
        maxrss_kib, code = (int(field) for field in result.read_text().split())
    return Measured(seconds=seconds, peak_rss_mib=maxrss_kib / 1024, returncode=code, stderr=done.stderr)


def naive_peak_rss_mib(argv: Sequence[str]) -> float:
    """What the old figure read: `ru_maxrss` of a direct child of this process (includes this process)."""
    child = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # noqa: S603
    _, _, usage = os.wait4(child.pid, 0)
    return usage.ru_maxrss / 1024


def self_check() -> dict[str, str]:
    """The bare-child check, as figures: `python -c pass` measured by `run` and naively, from this process."""
    bare = [sys.executable, "-c", "pass"]
    return {
        "bare_child_rss_mb": f"{run(bare).peak_rss_mib:.0f}",
        "bare_child_rss_mb_naive": f"{naive_peak_rss_mib(bare):.0f}",
    }
