"""Keeping big trees from stalling the event loop while they live and when they die."""

from __future__ import annotations

import gc
import threading
from typing import Any

from ccgw.bulk import sizes


class GCPause:
    """No automatic garbage collection while a big body is alive.

    A full collection visits every tracked object, and one request with 500k parts makes millions:
    each collection then held the GIL for 80–120 ms, and so did the first one after the collector
    was turned back on while the trees were still alive. So the pause lasts until the request's
    trees are dismantled (:func:`release`); memory is freed by reference counting meanwhile, only
    cycles wait. Pauses nest across requests; :meth:`end` may be called from any thread, and twice.
    """

    _lock = threading.Lock()
    _active = 0

    def __init__(self) -> None:
        self._ended = False
        with GCPause._lock:
            if GCPause._active == 0:
                gc.disable()
            GCPause._active += 1

    def end(self) -> None:
        with GCPause._lock:
            if self._ended:
                return
            self._ended = True
            GCPause._active -= 1
            if GCPause._active == 0:
                gc.enable()


def release(pause: GCPause, *values: Any) -> None:
    """Dismantle `values` (see :func:`dismantle`), then end `pause`; for a worker thread."""
    try:
        dismantle(*values)
    finally:
        pause.end()


def dismantle(*values: Any) -> None:
    """Free big trees a slice at a time; for a worker thread, once nothing else uses them.

    Dropping the last reference to a 500k-part request frees it in one cascade that held the GIL
    for 40–80 ms per tree. Here every container is emptied in slices of :data:`sizes.SLICE` items.
    """
    stack = [v for v in values if isinstance(v, dict | list)]
    del values
    while stack:
        node = stack.pop()
        children = node.values() if isinstance(node, dict) else node
        stack.extend(child for child in children if isinstance(child, dict | list))
        if isinstance(node, dict):
            node.clear()
            continue
        while node:
            del node[-sizes.SLICE :]
