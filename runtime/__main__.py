"""Entry point: `python -m runtime <command>` (see runtime/cli/)."""

import sys

from runtime.cli import main

sys.exit(main())
