"""`python -m runtime <group> <command>`: a thin dispatcher to each package's CLI.

    python -m runtime db bootstrap-roles | migrate | self-check [--mode owner|support|job]
    python -m runtime audit verify [--trust SEQ:HASH] | checkpoint

Exit codes: 0 done, 1 the check failed (self-check findings, broken audit chain), 2 bad setup.
"""

import argparse
import os
import sys
from collections.abc import Mapping, Sequence

from runtime.audit import cli as audit_cli
from runtime.db import cli as db_cli
from runtime.errors import PlatformError


def main(
    argv: Sequence[str] | None = None,
    environ: Mapping[str, str] | None = None,
    clients: db_cli.ClientFactory = db_cli.boto3_clients,
) -> int:
    parser = argparse.ArgumentParser(prog="python -m runtime", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="group", required=True)
    db_cli.register(commands)
    audit_cli.register(commands)
    args = parser.parse_args(argv)
    environ = os.environ if environ is None else environ
    try:
        if args.group == "db":
            return db_cli.run(args, environ, clients)
        return audit_cli.run(args, environ, clients)
    except PlatformError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
