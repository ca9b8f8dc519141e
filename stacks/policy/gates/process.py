"""The one way a gate runs its tool: a subprocess with a fixed argument list (no shell), no stdin,
a scratch working directory and HOME, a timeout, and every way it can fail turned into a
`GateError` that says what to do."""

from __future__ import annotations

import os
import subprocess
import tempfile
from collections.abc import Collection, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path

from stacks.policy.gates import GateError

TIMEOUT_SECONDS = 600


@contextmanager
def isolated_run(extra_env: Mapping[str, str] | None = None) -> Iterator[tuple[Path, dict[str, str]]]:
    """A scratch working directory and environment for one tool run. Both tools read config files
    from the working directory and from HOME (.cfnlintrc, .checkov.yaml) that can silently switch
    checks off; the gates' options are all on the command line, and only the register acknowledges."""
    with tempfile.TemporaryDirectory(prefix="policy-gate-") as scratch:
        env = {**os.environ, "HOME": scratch, **(extra_env or {})}
        yield Path(scratch), env


def run_tool(
    tool: str,
    args: Sequence[str],
    *,
    cwd: Path,
    env: Mapping[str, str],
    ok_exit_codes: Collection[int] = (0,),
) -> subprocess.CompletedProcess[str]:
    """Run `args` (the executable first) and return its output; an exit status outside
    `ok_exit_codes` means the tool failed, not the templates."""
    try:
        completed = subprocess.run(  # noqa: S603  (fixed argument list, no shell)
            list(args),
            cwd=cwd,
            env=dict(env),
            stdin=subprocess.DEVNULL,  # with no template, cfn-lint would read one from a pipe
            capture_output=True,
            text=True,
            timeout=TIMEOUT_SECONDS,
            check=False,
        )
    except OSError as exc:
        raise GateError(f"{tool} is not installed ({args[0]}: {exc.strerror}): run make deps.") from exc
    except subprocess.TimeoutExpired as exc:
        raise GateError(f"{tool} did not finish within {TIMEOUT_SECONDS} s.") from exc
    if completed.returncode not in ok_exit_codes:
        raise GateError(
            f"{tool} failed (exit {completed.returncode}); fix the error below or run make deps:\n"
            f"{tail(completed.stderr or completed.stdout)}"
        )
    return completed


def tail(text: str, lines: int = 15) -> str:
    """The end of a tool's output, for an error message."""
    return "\n".join(text.strip().splitlines()[-lines:])
