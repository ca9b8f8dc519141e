import base64
import os
from pathlib import Path

import pytest

from runtime import settings
from runtime.envelope import EnvelopeCipher, InMemoryWrappedKeyStore, LocalKeyring
from runtime.errors import ConfigurationError, DecryptionError

KEY = os.urandom(32)
KEY_B64 = base64.b64encode(KEY).decode()
WHERE = {"owner": "org-1", "table": "prompts", "column": "body", "row_id": "row-1"}


def _same_key(a: LocalKeyring, b: LocalKeyring) -> bool:
    _, wrapped = a.generate_data_key("org-1")
    try:
        b.unwrap_data_key("org-1", wrapped)
    except DecryptionError:
        return False
    return True


def test_local_keyring_from_environment_variable_reads_key() -> None:
    keyring = LocalKeyring.from_environment({settings.LOCAL_MASTER_KEY: KEY_B64}, environment="dev")
    file_keyring = LocalKeyring.from_environment({settings.LOCAL_MASTER_KEY: KEY_B64}, environment="dev")
    assert _same_key(keyring, file_keyring)


@pytest.mark.parametrize("content", [KEY, f"{KEY_B64}\n".encode()])
def test_local_keyring_from_file_reads_raw_or_base64(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "master.key"
    path.write_bytes(content)
    from_file = LocalKeyring.from_environment({settings.LOCAL_MASTER_KEY_FILE: str(path)}, environment="dev")
    from_var = LocalKeyring.from_environment({settings.LOCAL_MASTER_KEY: KEY_B64}, environment="dev")
    assert _same_key(from_file, from_var)


def test_local_keyring_other_master_key_cannot_unwrap() -> None:
    one = LocalKeyring.from_environment({settings.LOCAL_MASTER_KEY: KEY_B64}, environment="dev")
    other_b64 = base64.b64encode(os.urandom(32)).decode()
    other = LocalKeyring.from_environment({settings.LOCAL_MASTER_KEY: other_b64}, environment="dev")
    assert not _same_key(one, other)


def test_local_keyring_wrapped_key_bound_to_owner() -> None:
    keyring = LocalKeyring.from_environment({settings.LOCAL_MASTER_KEY: KEY_B64}, environment="dev")
    _, wrapped = keyring.generate_data_key("org-1")
    with pytest.raises(DecryptionError):
        keyring.unwrap_data_key("org-2", wrapped)


def test_local_keyring_no_key_configured_says_how_to_make_one() -> None:
    with pytest.raises(ConfigurationError, match=r"os\.urandom\(32\)"):
        LocalKeyring.from_environment({}, environment="dev")


def test_local_keyring_both_sources_raise(tmp_path: Path) -> None:
    env = {settings.LOCAL_MASTER_KEY: KEY_B64, settings.LOCAL_MASTER_KEY_FILE: str(tmp_path / "k")}
    with pytest.raises(ConfigurationError, match="not both"):
        LocalKeyring.from_environment(env, environment="dev")


@pytest.mark.parametrize("bad", ["not base64!", base64.b64encode(b"short").decode(), KEY_B64 + "AAAA"])
def test_local_keyring_malformed_key_raises_without_echo(bad: str) -> None:
    with pytest.raises(ConfigurationError, match="exactly 32 bytes") as raised:
        LocalKeyring.from_environment({settings.LOCAL_MASTER_KEY: bad}, environment="dev")
    assert bad not in str(raised.value)


def test_local_keyring_missing_file_raises(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="cannot read"):
        LocalKeyring.from_environment({settings.LOCAL_MASTER_KEY_FILE: str(tmp_path / "absent")}, environment="dev")


def test_local_keyring_in_cipher_round_trips() -> None:
    keyring = LocalKeyring.from_environment({settings.LOCAL_MASTER_KEY: KEY_B64}, environment="dev")
    cipher = EnvelopeCipher(keyring=keyring, store=InMemoryWrappedKeyStore())
    assert cipher.decrypt(cipher.encrypt(b"hello", **WHERE), **WHERE) == b"hello"
    assert KEY_B64 not in repr(keyring)
