"""The database commands' connection: settings from the environment, the password from runtime.wiring."""

import os
from collections.abc import Mapping

from runtime.db.config import DatabaseSettings
from runtime.db.connect import Connection, connect
from runtime.wiring.clients import ClientFactory, aws_client
from runtime.wiring.passwords import password_source


def connect_from_environment(
    environ: Mapping[str, str] | None = None, clients: ClientFactory = aws_client
) -> Connection:
    db = DatabaseSettings.from_environment(os.environ if environ is None else environ)
    return connect(db, password_source(db, clients))
