"""Config of per-organisation keys (P6, P10): keyring_mode and key_deletion_pending_days."""

from __future__ import annotations

from pathlib import Path

import pytest

from stacks.config import ConfigError, load_config
from tests.stacks.conftest import OPERATOR_CONFIG, SELFHOSTED_CONFIG
from tests.stacks.test_config import VALID, _write


def test_keyring_mode_default_is_per_organisation_with_seven_pending_days(tmp_path: Path) -> None:
    config = load_config(_write(tmp_path, VALID))
    for name in ("dev", "prod"):
        assert config.environment(name).keyring_mode == "per-organisation"
        assert config.environment(name).key_deletion_pending_days == 7


def test_keyring_mode_shared_in_prod_is_refused_naming_the_fix(tmp_path: Path) -> None:
    text = VALID.replace('kind = "prod"', 'kind = "prod"\nkeyring_mode = "shared"')
    with pytest.raises(ConfigError, match=r"environments\.prod\.keyring_mode.*per-organisation"):
        load_config(_write(tmp_path, text))


def test_keyring_mode_shared_in_dev_is_accepted(tmp_path: Path) -> None:
    text = VALID.replace('kind = "dev"', 'kind = "dev"\nkeyring_mode = "shared"')
    assert load_config(_write(tmp_path, text)).environment("dev").keyring_mode == "shared"


def test_keyring_mode_unknown_value_is_refused(tmp_path: Path) -> None:
    text = VALID.replace('kind = "dev"', 'kind = "dev"\nkeyring_mode = "byok"')
    with pytest.raises(ConfigError, match=r"environments\.dev\.keyring_mode.*not one of per-organisation, shared"):
        load_config(_write(tmp_path, text))


@pytest.mark.parametrize("days", [6, 31, 0])
def test_key_deletion_pending_days_out_of_range_is_refused(tmp_path: Path, days: int) -> None:
    text = VALID.replace('kind = "dev"', f'kind = "dev"\nkey_deletion_pending_days = {days}')
    with pytest.raises(ConfigError, match=r"environments\.dev\.key_deletion_pending_days.*7 to 30"):
        load_config(_write(tmp_path, text))


@pytest.mark.parametrize("days", [7, 30])
def test_key_deletion_pending_days_bounds_are_accepted(tmp_path: Path, days: int) -> None:
    text = VALID.replace('kind = "dev"', f'kind = "dev"\nkey_deletion_pending_days = {days}')
    assert load_config(_write(tmp_path, text)).environment("dev").key_deletion_pending_days == days


def test_keyring_mode_shipped_configs_shared_only_in_dev() -> None:
    operator = load_config(OPERATOR_CONFIG)
    assert {n: operator.environment(n).keyring_mode for n in operator.names} == {
        "dev": "shared", "qa": "per-organisation", "prod": "per-organisation"}
    selfhosted = load_config(SELFHOSTED_CONFIG)
    assert all(selfhosted.environment(n).keyring_mode == "per-organisation" for n in selfhosted.names)
