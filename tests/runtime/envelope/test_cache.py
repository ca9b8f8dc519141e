import threading
import time

import pytest

from runtime import settings
from runtime.envelope import CacheLimits, DataKeyCache, EnvelopeCipher, InMemoryWrappedKeyStore, LocalKeyring
from runtime.envelope import format as fmt
from runtime.errors import ConfigurationError

WHERE = {"owner": "org-1", "table": "prompts", "column": "body", "row_id": "row-1"}


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class CountingLoader:
    def __init__(self) -> None:
        self.calls = 0

    def __call__(self, key: str) -> str:
        self.calls += 1
        return f"{key}#{self.calls}"


def test_cache_hit_within_max_age_loads_once() -> None:
    clock, load = FakeClock(), CountingLoader()
    cache: DataKeyCache[str, str] = DataKeyCache(CacheLimits(max_age_seconds=60), clock=clock)
    assert cache.get_or_load("a", load) == "a#1"
    clock.now += 59.9
    assert cache.get_or_load("a", load) == "a#1"
    assert load.calls == 1


def test_cache_entry_older_than_max_age_reloads() -> None:
    clock, load = FakeClock(), CountingLoader()
    cache: DataKeyCache[str, str] = DataKeyCache(CacheLimits(max_age_seconds=60), clock=clock)
    cache.get_or_load("a", load)
    clock.now += 60
    assert cache.get_or_load("a", load) == "a#2"
    assert cache.stats().expired == 1


def test_cache_entry_used_max_uses_times_reloads() -> None:
    load = CountingLoader()
    cache: DataKeyCache[str, str] = DataKeyCache(CacheLimits(max_uses=3), clock=FakeClock())
    got = [cache.get_or_load("a", load) for _ in range(7)]
    assert got == ["a#1"] * 3 + ["a#2"] * 3 + ["a#3"]
    stats = cache.stats()
    assert (stats.hits, stats.misses, stats.expired) == (4, 3, 2)


def test_cache_batch_takes_its_uses_at_once_and_never_exceeds_max_uses() -> None:
    load = CountingLoader()
    cache: DataKeyCache[str, str] = DataKeyCache(CacheLimits(max_uses=5), clock=FakeClock())
    assert cache.get_or_load("a", load, uses=3) == "a#1"
    assert cache.get_or_load("a", load, uses=2) == "a#1"  # exactly max_uses
    assert cache.get_or_load("a", load, uses=1) == "a#2"
    assert cache.get_or_load("a", load, uses=5) == "a#3"  # 1 + 5 > 5: a fresh entry for the batch
    with pytest.raises(ValueError, match="split the batch"):
        cache.get_or_load("a", load, uses=6)
    with pytest.raises(ValueError, match="uses must be"):
        cache.get_or_load("a", load, uses=0)
    assert load.calls == 3


def test_cache_over_max_entries_evicts_least_recently_used() -> None:
    load = CountingLoader()
    cache: DataKeyCache[str, str] = DataKeyCache(CacheLimits(max_entries=2), clock=FakeClock())
    cache.get_or_load("a", load)
    cache.get_or_load("b", load)
    cache.get_or_load("a", load)  # a is now the most recent
    cache.get_or_load("c", load)  # evicts b
    assert cache.get_or_load("a", load) == "a#1"
    assert cache.get_or_load("b", load) == "b#4"
    assert cache.stats().evicted == 2


def test_cache_failed_load_is_not_cached() -> None:
    cache: DataKeyCache[str, str] = DataKeyCache(clock=FakeClock())

    def failing(key: str) -> str:
        raise RuntimeError("KMS down")

    with pytest.raises(RuntimeError):
        cache.get_or_load("a", failing)
    assert cache.get_or_load("a", CountingLoader()) == "a#1"
    assert cache.stats().entries == 1


def test_cache_eight_threads_missing_same_key_load_once() -> None:
    cache: DataKeyCache[str, str] = DataKeyCache()
    calls = 0
    start = threading.Barrier(8)

    def slow_load(key: str) -> str:
        nonlocal calls
        calls += 1
        time.sleep(0.05)
        return key

    def worker() -> None:
        start.wait()
        assert cache.get_or_load("owner", slow_load) == "owner"

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert calls == 1
    assert cache.stats().hits == 7


@pytest.mark.parametrize(
    "limits",
    [{"max_age_seconds": 0}, {"max_uses": 0}, {"max_entries": 0}, {"max_age_seconds": -1.0}],
)
def test_cache_limits_not_positive_raise(limits: dict[str, float]) -> None:
    with pytest.raises(ConfigurationError, match="positive"):
        CacheLimits(**limits)  # type: ignore[arg-type]


def test_cache_limits_from_environment_reads_each_variable() -> None:
    limits = CacheLimits.from_environment(
        {
            settings.DEK_CACHE_MAX_AGE_SECONDS: "30",
            settings.DEK_CACHE_MAX_USES: "100",
            settings.DEK_CACHE_MAX_ENTRIES: "5",
        }
    )
    assert limits == CacheLimits(max_age_seconds=30.0, max_uses=100, max_entries=5)
    assert CacheLimits.from_environment({}) == CacheLimits()


def test_cache_limits_from_environment_bad_value_names_variable() -> None:
    with pytest.raises(ConfigurationError, match=settings.DEK_CACHE_MAX_USES):
        CacheLimits.from_environment({settings.DEK_CACHE_MAX_USES: "lots"})


def test_cipher_kms_called_again_only_after_cache_expiry(local_keyring: LocalKeyring) -> None:
    clock = FakeClock()
    cache = DataKeyCache(CacheLimits(max_age_seconds=300), clock=clock)  # type: ignore[var-annotated]
    cipher = EnvelopeCipher(keyring=local_keyring, store=InMemoryWrappedKeyStore(), cache=cache)
    for _ in range(100):
        cipher.encrypt(b"v", **WHERE)
    assert local_keyring.calls == 1  # GenerateDataKey
    clock.now += 300
    blob = cipher.encrypt(b"v", **WHERE)
    assert local_keyring.calls == 2  # Decrypt of the stored wrapped key
    assert cipher.decrypt(blob, **WHERE) == b"v"
    assert local_keyring.calls == 2


def test_cipher_max_uses_rotates_the_field_key_salt(local_keyring: LocalKeyring) -> None:
    cache = DataKeyCache(CacheLimits(max_uses=4))  # type: ignore[var-annotated]
    cipher = EnvelopeCipher(keyring=local_keyring, store=InMemoryWrappedKeyStore(), cache=cache)
    blobs = [cipher.encrypt(b"v", **WHERE) for _ in range(8)]
    salts = [b[fmt.SALT_AT : fmt.NONCE_AT] for b in blobs]
    assert len(set(salts[:4])) == 1
    assert len(set(salts[4:])) == 1
    assert salts[0] != salts[4]
    assert all(cipher.decrypt(b, **WHERE) == b"v" for b in blobs)


def test_cipher_batch_larger_than_max_uses_spreads_over_field_keys(local_keyring: LocalKeyring) -> None:
    cache = DataKeyCache(CacheLimits(max_uses=4))  # type: ignore[var-annotated]
    cipher = EnvelopeCipher(keyring=local_keyring, store=InMemoryWrappedKeyStore(), cache=cache)
    rows = [f"row-{i}" for i in range(5)]
    sealed = cipher.encrypt_columns({"a": [b"v"] * 5, "b": [b"w", None, b"w", None, b"w"]}, owner="org-1",
                                    table="prompts", row_ids=rows)
    blobs = [b for column in ("a", "b") for b in sealed[column] if b is not None]
    salts = [b[fmt.SALT_AT : fmt.NONCE_AT] for b in blobs]
    assert len(blobs) == 8 and salts.count(salts[0]) == 4 and len(set(salts)) == 2  # 4 values per field key
