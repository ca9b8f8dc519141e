"""The platform's version: the one place it is written.

Read by pyproject.toml (setuptools' dynamic version), the OpenAPI description (runtime/service/app.py),
`python -m runtime --version` / `platform-runtime --version`, and checked against the image's
`org.opencontainers.image.version` label (runtime/Dockerfile) by tests/runtime/test_container_pins.py.
A release changes this line, the Dockerfile label and CHANGELOG.md (RELEASING.md).
"""

from typing import Final

__version__: Final = "0.1.0"
