#!/usr/bin/env python3
"""CDK entry point: read the config once, build one stage per environment with every policy
pack, synthesize, and print the policy summary. Exit 1 on any unacknowledged finding, 2 on
bad configuration.

Works both under the CDK CLI (`npx cdk synth`, `-c env=prod`, `-c config=...`,
`-c prod.db_reader_count=3`) and directly (`python app.py`), with no AWS credentials.
"""

import json
import os
import sys
from pathlib import Path

import stacks  # noqa: F401  (sets up the jsii environment before aws_cdk loads)
from stacks.config import ConfigError, load_config
from stacks.policy.gates import GateError
from stacks.policy.register import RegisterError
from stacks.policy.report import write_report
from stacks.synth import summary_lines, synthesize, write_summary

ROOT = Path(__file__).resolve().parent


def read_context() -> dict[str, object]:
    """The CLI hands its context (cdk.json + -c) over in CDK_CONTEXT_JSON; run directly, read cdk.json."""
    if "CDK_CONTEXT_JSON" in os.environ:
        return dict(json.loads(os.environ["CDK_CONTEXT_JSON"]))
    return dict(json.loads((ROOT / "cdk.json").read_text(encoding="utf-8")).get("context", {}))


def main() -> int:
    context = read_context()
    outdir = os.environ.get("CDK_OUTDIR", str(ROOT / "cdk.out"))
    try:
        config_path = ROOT / str(context.get("config", "config/operator.toml"))
        config = load_config(config_path, overrides=context).only(context.get("env"))  # type: ignore[arg-type]
        outcome = synthesize(config, outdir, context=context)
    except (ConfigError, RegisterError, GateError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    write_summary(outcome)
    report = write_report(outcome, config)
    for line in [*summary_lines(outcome, config), f"Compliance report: {report}/report.md (.json, .csv)"]:
        print(line, file=sys.stderr if "CDK_OUTDIR" in os.environ else sys.stdout)
    return 0 if outcome.passed else 1


if __name__ == "__main__":
    sys.exit(main())
