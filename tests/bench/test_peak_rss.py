"""bench/peak_rss.py measures a command's own peak RSS, not that of the (large) process starting it."""

from __future__ import annotations

import sys

from bench import peak_rss

BALLAST_MIB = 200


def test_peak_rss_bare_child_of_a_large_parent_reads_its_own_size() -> None:
    ballast = b"x" * (BALLAST_MIB << 20)  # this process: > 200 MiB resident
    bare = [sys.executable, "-c", "pass"]
    measured = peak_rss.run(bare)
    assert measured.returncode == 0
    assert measured.peak_rss_mib < 40, measured  # an interpreter: about 10 MiB
    assert peak_rss.naive_peak_rss_mib(bare) > BALLAST_MIB  # the old way reads this process
    assert len(ballast) == BALLAST_MIB << 20


def test_peak_rss_child_allocation_is_counted() -> None:
    measured = peak_rss.run([sys.executable, "-c", "b = b'y' * (120 << 20)"])
    assert 120 < measured.peak_rss_mib < 170, measured


def test_peak_rss_exit_code_and_stderr_pass_through() -> None:
    measured = peak_rss.run([sys.executable, "-c", "import sys; sys.stderr.write('boom'); sys.exit(3)"])
    assert measured.returncode == 3 and measured.stderr == b"boom"
