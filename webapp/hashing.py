"""Argon2id hashing capped at one hash per core, so logins cannot starve page requests.

Each hash takes about a quarter of a second of the cores it gets, and 64 MiB of memory
(RFC 9106's parameters, webapp/config.py). Unbounded, eight logins at once took both cores
and the landing page's p99 rose to 1.5 s; capped, the hashes beyond the cap wait their turn
in their own server threads while the threads left over serve pages (desktop/server.py gives
waitress twice as many threads as the most slots; docs/security.md).
"""

from __future__ import annotations

import os
import threading
from typing import Literal

from argon2 import PasswordHasher

# About one hash per core: more would only make each one slower and take more memory. At
# most 8 (512 MiB of hashing memory), so desktop/server.py's 16 threads are at least twice
# the slots.
MAX_HASH_SLOTS = 8
HASH_SLOTS = min(os.cpu_count() or 1, MAX_HASH_SLOTS)

# For the whole process: every app in it shares the same cores.
_slots = threading.BoundedSemaphore(HASH_SLOTS)


class CappedHasher(PasswordHasher):
    """An Argon2 PasswordHasher that runs at most HASH_SLOTS hashes or checks at a time."""

    def hash(self, password: str | bytes, *, salt: bytes | None = None) -> str:
        """Hash `password`, waiting for a free slot first."""
        with _slots:
            return super().hash(password, salt=salt)

    def verify(self, hash: str | bytes, password: str | bytes) -> Literal[True]:
        """Check `password` against `hash`, waiting for a free slot first."""
        with _slots:
            return super().verify(hash, password)
