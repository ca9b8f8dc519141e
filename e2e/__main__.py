"""`python -m e2e up|run [--env dev] [--config config/operator.toml] [--cdk-out DIR] [--synth]`

    up    bring the environment of cdk.out up locally and leave it running (Ctrl-C stops)
    run   bring it up, run the life-cycle steps, stop; exit 1 on any failure

Without --synth, an existing cdk.out holding the environment is reused; otherwise the app is synthesized
for that one environment into the given directory (default cdk.out/e2e-<env>).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path

from e2e import assembly, emulation, steps

ROOT = Path(__file__).resolve().parents[1]


def synthesize(config: str, env: str, outdir: Path) -> None:
    context = json.loads((ROOT / "cdk.json").read_text(encoding="utf-8"))["context"]
    context.update({"config": config, "env": env})
    done = subprocess.run(
        [sys.executable, "app.py"], cwd=ROOT, capture_output=True, text=True, check=False,
        env={**os.environ, "CDK_OUTDIR": str(outdir), "CDK_CONTEXT_JSON": json.dumps(context)},
    )
    if not (outdir / assembly.MANIFEST).is_file():
        raise SystemExit(f"synth failed ({done.returncode}):\n{done.stderr[-3000:]}")
    if done.returncode != 0:
        print(f"WARNING: synth reported findings or a gate error (exit {done.returncode}); using its assembly",
              file=sys.stderr)


def assembly_dir(args: argparse.Namespace, say: Callable[[str], None] = print) -> Path:
    outdir = Path(args.cdk_out) if args.cdk_out else ROOT / "cdk.out"
    has_env = (outdir / assembly.MANIFEST).is_file() and args.env in assembly.environments(outdir)
    if args.synth or not has_env:
        outdir = Path(args.cdk_out) if args.cdk_out else ROOT / "cdk.out" / f"e2e-{args.env}"
        say(f"synthesizing {args.env} from {args.config} into {outdir} (app.py, every policy pack) ...")
        started = time.monotonic()
        synthesize(args.config, args.env, outdir)
        say(f"synthesized in {time.monotonic() - started:.1f} s")
    return outdir


def credentials(running: emulation.Running, mode: str) -> dict[str, str]:
    """A header an owner (of a new organisation) or a support engineer would send, signed by the local
    IdP stand-in or the load balancer stand-in."""
    if mode == "owner" and "owner" in running.issuers:
        return running.issuers["owner"].headers("alice@local.example", uuid.uuid4())
    if mode == "support":
        env = running.services["support"].spec.env
        claims = {env.get("PLATFORM_AUTH_STAFF_CLAIM", ""): [env.get("PLATFORM_AUTH_STAFF_ROLE", "")]}
        if "support" in running.issuers:
            return running.issuers["support"].headers("sam@local.example", None, **claims)
        if "support" in running.load_balancers:
            return running.load_balancers["support"].data_header({"sub": "sam@local.example", **claims}, ttl=3600)
    return {}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m e2e", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("command", choices=["up", "run"])
    parser.add_argument("--env", default=os.environ.get("ENV", "dev"))
    parser.add_argument("--config", default="config/operator.toml")
    parser.add_argument("--cdk-out", help="cloud assembly to read (default: cdk.out)")
    parser.add_argument("--synth", action="store_true", help="synthesize even when the assembly has the env")
    args = parser.parse_args(argv)
    started = time.monotonic()

    def say(line: str) -> None:
        print(f"[{time.monotonic() - started:6.1f} s] {line}", flush=True)

    outdir = assembly_dir(args, say)
    with emulation.up(outdir, args.env, say=say) as running:
        if args.command == "up":
            for mode, service in running.services.items():
                say(f"{mode} service: {service.url} (log {service.log})")
                for name, value in credentials(running, mode).items():
                    say(f"  a {mode} credential (1 h): curl -k -H '{name}: {value}' {service.url}/...")
            say("running; Ctrl-C stops")
            try:
                while True:
                    time.sleep(3600)
            except KeyboardInterrupt:
                return 0
        failures = steps.run_steps(running, say)
    say(f"done in {time.monotonic() - started:.1f} s")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
