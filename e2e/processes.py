"""Run a task's process: a one-off job to completion, or a service until stopped (ready on /readyz)."""

from __future__ import annotations

import os
import ssl
import subprocess
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from e2e.tasks import ProcessSpec

_BASE_VARIABLES = ("PATH", "LANG", "LC_ALL", "TZ")  # from this machine; nothing else leaks into a task


class ProcessError(RuntimeError):
    """A task process failed, or a service did not become ready."""


def environment(spec: ProcessSpec, aws: dict[str, str]) -> dict[str, str]:
    base = {name: os.environ[name] for name in _BASE_VARIABLES if name in os.environ}
    return {**base, **spec.env, **aws}


def _make_scratch(spec: ProcessSpec) -> None:
    for name in ("TMPDIR", "HOME"):
        if spec.env.get(name):
            Path(spec.env[name]).mkdir(parents=True, exist_ok=True)


@dataclass(frozen=True)
class Finished:
    returncode: int
    stdout: str
    stderr: str
    seconds: float
    task: str = ""  # the process's name: the task definition and the command


def run_job(spec: ProcessSpec, aws: dict[str, str], *, timeout: float = 120.0) -> Finished:
    _make_scratch(spec)
    started = time.monotonic()
    done = subprocess.run(  # noqa: S603 (argv from the template, interpreter replaced by ours)
        spec.argv, env=environment(spec, aws), cwd=spec.cwd, capture_output=True, text=True, timeout=timeout,
        check=False,
    )
    return Finished(done.returncode, done.stdout, done.stderr, time.monotonic() - started, spec.name)


@dataclass
class Service:
    spec: ProcessSpec
    url: str
    log: Path
    process: subprocess.Popen[bytes] = field(repr=False)

    def wait_ready(self, timeout: float = 60.0) -> float:
        started = time.monotonic()
        context = ssl._create_unverified_context()  # noqa: S323 (the ALB does not verify targets either)
        last = ""
        while time.monotonic() - started < timeout:
            if self.process.poll() is not None:
                raise ProcessError(f"{self.spec.name} exited ({self.process.returncode}):\n{self.log_tail()}")
            try:
                with urllib.request.urlopen(f"{self.url}/readyz", timeout=2, context=context) as answer:  # noqa: S310
                    if answer.status == 200:
                        return time.monotonic() - started
            except (urllib.error.URLError, OSError) as exc:
                last = str(exc)
            time.sleep(0.2)
        raise ProcessError(f"{self.spec.name} not ready within {timeout:.0f} s ({last}):\n{self.log_tail()}")

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def start_worker(spec: ProcessSpec, aws: dict[str, str], *, log: Path) -> Service:
    """A background service without HTTP (the audit sequencer): running is all there is to check."""
    _make_scratch(spec)
    with log.open("wb") as out:
        process = subprocess.Popen(  # noqa: S603
            spec.argv, env=environment(spec, aws), cwd=spec.cwd, stdout=out, stderr=subprocess.STDOUT,
        )
    return Service(spec, "", log, process)


def start_service(spec: ProcessSpec, aws: dict[str, str], *, log: Path) -> Service:
    _make_scratch(spec)
    tls = spec.env.get("PLATFORM_SERVICE_TLS", "").lower() in ("1", "true", "yes", "on")
    url = f"{'https' if tls else 'http'}://127.0.0.1:{spec.env['PLATFORM_SERVICE_PORT']}"
    with log.open("wb") as out:
        process = subprocess.Popen(  # noqa: S603
            spec.argv, env=environment(spec, aws), cwd=spec.cwd, stdout=out, stderr=subprocess.STDOUT,
        )
    return Service(spec, url, log, process)
