"""Random (version 4) UUIDs from a per-process buffer of OS randomness.

Every response carries several fresh UUIDs (the request id, each card, each suggestion). `uuid.uuid4()`
makes one `os.urandom(16)` system call each, and a system call releases the GIL: under load another
thread takes it and the request waits its turn again, several times per request. Reading 4 KiB of OS
randomness at once serves 256 UUIDs with one call; the values are as random as uuid4's (the same
source), and a forked child starts with an empty buffer so that two workers never share values.
"""

from __future__ import annotations

import os
import threading

_CHUNK = 4096  # bytes: 256 UUIDs per system call
_lock = threading.Lock()
_buffer = b""
_offset = 0


def new_uuid() -> str:
    """A random UUID (RFC 4122 version 4) as its canonical string."""
    global _buffer, _offset
    with _lock:
        if _offset + 16 > len(_buffer):
            _buffer, _offset = os.urandom(_CHUNK), 0
        raw = bytearray(_buffer[_offset : _offset + 16])
        _offset += 16
    raw[6] = (raw[6] & 0x0F) | 0x40  # version 4
    raw[8] = (raw[8] & 0x3F) | 0x80  # RFC 4122 variant
    h = raw.hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def _forget_after_fork() -> None:
    global _buffer, _offset, _lock
    _buffer, _offset, _lock = b"", 0, threading.Lock()


os.register_at_fork(after_in_child=_forget_after_fork)
