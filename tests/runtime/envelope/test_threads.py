import threading
from concurrent.futures import ThreadPoolExecutor

from runtime.envelope import EnvelopeCipher, InMemoryWrappedKeyStore, LocalKeyring

OWNERS = [f"org-{i}" for i in range(200)]


def _value(owner: str, row: int) -> bytes:
    return f"{owner}/{row}/".encode() * 8


def test_cipher_eight_threads_many_owners_round_trip(local_keyring: LocalKeyring) -> None:
    store = InMemoryWrappedKeyStore()
    writer = EnvelopeCipher(keyring=local_keyring, store=store)
    start = threading.Barrier(8)

    def work(thread: int) -> list[tuple[str, int, bytes]]:
        start.wait()
        written = []
        for row in range(thread, 1600, 8):
            owner = OWNERS[row % len(OWNERS)]
            blob = writer.encrypt(_value(owner, row), owner=owner, table="t", column="c", row_id=str(row))
            assert writer.decrypt(blob, owner=owner, table="t", column="c", row_id=str(row)) == _value(owner, row)
            written.append((owner, row, blob))
        return written

    with ThreadPoolExecutor(8) as pool:
        results = [item for part in pool.map(work, range(8)) for item in part]

    assert len(results) == 1600
    assert local_keyring.calls == len(OWNERS)  # one data key per owner, despite the races
    # A cold reader (another task) decrypts everything with one unwrap per owner.
    reader = EnvelopeCipher(keyring=local_keyring, store=store)
    calls_before = local_keyring.calls
    for owner, row, blob in results:
        assert reader.decrypt(blob, owner=owner, table="t", column="c", row_id=str(row)) == _value(owner, row)
    assert local_keyring.calls - calls_before == len(OWNERS)
