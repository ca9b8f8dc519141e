"""Readers of the container's environment variables (their names are in runtime/settings.py).

Each reader raises `ConfigurationError` naming the variable and what to set, so a misconfigured
task stops at start-up with one clear message.
"""

from collections.abc import Mapping

from runtime.errors import ConfigurationError

TRUE, FALSE = ("1", "true", "yes", "on"), ("0", "false", "no", "off", "")


def text(environ: Mapping[str, str], name: str) -> str:
    return environ.get(name, "").strip()


def required(environ: Mapping[str, str], name: str, what: str) -> str:
    value = text(environ, name)
    if not value:
        raise ConfigurationError(f"{name} is not set; set it to {what}")
    return value


def flag(environ: Mapping[str, str], name: str) -> bool:
    raw = text(environ, name).lower()
    if raw not in TRUE + FALSE:
        raise ConfigurationError(f"{name} must be true or false; got {raw!r}")
    return raw in TRUE


def optional_integer(environ: Mapping[str, str], name: str) -> int | None:
    raw = text(environ, name)
    if not raw:
        return None
    try:
        return int(raw)
    except ValueError:
        raise ConfigurationError(f"{name}={raw!r} is not an integer") from None


def integer(
    environ: Mapping[str, str], name: str, default: int, low: int | None = None, high: int | None = None
) -> int:
    value = optional_integer(environ, name)
    if value is None:
        return default
    if (low is not None and value < low) or (high is not None and value > high):
        raise ConfigurationError(f"{name}={value} is out of range; use {low} to {high}")
    return value
