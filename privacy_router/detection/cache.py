"""A content-addressed cache of analysed segments: a chat resends its history, we scan it once.

A chat client sends the whole conversation on every turn, so without a cache turn 20 costs
twenty scans of turn 1's text. Each segment's findings are stored under

    key = SHA-256( len|"tenant" || len|tenant || len|fingerprint || len|text )

and a later request that carries the same segment text, for the same tenant, under the same
engine configuration, reuses them. What the cache holds, and why nothing can leak through it:

* **Findings only, never text.** An entry is the key (a digest) and a tuple of ``Finding``
  (entity type, offsets, score, detector name). No prompt text, no detected value.
* **No sharing across tenants.** The tenant is part of the hashed key, so a lookup made for
  tenant B can never return an entry tenant A created; B cannot even learn, from a faster
  answer, that A sent a given text (the timing side channel a shared cache would open).
* **No stale verdicts.** The engine fingerprint (``engine_fingerprint``: spaCy pipeline and
  version, detector pack versions, score threshold, allow list) is part of the key: a new pack
  version or threshold misses every old entry, which then ages out of the LRU.
* **Offsets stay valid.** A hit needs the exact same text (SHA-256 collision resistance), so
  the cached offsets index the text being scanned.
* **Failures are never cached.** Only a complete, well-formed result of the detector is stored;
  an error or timeout propagates and the request fails closed.

The cache is bounded both by entries and by an estimate of the bytes the entries hold
(``entry_bytes``), and evicts least recently used entries first. It is per process and in
memory; nothing is written to disk.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, field

from privacy_router.types import Finding

# Estimated resident size of one entry, from sys.getsizeof on CPython 3.11 (x86-64): the
# OrderedDict slot and its link (~100 bytes), the 32-byte digest as a bytes object (65), the
# tuple header (40); and per finding the dataclass instance with its __dict__ (~250), plus its
# two strings. An estimate, deliberately on the high side: the bound is what matters.
ENTRY_OVERHEAD = 205
FINDING_OVERHEAD = 250


def entry_bytes(findings: Sequence[Finding]) -> int:
    """The size charged to the byte budget for one entry holding ``findings``."""
    return ENTRY_OVERHEAD + sum(FINDING_OVERHEAD + len(f.entity_type) + len(f.detector) for f in findings)


def cache_key(tenant: str, fingerprint: str, text: str) -> bytes:
    """SHA-256 over length-prefixed fields, so ("ab", "c") and ("a", "bc") never collide."""
    h = hashlib.sha256()
    for part in ("tenant", tenant, fingerprint, text):
        # surrogatepass: a lone surrogate is rejected at parse time, but the key must never raise.
        data = part.encode("utf-8", "surrogatepass")
        h.update(len(data).to_bytes(8, "big"))
        h.update(data)
    return h.digest()


def engine_fingerprint(
    *, spacy_model: str, pack_versions: dict[str, str], score_threshold: float, allow_list: Sequence[str]
) -> str:
    """Everything that changes what the engine finds in a text, as one hex digest."""
    canonical = json.dumps(
        {
            "spacy_model": spacy_model,
            "packs": sorted(pack_versions.items()),
            "score_threshold": score_threshold,
            "allow_list": sorted(v.casefold() for v in allow_list),
        },
        sort_keys=True,
        separators=(",", ":"),
    )
    return hashlib.sha256(canonical.encode()).hexdigest()


@dataclass
class CacheStats:
    hits: int = 0
    misses: int = 0
    evictions: int = 0
    entries: int = 0
    bytes: int = 0


class FindingsCache:
    """A bounded, thread-safe LRU from cache key to the findings of one segment."""

    def __init__(self, max_entries: int, max_bytes: int) -> None:
        if max_entries < 0 or max_bytes < 0:
            raise ValueError("cache bounds must be >= 0")
        self.max_entries = max_entries
        self.max_bytes = max_bytes
        self._data: OrderedDict[bytes, tuple[tuple[Finding, ...], int]] = OrderedDict()
        self._lock = threading.Lock()
        self.stats = CacheStats()

    def __len__(self) -> int:
        return len(self._data)

    def get(self, key: bytes) -> tuple[Finding, ...] | None:
        with self._lock:
            item = self._data.get(key)
            if item is None:
                self.stats.misses += 1
                return None
            self._data.move_to_end(key)
            self.stats.hits += 1
            return item[0]

    def put(self, key: bytes, findings: Sequence[Finding]) -> None:
        size = entry_bytes(findings)
        with self._lock:
            if size > self.max_bytes or self.max_entries == 0:
                return  # larger than the whole budget: never cached
            old = self._data.pop(key, None)
            if old is not None:
                self.stats.bytes -= old[1]
            self._data[key] = (tuple(findings), size)
            self.stats.bytes += size
            while len(self._data) > self.max_entries or self.stats.bytes > self.max_bytes:
                _, (_, evicted) = self._data.popitem(last=False)
                self.stats.bytes -= evicted
                self.stats.evictions += 1
            self.stats.entries = len(self._data)

    def plan(self, tenant: str, fingerprint: str, texts: Sequence[str]) -> CachePlan:
        """Look every text up; ``missing`` lists the distinct texts still to analyse, in order."""
        keys = [cache_key(tenant, fingerprint, t) for t in texts]
        found: list[tuple[Finding, ...] | None] = [self.get(k) for k in keys]
        missing: list[str] = []
        slot: dict[bytes, int] = {}
        for key, text, hit in zip(keys, texts, found, strict=True):
            if hit is None and key not in slot:
                slot[key] = len(missing)
                missing.append(text)
        return CachePlan(self, keys, found, missing, slot)


@dataclass
class CachePlan:
    """The outcome of a lookup: fill in ``missing`` with the detector, then ``complete``."""

    cache: FindingsCache
    keys: list[bytes]
    found: list[tuple[Finding, ...] | None]
    missing: list[str]
    _slot: dict[bytes, int] = field(repr=False)

    def complete(self, fresh: Sequence[Sequence[Finding]]) -> list[list[Finding]]:
        """Store the detector's results for ``missing`` and return findings for every text.

        ``fresh`` must hold exactly one result per missing text; anything else is a detector
        fault, raised as ValueError before anything is stored.
        """
        if len(fresh) != len(self.missing):
            raise ValueError("detector returned a result of the wrong length")
        for key, index in self._slot.items():
            self.cache.put(key, fresh[index])
        out: list[list[Finding]] = []
        for key, hit in zip(self.keys, self.found, strict=True):
            out.append(list(hit) if hit is not None else list(fresh[self._slot[key]]))
        return out
