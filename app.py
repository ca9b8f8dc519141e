#!/usr/bin/env python3
"""CDK entry point: read the config once, build one stage per environment with every policy
pack, synthesize, and print the policy summary. Exit 1 on any unacknowledged finding, 2 on
bad configuration (run directly, as `make synth` does; the CDK CLI reports any failure of the
app as its own exit 1, and names the app's code: "Subprocess exited with error 2").

Works both under the CDK CLI (`npx cdk synth`, `-c env=prod`, `-c config=...`,
`-c prod.db_reader_count=3`) and directly (`python app.py`), with no AWS credentials.

Read here, once, and passed down as parameters (nothing below this file reads the environment):
- PLATFORM_STRICT=1 (`make synth STRICT=1`, the project's CI): an acknowledgement past its review
  date fails the synth. Otherwise it is a warning that lists what is overdue, and the synth passes.
- the CDK CLI's command: `cdk ls` / `cdk list` / `cdk diff` only need the cloud assembly, so they
  get one synth without the policy packs, the register and the gates (those run on synth and deploy).
  The CLI does not tell its app which command runs; it is read from the command line of the CLI
  process (an ancestor of this one). When that cannot be read, everything runs.
"""

import json
import os
import subprocess
import sys
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from pathlib import Path

import stacks  # noqa: F401  (sets up the jsii environment before aws_cdk loads)
from stacks.config import ConfigError, load_config
from stacks.policy.gates import GateError
from stacks.policy.register import RegisterError
from stacks.policy.report import write_report
from stacks.synth import summary_lines, synthesize, synthesize_assembly, write_summary

ROOT = Path(__file__).resolve().parent
STRICT_ENV = "PLATFORM_STRICT"
# Commands of the CDK CLI (v2) that run the app, and those of them that need only the cloud assembly.
CDK_COMMANDS = frozenset(
    {"ls", "list", "synth", "synthesize", "diff", "deploy", "destroy", "watch", "import", "drift", "refactor",
     "rollback", "metadata", "docs", "doctor", "bootstrap", "gc", "flags", "context", "notices", "acknowledge",
     "ack", "init", "migrate"}
)
ASSEMBLY_ONLY_COMMANDS = frozenset({"ls", "list", "diff"})
MAX_ANCESTORS = 8  # app <- sh <- node (cdk) <- npm exec (npx) <- make ... : the CLI is within a few levels

# (parent pid, argv) of a process, or None when it cannot be read.
ProcessReader = Callable[[int], tuple[int, list[str]] | None]


def read_context(environ: Mapping[str, str]) -> dict[str, object]:
    """The CLI hands its context (cdk.json + -c) over in CDK_CONTEXT_JSON; run directly, read cdk.json."""
    if "CDK_CONTEXT_JSON" in environ:
        return dict(json.loads(environ["CDK_CONTEXT_JSON"]))
    return dict(json.loads((ROOT / "cdk.json").read_text(encoding="utf-8")).get("context", {}))


def strict_mode(environ: Mapping[str, str]) -> bool:
    """PLATFORM_STRICT set to anything but empty, 0, false, no or off."""
    return environ.get(STRICT_ENV, "").strip().lower() not in {"", "0", "false", "no", "off"}


def read_process(pid: int) -> tuple[int, list[str]] | None:
    """(parent pid, argv) from /proc (Linux) or `ps` (macOS, BSD); None when unreadable."""
    proc = Path(f"/proc/{pid}")
    try:
        if proc.is_dir():
            argv = [arg.decode(errors="replace") for arg in (proc / "cmdline").read_bytes().split(b"\0") if arg]
            # "pid (comm) state ppid ...": comm may hold spaces and parentheses, so split after the last ")".
            return int((proc / "stat").read_text().rpartition(")")[2].split()[1]), argv
        out = subprocess.run(  # noqa: S603
            ["ps", "-o", "ppid=", "-o", "args=", "-p", str(pid)],  # noqa: S607
            capture_output=True, text=True, timeout=5, check=True,
        ).stdout.strip()
        ppid, _, args = out.partition(" ")
        return int(ppid), args.split()
    except (OSError, ValueError, IndexError, subprocess.SubprocessError):
        return None


def cdk_command(argv: list[str]) -> str | None:
    """The command in a CDK CLI command line (`node .../cdk ls -c env=dev`, `npm exec cdk diff`), or None."""
    for i, arg in enumerate(argv):
        if Path(arg).name in {"cdk", "cdk.js"}:
            return next((a for a in argv[i + 1 :] if a in CDK_COMMANDS), None)
    return None


def cli_command(
    environ: Mapping[str, str], *, pid: int | None = None, read: ProcessReader = read_process
) -> str | None:
    """The CDK CLI command that runs this app, from its ancestors' command lines; None when the app runs
    directly (no CDK_OUTDIR) or the CLI's command line cannot be found."""
    if "CDK_OUTDIR" not in environ:
        return None
    current = os.getppid() if pid is None else pid
    for _ in range(MAX_ANCESTORS):
        if current <= 1:
            return None
        process = read(current)
        if process is None:
            return None
        current, argv = process
        command = cdk_command(argv)
        if command is not None:
            return command
    return None


def main(environ: Mapping[str, str] | None = None, *, now: datetime | None = None) -> int:
    """`environ` (default: this process's environment) and `now` (default: the clock) are read here only."""
    environ = os.environ if environ is None else environ
    strict = strict_mode(environ)
    command = cli_command(environ)
    now = now or datetime.now(UTC)
    context = read_context(environ)
    outdir = environ.get("CDK_OUTDIR", str(ROOT / "cdk.out"))
    out = sys.stderr if "CDK_OUTDIR" in environ else sys.stdout  # the CLI's stdout carries `cdk ls` output
    try:
        config_path = ROOT / str(context.get("config", "config/operator.toml"))
        config = load_config(config_path, overrides=context).only(context.get("env"))  # type: ignore[arg-type]
        if command in ASSEMBLY_ONLY_COMMANDS:
            listed = synthesize_assembly(config, outdir, context=context)
            print(
                f"cdk {command}: synthesized {sum(map(len, listed.values()))} stacks without the policy packs, the "
                "register and the gates (they run on `cdk synth`, `cdk deploy` and `make synth`)",
                file=out,
            )
            return 0
        outcome = synthesize(config, outdir, context=context, today=now.date(), strict=strict)
    except (ConfigError, RegisterError, GateError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    write_summary(outcome, today=now.date())
    report = write_report(outcome, config, now=now)
    lines = summary_lines(outcome, config, today=now.date())
    for line in [*lines, f"Compliance report: {report}/report.md (.json, .csv)"]:
        print(line, file=out)
    return 0 if outcome.passed else 1


if __name__ == "__main__":
    sys.exit(main())
