"""Entry point: `python -m runtime <command>` (see runtime/cli/), installed as `platform-runtime`.

`--version` (or `-V`) prints the platform's version (runtime/version.py) and exits.
"""

import os
import sys
from collections.abc import Sequence

from runtime.cli import EXIT_FAILED, build_parser
from runtime.cli import main as cli_main
from runtime.permissions import undeclared_command
from runtime.version import __version__


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if args[:1] in (["--version"], ["-V"]):
        print(f"platform-runtime {__version__}")
        return 0
    # A task that declares its commands (PLATFORM_TASK_COMMANDS) runs only those (runtime/permissions.py).
    refused = undeclared_command(build_parser().parse_args(args), os.environ)
    if refused:
        print(f"error: {refused}", file=sys.stderr)
        return EXIT_FAILED
    return cli_main(args)


if __name__ == "__main__":
    sys.exit(main())
