"""Long-lived C handles (sessions, operations, targets, engines): freed exactly once.

Each handle is freed by an explicit close() or, failing that, when its Python owner is
collected (weakref.finalize, which also runs at interpreter exit, newest first, so an
operation is freed before the session it was made from). ``live()`` counts the handles not
freed yet, which the tests use to check that nothing leaks and nothing is freed twice.
"""

from __future__ import annotations

import threading
import weakref
from collections import Counter
from typing import Any, Callable, Optional

_live: Counter = Counter()
_lock = threading.Lock()


def live() -> dict[str, int]:
    """Handles of each kind not freed yet."""
    with _lock:
        return {k: v for k, v in _live.items() if v}


def _free(kind: str, free: Callable[[int], Any], ptr: int, *keep: Any) -> None:
    # `keep` holds what the C object points at (a log trampoline, a parent) until it is gone.
    free(ptr)
    with _lock:
        _live[kind] -= 1


class Handle:
    """The C pointer of one object and the finalizer that frees it."""

    __slots__ = ("ptr", "_fin", "__weakref__")

    def __init__(self, owner: object, kind: str, ptr: int, free: Callable[[int], Any],
                 *keep: Any) -> None:
        if not ptr:
            raise ValueError("NULL handle")
        self.ptr: Optional[int] = ptr
        with _lock:
            _live[kind] += 1
        self._fin = weakref.finalize(owner, _free, kind, free, ptr, *keep)

    def free(self) -> None:
        """Free now (a no-op the second time)."""
        self.ptr = None
        self._fin()

    @property
    def alive(self) -> bool:
        return self._fin.alive
