"""`no_network()`: a guard that makes any socket or URL access inside it raise `RemoteAccessError`.

Parsers can reach the network in ways their callers do not see (remote JSON-LD `@context`s, external XML
entities). A Python audit hook sees every `socket.connect`, `socket.getaddrinfo` and `urllib.Request`
event of the process; inside the guard (per thread) it refuses them, outside it does nothing.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from ..errors import RemoteAccessError

_GUARDED_EVENTS = {"socket.connect", "socket.getaddrinfo", "socket.gethostbyname", "urllib.Request"}
_state = threading.local()
_hook_installed = False
_install_lock = threading.Lock()


def _audit_hook(event: str, args: tuple) -> None:
    if event in _GUARDED_EVENTS and getattr(_state, "depth", 0):
        target = args[0] if event == "urllib.Request" else args[1] if len(args) > 1 else args
        raise RemoteAccessError(
            f"{getattr(_state, 'what', 'parsing')} tried to reach the network ({event}: {target})",
            hint="remote access is off: make the referenced document local, or pass --allow-remote (allow_remote=True)",
        )


@contextmanager
def no_network(what: str = "parsing") -> Iterator[None]:
    """Refuse network access in this thread while the block runs; `what` names the culprit in the error."""
    global _hook_installed
    with _install_lock:
        if not _hook_installed:
            sys.addaudithook(_audit_hook)
            _hook_installed = True
    _state.depth = getattr(_state, "depth", 0) + 1
    previous, _state.what = getattr(_state, "what", None), what
    try:
        yield
    finally:
        _state.depth -= 1
        _state.what = previous
