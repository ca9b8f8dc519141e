"""config/README.md and the config dataclasses agree: every field documented, the documented ranges enforced."""

from __future__ import annotations

import re
from dataclasses import fields
from pathlib import Path

import pytest

from stacks.config import (
    README,
    TABLE_BEGIN,
    VPC_PREFIXES,
    ConfigError,
    EnvironmentConfig,
    PlatformConfig,
    field_table,
    load_config,
    readme_with_table,
    spec_of,
)
from tests.stacks.test_config import VALID, _write


def _documented_fields(text: str) -> set[str]:
    table = text.partition(TABLE_BEGIN)[2]
    return {
        name
        for row in table.splitlines()
        if row.startswith("| `")
        for name in re.findall(r"`(\w+)`", row.split("|")[1])
    }


def test_config_readme_field_table_is_the_generated_one() -> None:
    text = README.read_text(encoding="utf-8")
    assert field_table() in text, "config/README.md's field table is out of date: run .venv/bin/python -m stacks.config"


def test_config_readme_documents_every_settable_field() -> None:
    settable = {f.name for cls in (PlatformConfig, EnvironmentConfig) for f in fields(cls) if spec_of(f).settable}
    assert settable <= _documented_fields(README.read_text(encoding="utf-8"))
    assert {"app_name", "jwt_issuer", "jwt_jwks_url", "breach_contact", "breach_sender"} <= settable


def test_config_readme_table_generation_fails_without_its_markers() -> None:
    with pytest.raises(ConfigError, match="markers"):
        readme_with_table("# no table here\n")


def test_config_readme_vpc_cidr_range_is_the_enforced_one(tmp_path: Path) -> None:
    low, high = VPC_PREFIXES
    row = next(line for line in README.read_text().splitlines() if line.startswith("| `vpc_cidr` |"))
    assert f"/{low} to /{high}" in row and "/20" not in row
    for prefix, accepted in ((low, True), (high, True), (low - 1, False), (high + 1, False)):
        cidr = f"10.10.0.0/{prefix}" if prefix >= 16 else "10.0.0.0/15"
        path = _write(tmp_path, VALID.replace('vpc_cidr = "10.10.0.0/16"', f'vpc_cidr = "{cidr}"', 1))
        if accepted:
            assert load_config(path).environment("dev").vpc_cidr == cidr
        else:
            with pytest.raises(ConfigError, match=rf"environments\.dev\.vpc_cidr: .* between /{low} and /{high}"):
                load_config(path)


@pytest.mark.parametrize(
    ("field_name", "value"),
    [
        (f.name, bound)
        for f in fields(EnvironmentConfig)
        for bound in (spec_of(f).low, spec_of(f).high)
        if bound is not None
    ],
)
def test_config_documented_range_bounds_are_accepted(tmp_path: Path, field_name: str, value: int) -> None:
    path = _write(tmp_path, VALID.replace('kind = "dev"', f'kind = "dev"\n{field_name} = {value}', 1))
    assert getattr(load_config(path).environment("dev"), field_name) == value


def test_config_audit_cadence_ranges_are_the_runtimes() -> None:
    """The sequencer refuses what the config refuses: one range each, stated twice only because stacks/config.py
    imports nothing from the runtime."""
    from runtime import bounds
    from stacks.config import AUDIT_CHECKPOINT_EVERY, AUDIT_CHECKPOINT_SECONDS

    assert (bounds.AUDIT_CHECKPOINT_EVERY.minimum, bounds.AUDIT_CHECKPOINT_EVERY.maximum) == AUDIT_CHECKPOINT_EVERY
    assert (bounds.AUDIT_CHECKPOINT_SECONDS.minimum,
                                        bounds.AUDIT_CHECKPOINT_SECONDS.maximum) == AUDIT_CHECKPOINT_SECONDS
