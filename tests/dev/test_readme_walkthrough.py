"""The README's local-run walkthrough runs as written: its command block, against `python -m dev start` (what
`make dev` runs, on free ports and a state folder of its own), answers what the README's answer block shows,
line by line (`...` stands for what varies: ids, times, paths). So the walkthrough cannot rot."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from tests.support.postgres import free_port

ROOT = Path(__file__).resolve().parents[2]
START_SECONDS = 90.0


def _blocks(readme: str) -> tuple[str, list[str]]:
    """The walkthrough's commands (the first sh block of "## Local run") and its answer lines."""
    section = readme.split("\n## Local run\n", 1)[1].split("\n## ", 1)[0]
    commands = section.split("```sh\n", 1)[1].split("```", 1)[0]
    answers = section.split("What they answer", 1)[1].split("```\n", 1)[1].split("```", 1)[0]
    return commands, [line for line in answers.splitlines() if line.strip()]


def _documents(text: str) -> list[Any]:
    """The JSON documents printed one after another (curl -s ends none with a newline)."""
    decoder, found, at = json.JSONDecoder(), [], 0
    while at < len(text):
        if text[at].isspace():
            at += 1
            continue
        document, at = decoder.raw_decode(text, at)
        found.append(document)
    return found


def _pattern(line: str) -> re.Pattern[str]:
    return re.compile(".*?".join(re.escape(part) for part in line.split("...")), re.DOTALL)


def _ready(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as answer:  # noqa: S310 (a local http URL)
            return bool(answer.status == 200)
    except OSError:
        return False


@pytest.mark.postgres
def test_readme_walkthrough_answers_as_documented(tmp_path: Path) -> None:
    commands, expected = _blocks((ROOT / "README.md").read_text(encoding="utf-8"))
    port, support_port = free_port(), free_port()
    script = (commands.replace("127.0.0.1:8080", f"127.0.0.1:{port}")
              .replace("127.0.0.1:8081", f"127.0.0.1:{support_port}")
              .replace("PY=.venv/bin/python", f"PY={sys.executable}"))
    environ = {**{k: v for k, v in os.environ.items() if not k.startswith("PLATFORM_")},
               "DEV_STATE_DIR": str(tmp_path / "platform-dev")}
    log = (tmp_path / "dev.log").open("wb")
    dev = subprocess.Popen([sys.executable, "-m", "dev", "start", "--port", str(port), "--support-port",
                            str(support_port)], cwd=ROOT, env=environ, stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + START_SECONDS
        while not (_ready(f"http://127.0.0.1:{port}/readyz") and (tmp_path / "platform-dev" / "users.json").exists()):
            assert dev.poll() is None and time.monotonic() < deadline, (tmp_path / "dev.log").read_text()[-3000:]
            time.sleep(0.3)
        run = subprocess.run(["bash", "-e", "-c", script], cwd=ROOT, env=environ, capture_output=True, text=True,
                             timeout=180, check=False)
    finally:
        dev.send_signal(signal.SIGINT)  # as Ctrl-C: it stops both services and removes its folder
        try:
            dev.wait(timeout=60)
        except subprocess.TimeoutExpired:
            dev.kill()
        log.close()
    assert run.returncode == 0, run.stderr[-3000:]
    printed = [json.dumps(d, separators=(",", ":"), ensure_ascii=False) for d in _documents(run.stdout)]
    assert len(printed) == len(expected), "\n".join(printed)
    for answer, documented in zip(printed, expected, strict=True):
        assert _pattern(documented).fullmatch(answer), f"\nREADME: {documented}\nran:    {answer}"
    assert not (tmp_path / "platform-dev").exists()  # Ctrl-C removed the run's data
