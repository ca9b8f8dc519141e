"""A bounded, thread-safe cache of unwrapped data keys, so KMS is called about once per owner
per cache period instead of once per record.

An entry expires after `max_age_seconds` or `max_uses` look-ups, whichever comes first; the
least recently used entry goes when `max_entries` is reached. Loading is single-flight per
key: eight threads missing the same owner cause one KMS call, not eight.
"""

import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable, Mapping
from dataclasses import dataclass
from typing import Generic, TypeVar

from runtime import settings
from runtime.errors import ConfigurationError

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


@dataclass(frozen=True, slots=True)
class CacheLimits:
    max_age_seconds: float = settings.DEFAULT_DEK_CACHE_MAX_AGE_SECONDS
    max_uses: int = settings.DEFAULT_DEK_CACHE_MAX_USES
    max_entries: int = settings.DEFAULT_DEK_CACHE_MAX_ENTRIES

    def __post_init__(self) -> None:
        if not self.max_age_seconds > 0 or self.max_uses < 1 or self.max_entries < 1:
            raise ConfigurationError("cache limits must be positive: max_age_seconds > 0, max_uses, max_entries >= 1")

    @classmethod
    def from_environment(cls, environ: Mapping[str, str]) -> "CacheLimits":
        def read(name: str, default: float, parse: Callable[[str], float]) -> float:
            raw = environ.get(name)
            if raw is None:
                return default
            try:
                value = parse(raw)
            except ValueError:
                raise ConfigurationError(f"{name}={raw!r} is not a number; set a positive number or unset it") from None
            if not value > 0:
                raise ConfigurationError(f"{name} must be positive; got {raw!r}")
            return value

        return cls(
            max_age_seconds=read(settings.DEK_CACHE_MAX_AGE_SECONDS, settings.DEFAULT_DEK_CACHE_MAX_AGE_SECONDS, float),
            max_uses=int(read(settings.DEK_CACHE_MAX_USES, settings.DEFAULT_DEK_CACHE_MAX_USES, int)),
            max_entries=int(read(settings.DEK_CACHE_MAX_ENTRIES, settings.DEFAULT_DEK_CACHE_MAX_ENTRIES, int)),
        )


@dataclass(frozen=True, slots=True)
class CacheStats:
    hits: int
    misses: int  # each miss is one load (a keyring call, for the data-key cache)
    expired: int  # entries dropped for age or uses
    evicted: int  # entries dropped to stay within max_entries
    entries: int


class _Entry(Generic[V]):
    __slots__ = ("created_at", "uses", "value")

    def __init__(self, value: V, created_at: float) -> None:
        self.value = value
        self.created_at = created_at
        self.uses = 0

    def __repr__(self) -> str:  # values hold key material: never show them
        return f"_Entry(uses={self.uses})"


class DataKeyCache(Generic[K, V]):
    def __init__(self, limits: CacheLimits | None = None, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.limits = limits or CacheLimits()
        self._clock = clock
        self._lock = threading.Lock()
        self._entries: OrderedDict[K, _Entry[V]] = OrderedDict()
        self._loading: dict[K, threading.Lock] = {}
        self._hits = self._misses = self._expired = self._evicted = 0

    def get_or_load(self, key: K, load: Callable[[K], V], *, uses: int = 1) -> V:
        """The cached value for `key`, or `load(key)`'s, cached with these `uses` counted.

        `uses` look-ups are taken at once (a batch encrypting that many values): an entry with fewer left
        expires and is reloaded, so no value serves more than `max_uses`. `load` runs outside the cache
        lock; if it raises, nothing is cached and the error propagates.
        """
        if not 1 <= uses <= self.limits.max_uses:
            raise ValueError(f"uses must be 1 to max_uses ({self.limits.max_uses}); split the batch")
        value = self._take(key, uses)
        if value is not None:
            return value
        with self._lock:
            loading = self._loading.setdefault(key, threading.Lock())
        with loading:
            try:
                value = self._take(key, uses)  # another thread may have loaded it while we waited
                if value is not None:
                    return value
                value = load(key)
                self._insert(key, value, uses=uses, miss=True)
                return value
            finally:
                with self._lock:
                    if self._loading.get(key) is loading:
                        del self._loading[key]

    def holds(self, key: K, *, uses: int = 1, for_seconds: float = 1.0) -> bool:
        """Whether `key` is cached with `uses` left for at least `for_seconds` more; nothing is taken."""
        now = self._clock()
        with self._lock:
            entry = self._entries.get(key)
            return entry is not None and entry.uses + uses <= self.limits.max_uses and (
                now - entry.created_at + for_seconds < self.limits.max_age_seconds)

    def put(self, key: K, value: V) -> None:
        """Cache `value` for `key` as a fresh entry with no uses yet."""
        self._insert(key, value, uses=0, miss=False)

    def evict_where(self, predicate: Callable[[K], bool]) -> int:
        with self._lock:
            doomed = [k for k in self._entries if predicate(k)]
            for k in doomed:
                del self._entries[k]
            return len(doomed)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()

    def stats(self) -> CacheStats:
        with self._lock:
            return CacheStats(self._hits, self._misses, self._expired, self._evicted, len(self._entries))

    def _take(self, key: K, uses: int) -> V | None:
        now = self._clock()
        limits = self.limits
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                return None
            if entry.uses + uses > limits.max_uses or now - entry.created_at >= limits.max_age_seconds:
                del self._entries[key]
                self._expired += 1
                return None
            entry.uses += uses
            self._hits += 1
            self._entries.move_to_end(key)
            return entry.value

    def _insert(self, key: K, value: V, *, uses: int, miss: bool) -> None:
        entry = _Entry(value, self._clock())
        entry.uses = uses
        with self._lock:
            self._entries[key] = entry
            self._entries.move_to_end(key)
            if miss:
                self._misses += 1
            while len(self._entries) > self.limits.max_entries:
                self._entries.popitem(last=False)
                self._evicted += 1
